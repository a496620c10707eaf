//! Circuit breaking end to end: an endpoint answering 503s is cut off once its failure
//! share passes the threshold (traffic takes the policy's next choice, and the policy
//! sees it unavailable while it cools down), is tried again after the cool-down, and
//! closes when the trials succeed; a cluster at its `max_requests` answers 503 at once;
//! at `max_connections`, requests wait for a connection up to `max_pending` and the
//! rest are answered 503 at once.

use crate::common;

use common::client::statuses;
use common::{backend, config, proxy};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

static FAILING: AtomicBool = AtomicBool::new(true);

fn flaky(_: &str, _: usize) -> Option<(Vec<u8>, bool)> {
    let response: &[u8] = if FAILING.load(Relaxed) {
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy"
    } else {
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-backend: flaky\r\n\r\nflaky"
    };
    Some((response.to_vec(), false))
}

async fn breaker_state(admin: std::net::SocketAddr, endpoint: &str) -> String {
    let (_, _, body) = common::client::get(admin, "/metrics", false).await;
    body.lines()
        .filter(|l| l.starts_with("switchyard_endpoint_breaker_state{"))
        .filter(|l| l.contains(&format!("endpoint=\"{endpoint}\"")) && l.ends_with(" 1"))
        .map(|l| {
            l.split("state=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        })
        .next()
        .unwrap_or_default()
}

/// The endpoint's health in the membership the policy sees, from `/clusters`.
async fn membership_health(admin: std::net::SocketAddr, endpoint: &str) -> String {
    let clusters = common::client::json(admin, "/clusters").await;
    let endpoints = clusters["clusters"][0]["endpoints"].as_array().unwrap();
    let found = endpoints.iter().find(|e| e["address"] == endpoint).unwrap();
    found["health"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_cut_off_tried_again_and_restored() {
    let flaky_backend = backend::scripted(flaky).await;
    let good = backend::named("good", Duration::ZERO).await;
    let extra = "[clusters.circuit_breaker]\nfailure_percent = 50\nmin_requests = 5\n\
                 cool_down = \"300ms\"\nhalf_open_requests = 2\n\
                 [admin]\nlisten = \"127.0.0.1:0\"\n";
    let endpoints = [(flaky_backend.addr, 1), (good.addr, 1)];
    let proxy = proxy(&config("round-robin", &endpoints, extra));
    let (web, admin) = (
        proxy.listener_addr("web").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    let flaky_addr = flaky_backend.addr.to_string();
    let seen = || flaky_backend.requests.lock().unwrap().len();

    // Round-robin offers the flaky endpoint first every other request: five 503s open
    // its breaker (100% ≥ 50% over 5 requests), then its turns go to the next choice.
    let first = statuses(web, 30).await;
    let failed = first.iter().filter(|s| **s == 503).count();
    assert_eq!(failed, 5, "{first:?}");
    assert!(first[10..].iter().all(|s| *s == 200), "{first:?}");
    assert_eq!(seen(), 5);
    assert_eq!(breaker_state(admin, &flaky_addr).await, "open");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(membership_health(admin, &flaky_addr).await, "unavailable");

    // Recovered; after the cool-down two trials go through and close the breaker.
    FAILING.store(false, Relaxed);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = statuses(web, 20).await;
    assert!(after.iter().all(|s| *s == 200), "{after:?}");
    assert!(
        seen() >= 5 + 2 + 5,
        "trials, then its turns again: {}",
        seen()
    );
    assert_eq!(breaker_state(admin, &flaky_addr).await, "closed");
    assert_eq!(membership_health(admin, &flaky_addr).await, "healthy");
}

/// A GET through `web` after each delay (in ms) from now, all at once (with `mixed`,
/// every other one over h2c): each answer's status, and when it came.
async fn staggered_gets(
    web: std::net::SocketAddr,
    delays: &[u64],
    mixed: bool,
) -> Vec<(u16, Duration)> {
    let started = std::time::Instant::now();
    let requests: Vec<_> = delays
        .iter()
        .enumerate()
        .map(|(i, &delay)| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let (status, _, _) = common::client::get(web, "/", mixed && i % 2 == 1).await;
                (status.as_u16(), started.elapsed())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_at_max_requests_refuses_at_once() {
    let slow = backend::named("slow", Duration::from_millis(400)).await;
    let extra = "[clusters.limits]\nmax_requests = 2\n";
    let proxy = proxy(&config("round-robin", &[(slow.addr, 1)], extra));
    let web = proxy.listener_addr("web").unwrap();
    // Staggered so that the first two are in flight before the rest.
    let answers = staggered_gets(web, &[0, 0, 100, 100, 100], true).await;
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    assert_eq!(refused.len(), 3, "{answers:?}");
    assert!(
        refused
            .iter()
            .all(|(_, at)| *at < Duration::from_millis(350)),
        "{answers:?}"
    );
    assert_eq!(slow.hits.load(Relaxed), 2);
    let (_, _, _) = common::client::get(web, "/", false).await;
    assert_eq!(
        slow.hits.load(Relaxed),
        3,
        "admitted again once they finished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_queues_up_to_max_pending_and_refuses_the_rest() {
    let slow = backend::named("slow", Duration::from_millis(300)).await;
    let extra = "[clusters.timeouts]\nconnect = \"2s\"\n\
                 [clusters.limits]\nmax_connections = 2\nmax_pending = 1\n";
    let proxy = proxy(&config("round-robin", &[(slow.addr, 1)], extra));
    let web = proxy.listener_addr("web").unwrap();
    // Over HTTP/1.1 (one request per connection): the first two take both
    // connections, the third waits for one of them, the last two find the queue full.
    let answers = staggered_gets(web, &[0, 0, 100, 150, 150], false).await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [200, 200, 200, 503, 503], "{answers:?}");
    let (_, waited) = answers[2];
    assert!(
        waited >= Duration::from_millis(550),
        "the third ran after a first finished: {answers:?}"
    );
    assert!(
        answers[3..]
            .iter()
            .all(|(_, at)| *at < Duration::from_millis(300)),
        "refused at once: {answers:?}"
    );
    assert_eq!(slow.hits.load(Relaxed), 3);
}

/// Under a full `max_connections`, a connection that finishes an exchange goes straight
/// to a request waiting on its worker: 40 keep-alive clients, 1,000 requests over 2
/// connections, none of them closed and opened again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_connection_goes_to_a_waiting_request_rather_than_closing() {
    let backend = backend::scripted(|_, _| {
        Some((
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec(),
            false,
        ))
    })
    .await;
    let extra = "[clusters.timeouts]\nconnect = \"5s\"\n\
                 [clusters.limits]\nmax_connections = 2\nmax_pending = 100\n";
    let single =
        config("round-robin", &[(backend.addr, 1)], extra).replace("workers = 2", "workers = 1");
    let proxy = proxy(&single);
    let web = proxy.listener_addr("web").unwrap();
    let clients: Vec<_> = (0..40)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(web).await.unwrap();
                let get = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
                let mut statuses = Vec::new();
                for _ in 0..25 {
                    let answer = common::client::raw_response(&mut stream, get).await;
                    statuses.push(answer.get(9..12).unwrap_or("").to_string());
                }
                statuses
            })
        })
        .collect();
    for client in clients {
        let statuses = client.await.unwrap();
        assert!(statuses.iter().all(|s| s == "200"), "{statuses:?}");
    }
    assert_eq!(backend.requests.lock().unwrap().len(), 1_000);
    let opened = backend.connections.load(Relaxed);
    assert!(opened <= 2, "{opened} connections opened to the endpoint");
}
