//! Request and response heads on the HTTP/1.1 fast path: parsed in place with
//! `httparse`, rewritten for the other side into one buffer.

use super::framing::{Chunked, Framing};
use crate::proxy::headers::{ClientFields, is_hop_by_hop, lists_token, push_forwarded_host};
use httparse::Header;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use switchyard_policy::RequestView;

/// Most header fields in one head (hyper's limit too).
pub(super) const MAX_HEADERS: usize = 100;

/// Largest request body the fast path waits for and sends with its head; a larger one
/// (or one without a length) is streamed by the general path.
pub(super) const MAX_BUFFERED_BODY: u64 = 64 << 10;

/// Header slots for one parse.
pub(super) type HeaderSlots<'b> = [MaybeUninit<Header<'b>>; MAX_HEADERS];

/// Uninitialised slots; `httparse` fills what it uses.
pub(super) fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// What a buffer holds.
pub(super) enum Parsed<T> {
    /// Not all of it yet.
    Partial,
    /// A head the fast path takes.
    Ready(T),
    /// A well-formed request the fast path leaves to the general path.
    Handoff,
    /// Unacceptable: answer with this status and close.
    Refuse(u16),
}

/// Whether every line of a parsed head ends with CRLF. RFC 9112 §2.2 lets a recipient
/// take a bare LF for a line ending, and `httparse` does; but a proxy in front of this
/// one may have read it as part of a field, and then the two would disagree on where
/// requests begin: such a head is refused. Looked for only where `httparse` found the
/// lines to end — after the request line, after each field value and its trailing
/// whitespace, before the final LF — so the cost is per field, not per byte.
pub(super) fn crlf_lines(input: &[u8], request: &httparse::Request, head_len: usize) -> bool {
    let base = input.as_ptr() as usize;
    let end_of = |part: &[u8]| {
        (part.as_ptr() as usize)
            .checked_sub(base)
            .map(|at| at + part.len())
            .filter(|&at| at <= head_len)
    };
    let ends_in_cr = |at: Option<usize>| {
        let Some(mut at) = at else {
            // Not a slice of the input (an empty field value may not be): look at every
            // byte instead.
            return !bare_lf(&input[..head_len]);
        };
        while matches!(input.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        input.get(at) == Some(&b'\r')
    };
    // Empty lines before the request line (which `httparse` skips) must be CRLFs too.
    let leading = request
        .method
        .and_then(|m| end_of(m.as_bytes()).map(|end| end - m.len()));
    let crlfs = |n: usize| input[..n].chunks(2).all(|pair| pair == b"\r\n");
    // The request line ends one space and `HTTP/1.x` after the target.
    let line = request
        .path
        .and_then(|p| end_of(p.as_bytes()))
        .map(|at| at + 9);
    head_len >= 2
        && leading.map_or_else(|| !bare_lf(&input[..head_len]), crlfs)
        && input[head_len - 2] == b'\r'
        && ends_in_cr(line)
        && request.headers.iter().all(|h| ends_in_cr(end_of(h.value)))
}

/// Whether `head` has a bare LF, byte by byte. (`httparse` refuses a CR that no LF
/// follows, so each CR of a parsed head ends a line: a bare LF is there exactly when
/// LFs outnumber CRs.)
pub(super) fn bare_lf(head: &[u8]) -> bool {
    let count = |byte: u8| head.iter().filter(|&&b| b == byte).count();
    count(b'\n') > count(b'\r')
}

/// A parsed request head, borrowing the buffer.
pub(super) struct RequestHead<'h, 'b> {
    request: httparse::Request<'h, 'b>,
    /// Bytes of the head.
    pub(super) head_len: usize,
    /// Bytes of the body that follows it.
    pub(super) body_len: usize,
    /// Whether the client sent a `Content-Length` (written again, once, normalised).
    has_length: bool,
    host: Option<&'b str>,
    named: Named<'b>,
}

impl<'h, 'b> RequestHead<'h, 'b> {
    /// Parses the request at the start of `input`, with its whole body; refuses a head
    /// over `max_header_bytes` (431), a declared body over `max_body` (413), and an
    /// HTTP/1.1 request without exactly one `Host` (400, RFC 9112 §3.2).
    pub(super) fn parse(
        input: &'b [u8],
        slots: &'h mut HeaderSlots<'b>,
        max_header_bytes: usize,
        max_body: u64,
    ) -> Parsed<Self> {
        let mut request = httparse::Request::new(&mut []);
        let head_len = match request.parse_with_uninit_headers(input, slots) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if input.len() >= max_header_bytes => {
                return Parsed::Refuse(431);
            }
            Ok(httparse::Status::Partial) => return Parsed::Partial,
            Err(httparse::Error::TooManyHeaders) => return Parsed::Refuse(431),
            Err(_) => return Parsed::Refuse(400),
        };
        if head_len > max_header_bytes {
            return Parsed::Refuse(431);
        }
        if !crlf_lines(input, &request, head_len) {
            return Parsed::Refuse(400);
        }
        // HTTP/1.0, absolute-form targets, upgrades, `Expect` and bodies without a
        // (small) length are the general path's.
        let origin_form = request.path.is_some_and(|p| p.starts_with('/'));
        if request.version != Some(1) || !origin_form {
            return Parsed::Handoff;
        }
        let mut content_length = None;
        let mut host = None;
        for h in request.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("expect")
                || name.eq_ignore_ascii_case("upgrade")
            {
                return Parsed::Handoff;
            }
            if name.eq_ignore_ascii_case("content-length") {
                match (parse_length(h.value), content_length) {
                    (Some(n), None) => content_length = Some(n),
                    (Some(n), Some(m)) if n == m => {}
                    _ => return Parsed::Handoff,
                }
            } else if name.eq_ignore_ascii_case("host") {
                if host.is_some() {
                    return Parsed::Refuse(400);
                }
                host = Some(std::str::from_utf8(h.value).unwrap_or(""));
            }
        }
        let Some(named) = Named::of(request.headers) else {
            return Parsed::Refuse(400);
        };
        if host.is_none() {
            return Parsed::Refuse(400);
        }
        let body_len = content_length.unwrap_or(0);
        if body_len > max_body {
            return Parsed::Refuse(413);
        }
        if body_len > MAX_BUFFERED_BODY {
            return Parsed::Handoff;
        }
        let body_len = body_len as usize;
        if input.len() < head_len + body_len {
            return Parsed::Partial;
        }
        Parsed::Ready(Self {
            request,
            head_len,
            body_len,
            has_length: content_length.is_some(),
            host,
            named,
        })
    }

    /// The method.
    pub(super) fn method(&self) -> &'b str {
        self.request.method.unwrap_or("")
    }

    /// Whether the client asked to close after this exchange.
    pub(super) fn wants_close(&self) -> bool {
        self.request
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("connection") && lists_token(h.value, b"close"))
    }

    /// The request as a policy sees it.
    pub(super) fn view(&self, client: SocketAddr) -> View<'_, 'h, 'b> {
        View { head: self, client }
    }

    /// Writes the head to send upstream, without `Host` when the client sent none and
    /// without the final empty line: hop-by-hop fields removed (`TE: trailers` kept),
    /// the client appended to `X-Forwarded-For` and `Forwarded`.
    pub(super) fn write_upstream(&self, out: &mut Vec<u8>, client: &ClientFields) {
        let headers = &*self.request.headers;
        out.extend_from_slice(self.method().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.request.path.unwrap_or("/").as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let mut keep_te = false;
        let mut forwarded_for = false;
        for h in headers {
            if h.name.eq_ignore_ascii_case("te") {
                keep_te |= lists_token(h.value, b"trailers");
                continue;
            }
            if h.name.eq_ignore_ascii_case("x-forwarded-for") {
                forwarded_for = true;
                continue;
            }
            if h.name.eq_ignore_ascii_case("content-length")
                || is_hop_by_hop(h.name)
                || self.named.contains(h.name)
            {
                continue;
            }
            write_field(out, h.name.as_bytes(), h.value);
        }
        if self.has_length {
            write_length(out, self.body_len as u64);
        }
        if keep_te {
            out.extend_from_slice(b"te: trailers\r\n");
        }
        out.extend_from_slice(b"x-forwarded-for: ");
        if forwarded_for {
            for h in headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("x-forwarded-for"))
            {
                out.extend_from_slice(h.value);
                out.extend_from_slice(b", ");
            }
        }
        out.extend_from_slice(client.ip.as_bytes());
        out.extend_from_slice(b"\r\nforwarded: ");
        out.extend_from_slice(client.forwarded_for.as_bytes());
        push_forwarded_host(out, self.host);
        out.extend_from_slice(b"\r\n");
    }
}

