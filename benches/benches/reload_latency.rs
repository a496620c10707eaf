//! Request latency while policies are swapped, against steady state. A client keeps
//! four kept-alive connections busy through Switchyard (one worker) to one backend in
//! three kinds of phase: no swaps; a swap every 250 ms between two versions the
//! compiled cache has; a swap every 250 ms to a version never seen (compiled in the
//! background, beside the worker). The phases take turns for several rounds, so that
//! the machine's drift hits them alike. Prints p50/p99 per kind and the ratio of each
//! p99 to the steady one, and fails if any request failed.
//!
//! `cargo bench -p switchyard-benches --bench reload_latency [-- SECONDS_PER_PHASE]`

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use switchyard::app::App;
use switchyard_benches::{reload_config, stamped};
use switchyard_policy::{PolicyEngine, builtin};

const CONNECTIONS: usize = 4;
const SWAP_EVERY: Duration = Duration::from_millis(250);
const ROUNDS: usize = 4;
const PHASES: [&str; 3] = ["steady", "swaps (cached)", "swaps (compiled)"];

/// Latencies (µs, unsorted) of requests sent back to back on `CONNECTIONS` connections for
/// `length`; counts failures in `failed`.
async fn measure(addr: SocketAddr, length: Duration, failed: &AtomicU64) -> Vec<u64> {
    let until = Instant::now() + length;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            while Instant::now() < until {
                let request = http::Request::get("/")
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let started = Instant::now();
                match send.send_request(request).await {
                    Ok(response) if response.status() == 200 => {
                        let _ = response.into_body().collect().await;
                        latencies.push(started.elapsed().as_micros() as u64);
                    }
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let (latencies, failures) = task.await.unwrap();
        all.extend(latencies);
        failed.fetch_add(failures, Relaxed);
    }
    all
}

/// Writes `versions` in turn into `file` (atomically) every `SWAP_EVERY` until `stop`;
/// the number of swaps.
fn swap_until(stop: &AtomicBool, file: &std::path::Path, versions: &[Vec<u8>]) -> usize {
    let mut swaps = 0;
    while !stop.load(Relaxed) {
        let temp = file.with_file_name(".incoming");
        std::fs::write(&temp, &versions[(swaps + 1) % versions.len()]).unwrap();
        std::fs::rename(&temp, file).unwrap();
        swaps += 1;
        std::thread::sleep(SWAP_EVERY);
    }
    swaps
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2);
    let phase = Duration::from_secs(seconds);
    let (_backend_runtime, backend) = switchyard_benches::backend();
    let dir = std::env::temp_dir().join(format!("switchyard-bench-swap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("live.wasm");
    let base = builtin("least-request").unwrap();
    let known = [stamped(base, u32::MAX), stamped(base, u32::MAX - 1)];
    std::fs::write(&file, &known[0]).unwrap();
    let config =
        switchyard::config::parse("bench", &reload_config(&dir, &backend.to_string())).unwrap();
    let engine = PolicyEngine::new().unwrap();
    let proxy = App::start(&config, &engine).unwrap();
    let addr = proxy.listener_addr("web").unwrap();
    let registry = Arc::clone(proxy.registry());
    // Have both known versions compiled and cached before measuring.
    std::fs::write(&file, &known[1]).unwrap();
    registry.rescan();
    std::fs::write(&file, &known[0]).unwrap();
    registry.rescan();

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let failed = AtomicU64::new(0);
    let mut fresh = 0u32;
    let mut latencies: [Vec<u64>; 3] = Default::default();
    let mut swaps = [0usize; 3];
    for _ in 0..ROUNDS {
        for kind in 0..PHASES.len() {
            let versions: Vec<Vec<u8>> = match kind {
                0 => Vec::new(),
                1 => known.to_vec(),
                _ => (0..seconds * 1000 / SWAP_EVERY.as_millis() as u64 + 2)
                    .map(|_| {
                        fresh += 1;
                        stamped(base, fresh)
                    })
                    .collect(),
            };
            let stop = Arc::new(AtomicBool::new(false));
            let swapper = (!versions.is_empty()).then(|| {
                let (stop, file) = (Arc::clone(&stop), file.clone());
                std::thread::spawn(move || swap_until(&stop, &file, &versions))
            });
            latencies[kind].extend(client.block_on(measure(addr, phase, &failed)));
            stop.store(true, Relaxed);
            swaps[kind] += swapper.map_or(0, |s| s.join().unwrap());
        }
    }
    println!(
        "{ROUNDS} rounds of {seconds} s per phase   requests   p50 µs   p99 µs   p99 / steady   swaps"
    );
    let mut steady_p99 = 0;
    for (kind, name) in PHASES.iter().enumerate() {
        let sorted = &mut latencies[kind];
        sorted.sort_unstable();
        let p99 = percentile(sorted, 0.99);
        if kind == 0 {
            steady_p99 = p99;
        }
        println!(
            "{name:<30} {:>9} {:>8} {:>8} {:>14.2} {:>7}",
            sorted.len(),
            percentile(sorted, 0.5),
            p99,
            p99 as f64 / steady_p99 as f64,
            swaps[kind]
        );
    }
    let failed = failed.load(Relaxed);
    println!("failed requests: {failed}");
    proxy.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(failed, 0, "requests failed during swaps");
}
