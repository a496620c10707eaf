//! Reading one whole HTTP/1.1 response from a socket, for the proxy's own requests
//! (health probes): the same strict head parser and body framing as the fast path.

use super::framing::Framing;
use super::head::{Parsed, parse_response};
use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// A response read to its end.
#[derive(Debug)]
pub(crate) struct WholeResponse {
    /// Final status (interim 1xx responses are skipped).
    pub(crate) status: u16,
    /// The body, decoded from chunks, cut at the cap given.
    pub(crate) body: Vec<u8>,
    /// Whether the connection may carry another request.
    pub(crate) reusable: bool,
}

/// Reads the response to a `GET` from `stream`, with `buf` holding what was read
/// before; keeps at most `cap` bytes of the body. Errors say what was wrong.
pub(crate) async fn read_response(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    cap: usize,
) -> Result<WholeResponse, String> {
    let mut scratch = Vec::new();
    let head = loop {
        scratch.clear();
        match parse_response(buf, false, false, &mut scratch) {
            Parsed::Ready(head) if head.interim() => buf.advance(head.head_len),
            Parsed::Ready(head) => break head,
            Parsed::Partial => fill(stream, buf, "the response head").await?,
            Parsed::Refuse(_) | Parsed::Handoff => return Err("malformed response head".into()),
        }
    };
    buf.advance(head.head_len);
    let mut framing = head.framing;
    let mut raw = Vec::new();
    loop {
        let (take, done) = framing
            .advance(buf)
            .map_err(|e| format!("reading the body: {e}"))?;
        let room = cap.saturating_sub(raw.len());
        raw.extend_from_slice(&buf[..take.min(room)]);
        buf.advance(take);
        if done {
            break;
        }
        match stream.read_buf(buf).await {
            Ok(0) if framing == Framing::UntilClose => break,
            Ok(0) => return Err("the connection closed within the body".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading the body: {e}")),
        }
    }
    let body = match head.framing {
        Framing::Chunked(_) => dechunk(&raw),
        _ => raw,
    };
    Ok(WholeResponse {
        status: head.status,
        body,
        reusable: head.reusable && buf.is_empty(),
    })
}

async fn fill(stream: &mut TcpStream, buf: &mut BytesMut, what: &str) -> Result<(), String> {
    match stream.read_buf(buf).await {
        Ok(0) => Err(format!("the connection closed before {what}")),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("reading {what}: {e}")),
    }
}

/// The data of a chunked body that the framing has already checked (perhaps cut
/// short): sizes, extensions and trailers dropped.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(raw.len());
    while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = raw[..line_end]
            .split(|&b| b == b';' || b == b' ' || b == b'\t')
            .next()
            .unwrap_or_default();
        let size = std::str::from_utf8(size_text)
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .unwrap_or(0);
        raw = &raw[line_end + 2..];
        if size == 0 {
            break;
        }
        let take = size.min(raw.len());
        data.extend_from_slice(&raw[..take]);
        raw = &raw[(take + 2).min(raw.len())..];
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks_checked_and_cut_bodies() {
        assert_eq!(
            dechunk(b"2\r\nok\r\n3;x=1\r\n go\r\n0\r\nA: b\r\n\r\n"),
            b"ok go"
        );
        assert_eq!(dechunk(b"5\r\nhel"), b"hel");
        assert_eq!(dechunk(b"0\r\n\r\n"), b"");
    }
}
