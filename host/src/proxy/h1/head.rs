//! Request and response heads on the HTTP/1.1 fast path: parsed in place with
//! `httparse`, rewritten for the other side into one buffer.

use crate::config::uri::path_byte;
use crate::net::http1::{
    HeaderSlots, Named, Parsed, is_hop_by_hop, lists_token, parse_length, write_field, write_length,
};
use crate::proxy::headers::{
    Authority, ClientFields, Kept, X_FORWARDED_PROTO, is_underscore_alias, push_forwarded_host,
};
use crate::tls::X_FORWARDED_CLIENT_CERT;
use std::net::SocketAddr;
use switchyard_policy::RequestView;

/// Largest request body the fast path waits for and sends with its head; a larger one
/// (or one without a length) is streamed by the general path.
pub(super) const MAX_BUFFERED_BODY: u64 = 64 << 10;

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

/// Whether `byte` may be in an origin-form request target (RFC 3986): a path's, or
/// the `?` and query after it.
fn uri_byte(byte: u8) -> bool {
    path_byte(byte) || byte == b'?'
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
    host: Option<Authority<'b>>,
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
        // A target of other characters than RFC 3986's (`#`, `<`, …) goes to hyper's
        // path, which refuses it, so that both paths read every target alike.
        let origin_form = request
            .path
            .is_some_and(|p| p.starts_with('/') && p.bytes().all(uri_byte));
        if request.version != Some(1) || !origin_form {
            return Parsed::Handoff;
        }
        let mut content_length = None;
        let mut host = None;
        let mut cookies = 0;
        for h in request.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("cookie") {
                // Several Cookie fields are joined into one on the general path.
                cookies += 1;
                if cookies > 1 {
                    return Parsed::Handoff;
                }
            }
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
                match Authority::checked(h.value) {
                    Some(checked) if host.is_none() => host = Some(checked),
                    _ => return Parsed::Refuse(400),
                }
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

    /// The request target as the client sent it.
    #[cfg(test)]
    fn target(&self) -> &'b str {
        self.request.path.unwrap_or("/")
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

    /// The request as a policy sees it: its `X-Forwarded-Proto` the one the endpoint
    /// gets; its `X-Forwarded-Client-Cert` the element of the client's verified
    /// `identity` when it has one, else the client's own when `kept` keeps it, else
    /// none.
    pub(super) fn view<'a>(
        &'a self,
        client: &'a ClientFields,
        kept: Kept,
        identity: Option<&'a str>,
    ) -> View<'a, 'h, 'b> {
        View {
            head: self,
            client,
            kept,
            identity,
            to: None,
        }
    }

    /// The `X-Forwarded-Proto` the endpoint gets: the client's first when `kept` keeps
    /// it and `Connection` does not name it, else the scheme the client used.
    fn forwarded_proto<'s>(&'s self, client: &ClientFields, kept: Kept) -> &'s [u8] {
        let theirs = kept.proto && !self.named.contains(X_FORWARDED_PROTO);
        let first = theirs.then(|| {
            let headers = self.request.headers.iter();
            headers
                .filter(|h| h.name.eq_ignore_ascii_case(X_FORWARDED_PROTO))
                .map(|h| h.value)
                .next()
        });
        first.flatten().unwrap_or(client.scheme().as_bytes())
    }

    /// Writes the head to send upstream to `to`, without `Host` when the client sent
    /// none (and `to` sets none) and without the final empty line: hop-by-hop fields
    /// removed (`TE: trailers` kept),
    /// the client appended to `X-Forwarded-For` and `Forwarded`, `X-Forwarded-Proto`
    /// set (see `forwarded_proto`); the client's own `X-Forwarded-Client-Cert` left
    /// out unless `kept` keeps it; `_` spellings of those fields left out; the element
    /// of the client's verified `identity` added (with `kept` keeping no client's).
    pub(super) fn write_upstream(
        &self,
        out: &mut Vec<u8>,
        client: &ClientFields,
        kept: Kept,
        identity: Option<&str>,
        to: Destination<'_>,
    ) {
        let headers = &*self.request.headers;
        out.extend_from_slice(self.method().as_bytes());
        out.push(b' ');
        out.extend_from_slice(to.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if let Some(host) = to.host {
            write_field(out, b"host", host.as_bytes());
        }
        let mut keep_te = false;
        let mut forwarded_for = false;
        for h in headers {
            if h.name.eq_ignore_ascii_case("te") {
                keep_te |= lists_token(h.value, b"trailers");
                continue;
            }
            if h.name.eq_ignore_ascii_case("x-forwarded-for") {
                // Named in Connection, the client's list goes as hyper's path drops it.
                forwarded_for = !self.named.contains(h.name);
                continue;
            }
            if h.name.eq_ignore_ascii_case("content-length")
                || (to.host.is_some() && h.name.eq_ignore_ascii_case("host"))
                || h.name.eq_ignore_ascii_case(X_FORWARDED_PROTO)
                || is_hop_by_hop(h.name)
                || self.named.contains(h.name)
                || (!kept.client_cert && is_client_cert(h.name))
                || is_underscore_alias(h.name.as_bytes())
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
        out.extend_from_slice(client.ip());
        out.extend_from_slice(b"\r\nforwarded: ");
        client.push_forwarded_for(out);
        push_forwarded_host(out, self.host);
        out.extend_from_slice(b"\r\n");
        let proto = self.forwarded_proto(client, kept);
        write_field(out, X_FORWARDED_PROTO.as_bytes(), proto);
        if let Some(element) = identity {
            write_field(
                out,
                X_FORWARDED_CLIENT_CERT.as_str().as_bytes(),
                element.as_bytes(),
            );
        }
    }
}

/// Where a request goes upstream: its target (path and query) and the host that
/// replaces the client's, as its route says.
#[derive(Clone, Copy)]
pub(super) struct Destination<'a> {
    pub(super) target: &'a str,
    pub(super) host: Option<&'a str>,
}

