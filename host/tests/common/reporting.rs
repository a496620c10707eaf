//! Backends that report their own load, for the load-report tests: ORCA reports in
//! response headers (HTTP/1.1) or trailers (a tonic gRPC service), a Prometheus
//! `/metrics` page, all changed by the test while they run; the figures the proxy
//! shows for them in `GET /clusters`; and the weights and shares `orca-wrr` should
//! give them (gRPC's weighted_round_robin formula, computed here on its own).

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::{Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// One ORCA load report (`xds.data.orca.v3.OrcaLoadReport`), the fields the tests use.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Orca {
    pub cpu_utilization: f64,
    pub rps_fractional: f64,
    pub eps: f64,
    pub application_utilization: f64,
}

impl Orca {
    /// A report of `cpu_utilization` at `rps_fractional`, without errors.
    pub fn cpu(cpu_utilization: f64, rps_fractional: f64) -> Self {
        Self {
            cpu_utilization,
            rps_fractional,
            ..Self::default()
        }
    }

    /// The serialized protobuf, as proto3 encodes it (fields that are zero left out).
    pub fn protobuf(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (field, value) in [
            (1u8, self.cpu_utilization),
            (6, self.rps_fractional),
            (7, self.eps),
            (9, self.application_utilization),
        ] {
            if value != 0.0 {
                // Wire type 1: 64-bit, little-endian.
                out.push(field << 3 | 1);
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        out
    }

    /// The `endpoint-load-metrics-bin` value: base64 of the protobuf, padded.
    pub fn bin(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.protobuf())
    }

    /// The `endpoint-load-metrics` value in the `TEXT` form, every field written.
    pub fn text(&self) -> String {
        format!(
            "TEXT cpu_utilization={}, rps_fractional={}, eps={}, application_utilization={}",
            self.cpu_utilization, self.rps_fractional, self.eps, self.application_utilization
        )
    }
}

/// `orca-wrr`'s weight for `report` (gRPC's weighted_round_robin): `rps_fractional /
/// (utilization + penalty × eps / rps_fractional)`, utilization being
/// `application_utilization` when above 0, else `cpu_utilization`; `None` (no weight)
/// when `rps_fractional` or the utilization is 0.
pub fn wrr_weight(report: &Orca, error_utilization_penalty: f64) -> Option<f64> {
    let utilization = match report.application_utilization > 0.0 {
        true => report.application_utilization,
        false => report.cpu_utilization,
    };
    let rps = report.rps_fractional;
    if rps <= 0.0 || utilization <= 0.0 {
        return None;
    }
    Some(rps / (utilization + error_utilization_penalty * report.eps / rps))
}

/// The shares weighted round-robin gives `weights`, endpoints without a weight
/// (`None`: never reported, in blackout, or expired) taking the mean of the others'
/// (equal shares when none has one).
pub fn wrr_shares(weights: &[Option<f64>]) -> Vec<f64> {
    let known: Vec<f64> = weights.iter().flatten().copied().collect();
    let mean = match known.is_empty() {
        true => 1.0,
        false => known.iter().sum::<f64>() / known.len() as f64,
    };
    let filled: Vec<f64> = weights.iter().map(|w| w.unwrap_or(mean)).collect();
    let total: f64 = filled.iter().sum();
    filled.iter().map(|w| w / total).collect()
}

/// What a reporting backend answers at the metrics path.
#[derive(Clone, Debug)]
struct MetricsPage {
    status: u16,
    body: String,
}

/// A running backend that reports its load; the test changes what it reports.
pub struct Reporting {
    pub name: &'static str,
    pub addr: SocketAddr,
    /// Requests served, the metrics path's aside.
    pub hits: Arc<AtomicUsize>,
    /// Requests for the metrics path.
    pub scrapes: Arc<AtomicUsize>,
    /// Fields added to each response: headers (HTTP/1.1) or trailers (gRPC).
    fields: Arc<Mutex<Vec<(HeaderName, HeaderValue)>>>,
    metrics: Arc<Mutex<MetricsPage>>,
}

impl Reporting {
    /// Every response from now on carries `fields` (name, value), and nothing else
    /// of a report.
    pub fn send_fields(&self, fields: &[(&str, &str)]) {
        let fields = fields
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect();
        *self.fields.lock().unwrap() = fields;
    }

