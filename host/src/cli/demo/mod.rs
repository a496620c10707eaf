//! `switchyard demo`: three local backends of different speeds and a proxy in front of
//! them, on the embedded round-robin policy. A burst of traffic shows round-robin
//! giving each backend a third however slow; then, with traffic flowing, the demo
//! hot-swaps to the embedded `peak-ewma` and shares move to the fast backend; it kills
//! that backend (shares move away from it) and revives it. The admin console follows
//! it all at `http://ADMIN/`. Then it keeps serving until Ctrl-C (unless `--once`).

mod backend;
mod traffic;

pub use backend::backend;

use super::signals::Signals;
use crate::app::App;
use crate::config::Config;
use crate::proxy::Upstream;
use backend::Backend;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use switchyard_policy::cluster::{Health, Member};
use switchyard_policy::{DEFAULT_POLICY, PolicyEngine};
use traffic::Traffic;

/// The demo's backends: name and how long each takes to answer.
const BACKENDS: [(&str, Duration); 3] = [
    ("alpha", Duration::from_millis(1)),
    ("bravo", Duration::from_millis(3)),
    ("charlie", Duration::from_millis(8)),
];
/// Concurrent client connections.
const CONNECTIONS: usize = 16;
/// The latency-aware policy the demo swaps to.
const SWAP_TO: &str = "peak-ewma";

/// Where the demo listens.
pub struct DemoAddrs {
    /// The proxy.
    pub listen: SocketAddr,
    /// The admin API and console.
    pub admin: SocketAddr,
}

/// Runs the demo: `requests` in the round-robin burst; `once`, shorter phases and no
/// serving afterwards.
pub fn run(once: bool, addrs: DemoAddrs, requests: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut backends = runtime.block_on(async {
        let mut started = Vec::new();
        for (name, delay) in BACKENDS {
            started.push(Backend::start(SocketAddr::from(([127, 0, 0, 1], 0)), name, delay).await?);
        }
        anyhow::Ok(started)
    })?;
    let addrs_of: Vec<SocketAddr> = backends.iter().map(Backend::addr).collect();
    let signals = runtime.block_on(async { Signals::install() })?;
    let config = demo_config(&addrs, &addrs_of)?;
    let engine = PolicyEngine::new().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let proxy = App::start(&config, &engine)?;
    let addr = proxy.listener_addr("demo").expect("the demo listener");
    let upstream = proxy.upstream("demo").expect("the demo cluster");
    println!(
        "Switchyard demo: proxy on http://{addr}, policy `{DEFAULT_POLICY}` (embedded WebAssembly component)"
    );
    for ((name, delay), backend) in BACKENDS.iter().zip(&addrs_of) {
        println!("  backend {name:<8} on {backend}, answers in ~{delay:?}");
    }
    if let Some(admin) = proxy.admin_addr() {
        println!("  console  http://{admin}/  (open it in a browser to watch the shares move)");
    }

    println!("\n1. {DEFAULT_POLICY}: every backend gets a third, however slow it is");
    let started = Instant::now();
    let failures = runtime.block_on(burst(addr, requests, &upstream, &addrs_of))?;
    let elapsed = started.elapsed();
    print_table(&upstream, &addrs_of);
    println!(
        "{requests} requests in {:.2} s ({:.0} req/s), {failures} failed",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64()
    );

    let phase = if once {
        Duration::from_millis(1500)
    } else {
        Duration::from_secs(5)
    };
    let traffic =
        runtime.block_on(async { Traffic::start(addr, CONNECTIONS, None, Duration::ZERO) });
    println!("\n2. hot swap to `{SWAP_TO}` (embedded) while traffic flows: shares follow latency");
    let binding = upstream.binding();
    proxy
        .registry()
        .switch(binding, SWAP_TO, Vec::new())
        .map_err(|e| anyhow::anyhow!("cannot swap to {SWAP_TO}: {e}"))?;
    runtime.block_on(watch(phase, &upstream, &addrs_of, &traffic));

    let (killed, delay) = BACKENDS[0];
    println!("\n3. {killed} dies: the proxy retries elsewhere, health checks take it out");
    backends.remove(0).kill();
    runtime.block_on(watch(phase, &upstream, &addrs_of, &traffic));

    println!("\n4. {killed} comes back: its share returns");
    let revived = runtime.block_on(Backend::start(addrs_of[0], killed, delay))?;
    backends.insert(0, revived);
    runtime.block_on(watch(phase, &upstream, &addrs_of, &traffic));
    let moving_failures = runtime.block_on(traffic.stop())?;
    println!("{moving_failures} of the requests sent while swapping, killing and reviving failed");

    if !once {
        // A trickle, so that the console has something to show.
        let trickle =
            runtime.block_on(async { Traffic::start(addr, 4, None, Duration::from_millis(20)) });
        println!(
            "\nStill serving, with a trickle of traffic: try `curl http://{addr}/`. Ctrl-C to stop."
        );
        runtime.block_on(super::run::serve_until_stopped(signals, &proxy));
        runtime.block_on(trickle.stop())?;
    }
    proxy.shutdown();
    anyhow::ensure!(
        failures + moving_failures == 0,
        "{} demo requests failed",
        failures + moving_failures
    );
    Ok(())
}

