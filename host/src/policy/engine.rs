//! The wasmtime engine shared by all policies: compilation, linking, epoch ticks.

use crate::cluster::Membership;
use crate::policy::bindings::scorer::HealthScorerPre;
use crate::policy::bindings::{Balancer, BalancerPre, PolicyInfo};
use crate::policy::inspect::{self, World};
use crate::policy::instance::Instance;
use crate::policy::log::PolicyLog;
use crate::policy::sandbox::StoreState;
use crate::policy::scorer::ScorerComponent;
use crate::policy::ticker::Ticker;
use crate::policy::{LoadError, PolicyLimits, Sha256Digest, wasi};
use std::sync::Arc;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

/// Scheduling niceness of background policy work (compiling, preparing versions): a
/// policy loading while the proxy is busy takes longer instead of slowing requests.
/// Compilation, the bulk of it, also runs in the `SCHED_IDLE` class.
const BACKGROUND_NICENESS: i32 = 10;

/// Compiles and links policy components. One per process; clones share it.
#[derive(Clone)]
pub struct PolicyEngine {
    engine: Engine,
    linker: Arc<Linker<StoreState>>,
    compilers: Arc<rayon::ThreadPool>,
    ticker: Arc<Ticker>,
}

impl PolicyEngine {
    /// An engine with epoch interruption on, the policy imports and the
    /// capability-free WASI linked, and a background thread ticking the epoch while
    /// policy calls run.
    pub fn new() -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.table_lazy_init(false);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        Balancer::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |state| state)?;
        wasi::add_to_linker(&mut linker)?;
        let ticker = Ticker::start(&engine);
        let compilers = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("policy-compile-{i}"))
            .start_handler(|_| lower_priority(true))
            .build()?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            compilers: Arc::new(compilers),
            ticker,
        })
    }

    /// Compiles, validates and links a balancer component named `name`.
    pub fn compile(&self, name: &str, bytes: &[u8]) -> Result<Arc<PolicyComponent>, LoadError> {
        let sha256 = Sha256Digest::of(bytes);
        match self.link(name, sha256, &self.compile_only(bytes)?)? {
            Linked::Balancer(component) => Ok(component),
            Linked::Scorer(_) => Err(LoadError::ScorerNotBalancer),
        }
    }

    /// Compiles, validates and links a health-scorer component named `name`.
    pub fn compile_scorer(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<Arc<ScorerComponent>, LoadError> {
        let sha256 = Sha256Digest::of(bytes);
        match self.link(name, sha256, &self.compile_only(bytes)?)? {
            Linked::Scorer(component) => Ok(component),
            Linked::Balancer(_) => Err(LoadError::BalancerNotScorer),
        }
    }

    /// Compiles and validates `bytes` without linking them.
    pub(crate) fn compile_only(&self, bytes: &[u8]) -> Result<Component, LoadError> {
        inspect::check_header(bytes)?;
        // Cranelift's parallel compilation runs on the pool it is called from.
        self.compilers
            .install(|| Component::new(&self.engine, bytes))
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))
    }

    /// Checks a compiled component's world and links it as policy `name`, whose bytes
    /// hash to `sha256`.
    pub(crate) fn link(
        &self,
        name: &str,
        sha256: Sha256Digest,
        component: &Component,
    ) -> Result<Linked, LoadError> {
        let world = inspect::check_interface(&self.engine, component)?;
        let link_error = |e: wasmtime::Error| LoadError::Link {
            world: world.name(),
            reason: format!("{e:#}"),
        };
        let pre = self.linker.instantiate_pre(component).map_err(link_error)?;
        Ok(match world {
            World::Balancer => Linked::Balancer(Arc::new(PolicyComponent {
                name: name.to_string(),
                version: sha256.to_string()[..12].to_string(),
                pre: BalancerPre::new(pre).map_err(link_error)?,
                log: Arc::new(PolicyLog::new(name)),
                ticker: Arc::clone(&self.ticker),
            })),
            World::HealthScorer => Linked::Scorer(Arc::new(ScorerComponent::new(
                name,
                HealthScorerPre::new(pre).map_err(link_error)?,
                Arc::clone(&self.ticker),
            ))),
        })
    }

    /// The underlying wasmtime engine.
    pub(crate) fn wasmtime(&self) -> &Engine {
        &self.engine
    }
}

/// A linked component of either world.
#[derive(Clone)]
pub(crate) enum Linked {
    /// A balancer.
    Balancer(Arc<PolicyComponent>),
    /// A health scorer.
    Scorer(Arc<ScorerComponent>),
}

/// Gives the calling thread background priority (Linux schedules threads
/// individually): niceness 10, and with `idle`, the `SCHED_IDLE` class, which runs only
/// on CPU that nothing else wants. Failure only means the thread keeps its priority.
pub(crate) fn lower_priority(idle: bool) {
    // SAFETY: gettid, setpriority and sched_setscheduler have no memory-safety
    // preconditions; on Linux, given a thread id, they affect only that thread.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, BACKGROUND_NICENESS);
        if idle {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param);
        }
    }
}

/// A compiled, linked balancer, ready to be instantiated cheaply.
pub struct PolicyComponent {
    name: String,
    version: String,
    pub(crate) pre: BalancerPre<StoreState>,
    pub(crate) log: Arc<PolicyLog>,
    /// Keeps the epoch advancing while the policy's calls run.
    pub(crate) ticker: Arc<Ticker>,
}

impl PolicyComponent {
    /// The policy's name (built-in name or file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first 12 hex digits of the sha256 of its bytes: which build this is.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The policy's own description of itself, from a throw-away instance.
    pub fn describe(&self, limits: &PolicyLimits) -> Result<PolicyInfo, LoadError> {
        let mut instance = Instance::start(self, limits, Arc::new(Membership::synthetic(0)))
            .map_err(LoadError::Smoke)?;
        instance.describe().map_err(LoadError::Smoke)
    }
}