/// A request head as routes and policies see it.
pub(super) struct View<'a, 'h, 'b> {
    head: &'a RequestHead<'h, 'b>,
    client: &'a ClientFields,
    kept: Kept,
    identity: Option<&'a str>,
    /// Where it goes, once routed: a policy sees the target and host the endpoint gets.
    to: Option<Destination<'a>>,
}

impl<'a, 'h, 'b> View<'a, 'h, 'b> {
    /// The request as it goes `to` its endpoint.
    pub(super) fn routed(&self, to: Destination<'a>) -> Self {
        Self {
            to: Some(to),
            ..*self
        }
    }

    /// The host the endpoint gets, when its route replaces the client's.
    fn host(&self) -> Option<&'a str> {
        self.to.and_then(|to| to.host)
    }
}

/// Whether `name` is `X-Forwarded-Client-Cert`.
fn is_client_cert(name: &str) -> bool {
    name.eq_ignore_ascii_case(X_FORWARDED_CLIENT_CERT.as_str())
}

impl RequestView for View<'_, '_, '_> {
    fn method(&self) -> &str {
        self.head.method()
    }
    fn authority(&self) -> Option<&str> {
        self.host().or(self.head.host.map(Authority::as_str))
    }
    fn path(&self) -> &str {
        match self.to {
            Some(to) => to.target,
            None => self.head.request.path.unwrap_or("/"),
        }
    }
    fn client_addr(&self) -> Option<SocketAddr> {
        Some(self.client.addr)
    }
    fn header(&self, name: &str) -> Option<&str> {
        if is_client_cert(name) && (self.identity.is_some() || !self.kept.client_cert) {
            return self.identity;
        }
        if name.eq_ignore_ascii_case(X_FORWARDED_PROTO) {
            return std::str::from_utf8(self.head.forwarded_proto(self.client, self.kept)).ok();
        }
        if is_underscore_alias(name.as_bytes()) {
            return None;
        }
        if let Some(host) = self.host()
            && name.eq_ignore_ascii_case("host")
        {
            return Some(host);
        }
        let h = self
            .head
            .request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))?;
        std::str::from_utf8(h.value).ok()
    }
    fn has_header(&self, name: &str) -> bool {
        let given = || {
            let headers = self.head.request.headers.iter();
            headers.clone().any(|h| h.name.eq_ignore_ascii_case(name))
        };
        if is_client_cert(name) {
            return self.identity.is_some() || (self.kept.client_cert && given());
        }
        let set = name.eq_ignore_ascii_case(X_FORWARDED_PROTO)
            || (self.host().is_some() && name.eq_ignore_ascii_case("host"));
        set || (!is_underscore_alias(name.as_bytes()) && given())
    }
}

