//! Cache prefetch hints: what a coming pick will read of an endpoint is asked for
//! ahead, so that the pick does not wait on memory for it.

/// Hints the CPU to bring the `len` bytes at `start` into its caches: their first and
/// last cache lines, which are all of them for spans of up to two lines (what a pick
/// reads of an endpoint). A hint only: it reads nothing the program sees, and does
/// nothing where the CPU has no such hint.
pub(super) fn prefetch(start: *const u8, len: usize) {
    hint(start);
    hint(start.wrapping_add(len.saturating_sub(1)));
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
fn hint(at: *const u8) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch never dereferences in a way the program can observe and
    // never faults, whatever the address; SSE is enabled (the `cfg` above).
    unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) }
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
fn hint(_at: *const u8) {}
