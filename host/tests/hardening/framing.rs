//! RFC 9112 framing rules a client cannot get around: a `Host` on every HTTP/1.1
//! request, well-formed chunked bodies (bounded lines, sizes that fit), and no message
//! with both `Transfer-Encoding` and `Content-Length`.

use crate::common::backend;
use crate::common::client::raw_request;
use crate::common::proxy;
use crate::common::scrape::{scrape, total};
use crate::setup;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_exactly_one_host_gets_400() {
    let a = backend::named("a", Duration::ZERO).await;
    let proxy = proxy(&setup("", "", &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    for request in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        // Handed to the general path before the fast path sees the second Host.
        b"POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: a\r\nHost: b\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        // The target's host and Host must agree.
        b"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n",
    ] {
        let answer = raw_request(web, request).await;
        let text = String::from_utf8_lossy(request);
        assert!(answer.get(8..13) == Some(" 400 "), "{text:?}: {answer:?}");
    }
    assert_eq!(a.hits.load(Relaxed), 0);
    let fine = raw_request(web, b"GET http://t/ HTTP/1.1\r\nHost: T\r\n\r\n").await;
    assert!(fine.starts_with("HTTP/1.1 200"), "the same host: {fine:?}");
    // HTTP/1.0 has no such rule.
    let answer = raw_request(web, b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_chunked_bodies_get_400() {
    let a = backend::named("a", Duration::ZERO).await;
    let proxy = proxy(&setup("", "", &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    let long_extension = format!("1;{}\r\nx\r\n0\r\n\r\n", "a".repeat(200_000));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("bad size", b"zz\r\nhello\r\n0\r\n\r\n".to_vec()),
        ("hex prefix", b"0x5\r\nhello\r\n0\r\n\r\n".to_vec()),
        (
            "size overflow",
            b"fffffffffffffffffffff1\r\nhello\r\n0\r\n\r\n".to_vec(),
        ),
        ("no CRLF after data", b"5\r\nhelloXX0\r\n\r\n".to_vec()),
        ("200 KB extension", long_extension.into_bytes()),
    ];
    for (what, body) in &bodies {
        let head = b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
        let answer = raw_request(web, &[&head[..], body].concat()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{what}: {answer:?}");
    }
    let (scrape, text) = scrape(proxy.admin_addr().unwrap()).await;
    let endpoint = a.addr.to_string();
    for class in ["error", "5xx"] {
        let labels = [("endpoint", endpoint.as_str()), ("class", class)];
        let counted = total(&scrape, "switchyard_upstream_requests_total", &labels);
        assert_eq!(counted, 0.0, "{text}");
    }
}

/// Both `Transfer-Encoding` and `Content-Length` (in either order): forwarded with the
/// length removed, and the client's connection closed after the response (RFC 9112
/// §6.3), so that nothing after the body can be read as another request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_encoding_wins_over_content_length_and_the_connection_closes() {
    let a = backend::named("a", Duration::ZERO).await;
    let proxy = proxy(&setup("", "", &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    for head in [
        "Transfer-Encoding: chunked\r\nContent-Length: 10",
        "Content-Length: 10\r\nTransfer-Encoding: chunked",
    ] {
        let request = format!(
            "POST /upload HTTP/1.1\r\nHost: t\r\n{head}\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
             GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
        );
        let mut stream = tokio::net::TcpStream::connect(web).await.unwrap();
        let answer = crate::common::client::raw_response(&mut stream, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{head:?}: {answer:?}");
        let lower = answer.to_ascii_lowercase();
        assert!(
            lower.contains("x-seen-framing: |chunked\r\n"),
            "{head:?}: {answer:?}"
        );
        assert!(
            lower.contains("connection: close\r\n"),
            "{head:?}: {answer:?}"
        );
        assert!(
            answer.ends_with("\r\n\r\n5"),
            "the 5 bytes of the chunked body: {answer:?}"
        );
        let mut rest = Vec::new();
        let read = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest);
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("the proxy closes the connection")
            .ok();
        assert!(
            rest.is_empty(),
            "nothing answers the smuggled request: {rest:?}"
        );
    }
    assert_eq!(
        a.hits.load(Relaxed),
        2,
        "no smuggled request reached the endpoint"
    );
}
