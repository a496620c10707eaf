//! Health checking cost and speed, on a running proxy:
//!
//! - **probe cost**: 1,000 endpoints probed every second (HTTP `GET /health` on kept
//!   connections, and TCP connects); CPU time of the proxy's two health threads (probing
//!   and judging) over the run, as a share of one core.
//! - **detection**: an endpoint whose listener and connections are closed; time until
//!   the membership shows it unavailable, against interval × unhealthy threshold.
//!
//! Run: `cargo bench -p switchyard-benches --bench health_probes`. Medians of several
//! rounds; the backends run on a thread of their own and are not counted.

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use switchyard::app::App;
use switchyard_policy::PolicyEngine;
use switchyard_policy::cluster::Health;
use tokio::sync::watch;

/// As in the `switchyard` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ENDPOINTS: usize = 1_000;
const RUN: Duration = Duration::from_secs(10);
const ROUNDS: usize = 3;

/// HTTP backends answering `200 ok` on every path, each closable on its own; they count
/// the connections they accept and the requests they answer.
struct Backends {
    addrs: Vec<SocketAddr>,
    seen: Arc<AtomicU64>,
    kill: Vec<watch::Sender<bool>>,
    _runtime: tokio::runtime::Runtime,
}

impl Backends {
    fn start(n: usize) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut addrs = Vec::new();
        let mut kill = Vec::new();
        let seen = Arc::new(AtomicU64::new(0));
        for _ in 0..n {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            addrs.push(listener.local_addr().unwrap());
            let (stop, stopped) = watch::channel(false);
            kill.push(stop);
            runtime.spawn(serve(listener, stopped, Arc::clone(&seen)));
        }
        Self {
            addrs,
            seen,
            kill,
            _runtime: runtime,
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    mut stopped: watch::Receiver<bool>,
    seen: Arc<AtomicU64>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => accepted.unwrap().0,
            _ = stopped.changed() => return,
        };
        let mut stopped = stopped.clone();
        seen.fetch_add(1, Relaxed);
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let service = service_fn(move |_| {
                seen.fetch_add(1, Relaxed);
                async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

fn config(addrs: &[SocketAddr], check: &str) -> String {
    let endpoints: Vec<String> = addrs
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    format!(
        "workers = 1\n[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\nendpoints = [{}]\n[clusters.health_check]\n{check}",
        endpoints.join(", ")
    )
}

/// CPU time the named thread of this process has used.
fn thread_cpu(name: &str) -> Duration {
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if name.starts_with(comm.trim()) && !comm.trim().is_empty() {
            let schedstat = std::fs::read_to_string(task.path().join("schedstat")).unwrap();
            let ns: u64 = schedstat
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
            total += Duration::from_nanos(ns);
        }
    }
    total
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn probe_cost(engine: &PolicyEngine, backends: &Backends, kind: &str) -> f64 {
    let check = format!("kind = \"{kind}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n");
    let text = config(&backends.addrs, &check);
    let config = switchyard::config::parse("bench.toml", &text).unwrap();
    let proxy = App::start(&config, engine).unwrap();
    // The first second spreads the probes and opens the kept connections.
    std::thread::sleep(Duration::from_secs(2));
    let threads = || {
        (
            thread_cpu("switchyard-probe"),
            thread_cpu("switchyard-health"),
        )
    };
    let ((probing, judging), wall, seen) = (threads(), Instant::now(), backends.seen.load(Relaxed));
    std::thread::sleep(RUN);
    let (probed, judged) = threads();
    let secs = wall.elapsed().as_secs_f64();
    let share = ((probed - probing) + (judged - judging)).as_secs_f64() / secs;
    println!(
        "  {kind}: probing thread {:.2}%, judging thread {:.2}%",
        (probed - probing).as_secs_f64() / secs * 100.0,
        (judged - judging).as_secs_f64() / secs * 100.0
    );
    let rate = (backends.seen.load(Relaxed) - seen) as f64 / secs;
    // Each probe is an accepted connection (TCP) or a request (HTTP, kept connection).
    assert!(
        rate > 0.9 * ENDPOINTS as f64,
        "{kind}: only {rate:.0} probes/s reached the backends"
    );
    let membership = proxy.upstream("api").unwrap().membership();
    assert!(
        membership
            .members()
            .iter()
            .all(|m| m.health == Health::Healthy)
    );
    proxy.shutdown();
    share
}

fn detection(engine: &PolicyEngine, interval_ms: u64, threshold: u32) -> Duration {
    let backends = Backends::start(3);
    let check = format!(
        "interval = \"{interval_ms}ms\"\ntimeout = \"100ms\"\njitter = \"0ms\"\nunhealthy_threshold = {threshold}\n"
    );
    let text = config(&backends.addrs, &check);
    let config = switchyard::config::parse("bench.toml", &text).unwrap();
    let proxy = App::start(&config, engine).unwrap();
    std::thread::sleep(Duration::from_millis(interval_ms * 2 + 137));
    let upstream = proxy.upstream("api").unwrap();
    backends.kill[2].send(true).unwrap();
    let killed = Instant::now();
    while upstream.membership().members()[2].health != Health::Unavailable {
        assert!(killed.elapsed() < Duration::from_secs(10), "never detected");
        std::thread::sleep(Duration::from_millis(1));
    }
    let detected = killed.elapsed();
    proxy.shutdown();
    detected
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let engine = PolicyEngine::new().unwrap();
    let backends = Backends::start(ENDPOINTS);
    for kind in ["http", "tcp"] {
        let shares: Vec<f64> = (0..ROUNDS)
            .map(|_| probe_cost(&engine, &backends, kind))
            .collect();
        println!(
            "probe cost, {ENDPOINTS} endpoints/s, {kind}: median {:.2}% of one core (rounds: {})",
            median(shares.clone()) * 100.0,
            shares
                .iter()
                .map(|s| format!("{:.2}%", s * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let (interval_ms, threshold) = (200, 2);
    let times: Vec<f64> = (0..5)
        .map(|_| detection(&engine, interval_ms, threshold).as_secs_f64() * 1e3)
        .collect();
    println!(
        "detection, interval {interval_ms} ms × threshold {threshold} (target ≤ {} ms): median {:.0} ms, max {:.0} ms",
        interval_ms * u64::from(threshold) + 100,
        median(times.clone()),
        times.iter().cloned().fold(0.0, f64::max)
    );
}
