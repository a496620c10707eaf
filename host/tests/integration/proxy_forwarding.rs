//! The forwarding core end to end: real listeners, real backends, real policies.

use crate::common;

use bytes::Bytes;
use common::backend::{dead, garbage, named};
use common::client::{get, raw_exchange, send};
use common::{config, proxy, stop};
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FAST: Duration = Duration::ZERO;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_and_h2c_reach_backends_with_forwarding_headers() {
    let a = named("alpha", FAST).await;
    let b = named("bravo", FAST).await;
    let proxy = proxy(&config("round-robin", &[(a.addr, 1), (b.addr, 1)], ""));
    let addr = proxy.listener_addr("web").unwrap();
    let mut seen = HashMap::new();
    for http2 in [false, true] {
        for _ in 0..4 {
            let (status, headers, body) = get(addr, "/hello?x=1", http2).await;
            assert_eq!(status, 200);
            assert_eq!(headers["x-backend"], body.as_str());
            assert_eq!(headers["x-seen-xff"], "127.0.0.1");
            assert_eq!(headers["x-seen-host"], "switchyard.test");
            assert!(
                headers["x-seen-forwarded"]
                    .to_str()
                    .unwrap()
                    .starts_with("for=127.0.0.1;proto=http;host=\"switchyard.test\"")
            );
            assert_eq!(
                headers["x-seen-version"], "HTTP/1.1",
                "upstream speaks HTTP/1.1 to all but gRPC, whatever the client spoke"
            );
            *seen.entry(body).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 2, "both backends served: {seen:?}");
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_and_http1_clients_reach_an_http1_only_backend_by_default() {
    fn answer(_: &str, _: usize) -> Option<(Vec<u8>, bool)> {
        Some((
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec(),
            false,
        ))
    }
    let backend = common::backend::scripted(answer).await;
    let proxy = proxy(&config("round-robin", &[(backend.addr, 1)], ""));
    let addr = proxy.listener_addr("web").unwrap();
    for http2 in [false, true] {
        for _ in 0..5 {
            let (status, _, body) = get(addr, "/", http2).await;
            assert_eq!(
                (status.as_u16(), body.as_str()),
                (200, "ok"),
                "http2: {http2}"
            );
        }
    }
    let requests = backend.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 10);
    assert!(
        requests.iter().all(|r| r.starts_with("GET / HTTP/1.1\r\n")),
        "{requests:?}"
    );
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_5_1_1_give_shares_5_1_1() {
    let backends = [
        named("a", FAST).await,
        named("b", FAST).await,
        named("c", FAST).await,
    ];
    let proxy = proxy(&config(
        "weighted-round-robin",
        &[
            (backends[0].addr, 5),
            (backends[1].addr, 1),
            (backends[2].addr, 1),
        ],
        "",
    ));
    let addr = proxy.listener_addr("web").unwrap();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..7 {
        clients.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let io = hyper_util::rt::TokioIo::new(stream);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            for _ in 0..1_000 {
                let request = http::Request::get("/")
                    .header("host", "x")
                    .body(http_body_util::Empty::<Bytes>::new())
                    .unwrap();
                let response = sender.send_request(request).await.unwrap();
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.unwrap();
            }
        });
    }
    while let Some(r) = clients.join_next().await {
        r.unwrap();
    }
    let hits: Vec<f64> = backends
        .iter()
        .map(|b| b.hits.load(Relaxed) as f64)
        .collect();
    assert_eq!(hits.iter().sum::<f64>(), 7_000.0);
    for (got, want) in hits.iter().zip([5_000.0, 1_000.0, 1_000.0]) {
        assert!((got - want).abs() <= 70.0, "shares {hits:?}");
    }
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_falls_through_to_the_next_choice() {
    let live = named("live", FAST).await;
    let down = dead();
    let proxy = proxy(&config("round-robin", &[(down, 1), (live.addr, 1)], ""));
    let addr = proxy.listener_addr("web").unwrap();
    for _ in 0..10 {
        let (status, _, body) = get(addr, "/", false).await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "live"));
    }
    let upstream = proxy.upstream("api").unwrap();
    let membership = upstream.membership();
    let dead_member = membership
        .members()
        .iter()
        .find(|m| m.socket == down)
        .unwrap();
    assert!(
        dead_member.load.failed() >= 4,
        "connect failures are counted against it"
    );
    assert!(dead_member.load.error_rate() > 0.0);
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_dead_endpoints_give_502_quickly() {
    let proxy = proxy(&config("round-robin", &[(dead(), 1)], ""));
    let addr = proxy.listener_addr("web").unwrap();
    let started = Instant::now();
    let (status, _, body) = get(addr, "/", false).await;
    assert_eq!(status, 502);
    assert!(body.starts_with("connecting to 127.0.0.1:"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(1));
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_gives_504_and_garbage_gives_502() {
    let slow = named("slow", Duration::from_secs(5)).await;
    let proxy = proxy(&config(
        "round-robin",
        &[(slow.addr, 1)],
        "[clusters.timeouts]\nrequest = \"200ms\"\n",
    ));
    let addr = proxy.listener_addr("web").unwrap();
    let started = Instant::now();
    let (status, _, body) = get(addr, "/", false).await;
    assert_eq!(status, 504, "{body}");
    assert!(started.elapsed() < Duration::from_secs(2));
    stop(proxy).await;

    let junk = garbage().await;
    let second = common::proxy(&config("round-robin", &[(junk.addr, 1)], ""));
    let addr = second.listener_addr("web").unwrap();
    let (status, _, _) = get(addr, "/", false).await;
    assert_eq!(status, 502);
    let membership = second.upstream("api").unwrap().membership();
    assert_eq!(
        membership.members()[0].load.failed(),
        1,
        "counted against the endpoint"
    );
    stop(second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_clients_are_refused_without_disturbing_others() {
    let a = named("alpha", FAST).await;
    let text = format!(
        "workers = 1\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         header_read_timeout = \"300ms\"\nmax_header_bytes = 8192\n\
         [[clusters]]\nname = \"api\"\nendpoints = [{{ address = \"{}\" }}]\n",
        a.addr
    );
    let proxy = proxy(&text);
    let addr = proxy.listener_addr("web").unwrap();

    // A slow-loris client that never finishes its headers is cut off.
    let mut loris = tokio::net::TcpStream::connect(addr).await.unwrap();
    loris
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    // Malformed request line: 400.
    let raw = exchange_once(addr, b"NOT HTTP AT ALL\r\n\r\n".to_vec()).await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");

    // Oversize headers: 431.
    let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 16 << 10));
    big.extend(b"\r\n\r\n");
    let raw = exchange_once(addr, big).await;
    assert!(raw.starts_with("HTTP/1.1 431"), "{raw}");

    // Meanwhile a well-behaved client is served.
    let (status, _, body) = get(addr, "/", false).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "alpha"));

    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), loris.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the slow-loris connection was closed by the proxy"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    stop(proxy).await;
}

