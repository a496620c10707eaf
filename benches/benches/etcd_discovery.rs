//! etcd discovery speed, against a real etcd (`etcd` and `etcdctl` on PATH: apt-get
//! install etcd-server etcd-client) and a proxy in this process:
//!
//! - **change → serving**: a key put under the watched prefix, until the membership the
//!   cluster's policy picks from holds it (median and p90 over 50 puts).
//! - **10,000 endpoints**: a proxy started on a prefix holding 10,000 of them, until
//!   its policy picks from all of them; then what a pick costs in steady state, and
//!   while one of the 10,000 changes (picks back to back through the hand-over of the
//!   new membership to the policy instances), and how soon picks answer from it.
//!
//! Run: `cargo bench -p switchyard-benches --bench etcd_discovery`.

use etcd_client::{Client, Txn, TxnOp};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use switchyard::app::App;
use switchyard::proxy::Upstream;
use switchyard_policy::{PolicyEngine, RequestInfo};

/// As in the `switchyard` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The tests' etcd server (and the temporary directory it keeps its data in); the
// bench does not stop and resume it.
#[allow(dead_code)]
#[path = "../../host/tests/common/etcd.rs"]
mod etcd;
#[path = "../../host/tests/common/temp.rs"]
mod temp;
use etcd::Etcd;
use temp::temp_dir;

const CHANGES: usize = 50;
const BIG: usize = 10_000;

fn proxy(engine: &PolicyEngine, url: &str, prefix: &str) -> App {
    let text = format!(
        "workers = 1\n[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"svc\"\n\
         [[clusters]]\nname = \"svc\"\npolicy = \"round-robin\"\n\
         discovery = {{ kind = \"etcd\", endpoints = [\"{url}\"], prefix = \"{prefix}\" }}\n"
    );
    let config = switchyard::config::parse("bench.toml", &text).unwrap();
    App::start(&config, engine).unwrap()
}

/// Picks until one answers from a membership that is `done`: how long that took.
fn until(
    upstream: &Upstream,
    done: impl Fn(&switchyard_policy::cluster::Membership) -> bool,
) -> Duration {
    let started = Instant::now();
    let request = RequestInfo::get("/");
    while !done(&upstream.pick(&request).membership) {
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
    let etcd = Etcd::start();
    let url = etcd.url();
    let mut client = runtime
        .block_on(Client::connect([url.as_str()], None))
        .unwrap();
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
        took.push(until(&upstream, |m| {
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
    until(&upstream, |m| m.len() == BIG);
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
    // One endpoint changes: picks run back to back from the put until 300 ms later,
    // through the health thread's hand-over of the new membership to the instances.
    let mut change = |n: usize| {
        let moved = address(BIG + n + 1);
        let put = client.put(format!("/bench/big/{n}"), moved.to_string(), None);
        runtime.block_on(put).unwrap();
        let put_at = Instant::now();
        let mut during = Vec::new();
        let mut first_new = None;
        while put_at.elapsed() < Duration::from_millis(300) {
            let at = Instant::now();
            let pick = upstream.pick(&request);
            during.push(at.elapsed());
            if first_new.is_none() && pick.membership.members().iter().any(|e| e.socket == moved) {
                first_new = Some(put_at.elapsed());
            }
        }
        (
            during,
            first_new.expect("the change never reached the picks"),
        )
    };
    let (mut during, mut reached) = (Vec::new(), Vec::new());
    for n in 0..5 {
        let (picks, first_new) = change(n);
        during.extend(picks);
        reached.push(first_new);
    }
    println!(
        "{BIG} endpoints: proxy start -> policy picking from all of them {:.0} ms; \
         first pick at start {:.2} ms; picks steady p50 {:.2} us, p99 {:.2} us; \
         picks while one endpoint changes (5 changes, {} picks) p50 {:.2} us, p99 {:.2} us, \
         max {:.2} ms; put -> picks answer from the new membership median {:.1} ms",
        loaded.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        percentile(steady.clone(), 0.5).as_secs_f64() * 1e6,
        percentile(steady, 0.99).as_secs_f64() * 1e6,
        during.len(),
        percentile(during.clone(), 0.5).as_secs_f64() * 1e6,
        percentile(during.clone(), 0.99).as_secs_f64() * 1e6,
        percentile(during, 1.0).as_secs_f64() * 1e3,
        percentile(reached, 0.5).as_secs_f64() * 1e3,
    );
    big.shutdown();
}
