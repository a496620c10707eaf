//! HTTP/1.1 response heads: parsed in place with `httparse`, their framing decided,
//! and what the client is to see of them written to a [`ResponseSink`].

use super::fields::{
    Named, is_hop_by_hop, last_token_is, lists_token, parse_length, write_field, write_length,
};
use super::framing::{Chunked, Framing};
use super::{Parsed, header_slots};

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// Bytes of the head.
    pub(crate) head_len: usize,
    /// The status code.
    pub(crate) status: u16,
    /// Where the body ends.
    pub(crate) framing: Framing,
    /// Whether the upstream connection may carry another request afterwards.
    pub(crate) reusable: bool,
    /// Whether the client connection closes after this response.
    pub(crate) close: bool,
}

impl ResponseHead {
    /// Whether this is an interim (1xx) response, followed by the final one.
    pub(crate) fn interim(&self) -> bool {
        self.status < 200
    }
}

/// Where the head of a response goes once it is parsed: the fields to pass on, with
/// hop-by-hop ones removed.
pub(crate) trait ResponseSink {
    /// The status line.
    fn status(&mut self, status: u16, reason: &str);
    /// An end-to-end field.
    fn field(&mut self, name: &str, value: &[u8]);
    /// The `Transfer-Encoding` field: the client sees the body as the upstream framed
    /// it (HTTP/1.1), or decoded (HTTP/2, which has no such field).
    fn transfer_coding(&mut self, name: &str, value: &[u8]);
    /// The body's `Content-Length`, one value, as parsed.
    fn length(&mut self, n: u64);
    /// The end of the head; `close` when the client connection closes after it.
    fn end(&mut self, close: bool);
}

/// The head for an HTTP/1.1 client, as bytes.
impl ResponseSink for Vec<u8> {
    fn status(&mut self, status: u16, reason: &str) {
        self.extend_from_slice(b"HTTP/1.1 ");
        self.extend_from_slice(itoa3(status).as_slice());
        self.push(b' ');
        self.extend_from_slice(reason.as_bytes());
        self.extend_from_slice(b"\r\n");
    }
    fn field(&mut self, name: &str, value: &[u8]) {
        write_field(self, name.as_bytes(), value);
    }
    fn transfer_coding(&mut self, name: &str, value: &[u8]) {
        // The body goes through as it is, so its coding does too.
        write_field(self, name.as_bytes(), value);
    }
    fn length(&mut self, n: u64) {
        write_length(self, n);
    }
    fn end(&mut self, close: bool) {
        if close {
            self.extend_from_slice(b"connection: close\r\n");
        }
        self.extend_from_slice(b"\r\n");
    }
}

/// Nothing kept of the head (the proxy's own requests need only its framing).
impl ResponseSink for () {
    fn status(&mut self, _: u16, _: &str) {}
    fn field(&mut self, _: &str, _: &[u8]) {}
    fn transfer_coding(&mut self, _: &str, _: &[u8]) {}
    fn length(&mut self, _: u64) {}
    fn end(&mut self, _: bool) {}
}