/// A request head as a policy sees it.
pub(super) struct View<'a, 'h, 'b> {
    head: &'a RequestHead<'h, 'b>,
    client: SocketAddr,
}

impl RequestView for View<'_, '_, '_> {
    fn method(&self) -> &str {
        self.head.method()
    }
    fn authority(&self) -> Option<&str> {
        self.head.host
    }
    fn path(&self) -> &str {
        self.head.request.path.unwrap_or("/")
    }
    fn client_addr(&self) -> Option<SocketAddr> {
        Some(self.client)
    }
    fn header(&self, name: &str) -> Option<&str> {
        let h = self
            .head
            .request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))?;
        std::str::from_utf8(h.value).ok()
    }
}

/// A parsed response head.
#[derive(Debug)]
pub(super) struct ResponseHead {
    /// Bytes of the head.
    pub(super) head_len: usize,
    /// The status code.
    pub(super) status: u16,
    /// Where the body ends.
    pub(super) framing: Framing,
    /// Whether the upstream connection may carry another request afterwards.
    pub(super) reusable: bool,
    /// Whether the client connection closes after this response.
    pub(super) close: bool,
}

impl ResponseHead {
    /// Whether this is an interim (1xx) response, followed by the final one.
    pub(super) fn interim(&self) -> bool {
        self.status < 200
    }
}

