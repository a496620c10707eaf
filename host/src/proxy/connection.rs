//! A client connection served by hyper (HTTP/2, and HTTP/1.1 the fast path hands
//! over): its socket, with the bytes protocol detection read replayed first and its
//! traffic noted; its requests in progress; and the watchdog that ends it when it has
//! been idle too long, or when its responses have stopped moving.
//!
//! An HTTP/1.1 connection may also *park*: once every request on it is answered, its
//! bodies read whole and its responses flushed, the socket refuses hyper its next read,
//! so that the caller can take the socket back and wait for the next request without
//! hyper's buffers (an idle connection then costs what the fast path's does).

use crate::proxy::buffers;
use bytes::{Buf, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
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
    /// Request bodies begun and not read to their end.
    unread_bodies: AtomicU32,
    /// Whether the connection may park once it has served a request ([`ALLOWED`]),
    /// may park now ([`ARMED`]), has ([`PARKED`]), or may not.
    park: AtomicU8,
    /// How long it must have had no request in progress before it parks (zero: at
    /// once); a busy connection then keeps hyper's state between its requests.
    park_after: Duration,
    /// When it last had no request left in progress (as [`since_start`] counts), when
    /// it parks only after a while.
    quiet_since: AtomicU64,
}

/// Nanoseconds since the first call: a clock that fits in an atomic.
fn since_start() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    start.elapsed().as_nanos() as u64
}

/// Parking states (see the module's doc).
const NO_PARKING: u8 = 0;
const ALLOWED: u8 = 1;
const ARMED: u8 = 2;
const PARKED: u8 = 3;

/// Why the watchdog ended a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No request in progress for the idle timeout: close it politely (HTTP/2:
    /// GOAWAY).
    Idle,
    /// Responses are under way, and no byte has moved either way for the body idle
    /// time.
    Stalled,
    /// Not an end: it has had no request in progress for its `park_after`, and may
    /// park now if it is polled again.
    Quiet,
}

/// How many looks the watchdog takes within the body idle time.
const LOOKS: u32 = 4;
const IN_PROGRESS: u64 = 1;
const AWAITING: u64 = 1 << 32;

impl Activity {
    /// A connection opened now, that parks (when allowed) as soon as it may.
    #[cfg(test)]
    pub(crate) fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A connection opened now, that parks (when allowed) only once it has had no
    /// request in progress for `after`.
    pub(crate) fn parking_after(after: Duration) -> Arc<Self> {
        Arc::new(Self {
            park_after: after,
            ..Self::default()
        })
    }

    /// Whether it has had no request in progress for its `park_after`.
    fn quiet_long_enough(&self) -> bool {
        self.park_after.is_zero()
            || since_start().saturating_sub(self.quiet_since.load(Relaxed))
                >= self.park_after.as_nanos() as u64
    }

    /// A request begins, waiting for its response head; it is in progress until the
    /// guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> InProgress {
        self.requests.fetch_add(IN_PROGRESS | AWAITING, Relaxed);
        // Parking waits for a first request: before it, hyper may be reading one.
        let _ = self.park.compare_exchange(ALLOWED, ARMED, Relaxed, Relaxed);
        InProgress {
            activity: Arc::clone(self),
            awaiting: true,
        }
    }

    /// A request with a body begins: the connection may not park until [`UnreadBody::read`]
    /// says all of it was read.
    pub(crate) fn unread_body(self: &Arc<Self>) -> UnreadBody {
        self.unread_bodies.fetch_add(1, Relaxed);
        UnreadBody(Arc::clone(self))
    }

    /// Lets the connection park from now on (`true`), or not.
    pub(crate) fn allow_parking(&self, allowed: bool) {
        let state = if allowed { ALLOWED } else { NO_PARKING };
        self.park.store(state, Relaxed);
    }

    /// Whether the connection has parked: hyper has nothing left to do on it and
    /// waits for a read it was refused.
    pub(crate) fn parked(&self) -> bool {
        self.park.load(Relaxed) == PARKED
    }

    /// Whether hyper may be refused its next read: parking is allowed, no request is
    /// in progress and every body was read whole.
    fn may_park(&self) -> bool {
        self.requests.load(Relaxed) == 0
            && self.unread_bodies.load(Relaxed) == 0
            && self.park.load(Relaxed) >= ARMED
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
            idle_at: None,
            busy: false,
            quiet_since: 0,
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
    /// While the timer waits for the connection to have been quiet long enough to
    /// park: when it will have been idle too long.
    idle_at: Option<Instant>,
    /// Whether requests were in progress when it last looked.
    busy: bool,
    /// When the connection last turned quiet, as it was when it last looked.
    quiet_since: u64,
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
            // A request begun and ended between two looks turns the connection quiet
            // anew too.
            let quiet_since = this.activity.quiet_since.load(Relaxed);
            let quiet_again = !busy && quiet_since != this.quiet_since;
            this.quiet_since = quiet_since;
            if busy != this.busy || quiet_again {
                this.busy = busy;
                this.still = 0;
                this.moved = this.activity.moved.load(Relaxed);
                let now = Instant::now();
                let after = this.activity.park_after;
                let parks_later = !busy && !after.is_zero() && this.activity.may_park();
                this.idle_at = parks_later.then(|| now + this.idle);
                let wait = match (busy, parks_later) {
                    (true, _) => this.look,
                    (false, true) => after.min(this.idle),
                    (false, false) => this.idle,
                };
                this.timer.as_mut().reset(now + wait);
            }
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if !busy {
                if let Some(idle_at) = this.idle_at.take() {
                    this.timer.as_mut().reset(idle_at);
                    return Poll::Ready(Expired::Quiet);
                }
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
    /// Another request in progress on the same connection: a tunnel the request opened,
    /// which keeps the connection busy (never parked, never idle) while it lasts.
    pub(crate) fn another(&self) -> InProgress {
        let mut another = self.activity.begin();
        // Nothing to await: the tunnel's bytes are its own watch.
        another.answered();
        another
    }

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
        let activity = &self.activity;
        let before = activity.requests.fetch_sub(IN_PROGRESS, Relaxed);
        if before as u32 == 1 && !activity.park_after.is_zero() {
            activity.quiet_since.store(since_start(), Relaxed);
        }
    }
}

