//! Retries end to end: a backend process killed under GET load costs the client
//! nothing; POSTs are never retried; the budget caps retries when every backend fails;
//! retried responses say how many attempts they took; over h2c a PUT body is replayed
//! (within `buffer_bytes`) and gRPC calls are retried on configured codes only.

use crate::common;

use common::client::{Load, Sent, raw_exchange};
use common::process::BackendProcess;
use common::{backend, config, proxy};
use std::time::{Duration, Instant};

const RETRIES: &str = "[clusters.retries]\nattempts = 3\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_under_get_load_fails_no_request() {
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let c_addr = backend::dead();
    let c = BackendProcess::start("c", c_addr);
    let endpoints = [(a.addr, 1), (b.addr, 1), (c_addr, 1)];
    // least-request answers two endpoints per pick: a retry has somewhere to go.
    let proxy = proxy(&config("least-request", &endpoints, RETRIES));
    let load = Load::start(proxy.listener_addr("web").unwrap(), 6);
    tokio::time::sleep(Duration::from_millis(600)).await;
    drop(c); // SIGKILL, with requests in flight to it
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let sent = load.since(killed - Duration::from_millis(500), None);
    drop(load);
    let failed: Vec<&Sent> = sent.iter().filter(|s| s.status != 200).collect();
    eprintln!(
        "kill under load with retries: {} requests, {} failed",
        sent.len(),
        failed.len()
    );
    assert!(sent.len() > 300, "{}", sent.len());
    assert!(failed.is_empty(), "{failed:?}");
    assert!(
        sent.iter().any(|s| s.backend == "c"),
        "c served before the kill"
    );
}

/// A raw HTTP/1.1 exchange with the proxy: the response head and body as text.
async fn exchange(proxy: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    raw_exchange(&mut stream, request.as_bytes()).await
}

