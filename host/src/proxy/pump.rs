//! Relaying between two TCP sockets with no buffer of the relay's own: each way waits
//! until its source is readable, reads into the worker's relay buffer (lent for that
//! moment) and writes straight on. Only bytes the destination would not take yet are
//! kept, in a buffer of their size, until it takes them; meanwhile that way reads
//! nothing more (backpressure). An idle relayed connection holds no buffer at all.
//!
//! A source's end of input is passed on as a half-close (`shutdown(Write)`); the
//! relay is done when both ways are. A failed read ends the relay at once (that socket
//! is gone); a failed write ends only its own way, so that what the other way still
//! carries (an endpoint's last answer before it closed) reaches its destination.

use crate::proxy::buffers::with_relay_buffer;
use crate::proxy::tunnel::Side;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Reads one way makes in a row before it lets the worker's other tasks run.
const TURNS: usize = 16;

/// Both ways of a relay between two sockets: a future that ends when both are done
/// (with the failure of a way that failed to write, if one did), or at the first
/// failed read. Failures are noted on the side they happened on.
pub(crate) struct Pump<'a> {
    sockets: [&'a mut TcpStream; 2],
    /// Client to endpoint, and endpoint to client.
    ways: [Way; 2],
    sides: [&'a Side; 2],
    start: Instant,
}

/// One way of a relay.
#[derive(Default)]
struct Way {
    /// Bytes read but not yet written on, and how many of them were written.
    pending: Option<(Box<[u8]>, usize)>,
    /// The source's input ended.
    ended: bool,
    /// The end was passed on, or writing failed: nothing more to do.
    done: bool,
    /// Why writing failed, if it did.
    failure: Option<io::Error>,
}

impl Way {
    /// Writing failed with `error`: what was kept is dropped and the way is done.
    fn give_up(&mut self, error: io::Error) {
        self.pending = None;
        self.done = true;
        self.failure.get_or_insert(error);
    }
}

/// What one read came to.
enum Step {
    /// Everything read was written on.
    Sent,
    /// What the destination did not take yet.
    Kept(Box<[u8]>),
    /// The source's input ended.
    Ended,
    /// Nothing to read yet.
    Waiting,
    ReadFailed(io::Error),
    WriteFailed(io::Error),
}

impl<'a> Pump<'a> {
    /// A relay between `sockets` (the client's, the endpoint's), noting what each does
    /// on its side of `sides`; `start` is when the tunnel opened. `ahead` is what goes
    /// each way (to the endpoint, to the client) before anything read from the sockets.
    pub(crate) fn new(
        sockets: [&'a mut TcpStream; 2],
        ahead: [Vec<u8>; 2],
        sides: [&'a Side; 2],
        start: Instant,
    ) -> Self {
        let ways = ahead.map(|bytes| Way {
            pending: (!bytes.is_empty()).then(|| (bytes.into_boxed_slice(), 0)),
            ..Way::default()
        });
        Self {
            sockets,
            ways,
            sides,
            start,
        }
    }

    /// Moves bytes from socket `from` to the other one until it would wait (pending),
    /// or that way is done.
    fn poll_way(&mut self, cx: &mut Context<'_>, from: usize) -> Poll<io::Result<()>> {
        let Self {
            sockets: [first, second],
            ways,
            sides,
            start,
        } = self;
        let (source, destination) = match from {
            0 => (&mut **first, &mut **second),
            _ => (&mut **second, &mut **first),
        };
        let (source_side, destination_side) = (sides[from], sides[1 - from]);
        let way = &mut ways[from];
        let mut turns = 0;
        loop {
            if way.done {
                return Poll::Ready(Ok(()));
            }
            if let Some((bytes, written)) = &mut way.pending {
                match ready!(Pin::new(&mut *destination).poll_write(cx, &bytes[*written..])) {
                    Ok(0) => way.give_up(destination_side.note_failure(write_zero())),
                    Ok(n) => *written += n,
                    Err(e) => way.give_up(destination_side.note_failure(e)),
                }
                if way.pending.as_ref().is_some_and(|(b, w)| *w == b.len()) {
                    way.pending = None;
                }
                continue;
            }
            if way.ended {
                let shut = socket2::SockRef::from(&*destination).shutdown(Shutdown::Write);
                way.done = true;
                // A destination already gone has nothing left to be told.
                if let Err(e) = shut
                    && e.kind() != io::ErrorKind::NotConnected
                {
                    way.give_up(destination_side.note_failure(e));
                }
                continue;
            }
            turns += 1;
            if turns > TURNS {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // tokio's reads and writes take a short one as the socket's readiness used
            // up, so a drained socket is not read again only to hear it would block.
            let step = with_relay_buffer(|buffer| {
                let mut read = ReadBuf::new(buffer);
                match Pin::new(&mut *source).poll_read(cx, &mut read) {
                    Poll::Pending => return Step::Waiting,
                    Poll::Ready(Err(e)) => return Step::ReadFailed(e),
                    Poll::Ready(Ok(())) => {}
                }
                let n = read.filled().len();
                if n == 0 {
                    return Step::Ended;
                }
                source_side.note_read(n, *start);
                let bytes = &buffer[..n];
                match Pin::new(&mut *destination).poll_write(cx, bytes) {
                    Poll::Ready(Ok(written)) if written == n => Step::Sent,
                    Poll::Ready(Ok(0)) => Step::WriteFailed(write_zero()),
                    Poll::Ready(Ok(written)) => Step::Kept(bytes[written..].into()),
                    Poll::Pending => Step::Kept(bytes.into()),
                    Poll::Ready(Err(e)) => Step::WriteFailed(e),
                }
            });
            match step {
                Step::Sent => {}
                Step::Waiting => return Poll::Pending,
                Step::Kept(bytes) => way.pending = Some((bytes, 0)),
                Step::Ended => {
                    source_side.note_end();
                    way.ended = true;
                }
                Step::ReadFailed(e) => return Poll::Ready(Err(source_side.note_read_failure(e))),
                Step::WriteFailed(e) => way.give_up(destination_side.note_failure(e)),
            }
        }
    }
}

/// A write that took nothing: the destination will take no more.
fn write_zero() -> io::Error {
    io::Error::from(io::ErrorKind::WriteZero)
}

impl Future for Pump<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let up = this.poll_way(cx, 0)?;
        let down = this.poll_way(cx, 1)?;
        if up.is_pending() || down.is_pending() {
            return Poll::Pending;
        }
        match this.ways.iter_mut().find_map(|way| way.failure.take()) {
            Some(failure) => Poll::Ready(Err(failure)),
            None => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Two connected sockets: (the one accepted, the one that connected).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let connecting = TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, connected) = tokio::join!(listener.accept(), connecting);
        (accepted.unwrap().0, connected.unwrap())
    }

    #[tokio::test]
    async fn a_slow_reader_holds_back_its_writer_and_loses_nothing() {
        let (mut client, mut client_far) = pair().await;
        let (mut endpoint, mut endpoint_far) = pair().await;
        let sides = [Side::default(), Side::default()];
        let relay = async {
            let ahead = [b"first ".to_vec(), Vec::new()];
            let pump = Pump::new(
                [&mut client, &mut endpoint],
                ahead,
                [&sides[0], &sides[1]],
                Instant::now(),
            );
            pump.await
        };
        let sent: Vec<u8> = (0..16 << 20).map(|i| (i % 251) as u8).collect();
        let writing = async {
            client_far.write_all(&sent).await.unwrap();
            client_far.shutdown().await.unwrap();
            // The endpoint's answer after the client's half-close still arrives.
            let mut back = Vec::new();
            client_far.read_to_end(&mut back).await.unwrap();
            back
        };
        let reading = async {
            // Reads slowly at first, so that the relay must keep bytes and wait.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let mut got = Vec::new();
            endpoint_far.read_to_end(&mut got).await.unwrap();
            endpoint_far.write_all(b"bye").await.unwrap();
            drop(endpoint_far);
            got
        };
        let (relayed, back, got) = tokio::join!(relay, writing, reading);
        relayed.unwrap();
        let expected = [&b"first "[..], &sent].concat();
        assert!(
            got == expected,
            "{} bytes of {} came through",
            got.len(),
            expected.len()
        );
        assert_eq!(back, b"bye");
    }

    #[tokio::test]
    async fn a_reset_is_noted_on_the_side_it_came_from() {
        let (mut client, client_far) = pair().await;
        let (mut endpoint, endpoint_far) = pair().await;
        let sides = [Side::default(), Side::default()];
        endpoint_far.set_zero_linger().unwrap();
        drop(endpoint_far);
        let sockets = [&mut client, &mut endpoint];
        let pump = Pump::new(
            sockets,
            Default::default(),
            [&sides[0], &sides[1]],
            Instant::now(),
        );
        assert!(pump.await.is_err());
        let failed = sides.map(|side| side.has_failed());
        assert_eq!(failed, [false, true]);
        drop(client_far);
    }
}
