//! A client connection served by hyper (HTTP/2, and HTTP/1.1 the fast path hands
//! over): its socket, with the bytes protocol detection read replayed first and its
//! traffic noted; its requests in progress; and the watchdog that ends it when it has
//! been idle too long, or when its responses have stopped moving.

use bytes::{Buf, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// What a connection is doing, as its watchdog sees it.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Requests in progress (bits 0-31) and those of them waiting for their response
    /// head (bits 32-63): one atomic add when a request starts, one when its head
    /// comes, one when it ends.
    requests: AtomicU64,
    /// Reads from and writes to the client that went through.
    moved: AtomicU64,
}

/// Why the watchdog ended a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No request in progress for the idle timeout: close it politely (HTTP/2:
    /// GOAWAY).
    Idle,
    /// Responses are under way, and no byte has moved either way for the body idle
    /// time.
    Stalled,
}

/// How many looks the watchdog takes within the body idle time.
const LOOKS: u32 = 4;
const IN_PROGRESS: u64 = 1;
const AWAITING: u64 = 1 << 32;

impl Activity {
    /// A connection opened now.
    pub(crate) fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A request begins, waiting for its response head; it is in progress until the
    /// guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> InProgress {
        self.requests.fetch_add(IN_PROGRESS | AWAITING, Relaxed);
        InProgress {
            activity: Arc::clone(self),
            awaiting: true,
        }
    }

    /// A watchdog that expires when the connection has had no request in progress
    /// for `idle`, or when it has responses under way (none of its requests waiting
    /// for a head, which the request timeout bounds) and no byte has moved to or from
    /// the client for `stalled`. Poll it with the connection (in the same task), so
    /// that it sees a request begin as soon as it does: it keeps one timer and sets
    /// it only when the connection turns idle or busy.
    pub(crate) fn watchdog(self: &Arc<Self>, idle: Duration, stalled: Duration) -> Watchdog {
        Watchdog {
            activity: Arc::clone(self),
            idle,
            look: (stalled / LOOKS).max(Duration::from_millis(1)),
            timer: Box::pin(tokio::time::sleep(idle)),
            busy: false,
            still: 0,
            moved: 0,
        }
    }
}

/// See [`Activity::watchdog`].
pub(crate) struct Watchdog {
    activity: Arc<Activity>,
    idle: Duration,
    look: Duration,
    timer: Pin<Box<Sleep>>,
    /// Whether requests were in progress when it last looked.
    busy: bool,
    /// Looks in a row that saw nothing move.
    still: u32,
    /// What had moved at the last look.
    moved: u64,
}

impl Future for Watchdog {
    type Output = Expired;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Expired> {
        let this = self.get_mut();
        loop {
            let requests = this.activity.requests.load(Relaxed);
            let busy = requests as u32 != 0;
            if busy != this.busy {
                this.busy = busy;
                this.still = 0;
                this.moved = this.activity.moved.load(Relaxed);
                let wait = if busy { this.look } else { this.idle };
                this.timer.as_mut().reset(Instant::now() + wait);
            }
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if !busy {
                return Poll::Ready(Expired::Idle);
            }
            let moved = this.activity.moved.load(Relaxed);
            let answered = requests >> 32 == 0;
            if moved == this.moved && answered {
                this.still += 1;
                if this.still >= LOOKS {
                    return Poll::Ready(Expired::Stalled);
                }
            } else {
                this.still = 0;
            }
            this.moved = moved;
            this.timer.as_mut().reset(Instant::now() + this.look);
        }
    }
}

/// A request in progress on its connection.
#[derive(Debug)]
pub(crate) struct InProgress {
    activity: Arc<Activity>,
    awaiting: bool,
}

impl InProgress {
    /// Its response head has come: from now on its body must keep moving.
    pub(crate) fn answered(&mut self) {
        if std::mem::take(&mut self.awaiting) {
            self.activity.requests.fetch_sub(AWAITING, Relaxed);
        }
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.answered();
        self.activity.requests.fetch_sub(IN_PROGRESS, Relaxed);
    }
}

/// A response body whose request is in progress until the body is done.
pub(crate) struct Tracked<B> {
    inner: B,
    _request: InProgress,
}

impl<B> Tracked<B> {
    /// `inner`, keeping `request` in progress while it lives.
    pub(crate) fn new(inner: B, request: InProgress) -> Self {
        Self {
            inner,
            _request: request,
        }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client's socket as hyper uses it: bytes already read are read again first;
/// writes are noted in the connection's [`Activity`].
pub(crate) struct ClientIo {
    prefix: BytesMut,
    io: TcpStream,
    activity: Arc<Activity>,
}

impl ClientIo {
    /// `io`, with `prefix` to be read before anything else.
    pub(crate) fn new(prefix: BytesMut, io: TcpStream, activity: Arc<Activity>) -> Self {
        Self {
            prefix,
            io,
            activity,
        }
    }

    /// Notes a write that went through.
    fn noted(&self, poll: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        if poll.is_ready() {
            self.activity.moved.fetch_add(1, Relaxed);
        }
        poll
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            let poll = Pin::new(&mut this.io).poll_read(cx, buf);
            if poll.is_ready() {
                this.activity.moved.fetch_add(1, Relaxed);
            }
            return poll;
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.noted(poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.noted(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_its_last_request() {
        let activity = Activity::new();
        let idle = Duration::from_secs(60);
        let request = activity.begin();
        let watchdog = activity.watchdog(idle, Duration::from_secs(10));
        tokio::pin!(watchdog);
        assert!(poll_once(watchdog.as_mut()).is_none());
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(poll_once(watchdog.as_mut()).is_none(), "busy, not idle");
        drop(request);
        let started = Instant::now();
        assert_eq!(watchdog.await, Expired::Idle);
        assert_eq!(started.elapsed(), idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_that_stops_moving_is_stalled_but_a_wait_for_its_head_is_not() {
        let activity = Activity::new();
        let stalled = Duration::from_secs(8);
        let watchdog = activity.watchdog(Duration::from_secs(60), stalled);
        tokio::pin!(watchdog);
        assert!(poll_once(watchdog.as_mut()).is_none());
        let mut request = activity.begin();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(poll_once(watchdog.as_mut()).is_none(), "waiting for a head");
        request.answered();
        let started = Instant::now();
        assert_eq!(watchdog.await, Expired::Stalled);
        let waited = started.elapsed();
        assert!(
            waited >= stalled && waited <= stalled + stalled / 4,
            "{waited:?}"
        );
    }

    /// Polls `future` once.
    fn poll_once<F: Future>(future: Pin<&mut F>) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        match future.poll(&mut Context::from_waker(waker)) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        }
    }
}
