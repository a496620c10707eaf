//! Cheap per-thread random numbers (not cryptographic) for the host's own draws: retry
//! backoff jitter, a route's split by weight, which requests a canary answers and which
//! a shadow samples.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// 64 random bits from this thread's generator (splitmix64, seeded per thread).
pub fn draw() -> u64 {
    static THREADS: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                ^ THREADS.fetch_add(1, Relaxed).rotate_left(40),
        );
    }
    STATE.with(|state| {
        let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(next);
        switchyard_policy_sdk::mix64(next)
    })
}
