//! `GET /metrics` on the admin listener: a Prometheus text parser reads the scrape, and
//! its counters match the traffic sent.

use crate::common;

use common::scrape::{find, value};
use common::{backend, config, proxy};
use prometheus_parse::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_parses_and_counts_the_traffic() {
    let live = backend::named("live", Duration::ZERO).await;
    let dead = backend::dead();
    let extra = "[admin]\nlisten = \"127.0.0.1:0\"\n";
    let proxy = proxy(&config("round-robin", &[(live.addr, 1), (dead, 1)], extra));
    let web = proxy.listener_addr("web").unwrap();
    let sent = 100;
    for _ in 0..sent {
        // Round-robin offers the dead endpoint every other time; its connect failure
        // moves the request to the live one (the next in the policy's list).
        let (status, _, _) = common::client::get(web, "/", false).await;
        assert_eq!(status, 200);
    }

    let (live, dead) = (live.addr.to_string(), dead.to_string());
    let counted = |scrape: &prometheus_parse::Scrape, endpoint: &str, class: &str| {
        value(
            scrape,
            "switchyard_upstream_requests_total",
            &[("cluster", "api"), ("endpoint", endpoint), ("class", class)],
        )
    };
    // A request is counted once its response has gone out whole, just after the
    // client has it: the last one may take a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let (scrape, text) = loop {
        let (scrape, text) = common::scrape::scrape(proxy.admin_addr().unwrap()).await;
        if counted(&scrape, &live, "2xx") == f64::from(sent) || std::time::Instant::now() > deadline
        {
            break (scrape, text);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let at = |endpoint: &str, class: &str| counted(&scrape, endpoint, class);
    assert_eq!(at(&live, "2xx"), f64::from(sent), "{text}");
    let refused = at(&dead, "error");
    assert!((40.0..=60.0).contains(&refused), "{refused}");
    assert_eq!(at(&live, "5xx") + at(&dead, "2xx"), 0.0);

    let histogram = find(
        &scrape,
        "switchyard_upstream_latency_seconds",
        &[("endpoint", live.as_str())],
    );
    let Value::Histogram(buckets) = &histogram[0].value else {
        panic!("{histogram:?}");
    };
    let all = buckets.iter().find(|b| b.less_than.is_infinite()).unwrap();
    assert_eq!(all.count, f64::from(sent));
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));

    let picks = value(
        &scrape,
        "switchyard_policy_picks_total",
        &[
            ("cluster", "api"),
            ("policy", "round-robin"),
            ("source", "policy"),
        ],
    );
    assert_eq!(picks, f64::from(sent));
    let timed = find(
        &scrape,
        "switchyard_policy_pick_duration_seconds",
        &[("cluster", "api")],
    );
    let Value::Histogram(buckets) = &timed[0].value else {
        panic!("{timed:?}");
    };
    let all = buckets.iter().find(|b| b.less_than.is_infinite()).unwrap();
    // One pick in 8 per worker thread is timed; two workers.
    let expected = f64::from(sent) / 8.0;
    assert!(
        (expected - 2.0..=expected + 2.0).contains(&all.count),
        "{buckets:?}"
    );
    let first = &buckets[0];
    assert_eq!(first.less_than, 2e-9, "nanosecond buckets: {buckets:?}");
    let health = |state| {
        value(
            &scrape,
            "switchyard_endpoint_health",
            &[("endpoint", live.as_str()), ("state", state)],
        )
    };
    assert_eq!((health("healthy"), health("unavailable")), (1.0, 0.0));
    assert_eq!(
        value(
            &scrape,
            "switchyard_upstream_in_flight",
            &[("endpoint", live.as_str())]
        ),
        0.0
    );
    assert_eq!(
        value(
            &scrape,
            "switchyard_policy_reloads_total",
            &[("result", "failed")]
        ),
        0.0
    );
}
