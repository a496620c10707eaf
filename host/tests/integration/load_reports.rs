//! Load reports end to end: backends that report their own load — ORCA reports in gRPC
//! trailers and HTTP/1.1 headers, Prometheus pages scraped out of band — drive
//! `orca-wrr` and `queue-aware` through the real proxy; malformed reports are counted
//! and ignored; a policy reading metrics the cluster does not collect is refused.
//!
//! Shares are measured over batches of sequential requests on one connection (so one
//! worker's policy instance picks them all), and a change is awaited by measuring
//! batches until they match, within a deadline, then one more batch that must match
//! too.

use crate::common;

use bytes::Bytes;
use common::reporting::{
    self, Orca, Reporting, fmt_shares, poll_until, reading, report_count, served_shares,
    shares_match, wrr_shares, wrr_weight,
};
use common::{config, proxy};
use http_body_util::{BodyExt, Empty};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

const ADMIN: &str = "[admin]\nlisten = \"127.0.0.1:0\"\n";

/// How the backends are reached and report.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Transport {
    /// gRPC (tonic, h2c): `endpoint-load-metrics-bin` in the trailers.
    Grpc,
    /// HTTP/1.1: `endpoint-load-metrics: TEXT ...` in the response headers; the
    /// client speaks HTTP/1.1 too (the proxy's HTTP/1.1 fast path).
    Http1,
    /// HTTP/1.1 backends as [`Transport::Http1`], the client speaking h2c (the
    /// proxy's general path).
    Http1FromH2c,
}

impl Transport {
    async fn backend(self, name: &'static str) -> Reporting {
        match self {
            Transport::Grpc => reporting::grpc(name).await,
            Transport::Http1 | Transport::Http1FromH2c => reporting::http(name).await,
        }
    }

    /// Makes `backend` send `report` with every response, as this transport does.
    fn report(self, backend: &Reporting, report: &Orca) {
        match self {
            Transport::Grpc => backend.report_bin(report),
            Transport::Http1 | Transport::Http1FromH2c => backend.report_text(report),
        }
    }
}