    /// Every response from now on carries `report` in `endpoint-load-metrics-bin`.
    pub fn report_bin(&self, report: &Orca) {
        self.send_fields(&[("endpoint-load-metrics-bin", &report.bin())]);
    }

    /// Every response from now on carries `report` in `endpoint-load-metrics` (TEXT).
    pub fn report_text(&self, report: &Orca) {
        self.send_fields(&[("endpoint-load-metrics", &report.text())]);
    }

    /// Responses from now on carry no report.
    pub fn stop_reporting(&self) {
        self.send_fields(&[]);
    }

    /// The metrics path answers `status` with `body` from now on.
    pub fn serve_metrics(&self, status: u16, body: &str) {
        *self.metrics.lock().unwrap() = MetricsPage {
            status,
            body: body.to_string(),
        };
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// An HTTP/1.1 (and h2c) backend answering its `name`, with the report fields set in
/// its response headers; `GET /metrics` answers the page set by `serve_metrics`
/// (200, empty at first).
pub async fn http(name: &'static str) -> Reporting {
    let (backend, parts) = Reporting::new(name).await;
    let Parts {
        listener,
        hits,
        scrapes,
        fields,
        metrics,
    } = parts;
    serve(listener, move || {
        let (hits, scrapes) = (Arc::clone(&hits), Arc::clone(&scrapes));
        let (fields, metrics) = (Arc::clone(&fields), Arc::clone(&metrics));
        service_fn(move |request: Request<Incoming>| {
            let response = if request.uri().path() == "/metrics" {
                scrapes.fetch_add(1, Relaxed);
                let page = metrics.lock().unwrap().clone();
                let mut response = Response::new(full(page.body));
                *response.status_mut() = http::StatusCode::from_u16(page.status).unwrap();
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                response
            } else {
                hits.fetch_add(1, Relaxed);
                let mut response = Response::new(full(name.to_string()));
                let headers = response.headers_mut();
                headers.insert("x-backend", HeaderValue::from_static(name));
                for (k, v) in fields.lock().unwrap().iter() {
                    headers.insert(k.clone(), v.clone());
                }
                response
            };
            async move { Ok::<_, Infallible>(response) }
        })
    });
    backend
}

/// A tonic gRPC server (the `grpc.health.v1` service, everything SERVING) whose
/// responses carry the report fields set in their trailers, after `grpc-status`, as
/// gRPC servers send ORCA reports.
pub async fn grpc(name: &'static str) -> Reporting {
    use tonic::codegen::Service as _;
    let (backend, parts) = Reporting::new(name).await;
    let Parts {
        listener,
        hits,
        fields,
        ..
    } = parts;
    // The server as a whole (service "") is SERVING.
    let (_, health) = tonic_health::server::health_reporter();
    serve(listener, move || {
        let (hits, fields) = (Arc::clone(&hits), Arc::clone(&fields));
        let health = health.clone();
        service_fn(move |request: Request<Incoming>| {
            hits.fetch_add(1, Relaxed);
            let mut health = health.clone();
            let fields = Arc::clone(&fields);
            async move {
                let response = health.call(request).await.unwrap();
                Ok::<_, Infallible>(response.map(|inner| WithTrailers { inner, fields }))
            }
        })
    });
    backend
}

/// Serves every connection `listener` accepts (HTTP/1.1 or h2c) with a service from
/// `service`, until the test's runtime ends.
fn serve<S, B>(listener: tokio::net::TcpListener, service: impl Fn() -> S + Send + 'static)
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service();
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// What a backend's server task takes.
struct Parts {
    listener: tokio::net::TcpListener,
    hits: Arc<AtomicUsize>,
    scrapes: Arc<AtomicUsize>,
    fields: Arc<Mutex<Vec<(HeaderName, HeaderValue)>>>,
    metrics: Arc<Mutex<MetricsPage>>,
}

impl Reporting {
    async fn new(name: &'static str) -> (Self, Parts) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend = Self {
            name,
            addr: listener.local_addr().unwrap(),
            hits: Arc::default(),
            scrapes: Arc::default(),
            fields: Arc::default(),
            metrics: Arc::new(Mutex::new(MetricsPage {
                status: 200,
                body: String::new(),
            })),
        };
        let parts = Parts {
            listener,
            hits: Arc::clone(&backend.hits),
            scrapes: Arc::clone(&backend.scrapes),
            fields: Arc::clone(&backend.fields),
            metrics: Arc::clone(&backend.metrics),
        };
        (backend, parts)
    }
}

fn full(text: String) -> Body {
    BoxBody::new(Full::new(Bytes::from(text)))
}

/// A tonic response body with `fields` added to its trailers.
struct WithTrailers {
    inner: tonic::body::Body,
    fields: Arc<Mutex<Vec<(HeaderName, HeaderValue)>>>,
}

impl http_body::Body for WithTrailers {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        match frame.into_trailers() {
            Ok(mut trailers) => {
                for (k, v) in self.fields.lock().unwrap().iter() {
                    trailers.insert(k.clone(), v.clone());
                }
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Err(frame) => Poll::Ready(Some(Ok(frame))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Calls `check` until it answers `Some`, every 20 ms, for up to `limit`; panics
/// with `what` and the last answer's description when it does not.
pub async fn poll_until<T>(
    limit: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> (T, Duration) {
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return (value, started.elapsed()),
            Err(last) if started.elapsed() >= limit => {
                panic!("{what}: not within {limit:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// `GET /clusters` from the admin listener at `admin`: cluster `name`'s entry.
pub async fn cluster(admin: SocketAddr, name: &str) -> serde_json::Value {
    let all = super::client::json(admin, "/clusters").await;
    all["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no cluster {name:?} in {all}"))
        .clone()
}

/// The latest reading of `metric` that endpoint `addr` reported, in a cluster's
/// entry of `GET /clusters`: value and age in milliseconds; `None` when never.
pub fn reading(cluster: &serde_json::Value, addr: SocketAddr, metric: &str) -> Option<(f64, u64)> {
    let endpoint = cluster["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["address"] == addr.to_string())
        .unwrap_or_else(|| panic!("no endpoint {addr} in {cluster}"));
    let reported = &endpoint["reported"];
    assert!(
        reported.is_object(),
        "{addr} shows no reported metrics: {endpoint}"
    );
    let reading = &reported[metric];
    if reading.is_null() {
        return None;
    }
    Some((
        reading["value"].as_f64().unwrap(),
        reading["age_ms"].as_u64().unwrap(),
    ))
}

/// A counter of a cluster's `load_reports` in `GET /clusters`: `accepted`, `malformed`,
/// `scraped` or `scrape_failures`.
pub fn report_count(cluster: &serde_json::Value, counter: &str) -> u64 {
    cluster["load_reports"][counter]
        .as_u64()
        .unwrap_or_else(|| panic!("no load_reports.{counter} in {cluster}"))
}

/// Each backend's share of the requests they served while `send` ran (by their own
/// counts), and how many that was in all.
pub async fn served_shares(backends: &[&Reporting], send: impl AsyncFnOnce()) -> (Vec<f64>, usize) {
    let before: Vec<usize> = backends.iter().map(|b| b.hits.load(Relaxed)).collect();
    send().await;
    let served: Vec<usize> = backends
        .iter()
        .zip(&before)
        .map(|(b, before)| b.hits.load(Relaxed) - before)
        .collect();
    let total: usize = served.iter().sum();
    let shares = served
        .iter()
        .map(|&n| n as f64 / total.max(1) as f64)
        .collect();
    (shares, total)
}

/// Whether every share is within `tolerance` of the expected one.
pub fn shares_match(shares: &[f64], expected: &[f64], tolerance: f64) -> bool {
    shares.len() == expected.len()
        && shares
            .iter()
            .zip(expected)
            .all(|(s, e)| (s - e).abs() <= tolerance)
}

/// Shares for a log line: `0.571 0.286 0.143`.
pub fn fmt_shares(shares: &[f64]) -> String {
    shares
        .iter()
        .map(|s| format!("{s:.3}"))
        .collect::<Vec<_>>()
        .join(" ")
}
