//! Policies written in other languages, built by their example's `build.sh` (which
//! installs componentize-py from PyPI or componentize-js from npm on first use) and
//! served by the proxy from its policy directory, under a larger memory cap. A tool
//! that cannot be installed fails the test with the script's output.

use crate::common;

use common::client::{keep_alive, share};
use common::{backend, config, load_with_a_slow_backend, proxy, temp_dir};
use http_body_util::BodyExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Runs `examples/EXAMPLE/build.sh` to write `NAME.wasm` into a fresh policy directory.
fn build(example: &str, name: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(example)
        .join("build.sh");
    let dir = temp_dir(example);
    let output = Command::new("bash")
        .arg(&script)
        .arg(dir.join(format!("{name}.wasm")))
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{} failed (it installs its tool first; is the registry reachable?):\n{}\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

/// A cluster section tail: the policy directory and the larger memory cap.
fn in_dir(dir: &Path) -> String {
    format!(
        "policy_limits = {{ memory_mib = 64 }}\n[policies]\ndir = \"{}\"\n",
        dir.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_policy_steers_away_from_a_slow_backend() {
    let dir = build("python-policy", "py-least-latency");
    let slow = Duration::from_millis(25);
    let sent =
        load_with_a_slow_backend("py-least-latency", &in_dir(&dir), &["a", "b"], slow, 6).await;
    let slow_share = share(&sent, "slow");
    eprintln!(
        "py-least-latency: the slow backend served {slow_share:.3} of {} requests",
        sent.len()
    );
    assert!(sent.len() > 300 && sent.iter().all(|s| s.status == 200));
    // Round-robin (the host's fallback, were the policy failing) would give it 1/3.
    assert!(slow_share < 0.12, "{slow_share}");
}

/// The backend that answered one GET, with `pin` as `x-prefer-endpoint` when given.
async fn answered_by(
    sender: &mut hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    pin: Option<&str>,
) -> String {
    let mut request = common::client::get_root("js.test");
    if let Some(pin) = pin {
        request
            .headers_mut()
            .insert("x-prefer-endpoint", pin.parse().unwrap());
    }
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_policy_follows_weights_and_pins_by_header() {
    let dir = build("js-policy", "js-weighted-random");
    let heavy = backend::named("heavy", Duration::ZERO).await;
    let light = backend::named("light", Duration::ZERO).await;
    let endpoints = [(heavy.addr, 3), (light.addr, 1)];
    let proxy = proxy(&config("js-weighted-random", &endpoints, &in_dir(&dir)));
    let mut sender = keep_alive(proxy.listener_addr("web").unwrap()).await;
    let n = 2_000;
    let mut heavy_count = 0;
    for _ in 0..n {
        heavy_count += usize::from(answered_by(&mut sender, None).await == "heavy");
    }
    let heavy_share = heavy_count as f64 / n as f64;
    eprintln!("js-weighted-random: weight 3 of 4 got {heavy_share:.3}");
    assert!((heavy_share - 0.75).abs() < 0.05, "{heavy_share}");
    let pin = light.addr.to_string();
    for _ in 0..200 {
        assert_eq!(answered_by(&mut sender, Some(&pin)).await, "light");
    }
}