/// Writes a short plain-text response of the proxy's own.
pub(super) fn write_text(out: &mut Vec<u8>, status: u16, message: &str, close: bool) {
    let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    let headers = [(&b"content-type"[..], &b"text/plain; charset=utf-8"[..])];
    write_response(
        out,
        status,
        headers.into_iter(),
        None,
        message.len() + 1,
        close,
    );
    out.extend_from_slice(message.as_bytes());
    out.push(b'\n');
}

/// Writes a response of the proxy's own: `headers`, a `Content-Length` of `length`, and
/// `body` unless it is left out (the answer to a HEAD request, or written next); a 204
/// or 304 has neither length nor body.
pub(super) fn write_response<'h>(
    out: &mut Vec<u8>,
    status: http::StatusCode,
    headers: impl Iterator<Item = (&'h [u8], &'h [u8])>,
    body: Option<&[u8]>,
    length: usize,
    close: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        write_field(out, name, value);
    }
    let bodiless = matches!(status.as_u16(), 204 | 304);
    if !bodiless {
        write_length(out, length as u64);
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless {
        out.extend_from_slice(body.unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::http1::{MAX_NAMED, header_slots};

    /// Where a request goes unrouted: its own target and host.
    fn as_sent<'a>(head: &RequestHead<'_, 'a>) -> Destination<'a> {
        Destination {
            target: head.target(),
            host: None,
        }
    }

    #[test]
    fn a_route_sets_the_target_and_host_the_endpoint_and_policy_get() {
        let raw = "GET /v2/../x?y HTTP/1.1\r\nHost: api.test\r\nAccept: */*\r\n\r\n";
        let mut slots = header_slots();
        let Parsed::Ready(head) = RequestHead::parse(raw.as_bytes(), &mut slots, 8192, u64::MAX)
        else {
            panic!("not taken");
        };
        let client = ClientFields::new("10.1.2.3:4000".parse().unwrap(), false);
        let to = Destination {
            target: "/x?y",
            host: Some("internal.api"),
        };
        let mut out = Vec::new();
        head.write_upstream(&mut out, &client, Kept::default(), None, to);
        let written = String::from_utf8(out).unwrap();
        assert!(
            written.starts_with("GET /x?y HTTP/1.1\r\nhost: internal.api\r\nAccept: */*\r\n"),
            "{written}"
        );
        // The client's host stays in Forwarded.
        assert!(written.contains("host=\"api.test\""), "{written}");
        let unrouted = head.view(&client, Kept::default(), None);
        let view = unrouted.routed(to);
        assert_eq!(
            (view.path(), view.authority()),
            ("/x?y", Some("internal.api"))
        );
        assert_eq!(view.header("host"), Some("internal.api"));
        assert_eq!(unrouted.path(), "/v2/../x?y");
    }

    fn upstream_head(raw: &str) -> String {
        upstream_head_keeping(raw, Kept::default())
    }

    fn upstream_head_keeping(raw: &str, kept: Kept) -> String {
        let mut slots = header_slots();
        let Parsed::Ready(head) = RequestHead::parse(raw.as_bytes(), &mut slots, 8192, u64::MAX)
        else {
            panic!("not taken: {raw}");
        };
        let mut out = Vec::new();
        head.write_upstream(
            &mut out,
            &ClientFields::new("10.1.2.3:4000".parse().unwrap(), false),
            kept,
            None,
            as_sent(&head),
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn request_heads_lose_hop_by_hop_fields_and_gain_forwarding() {
        let head = upstream_head(
            "GET /a?b=1 HTTP/1.1\r\nHost: api.test\r\nConnection: keep-alive, x-secret\r\n\
             X-Secret: 1\r\nKeep-Alive: 5\r\nTE: gzip, trailers\r\nX-Forwarded-For: 10.0.0.1\r\n\
             X-Forwarded-Client-Cert: Hash=forged\r\nX-Forwarded-Proto: https\r\n\
             X_Forwarded_Proto: https\r\nAccept: */*\r\n\r\n",
        );
        assert_eq!(
            head,
            "GET /a?b=1 HTTP/1.1\r\nHost: api.test\r\nAccept: */*\r\nte: trailers\r\n\
             x-forwarded-for: 10.0.0.1, 10.1.2.3\r\n\
             forwarded: for=10.1.2.3;proto=http;host=\"api.test\"\r\n\
             x-forwarded-proto: http\r\n"
        );
        // Behind a TLS-terminating balancer: its X-Forwarded-Proto is kept, once.
        let kept = Kept {
            proto: true,
            ..Kept::default()
        };
        let head = upstream_head_keeping(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\
             x-forwarded-proto: ftp\r\n\r\n",
            kept,
        );
        assert!(head.contains("x-forwarded-proto: https\r\n"), "{head}");
        assert_eq!(head.to_lowercase().matches("x-forwarded-proto").count(), 1);
        assert!(
            !head.contains("ftp") && !head.contains(": http\r\n"),
            "{head}"
        );
    }

    #[test]
    fn forwarding_fields_named_in_connection_go_as_on_the_general_path() {
        // The client's X-Forwarded-For is dropped, a kept X-Forwarded-Client-Cert stays
        // (the proxy vouches for that field), as hyper's path does.
        let kept = Kept {
            client_cert: true,
            ..Kept::default()
        };
        let head = upstream_head_keeping(
            "GET / HTTP/1.1\r\nHost: a\r\n\
             Connection: x-forwarded-for, x-forwarded-client-cert\r\n\
             X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Client-Cert: Hash=upstream\r\n\r\n",
            kept,
        );
        assert!(head.contains("x-forwarded-for: 10.1.2.3\r\n"), "{head}");
        assert!(!head.contains("6.6.6.6"), "{head}");
        assert!(
            head.contains("X-Forwarded-Client-Cert: Hash=upstream\r\n"),
            "{head}"
        );
    }

    #[test]
    fn a_policy_sees_the_forwarded_proto_the_endpoint_gets() {
        let raw = "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n";
        let named = "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-forwarded-proto\r\n\
                     X-Forwarded-Proto: https\r\n\r\n";
        let cleartext = ClientFields::new("10.1.2.3:4000".parse().unwrap(), false);
        let keep = Kept {
            proto: true,
            ..Kept::default()
        };
        for (raw, kept, seen) in [
            (raw, Kept::default(), "http"),
            (raw, keep, "https"),
            (named, keep, "http"),
        ] {
            let mut slots = header_slots();
            let Parsed::Ready(head) = RequestHead::parse(raw.as_bytes(), &mut slots, 8192, 0)
            else {
                panic!("not taken");
            };
            let view = head.view(&cleartext, kept, None);
            assert_eq!(view.header("X-Forwarded-Proto"), Some(seen), "{raw}");
            let mut out = Vec::new();
            head.write_upstream(&mut out, &cleartext, kept, None, as_sent(&head));
            let out = String::from_utf8(out).unwrap();
            let sent = format!("x-forwarded-proto: {seen}\r\n");
            assert!(out.ends_with(&sent), "{raw}: {out}");
        }
    }

    #[test]
    fn a_verified_identity_replaces_what_the_client_sent_for_it() {
        let raw = "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Client-Cert: Hash=forged\r\n\r\n";
        let mut slots = header_slots();
        let Parsed::Ready(head) = RequestHead::parse(raw.as_bytes(), &mut slots, 8192, 0) else {
            panic!("not taken");
        };
        let fields = ClientFields::new("10.1.2.3:4000".parse().unwrap(), true);
        let kept = Kept::default();
        let identity = Some("Hash=abc;DNS=client.test");
        let view = head.view(&fields, kept, identity);
        assert_eq!(view.header("x-forwarded-client-cert"), identity);
        assert_eq!(
            head.view(&fields, kept, None)
                .header("x-forwarded-client-cert"),
            None
        );
        assert_eq!(
            view.header("X_Forwarded_Client_Cert"),
            None,
            "nor its `_` spelling"
        );
        let mut out = Vec::new();
        head.write_upstream(&mut out, &fields, kept, identity, as_sent(&head));
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("forged"), "{out}");
        assert!(
            out.ends_with("x-forwarded-client-cert: Hash=abc;DNS=client.test\r\n"),
            "{out}"
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
    }

    #[test]
    fn too_many_fields_named_in_connection_are_refused() {
        let tokens: Vec<String> = (0..=MAX_NAMED).map(|i| format!("x-{i}")).collect();
        let connection = tokens.join(", ");
        let request = format!("GET / HTTP/1.1\r\nConnection: {connection}\r\n\r\n");
        let mut slots = header_slots();
        let parsed = RequestHead::parse(request.as_bytes(), &mut slots, 8192, u64::MAX);
        assert!(matches!(parsed, Parsed::Refuse(400)));
    }
}