/// Parses the response at the start of `input` and gives `out` the head to send the
/// client: hop-by-hop fields removed, `Connection: close` when `close` (or when only
/// the upstream closing ends the body).
pub(crate) fn parse_response(
    input: &[u8],
    head_request: bool,
    close: bool,
    out: &mut impl ResponseSink,
) -> Parsed<ResponseHead> {
    let mut slots = header_slots();
    let mut response = httparse::Response::new(&mut []);
    let parser = httparse::ParserConfig::default();
    let head_len = match parser.parse_response_with_uninit_headers(&mut response, input, &mut slots)
    {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() >= 64 << 10 => return Parsed::Refuse(502),
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Refuse(502),
    };
    let status = response.code.unwrap_or(0);
    let headers = &*response.headers;
    // 101 only answers an upgrade, which the fast path never forwards.
    if !(100..=599).contains(&status) || status == 101 {
        return Parsed::Refuse(502);
    }
    let mut chunked = None;
    let mut content_length = None;
    let mut upstream_close = response.version != Some(1);
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the last coding decides; the field may be repeated.
            chunked = Some(last_token_is(h.value, b"chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            match (parse_length(h.value), content_length) {
                (Some(n), None) => content_length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Parsed::Refuse(502),
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            upstream_close |= lists_token(h.value, b"close");
        }
    }
    let framing = if status < 200 || status == 204 || status == 304 || head_request {
        Framing::Empty
    } else {
        match (chunked, content_length) {
            (Some(true), _) => Framing::Chunked(Chunked::new()),
            (Some(false), _) | (None, None) => Framing::UntilClose,
            (None, Some(0)) => Framing::Empty,
            (None, Some(n)) => Framing::Length(n),
        }
    };
    let close = status >= 200 && (close || framing == Framing::UntilClose);
    let Some(named) = Named::of(headers) else {
        return Parsed::Refuse(502);
    };

    out.status(status, response.reason.unwrap_or(""));
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            out.transfer_coding(name, h.value);
            continue;
        }
        if about_the_connection(name) || named.contains(name) {
            continue;
        }
        out.field(name, h.value);
    }
    // One length, as parsed; none beside a transfer coding (RFC 9112 §6.3).
    if let (None, Some(n)) = (chunked, content_length) {
        out.length(n);
    }
    out.end(close);
    Parsed::Ready(ResponseHead {
        head_len,
        status,
        framing,
        reusable: !upstream_close && framing != Framing::UntilClose,
        close,
    })
}

/// Whether a response field (any case) describes the connection or the framing, which
/// the proxy writes for its own side: never passed on as it came.
pub(crate) fn about_the_connection(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("te")
        || is_hop_by_hop(name)
}

/// A three-digit status code as text.
fn itoa3(status: u16) -> [u8; 3] {
    [
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::http1::fields::MAX_NAMED;

    fn client_head(raw: &str, head_request: bool, close: bool) -> (ResponseHead, String) {
        let mut out = Vec::new();
        let Parsed::Ready(head) = parse_response(raw.as_bytes(), head_request, close, &mut out)
        else {
            panic!("not ready: {raw}");
        };
        (head, String::from_utf8(out).unwrap())
    }

    #[test]
    fn response_heads_keep_their_framing_and_lose_hop_by_hop_fields() {
        let raw = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\
                   Content-Length: 5\r\nServer: nginx\r\n\r\nhello";
        let (head, out) = client_head(raw, false, false);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nServer: nginx\r\ncontent-length: 5\r\n\r\n"
        );
        assert_eq!(
            (head.framing, head.reusable, head.close),
            (Framing::Length(5), true, false)
        );
        assert_eq!(head.head_len, raw.len() - "hello".len());

        let (head, out) = client_head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
            false,
            true,
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(head.framing, Framing::Chunked(Chunked::new()));

        let (head, out) = client_head("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false, false);
        assert_eq!(out, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
        assert_eq!(
            (head.framing, head.reusable, head.close),
            (Framing::UntilClose, false, true)
        );

        let (head, _) = client_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, false);
        assert_eq!(head.framing, Framing::Empty);
        let (head, _) = client_head(
            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
            false,
            true,
        );
        assert!(head.interim() && !head.close);
    }

    #[test]
    fn connection_cannot_remove_response_framing() {
        let (head, out) = client_head(
            "HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\nok",
            false,
            false,
        );
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n");
        assert_eq!(head.framing, Framing::Length(2));
    }

    #[test]
    fn too_many_fields_named_in_a_response_connection_are_refused() {
        let tokens: Vec<String> = (0..=MAX_NAMED).map(|i| format!("x-{i}")).collect();
        let connection = tokens.join(", ");
        let response = format!("HTTP/1.1 200 OK\r\nConnection: {connection}\r\n\r\n");
        let parsed = parse_response(response.as_bytes(), false, false, &mut Vec::new());
        assert!(matches!(parsed, Parsed::Refuse(502)));
    }

    #[test]
    fn broken_responses_are_refused() {
        for raw in [
            "garbage\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        ] {
            let parsed = parse_response(raw.as_bytes(), false, false, &mut Vec::new());
            assert!(matches!(parsed, Parsed::Refuse(502)), "{raw}");
        }
    }
}
