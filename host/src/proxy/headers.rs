//! Header rewriting at the proxy boundary, and the request as policies see it.

use crate::policy::RequestView;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::net::SocketAddr;

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including those named in `Connection`. `TE: trailers`
/// is kept: gRPC needs it end to end.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Decided first: RFC 9110 has clients name TE in Connection, which would remove it.
    let keep_te = headers
        .get(header::TE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        });
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove(header::TE);
    if keep_te {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
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

/// Appends the client to `X-Forwarded-For` and `Forwarded`.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, client: SocketAddr, host: Option<&str>) {
    let ip = client.ip().to_string();
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(previous) => format!("{previous}, {ip}"),
        None => ip.clone(),
    };
    if let Ok(value) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", value);
    }
    let node = if client.is_ipv6() {
        format!("\"[{ip}]\"")
    } else {
        ip
    };
    let mut element = format!("for={node};proto=http");
    // Only a well-formed authority goes in the quoted string: no `"` or `\` to break
    // out of it and forge another element.
    if let Some(host) = host.filter(|h| h.parse::<http::uri::Authority>().is_ok()) {
        element.push_str(&format!(";host=\"{host}\""));
    }
    if let Ok(value) = HeaderValue::from_str(&element) {
        headers.append(header::FORWARDED, value);
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
        self.request.headers().get(name)?.to_str().ok()
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
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        add_forwarded(&mut h, "127.0.0.1:5000".parse().unwrap(), Some("api.test"));
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(
            h[header::FORWARDED],
            "for=127.0.0.1;proto=http;host=\"api.test\""
        );
        add_forwarded(&mut h, "[::1]:5000".parse().unwrap(), None);
        let all: Vec<_> = h.get_all(header::FORWARDED).iter().collect();
        assert_eq!(all[1], "for=\"[::1]\";proto=http");
        let forged = "a\", for=6.6.6.6;x=\"";
        add_forwarded(&mut h, "127.0.0.1:5000".parse().unwrap(), Some(forged));
        let all: Vec<_> = h.get_all(header::FORWARDED).iter().collect();
        assert_eq!(
            all[2], "for=127.0.0.1;proto=http",
            "a forged host is left out"
        );
    }
}
