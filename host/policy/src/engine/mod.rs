//! The sandbox runtime: the wasmtime engine shared by all policies (compilation, the
//! policy imports and a capability-free WASI linked, epoch ticks), the store each
//! instance runs in under its limits, and faults. It knows both worlds' bindings
//! (`world`) but neither what a balancer nor a scorer does with them.

pub(crate) mod clock;
pub(crate) mod error;
pub(crate) mod faults;
pub(crate) mod inspect;
pub(crate) mod log;
pub(crate) mod sandboxed;
pub(crate) mod store;
pub(crate) mod ticker;
mod wasi;
pub(crate) mod world;

pub use clock::SimulatedHost;
pub use error::{Fault, LoadError};
pub use faults::PolicyStats;
pub use inspect::Contract;
pub use inspect::World;
pub use log::PolicyLog;
pub use store::PolicyLimits;
pub use world::{Candidates, HashSource, Needs};

use crate::niceness::lower_priority;
use std::sync::Arc;
use store::StoreState;
use ticker::Ticker;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine};
use world::Balancer;

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
        world::v0_1::Balancer::add_to_linker::<StoreState, HasSelf<StoreState>>(
            &mut linker,
            |state| state,
        )?;
        // Contract 0.1.0's `types` holds only types, shared with the current version.
        linker.instance("switchyard:policy/types@0.1.0")?;
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

    /// Compiles and validates `bytes` without linking them.
    pub(crate) fn compile_only(&self, bytes: &[u8]) -> Result<Component, LoadError> {
        inspect::check_header(bytes)?;
        // Cranelift's parallel compilation runs on the pool it is called from.
        self.compilers
            .install(|| Component::new(&self.engine, bytes))
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))
    }

    /// Prepares `component` for instantiation with the policy imports and WASI.
    pub(crate) fn instantiate_pre(
        &self,
        component: &Component,
    ) -> wasmtime::Result<InstancePre<StoreState>> {
        self.linker.instantiate_pre(component)
    }

    /// The epoch ticker that policy calls keep running.
    pub(crate) fn ticker(&self) -> &Arc<Ticker> {
        &self.ticker
    }

    /// The underlying wasmtime engine.
    pub(crate) fn wasmtime(&self) -> &Engine {
        &self.engine
    }
}
