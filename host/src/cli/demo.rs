//! `switchyard demo`: three local backends of different speeds, a proxy on the
//! embedded default policy in front of them, a burst of traffic, and a table of how it
//! spread. Then it keeps serving until Ctrl-C (unless `--once`).

use super::signals::Signals;
use crate::app::App;
use crate::config::Config;
use crate::proxy::Upstream;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};
use switchyard_policy::{DEFAULT_POLICY, PolicyEngine};

/// The demo's backends: name and how long each takes to answer.
const BACKENDS: [(&str, Duration); 3] = [
    ("alpha", Duration::from_millis(1)),
    ("bravo", Duration::from_millis(3)),
    ("charlie", Duration::from_millis(8)),
];
/// Concurrent client connections in the burst.
const CONNECTIONS: usize = 16;

/// Runs the demo.
pub fn run(once: bool, listen: SocketAddr, requests: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let backends = runtime.block_on(async {
        let mut addrs = Vec::new();
        for (name, delay) in BACKENDS {
            addrs.push(backend(name, delay).await?);
        }
        anyhow::Ok(addrs)
    })?;
    let signals = runtime.block_on(async { Signals::install() })?;
    let config = demo_config(listen, &backends)?;
    let engine = PolicyEngine::new().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let proxy = App::start(&config, &engine)?;
    let addr = proxy.listener_addr("demo").expect("the demo listener");
    let upstream = proxy.upstream("demo").expect("the demo cluster");
    println!(
        "Switchyard demo: proxy on http://{addr}, policy `{DEFAULT_POLICY}` (embedded WebAssembly component)"
    );
    for ((name, delay), backend) in BACKENDS.iter().zip(&backends) {
        println!("  backend {name:<8} on {backend}, answers in ~{delay:?}");
    }

    let started = Instant::now();
    let failures = runtime.block_on(burst(addr, requests, &upstream, &backends))?;
    let elapsed = started.elapsed();
    print_table(&upstream, &backends);
    println!(
        "{requests} requests in {:.2} s ({:.0} req/s), {failures} failed",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64()
    );
    if !once {
        println!("Still serving: try `curl http://{addr}/`. Ctrl-C to stop.");
        runtime.block_on(super::run::serve_until_stopped(signals, &proxy));
    }
    proxy.shutdown();
    anyhow::ensure!(failures == 0, "{failures} demo requests failed");
    Ok(())
}

fn demo_config(listen: SocketAddr, backends: &[SocketAddr]) -> anyhow::Result<Config> {
    let endpoints: Vec<String> = backends
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    let text = format!(
        "workers = 2\n\
         [[listeners]]\nname = \"demo\"\nlisten = \"{listen}\"\ncluster = \"demo\"\n\
         [[clusters]]\nname = \"demo\"\npolicy = \"{DEFAULT_POLICY}\"\nendpoints = [{}]\n",
        endpoints.join(", ")
    );
    Ok(crate::config::parse("(demo)", &text)?)
}

/// A backend on 127.0.0.1 (HTTP/1.1 and h2c) that answers every request with its name
/// after `delay`. Used by the demo and the benches.
pub async fn backend(name: &'static str, delay: Duration) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(move |_request| async move {
                // Even a zero sleep waits for the timer's next millisecond tick.
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(format!(
                    "{name}\n"
                )))))
            });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// Sends `total` GETs over [`CONNECTIONS`] connections, drawing a progress bar with the
/// live table's in-flight figures. Returns how many failed.
async fn burst(
    addr: SocketAddr,
    total: usize,
    upstream: &Upstream,
    backends: &[SocketAddr],
) -> anyhow::Result<usize> {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (next, done, failed) = (Arc::clone(&next), Arc::clone(&done), Arc::clone(&failed));
        clients.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            while next.fetch_add(1, Relaxed) < total {
                let request = http::Request::get("/")
                    .header(http::header::HOST, "demo")
                    .body(Empty::<Bytes>::new())?;
                let ok = match send.send_request(request).await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        response.into_body().collect().await.is_ok() && ok
                    }
                    Err(_) => false,
                };
                if !ok {
                    failed.fetch_add(1, Relaxed);
                }
                done.fetch_add(1, Relaxed);
            }
            anyhow::Ok(())
        });
    }
    let tty = std::io::stdout().is_terminal();
    while done.load(Relaxed) < total && !clients.is_empty() {
        tokio::select! {
            Some(result) = clients.join_next() => result??,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if tty {
                    progress(done.load(Relaxed), total, upstream, backends);
                }
            }
        }
    }
    while let Some(result) = clients.join_next().await {
        result??;
    }
    if tty {
        print!("\r\x1b[K");
    }
    Ok(failed.load(Relaxed))
}

fn progress(done: usize, total: usize, upstream: &Upstream, backends: &[SocketAddr]) {
    const WIDTH: usize = 30;
    let filled = done * WIDTH / total.max(1);
    let membership = upstream.membership();
    let in_flight: Vec<String> = BACKENDS
        .iter()
        .zip(backends)
        .map(|((name, _), addr)| {
            let n = membership
                .members()
                .iter()
                .find(|m| m.socket == *addr)
                .map_or(0, |m| m.load.in_flight());
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
        let Some(member) = membership.members().iter().find(|m| m.socket == *addr) else {
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
