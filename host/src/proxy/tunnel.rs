//! A tunnel: once an upgrade joined a client connection to an endpoint's, their bytes
//! are relayed both ways — a side's end of input passed on as a half-close — until
//! both sides are done, one fails, neither moves a byte for the idle timeout, or the
//! proxy stops and the drain timeout runs out.

use crate::proxy::pump::Pump;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

/// Bytes each buffer of a tunnel holds, each way.
const BUFFER: usize = 8 * 1024;

/// How a tunnel ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Both sides closed.
    Closed,
    /// Nothing moved either way for the idle timeout.
    Idle,
    /// The client's connection failed (reset, or a write to it): not the endpoint's
    /// doing.
    ClientFailed,
    /// The endpoint's connection failed.
    EndpointFailed,
    /// The proxy stopped and the drain timeout ran out.
    Drained,
}

impl End {
    /// Every way, in the order counted.
    pub(crate) const ALL: [End; 5] = [
        End::Closed,
        End::Idle,
        End::ClientFailed,
        End::EndpointFailed,
        End::Drained,
    ];

    /// Its name in the log and metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            End::Closed => "closed",
            End::Idle => "idle",
            End::ClientFailed => "client_failed",
            End::EndpointFailed => "endpoint_failed",
            End::Drained => "drained",
        }
    }
}

/// What a tunnel relayed, and how it ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Relayed {
    /// Bytes from the client to the endpoint.
    pub(crate) up: u64,
    /// Bytes from the endpoint to the client.
    pub(crate) down: u64,
    pub(crate) end: End,
    /// Whether reading from the endpoint failed (it reset the connection) while the
    /// client was still sending and before the endpoint had closed its side: the one
    /// end of a tunnel that may count against the endpoint.
    pub(crate) endpoint_reset: bool,
}

/// When a tunnel gives up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Longest time with no byte either way.
    pub(crate) idle: Duration,
    /// How long it may go on once the proxy stops.
    pub(crate) drain: Duration,
}

/// Relays between `client` and `endpoint` until the tunnel ends; `stopping` turns true
/// when the proxy stops (or the listener goes).
pub(crate) async fn relay<C, E>(
    client: C,
    endpoint: E,
    limits: Limits,
    stopping: watch::Receiver<bool>,
) -> Relayed
where
    C: AsyncRead + AsyncWrite + Unpin,
    E: AsyncRead + AsyncWrite + Unpin,
{
    let (up, down) = (Side::default(), Side::default());
    let start = Instant::now();
    let mut client = Watched {
        io: client,
        side: &up,
        start,
    };
    let mut endpoint = Watched {
        io: endpoint,
        side: &down,
        start,
    };
    let copying =
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut endpoint, BUFFER, BUFFER);
    let end = supervise(copying, [&up, &down], start, limits, stopping).await;
    Relayed::of(&up, &down, end)
}

/// As [`relay`], between two TCP sockets, with no buffer of the relay's own while
/// bytes keep up (see [`Pump`]); `ahead` goes first each way (to the endpoint, to the
/// client): what was read from the other side before the relay.
pub(crate) async fn relay_sockets(
    [client, endpoint]: [&mut TcpStream; 2],
    ahead: [Vec<u8>; 2],
    limits: Limits,
    stopping: watch::Receiver<bool>,
) -> Relayed {
    let (up, down) = (Side::default(), Side::default());
    let start = Instant::now();
    let pumping = Pump::new([client, endpoint], ahead, [&up, &down], start);
    let end = supervise(pumping, [&up, &down], start, limits, stopping).await;
    Relayed::of(&up, &down, end)
}

/// Drives `copying` (both directions of a tunnel, whose sides record what they do in
/// `sides`: the client's, the endpoint's) until it ends, neither side moves a byte for
/// the idle timeout, or the proxy stops and the drain timeout runs out: how it ended.
async fn supervise<T>(
    copying: impl Future<Output = io::Result<T>>,
    [up, down]: [&Side; 2],
    start: Instant,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) -> End {
    tokio::pin!(copying);
    // When a byte last moved either way.
    let last = || start + Duration::from_nanos(up.last.load(Relaxed).max(down.last.load(Relaxed)));
    // Whichever side's operation failed says whose fault it was.
    let failed = || match down.failed.load(Relaxed) {
        true => End::EndpointFailed,
        false => End::ClientFailed,
    };
    // One timer for both ends: quiet for the idle timeout, and once stopping, the
    // drain timeout.
    let idle = tokio::time::sleep(limits.idle);
    tokio::pin!(idle);
    let mut drain_until = None;
    let stopped = async move {
        let _ = stopping.wait_for(|&stop| stop).await;
    };
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            copied = copying.as_mut() => return match copied {
                Ok(_) => End::Closed,
                Err(_) => failed(),
            },
            () = idle.as_mut() => {
                let now = Instant::now();
                if drain_until.is_some_and(|until| until <= now) {
                    return End::Drained;
                }
                let quiet_until = last() + limits.idle;
                if quiet_until <= now {
                    return End::Idle;
                }
                idle.as_mut().reset(drain_until.map_or(quiet_until, |d| quiet_until.min(d)));
            }
            () = stopped.as_mut(), if drain_until.is_none() => {
                let until = Instant::now() + limits.drain;
                drain_until = Some(until);
                if until < idle.deadline() {
                    idle.as_mut().reset(until);
                }
            }
        }
    }
}

