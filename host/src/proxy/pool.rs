//! Upstream connections, pooled per worker thread and endpoint.
//!
//! Each worker runs its own single-threaded runtime, so its pool is a thread-local with
//! no lock. HTTP/1.1 connections are checked out for one request and come back when
//! the response body has ended: plain sockets for the fast path and for the general
//! path's requests without a body, hyper connections for its others. One HTTP/2
//! connection per endpoint is shared by all the worker's requests.

use crate::net::{self, quiet, tcp};
use crate::proxy::connection_limit::{ConnectionLimit, Overflow, Socket};
use crate::proxy::replay::RequestBody;
use crate::tls::{Alpn, Originator, server_name};
use bytes::Bytes;
use foldhash::fast::RandomState;
use http_body_util::Empty;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_policy::cluster::EndpointLoad;
use switchyard_policy::cluster::Member;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::client::TlsStream;

/// Why no connection could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The TCP connect failed or timed out.
    #[error(transparent)]
    Tcp(#[from] net::ConnectError),
    /// The HTTP handshake failed.
    #[error("HTTP handshake with {0}: {1}")]
    Handshake(SocketAddr, hyper::Error),
    /// The TLS handshake failed (the reason names the endpoint).
    #[error("{1}")]
    Tls(SocketAddr, String),
    /// The cluster's connection limit left no room: not the endpoint's fault.
    #[error("connecting to {0}: {1}")]
    Overflow(SocketAddr, Overflow),
}

/// How a cluster reaches its endpoints.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dial<'a> {
    /// Connect timeout (and the longest wait for a connection slot).
    pub(crate) connect_timeout: Duration,
    /// Idle connections older than this are not reused.
    pub(crate) idle_timeout: Duration,
    /// The cluster's connection limit, if any.
    pub(crate) limit: Option<&'a Arc<ConnectionLimit>>,
    /// TLS to the endpoint, when the cluster has it.
    pub(crate) tls: Option<DialTls<'a>>,
}

/// TLS to one endpoint.
#[derive(Clone, Copy)]
pub(crate) struct DialTls<'a> {
    /// The cluster's TLS client side.
    pub(crate) originator: &'a Originator,
    /// The endpoint's own server name, from its metadata.
    pub(crate) server_name: Option<&'a str>,
}

impl std::fmt::Debug for DialTls<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialTls")
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl<'a> Dial<'a> {
    /// As dialled to `member`: its own server name, if it has one.
    pub(crate) fn to<'b>(self, member: &'b Member) -> Dial<'b>
    where
        'a: 'b,
    {
        let mut dial: Dial<'b> = self;
        if let Some(tls) = &mut dial.tls {
            tls.server_name = server_name(member);
        }
        dial
    }

    /// Where its connections to `addr` are pooled: apart for each TLS client side
    /// (CA, client certificate) as loaded now and server name, so that no connection
    /// set up for one is used for another, nor one set up before a reload after it
    /// (those are left to idle out).
    pub(crate) fn key(&self, addr: SocketAddr) -> Key {
        let tls = self.tls.map(|tls| {
            let mut name = std::hash::DefaultHasher::new();
            let loaded = tls.originator.generation();
            std::hash::Hash::hash(&(tls.server_name, loaded), &mut name);
            (tls.originator.id(), std::hash::Hasher::finish(&name))
        });
        Key { addr, tls }
    }
}

/// Where connections are pooled: an endpoint's address and, for TLS, the cluster's
/// client side (by address) and the server name and the client side's reload count
/// (by hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) addr: SocketAddr,
    tls: Option<(u64, u64)>,
}

impl ConnectError {
    /// Counts this failure against the endpoint whose `load` it is.
    pub(crate) fn record(&self, load: &EndpointLoad, connect_timeout: Duration) {
        match self {
            ConnectError::Tcp(net::ConnectError::Timeout(_)) => {
                load.record_connect_failure(connect_timeout, true)
            }
            ConnectError::Overflow(..) | ConnectError::Tcp(net::ConnectError::Local(..)) => {}
            _ => load.record_connect_failure(Duration::ZERO, false),
        }
    }

