//! Header rewriting at the proxy boundary, and the request as policies see it.

use crate::config::model::{ForwardClientCert, ForwardedProto};
use crate::net::http1::{HOP_BY_HOP, lists_token};
use crate::tls::{ClientIdentity, X_FORWARDED_CLIENT_CERT};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::net::SocketAddr;
use switchyard_policy::RequestView;
use switchyard_policy::ip_text::IpText;

/// `X-Forwarded-For`, named once: a name given as text is parsed at every use.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// `X-Forwarded-Proto`: the scheme the client used, as this proxy saw it. A client's own
/// is replaced: behind it, a cleartext client could pass for an HTTPS one.
pub(crate) const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
/// [`X_FORWARDED_PROTO`] as a header name.
const X_FORWARDED_PROTO_NAME: HeaderName = HeaderName::from_static(X_FORWARDED_PROTO);

/// What a listener keeps of the forwarding fields a client sends itself.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Kept {
    /// The client's `X-Forwarded-Client-Cert` (`append_forward`).
    pub(crate) client_cert: bool,
    /// The client's `X-Forwarded-Proto`, when it sent one (`if_absent`).
    pub(crate) proto: bool,
}

impl Kept {
    /// As a listener's settings say.
    pub(crate) fn new(client_cert: ForwardClientCert, proto: ForwardedProto) -> Self {
        Self {
            client_cert: client_cert == ForwardClientCert::AppendForward,
            proto: proto == ForwardedProto::IfAbsent,
        }
    }
}

/// Whether `name` spells a forwarding field the proxy writes with `_` for `-` (such as
/// `X_Forwarded_Proto`): servers that turn fields into CGI-style variables
/// (`HTTP_X_FORWARDED_PROTO`) would take it for the proxy's, so it is never forwarded
/// nor shown to a policy.
pub(crate) fn is_underscore_alias(name: &[u8]) -> bool {
    const VOUCHED: [&[u8]; 3] = [
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-client-cert",
    ];
    VOUCHED.iter().any(|field| {
        field.len() == name.len()
            && name.contains(&b'_')
            && field
                .iter()
                .zip(name)
                .all(|(&f, &n)| f == n.to_ascii_lowercase() || (f == b'-' && n == b'_'))
    })
}

/// Removes the fields [`is_underscore_alias`] names.
pub(crate) fn strip_underscore_aliases(headers: &mut HeaderMap) {
    let aliases: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_underscore_alias(name.as_str().as_bytes()))
        .cloned()
        .collect();
    for name in aliases {
        headers.remove(name);
    }
}