/// A client of the proxy, one connection, requests one after another.
enum Client {
    Grpc(HealthClient<Channel>),
    Http1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2c(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Client {
    async fn connect(transport: Transport, proxy: SocketAddr) -> Self {
        match transport {
            Transport::Grpc => {
                let channel = Endpoint::from_shared(format!("http://{proxy}"))
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
                Client::Grpc(HealthClient::new(channel))
            }
            Transport::Http1 => Client::Http1(common::client::keep_alive(proxy).await),
            Transport::Http1FromH2c => Client::H2c(common::client::h2c(proxy).await),
        }
    }

    /// Sends `n` requests; each must succeed (gRPC: SERVING; HTTP: 200).
    async fn send(&mut self, n: usize) {
        for i in 0..n {
            match self {
                Client::Grpc(client) => {
                    let request = HealthCheckRequest {
                        service: String::new(),
                    };
                    let answer =
                        tokio::time::timeout(Duration::from_secs(5), client.check(request))
                            .await
                            .unwrap_or_else(|_| panic!("call {i}: no answer within 5 s"))
                            .unwrap_or_else(|status| panic!("call {i}: {status:?}"));
                    assert_eq!(answer.into_inner().status, ServingStatus::Serving as i32);
                }
                Client::Http1(_) | Client::H2c(_) => {
                    let exchange = async {
                        let response = match self {
                            Client::Http1(sender) => {
                                sender.ready().await.unwrap();
                                let request = common::client::get_root("load.test");
                                sender.send_request(request).await.unwrap()
                            }
                            Client::H2c(sender) => {
                                sender.ready().await.unwrap();
                                let request = http::Request::get("http://load.test/")
                                    .body(Empty::new())
                                    .unwrap();
                                sender.send_request(request).await.unwrap()
                            }
                            Client::Grpc(_) => unreachable!(),
                        };
                        let status = response.status();
                        let body = response.into_body().collect().await.unwrap().to_bytes();
                        (status, body)
                    };
                    let (status, body) = tokio::time::timeout(Duration::from_secs(5), exchange)
                        .await
                        .unwrap_or_else(|_| panic!("request {i}: no answer within 5 s"));
                    assert_eq!(status, 200, "request {i}: {body:?}");
                }
            }
        }
    }
}

/// Requests per measured batch.
const BATCH: usize = 600;

/// Tolerance on a share: 5 percentage points.
const TOLERANCE: f64 = 0.05;

/// Measures batches of [`BATCH`] requests from `client` until the backends' shares
/// match `expected` (within `limit`), then one more batch, which must match too: how
/// long the change took to show.
async fn converge(
    what: &str,
    client: &mut Client,
    backends: &[&Reporting],
    expected: &[f64],
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    let mut batches = 0;
    loop {
        let (shares, n) = served_shares(backends, async || client.send(BATCH).await).await;
        batches += 1;
        eprintln!(
            "{what}: batch {batches} ({n} requests, {:?} in): shares {} (expected {})",
            started.elapsed(),
            fmt_shares(&shares),
            fmt_shares(expected)
        );
        if shares_match(&shares, expected, TOLERANCE) {
            break;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: shares {} still not within {TOLERANCE} of {} after {limit:?}",
            fmt_shares(&shares),
            fmt_shares(expected)
        );
    }
    let took = started.elapsed();
    let (shares, _) = served_shares(backends, async || client.send(BATCH).await).await;
    eprintln!("{what}: confirming batch: shares {}", fmt_shares(&shares));
    assert!(
        shares_match(&shares, expected, TOLERANCE),
        "{what}: shares matched, then moved to {} (expected {})",
        fmt_shares(&shares),
        fmt_shares(expected)
    );
    took
}

/// `error_utilization_penalty` of the `orca-wrr` tests.
const PENALTY: f64 = 2.0;

/// Expected `orca-wrr` shares for `reports` (`None`: no usable weight).
fn expected(reports: &[Option<Orca>]) -> Vec<f64> {
    let weights: Vec<Option<f64>> = reports
        .iter()
        .map(|r| r.and_then(|r| wrr_weight(&r, PENALTY)))
        .collect();
    wrr_shares(&weights)
}

#[test]
fn the_expected_shares_follow_the_formula() {
    // 100 rps at 20%, 40%, 80% CPU: weights 500, 250, 125.
    let reports = [0.2, 0.4, 0.8].map(|cpu| Some(Orca::cpu(cpu, 100.0)));
    let shares = expected(&reports);
    assert!(shares_match(
        &shares,
        &[4.0 / 7.0, 2.0 / 7.0, 1.0 / 7.0],
        1e-9
    ));
    // Errors count: 100 / (0.04 + 2 × 2 / 100) = 1250. Application utilization wins.
    let erring = Orca {
        eps: 2.0,
        ..Orca::cpu(0.04, 100.0)
    };
    assert_eq!(wrr_weight(&erring, PENALTY), Some(1250.0));
    let app = Orca {
        application_utilization: 0.5,
        ..Orca::cpu(0.9, 100.0)
    };
    assert_eq!(wrr_weight(&app, PENALTY), Some(200.0));
    // No weight: the mean of the others.
    let shares = wrr_shares(&[Some(500.0), Some(250.0), None]);
    assert!(shares_match(
        &shares,
        &[500.0 / 1125.0, 250.0 / 1125.0, 375.0 / 1125.0],
        1e-9
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orca_wrr_follows_reports_in_grpc_trailers() {
    orca_wrr_follows_the_reports(Transport::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orca_wrr_follows_reports_in_http1_headers() {
    orca_wrr_follows_the_reports(Transport::Http1).await;
}

/// Three backends report 100 rps at 20%, 40% and 80% CPU: `orca-wrr` shares follow
/// the weights (4/7, 2/7, 1/7). Then the third reports 4% CPU with 2 errors per
/// second (weight 1250, the error term counting), and shares move; then it stops
/// reporting, its weight expires after 1.5 s, and it gets the mean weight.
async fn orca_wrr_follows_the_reports(transport: Transport) {
    let a = transport.backend("a").await;
    let b = transport.backend("b").await;
    let c = transport.backend("c").await;
    let backends = [&a, &b, &c];
    let mut reports = [0.2, 0.4, 0.8].map(|cpu| Some(Orca::cpu(cpu, 100.0)));
    for (backend, report) in backends.iter().zip(&reports) {
        transport.report(backend, report.as_ref().unwrap());
    }
    let extra = format!(
        "policy_config = {{ blackout_period_ms = 200, weight_expiration_period_ms = 1500, \
         error_utilization_penalty = {PENALTY:?} }}\n\
         [clusters.load_reports]\norca = true\n{ADMIN}"
    );
    let endpoints: Vec<(SocketAddr, u32)> = backends.iter().map(|b| (b.addr, 1)).collect();
    let proxy = proxy(&config("orca-wrr", &endpoints, &extra));
    let admin = proxy.admin_addr().unwrap();
    let mut client = Client::connect(transport, proxy.listener_addr("web").unwrap()).await;
    let what = format!("orca-wrr over {transport:?}");

    // The reports arrive: each endpoint's CPU utilization shows in GET /clusters.
    client.send(30).await;
    poll_until(
        Duration::from_secs(5),
        "every endpoint's report stored",
        async || {
            let cluster = reporting::cluster(admin, "api").await;
            let stored: Vec<_> = backends
                .iter()
                .map(|b| reading(&cluster, b.addr, "cpu_utilization").map(|r| r.0))
                .collect();
            match stored == [Some(0.2), Some(0.4), Some(0.8)] {
                true => Ok(()),
                false => {
                    client.send(10).await;
                    Err(format!(
                        "cpu_utilization {stored:?}; {}",
                        cluster["load_reports"]
                    ))
                }
            }
        },
    )
    .await;

    let limit = Duration::from_secs(15);
    let took = converge(
        &format!("{what}, CPU 0.2/0.4/0.8"),
        &mut client,
        &backends,
        &expected(&reports),
        limit,
    )
    .await;
    eprintln!("{what}: weights in use after {took:?} (blackout 200 ms)");

    reports[2] = Some(Orca {
        eps: 2.0,
        ..Orca::cpu(0.04, 100.0)
    });
    transport.report(&c, reports[2].as_ref().unwrap());
    let took = converge(
        &format!("{what}, c at CPU 0.04 with 2 errors/s"),
        &mut client,
        &backends,
        &expected(&reports),
        limit,
    )
    .await;
    eprintln!("{what}: c's new weight in use after {took:?}");

    c.stop_reporting();
    reports[2] = None;
    let took = converge(
        &format!("{what}, c silent"),
        &mut client,
        &backends,
        &expected(&reports),
        limit,
    )
    .await;
    eprintln!("{what}: c's weight expired (1500 ms) and it got the mean after {took:?}");
    let cluster = reporting::cluster(admin, "api").await;
    let (cpu, age_ms) = reading(&cluster, c.addr, "cpu_utilization").unwrap();
    assert_eq!(cpu, 0.04, "c's last reading stays");
    assert!(
        age_ms >= 1_500,
        "c's last reading is older than the expiry: {age_ms} ms"
    );
    let counts = &cluster["load_reports"];
    assert_eq!(report_count(&cluster, "malformed"), 0, "{counts}");
    assert!(report_count(&cluster, "accepted") > 0, "{counts}");
    common::stop(proxy).await;
}

/// A vLLM-style metrics page: `waiting` requests queued, `cache` of the KV cache used.
fn vllm_page(waiting: u32, cache: f64) -> String {
    format!(
        "# HELP vllm:num_requests_waiting Requests waiting to be processed.\n\
         # TYPE vllm:num_requests_waiting gauge\n\
         vllm:num_requests_waiting{{model_name=\"m\"}} {waiting}\n\
         # TYPE vllm:gpu_cache_usage_perc gauge\n\
         vllm:gpu_cache_usage_perc{{model_name=\"m\"}} {cache}\n"
    )
}

const QUEUE: &str = "vllm:num_requests_waiting";

/// The scrape interval of the `queue-aware` tests.
const INTERVAL: Duration = Duration::from_millis(300);

/// Shares of a batch of `n` requests over `backends`.
async fn batch_shares(client: &mut Client, backends: &[&Reporting], n: usize) -> Vec<f64> {
    served_shares(backends, async || client.send(n).await)
        .await
        .0
}

/// Backends serve vLLM metrics, scraped every 300 ms; `queue-aware` spreads requests
/// while queues are equal. One backend reports 50 waiting: the reading arrives within
/// two intervals (and stays fresher than two intervals) and the backend gets no more
/// requests; back at 0, it gets its share again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_queue_lengths_steer_queue_aware_within_two_intervals() {
    let a = reporting::http("a").await;
    let b = reporting::http("b").await;
    let c = reporting::http("c").await;
    let backends = [&a, &b, &c];
    for backend in backends {
        backend.serve_metrics(200, &vllm_page(0, 0.1));
    }
    let extra = format!(
        "[clusters.load_reports]\norca = false\n\
         scrape = {{ interval = \"{}ms\", timeout = \"250ms\", \
         metrics = [\"{QUEUE}\", \"vllm:gpu_cache_usage_perc\"] }}\n{ADMIN}",
        INTERVAL.as_millis()
    );
    let endpoints: Vec<(SocketAddr, u32)> = backends.iter().map(|b| (b.addr, 1)).collect();
    let proxy = proxy(&config("queue-aware", &endpoints, &extra));
    let admin = proxy.admin_addr().unwrap();
    let mut client = Client::connect(Transport::Http1, proxy.listener_addr("web").unwrap()).await;
    let queues = async |admin| {
        let cluster = reporting::cluster(admin, "api").await;
        let readings: Vec<_> = backends
            .iter()
            .map(|b| reading(&cluster, b.addr, QUEUE))
            .collect();
        (readings, cluster)
    };

    let (_, took) = poll_until(Duration::from_secs(5), "first scrapes stored", async || {
        let (readings, cluster) = queues(admin).await;
        match readings.iter().all(|r| r.is_some_and(|(v, _)| v == 0.0)) {
            true => Ok(()),
            false => Err(format!("{readings:?}; {}", cluster["load_reports"])),
        }
    })
    .await;
    eprintln!("queue-aware: first scrapes of all three stored after {took:?}");
    let shares = batch_shares(&mut client, &backends, 300).await;
    eprintln!("queue-aware, queues 0/0/0: shares {}", fmt_shares(&shares));
    assert!(
        shares.iter().all(|&s| s > 0.15),
        "equal queues share: {shares:?}"
    );

    c.serve_metrics(200, &vllm_page(50, 0.1));
    // Two intervals, and slack for a loaded machine.
    let limit = 2 * INTERVAL + Duration::from_secs(2);
    let (_, took) = poll_until(limit, "c's queue of 50 stored", async || {
        let (readings, _) = queues(admin).await;
        match readings[2].map(|r| r.0) == Some(50.0) {
            true => Ok(()),
            false => Err(format!("{readings:?}")),
        }
    })
    .await;
    eprintln!(
        "queue-aware: c's queue of 50 stored {took:?} after it changed (interval {INTERVAL:?})"
    );
    let shares = batch_shares(&mut client, &backends, 300).await;
    eprintln!("queue-aware, queues 0/0/50: shares {}", fmt_shares(&shares));
    assert!(shares[2] <= 0.02, "c, 50 waiting, still served: {shares:?}");
    assert!(shares[0] > 0.3 && shares[1] > 0.3, "{shares:?}");

    // Every reading is renewed at each interval: ages stay under two.
    let (ages, _) = poll_until(
        Duration::from_secs(3),
        "readings younger than two intervals",
        async || {
            let (readings, _) = queues(admin).await;
            let ages: Vec<u64> = readings
                .iter()
                .map(|r| r.map_or(u64::MAX, |r| r.1))
                .collect();
            match ages
                .iter()
                .all(|&age| u128::from(age) < 2 * INTERVAL.as_millis())
            {
                true => Ok(ages),
                false => Err(format!("{readings:?}")),
            }
        },
    )
    .await;
    eprintln!("queue-aware: reading ages {ages:?} ms");

    c.serve_metrics(200, &vllm_page(0, 0.1));
    poll_until(limit, "c's queue back to 0", async || {
        let (readings, _) = queues(admin).await;
        match readings[2].map(|r| r.0) == Some(0.0) {
            true => Ok(()),
            false => Err(format!("{readings:?}")),
        }
    })
    .await;
    let shares = batch_shares(&mut client, &backends, 300).await;
    eprintln!(
        "queue-aware, queues 0/0/0 again: shares {}",
        fmt_shares(&shares)
    );
    assert!(
        shares[2] > 0.15,
        "c, its queue empty, is served again: {shares:?}"
    );

    let cluster = reporting::cluster(admin, "api").await;
    assert_eq!(
        report_count(&cluster, "scrape_failures"),
        0,
        "{}",
        cluster["load_reports"]
    );
    common::stop(proxy).await;
}

/// A backend whose metrics page answers 500 is counted as a failed scrape (in GET
/// /clusters and the Prometheus counters) and reports nothing; its requests are served
/// as ever, and the other backend's scrapes succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_page_answering_500_counts_as_a_scrape_failure() {
    let good = reporting::http("good").await;
    let sick = reporting::http("sick").await;
    good.serve_metrics(200, &vllm_page(3, 0.5));
    sick.serve_metrics(500, "oops\n");
    let extra = format!(
        "[clusters.load_reports]\n\
         scrape = {{ interval = \"{}ms\", timeout = \"250ms\", metrics = [\"{QUEUE}\"] }}\n{ADMIN}",
        INTERVAL.as_millis()
    );
    let proxy = proxy(&config(
        "round-robin",
        &[(good.addr, 1), (sick.addr, 1)],
        &extra,
    ));
    let admin = proxy.admin_addr().unwrap();
    let (cluster, took) = poll_until(Duration::from_secs(5), "two scrapes of each", async || {
        let cluster = reporting::cluster(admin, "api").await;
        let (ok, failed) = (
            report_count(&cluster, "scraped"),
            report_count(&cluster, "scrape_failures"),
        );
        match ok >= 2 && failed >= 2 {
            true => Ok(cluster),
            false => Err(cluster["load_reports"].to_string()),
        }
    })
    .await;
    eprintln!("scrapes: {} after {took:?}", cluster["load_reports"]);
    assert!(sick.scrapes.load(std::sync::atomic::Ordering::Relaxed) >= 2);
    assert_eq!(reading(&cluster, good.addr, QUEUE).map(|r| r.0), Some(3.0));
    assert_eq!(reading(&cluster, sick.addr, QUEUE), None, "{cluster}");

    let (scrape, text) = common::scrape::scrape(admin).await;
    let scrapes = |result| {
        common::scrape::value(
            &scrape,
            "switchyard_load_scrapes_total",
            &[("cluster", "api"), ("result", result)],
        )
    };
    assert!(scrapes("failed") >= 2.0 && scrapes("ok") >= 2.0, "{text}");

    let statuses = common::client::statuses(proxy.listener_addr("web").unwrap(), 20).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    assert!(sick.hits.load(std::sync::atomic::Ordering::Relaxed) > 0);
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orca_wrr_follows_reports_in_http1_headers_to_an_h2c_client() {
    orca_wrr_follows_the_reports(Transport::Http1FromH2c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reports_in_grpc_trailers_are_counted_and_ignored() {
    malformed_reports_are_counted_and_ignored(Transport::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reports_in_http1_headers_are_counted_and_ignored() {
    malformed_reports_are_counted_and_ignored(Transport::Http1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reports_in_http1_headers_to_an_h2c_client_are_counted_and_ignored() {
    malformed_reports_are_counted_and_ignored(Transport::Http1FromH2c).await;
}

/// A backend reports well, then sends a malformed TEXT report (a partly good one:
/// ignored as a whole) and a malformed binary one with every response: every request
/// still succeeds, the `malformed` counters count both per response, and the values
/// stored before stay.
async fn malformed_reports_are_counted_and_ignored(transport: Transport) {
    let backend = transport.backend("reporter").await;
    let good = Orca {
        eps: 1.0,
        ..Orca::cpu(0.3, 100.0)
    };
    transport.report(&backend, &good);
    let extra = format!("[clusters.load_reports]\n{ADMIN}");
    let proxy = proxy(&config("round-robin", &[(backend.addr, 1)], &extra));
    let admin = proxy.admin_addr().unwrap();
    let mut client = Client::connect(transport, proxy.listener_addr("web").unwrap()).await;
    let counts = async || {
        let cluster = reporting::cluster(admin, "api").await;
        let counts = (
            report_count(&cluster, "accepted"),
            report_count(&cluster, "malformed"),
        );
        (counts, cluster)
    };
    let stored = |cluster: &serde_json::Value| {
        ["cpu_utilization", "rps_fractional", "eps"]
            .map(|metric| reading(cluster, backend.addr, metric).map(|r| r.0))
    };

    let n = 20;
    client.send(n).await;
    // The trailers are read as the response streams to the client; a moment's slack.
    let (cluster, _) =
        poll_until(
            Duration::from_secs(3),
            "good reports counted",
            async || match counts().await {
                ((accepted, 0), cluster) if accepted == n as u64 => Ok(cluster),
                (counts, _) => Err(format!("(accepted, malformed) = {counts:?}")),
            },
        )
        .await;
    let good_values = [Some(0.3), Some(100.0), Some(1.0)];
    assert_eq!(stored(&cluster), good_values);

    // Not base64 over HTTP; base64 of a truncated protobuf (field 1, a double, cut
    // short) over gRPC, whose clients would refuse trailers that are not base64.
    let bad_bin = match transport {
        Transport::Grpc => "CQECAw==",
        Transport::Http1 | Transport::Http1FromH2c => "%%not base64%%",
    };
    backend.send_fields(&[
        (
            "endpoint-load-metrics",
            "TEXT rps_fractional=7, cpu_utilization=banana",
        ),
        ("endpoint-load-metrics-bin", bad_bin),
    ]);
    client.send(n).await;
    let (cluster, _) = poll_until(
        Duration::from_secs(3),
        "malformed reports counted",
        async || match counts().await {
            ((accepted, malformed), cluster)
                if accepted == n as u64 && malformed == 2 * n as u64 =>
            {
                Ok(cluster)
            }
            (counts, _) => Err(format!("(accepted, malformed) = {counts:?}")),
        },
    )
    .await;
    assert_eq!(
        stored(&cluster),
        good_values,
        "the good values stay: {cluster}"
    );
    let (scrape, text) = common::scrape::scrape(admin).await;
    let reports = |result| {
        common::scrape::value(
            &scrape,
            "switchyard_load_reports_total",
            &[("cluster", "api"), ("result", result)],
        )
    };
    assert_eq!(
        (reports("accepted"), reports("malformed")),
        (n as f64, 2.0 * n as f64),
        "{text}"
    );
    common::stop(proxy).await;
}

/// The error starting a proxy from `text` (which must fail), with its causes.
fn start_error(text: &str) -> String {
    let config = switchyard::config::parse("test.toml", text).expect("the configuration parses");
    let err = switchyard::app::App::start(&config, common::engine())
        .err()
        .expect("the proxy refuses to start");
    format!("{err:#}")
}

/// `orca-wrr` on a cluster without `[clusters.load_reports]`, and `queue-aware` on one
/// that scrapes its queue metric but not its memory metric, are refused at start and by
/// `check-config`, naming the metric and the fix.
#[test]
fn a_policy_reading_metrics_the_cluster_does_not_collect_is_refused() {
    let endpoints = [("127.0.0.1:9".parse().unwrap(), 1)];
    let orca = config("orca-wrr", &endpoints, "");
    let message = start_error(&orca);
    eprintln!("orca-wrr without load reports: {message}");
    assert!(
        message.contains("reported metric \"cpu_utilization\" is not collected by this cluster"),
        "{message}"
    );
    assert!(
        message.contains("add a [clusters.load_reports] table"),
        "{message}"
    );

    let queue_only =
        format!("[clusters.load_reports]\norca = false\nscrape = {{ metrics = [\"{QUEUE}\"] }}\n");
    let queue = config("queue-aware", &endpoints, &queue_only);
    let message = start_error(&queue);
    eprintln!("queue-aware without its memory metric: {message}");
    assert!(
        message.contains(
            "reported metric \"vllm:gpu_cache_usage_perc\" is not collected by this cluster; \
             it collects vllm:num_requests_waiting"
        ),
        "{message}"
    );
    // Without the memory metric, the same cluster is accepted.
    let accepted = config(
        "queue-aware",
        &endpoints,
        &format!("policy_config = {{ memory_metric = \"\" }}\n{queue_only}"),
    );
    let parsed = switchyard::config::parse("test.toml", &accepted).unwrap();
    let app = switchyard::app::App::start(&parsed, common::engine()).expect("accepted");
    app.shutdown();

    let dir = common::temp_dir("load-reports-config");
    let file = dir.join("orca.toml");
    std::fs::write(&file, &orca).unwrap();
    let (ok, _, stderr) = common::switchyard(&["check-config", file.to_str().unwrap()]);
    eprintln!("check-config: {stderr}");
    assert!(!ok, "check-config accepts orca-wrr without load reports");
    assert!(
        stderr.contains("reported metric \"cpu_utilization\"")
            && stderr.contains("[clusters.load_reports]"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