    /// What the client is answered: 504 when the connect timed out, 503 when the
    /// cluster's connection limit left no room or the proxy ran out of descriptors,
    /// else 502.
    pub(crate) fn status(&self) -> http::StatusCode {
        match self {
            ConnectError::Tcp(net::ConnectError::Timeout(_)) => http::StatusCode::GATEWAY_TIMEOUT,
            ConnectError::Overflow(..) | ConnectError::Tcp(net::ConnectError::Local(..)) => {
                http::StatusCode::SERVICE_UNAVAILABLE
            }
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }

    /// Whether every other endpoint of the cluster would fail the same way.
    pub(crate) fn cluster_wide(&self) -> bool {
        matches!(
            self,
            ConnectError::Overflow(..) | ConnectError::Tcp(net::ConnectError::Local(..))
        )
    }
}

/// A connection ready for one request.
pub(crate) enum Connection {
    /// Exclusive until checked in again.
    Http1(http1::SendRequest<RequestBody>),
    /// Shared, multiplexed.
    Http2(http2::SendRequest<RequestBody>),
    /// A socket for the proxy's own HTTP/1.1 exchange, exclusive until checked in
    /// again, and whether it was pooled.
    Socket(Socket, bool),
}

impl Connection {
    /// Whether it speaks HTTP/2.
    pub(crate) fn http2(&self) -> bool {
        matches!(self, Connection::Http2(_))
    }
}

/// What kind of connection a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// hyper's HTTP/1.1 client (request bodies, gRPC).
    Http1,
    /// hyper's HTTP/2 client.
    Http2,
    /// A plain socket, for a request without a body.
    Socket,
    /// Whichever the endpoint chooses by ALPN (TLS only): a pooled HTTP/2 connection,
    /// else a pooled HTTP/1.1 one, else a new one.
    Either,
}

/// What a worker keeps for one endpoint.
#[derive(Default)]
struct Idle {
    sockets: IdleList<Socket>,
    http1: IdleList<http1::SendRequest<RequestBody>>,
    http2: Option<http2::SendRequest<RequestBody>>,
}

/// Idle connections of one kind, the most recently used last.
struct IdleList<T>(Vec<(T, Instant)>);

impl<T> Default for IdleList<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> IdleList<T> {
    /// Keeps `conn` unless `max_idle` are kept already.
    fn push(&mut self, conn: T, max_idle: usize) {
        if self.0.len() < max_idle {
            self.0.push((conn, Instant::now()));
        }
    }

    /// Drops the connections idle for `idle_timeout` or longer.
    fn expire(&mut self, idle_timeout: Duration) {
        self.0.retain(|(_, since)| since.elapsed() < idle_timeout);
    }

    /// The most recently used connection that has been idle less than `idle_timeout`
    /// and that `usable` accepts; the ones passed over are dropped.
    fn pop(&mut self, idle_timeout: Duration, usable: impl Fn(&T) -> bool) -> Option<T> {
        while let Some((conn, since)) = self.0.pop() {
            if since.elapsed() < idle_timeout && usable(&conn) {
                return Some(conn);
            }
        }
        None
    }
}

thread_local! {
    // Looked up twice a request, by endpoint addresses (config's, discovery's, never a
    // client's): hashed with foldhash, several times cheaper than SipHash.
    static POOL: RefCell<HashMap<Key, Idle, RandomState>> = RefCell::default();
    /// Requests on this worker waiting, under their cluster's full connection limit,
    /// for a socket to an address: a socket that finishes an exchange there goes to
    /// the first of them (it would otherwise be closed to free its slot, and the
    /// waiter would connect anew).
    static WAITING: RefCell<HashMap<SocketAddr, Waiters, RandomState>> = RefCell::default();
}

/// The requests on this worker waiting for a socket to one address.
#[derive(Default)]
struct Waiters {
    /// Oldest first; some may have stopped waiting.
    queue: VecDeque<oneshot::Sender<Socket>>,
    /// How many still wait.
    live: usize,
}

/// One request counted among its address's waiters until dropped.
struct Waiting(SocketAddr);

