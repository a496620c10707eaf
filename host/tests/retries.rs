//! Retries end to end: a backend process killed under GET load costs the client
//! nothing; POSTs are never retried; the budget caps retries when every backend fails;
//! retried responses say how many attempts they took.

mod common;

use common::client::{Load, Sent, raw_exchange};
use common::process::BackendProcess;
use common::{backend, config, proxy};
use std::time::{Duration, Instant};

/// Not a test of its own: the body of the backend processes the tests kill.
#[test]
fn backend_process() {
    common::process::serve_if_asked();
}

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
