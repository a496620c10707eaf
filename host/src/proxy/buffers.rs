//! Buffers a worker lends its client connections while they have a request in hand,
//! so that a connection waiting for its next request holds none: an idle connection
//! costs its socket and a small task, not kilobytes of buffer.
//!
//! Each worker runs on a thread of its own, so its buffers are thread-locals with no
//! lock. A buffer that a large exchange grew is let go rather than kept, and only so
//! many are kept: what is lent out beyond that is allocated and freed as needed.

use crate::net::http1::READ_CHUNK;
use bytes::BytesMut;
use std::cell::RefCell;

/// Buffers of each kind a worker keeps for reuse.
const KEEP: usize = 64;
/// A buffer whose capacity grew beyond this is freed instead of kept.
const KEEP_CAPACITY: usize = 2 * READ_CHUNK;

/// What the HTTP/1.1 fast path needs besides the client's input while it serves a
/// request.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The head being sent (upstream or to the client), and body bytes with it.
    pub(crate) out: Vec<u8>,
    /// The request's rewritten head, kept while its attempts last.
    pub(crate) head: Vec<u8>,
    /// Bytes from the upstream not yet relayed.
    pub(crate) upstream_input: BytesMut,
}

/// Bytes of the buffer a worker's relays read into.
pub(crate) const RELAY_CHUNK: usize = 16 * 1024;

thread_local! {
    static INPUTS: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    static SCRATCH: RefCell<Vec<Scratch>> = const { RefCell::new(Vec::new()) };
    static RELAY: RefCell<Option<Box<[u8]>>> = const { RefCell::new(None) };
}

/// Runs `f` with the worker's relay buffer ([`RELAY_CHUNK`] bytes), lent for the call
/// only: a relay holds no buffer of its own while its bytes keep up.
pub(crate) fn with_relay_buffer<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    RELAY.with(|relay| {
        let mut relay = relay.borrow_mut();
        let buffer = relay.get_or_insert_with(|| vec![0; RELAY_CHUNK].into_boxed_slice());
        f(buffer)
    })
}

/// An empty buffer for a client's input, with room for one read.
pub(crate) fn input() -> BytesMut {
    INPUTS
        .with(|kept| kept.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(READ_CHUNK))
}

/// Takes back a client's input buffer (what it still holds is dropped).
pub(crate) fn give_input(mut input: BytesMut) {
    let capacity = whole_capacity(&mut input);
    if capacity == 0 || capacity > KEEP_CAPACITY {
        return;
    }
    INPUTS.with(|kept| keep(&mut kept.borrow_mut(), input));
}

/// Empties `buf` and takes back the room its consumed bytes held: the capacity of its
/// whole allocation (`capacity` alone leaves out what `advance` went past, so a large
/// buffer could pass for a small one).
fn whole_capacity(buf: &mut BytesMut) -> usize {
    buf.clear();
    // Fails only when there is no consumed room to take back.
    let _ = buf.try_reclaim(buf.capacity() + 1);
    buf.capacity()
}

impl Scratch {
    /// A set of scratch buffers, empty.
    pub(crate) fn take() -> Self {
        SCRATCH
            .with(|kept| kept.borrow_mut().pop())
            .unwrap_or_else(|| Scratch {
                out: Vec::with_capacity(OUT_CAPACITY),
                head: Vec::with_capacity(HEAD_CAPACITY),
                upstream_input: BytesMut::new(),
            })
    }

    /// Gives the buffers back; any that a large exchange grew are freed.
    pub(crate) fn give(mut self) {
        self.out.clear();
        self.head.clear();
        self.upstream_input.clear();
        fit(&mut self.out, OUT_CAPACITY);
        fit(&mut self.head, HEAD_CAPACITY);
        fit_bytes(&mut self.upstream_input);
        SCRATCH.with(|kept| keep(&mut kept.borrow_mut(), self));
    }
}

/// What a fresh `out` and `head` of [`Scratch`] hold.
pub(crate) const OUT_CAPACITY: usize = 4096;
pub(crate) const HEAD_CAPACITY: usize = 1024;

/// Lets go of the capacity a large exchange grew `buf` to, when it is over what is
/// kept: `buf` starts again with `fresh`. (Its contents go too; call it on one whose
/// contents are used.)
pub(crate) fn fit(buf: &mut Vec<u8>, fresh: usize) {
    if buf.capacity() > KEEP_CAPACITY {
        *buf = Vec::with_capacity(fresh);
    }
}

/// As [`fit`], for an empty `buf` (one that holds bytes keeps them).
pub(crate) fn fit_bytes(buf: &mut BytesMut) {
    if buf.is_empty() && whole_capacity(buf) > KEEP_CAPACITY {
        *buf = BytesMut::new();
    }
}

/// Gives the memory this worker has freed back to the system. mimalloc returns freed
/// pages only later, as the thread allocates again; a worker whose connections have
/// gone idle allocates nothing, and would keep what a burst of requests used. Called
/// by each worker every second.
pub(crate) fn return_freed_memory() {
    #[cfg(not(feature = "system-allocator"))]
    {
        unsafe extern "C" {
            /// mimalloc's: frees what it can of this thread's heap (`force`: all it can,
            /// at a cost).
            fn mi_collect(force: bool);
        }
        // SAFETY: mimalloc is linked in (see lib.rs); collecting is safe at any time
        // on any thread, and a no-op on a thread that never used it.
        unsafe { mi_collect(false) };
    }
}

/// Keeps `item` unless [`KEEP`] are kept already.
fn keep<T>(kept: &mut Vec<T>, item: T) {
    if kept.len() < KEEP {
        kept.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;

    #[test]
    fn a_buffer_comes_back_empty_and_a_grown_one_is_not_kept() {
        let mut input = input();
        input.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let at = input.as_ptr();
        give_input(input);
        let again = super::input();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), at, "the same buffer, reused");

        let mut grown = again;
        grown.reserve(4 * KEEP_CAPACITY);
        give_input(grown);
        assert!(super::input().capacity() <= KEEP_CAPACITY);
    }

    #[test]
    fn a_grown_buffer_is_not_kept_once_its_bytes_are_consumed() {
        let mut input = BytesMut::with_capacity(8 * KEEP_CAPACITY);
        input.extend_from_slice(&vec![b'x'; 7 * KEEP_CAPACITY + 100]);
        // What is left looks small.
        input.advance(7 * KEEP_CAPACITY);
        assert!(input.capacity() <= KEEP_CAPACITY);
        let mut kept = input.clone();
        fit_bytes(&mut kept);
        assert_eq!(kept.len(), 100, "one that holds bytes keeps them");
        give_input(input);
        assert!(whole_capacity(&mut super::input()) <= KEEP_CAPACITY);
    }

    #[test]
    fn scratch_is_reused_cleared() {
        let mut scratch = Scratch::take();
        scratch.out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let at = scratch.out.as_ptr();
        scratch.give();
        let again = Scratch::take();
        assert!(again.out.is_empty() && again.head.is_empty());
        assert_eq!(again.out.as_ptr(), at);
    }
}
