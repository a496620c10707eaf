//! The clock and random seeds behind the host imports: the process's monotonic clock
//! and fresh seeds, or — on a thread where `switchyard policy simulate` runs — a
//! simulated time (the cluster's clock, which load figures age by too) and seeds
//! derived from the scenario's, so that runs replay exactly.

use crate::cluster::clock;
use std::cell::Cell;
use std::marker::PhantomData;

pub(crate) use clock::{clock_ns, now_ns};

thread_local! {
    static SIMULATED_SEED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The next simulated seed for a new instance on this thread, when simulating.
pub(crate) fn simulated_seed() -> Option<u64> {
    SIMULATED_SEED.with(|s| {
        let seed = s.get()?;
        s.set(Some(seed.wrapping_add(1)));
        Some(switchyard_policy_sdk::mix64(seed))
    })
}

/// While this lives, policies called on the current thread read the time it is set to
/// instead of the real clock, and instances created on it draw seeds from `seed`. Not
/// `Send`: the override belongs to one thread.
pub struct SimulatedHost {
    _thread: PhantomData<*const ()>,
}

impl SimulatedHost {
    /// Starts simulated time at 0 on the current thread, random seeds from `seed`.
    pub fn start(seed: u64) -> Self {
        clock::simulate(Some(0));
        SIMULATED_SEED.with(|s| s.set(Some(seed)));
        Self {
            _thread: PhantomData,
        }
    }

    /// Sets the simulated time, in nanoseconds.
    pub fn set_now(&self, ns: u64) {
        clock::simulate(Some(ns));
    }
}

impl Drop for SimulatedHost {
    fn drop(&mut self) {
        clock::simulate(None);
        SIMULATED_SEED.with(|s| s.set(None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_holds_on_its_thread_only() {
        let host = SimulatedHost::start(9);
        host.set_now(42);
        assert_eq!(now_ns(), 42);
        let first = simulated_seed();
        assert!(first.is_some() && simulated_seed() != first);
        let elsewhere = std::thread::spawn(|| (now_ns(), simulated_seed()))
            .join()
            .unwrap();
        assert_ne!(elsewhere.0, 42);
        assert_eq!(elsewhere.1, None);
        drop(host);
        assert_ne!(now_ns(), 42);
        assert_eq!(simulated_seed(), None);
        let _again = SimulatedHost::start(9);
        assert_eq!(simulated_seed(), first, "the same seed replays");
    }
}
