//! `switchyard run` as a separate process: 100 MiB streamed up and down with bounded
//! memory, graceful exit on SIGTERM, a policy rescan on SIGHUP; `switchyard
//! check-config` on good and bad files.

use crate::common;

use bytes::Bytes;
use common::backend::{Download, named};
use common::client::send;
use http_body_util::BodyExt;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const MIB: usize = 1 << 20;

struct Running {
    child: Child,
    addr: SocketAddr,
    /// Its configuration file.
    file: std::path::PathBuf,
    /// Log lines up to the listening one.
    head: Vec<String>,
    /// Log lines after the listening one.
    lines: std::sync::mpsc::Receiver<String>,
}

/// Starts `switchyard run` on `config` and waits for its "listening" log line.
fn run(config: &str) -> Running {
    let file = common::temp_dir("run").join("switchyard.toml");
    std::fs::write(&file, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "--config", file.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut head = Vec::new();
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("switchyard run logs its listening address");
        let addr = listening_addr(&line);
        head.push(line);
        if let Some(addr) = addr {
            break addr;
        }
    };
    Running {
        child,
        addr,
        file,
        head,
        lines,
    }
}

impl Drop for Running {
    /// A test that fails does not leave its proxy running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a "listening" log line, text (`addr=…`) or JSON (`"addr":"…"`).
fn listening_addr(line: &str) -> Option<SocketAddr> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(line) {
        return json["addr"].as_str()?.parse().ok();
    }
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))?
        .parse()
        .ok()
}

/// Peak resident memory of `pid`, in bytes.
fn peak_rss(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

fn terminate(mut running: Running) -> std::process::ExitStatus {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(running.child.id() as i32, libc::SIGTERM) };
    running.child.wait().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mib_streams_through_with_bounded_memory() {
    let backend = named("alpha", Duration::ZERO).await;
    let running = run(&format!(
        "workers = 1\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\nendpoints = [{{ address = \"{}\" }}]\n",
        backend.addr
    ));
    let before = peak_rss(running.child.id());

    let upload = Download {
        left: 100,
        chunk: Bytes::from(vec![b'u'; MIB]),
    };
    let request = http::Request::post("/upload")
        .header("host", "x")
        .body(upload)
        .unwrap();
    let response = send(running.addr, request, false).await;
    assert_eq!(response.status(), 200);
    let counted = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(counted, format!("{}", 100 * MIB).as_bytes());

    let request = http::Request::get("/download/100")
        .header("host", "x")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let mut body = send(running.addr, request, false).await.into_body();
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        received += frame.unwrap().data_ref().map_or(0, |d| d.len());
    }
    assert_eq!(received, 100 * MIB);

    let peak = peak_rss(running.child.id());
    println!(
        "proxy peak RSS: {} MiB before, {} MiB after 2 × 100 MiB",
        before / MIB,
        peak / MIB
    );
    assert!(
        peak < before + 32 * MIB,
        "the proxy buffered bodies: peak RSS went from {} to {} MiB",
        before / MIB,
        peak / MIB
    );
    assert!(terminate(running).success(), "SIGTERM drains and exits 0");
}

