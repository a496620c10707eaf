//! The wasmtime engine shared by all policies: compilation, linking, epoch ticks.

pub(crate) mod clock;
pub(crate) mod error;
pub(crate) mod faults;
pub(crate) mod inspect;
pub(crate) mod log;
pub(crate) mod store;
pub(crate) mod ticker;
mod wasi;

pub use clock::SimulatedHost;
pub use error::{Fault, LoadError};
pub use inspect::World;
pub use log::PolicyLog;
pub use store::PolicyLimits;

use crate::Sha256Digest;
use crate::balancer::instance::Instance;
use crate::balancer::world::scorer::HealthScorerPre;
use crate::balancer::world::{Balancer, BalancerPre, PolicyInfo};
use crate::cluster::Membership;
use crate::niceness::lower_priority;
use crate::scorer::component::ScorerComponent;
use std::sync::Arc;
use store::StoreState;
use ticker::Ticker;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

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