impl Waiting {
    /// Queues a waiter for a socket to `addr`: the receiving end, and the count.
    fn join(addr: SocketAddr) -> (oneshot::Receiver<Socket>, Self) {
        let (handed, receive) = oneshot::channel();
        WAITING.with(|waiting| {
            let mut waiting = waiting.borrow_mut();
            let waiters = waiting.entry(addr).or_default();
            waiters.queue.push_back(handed);
            waiters.live += 1;
        });
        (receive, Self(addr))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.with(|waiting| {
            if let Some(waiters) = waiting.borrow_mut().get_mut(&self.0) {
                waiters.live = waiters.live.saturating_sub(1);
            }
        });
    }
}

/// Closes this worker's idle connections that are no longer wanted: all of those to an
/// address `idle_timeout_of` does not know (no cluster has it any more), and those idle
/// for the timeout it gives. Connections in use are not in the pool and finish.
pub(crate) fn sweep(idle_timeout_of: impl Fn(SocketAddr) -> Option<Duration>) {
    WAITING.with(|waiting| {
        waiting.borrow_mut().retain(|_, waiters| {
            waiters.queue.retain(|waiter| !waiter.is_closed());
            !waiters.queue.is_empty() || waiters.live > 0
        })
    });
    POOL.with(|pool| {
        pool.borrow_mut()
            .retain(|key, idle| match idle_timeout_of(key.addr) {
                None => false,
                Some(timeout) => {
                    idle.sockets.expire(timeout);
                    idle.http1.expire(timeout);
                    true
                }
            })
    });
}

/// Closes every idle connection of this worker (the process is short of
/// descriptors): how many it held. Connections in use are not touched.
pub(crate) fn close_idle() -> usize {
    POOL.with(|pool| {
        let dropped = std::mem::take(&mut *pool.borrow_mut());
        dropped
            .values()
            .map(|idle| {
                idle.sockets.0.len() + idle.http1.0.len() + usize::from(idle.http2.is_some())
            })
            .sum()
    })
}

/// Runs `f` on this worker's idle connections to `key`.
fn idle<R>(key: Key, f: impl FnOnce(&mut Idle) -> R) -> R {
    POOL.with(|p| f(p.borrow_mut().entry(key).or_default()))
}

/// Where plain sockets to `addr` are pooled.
fn plain(addr: SocketAddr) -> Key {
    Key { addr, tls: None }
}

/// A ready connection to `addr`: a pooled one if there is one, else a new one.
///
/// Connecting is boxed here and below: it is rare, and its futures are large, which
/// would make every request's future larger (and slower to move) for nothing.
pub(crate) async fn checkout(
    addr: SocketAddr,
    wanted: Wanted,
    dial: Dial<'_>,
) -> Result<Connection, ConnectError> {
    if wanted == Wanted::Socket {
        let (socket, reused) = checkout_socket(addr, dial).await?;
        return Ok(Connection::Socket(socket, reused));
    }
    let key = dial.key(addr);
    if wanted != Wanted::Http1
        && let Some(mut conn) = pooled_http2(key)
        && ready(conn.ready(), dial.connect_timeout).await
    {
        return Ok(Connection::Http2(conn));
    }
    if wanted != Wanted::Http2 {
        while let Some(mut conn) = idle(key, |idle| {
            idle.http1.pop(dial.idle_timeout, |conn| !conn.is_closed())
        }) {
            if ready(conn.ready(), dial.connect_timeout).await {
                return Ok(Connection::Http1(conn));
            }
        }
    }
    let conn = Box::pin(connect_http(addr, wanted, dial)).await?;
    if let Connection::Http2(shared) = &conn {
        idle(key, |idle| idle.http2 = Some(shared.clone()));
    }
    Ok(conn)
}

/// Whether a pooled connection becomes ready within `timeout`. One still sending an
/// earlier request's body (the upstream answered before reading it all) may not.
async fn ready(readiness: impl Future<Output = hyper::Result<()>>, timeout: Duration) -> bool {
    matches!(tokio::time::timeout(timeout, readiness).await, Ok(Ok(())))
}

/// Returns an HTTP/1.1 connection whose exchange has completed; it is closed instead
/// when `wanted_elsewhere` (its cluster has requests waiting for a connection slot).
pub(crate) fn checkin(
    key: Key,
    conn: http1::SendRequest<RequestBody>,
    max_idle: usize,
    wanted_elsewhere: bool,
) {
    if conn.is_closed() || wanted_elsewhere {
        return;
    }
    idle(key, |idle| idle.http1.push(conn, max_idle));
}

