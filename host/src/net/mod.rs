//! The network below the proxy and the health probes: TCP connections to endpoints,
//! and the HTTP/1.1 wire format ([`http1`]).

pub(crate) mod http1;
pub(crate) mod proxy_protocol;

use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

/// Why a TCP connection to an endpoint could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The connect timeout ran out.
    #[error("connecting to {0} timed out")]
    Timeout(SocketAddr),
    /// The TCP connect failed.
    #[error("connecting to {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    /// The proxy itself ran out of something a connection needs (file descriptors,
    /// buffers, local ports): not the endpoint's fault.
    #[error("connecting to {0}: the proxy is out of resources: {1}")]
    Local(SocketAddr, std::io::Error),
}

impl ConnectError {
    /// A failed connect to `addr`: the proxy's own shortage, or the endpoint's.
    fn io(addr: SocketAddr, e: std::io::Error) -> Self {
        let local = [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::EADDRNOTAVAIL,
        ];
        match e.raw_os_error() {
            Some(code) if local.contains(&code) => ConnectError::Local(addr, e),
            _ => ConnectError::Io(addr, e),
        }
    }
}

/// A new TCP connection to `addr`, with `TCP_NODELAY`.
pub(crate) async fn tcp(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnectError::Timeout(addr))?
        .map_err(|e| ConnectError::io(addr, e))?;
    stream
        .set_nodelay(true)
        .map_err(|e| ConnectError::io(addr, e))?;
    Ok(stream)
}

/// Whether an idle socket has nothing to read: neither a close nor stray bytes. The
/// reactor's readiness answers this without a system call unless the socket was seen
/// readable.
pub(crate) fn quiet(socket: &TcpStream) -> bool {
    matches!(socket.try_read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}
