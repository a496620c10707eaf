//! Which protocol a new client connection speaks (HTTP/2 with prior knowledge starts
//! with a fixed preface).

use bytes::BytesMut;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The client connection preface of HTTP/2 (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a connection speaks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    Http2,
}

/// Reads from `stream` until its protocol is known; the bytes read come back with the
/// answer. `None` when the client closes or sends nothing in time.
pub(crate) async fn detect(
    stream: &mut TcpStream,
    timeout: Duration,
) -> Option<(Protocol, BytesMut)> {
    let mut input = BytesMut::with_capacity(16 << 10);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut input)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return None,
        }
        let seen = input.len().min(PREFACE.len());
        if input[..seen] != PREFACE[..seen] {
            return Some((Protocol::Http1, input));
        }
        if seen == PREFACE.len() {
            return Some((Protocol::Http2, input));
        }
    }
}