/// Removes hop-by-hop headers, including those named in `Connection`. `TE: trailers`
/// is kept: gRPC needs it end to end.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages have none (HTTP/2 forbids them, and gRPC's `TE: trailers` passes
    // as it is): one look at each name they have costs less than a lookup of every
    // hop-by-hop name.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) && te_passes(headers) {
        return;
    }
    // Decided first: RFC 9110 has clients name TE in Connection, which would remove it.
    let keep_te = headers
        .get_all(header::TE)
        .iter()
        .any(|v| lists_token(v.as_bytes(), b"trailers"));
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    // What the proxy itself vouches for is not the client's to remove.
    let vouched = [
        header::HOST,
        X_FORWARDED_CLIENT_CERT,
        X_FORWARDED_PROTO_NAME,
    ];
    let named = named.iter().filter(|name| !vouched.contains(name));
    for name in named.chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
    headers.remove(header::TE);
    if keep_te {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// Whether the message's `TE` is absent or just `trailers`: then it passes unchanged.
fn te_passes(headers: &HeaderMap) -> bool {
    let mut te = headers.get_all(header::TE).iter();
    match (te.next(), te.next()) {
        (None, _) => true,
        (Some(value), None) => value.as_bytes().eq_ignore_ascii_case(b"trailers"),
        _ => false,
    }
}

/// Joins repeated `Cookie` fields into one, as HTTP/2 clients split them and HTTP/1.1
/// servers (and policies hashing on a cookie) expect one (RFC 9113 §8.2.3).
pub(crate) fn join_cookies(headers: &mut HeaderMap) {
    let mut fields = headers.get_all(header::COOKIE).iter();
    if fields.next().is_none() || fields.next().is_none() {
        return;
    }
    let joined: Vec<&[u8]> = headers
        .get_all(header::COOKIE)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    if let Ok(value) = HeaderValue::from_bytes(&joined.join(&b"; "[..])) {
        headers.insert(header::COOKIE, value);
    }
}

/// Sets `X-Forwarded-Proto` to the scheme the client used, or (when `kept` keeps it and
/// `Connection` does not name it) to the client's first: one field either way. Before
/// the pick, so that a policy sees what the endpoint gets.
pub(crate) fn set_forwarded_proto(headers: &mut HeaderMap, client: &ClientFields, kept: Kept) {
    let named = || {
        let mut connection = headers.get_all(header::CONNECTION).iter();
        connection.any(|v| lists_token(v.as_bytes(), X_FORWARDED_PROTO.as_bytes()))
    };
    let theirs = (kept.proto && !named())
        .then(|| headers.get(&X_FORWARDED_PROTO_NAME).cloned())
        .flatten();
    let proto = theirs.unwrap_or_else(|| HeaderValue::from_static(client.scheme()));
    headers.insert(X_FORWARDED_PROTO_NAME, proto);
}

/// Appends the client to `X-Forwarded-For` and `Forwarded`.
pub(crate) fn add_forwarded(
    headers: &mut HeaderMap,
    client: &ClientFields,
    host: Option<Authority<'_>>,
) {
    let mut previous = headers.get_all(&X_FORWARDED_FOR).iter().peekable();
    let xff = if previous.peek().is_none() {
        HeaderValue::from_bytes(client.ip()).ok()
    } else {
        let mut list = Vec::new();
        for value in previous {
            list.extend_from_slice(value.as_bytes());
            list.extend_from_slice(b", ");
        }
        list.extend_from_slice(client.ip());
        // Never the client's own list without this hop's entry: that would forward a
        // forged chain as it is.
        HeaderValue::from_bytes(&list)
            .or_else(|_| HeaderValue::from_bytes(client.ip()))
            .ok()
    };
    if let Some(value) = xff {
        headers.insert(X_FORWARDED_FOR, value);
    }
    let mut element = Vec::with_capacity(64);
    client.push_forwarded_for(&mut element);
    push_forwarded_host(&mut element, host);
    if let Ok(value) = HeaderValue::from_bytes(&element) {
        headers.append(header::FORWARDED, value);
    }
}

/// A client connection as forwarding headers name it: its address, and its IP as
/// text, formatted once and held inline (no allocation: an idle connection holds
/// only its address, and this is made again for each burst of requests).
#[derive(Clone, Copy)]
pub(crate) struct ClientFields {
    /// The client's address.
    pub(crate) addr: SocketAddr,
    ip: IpText,
    /// Whether it came over TLS.
    https: bool,
}

impl ClientFields {
    /// For the client at `addr`, over TLS if `https`.
    pub(crate) fn new(addr: SocketAddr, https: bool) -> Self {
        Self {
            addr,
            ip: IpText::of(addr.ip()),
            https,
        }
    }

    /// The client's IP, as `X-Forwarded-For` lists it.
    pub(crate) fn ip(&self) -> &[u8] {
        self.ip.as_bytes()
    }

    /// Appends the start of this hop's `Forwarded` element (RFC 7239):
    /// `for=CLIENT;proto=http` (or `https`).
    pub(crate) fn push_forwarded_for(&self, element: &mut Vec<u8>) {
        element.extend_from_slice(b"for=");
        match self.addr {
            SocketAddr::V4(_) => element.extend_from_slice(self.ip()),
            SocketAddr::V6(_) => {
                element.extend_from_slice(b"\"[");
                element.extend_from_slice(self.ip());
                element.extend_from_slice(b"]\"");
            }
        }
        element.extend_from_slice(b";proto=");
        element.extend_from_slice(self.scheme().as_bytes());
    }

    /// `http`, or `https` over TLS.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
}

/// Sets `X-Forwarded-Client-Cert`: what the client sent removed unless `mode` keeps it,
/// and the element of the client's verified certificate added.
pub(crate) fn set_client_cert(
    headers: &mut HeaderMap,
    mode: ForwardClientCert,
    identity: Option<&ClientIdentity>,
) {
    let kept: Vec<&[u8]> = match mode {
        ForwardClientCert::SanitizeSet => Vec::new(),
        ForwardClientCert::AppendForward => headers
            .get_all(X_FORWARDED_CLIENT_CERT)
            .iter()
            .map(|v| v.as_bytes())
            .collect(),
    };
    // One field, the proxy's element last: a policy reading the header sees it whole.
    let mut elements = kept;
    if let Some(identity) = identity {
        elements.push(identity.element().as_bytes());
    }
    let value = match elements.as_slice() {
        [] => None,
        [one] => HeaderValue::from_bytes(one).ok(),
        many => HeaderValue::from_bytes(&many.join(&b","[..])).ok(),
    };
    headers.remove(X_FORWARDED_CLIENT_CERT);
    if let Some(value) = value {
        headers.insert(X_FORWARDED_CLIENT_CERT, value);
    }
}

/// Ends a `Forwarded` element with `;host="HOST"`. Only a checked authority goes in
/// the quoted string: no `"` or `\` to break out of it and forge another element.
pub(crate) fn push_forwarded_host(element: &mut Vec<u8>, host: Option<Authority<'_>>) {
    if let Some(host) = host.filter(|h| !h.0.is_empty()) {
        element.extend_from_slice(b";host=\"");
        element.extend_from_slice(host.0.as_bytes());
        element.push(b'"');
    }
}

/// The authority of a request: the URI's (HTTP/2) or the `Host` header (HTTP/1.1).
pub(crate) fn authority<B>(request: &http::Request<B>) -> Option<&str> {
    request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| request.headers().get(header::HOST)?.to_str().ok())
}

