//! The client's request body on its way upstream (general path): bounded in size and
//! in how long it may pause. A fault in it is recorded in the request's [`Upload`] as
//! the client's, so that the forwarding code — which only sees its upstream exchange
//! fail — answers the client for it and blames no endpoint.

use crate::proxy::connection::UnreadBody;
use crate::proxy::listener::{ClientFault, ListenerStats};
use crate::proxy::pauses::Pauses;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::error::Error as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;
use switchyard_policy::cluster::clock::coarse_now_ns;

/// A boxed body error.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a client's upload is going: shared by its body and the code that forwards it.
#[derive(Debug)]
pub(crate) struct Upload {
    /// 0: no fault; else the fault's index in [`ClientFault::ALL`] plus one.
    fault: AtomicU8,
    /// When all of the body had been read, on the coarse clock; 0 until then.
    completed_ns: AtomicU64,
    stats: Arc<ListenerStats>,
    /// Told when all of the body has been read.
    unread: Option<UnreadBody>,
}

impl Upload {
    /// An upload under way; a fault in it is counted on `stats`, its end told to
    /// `unread`.
    pub(crate) fn new(stats: Arc<ListenerStats>, unread: Option<UnreadBody>) -> Arc<Self> {
        Arc::new(Self {
            fault: AtomicU8::new(0),
            completed_ns: AtomicU64::new(0),
            stats,
            unread,
        })
    }

    /// Whether all of the body has been read from the client.
    pub(crate) fn complete(&self) -> bool {
        self.completed_ns.load(Relaxed) != 0
    }

    /// Whether all of the body had been read at least `span` ago.
    pub(crate) fn complete_for(&self, span: Duration) -> bool {
        let at = self.completed_ns.load(Relaxed);
        at != 0 && coarse_now_ns().saturating_sub(at) >= span.as_nanos() as u64
    }

    /// All of the body has been read.
    fn done(&self) {
        let before = self.completed_ns.swap(coarse_now_ns().max(1), Relaxed);
        if before == 0
            && let Some(unread) = &self.unread
        {
            unread.read();
        }
    }

    /// Records `fault` and counts it on the listener; only the first one counts.
    pub(crate) fn record(&self, fault: ClientFault) {
        let first = self
            .fault
            .compare_exchange(0, fault as u8 + 1, Relaxed, Relaxed)
            .is_ok();
        if first {
            self.stats.count(fault);
        }
    }

    /// The client's fault, if there was one.
    pub(crate) fn fault(&self) -> Option<ClientFault> {
        match self.fault.load(Relaxed) {
            0 => None,
            n => ClientFault::ALL.get(usize::from(n) - 1).copied(),
        }
    }
}

/// Why the client's body stopped.
#[derive(Debug, thiserror::Error)]
#[error("client request body: {}", .0.answer().1)]
pub(crate) struct ClientBodyError(ClientFault);

/// The client's body, watched: its size against the listener's limit, its pauses
/// against the body read timeout, its errors recorded as the client's.
pub(crate) struct ClientBody {
    inner: Incoming,
    /// `None` for a body that is over before it starts: nothing can go wrong in it.
    watch: Option<Watch>,
}

struct Watch {
    upload: Arc<Upload>,
    /// Bytes the body may still bring.
    left: u64,
    pauses: Pauses,
}

impl ClientBody {
    /// `inner`, allowed `limit` bytes (`None`: any) and pauses up to `pause`; how it
    /// goes is recorded in `upload`.
    pub(crate) fn new(
        inner: Incoming,
        upload: Arc<Upload>,
        limit: Option<u64>,
        pause: Duration,
    ) -> Self {
        Self {
            inner,
            watch: Some(Watch {
                upload,
                left: limit.unwrap_or(u64::MAX),
                pauses: Pauses::new(pause),
            }),
        }
    }

    /// `inner`, which has ended already: passed on as it is.
    pub(crate) fn ended(inner: Incoming) -> Self {
        Self { inner, watch: None }
    }
}

impl Watch {
    /// Records `fault` and makes the error that ends the body.
    fn fail(&self, fault: ClientFault) -> BoxError {
        self.upload.record(fault);
        Box::new(ClientBodyError(fault))
    }
}

/// What a failed client body says about its client: malformed framing, or gone.
fn classify(error: &hyper::Error) -> ClientFault {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => {
                    ClientFault::Malformed
                }
                _ => ClientFault::Aborted,
            };
        }
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            let cancelled = h2.is_io()
                || h2.is_go_away()
                || matches!(h2.reason(), Some(h2::Reason::CANCEL | h2::Reason::NO_ERROR));
            return if cancelled {
                ClientFault::Aborted
            } else {
                ClientFault::Malformed
            };
        }
        source = cause.source();
    }
    ClientFault::Aborted
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let Some(watch) = &mut this.watch else {
            return polled.map_err(Into::into);
        };
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let size = frame.data_ref().map_or(0, |d| d.len() as u64);
                if size > watch.left {
                    return Poll::Ready(Some(Err(watch.fail(ClientFault::TooLarge))));
                }
                watch.left -= size;
                watch.pauses.moved();
                if this.inner.is_end_stream() {
                    watch.upload.done();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(watch.fail(classify(&e))))),
            Poll::Ready(None) => {
                watch.upload.done();
                Poll::Ready(None)
            }
            Poll::Pending if watch.pauses.exceeded(cx) => {
                Poll::Ready(Some(Err(watch.fail(ClientFault::Timeout))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        // Unwatched, it had ended when it came (and asking h2 takes a lock).
        self.watch.is_none() || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
