//! A fault on the client's side — malformed framing, a body over the limit, a stalled
//! or abandoned upload — is answered and counted as the client's, never against the
//! endpoint that was receiving the request.

use crate::common::backend;
use crate::common::client::{answered_by, raw_request, until_closed};
use crate::common::proxy;
use crate::common::scrape::{scrape, total, value};
use crate::setup;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Asserts that nothing was counted against `endpoints`: no request without a response,
/// no 5xx, no ejection, all healthy; and that `kind` was counted `n` times on `web`.
async fn blames_nobody(admin: SocketAddr, endpoints: &[SocketAddr], kind: &str, n: f64) {
    let (scrape, text) = scrape(admin).await;
    for endpoint in endpoints.iter().map(ToString::to_string) {
        let of = |class| {
            let labels = [("endpoint", endpoint.as_str()), ("class", class)];
            total(&scrape, "switchyard_upstream_requests_total", &labels)
        };
        assert_eq!((of("error"), of("5xx")), (0.0, 0.0), "{endpoint}: {text}");
        let labels = [("endpoint", endpoint.as_str())];
        let ejections = total(&scrape, "switchyard_endpoint_ejections_total", &labels);
        assert_eq!(ejections, 0.0, "{endpoint}: {text}");
        let labels = [("endpoint", endpoint.as_str()), ("state", "healthy")];
        let healthy = value(&scrape, "switchyard_endpoint_health", &labels);
        assert_eq!(healthy, 1.0, "{endpoint}: {text}");
    }
    let labels = [("listener", "web"), ("kind", kind)];
    let counted = value(&scrape, "switchyard_downstream_errors_total", &labels);
    assert_eq!(counted, n, "{text}");
}

/// The defect as found: 40 malformed chunked uploads ejected one of two healthy
/// endpoints through the default scorer's outlier detection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_uploads_get_400_and_eject_nobody() {
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let cluster = "health_policy = \"default-health\"";
    let proxy = proxy(&setup("", cluster, &[a.addr, b.addr]));
    let web = proxy.listener_addr("web").unwrap();
    let bad = b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                zz\r\nhello\r\n0\r\n\r\n";
    for i in 0..40 {
        let answer = raw_request(web, bad).await;
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "request {i}: {answer:?}"
        );
    }
    let admin = proxy.admin_addr().unwrap();
    blames_nobody(admin, &[a.addr, b.addr], "malformed", 40.0).await;
    let served = answered_by(web, 10).await;
    assert_eq!((served.get("a"), served.get("b")), (Some(&5), Some(&5)));
}

