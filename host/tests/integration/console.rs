//! The admin console in a real browser: Debian's Chromium, headless, driven by
//! playwright-core (`host/tests/console/console.mjs`, installed by `install.sh` beside
//! it), against a running proxy with traffic flowing. The page must load without a
//! console error, show the cluster's endpoints with numbers that move, show an
//! endpoint the test kills as unavailable within 5 s, show a policy swap in the
//! history, and ask for the admin token once. Screenshots go to the test's temp dir
//! (printed); `console-after-swap.png`, reduced to 256 colours, is README.md's
//! picture, docs/console.png.

use crate::common;

use common::backend::{Backend, named};
use common::{component_bytes, temp_dir};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use switchyard::app::App;

/// The directory of the browser test's scripts.
fn scripts() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/console"))
}

/// A proxy in front of `endpoints` whose cluster `api` uses `live.wasm` from `dir`
/// (watched), with fast TCP probes and one route named `route`; its admin API on an
/// ephemeral port, needing `token` when given.
fn proxy(dir: &Path, endpoints: &[SocketAddr], route: &str, token: Option<&str>) -> App {
    let endpoints: Vec<String> = endpoints
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    let token_file = token.map(|token| {
        let file = dir.join("admin.token");
        std::fs::write(&file, token).unwrap();
        format!("token_file = \"{}\"\n", file.display())
    });
    common::proxy(&format!(
        "workers = 2\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n{}\
         [policies]\ndir = \"{}\"\ncache_dir = \"{}\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n\
         [[listeners.routes]]\nname = \"{route}\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\npolicy = \"live\"\nendpoints = [{}]\n\
         [clusters.retries]\nattempts = 3\nbackoff_base = \"1ms\"\n\
         [clusters.health_check]\nkind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"200ms\"\n\
         unhealthy_threshold = 1\n",
        token_file.unwrap_or_default(),
        dir.display(),
        dir.with_extension("cache").display(),
        endpoints.join(", "),
    ))
}

