//! A client connection as the HTTP/1.1 paths see it: a cleartext TCP socket or a TLS
//! session over one. Both are read, written and closed the same way; they differ in
//! how a write is sure to have gone out, how bytes are read without waiting, and how a
//! connection whose response was broken off ends.

use bytes::BytesMut;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_rustls::server::TlsStream;

/// How long a closing connection waits for the client to close its side.
const LINGER: Duration = Duration::from_secs(1);

/// A client connection: cleartext or TLS.
pub(crate) trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The TCP socket under it, to wait on for bytes without holding a buffer.
    fn socket(&self) -> &TcpStream;

    /// Reads what is there without waiting (`WouldBlock`: nothing yet).
    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize>;

    /// Writes all of `bytes` out to the client unless it takes none for `idle`:
    /// whether it did. `timer` is armed only when a write has to wait.
    fn write_within(
        &mut self,
        bytes: &[u8],
        idle: Duration,
        timer: Pin<&mut Sleep>,
    ) -> impl Future<Output = bool> + Send;

    /// Ends the connection after a response the endpoint broke off, so that the client
    /// can tell it is not whole (as [`close`] does otherwise).
    fn cut_short(self) -> impl Future<Output = ()> + Send;
}

/// Closes a client connection politely, within a moment: ends the write side (over
/// TLS, `close_notify` first), then reads what the client still sends, so that unread
/// input does not turn the close into a reset that could destroy the last response
/// before the client reads it. (Boxed where it is awaited: its buffer would make every
/// connection's task larger.)
pub(crate) async fn close(mut stream: impl AsyncRead + AsyncWrite + Unpin) {
    let drain = async {
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

impl ClientStream for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        TcpStream::try_read_buf(self, buf)
    }

    async fn write_within(
        &mut self,
        bytes: &[u8],
        idle: Duration,
        mut timer: Pin<&mut Sleep>,
    ) -> bool {
        let mut at = 0;
        while at < bytes.len() {
            match self.try_write(&bytes[at..]) {
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    timer.as_mut().reset(Instant::now() + idle);
                    tokio::select! {
                        biased;
                        ready = self.writable() => if ready.is_err() {
                            return false;
                        },
                        () = timer.as_mut() => return false,
                    }
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Nothing in cleartext tells a close from a cut: closes it.
    async fn cut_short(self) {
        close(self).await;
    }
}

impl ClientStream for TlsStream<TcpStream> {
    fn socket(&self) -> &TcpStream {
        self.get_ref().0
    }

    /// What the session has for a reader: plaintext it holds, or what the records the
    /// socket has now decrypt to.
    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match at_once(pin!(self.read_buf(buf))) {
            Poll::Ready(read) => read,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Encrypts `bytes` and sends the records; `idle` bounds the whole write (the
    /// callers write at most a head and a chunk of body at a time).
    async fn write_within(
        &mut self,
        bytes: &[u8],
        idle: Duration,
        mut timer: Pin<&mut Sleep>,
    ) -> bool {
        let mut sending = pin!(async {
            self.write_all(bytes).await?;
            self.flush().await
        });
        // Most writes go out at once, with no timer.
        if let Poll::Ready(sent) = at_once(sending.as_mut()) {
            return sent.is_ok();
        }
        timer.as_mut().reset(Instant::now() + idle);
        tokio::select! {
            biased;
            sent = sending => sent.is_ok(),
            () = timer => false,
        }
    }

    /// Closes the TCP connection without `close_notify`: a response delimited by the
    /// close then reads as cut short (RFC 9112 §9.8). What was written is sent already.
    async fn cut_short(self) {
        close(self.into_inner().0).await;
    }
}

/// Polls `future` once, with no one to wake: what it has without waiting. Polled again
/// later (with a waker), it goes on where it stopped.
fn at_once<T>(future: Pin<&mut impl Future<Output = T>>) -> Poll<T> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}