impl Relayed {
    /// What the sides `up` (the client's) and `down` (the endpoint's) recorded.
    fn of(up: &Side, down: &Side, end: End) -> Self {
        Self {
            up: up.read.load(Relaxed),
            down: down.read.load(Relaxed),
            end,
            endpoint_reset: down.unreadable.load(Relaxed)
                && !up.ended.load(Relaxed)
                && !up.failed.load(Relaxed),
        }
    }
}

/// What one side of a tunnel did: bytes read from it, when it last gave some
/// (nanoseconds into the tunnel), whether its input ended, whether an operation on it
/// failed, and whether a read did (before its input ended: it reset).
#[derive(Default)]
pub(crate) struct Side {
    read: AtomicU64,
    last: AtomicU64,
    ended: AtomicBool,
    failed: AtomicBool,
    unreadable: AtomicBool,
}

impl Side {
    /// `bytes` were read from it, `start` being when the tunnel opened.
    pub(crate) fn note_read(&self, bytes: usize, start: Instant) {
        // One task writes these: no read-modify-write needed.
        let read = self.read.load(Relaxed) + bytes as u64;
        self.read.store(read, Relaxed);
        self.last.store(start.elapsed().as_nanos() as u64, Relaxed);
    }

    /// Its input ended.
    pub(crate) fn note_end(&self) {
        self.ended.store(true, Relaxed);
    }

    /// Whether an operation on it failed.
    #[cfg(test)]
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.load(Relaxed)
    }

    /// An operation on it failed with `error`, handed back.
    pub(crate) fn note_failure(&self, error: io::Error) -> io::Error {
        self.failed.store(true, Relaxed);
        error
    }

    /// A read from it failed with `error`, handed back.
    pub(crate) fn note_read_failure(&self, error: io::Error) -> io::Error {
        self.unreadable.store(true, Relaxed);
        self.note_failure(error)
    }
}

/// A connection of a tunnel, counting what is read from it and noting its failures.
struct Watched<'a, T> {
    io: T,
    side: &'a Side,
    start: Instant,
}

impl<T> Watched<'_, T> {
    /// `result`, noting a failure.
    fn noted<R>(&self, result: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match result {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.side.note_failure(e))),
            result => result,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        if let Poll::Ready(Err(e)) = result {
            return Poll::Ready(Err(self.side.note_read_failure(e)));
        }
        if read > 0 {
            self.side.note_read(read as usize, self.start);
        } else if result.is_ready() && buf.remaining() > 0 {
            self.side.note_end();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        self.noted(result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.io).poll_flush(cx);
        self.noted(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.io).poll_shutdown(cx);
        self.noted(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    fn limits(idle: Duration) -> Limits {
        Limits {
            idle,
            drain: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn bytes_go_both_ways_and_half_closes_pass_on() {
        let (client, mut client_far) = duplex(64);
        let (endpoint, mut endpoint_far) = duplex(64);
        let (_stop, stopping) = watch::channel(false);
        let relay = tokio::spawn(relay(
            client,
            endpoint,
            limits(Duration::from_secs(5)),
            stopping,
        ));
        client_far.write_all(b"hello").await.unwrap();
        client_far.shutdown().await.unwrap();
        let mut got = Vec::new();
        endpoint_far.read_to_end(&mut got).await.unwrap();
        assert_eq!(
            got, b"hello",
            "the client's end of input reaches the endpoint"
        );
        endpoint_far.write_all(&[7; 1000]).await.unwrap();
        drop(endpoint_far);
        let mut back = Vec::new();
        client_far.read_to_end(&mut back).await.unwrap();
        assert_eq!(
            back.len(),
            1000,
            "the endpoint still answers after the half-close"
        );
        let relayed = relay.await.unwrap();
        assert_eq!(
            (relayed.up, relayed.down, relayed.end),
            (5, 1000, End::Closed)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_tunnel_ends_after_the_idle_timeout() {
        let (client, _client_far) = duplex(64);
        let (endpoint, _endpoint_far) = duplex(64);
        let (_stop, stopping) = watch::channel(false);
        let relayed = relay(client, endpoint, limits(Duration::from_secs(60)), stopping).await;
        assert_eq!(relayed.end, End::Idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_leaves_the_drain_timeout() {
        let (client, _client_far) = duplex(64);
        let (endpoint, _endpoint_far) = duplex(64);
        let (stop, stopping) = watch::channel(false);
        stop.send(true).unwrap();
        let relayed = relay(client, endpoint, limits(Duration::from_secs(600)), stopping).await;
        assert_eq!(relayed.end, End::Drained);
    }
}