/// Sends `request` to the path and query `target` (when its route changed them) and
/// to `host` (when its route replaces the client's): in its target's authority when it
/// has one, and in `Host` when it has that.
pub(crate) fn set_destination<B>(
    request: &mut http::Request<B>,
    target: Option<String>,
    host: Option<&str>,
) {
    // Both parse: the configuration's values are checked with these parsers, and a
    // target in canonical form is made of a valid one.
    let target = target.and_then(|t| http::uri::PathAndQuery::try_from(t).ok());
    let authority = host.and_then(|h| http::uri::Authority::try_from(h).ok());
    if target.is_some() || (authority.is_some() && request.uri().authority().is_some()) {
        let mut parts = std::mem::take(request.uri_mut()).into_parts();
        if let Some(target) = target {
            parts.path_and_query = Some(target);
        }
        if parts.authority.is_some() && authority.is_some() {
            parts.authority = authority;
        }
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    if let Some(host) = host.and_then(|h| HeaderValue::from_str(h).ok())
        && (request.headers().contains_key(header::HOST) || request.uri().authority().is_none())
    {
        request.headers_mut().insert(header::HOST, host);
    }
}

/// The bytes of a host name, as a table: looked up once per byte of every request's
/// host.
const HOST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = crate::config::uri::host_byte(byte as u8);
        byte += 1;
    }
    table
};

/// A request's host and optional port, checked by [`valid_authority`]: made only of
/// the characters of a host name, an IP literal and a port.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Authority<'a>(&'a str);

impl<'a> Authority<'a> {
    /// `authority` when [`valid_authority`] takes it.
    pub(crate) fn checked(authority: &'a [u8]) -> Option<Self> {
        match valid_authority(authority) {
            true => std::str::from_utf8(authority).ok().map(Self),
            false => None,
        }
    }

    /// Its text.
    pub(crate) fn as_str(self) -> &'a str {
        self.0
    }
}