/// Log lines carry colour codes on a terminal only, and not even there with
/// `NO_COLOR` set; written to a pipe or a file they are plain text.
#[test]
fn logs_are_coloured_only_on_a_terminal() {
    let config = "workers = 1\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\nendpoints = [{ address = \"127.0.0.1:9\" }]\n";
    let mut running = run(config);
    assert!(
        running.head.iter().all(|l| !l.contains('\x1b')),
        "escape codes in a pipe: {:?}",
        running.head
    );
    let _ = running.child.kill();

    // On a terminal (util-linux `script` runs it on a pseudo-terminal).
    let file = common::temp_dir("colour").join("switchyard.toml");
    std::fs::write(&file, config).unwrap();
    let on_terminal = |no_color: Option<&str>| {
        let command = format!(
            "timeout -s INT 2 {} run --config {}",
            env!("CARGO_BIN_EXE_switchyard"),
            file.display()
        );
        let mut script = Command::new("script");
        script
            .args(["-qec", &command, "/dev/null"])
            .env("RUST_LOG", "info");
        match no_color {
            Some(value) => script.env("NO_COLOR", value),
            None => script.env_remove("NO_COLOR"),
        };
        let out = script.output().expect("script (util-linux) runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_terminal(None);
    assert!(
        coloured.contains("listening") && coloured.contains('\x1b'),
        "{coloured:?}"
    );
    let plain = on_terminal(Some("1"));
    assert!(
        plain.contains("listening") && !plain.contains('\x1b'),
        "{plain:?}"
    );
}

/// SIGHUP reloads the configuration file: a second later, every request goes by the
/// new one, on the same listener; a broken file is refused with its reason in the log,
/// and the proxy serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_configuration() {
    let (a, b) = (
        named("a", Duration::ZERO).await,
        named("b", Duration::ZERO).await,
    );
    let to = |cluster: &str| {
        format!(
            "workers = 1\n[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"{cluster}\"\n\
             [[clusters]]\nname = \"a\"\nendpoints = [{{ address = \"{}\" }}]\n\
             [[clusters]]\nname = \"b\"\nendpoints = [{{ address = \"{}\" }}]\n",
            a.addr, b.addr
        )
    };
    let running = run(&to("a"));
    assert_eq!(answers(running.addr, 2).await, ["a", "a"]);
    let hangup = |running: &Running| {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(running.child.id() as i32, libc::SIGHUP) };
    };
    std::fs::write(&running.file, to("b")).unwrap();
    hangup(&running);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(answers(running.addr, 4).await, ["b", "b", "b", "b"]);
    std::fs::write(&running.file, to("c")).unwrap();
    hangup(&running);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let line = running
            .lines
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("the refused reload is logged");
        if line.contains("configuration reload refused") {
            assert!(
                line.contains("listeners[0].cluster: no cluster named \"c\""),
                "{line}"
            );
            break;
        }
    }
    assert_eq!(answers(running.addr, 2).await, ["b", "b"]);
    assert!(terminate(running).success());
}