/// Where the head of a response goes once it is parsed: the fields to pass on, with
/// hop-by-hop ones removed.
pub(super) trait ResponseSink {
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
pub(super) fn parse_response(
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
pub(super) fn about_the_connection(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("te")
        || is_hop_by_hop(name)
}

/// Writes a short plain-text response of the proxy's own.
pub(super) fn write_text(out: &mut Vec<u8>, status: u16, message: &str, close: bool) {
    use std::io::Write;
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\n{}\r\n{message}\n",
        message.len() + 1,
        if close { "connection: close\r\n" } else { "" },
    );
}

/// Writes one field line.
pub(super) fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Most fields one head's `Connection` fields may name (besides `keep-alive` and
/// `close`); more is refused rather than scanned.
const MAX_NAMED: usize = 16;

/// Fields the proxy writes itself, which naming in `Connection` does not remove.
const PROTECTED: [&str; 3] = ["content-length", "transfer-encoding", "host"];

/// The fields a head's `Connection` fields name, which are hop-by-hop too.
#[derive(Debug, Default)]
struct Named<'b> {
    tokens: Vec<&'b [u8]>,
}

impl<'b> Named<'b> {
    /// `None` when they name more than [`MAX_NAMED`] fields.
    fn of(headers: &[Header<'b>]) -> Option<Self> {
        let mut tokens = Vec::new();
        let values = headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| h.value.split(|&b| b == b','))
            .map(<[u8]>::trim_ascii);
        for token in values {
            if token.is_empty()
                || token.eq_ignore_ascii_case(b"keep-alive")
                || token.eq_ignore_ascii_case(b"close")
            {
                continue;
            }
            if tokens.len() == MAX_NAMED {
                return None;
            }
            tokens.push(token);
        }
        Some(Self { tokens })
    }

