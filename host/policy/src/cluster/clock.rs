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

/// Nanoseconds on a coarse monotonic clock (the kernel's tick: a few milliseconds of
/// resolution, and cheaper to read than the precise one), for figures that age over
/// seconds; the simulated time on a thread where a simulation runs.
pub fn coarse_now_ns() -> u64 {
    if let Some(now) = SIMULATED_NOW.with(Cell::get) {
        return now;
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; the clock id is valid on
    // Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    (now.tv_sec as u64).wrapping_mul(1_000_000_000) + now.tv_nsec as u64
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
