//! Cheap per-thread random numbers for the host's own draws around picks: which
//! requests a canary answers, which a shadow samples.

use std::cell::Cell;

/// A uniformly random u64 from this thread's generator (wyrand, seeded per thread).
pub(crate) fn draw() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    STATE.with(|state| {
        let (next, value) = switchyard_policy_sdk::wyrand(state.get());
        state.set(next);
        value
    })
}

/// A seed that differs per thread and per process.
fn seed() -> u64 {
    let local = 0u8;
    let place = std::ptr::addr_of!(local) as u64;
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    place ^ time.rotate_left(32)
}
