//! Configuration reload to serving: a proxy (one worker, `[config] watch = true`) runs a
//! configuration of 50 clusters of 10 endpoints with built-in policies and a route per
//! cluster; a new version of the file is written elsewhere and renamed into place, and
//! the time until a request on a kept-alive connection is served by the new mapping is
//! measured. Two kinds of change: a route moved (every cluster kept), and every
//! cluster's timeouts changed (every cluster built anew, policies from the compiled
//! cache). Prints the median and p90 of each, and fails if a request failed.
//!
//! `cargo bench -p switchyard-benches --bench config_reload [-- RELOADS]`

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::time::{Duration, Instant};
use switchyard::app::App;
use switchyard_policy::PolicyEngine;

const CLUSTERS: usize = 50;
const ENDPOINTS: usize = 10;
const POLICIES: [&str; 4] = ["round-robin", "least-request", "peak-ewma", "random"];

/// The configuration: `/moving` goes to cluster `moving_to` (`a` or `b`, the real
/// backends); 50 clusters of 10 (unreached) endpoints with a route each, their request
/// timeout `timeout`.
fn config(a: &str, b: &str, moving_to: &str, timeout: &str) -> String {
    let mut text = String::from(
        "workers = 1\n[config]\nwatch = true\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n\
         [[listeners.routes]]\nmatch = { path = \"/moving\" }\n",
    );
    text += &format!("cluster = \"{moving_to}\"\n");
    for i in 0..CLUSTERS {
        text += &format!(
            "[[listeners.routes]]\nmatch = {{ path_prefix = \"/c{i}\" }}\ncluster = \"c{i}\"\n"
        );
    }
    for (name, addr) in [("a", a), ("b", b)] {
        text +=
            &format!("[[clusters]]\nname = \"{name}\"\nendpoints = [{{ address = \"{addr}\" }}]\n");
    }
    for i in 0..CLUSTERS {
        let endpoints: Vec<String> = (0..ENDPOINTS)
            .map(|j| format!("{{ address = \"127.0.{}.{}:9\" }}", 1 + i, 1 + j))
            .collect();
        text += &format!(
            "[[clusters]]\nname = \"c{i}\"\npolicy = \"{}\"\nendpoints = [{}]\n\
             timeouts = {{ request = \"{timeout}\" }}\n",
            POLICIES[i % POLICIES.len()],
            endpoints.join(", ")
        );
    }
    text
}

/// Writes `text` elsewhere and renames it over `file`.
fn replace(file: &Path, text: &str) {
    let staged = file.with_file_name("incoming.toml");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, file).unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let reloads: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let backends = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (a, b) = backends.block_on(async {
        let a = switchyard::cli::demo_backend("a", Duration::ZERO)
            .await
            .unwrap();
        let b = switchyard::cli::demo_backend("b", Duration::ZERO)
            .await
            .unwrap();
        (a.to_string(), b.to_string())
    });
    let dir = std::env::temp_dir().join(format!("switchyard-bench-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("switchyard.toml");
    replace(&file, &config(&a, &b, "a", "3s"));
    let engine = PolicyEngine::new().unwrap();
    let proxy = App::start_from_file(&file, &engine).unwrap();
    let addr = proxy.listener_addr("web").unwrap();
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut send = client.block_on(async {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        send
    });
    let mut answered_by = move |expected: &str| -> bool {
        client.block_on(async {
            send.ready().await.unwrap();
            let request = http::Request::get("/moving")
                .header("host", "bench")
                .body(Empty::<Bytes>::new())
                .unwrap();
            let response = send.send_request(request).await.unwrap();
            assert_eq!(response.status(), 200, "a request failed");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            body.trim_ascii() == expected.as_bytes()
        })
    };
    assert!(answered_by("a"));
    println!(
        "{reloads} reloads each; {CLUSTERS} clusters of {ENDPOINTS} endpoints, {} routes; file renamed into place → new mapping serving",
        CLUSTERS + 1
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "change", "median", "p90", "max"
    );
    for (kind, label) in ["a route moved", "every cluster changed"]
        .iter()
        .enumerate()
    {
        let mut took = Vec::with_capacity(reloads);
        for i in 0..reloads {
            let to = if i.is_multiple_of(2) { "b" } else { "a" };
            let timeout = match (kind, i % 2) {
                (1, 0) => "4s",
                _ => "3s",
            };
            replace(&file, &config(&a, &b, to, timeout));
            let written = Instant::now();
            while !answered_by(to) {
                assert!(
                    written.elapsed() < Duration::from_secs(10),
                    "reload {i} never served"
                );
            }
            took.push(written.elapsed());
            // Let the watch settle before the next write.
            std::thread::sleep(Duration::from_millis(50));
        }
        took.sort();
        println!(
            "{label:<40} {:>10.1?} {:>10.1?} {:>10.1?}",
            percentile(&took, 0.5),
            percentile(&took, 0.9),
            took.last().unwrap()
        );
    }
    let status = proxy.config_status();
    assert!(status.last_failure.is_none(), "{:?}", status.last_failure);
    proxy.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