/// The backends that answer `n` requests in a row.
async fn answers(addr: SocketAddr, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        seen.push(common::client::get(addr, "/", false).await.2);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rescans_the_policy_directory() {
    let (a, b) = (
        named("a", Duration::ZERO).await,
        named("b", Duration::ZERO).await,
    );
    let dir = common::temp_dir("sighup");
    let policy = dir.join("live.wasm");
    std::fs::write(&policy, common::component_bytes("round-robin")).unwrap();
    let running = run(&format!(
        "workers = 1
         [policies]
dir = \"{dir}\"
cache_dir = \"{dir}/cache\"
watch = false
         [[listeners]]
name = \"web\"
listen = \"127.0.0.1:0\"
cluster = \"api\"
         [[clusters]]
name = \"api\"
policy = \"live\"
         endpoints = [{{ address = \"{}\" }}, {{ address = \"{}\" }}]
",
        a.addr,
        b.addr,
        dir = dir.display()
    ));
    // `hostile` in its default mode sends everything to the first endpoint.
    std::fs::write(&policy, common::component_bytes("hostile")).unwrap();
    let before = answers(running.addr, 4).await;
    assert!(
        before.contains(&"b".to_string()),
        "not watching, so round-robin serves on: {before:?}"
    );

    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(running.child.id() as i32, libc::SIGHUP) };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while answers(running.addr, 4).await != ["a", "a", "a", "a"] {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP never loaded the new version"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(terminate(running).success());
}

fn check_config(file: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["check-config", file.to_str().unwrap()])
        .output()
        .unwrap()
}

#[test]
fn check_config_accepts_good_and_names_the_key_in_bad() {
    let dir = std::env::temp_dir().join(format!("switchyard-check-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    let text = "[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:8080\"\ncluster = \"api\"\n\
                [[clusters]]\nname = \"api\"\npolicy = \"weighted-round-robin\"\n\
                endpoints = [ { address = \"127.0.0.1:9001\", weight = 5 } ]\n";
    std::fs::write(&good, text).unwrap();
    let out = check_config(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 listeners, 1 clusters)"));

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, text.replace("127.0.0.1:9001", "127.0.0.1:99999")).unwrap();
    let out = check_config(&bad);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "bad.toml: clusters[0].endpoints[0].address: invalid socket address \"127.0.0.1:99999\""
        ),
        "{stderr}"
    );

    let config_refused = dir.join("policy.toml");
    std::fs::write(
        &config_refused,
        text.replace(
            "weight = 5 } ]",
            "weight = 5 } ]\npolicy_config = { speed = 9 }",
        ),
    )
    .unwrap();
    let out = check_config(&config_refused);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("policy_config.speed: unknown key"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A watched policy directory that does not exist fails `check-config` as it fails
/// `run`, saying what to do; created (empty), the file passes.
#[test]
fn check_config_needs_the_policy_directory_that_run_watches() {
    let dir = std::env::temp_dir().join(format!("switchyard-no-policy-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("switchyard.toml");
    std::fs::write(
        &file,
        "[policies]\ndir = \"./policies.d\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:8080\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\npolicy = \"round-robin\"\n\
         endpoints = [ { address = \"127.0.0.1:9001\" } ]\n",
    )
    .unwrap();
    let out = check_config(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("policies.dir:") && stderr.contains("is not a directory; create it"),
        "{stderr}"
    );
    std::fs::create_dir(dir.join("policies.d")).unwrap();
    let out = check_config(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `check-config` (and `run`, which loads the same way) refuses a policy that is neither
/// built in nor in the policy directory, naming the file, the key and the built-ins.
#[test]
fn check_config_names_an_unknown_policy_and_the_built_ins() {
    let dir =
        std::env::temp_dir().join(format!("switchyard-unknown-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = "[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:8080\"\ncluster = \"api\"\n\
                [[clusters]]\nname = \"api\"\npolicy = \"fancy\"\n\
                endpoints = [ { address = \"127.0.0.1:9001\" } ]\n";
    for (name, key, wanted, builtins) in [
        (
            "balancer.toml",
            "policy",
            "fancy",
            switchyard_policy::builtin_names().collect::<Vec<_>>(),
        ),
        (
            "scorer.toml",
            "health_policy",
            "round-robin",
            switchyard_policy::builtin_scorer_names().collect(),
        ),
    ] {
        let file = dir.join(name);
        std::fs::write(
            &file,
            text.replace("policy = \"fancy\"", &format!("{key} = {wanted:?}")),
        )
        .unwrap();
        let out = check_config(&file);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = format!(
            "{name}: clusters[0].{key}: no policy {wanted:?}: not a built-in ({}) and no [policies] dir is set",
            builtins.join(", ")
        );
        assert!(stderr.contains(&expected), "{stderr}\nexpected: {expected}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_writes_one_json_line_per_request() {
    let backend = named("alpha", Duration::ZERO).await;
    let running = run(&format!(
        "workers = 1\n[log]\nformat = \"json\"\naccess = true\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\nendpoints = [{{ address = \"{}\" }}]\n",
        backend.addr
    ));
    for (path, http2) in [("/fast?x=1", false), ("/general", true)] {
        let (status, _, _) = common::client::get(running.addr, path, http2).await;
        assert_eq!(status, 200);
    }
    let mut entries = Vec::new();
    while entries.len() < 2 {
        let line = running
            .lines
            .recv_timeout(Duration::from_secs(10))
            .expect("an access line per request");
        let json: serde_json::Value = serde_json::from_str(&line).expect("JSON lines");
        if json["target"] == "access" {
            entries.push(json);
        }
    }
    let backend_addr = backend.addr.to_string();
    for (entry, path) in entries.iter().zip(["/fast?x=1", "/general"]) {
        assert_eq!(entry["method"], "GET", "{entry}");
        assert_eq!(entry["path"], path, "{entry}");
        assert_eq!(entry["status"], 200, "{entry}");
        assert_eq!(entry["endpoint"], backend_addr.as_str(), "{entry}");
        assert_eq!(entry["attempts"], 1, "{entry}");
        assert_eq!(entry["cluster"], "api", "{entry}");
        assert_eq!(entry["policy"], "round-robin", "{entry}");
        assert_eq!(
            entry["policy_version"].as_str().unwrap().len(),
            12,
            "{entry}"
        );
        assert!(entry["duration_us"].as_u64().is_some(), "{entry}");
    }
    let status = terminate(running);
    assert!(status.success(), "{status:?}");
}

/// `check-config` reports routes that can never match and clusters nothing sends to,
/// and refuses route mistakes by key.
#[test]
fn check_config_reports_shadowed_routes_and_unused_clusters() {
    let dir = common::temp_dir("check-config-routes");
    let file = dir.join("routes.toml");
    let clusters = "[[clusters]]\nname = \"a\"\nendpoints = [ { address = \"127.0.0.1:9001\" } ]\n\
                    [[clusters]]\nname = \"b\"\nendpoints = [ { address = \"127.0.0.1:9002\" } ]\n\
                    [[clusters]]\nname = \"spare\"\nendpoints = [ { address = \"127.0.0.1:9003\" } ]\n";
    let routes = r#"
[[listeners]]
name = "web"
listen = "127.0.0.1:8080"
[[listeners.routes]]
name = "api"
match = { path_prefix = "/api" }
cluster = "a"
[[listeners.routes]]
name = "api-users"
match = { path_prefix = "/api/users", method = "GET" }
cluster = "b"
[[listeners.routes]]
name = "split"
clusters = [ { name = "a", weight = 1 }, { name = "b", weight = 0 } ]
"#;
    std::fs::write(&file, format!("{routes}{clusters}")).unwrap();
    let out = check_config(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "warning: listeners[0] (\"web\"): route \"api-users\" can never match: route \"api\" before it takes all its requests"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "warning: clusters[2] (\"spare\"): no listener or route sends requests to it"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("\"split\" can never"), "{stdout}");
    for (from, to, expected) in [
        (
            "{ name = \"b\", weight = 0 }",
            "{ name = \"b\", weight = 0 }, { name = \"spare\", weight = 0 }",
            "",
        ),
        (
            "{ name = \"a\", weight = 1 }",
            "{ name = \"a\", weight = 0 }",
            "listeners[0].routes[2].clusters: the weights sum to 0",
        ),
        (
            "cluster = \"b\"",
            "cluster = \"nope\"",
            "listeners[0].routes[1].cluster: no cluster named \"nope\" (clusters: a, b, spare)",
        ),
        (
            "match = { path_prefix = \"/api\" }",
            "match = { path_regex = \"/api(\" }",
            "listeners[0].routes[0].match.path_regex: \"/api(\" is not a valid regular expression",
        ),
        (
            "name = \"split\"",
            "name = \"split\"\nsticky = \"header\"",
            "listeners[0].routes[2].sticky: \"header\": expected header:NAME",
        ),
        (
            "name = \"api\"\n",
            "name = \"api\"\nrespond = { status = 200 }\n",
            "listeners[0].routes[0].cluster: a route needs exactly one of cluster, clusters or respond",
        ),
        (
            "match = { path_prefix = \"/api\" }",
            "match = { path_prefix = \"/api/../x\" }",
            "listeners[0].routes[0].match.path_prefix: \"/api/../x\" must start with '/'",
        ),
        (
            "name = \"web\"",
            "name = \"web\"\ncluster = \"a\"",
            "listeners[0].cluster: a listener with routes names its clusters in them",
        ),
        (
            "match = { path_prefix = \"/api\" }",
            "match = { headers = { x-forwarded-for = \"10.0.0.1\" } }",
            "listeners[0].routes[0].match.headers.x-forwarded-for: the proxy rewrites or removes this header",
        ),
        (
            "match = { path_prefix = \"/api\" }",
            "match = { headers = { Host = \"api.example.com\" } }",
            "listeners[0].routes[0].match.headers.Host: match the host with match.host",
        ),
        (
            "name = \"api\"\n",
            "name = \"api\"\nrewrite = { host = \"user@internal\" }\n",
            "listeners[0].routes[0].rewrite.host: \"user@internal\" is not a host[:port]",
        ),
        (
            "name = \"split\"\n",
            "name = \"gone\"\nmatch = { path = \"/gone\" }\nrespond = { status = 204, body = \"x\" }\n[[listeners.routes]]\nname = \"split\"\n",
            "listeners[0].routes[2].respond.body: a 204 answer has no body",
        ),
    ] {
        let text = format!("{routes}{clusters}").replace(from, to);
        std::fs::write(&file, &text).unwrap();
        let out = check_config(&file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if expected.is_empty() {
            assert!(out.status.success(), "{to}: {stderr}");
            continue;
        }
        assert!(!out.status.success(), "{to}: accepted");
        assert!(stderr.contains(expected), "{to}: {stderr}");
    }
}
