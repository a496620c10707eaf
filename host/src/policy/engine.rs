//! The wasmtime engine shared by all policies: compilation, linking, epoch ticks.

use crate::cluster::Membership;
use crate::policy::bindings::{Balancer, BalancerPre, PolicyInfo};
use crate::policy::inspect::{self, World};
use crate::policy::instance::Instance;
use crate::policy::log::PolicyLog;
use crate::policy::sandbox::StoreState;
use crate::policy::{LoadError, PolicyLimits, wasi};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

/// How often the epoch advances. A deadline's first check comes one to two ticks after
/// it (see `CpuDeadline`); a slower tick means fewer wake-ups of an idle proxy.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// Compiles and links policy components. One per process; clones share it.
#[derive(Clone)]
pub struct PolicyEngine {
    engine: Engine,
    linker: Arc<Linker<StoreState>>,
}

impl PolicyEngine {
    /// An engine with epoch interruption on, the policy imports and the
    /// capability-free WASI linked, and a background thread ticking the epoch.
    pub fn new() -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.table_lazy_init(false);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        Balancer::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |state| state)?;
        wasi::add_to_linker(&mut linker)?;
        start_ticker(&engine);
        Ok(Self {
            engine,
            linker: Arc::new(linker),
        })
    }

    /// Compiles, validates and links a balancer component named `name`.
    pub fn compile(&self, name: &str, bytes: &[u8]) -> Result<Arc<PolicyComponent>, LoadError> {
        self.link(name, &self.compile_only(bytes)?)
    }

    /// Compiles and validates `bytes` without linking them.
    pub(crate) fn compile_only(&self, bytes: &[u8]) -> Result<Component, LoadError> {
        inspect::check_header(bytes)?;
        Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid(format!("{e:#}")))
    }

    /// Checks a compiled component's world and links it as policy `name`.
    pub(crate) fn link(
        &self,
        name: &str,
        component: &Component,
    ) -> Result<Arc<PolicyComponent>, LoadError> {
        if inspect::check_interface(&self.engine, component)? == World::HealthScorer {
            return Err(LoadError::ScorerNotBalancer);
        }
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre = BalancerPre::new(pre).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        Ok(Arc::new(PolicyComponent {
            name: name.to_string(),
            pre,
            log: Arc::new(PolicyLog::new(name)),
        }))
    }

    /// The underlying wasmtime engine.
    pub(crate) fn wasmtime(&self) -> &Engine {
        &self.engine
    }
}

/// Advances the engine's epoch every [`TICK`] until the engine is dropped.
fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("policy-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .expect("spawning the policy epoch thread");
}

/// A compiled, linked balancer, ready to be instantiated cheaply.
pub struct PolicyComponent {
    name: String,
    pub(crate) pre: BalancerPre<StoreState>,
    pub(crate) log: Arc<PolicyLog>,
}

impl PolicyComponent {
    /// The policy's name (built-in name or file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The policy's own description of itself, from a throw-away instance.
    pub fn describe(&self, limits: &PolicyLimits) -> Result<PolicyInfo, LoadError> {
        let mut instance = Instance::start(self, limits, Arc::new(Membership::synthetic(0)))
            .map_err(LoadError::Smoke)?;
        instance.describe().map_err(LoadError::Smoke)
    }
}