/// A socket to `addr` for the HTTP/1.1 fast path, and whether it was pooled (then it may
/// turn out to have been closed by the endpoint just now).
pub(crate) async fn checkout_socket(
    addr: SocketAddr,
    dial: Dial<'_>,
) -> Result<(Socket, bool), ConnectError> {
    let pooled = idle(plain(addr), |idle| {
        idle.sockets.pop(dial.idle_timeout, |s| quiet(s))
    });
    if let Some(socket) = pooled {
        return Ok((socket, true));
    }
    match dial.limit {
        Some(limit) if limit.full() => Box::pin(wait_for_socket(addr, dial, limit)).await,
        _ => Ok((Box::pin(connect(addr, dial)).await?, false)),
    }
}

/// Under a full connection limit: the first of a socket to `addr` that another request
/// on this worker finishes with, and a free slot to connect with (within the connect
/// timeout).
async fn wait_for_socket(
    addr: SocketAddr,
    dial: Dial<'_>,
    limit: &Arc<ConnectionLimit>,
) -> Result<(Socket, bool), ConnectError> {
    if let Some(full) = limit.queue_full() {
        return Err(ConnectError::Overflow(addr, full));
    }
    let (receive, _waiting) = Waiting::join(addr);
    tokio::select! {
        biased;
        Ok(socket) = receive => Ok((socket, true)),
        slot = limit.slot(dial.connect_timeout) => {
            let slot = slot.map_err(|e| ConnectError::Overflow(addr, e))?;
            Ok((Socket::new(tcp(addr, dial.connect_timeout).await?, Some(slot)), false))
        }
    }
}

/// Returns a fast-path socket whose exchange has completed cleanly: to a request on
/// this worker waiting for one, else to the pool — or closed, when its slot is wanted
/// by a request waiting on another worker.
pub(crate) fn checkin_socket(addr: SocketAddr, socket: Socket, max_idle: usize) {
    let Some(socket) = hand_over(addr, socket) else {
        return;
    };
    if !socket.wanted_elsewhere() {
        idle(plain(addr), |idle| idle.sockets.push(socket, max_idle));
    }
}

/// Gives `socket` to the first request on this worker still waiting for one to
/// `addr`, when every request waiting under the cluster's limit is on this worker
/// (else closing it lets the slot go to the longest waiter, whichever worker it is
/// on); closes it if it is not quiet; the socket back if it goes to none.
fn hand_over(addr: SocketAddr, mut socket: Socket) -> Option<Socket> {
    // Only a cluster with a connection limit has requests waiting for a socket.
    if !socket.limited() {
        return Some(socket);
    }
    WAITING.with(|waiting| {
        let mut waiting = waiting.borrow_mut();
        let Some(waiters) = waiting.get_mut(&addr) else {
            return Some(socket);
        };
        if socket.waiting_for_slots() > waiters.live {
            return Some(socket);
        }
        if !quiet(&socket) {
            // Bytes or an end from the endpoint after a complete response: closed.
            return None;
        }
        while let Some(waiter) = waiters.queue.pop_front() {
            match waiter.send(socket) {
                Ok(()) => return None,
                // That request has gone, or connected after all.
                Err(back) => socket = back,
            }
        }
        if waiters.live == 0 {
            waiting.remove(&addr);
        }
        Some(socket)
    })
}

fn pooled_http2(key: Key) -> Option<http2::SendRequest<RequestBody>> {
    idle(key, |idle| {
        let conn = idle.http2.as_ref()?;
        (!conn.is_closed()).then(|| conn.clone())
    })
}

/// A new connection to `addr` for the cluster `dial` describes, within its
/// connection limit.
pub(crate) async fn connect(addr: SocketAddr, dial: Dial<'_>) -> Result<Socket, ConnectError> {
    let slot = match dial.limit {
        Some(limit) => Some(
            limit
                .slot(dial.connect_timeout)
                .await
                .map_err(|e| ConnectError::Overflow(addr, e))?,
        ),
        None => None,
    };
    Ok(Socket::new(tcp(addr, dial.connect_timeout).await?, slot))
}