fn demo_config(addrs: &DemoAddrs, backends: &[SocketAddr]) -> anyhow::Result<Config> {
    let endpoints: Vec<String> = backends
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    // Retries take a request a dead backend refuses elsewhere; fast TCP probes take
    // the backend out and bring it back.
    let text = format!(
        "workers = 2\n\
         [admin]\nlisten = \"{admin}\"\n\
         [[listeners]]\nname = \"demo\"\nlisten = \"{listen}\"\ncluster = \"demo\"\n\
         [[clusters]]\nname = \"demo\"\npolicy = \"{DEFAULT_POLICY}\"\nendpoints = [{}]\n\
         [clusters.retries]\nattempts = 3\nbackoff_base = \"1ms\"\nbackoff_max = \"5ms\"\n\
         [clusters.health_check]\nkind = \"tcp\"\ninterval = \"250ms\"\ntimeout = \"200ms\"\n\
         healthy_threshold = 1\nunhealthy_threshold = 1\n",
        endpoints.join(", "),
        admin = addrs.admin,
        listen = addrs.listen,
    );
    Ok(crate::config::parse("(demo)", &text)?)
}

/// Sends `total` GETs over [`CONNECTIONS`] connections, drawing a progress bar with the
/// live table's in-flight figures. Returns how many failed.
async fn burst(
    addr: SocketAddr,
    total: usize,
    upstream: &Upstream,
    backends: &[SocketAddr],
) -> anyhow::Result<usize> {
    let traffic = Traffic::start(addr, CONNECTIONS, Some(total), Duration::ZERO);
    if std::io::stdout().is_terminal() {
        while traffic.done() < total && traffic.running() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            progress(traffic.done(), total, upstream, backends);
        }
        print!("\r\x1b[K");
    }
    traffic.finish().await
}

/// For `length`, once a second: each backend's share of that second's requests, its
/// p99 so far, and whether it is down.
async fn watch(length: Duration, upstream: &Upstream, backends: &[SocketAddr], traffic: &Traffic) {
    let started = Instant::now();
    let mut before = completed(upstream, backends);
    let mut sent = traffic.done();
    while started.elapsed() < length {
        let step = Duration::from_secs(1).min(length.saturating_sub(started.elapsed()));
        tokio::time::sleep(step.max(Duration::from_millis(100))).await;
        let now = completed(upstream, backends);
        let total: u64 = now.iter().zip(&before).map(|(n, b)| n.0 - b.0).sum();
        let cells: Vec<String> = BACKENDS
            .iter()
            .zip(now.iter().zip(&before))
            .map(|((name, _), (n, b))| {
                let share = (n.0 - b.0) as f64 * 100.0 / total.max(1) as f64;
                let down = if n.1 == Health::Unavailable {
                    " down"
                } else {
                    ""
                };
                format!("{name} {share:>5.1}%{down:<5}")
            })
            .collect();
        let done = traffic.done();
        println!(
            "  {:>4.1} s  {}  {:>6.0} req/s, {} failed",
            started.elapsed().as_secs_f64(),
            cells.join("  "),
            (done - sent) as f64 / step.as_secs_f64().max(0.1),
            traffic.failed()
        );
        before = now;
        sent = done;
    }
}

/// Each backend's requests finished so far and its health.
fn completed(upstream: &Upstream, backends: &[SocketAddr]) -> Vec<(u64, Health)> {
    let membership = upstream.membership();
    backends
        .iter()
        .map(|addr| {
            member(membership.members(), *addr)
                .map_or((0, Health::Unavailable), |m| (m.load.completed(), m.health))
        })
        .collect()
}

/// The member of the demo's cluster at backend `addr`.
fn member(members: &[Member], addr: SocketAddr) -> Option<&Member> {
    members.iter().find(|m| m.socket == addr)
}

fn progress(done: usize, total: usize, upstream: &Upstream, backends: &[SocketAddr]) {
    const WIDTH: usize = 30;
    let filled = done * WIDTH / total.max(1);
    let membership = upstream.membership();
    let in_flight: Vec<String> = BACKENDS
        .iter()
        .zip(backends)
        .map(|((name, _), addr)| {
            let n = member(membership.members(), *addr).map_or(0, |m| m.load.in_flight());
            format!("{name} {n}")
        })
        .collect();
    print!(
        "\r[{}{}] {done}/{total}  in flight: {}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled),
        in_flight.join(", ")
    );
    let _ = std::io::stdout().flush();
}

fn print_table(upstream: &Upstream, backends: &[SocketAddr]) {
    let membership = upstream.membership();
    let total: u64 = membership
        .members()
        .iter()
        .map(|m| m.load.completed())
        .sum();
    println!(
        "{:<9} {:<22} {:>8} {:>7} {:>9} {:>9} {:>9}",
        "backend", "address", "requests", "share", "p50", "p99", "in-flight"
    );
    for ((name, _), addr) in BACKENDS.iter().zip(backends) {
        let Some(member) = member(membership.members(), *addr) else {
            continue;
        };
        let load = &member.load;
        let ms = |q: f64| {
            load.latency().quantile(q).map_or("-".to_string(), |d| {
                format!("{:.1} ms", d.as_secs_f64() * 1e3)
            })
        };
        println!(
            "{:<9} {:<22} {:>8} {:>6.1}% {:>9} {:>9} {:>9}",
            name,
            member.address,
            load.completed(),
            load.completed() as f64 * 100.0 / total.max(1) as f64,
            ms(0.5),
            ms(0.99),
            load.in_flight()
        );
    }
}
