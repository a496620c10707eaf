//! Reading the admin API's `GET /metrics` with a Prometheus text parser.

use http_body_util::BodyExt;
use prometheus_parse::{Sample, Scrape, Value};
use std::net::SocketAddr;

/// Scrapes `GET /metrics` from the admin listener at `admin`, which must answer in
/// the Prometheus text format: the parsed samples and the text, for failure messages.
pub async fn scrape(admin: SocketAddr) -> (Scrape, String) {
    let response = super::client::send(
        admin,
        http::Request::get("/metrics")
            .header("host", "localhost")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap(),
        false,
    )
    .await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    (scrape, text)
}

/// The samples of `metric` whose labels include all of `labels`.
pub fn find<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .collect()
}

/// The value of the one sample of `metric` with `labels`.
pub fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found = find(scrape, metric, labels);
    assert_eq!(found.len(), 1, "{metric} {labels:?}: {found:?}");
    match &found[0].value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{metric}: {other:?}"),
    }
}

/// The sum of every sample of `metric` with `labels` (0 when there is none).
pub fn total(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    find(scrape, metric, labels)
        .iter()
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{metric}: {other:?}"),
        })
        .sum()
}