/// A request body not yet read to its end, on its connection.
#[derive(Clone, Debug)]
pub(crate) struct UnreadBody(Arc<Activity>);

impl UnreadBody {
    /// All of the body has been read; to be said once. (A body never read whole keeps
    /// its connection from parking: hyper closes such a connection after the response
    /// anyway.)
    pub(crate) fn read(&self) {
        self.0.unread_bodies.fetch_sub(1, Relaxed);
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
pub(crate) struct ClientIo<S = TcpStream> {
    prefix: BytesMut,
    io: S,
    activity: Arc<Activity>,
    /// hyper has written (or tried to) since its last flush went through.
    unflushed: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ClientIo<S> {
    /// `io`, with `prefix` to be read before anything else.
    pub(crate) fn new(prefix: BytesMut, io: S, activity: Arc<Activity>) -> Self {
        Self {
            prefix,
            io,
            activity,
            unflushed: false,
        }
    }

    /// The socket, taken back from a parked connection.
    pub(crate) fn into_socket(self) -> S {
        self.io
    }

    /// The bytes not read yet, and the socket: taken back from an upgraded connection.
    pub(crate) fn into_parts(self) -> (BytesMut, S) {
        (self.prefix, self.io)
    }

    /// Notes a write that went through, or was tried: a parked connection that still
    /// has bytes to send unparks, and runs again to send them.
    fn noted(
        &mut self,
        poll: Poll<std::io::Result<usize>>,
        cx: &Context<'_>,
    ) -> Poll<std::io::Result<usize>> {
        if poll.is_ready() {
            self.activity.moved.fetch_add(1, Relaxed);
        }
        self.unflushed = true;
        let activity = &self.activity;
        if activity
            .park
            .compare_exchange(PARKED, ARMED, Relaxed, Relaxed)
            .is_ok()
        {
            cx.waker().wake_by_ref();
        }
        poll
    }

    /// Whether to refuse hyper this read: it has nothing left in hand or unsent.
    fn park(&self) -> bool {
        let activity = &self.activity;
        !self.unflushed
            && activity.may_park()
            && activity.quiet_long_enough()
            && (activity
                .park
                .compare_exchange(ARMED, PARKED, Relaxed, Relaxed)
                .is_ok()
                || activity.parked())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ClientIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            if this.park() {
                // No waker kept: whoever polls the connection sees it parked at once.
                return Poll::Pending;
            }
            let poll = Pin::new(&mut this.io).poll_read(cx, buf);
            if poll.is_ready() {
                this.activity.moved.fetch_add(1, Relaxed);
            }
            return poll;
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        if this.prefix.is_empty() {
            // Replayed: the buffer goes back to the worker rather than live as long as
            // the connection.
            buffers::give_input(std::mem::take(&mut this.prefix));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ClientIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.noted(poll, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.noted(poll, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        if matches!(poll, Poll::Ready(Ok(()))) {
            this.unflushed = false;
        }
        poll
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
