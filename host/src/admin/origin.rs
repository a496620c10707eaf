//! Keeps browsers on other sites away from the admin API. A page elsewhere can make a
//! browser send requests here (the console made this listener a browser's target):
//! a `POST` with no token needed would act, and a name of the attacker's that
//! resolves to 127.0.0.1 (DNS rebinding) would let the page read the answers too.
//!
//! - A request a browser marks as coming from another site (`Sec-Fetch-Site`
//!   `cross-site` or `same-site`), or whose `Origin` is not this host, is refused.
//! - Without a token (which the configuration allows on loopback only), a browser's
//!   request (one with `Sec-Fetch-Site` or `Origin`, as every current browser sends)
//!   must name an IP address or `localhost` as its `Host`: a rebound name is refused.
//!
//! Clients that are not browsers (curl, the CLI, scrapers) send neither header, and
//! pass whatever their `Host`.

use http::{HeaderMap, header};

/// Why `headers` look like a request from a page of another site, if they do;
/// `token_needed`: the API needs a token (then a rebound name cannot act or read
/// without it).
pub(crate) fn refused(headers: &HeaderMap, token_needed: bool) -> Option<&'static str> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if matches!(text("sec-fetch-site"), Some("cross-site" | "same-site")) {
        return Some("the admin API answers no request from another site");
    }
    let host = text(header::HOST.as_str());
    let origin = text(header::ORIGIN.as_str());
    let browser = origin.is_some() || headers.contains_key("sec-fetch-site");
    if let Some(origin) = origin {
        let same = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if same.is_none() || same != host {
            return Some("the admin API answers no request from another origin");
        }
    }
    if browser && !token_needed && !host.is_some_and(is_address_or_localhost) {
        return Some(
            "without admin.token_file, the admin API answers only a Host that is an IP address or localhost",
        );
    }
    None
}

/// `127.0.0.1`, `127.0.0.1:9901`, `[::1]:9901`, `localhost:9901` and the like.
fn is_address_or_localhost(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => {
            return bracketed
                .split(']')
                .next()
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (header::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn tools_and_the_console_itself_pass() {
        for token in [false, true] {
            assert_eq!(
                refused(&headers(&[("host", "127.0.0.1:9901")]), token),
                None
            );
            assert_eq!(refused(&headers(&[("host", "[::1]:9901")]), token), None);
            assert_eq!(
                refused(&headers(&[("host", "localhost:9901")]), token),
                None
            );
            let console = headers(&[
                ("host", "127.0.0.1:9901"),
                ("origin", "http://127.0.0.1:9901"),
                ("sec-fetch-site", "same-origin"),
            ]);
            assert_eq!(refused(&console, token), None);
        }
        // Tools may name any host; with a token, so may browsers (a rebound name gets
        // nothing without it).
        let named = headers(&[("host", "proxy.internal:9901")]);
        assert_eq!(refused(&named, false), None);
        assert_eq!(refused(&headers(&[]), false), None);
        let browser = headers(&[("host", "proxy.internal:9901"), ("sec-fetch-site", "none")]);
        assert_eq!(refused(&browser, true), None);
    }

    #[test]
    fn other_sites_and_rebound_names_are_refused() {
        for token in [false, true] {
            let cross = headers(&[("host", "127.0.0.1:9901"), ("sec-fetch-site", "cross-site")]);
            assert!(refused(&cross, token).is_some());
            let origin = headers(&[
                ("host", "127.0.0.1:9901"),
                ("origin", "https://evil.example"),
            ]);
            assert!(refused(&origin, token).is_some());
            let null = headers(&[("host", "127.0.0.1:9901"), ("origin", "null")]);
            assert!(refused(&null, token).is_some());
        }
        let rebound = headers(&[
            ("host", "evil.example:9901"),
            ("origin", "http://evil.example:9901"),
        ]);
        assert!(refused(&rebound, false).is_some());
        let read = headers(&[
            ("host", "evil.example:9901"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(refused(&read, false).is_some());
        let lookalike = headers(&[
            ("host", "localhost.evil.example"),
            ("sec-fetch-site", "none"),
        ]);
        assert!(refused(&lookalike, false).is_some());
    }
}
