//! What collecting load reports costs a response: `Collector::record_head` (the
//! HTTP/1.1 fast path, on the raw head) and `Collector::record` (the hyper path, on a
//! header map), for a head carrying an ORCA `TEXT` report and for one carrying none
//! (every response is scanned). Compare with the proxy's CPU per request in
//! `proxy-load.sh` (~9–19 µs here).

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use std::hint::black_box;
use switchyard::load_reports::collect::Collector;
use switchyard_policy::cluster::{EndpointLoad, LoadDecay, LoadSetup, MetricCatalog};

/// The report `proxy-load.sh ORCA=1` has its backend send.
const REPORT: &str =
    "TEXT cpu_utilization=0.42, rps_fractional=1000, eps=0.5, named_metrics.queue=3";

/// A response head as nginx sends it, with `extra` lines before the blank line.
fn head(extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 03 Dec 2026 23:00:00 GMT\r\n\
         Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n{extra}\r\n"
    )
    .into_bytes()
}

fn headers(report: bool) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in [
        ("server", "nginx"),
        ("date", "Thu, 03 Dec 2026 23:00:00 GMT"),
        ("content-type", "text/plain"),
        ("content-length", "2"),
    ] {
        map.insert(k, HeaderValue::from_static(v));
    }
    if report {
        map.insert("endpoint-load-metrics", HeaderValue::from_static(REPORT));
    }
    map
}

fn collect(c: &mut Criterion) {
    let catalog = MetricCatalog::new(true, &[]).unwrap();
    // A policy declared the named metric, as queue-aware style policies do.
    catalog
        .resolve_all(&["named_metrics.queue".to_string()])
        .unwrap();
    let collector = Collector::new(catalog.clone(), &[]);
    let load = EndpointLoad::default();
    LoadSetup {
        decay: LoadDecay::new(std::time::Duration::from_secs(10)),
        breaker: None,
        reported: Some(catalog),
    }
    .apply(&load);
    let mut group = c.benchmark_group("load_reports");
    for (name, report) in [("report", true), ("none", false)] {
        let raw = head(if report {
            "endpoint-load-metrics: TEXT cpu_utilization=0.42, rps_fractional=1000, eps=0.5, named_metrics.queue=3\r\n"
        } else {
            ""
        });
        group.bench_function(format!("record_head/{name}"), |b| {
            b.iter(|| collector.record_head(black_box(&raw), &load))
        });
        let map = headers(report);
        group.bench_function(format!("record/{name}"), |b| {
            b.iter(|| collector.record(black_box(&map), &load))
        });
    }
    group.finish();
    assert!(collector.counts().accepted > 0, "no report was stored");
    assert_eq!(collector.counts().malformed, 0);
}

criterion_group!(benches, collect);
criterion_main!(benches);