/// `max_request_body_bytes`: a declared length over it is refused before any endpoint
/// is asked (on both forwarding paths); a chunked body is cut off when it passes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413() {
    let a = backend::named("a", Duration::ZERO).await;
    let listener = "max_request_body_bytes = 1000";
    let proxy = proxy(&setup(listener, "", &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    // Small enough for the fast path, and too large for it.
    for length in [5_000, 1_000_000] {
        let head = format!("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\n");
        let answer = raw_request(web, head.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{length}: {answer:?}");
    }
    assert_eq!(a.hits.load(Relaxed), 0, "no endpoint saw them");
    let mut chunked =
        b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        chunked.extend_from_slice(b"190\r\n");
        chunked.extend_from_slice(&[b'x'; 400]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_request(web, &chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    // Within the limit, both kinds of body pass.
    let fine = b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n";
    let answer = raw_request(web, &[&fine[..], &[b'x'; 1000]].concat()).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("1000"),
        "{answer:?}"
    );
    blames_nobody(proxy.admin_addr().unwrap(), &[a.addr], "too_large", 3.0).await;
}

/// A client that stops sending its body gets 408 after `body_read_timeout` (the fast
/// path, which waits for small bodies with the head, after `header_read_timeout`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_get_408() {
    let a = backend::named("a", Duration::ZERO).await;
    let listener = "header_read_timeout = \"400ms\"\nbody_read_timeout = \"300ms\"";
    let proxy = proxy(&setup(listener, "", &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    for stalled in [
        &b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"[..],
        b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\nsome",
        b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nsome",
    ] {
        let started = std::time::Instant::now();
        let mut stream = tokio::net::TcpStream::connect(web).await.unwrap();
        let answer = crate::common::client::raw_response(&mut stream, stalled).await;
        let text = String::from_utf8_lossy(stalled);
        assert!(answer.starts_with("HTTP/1.1 408"), "{text:?}: {answer:?}");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "{text:?}: {took:?}");
    }
    blames_nobody(proxy.admin_addr().unwrap(), &[a.addr], "timeout", 3.0).await;
}

/// A fault after the response has started cannot be answered: the client's connection
/// is cut, and the endpoint that was answering is not blamed for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_after_the_response_started_resets_the_client_only() {
    let a = backend::named("a", Duration::ZERO).await;
    let proxy = proxy(&setup("", "", &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    let mut stream = tokio::net::TcpStream::connect(web).await.unwrap();
    // The backend streams 64 MiB without reading the request body.
    let head = b"POST /download/64 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    stream.write_all(head).await.unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("a response starts")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    stream.write_all(b"zz\r\n").await.unwrap();
    let (_, rest) = until_closed(&mut stream, Duration::from_secs(10)).await;
    let received = n + rest;
    assert!(
        received < 64 << 20,
        "the response was cut short: {received} bytes"
    );
    let admin = proxy.admin_addr().unwrap();
    blames_nobody(admin, &[a.addr], "malformed", 1.0).await;
}

/// A client that leaves in the middle of its upload is nobody's failure, and is
/// counted as an abort.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_upload_blames_nobody() {
    let a = backend::named("a", Duration::ZERO).await;
    let proxy = proxy(&setup("", "", &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    for head in [
        &b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"[..],
        b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\nsome",
    ] {
        let mut stream = tokio::net::TcpStream::connect(web).await.unwrap();
        stream.write_all(head).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    blames_nobody(proxy.admin_addr().unwrap(), &[a.addr], "aborted", 2.0).await;
}

/// An endpoint that refuses an upload early and closes while the client is still
/// sending it: whatever the client gets (the 413, or a 502 when the close overtook it),
/// the endpoint is not blamed for a request whose body never all arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_refuses_an_upload_midway_is_not_blamed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refusing = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = vec![0u8; 4096];
                let _ = stream.read(&mut head).await;
                let refusal = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = stream.write_all(refusal).await;
                // Closed with the rest of the upload unread: a reset.
            });
        }
    });
    let proxy = proxy(&setup("", "", &[refusing]));
    let web = proxy.listener_addr("web").unwrap();
    for _ in 0..5 {
        let mut stream = TcpStream::connect(web).await.unwrap();
        let head = b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
        stream.write_all(head).await.unwrap();
        for _ in 0..20 {
            let chunk = [b"400\r\n".as_slice(), &[b'u'; 1024], b"\r\n"].concat();
            if stream.write_all(&chunk).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer));
        let _ = read.await;
    }
    let (scrape, text) = scrape(proxy.admin_addr().unwrap()).await;
    let endpoint = refusing.to_string();
    for class in ["error", "5xx"] {
        let labels = [("endpoint", endpoint.as_str()), ("class", class)];
        let counted = total(&scrape, "switchyard_upstream_requests_total", &labels);
        assert_eq!(counted, 0.0, "{class}: {text}");
    }
}

/// A client that sends the last byte of its body just before the per-try timeout
/// leaves the endpoint no time to answer: the timeout is not the endpoint's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_finished_just_before_the_deadline_does_not_blame_the_endpoint() {
    let a = backend::named("a", Duration::from_secs(5)).await;
    let cluster = "[clusters.timeouts]\nrequest = \"1s\"";
    let proxy = proxy(&setup("", cluster, &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    let mut stream = TcpStream::connect(web).await.unwrap();
    // Over the fast path's 64 KiB, so that the body streams on the general path.
    let head = b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n";
    stream.write_all(head).await.unwrap();
    stream.write_all(&[b'x'; 69_999]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    stream.write_all(b"x").await.unwrap();
    let answer = crate::common::client::raw_response(&mut stream, b"").await;
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer:?}");
    let (scrape, text) = scrape(proxy.admin_addr().unwrap()).await;
    let endpoint = a.addr.to_string();
    let labels = [("endpoint", endpoint.as_str()), ("class", "error")];
    let counted = total(&scrape, "switchyard_upstream_requests_total", &labels);
    assert_eq!(counted, 0.0, "{text}");
}

/// An endpoint whose response stalls while the client is still uploading: who waited
/// on whom cannot be told, so it counts neither as the endpoint's failure nor as a
/// quick success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_during_an_upload_counts_for_nothing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stalling = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = vec![0u8; 4096];
                let _ = stream.read(&mut head).await;
                let start = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst";
                let _ = stream.write_all(start).await;
                tokio::time::sleep(Duration::from_secs(10)).await;
            });
        }
    });
    let cluster = "[clusters.timeouts]\nbody_idle = \"300ms\"";
    let proxy = proxy(&setup("", cluster, &[stalling]));
    let web = proxy.listener_addr("web").unwrap();
    let mut stream = TcpStream::connect(web).await.unwrap();
    let head = b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head).await.unwrap();
    for _ in 0..10 {
        let _ = stream.write_all(b"1\r\nx\r\n").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (scrape, text) = scrape(proxy.admin_addr().unwrap()).await;
    let endpoint = stalling.to_string();
    let labels = [("endpoint", endpoint.as_str())];
    let counted = total(&scrape, "switchyard_upstream_requests_total", &labels);
    assert_eq!(counted, 0.0, "{text}");
}
