//! Upstream connections, pooled per worker thread and endpoint.
//!
//! Each worker runs its own single-threaded runtime, so its pool is a thread-local with
//! no lock. HTTP/1.1 connections are checked out for one request and come back when
//! the response body has ended: plain sockets for the fast path, hyper connections for
//! the general path. One HTTP/2 connection per endpoint is shared by all the worker's
//! requests.

use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Why no connection could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The connect timeout ran out.
    #[error("connecting to {0} timed out")]
    Timeout(SocketAddr),
    /// The TCP connect failed.
    #[error("connecting to {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    /// The HTTP handshake failed.
    #[error("HTTP handshake with {0}: {1}")]
    Handshake(SocketAddr, hyper::Error),
}

/// A connection ready for one request.
pub(crate) enum Connection {
    /// Exclusive until checked in again.
    Http1(http1::SendRequest<Incoming>),
    /// Shared, multiplexed.
    Http2(http2::SendRequest<Incoming>),
}

#[derive(Default)]
struct Idle {
    sockets: Vec<(TcpStream, Instant)>,
    http1: Vec<(http1::SendRequest<Incoming>, Instant)>,
    http2: Option<http2::SendRequest<Incoming>>,
}

thread_local! {
    static POOL: RefCell<HashMap<SocketAddr, Idle>> = RefCell::new(HashMap::new());
}

/// A ready connection to `addr`: a pooled one if there is one, else a new one.
pub(crate) async fn checkout(
    addr: SocketAddr,
    http2: bool,
    connect_timeout: Duration,
    idle_timeout: Duration,
) -> Result<Connection, ConnectError> {
    if http2 {
        if let Some(mut conn) = pooled_http2(addr)
            && ready(conn.ready(), connect_timeout).await
        {
            return Ok(Connection::Http2(conn));
        }
        let conn = connect_http2(addr, connect_timeout).await?;
        POOL.with(|p| p.borrow_mut().entry(addr).or_default().http2 = Some(conn.clone()));
        return Ok(Connection::Http2(conn));
    }
    while let Some(mut conn) = pooled_http1(addr, idle_timeout) {
        if ready(conn.ready(), connect_timeout).await {
            return Ok(Connection::Http1(conn));
        }
    }
    Ok(Connection::Http1(
        connect_http1(addr, connect_timeout).await?,
    ))
}

/// Whether a pooled connection becomes ready within `timeout`. One still sending an
/// earlier request's body (the upstream answered before reading it all) may not.
async fn ready(readiness: impl Future<Output = hyper::Result<()>>, timeout: Duration) -> bool {
    matches!(tokio::time::timeout(timeout, readiness).await, Ok(Ok(())))
}

/// Returns an HTTP/1.1 connection whose exchange has completed.
pub(crate) fn checkin(addr: SocketAddr, conn: http1::SendRequest<Incoming>, max_idle: usize) {
    if conn.is_closed() {
        return;
    }
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let idle = &mut pool.entry(addr).or_default().http1;
        if idle.len() < max_idle {
            idle.push((conn, Instant::now()));
        }
    });
}

/// A socket to `addr` for the HTTP/1.1 fast path, and whether it was pooled (then it may
/// turn out to have been closed by the endpoint just now).
pub(crate) async fn checkout_socket(
    addr: SocketAddr,
    connect_timeout: Duration,
    idle_timeout: Duration,
) -> Result<(TcpStream, bool), ConnectError> {
    let pooled = POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let idle = &mut pool.get_mut(&addr)?.sockets;
        while let Some((socket, since)) = idle.pop() {
            if since.elapsed() < idle_timeout && quiet(&socket) {
                return Some(socket);
            }
        }
        None
    });
    match pooled {
        Some(socket) => Ok((socket, true)),
        None => Ok((tcp(addr, connect_timeout).await?, false)),
    }
}

/// Whether an idle socket has nothing to read: neither a close nor stray bytes. The
/// reactor's readiness answers this without a system call unless the socket was seen
/// readable.
fn quiet(socket: &TcpStream) -> bool {
    matches!(socket.try_read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Returns a fast-path socket whose exchange has completed cleanly.
pub(crate) fn checkin_socket(addr: SocketAddr, socket: TcpStream, max_idle: usize) {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let idle = &mut pool.entry(addr).or_default().sockets;
        if idle.len() < max_idle {
            idle.push((socket, Instant::now()));
        }
    });
}

fn pooled_http1(addr: SocketAddr, idle_timeout: Duration) -> Option<http1::SendRequest<Incoming>> {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let idle = &mut pool.get_mut(&addr)?.http1;
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < idle_timeout && !conn.is_closed() {
                return Some(conn);
            }
        }
        None
    })
}

fn pooled_http2(addr: SocketAddr) -> Option<http2::SendRequest<Incoming>> {
    POOL.with(|p| {
        let pool = p.borrow();
        let conn = pool.get(&addr)?.http2.as_ref()?;
        (!conn.is_closed()).then(|| conn.clone())
    })
}

/// A new TCP connection to `addr`, with `TCP_NODELAY`.
pub(crate) async fn tcp(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnectError::Timeout(addr))?
        .map_err(|e| ConnectError::Io(addr, e))?;
    stream
        .set_nodelay(true)
        .map_err(|e| ConnectError::Io(addr, e))?;
    Ok(stream)
}

async fn connect_http1(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<http1::SendRequest<Incoming>, ConnectError> {
    let io = TokioIo::new(tcp(addr, timeout).await?);
    let (send, conn) = http1::Builder::new()
        .handshake(io)
        .await
        .map_err(|e| ConnectError::Handshake(addr, e))?;
    drive(addr, conn);
    Ok(send)
}

async fn connect_http2(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<http2::SendRequest<Incoming>, ConnectError> {
    let io = TokioIo::new(tcp(addr, timeout).await?);
    let (send, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(20))
        .handshake(io)
        .await
        .map_err(|e| ConnectError::Handshake(addr, e))?;
    drive(addr, conn);
    Ok(send)
}

/// Runs a connection's I/O on this worker until it closes.
fn drive(addr: SocketAddr, conn: impl Future<Output = hyper::Result<()>> + Send + 'static) {
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(%addr, "upstream connection ended: {e}");
        }
    });
}
