//! The clock load figures age by, and policies read as `host.now-ns`: the process's
//! monotonic clock, or — on a thread where a simulation runs — the simulated time, so
//! that figures fade in simulated time and runs replay exactly.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Instant;

thread_local! {
    static SIMULATED_NOW: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Nanoseconds on this thread's clock now.
pub fn now_ns() -> u64 {
    SIMULATED_NOW
        .with(Cell::get)
        .unwrap_or_else(|| clock_ns(Instant::now()))
}

/// `at` on the real clock: nanoseconds since the clock's first use.
pub fn clock_ns(at: Instant) -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    at.saturating_duration_since(*ORIGIN.get_or_init(Instant::now))
        .as_nanos() as u64
}

/// Sets this thread's simulated time (`None`: the real clock again).
pub(crate) fn simulate(now_ns: Option<u64>) {
    SIMULATED_NOW.with(|s| s.set(now_ns));
}
