//! What can go wrong with a policy: at load ([`LoadError`]) or in a call ([`Fault`]).

use std::time::Duration;

/// A component that cannot become a serving policy. The message is one line that says
/// what was found and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Could not read the file.
    #[error("reading {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// No policy file and no built-in by that name.
    #[error("no policy file and no built-in policy named {0:?}")]
    Unknown(String),
    /// The bytes are not WebAssembly at all.
    #[error(
        "not a WebAssembly file (it starts with {found}); expected a component built for wasm32-wasip2"
    )]
    NotWasm {
        /// A description of the first bytes.
        found: String,
    },
    /// A core module where a component was expected.
    #[error(
        "found a core WebAssembly module, expected a component: build for wasm32-wasip2, or wrap it with `wasm-tools component new`"
    )]
    CoreModule,
    /// WebAssembly that does not compile or validate.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// An import the sandbox does not serve.
    #[error(
        "component imports `{name}`, which Switchyard does not provide; policies may import switchyard:policy/{{types,host,load}} (0.2.0, or 0.1.0) and WASI 0.2 (served without capabilities)"
    )]
    UnknownImport {
        /// The import's name.
        name: String,
    },
    /// Built against another version of the contract.
    #[error(
        "component uses `{found}`, but this proxy speaks switchyard:policy@0.1.0 and @0.2.0, each version's interfaces only with its own; rebuild it against the matching switchyard-policy-sdk"
    )]
    WrongVersion {
        /// The versioned interface name found.
        found: String,
    },
    /// Exports no policy interface.
    #[error(
        "component exports no Switchyard policy (found exports: {found}); expected `switchyard:policy/balancing@0.2.0` (world balancer; 0.1.0 is served too)"
    )]
    WrongWorld {
        /// The export names found.
        found: String,
    },
    /// A health scorer where a balancer is needed.
    #[error(
        "component is a health scorer (world health-scorer); a balancer (world balancer) is needed here"
    )]
    ScorerNotBalancer,
    /// A balancer where a health scorer is needed.
    #[error(
        "component is a balancer (world balancer); a health scorer (world health-scorer) is needed here"
    )]
    BalancerNotScorer,
    /// The exports do not have the contract's types.
    #[error("component does not match the {world} world: {reason}")]
    Link {
        /// The world its exports claim.
        world: &'static str,
        /// What does not match.
        reason: String,
    },
    /// A candidate version that cannot be staged where it was dropped.
    #[error("cannot stage a candidate: {0}")]
    Rollout(String),
    /// The policy's `init` refused its configuration.
    #[error("policy rejected its configuration: {0}")]
    Config(String),
    /// The policy faulted while starting or in its smoke picks.
    #[error("policy failed its smoke test: {0}")]
    Smoke(Fault),
}

/// A call into a policy that did not produce a usable answer. The request it was for is
/// never failed because of it: the host falls back and counts it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Fault {
    /// The component trapped (panic, `unreachable`, out-of-bounds, blocked on I/O…).
    #[error("trapped: {0}")]
    Trap(String),
    /// It ran past its epoch deadline.
    #[error("ran past its {0:?} deadline")]
    Deadline(Duration),
    /// It tried to grow its memory past the cap.
    #[error("exceeded its memory cap of {0} bytes")]
    Memory(usize),
    /// It answered something the host cannot use.
    #[error("invalid answer: {0}")]
    InvalidAnswer(String),
}

impl Fault {
    /// A short label for counters and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Trap(_) => "trap",
            Fault::Deadline(_) => "deadline",
            Fault::Memory(_) => "memory",
            Fault::InvalidAnswer(_) => "invalid-answer",
        }
    }
}
