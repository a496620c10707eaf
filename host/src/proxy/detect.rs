//! Which protocol a new client connection speaks (HTTP/2 with prior knowledge starts
//! with a fixed preface).

/// The client connection preface of HTTP/2 (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a connection speaks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    Http2,
}

/// What a connection whose first bytes are `first` speaks; `None` while they could
/// still be the start of the HTTP/2 preface.
pub(crate) fn detect(first: &[u8]) -> Option<Protocol> {
    let seen = first.len().min(PREFACE.len());
    if first[..seen] != PREFACE[..seen] {
        Some(Protocol::Http1)
    } else if seen == PREFACE.len() {
        Some(Protocol::Http2)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_says_http2_anything_else_http1() {
        assert_eq!(detect(b"GET / HTTP/1.1\r\n"), Some(Protocol::Http1));
        assert_eq!(detect(b"PRI * HTTP/1.1"), Some(Protocol::Http1));
        assert_eq!(detect(b""), None);
        assert_eq!(detect(b"PRI * HTTP/2"), None);
        assert_eq!(detect(PREFACE), Some(Protocol::Http2));
        assert_eq!(
            detect(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"),
            Some(Protocol::Http2)
        );
    }
}