    /// Whether `name` is among them (never a field in [`PROTECTED`]).
    fn contains(&self, name: &str) -> bool {
        !self.tokens.is_empty()
            && !PROTECTED.iter().any(|p| p.eq_ignore_ascii_case(name))
            && self
                .tokens
                .iter()
                .any(|t| t.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// Writes a `Content-Length` field line.
pub(super) fn write_length(out: &mut Vec<u8>, n: u64) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "content-length: {n}\r\n");
}

/// A `Content-Length` value: digits only.
fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Whether the last comma-separated token of `value` is `token`.
fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(token))
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

    fn upstream_head(raw: &str) -> String {
        let mut slots = header_slots();
        let Parsed::Ready(head) = RequestHead::parse(raw.as_bytes(), &mut slots, 8192, u64::MAX)
        else {
            panic!("not taken: {raw}");
        };
        let mut out = Vec::new();
        head.write_upstream(
            &mut out,
            &ClientFields::new("10.1.2.3:4000".parse().unwrap()),
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn request_heads_lose_hop_by_hop_fields_and_gain_forwarding() {
        let head = upstream_head(
            "GET /a?b=1 HTTP/1.1\r\nHost: api.test\r\nConnection: keep-alive, x-secret\r\n\
             X-Secret: 1\r\nKeep-Alive: 5\r\nTE: gzip, trailers\r\nX-Forwarded-For: 10.0.0.1\r\n\
             Accept: */*\r\n\r\n",
        );
        assert_eq!(
            head,
            "GET /a?b=1 HTTP/1.1\r\nHost: api.test\r\nAccept: */*\r\nte: trailers\r\n\
             x-forwarded-for: 10.0.0.1, 10.1.2.3\r\n\
             forwarded: for=10.1.2.3;proto=http;host=\"api.test\"\r\n"
        );
    }

    #[test]
    fn requests_the_fast_path_leaves_or_refuses() {
        let verdict_under = |raw: &str, max_body: u64| {
            let mut slots = header_slots();
            match RequestHead::parse(raw.as_bytes(), &mut slots, 100, max_body) {
                Parsed::Partial => "partial".to_string(),
                Parsed::Ready(_) => "ready".to_string(),
                Parsed::Handoff => "handoff".to_string(),
                Parsed::Refuse(s) => s.to_string(),
            }
        };
        let verdict = |raw: &str| verdict_under(raw, u64::MAX);
        assert_eq!(verdict("GET / HTTP/1.1\r\nHost: x\r\n"), "partial");
        assert_eq!(
            verdict("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nab"),
            "partial"
        );
        assert_eq!(
            verdict("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc"),
            "ready"
        );
        assert_eq!(verdict("GET / HTTP/1.0\r\n\r\n"), "handoff");
        assert_eq!(verdict("GET http://x/ HTTP/1.1\r\n\r\n"), "handoff");
        assert_eq!(
            verdict("POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"),
            "handoff"
        );
        assert_eq!(
            verdict("POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
            "handoff"
        );
        let large = "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999\r\n\r\n";
        assert_eq!(verdict(large), "handoff");
        assert_eq!(verdict_under(large, 1000), "413");
        let small = "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1001\r\n\r\n";
        assert_eq!(verdict_under(small, 1000), "413");
        assert_eq!(
            verdict("GET / HTTP/1.1\r\nupgrade: websocket\r\n\r\n"),
            "handoff"
        );
        assert_eq!(verdict("NOT HTTP\r\n\r\n"), "400");
        assert_eq!(verdict("GET / HTTP/1.1\r\n\r\n"), "400", "no Host");
        assert_eq!(
            verdict("GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n"),
            "400",
            "bare LF"
        );
        assert_eq!(
            verdict("GET / HTTP/1.1\nHost: x\n\n"),
            "400",
            "LF line endings"
        );
        let cases = [
            (
                "GET / HTTP/1.1\r\nHost: x\r\n\n",
                "400",
                "a bare LF at the end",
            ),
            (
                "GET / HTTP/1.1\nHost: x\r\n\r\n",
                "400",
                "after the request line",
            ),
            ("\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "400", "before it"),
            (
                "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
                "ready",
                "CRLFs before it",
            ),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nX:\r\nY: a \t \r\n\r\n",
                "ready",
                "empty, spaced",
            ),
        ];
        for (raw, expected, what) in cases {
            assert_eq!(verdict(raw), expected, "{what}");
        }
        assert_eq!(
            verdict("GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n"),
            "400"
        );
        let big = format!("GET / HTTP/1.1\r\nx: {}\r\n", "a".repeat(200));
        assert_eq!(verdict(&big), "431");
    }

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
    fn connection_cannot_remove_framing_or_host() {
        let head = upstream_head(
            "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 03\r\n\
             Connection: content-length, host, transfer-encoding\r\n\r\nabc",
        );
        assert!(head.contains("Host: a\r\n"), "{head}");
        assert_eq!(head.matches("content-length: 3\r\n").count(), 1, "{head}");
        assert!(
            !head.to_lowercase().contains("content-length: 03"),
            "{head}"
        );

        let (head, out) = client_head(
            "HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\nok",
            false,
            false,
        );
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n");
        assert_eq!(head.framing, Framing::Length(2));
    }

    #[test]
    fn too_many_fields_named_in_connection_are_refused() {
        let tokens: Vec<String> = (0..=MAX_NAMED).map(|i| format!("x-{i}")).collect();
        let connection = tokens.join(", ");
        let request = format!("GET / HTTP/1.1\r\nConnection: {connection}\r\n\r\n");
        let mut slots = header_slots();
        let parsed = RequestHead::parse(request.as_bytes(), &mut slots, 8192, u64::MAX);
        assert!(matches!(parsed, Parsed::Refuse(400)));
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