async fn exchange_once(addr: std::net::SocketAddr, bytes: Vec<u8>) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw_exchange(&mut stream, &bytes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight() {
    let slow = named("slow", Duration::from_millis(500)).await;
    let proxy = proxy(&config("round-robin", &[(slow.addr, 1)], ""));
    let addr = proxy.listener_addr("web").unwrap();
    let in_flight = tokio::spawn(async move { get(addr, "/", false).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop(proxy).await;
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status.as_u16(), body.as_str()), (200, "slow"));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_response_bodies_stream_through() {
    let a = named("alpha", FAST).await;
    // The endpoint spoken to as the client speaks, then always in HTTP/1.1: an h2c
    // download then streams, chunked, through the proxy's own exchange.
    for upstream in ["", "protocol = \"http1\"\n"] {
        let proxy = proxy(&config("round-robin", &[(a.addr, 1)], upstream));
        let addr = proxy.listener_addr("web").unwrap();
        for http2 in [false, true] {
            let uri = if http2 { "http://x/upload" } else { "/upload" };
            let request = http::Request::post(uri)
                .header("host", "x")
                .body(Full::new(Bytes::from(vec![7u8; 3 << 20])))
                .unwrap();
            let response = send(addr, request, http2).await;
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, format!("{}", 3 << 20).as_bytes());
            let (status, _, body) = get(addr, "/download/4", http2).await;
            assert_eq!((status.as_u16(), body.len()), (200, 4 << 20), "{upstream}");
            assert!(body.bytes().all(|b| b == b'x'), "{upstream}");
        }
        let membership = proxy.upstream("api").unwrap().membership();
        let load = &membership.members()[0].load;
        assert_eq!(
            (load.completed(), load.in_flight()),
            (4, 0),
            "charged until each body ended"
        );
        stop(proxy).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_leaves_the_in_flight_count() {
    let slow = named("slow", Duration::from_millis(800)).await;
    let proxy = proxy(&config("round-robin", &[(slow.addr, 1)], ""));
    let addr = proxy.listener_addr("web").unwrap();
    // An h2 client gives up after 100 ms: its stream is reset while the proxy waits for
    // the upstream's headers (a gRPC deadline does the same).
    let mut sender = common::client::h2c(addr).await;
    let request = http::Request::get("http://x/")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(100), sender.send_request(request));
    assert!(gave_up.await.is_err());
    let membership = proxy.upstream("api").unwrap().membership();
    let load = &membership.members()[0].load;
    let deadline = Instant::now() + Duration::from_millis(500);
    while load.in_flight() != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        load.in_flight(),
        0,
        "the abandoned request left before the upstream answered"
    );
    assert_eq!(
        load.failed(),
        0,
        "a client giving up is not the endpoint's failure"
    );
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_refused() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let text = format!(
        "[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:{port}\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\nendpoints = [{{ address = \"127.0.0.1:1\" }}]\n"
    );
    let config = switchyard::config::parse("test.toml", &text).unwrap();
    let err = switchyard::app::App::start(&config, common::engine())
        .err()
        .expect("the port is taken");
    let message = format!("{err:#}");
    assert!(
        message.contains("listener \"web\": binding 127.0.0.1:"),
        "{message}"
    );
    assert!(message.contains("in use"), "{message}");
}
