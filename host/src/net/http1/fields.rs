//! Header fields of HTTP/1.1 heads: which are hop-by-hop, tokens in a list, the
//! fields a `Connection` field names, and writing field lines.

use http::header::{self, HeaderName};
use httparse::Header;

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
pub(crate) static HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether `name` (any case) is a hop-by-hop header always removed at the proxy. `TE`
/// and the headers that `Connection` names are handled by the caller.
pub(crate) fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|h| h.as_str().eq_ignore_ascii_case(name))
}

/// Whether a comma-separated header value (such as `Connection`) lists `token`.
pub(crate) fn lists_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Writes one field line.
pub(crate) fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Most fields one head's `Connection` fields may name (besides `keep-alive` and
/// `close`); more is refused rather than scanned.
pub(crate) const MAX_NAMED: usize = 16;

/// Fields the proxy writes itself, which naming in `Connection` does not remove.
const PROTECTED: [&str; 4] = [
    "content-length",
    "transfer-encoding",
    "host",
    "x-forwarded-client-cert",
];

/// The fields a head's `Connection` fields name, which are hop-by-hop too.
#[derive(Debug, Default)]
pub(crate) struct Named<'b> {
    tokens: Vec<&'b [u8]>,
}

impl<'b> Named<'b> {
    /// `None` when they name more than [`MAX_NAMED`] fields.
    pub(crate) fn of(headers: &[Header<'b>]) -> Option<Self> {
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
    pub(crate) fn contains(&self, name: &str) -> bool {
        !self.tokens.is_empty()
            && !PROTECTED.iter().any(|p| p.eq_ignore_ascii_case(name))
            && self
                .tokens
                .iter()
                .any(|t| t.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// Writes a `Content-Length` field line.
pub(crate) fn write_length(out: &mut Vec<u8>, n: u64) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "content-length: {n}\r\n");
}

/// A `Content-Length` value: digits only.
pub(crate) fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Whether the last comma-separated token of `value` is `token`.
pub(crate) fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}