/// A new hyper connection to `addr`: over TLS when the cluster has it (the protocol
/// `Either` wants then chosen by the endpoint), HTTP/2 when wanted.
async fn connect_http(
    addr: SocketAddr,
    wanted: Wanted,
    dial: Dial<'_>,
) -> Result<Connection, ConnectError> {
    let socket = connect(addr, dial).await?;
    let Some(tls) = dial.tls else {
        return handshake(addr, socket, wanted == Wanted::Http2).await;
    };
    let alpn = match wanted {
        Wanted::Http2 => Alpn::Http2,
        Wanted::Either => Alpn::Either,
        Wanted::Http1 | Wanted::Socket => Alpn::Http1,
    };
    let (stream, http2) = tls_handshake(addr, socket, tls, alpn, dial.connect_timeout).await?;
    if wanted == Wanted::Http2 && !http2 {
        let why = format!("{addr} did not agree to HTTP/2 (ALPN h2), which this request needs");
        return Err(ConnectError::Tls(addr, why));
    }
    handshake(addr, stream, http2).await
}

/// TLS on `socket` to `addr`, offering `alpn`, within `timeout`: the session, and
/// whether the endpoint chose HTTP/2.
async fn tls_handshake(
    addr: SocketAddr,
    socket: Socket,
    tls: DialTls<'_>,
    alpn: Alpn,
    timeout: Duration,
) -> Result<(Socket<TlsStream<TcpStream>>, bool), ConnectError> {
    let (tcp, slot) = socket.into_parts();
    let started = tls.originator.connect(tcp, addr, tls.server_name, alpn);
    let (stream, http2) = tokio::time::timeout(timeout, started)
        .await
        .map_err(|_| ConnectError::Tls(addr, format!("TLS handshake with {addr} timed out")))?
        .map_err(|why| ConnectError::Tls(addr, why))?;
    Ok((Socket::new(stream, slot), http2))
}

/// An HTTP/1.1 connection of its own to `addr` for an upgrade (over TLS when the
/// cluster has it): never pooled, as the upgrade takes it over, and driven so that
/// the `101`'s connection can be had (`hyper::upgrade::on`).
pub(crate) async fn connect_upgradable(
    addr: SocketAddr,
    dial: Dial<'_>,
) -> Result<http1::SendRequest<Empty<Bytes>>, ConnectError> {
    let socket = connect(addr, dial).await?;
    match dial.tls {
        None => upgradable(addr, socket).await,
        Some(tls) => {
            let timeout = dial.connect_timeout;
            let (stream, _) = tls_handshake(addr, socket, tls, Alpn::Http1, timeout).await?;
            upgradable(addr, stream).await
        }
    }
}

/// The HTTP/1.1 handshake of [`connect_upgradable`].
async fn upgradable<S>(
    addr: SocketAddr,
    io: S,
) -> Result<http1::SendRequest<Empty<Bytes>>, ConnectError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let handshake = http1::Builder::new().handshake(TokioIo::new(io));
    let (send, conn) = handshake
        .await
        .map_err(|e| ConnectError::Handshake(addr, e))?;
    drive(addr, conn.with_upgrades());
    Ok(send)
}

/// An HTTP/1.1 or (`http2`) HTTP/2 client connection on `io`, driven on this worker.
async fn handshake<S>(addr: SocketAddr, io: S, http2: bool) -> Result<Connection, ConnectError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let failed = |e| ConnectError::Handshake(addr, e);
    if http2 {
        let (send, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(20))
            .handshake(io)
            .await
            .map_err(failed)?;
        drive(addr, conn);
        return Ok(Connection::Http2(send));
    }
    let (send, conn) = http1::Builder::new().handshake(io).await.map_err(failed)?;
    drive(addr, conn);
    Ok(Connection::Http1(send))
}

/// Runs a connection's I/O on this worker until it closes.
fn drive(addr: SocketAddr, conn: impl Future<Output = hyper::Result<()>> + Send + 'static) {
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(%addr, "upstream connection ended: {e}");
        }
    });
}
