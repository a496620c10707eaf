//! Entry points of the fuzz targets (`host/fuzz`, built with the `fuzzing` feature):
//! the fast path's request head parser and its rewrite, the chunked decoder, and the
//! response head reader of the proxy's own exchange — each run on arbitrary bytes and
//! checked for what must hold whatever they are.

use super::client::{HeadParts, parse_trailers};
use super::head::{RequestHead, bare_lf};
use crate::net::http1::{Chunked, Framing, Parsed, Piece, header_slots, parse_response};
use crate::proxy::headers::ClientFields;
use std::net::SocketAddr;
use switchyard_policy::RequestView;

const CLIENT: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(10, 1, 2, 3),
    4000,
));

/// Parses `data` as the fast path does; a request it takes must have no bare LF (the
/// byte-by-byte check confirms the per-field one), and is rewritten for upstream: the
/// rewrite must be exactly one complete head with the client's method and target, one
/// `Host`, no `Transfer-Encoding`, and at most one `Content-Length`.
pub fn request_head(data: &[u8]) {
    let mut slots = header_slots();
    let Parsed::Ready(head) = RequestHead::parse(data, &mut slots, 8192, 1 << 20) else {
        return;
    };
    assert!(head.head_len + head.body_len <= data.len());
    assert!(!bare_lf(&data[..head.head_len]), "a bare LF got through");
    let view = head.view(CLIENT, false);
    let (method, path) = (view.method().to_string(), view.path().to_string());
    let _ = (
        view.authority(),
        view.header("cookie"),
        view.header("x-user"),
    );
    let mut out = Vec::new();
    head.write_upstream(&mut out, &ClientFields::new(CLIENT, false), false);
    out.extend_from_slice(b"\r\n");
    let mut fields = [httparse::EMPTY_HEADER; 256];
    let mut rewritten = httparse::Request::new(&mut fields);
    match rewritten.parse(&out) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, out.len(), "one head, nothing after"),
        other => panic!("the rewrite does not parse: {other:?}: {out:?}"),
    }
    assert_eq!(rewritten.method, Some(method.as_str()));
    assert_eq!(rewritten.path, Some(path.as_str()));
    let named = |name: &str| {
        rewritten
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    assert_eq!(named("transfer-encoding"), 0);
    assert!(named("content-length") <= 1);
    assert_eq!(named("host"), 1, "exactly one Host");
}

/// Decodes `data` as a chunked body whole and in two pieces split where its first byte
/// says: the same content, end and error either way, and never more used than given.
pub fn chunked(data: &[u8]) {
    let whole = decode(&[data]);
    let at = data
        .first()
        .map_or(0, |&b| usize::from(b) % (data.len() + 1));
    let split = decode(&[&data[..at], &data[at..]]);
    assert_eq!(whole, split, "split at {at}");
}

/// What decoding `pieces` one after the other gave: data, trailer bytes, bytes used,
/// whether the body ended, whether it was malformed.
fn decode(pieces: &[&[u8]]) -> (Vec<u8>, Vec<u8>, usize, bool, bool) {
    let mut chunked = Chunked::new();
    let (mut data, mut trailers, mut used) = (Vec::new(), Vec::new(), 0);
    for piece in pieces {
        let decoded = chunked.decode(piece, |p| match p {
            Piece::Data(d) => data.extend_from_slice(d),
            Piece::Trailer(b) => trailers.push(b),
        });
        match decoded {
            Ok((n, done)) => {
                assert!(n <= piece.len());
                used += n;
                if done {
                    return (data, trailers, used, true, false);
                }
                assert_eq!(n, piece.len(), "all of a piece is used until the end");
            }
            // Where in a piece the error was found depends on the split: not compared.
            Err(_) => return (data, trailers, 0, false, true),
        }
    }
    (data, trailers, used, false, false)
}

/// Reads `data` as a response head, as the own exchange does (into `http` types) and
/// as the fast path does (rewritten for the client, which must parse back as one
/// complete response head), then frames what follows and reads any trailers.
pub fn response_head(data: &[u8]) {
    for head_request in [false, true] {
        let mut parts = HeadParts::default();
        if let Parsed::Ready(head) = parse_response(data, head_request, false, &mut parts) {
            assert!(head.head_len <= data.len());
            let _ = parts.response();
            let mut framing = head.framing;
            let rest = &data[head.head_len..];
            if let Framing::Chunked(mut chunked) = framing {
                let mut lines = Vec::new();
                if let Ok((_, true)) = chunked.decode(rest, |p| {
                    if let Piece::Trailer(b) = p {
                        lines.push(b);
                    }
                }) {
                    let _ = parse_trailers(&lines);
                }
            } else if let Ok((n, _)) = framing.advance(rest) {
                assert!(n <= rest.len());
            }
        }
        let mut out = Vec::new();
        if let Parsed::Ready(_) = parse_response(data, head_request, true, &mut out) {
            let mut fields = [httparse::EMPTY_HEADER; 256];
            let mut written = httparse::Response::new(&mut fields);
            match written.parse(&out) {
                Ok(httparse::Status::Complete(n)) => assert_eq!(n, out.len()),
                other => panic!("the client's head does not parse: {other:?}: {out:?}"),
            }
        }
    }
}