fn status_of(response: &str) -> u16 {
    response[9..12].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_is_retried_on_the_next_endpoint_for_get_but_not_for_post() {
    let failing = backend::scripted(|_, _| {
        Some((
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy".to_vec(),
            false,
        ))
    })
    .await;
    let good = backend::named("good", Duration::ZERO).await;
    // Round-robin's preference starts at a different endpoint each pick; a cluster
    // of the failing endpoint and the good one alternates which is tried first.
    let extra = format!("{RETRIES}idempotent_header = \"x-idempotent\"\n");
    let endpoints = [(failing.addr, 1), (good.addr, 1)];
    let proxy = proxy(&config("round-robin", &endpoints, &extra));
    let web = proxy.listener_addr("web").unwrap();

    let get = "GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n";
    let mut retried = 0;
    for _ in 0..10 {
        let response = exchange(web, get).await;
        assert_eq!(status_of(&response), 200, "{response}");
        retried += usize::from(response.contains("x-switchyard-attempts: 2\r\n"));
    }
    assert!(
        retried >= 3,
        "about half start at the failing endpoint: {retried}"
    );

    let post = "POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi";
    let statuses: Vec<u16> = futures_statuses(web, post, 10).await;
    assert!(
        statuses.contains(&503),
        "POSTs that meet the failing endpoint fail: {statuses:?}"
    );
    let posted = failing
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    assert_eq!(
        posted,
        statuses.iter().filter(|s| **s == 503).count(),
        "each POST once"
    );

    let marked = "POST / HTTP/1.1\r\nhost: t\r\nx-idempotent: 1\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi";
    let statuses: Vec<u16> = futures_statuses(web, marked, 10).await;
    assert!(
        statuses.iter().all(|s| *s == 200),
        "marked idempotent: {statuses:?}"
    );
}

async fn futures_statuses(web: std::net::SocketAddr, request: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(status_of(&exchange(web, request).await));
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_caps_retries_when_every_backend_fails() {
    let mut failing = Vec::new();
    for _ in 0..3 {
        failing.push(
            backend::scripted(|_, _| {
                Some((
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy".to_vec(),
                    false,
                ))
            })
            .await,
        );
    }
    let endpoints: Vec<_> = failing.iter().map(|f| (f.addr, 1)).collect();
    // 10% of requests, at least 1 per second: over ~1 s of 400 requests, ≤ 40 + 10.
    let extra = "[clusters.retries]\nattempts = 3\nbackoff_base = \"1ms\"\nbackoff_max = \"2ms\"\n\
                 budget_percent = 10\nbudget_min_per_second = 1\n";
    let proxy = proxy(&config("least-request", &endpoints, extra));
    let web = proxy.listener_addr("web").unwrap();
    let requests = 400;
    let statuses = common::client::statuses(web, requests).await;
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    let reached: usize = failing
        .iter()
        .map(|f| f.requests.lock().unwrap().len())
        .sum();
    let retries = reached - requests;
    eprintln!("{requests} requests to failing backends made {retries} retries");
    assert!(retries <= requests / 10 + 10, "{retries}");
    assert!(retries >= 10, "the floor allows some: {retries}");
}

/// A request through the proxy over h2c: status, `x-switchyard-attempts`, body.
async fn h2(web: std::net::SocketAddr, method: &str, body: &'static str) -> (u16, u32, String) {
    use http_body_util::{BodyExt, Full};
    let request = http::Request::builder()
        .method(method)
        .uri("http://switchyard.test/upload")
        .body(Full::new(bytes::Bytes::from_static(body.as_bytes())))
        .unwrap();
    let response = common::client::send(web, request, true).await;
    let status = response.status().as_u16();
    let attempts = response
        .headers()
        .get("x-switchyard-attempts")
        .map_or(1, |v| v.to_str().unwrap().parse().unwrap());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        attempts,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_h2c_a_put_body_is_replayed_to_the_next_endpoint_and_a_post_is_not_retried() {
    let busy = backend::busy().await;
    let good = backend::named("good", Duration::ZERO).await;
    let endpoints = [(busy.addr, 1), (good.addr, 1)];
    let extra = format!("{RETRIES}buffer_bytes = 64\n");
    let proxy = proxy(&config("round-robin", &endpoints, &extra));
    let web = proxy.listener_addr("web").unwrap();

    let mut retried = 0;
    for _ in 0..10 {
        let (status, attempts, body) = h2(web, "PUT", "hello").await;
        assert_eq!(
            (status, body.as_str()),
            (200, "5"),
            "the good backend got the body"
        );
        retried += usize::from(attempts == 2);
    }
    assert!(
        retried >= 3,
        "about half start at the busy endpoint: {retried}"
    );

    // Over `buffer_bytes`, and a POST: sent once, the busy answer reaches the client.
    let big: &'static str = Box::leak("x".repeat(100).into_boxed_str());
    for (method, body) in [("PUT", big), ("POST", "hello")] {
        let mut outcomes = Vec::new();
        for _ in 0..10 {
            outcomes.push(h2(web, method, body).await);
        }
        assert!(
            outcomes.iter().any(|(s, ..)| *s == 503),
            "{method} of {} bytes: {outcomes:?}",
            body.len()
        );
        assert!(outcomes.iter().all(|(_, a, _)| *a == 1), "{outcomes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_are_retried_on_configured_status_codes_only() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    // Both serve grpc.health.v1; only `serving` knows the service, `unaware` answers
    // NOT_FOUND (5) — a trailers-only response the proxy can act on.
    let (serving, _reporter) = backend::grpc_health("switchyard.test.Echo").await;
    let (unaware, _other) = backend::grpc_health("something.Else").await;
    let endpoints = [(serving, 1), (unaware, 1)];
    for (extra, retried) in [
        (format!("{RETRIES}on_grpc_status = [5]\n"), true),
        (RETRIES.to_string(), false),
    ] {
        let proxy = proxy(&config("round-robin", &endpoints, &extra));
        let channel = tonic::transport::Endpoint::from_shared(format!(
            "http://{}",
            proxy.listener_addr("web").unwrap()
        ))
        .unwrap()
        .connect()
        .await
        .unwrap();
        let mut client = HealthClient::new(channel);
        let mut codes = Vec::new();
        let mut attempts = Vec::new();
        for _ in 0..10 {
            let call = client
                .check(HealthCheckRequest {
                    service: "switchyard.test.Echo".into(),
                })
                .await;
            let metadata = match &call {
                Ok(response) => response.metadata().clone(),
                Err(status) => status.metadata().clone(),
            };
            codes.push(call.map_or_else(|s| s.code(), |_| tonic::Code::Ok));
            attempts.push(
                metadata
                    .get("x-switchyard-attempts")
                    .map_or(1, |v| v.to_str().unwrap().parse::<u32>().unwrap()),
            );
        }
        if retried {
            assert!(codes.iter().all(|c| *c == tonic::Code::Ok), "{codes:?}");
            assert!(attempts.contains(&2), "{attempts:?}");
        } else {
            assert!(codes.contains(&tonic::Code::NotFound), "{codes:?}");
            assert!(attempts.iter().all(|a| *a == 1), "{attempts:?}");
        }
    }
}