/// Installs chromium and playwright-core when missing: the directory holding
/// `node_modules`.
fn install() -> String {
    // Bounded: apt and npm may hang on a network that drops packets.
    let output = Command::new("timeout")
        .args(["900", "bash"])
        .arg(scripts().join("install.sh"))
        .output()
        .expect("timeout and bash run");
    assert!(
        output.status.success(),
        "the browser test cannot install what it needs:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The browser script's stdout, line by line, with a deadline on each.
struct Script {
    lines: mpsc::Receiver<String>,
    stdin: std::process::ChildStdin,
    child: std::process::Child,
    seen: Vec<String>,
}

impl Script {
    /// The next line, which must start with `step`.
    fn expect(&mut self, step: &str, limit: Duration) -> String {
        match self.lines.recv_timeout(limit) {
            Ok(line) => {
                eprintln!("console.mjs: {line}");
                self.seen.push(line.clone());
                assert!(
                    line.starts_with(step),
                    "expected `{step}` from the browser, got `{line}`{}",
                    self.stderr()
                );
                line
            }
            Err(_) => {
                let stderr = self.stderr();
                panic!(
                    "no `{step}` from the browser within {limit:?}; so far {:?}{stderr}",
                    self.seen
                )
            }
        }
    }

    fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("the browser script reads its stdin");
    }

    /// Whatever the script wrote to stderr, once it is stopped.
    fn stderr(&mut self) -> String {
        let _ = self.child.kill();
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        }
        format!("\nits stderr:\n{text}")
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_script(playwright: &str, envs: &[(&str, String)]) -> Script {
    let mut child = Command::new("node")
        .arg(scripts().join("console.mjs"))
        .env("PLAYWRIGHT", playwright)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (install nodejs)");
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    Script {
        lines,
        stdin,
        child,
        seen: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_traffic_failures_and_swaps_in_a_browser() {
    let playwright = tokio::task::spawn_blocking(install).await.unwrap();
    let shots = temp_dir("console-shots");
    let dir = temp_dir("console");
    std::fs::write(dir.join("live.wasm"), component_bytes("round-robin")).unwrap();

    // `b` runs on a runtime of its own, so that the test can kill it (listener and
    // connections) by dropping that runtime.
    let (b_runtime, b) = std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let b = runtime.block_on(named("b", Duration::from_millis(2)));
        (runtime, b)
    })
    .join()
    .unwrap();
    let a = named("a", Duration::from_millis(1)).await;
    let c = named("c", Duration::from_millis(4)).await;
    let endpoints: Vec<SocketAddr> = [&a, &b, &c].iter().map(|b: &&Backend| b.addr).collect();
    let proxy = proxy(&dir, &endpoints, "everything", None);
    let guarded_dir = temp_dir("console-token");
    std::fs::write(
        guarded_dir.join("live.wasm"),
        component_bytes("round-robin"),
    )
    .unwrap();
    // Its route's name is markup, which the page must show as text.
    let guarded = self::proxy(
        &guarded_dir,
        &endpoints,
        "<i>route</i>",
        Some("s3cret-token"),
    );
    let started = std::time::Instant::now();
    let load = common::client::Load::start(proxy.listener_addr("web").unwrap(), 4);

    let admin = proxy.admin_addr().unwrap();
    let mut script = start_script(
        &playwright,
        &[
            ("CONSOLE_URL", format!("http://{admin}/")),
            (
                "TOKEN_URL",
                format!("http://{}/", guarded.admin_addr().unwrap()),
            ),
            ("TOKEN", "s3cret-token".into()),
            ("SHOTS", shots.display().to_string()),
        ],
    );
    let found = tokio::task::block_in_place(|| {
        let endpoints_line = script.expect("endpoints", Duration::from_secs(60));
        script.expect("rates", Duration::from_secs(20));
        script.expect("ready", Duration::from_secs(30));
        endpoints_line
    });
    for endpoint in &endpoints {
        assert!(found.contains(&endpoint.to_string()), "{found}");
    }

    b_runtime.shutdown_background();
    let unavailable = tokio::task::block_in_place(|| {
        script.say(&format!("kill {}", b.addr));
        script.expect("unavailable", Duration::from_secs(10))
    });

    std::fs::write(dir.join("live.wasm"), component_bytes("peak-ewma")).unwrap();
    tokio::task::block_in_place(|| {
        script.say("swapped live");
        script.expect("history", Duration::from_secs(20));
        script.expect("token", Duration::from_secs(30));
        script.expect("done", Duration::from_secs(10));
    });
    eprintln!(
        "console screenshots in {} ({unavailable} ms to show the killed endpoint unavailable)",
        shots.display()
    );
    for shot in [
        "console-1280x800.png",
        "console-390x844.png",
        "console-after-swap.png",
    ] {
        let size = std::fs::metadata(shots.join(shot)).map_or(0, |m| m.len());
        assert!(size > 10_000, "{shot}: {size} bytes");
    }
    let sent = load.since(started, None);
    assert!(sent.len() > 100, "{} requests sent", sent.len());
    common::stop(proxy).await;
    common::stop(guarded).await;
}

/// Status, a header's value and the body of `GET path` on the admin API, with `token`
/// as a bearer token when given.
async fn admin_get(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    header: &str,
) -> (u16, String, String) {
    use http_body_util::BodyExt;
    let bearer = token.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("host", "localhost")];
    headers.extend(bearer.as_deref().map(|b| ("authorization", b)));
    let response = common::client::admin_request(addr, "GET", path, &headers).await;
    let status = response.status().as_u16();
    let value = response
        .headers()
        .get(header)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, value, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_files_need_no_token_and_its_data_does() {
    let a = named("a", Duration::ZERO).await;
    let dir = temp_dir("console-access");
    std::fs::write(dir.join("live.wasm"), component_bytes("round-robin")).unwrap();
    let proxy = proxy(&dir, &[a.addr], "<i>route</i>", Some("tok3n"));
    let admin = proxy.admin_addr().unwrap();

    for (path, kind) in [
        ("/", "text/html"),
        ("/console.js", "text/javascript"),
        ("/console.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let (status, csp, body) = admin_get(admin, path, None, "content-security-policy").await;
        assert_eq!(status, 200, "{path}");
        assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
        assert!(!body.is_empty());
        let (_, content_type, _) = admin_get(admin, path, None, "content-type").await;
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
    }
    let (status, _, body) = admin_get(admin, "/console/access", None, "").await;
    assert_eq!(
        (status, body.contains("\"token_required\": true")),
        (200, true),
        "{body}"
    );

    let (status, _, _) = admin_get(admin, "/console.json", None, "").await;
    assert_eq!(status, 401);
    let (status, _, _) = admin_get(admin, "/console.json", Some("wrong"), "").await;
    assert_eq!(status, 401);
    let (status, _, body) = admin_get(admin, "/console.json", Some("tok3n"), "").await;
    assert_eq!(status, 200, "{body}");
    let data: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(data["clusters"][0]["name"], "api");
    assert_eq!(
        data["clusters"][0]["endpoints"][0]["address"],
        a.addr.to_string()
    );
    assert_eq!(data["listeners"][0]["routes"][0]["name"], "<i>route</i>");
    assert_eq!(data["policies"].as_array().map(Vec::len), Some(2), "{body}");
    common::stop(proxy).await;
}
