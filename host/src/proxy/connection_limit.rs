//! A cluster's cap on open upstream connections (idle pooled ones included) and on
//! the requests that may wait for one, and the sockets that hold a slot of it.
//!
//! A new connection needs a free slot. When there is none, the request waits (up to
//! the connect timeout) as one of at most `max_pending`; further requests are refused
//! at once. A connection that finishes an exchange goes to a request waiting for one
//! to the same endpoint on its worker (see `pool`); else, while any request waits, it
//! is closed instead of pooled, so that its slot goes to the waiter whichever worker it
//! is on.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connection slots of one cluster.
#[derive(Debug)]
pub struct ConnectionLimit {
    slots: Arc<Semaphore>,
    max: usize,
    max_pending: usize,
    pending: AtomicUsize,
    overflowed: AtomicU64,
}

/// Why no slot was had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Overflow {
    /// `max_pending` requests wait already.
    #[error("connection limit reached and {0} requests waiting already")]
    TooManyPending(usize),
    /// No slot came free in time.
    #[error("connection limit reached; no connection came free within {0:?}")]
    Timeout(Duration),
}

impl ConnectionLimit {
    /// At most `max` connections, and `max_pending` requests waiting for one.
    pub fn new(max: u32, max_pending: u32) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max as usize)),
            max: max as usize,
            max_pending: max_pending as usize,
            pending: AtomicUsize::new(0),
            overflowed: AtomicU64::new(0),
        }
    }

    /// A slot for a new connection: a free one at once, else one that comes free
    /// within `wait` (unless too many wait already).
    pub(crate) async fn slot(self: &Arc<Self>, wait: Duration) -> Result<Slot, Overflow> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(self.slot_of(permit));
        }
        // Counted until it returns or is dropped (a waiter may get a connection
        // handed over instead).
        let waiting = Pending::count(&self.pending);
        if waiting.before >= self.max_pending {
            drop(waiting);
            self.overflowed.fetch_add(1, Relaxed);
            return Err(Overflow::TooManyPending(self.max_pending));
        }
        let waited = tokio::time::timeout(wait, Arc::clone(&self.slots).acquire_owned()).await;
        drop(waiting);
        match waited {
            Ok(Ok(permit)) => Ok(self.slot_of(permit)),
            _ => {
                self.overflowed.fetch_add(1, Relaxed);
                Err(Overflow::Timeout(wait))
            }
        }
    }

    fn slot_of(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        Slot {
            _permit: permit,
            limit: Arc::clone(self),
        }
    }

    /// Whether no slot is free.
    pub(crate) fn full(&self) -> bool {
        self.slots.available_permits() == 0
    }

    /// Why a request may not wait for a slot now, if it may not: `max_pending` wait
    /// already (counted as a refusal).
    pub(crate) fn queue_full(&self) -> Option<Overflow> {
        if self.pending.load(Relaxed) < self.max_pending {
            return None;
        }
        self.overflowed.fetch_add(1, Relaxed);
        Some(Overflow::TooManyPending(self.max_pending))
    }

    /// Requests waiting for a slot now.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Relaxed)
    }

    /// Whether requests wait for a slot.
    pub(crate) fn wanted(&self) -> bool {
        self.pending.load(Relaxed) > 0
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// Requests refused since start: too many waiting, or none came free in time.
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Relaxed)
    }
}

/// One request counted as waiting for a slot, until dropped.
struct Pending<'a> {
    count: &'a AtomicUsize,
    /// How many waited before it.
    before: usize,
}

impl<'a> Pending<'a> {
    fn count(count: &'a AtomicUsize) -> Self {
        let before = count.fetch_add(1, Relaxed);
        Self { count, before }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Relaxed);
    }
}

/// One connection's place under its cluster's limit, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    limit: Arc<ConnectionLimit>,
}

/// An upstream connection (TCP, or TLS over it), holding its slot when its cluster
/// limits connections.
#[derive(Debug)]
pub(crate) struct Socket<S = TcpStream> {
    stream: S,
    slot: Option<Slot>,
}

impl<S> Socket<S> {
    pub(crate) fn new(stream: S, slot: Option<Slot>) -> Self {
        Self { stream, slot }
    }

    /// The stream and the slot, apart (to wrap the stream and keep the slot).
    pub(crate) fn into_parts(self) -> (S, Option<Slot>) {
        (self.stream, self.slot)
    }

    /// Whether it holds a slot of a cluster's connection limit.
    pub(crate) fn limited(&self) -> bool {
        self.slot.is_some()
    }

    /// Requests waiting for a slot under its cluster's limit (0 without a limit).
    pub(crate) fn waiting_for_slots(&self) -> usize {
        self.slot.as_ref().map_or(0, |slot| slot.limit.pending())
    }

    /// Whether its slot would serve a waiting request better than an idle connection:
    /// then it is closed rather than pooled.
    pub(crate) fn wanted_elsewhere(&self) -> bool {
        self.slot.as_ref().is_some_and(|slot| slot.limit.wanted())
    }
}

impl<S> std::ops::Deref for Socket<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.stream
    }
}

impl<S> std::ops::DerefMut for Socket<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Socket<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Socket<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
