//! Reading one whole HTTP/1.1 response from a socket, for the proxy's own requests
//! (health probes): the same strict head parser and body framing as the fast path.

use super::Parsed;
use super::READ_CHUNK;
use super::framing::{Framing, Piece};
use super::response::{ResponseHead, ResponseSink, parse_response};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

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
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut BytesMut,
    cap: usize,
) -> Result<WholeResponse, String> {
    let head = read_head(stream, buf, false, &mut ())
        .await
        .map_err(|e| e.to_string())?;
    let mut framing = head.framing;
    let mut body = Vec::new();
    loop {
        let (take, done) = match &mut framing {
            Framing::Chunked(chunked) => chunked.decode(buf, |piece| {
                if let Piece::Data(data) = piece {
                    keep(&mut body, data, cap);
                }
            }),
            other => other
                .advance(buf)
                .inspect(|&(take, _)| keep(&mut body, &buf[..take], cap)),
        }
        .map_err(|e| format!("reading the body: {e}"))?;
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
    Ok(WholeResponse {
        status: head.status,
        body,
        reusable: head.reusable && buf.is_empty(),
    })
}

/// Appends `data` to `body` as far as `cap` allows.
fn keep(body: &mut Vec<u8>, data: &[u8], cap: usize) {
    let room = cap.saturating_sub(body.len());
    body.extend_from_slice(&data[..data.len().min(room)]);
}

/// Why no response head was read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeadError {
    /// The connection closed (or was reset) before a byte of response.
    #[error("the connection closed before the response head")]
    Closed,
    /// The connection closed within the head.
    #[error("the response head was cut short")]
    Cut,
    /// Reading failed.
    #[error("reading the response head: {0}")]
    Io(std::io::Error),
    /// Not a well-formed response head.
    #[error("malformed response head")]
    Malformed,
}

/// Reads a final response head from `stream` (interim 1xx ones are skipped), `buf`
/// holding what was read before, and gives it to `out`; the head leaves `buf`, what
/// follows it stays.
pub(crate) async fn read_head(
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut BytesMut,
    head_request: bool,
    out: &mut impl ResponseSink,
) -> Result<ResponseHead, HeadError> {
    let mut received = !buf.is_empty();
    loop {
        match parse_response(buf, head_request, false, out) {
            Parsed::Ready(head) => {
                buf.advance(head.head_len);
                if !head.interim() {
                    return Ok(head);
                }
            }
            Parsed::Partial => {
                buf.reserve(READ_CHUNK);
                match stream.read_buf(buf).await {
                    Ok(0) if received => return Err(HeadError::Cut),
                    // A reset before any answer is the same news as a close.
                    Ok(0) | Err(_) if !received => return Err(HeadError::Closed),
                    Ok(_) => received = true,
                    Err(e) => return Err(HeadError::Io(e)),
                }
            }
            Parsed::Refuse(_) | Parsed::Handoff => return Err(HeadError::Malformed),
        }
    }
}
