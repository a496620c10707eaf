//! One live instance of a component of either world: its store, its exports, the
//! limits and deadlines every call runs under, and faults classified.

use crate::cluster::Membership;
use crate::engine::Fault;
use crate::engine::log::PolicyLog;
use crate::engine::store::{PolicyLimits, StoreState};
use crate::engine::ticker::{TICK, Ticker};
use crate::engine::world::{self, Endpoint};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

/// Trap messages are cut to this length for logs and errors.
const MAX_MESSAGE: usize = 300;

/// An instantiated component of either world, with its exports `E`, run under limits.
pub(crate) struct Sandboxed<E> {
    store: Store<StoreState>,
    exports: E,
    ticker: Arc<Ticker>,
    limits: PolicyLimits,
    /// Generation of the membership last pushed.
    seen: u64,
}

impl<E> Sandboxed<E> {
    /// Creates a store under `limits` and instantiates into it with `instantiate`, under
    /// the setup deadline; `membership` answers the load imports until replaced.
    pub(crate) fn start(
        engine: &Engine,
        ticker: &Arc<Ticker>,
        log: &Arc<PolicyLog>,
        limits: &PolicyLimits,
        membership: Arc<Membership>,
        instantiate: impl FnOnce(&mut Store<StoreState>) -> wasmtime::Result<E>,
    ) -> Result<Self, Fault> {
        let state = StoreState::new(Arc::clone(log), membership, limits);
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.memory);
        store.epoch_deadline_callback(|mut cx| {
            Ok(if cx.data_mut().deadline.expired() {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Continue(1)
            })
        });
        store.data_mut().deadline.arm(limits.setup_deadline);
        let setup_ticks = ticks(limits.setup_deadline);
        store.set_epoch_deadline(setup_ticks);
        ticker.busy(setup_ticks);
        let exports =
            instantiate(&mut store).map_err(|e| fault(&store, limits.setup_deadline, &e))?;
        Ok(Self {
            store,
            exports,
            ticker: Arc::clone(ticker),
            limits: *limits,
            seen: 0,
        })
    }

    /// The limits calls run under.
    pub(crate) fn limits(&self) -> &PolicyLimits {
        &self.limits
    }

    /// Pushes `membership` with `set_members` (the export's call) unless the instance
    /// has it already; from then on the load imports answer from it.
    pub(crate) fn sync(
        &mut self,
        membership: &Arc<Membership>,
        set_members: impl FnOnce(&E, &mut Store<StoreState>, &[Endpoint]) -> wasmtime::Result<()>,
    ) -> Result<(), Fault> {
        if self.seen == membership.generation() {
            return Ok(());
        }
        self.store.data_mut().membership = Arc::clone(membership);
        let endpoints = world::endpoints(membership);
        let deadline = self.limits.setup_deadline;
        self.call(deadline, |e, s| set_members(e, s, &endpoints))?;
        self.seen = membership.generation();
        Ok(())
    }

    /// The store's state, for the host's own bookkeeping between calls.
    pub(crate) fn state_mut(&mut self) -> &mut StoreState {
        self.store.data_mut()
    }

    /// The membership last pushed: the one the load imports and the answers refer to.
    pub(crate) fn membership(&self) -> &Arc<Membership> {
        &self.store.data().membership
    }

    /// Calls into the instance under `deadline`; any failure is a classified [`Fault`].
    pub(crate) fn call<R>(
        &mut self,
        deadline: Duration,
        f: impl FnOnce(&E, &mut Store<StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, Fault> {
        self.store.data_mut().deadline.arm(deadline);
        let ticks = ticks(deadline);
        self.store.set_epoch_deadline(ticks);
        self.ticker.busy(ticks);
        f(&self.exports, &mut self.store).map_err(|e| fault(&self.store, deadline, &e))
    }
}

/// Epoch ticks that surely span `deadline`: the epoch may advance right after a call
/// starts, so one more than the deadline's length in ticks.
fn ticks(deadline: Duration) -> u64 {
    deadline.as_nanos().div_ceil(TICK.as_nanos()) as u64 + 1
}

/// Classifies a failed call.
fn fault(store: &Store<StoreState>, deadline: Duration, error: &wasmtime::Error) -> Fault {
    if store.data().memory.exceeded {
        return Fault::Memory(store.data().memory.limit());
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return Fault::Deadline(deadline);
    }
    // The root cause says what happened; the wasm backtrace is left to the log.
    let mut message = error.root_cause().to_string().replace('\n', " ");
    crate::text::cut(&mut message, MAX_MESSAGE);
    Fault::Trap(message)
}