/// Whether `authority` (a `Host` header, or `:authority`) is a host and an optional
/// port: a name (or IPv4 address) of RFC 3986's unreserved characters, or an IP
/// literal in brackets. User info (`a@b`), escapes, sub-delimiters (`a.com,b.com`) and
/// anything else are refused, so that routes and endpoints cannot read another host.
pub(crate) fn valid_authority(authority: &[u8]) -> bool {
    // What follows the host: nothing, or a port.
    let rest = match authority.first() {
        Some(b'[') => {
            let Some(end) = authority.iter().position(|&b| b == b']') else {
                return false;
            };
            let literal = &authority[1..end];
            if !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
            {
                return false;
            }
            &authority[end + 1..]
        }
        _ => {
            let end = authority
                .iter()
                .position(|&b| !HOST_BYTES[b as usize])
                .unwrap_or(authority.len());
            &authority[end..]
        }
    };
    match rest {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// A request as a policy sees it.
pub(crate) struct PolicyView<'a, B> {
    pub(crate) request: &'a http::Request<B>,
    pub(crate) client: SocketAddr,
}

impl<B> RequestView for PolicyView<'_, B> {
    fn method(&self) -> &str {
        self.request.method().as_str()
    }
    fn authority(&self) -> Option<&str> {
        authority(self.request)
    }
    fn path(&self) -> &str {
        self.request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
    }
    fn client_addr(&self) -> Option<SocketAddr> {
        Some(self.client)
    }
    fn header(&self, name: &str) -> Option<&str> {
        if is_underscore_alias(name.as_bytes()) {
            return None;
        }
        self.request.headers().get(name)?.to_str().ok()
    }
    fn has_header(&self, name: &str) -> bool {
        !is_underscore_alias(name.as_bytes()) && self.request.headers().contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_keeps_te_trailers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.append(header::CONNECTION, HeaderValue::from_static("te"));
        h.insert(header::TE, HeaderValue::from_static("gzip, trailers"));
        h.insert("x-kept", HeaderValue::from_static("yes"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h[header::TE], "trailers");
        assert_eq!(h["x-kept"], "yes");
    }

    #[test]
    fn te_is_kept_only_as_trailers() {
        let mut h = HeaderMap::new();
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        let before = h.clone();
        strip_hop_by_hop(&mut h);
        assert_eq!(h, before, "gRPC's TE: trailers passes as it is");
        h.insert(header::TE, HeaderValue::from_static("gzip"));
        strip_hop_by_hop(&mut h);
        assert!(!h.contains_key(header::TE), "{h:?}");
        for [first, second] in [["trailers", "deflate"], ["deflate", "trailers"]] {
            h.insert(header::TE, HeaderValue::from_static(first));
            h.append(header::TE, HeaderValue::from_static(second));
            strip_hop_by_hop(&mut h);
            assert_eq!(h[header::TE], "trailers", "TE: {first}, then TE: {second}");
            assert_eq!(h.get_all(header::TE).iter().count(), 1);
        }
    }

    #[test]
    fn leaves_end_to_end_headers_alone() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("api.test"));
        h.append("x-kept", HeaderValue::from_static("1"));
        h.append("x-kept", HeaderValue::from_static("2"));
        let before = h.clone();
        strip_hop_by_hop(&mut h);
        assert_eq!(h, before);
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h, before, "a custom-named hop-by-hop header goes too");
    }

    #[test]
    fn joins_split_cookies() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("session=s42"));
        join_cookies(&mut h);
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(h[header::COOKIE], "a=1; session=s42");
    }

    #[test]
    fn appends_forwarding_headers() {
        let local = ClientFields::new("127.0.0.1:5000".parse().unwrap(), false);
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        set_forwarded_proto(&mut h, &local, Kept::default());
        add_forwarded(&mut h, &local, Authority::checked(b"api.test"));
        assert_eq!(h[X_FORWARDED_PROTO], "http", "the client's is replaced");
        let xff: Vec<_> = h.get_all("x-forwarded-for").iter().collect();
        assert_eq!(
            xff,
            ["10.0.0.1, 10.0.0.2, 127.0.0.1"],
            "one list, every hop"
        );
        assert_eq!(
            h[header::FORWARDED],
            "for=127.0.0.1;proto=http;host=\"api.test\""
        );
        let tls = ClientFields::new("[::1]:5000".parse().unwrap(), true);
        set_forwarded_proto(&mut h, &tls, Kept::default());
        add_forwarded(&mut h, &tls, None);
        let all: Vec<_> = h.get_all(header::FORWARDED).iter().collect();
        assert_eq!(all[1], "for=\"[::1]\";proto=https", "over TLS");
        assert_eq!(h[X_FORWARDED_PROTO], "https");
        let forged = "a\", for=6.6.6.6;x=\"";
        assert!(
            Authority::checked(forged.as_bytes()).is_none(),
            "never checked"
        );
        add_forwarded(&mut h, &local, Authority::checked(forged.as_bytes()));
        let all: Vec<_> = h.get_all(header::FORWARDED).iter().collect();
        assert_eq!(
            all[2], "for=127.0.0.1;proto=http",
            "a forged host is left out"
        );
    }

    #[test]
    fn a_clients_proto_is_kept_only_when_asked_and_aliases_never() {
        let local = ClientFields::new("127.0.0.1:5000".parse().unwrap(), false);
        let keep = Kept::new(ForwardClientCert::SanitizeSet, ForwardedProto::IfAbsent);
        let mut h = HeaderMap::new();
        set_forwarded_proto(&mut h, &local, keep);
        assert_eq!(
            h[X_FORWARDED_PROTO], "http",
            "set when the client sent none"
        );
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        set_forwarded_proto(&mut h, &local, keep);
        assert_eq!(h[X_FORWARDED_PROTO], "https", "the balancer's, kept");
        // Named in Connection, the client's is hop-by-hop: the proxy's goes, and stays.
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("x-forwarded-proto"),
        );
        set_forwarded_proto(&mut h, &local, keep);
        strip_hop_by_hop(&mut h);
        assert_eq!(h[X_FORWARDED_PROTO], "http");

        for alias in [
            "X_Forwarded_Proto",
            "x-forwarded_for",
            "X_FORWARDED_CLIENT_CERT",
        ] {
            assert!(is_underscore_alias(alias.as_bytes()), "{alias}");
        }
        for field in [
            "x-forwarded-proto",
            "x_forwarded_protocol",
            "x_request_id",
            "a_b",
        ] {
            assert!(!is_underscore_alias(field.as_bytes()), "{field}");
        }
        h.insert("x_forwarded_proto", HeaderValue::from_static("https"));
        h.insert("x_request_id", HeaderValue::from_static("7"));
        strip_underscore_aliases(&mut h);
        assert!(h.get("x_forwarded_proto").is_none());
        assert_eq!(h["x_request_id"], "7", "other names with `_` pass");
    }

    #[test]
    fn a_client_cert_header_is_removed_or_kept_with_the_proxys_element_last() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["client.test".to_string()]).unwrap();
        let identity = ClientIdentity::of(params.self_signed(&key).unwrap().der()).unwrap();
        let sent = || {
            let mut h = HeaderMap::new();
            h.append(X_FORWARDED_CLIENT_CERT, HeaderValue::from_static("Hash=a"));
            h.append(X_FORWARDED_CLIENT_CERT, HeaderValue::from_static("Hash=b"));
            h
        };
        let mut h = sent();
        set_client_cert(&mut h, ForwardClientCert::SanitizeSet, None);
        assert!(h.get(X_FORWARDED_CLIENT_CERT).is_none());
        let mut h = sent();
        set_client_cert(&mut h, ForwardClientCert::SanitizeSet, Some(&identity));
        assert_eq!(h[X_FORWARDED_CLIENT_CERT], identity.element());
        let mut h = sent();
        set_client_cert(&mut h, ForwardClientCert::AppendForward, Some(&identity));
        let all: Vec<_> = h.get_all(X_FORWARDED_CLIENT_CERT).iter().collect();
        let expected = format!("Hash=a,Hash=b,{}", identity.element().to_str().unwrap());
        assert_eq!(
            all,
            [expected.as_str()],
            "one field, the proxy's element last"
        );
    }

    #[test]
    fn authorities_are_hosts_and_ports() {
        for good in [
            "api.example.com",
            "a:8080",
            "10.0.0.1:80",
            "[::1]:443",
            "[fe80::1]",
            "",
            "x_y",
        ] {
            assert!(valid_authority(good.as_bytes()), "{good}");
        }
        for bad in [
            "a@b",
            "admin.example.com:1@public.example.com",
            "h:8o",
            "[::1]evil",
            "a b",
            "a/b",
            "a.com,b.example.com",
            "%61.example.com",
            "a;b",
        ] {
            assert!(!valid_authority(bad.as_bytes()), "{bad}");
        }
        assert!(!valid_authority(b"h\xff"));
    }
}
