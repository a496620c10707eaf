//! etcd discovery speed, against a real etcd (`etcd` on PATH: apt-get install
//! etcd-server) and a proxy in this process:
//!
//! - **change → serving**: a key put under the watched prefix, until the membership the
//!   cluster's policy picks from holds it (median and p90 over 50 puts).
//! - **10,000 endpoints**: a proxy started on a prefix holding 10,000 of them, until
//!   its policy picks from all of them; then what a pick costs in steady state, and the
//!   first pick after one of the 10,000 changed: at once (racing the hand-over of the
//!   new membership to the idle policy instances) and 100 ms later.
//!
//! Run: `cargo bench -p switchyard-benches --bench etcd_discovery`.

use etcd_client::{Client, Txn, TxnOp};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use switchyard::policy::{PolicyEngine, RequestInfo};
use switchyard::proxy::{Proxy, Upstream};

/// As in the `switchyard` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHANGES: usize = 50;
const BIG: usize = 10_000;

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// etcd on a temporary directory; killed when dropped.
struct Etcd(Child, std::path::PathBuf);

impl Etcd {
    fn start(client: u16) -> Self {
        let dir =
            std::env::temp_dir().join(format!("switchyard-bench-etcd-{}", std::process::id()));
        let peer = format!("http://127.0.0.1:{}", free_port());
        let url = format!("http://127.0.0.1:{client}");
        let child = Command::new("etcd")
            .args(["--data-dir", dir.to_str().unwrap()])
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("default={peer}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd on PATH (apt-get install etcd-server)");
        Self(child, dir)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn proxy(engine: &PolicyEngine, url: &str, prefix: &str) -> Proxy {
    let text = format!(
        "workers = 1\n[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"svc\"\n\
         [[clusters]]\nname = \"svc\"\npolicy = \"round-robin\"\n\
         discovery = {{ kind = \"etcd\", endpoints = [\"{url}\"], prefix = \"{prefix}\" }}\n"
    );
    let config = switchyard::config::parse("bench.toml", &text).unwrap();
    Proxy::start(&config, engine).unwrap()
}

/// Spins until `done` holds for the cluster's current membership; the time taken.
fn until(upstream: &Upstream, done: impl Fn(&switchyard::cluster::Membership) -> bool) -> Duration {
    let started = Instant::now();
    while !done(&upstream.membership()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "membership never arrived"
        );
        std::thread::sleep(Duration::from_micros(100));
    }
    started.elapsed()
}

fn percentile(mut samples: Vec<Duration>, q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

fn address(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, (i / 250) as u8, (i % 250) as u8 + 1], 8080))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _etcd = Etcd::start(port);
    let mut client = runtime.block_on(async {
        let started = Instant::now();
        loop {
            let client = Client::connect([url.as_str()], None).await.unwrap();
            if client.clone().get("/", None).await.is_ok() {
                break client;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "etcd did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let engine = PolicyEngine::new().unwrap();

    // Change → serving.
    let small = proxy(&engine, &url, "/bench/small/");
    let upstream = small.upstream("svc").unwrap();
    let mut took = Vec::new();
    for i in 0..CHANGES {
        let address = address(i);
        runtime
            .block_on(client.put(format!("/bench/small/{i}"), address.to_string(), None))
            .unwrap();
        took.push(until(upstream, |m| {
            m.members().iter().any(|e| e.socket == address)
        }));
    }
    println!(
        "etcd put -> membership serving: median {:.1} ms, p90 {:.1} ms over {CHANGES} puts",
        percentile(took.clone(), 0.5).as_secs_f64() * 1e3,
        percentile(took, 0.9).as_secs_f64() * 1e3
    );
    small.shutdown();

    // 10,000 endpoints.
    for batch in (0..BIG).collect::<Vec<_>>().chunks(128) {
        let ops: Vec<TxnOp> = batch
            .iter()
            .map(|i| TxnOp::put(format!("/bench/big/{i}"), address(*i).to_string(), None))
            .collect();
        runtime
            .block_on(client.txn(Txn::new().and_then(ops)))
            .unwrap();
    }
    let started = Instant::now();
    let big = proxy(&engine, &url, "/bench/big/");
    let upstream = big.upstream("svc").unwrap();
    until(upstream, |m| m.len() == BIG);
    let loaded = started.elapsed();
    let request = RequestInfo::get("/");
    let first = Instant::now();
    upstream.pick(&request);
    let first = first.elapsed();
    let steady: Vec<Duration> = (0..10_000)
        .map(|_| {
            let at = Instant::now();
            upstream.pick(&request);
            at.elapsed()
        })
        .collect();
    // One endpoint changes; the first pick right when the new membership is visible
    // (racing the health thread, which hands it to the idle policy instances one at
    // a time), and after another change, the first pick 100 ms later.
    let mut change = |n: usize, settle: Duration| {
        runtime
            .block_on(client.put(
                format!("/bench/big/{n}"),
                address(BIG + n + 1).to_string(),
                None,
            ))
            .unwrap();
        until(upstream, |m| {
            m.members().iter().any(|e| e.socket == address(BIG + n + 1))
        });
        std::thread::sleep(settle);
        let at = Instant::now();
        upstream.pick(&request);
        at.elapsed()
    };
    let racing = change(0, Duration::ZERO);
    let settled = change(1, Duration::from_millis(100));
    println!(
        "{BIG} endpoints: proxy start -> policy picking from all of them {:.0} ms; \
         picks p50 {:.2} us, p99 {:.2} us; first pick at start {:.2} ms; after one endpoint \
         changed, first pick at once {:.2} ms, 100 ms later {:.3} ms",
        loaded.as_secs_f64() * 1e3,
        percentile(steady.clone(), 0.5).as_secs_f64() * 1e6,
        percentile(steady, 0.99).as_secs_f64() * 1e6,
        first.as_secs_f64() * 1e3,
        racing.as_secs_f64() * 1e3,
        settled.as_secs_f64() * 1e3
    );
    big.shutdown();
}
