//! Hot reload end to end: policy files dropped into a watched directory while a real
//! client keeps sending requests through the proxy, broken files mid-load, removal,
//! state hand-off, the compiled cache, the admin API.

use crate::common;

use common::backend::{Backend, named};
use common::{component_bytes, temp_dir, with_custom_section};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};
use switchyard::app::App;
use switchyard_policy::{
    CacheOrigin, PickSource, PolicyRegistry, PolicySource, PolicyStats, PolicyVersion,
    ReloadOutcome, RequestInfo, Sha256Digest,
};

/// Three backends `a`, `b`, `c`, in that order (ids 0, 1, 2).
async fn backends() -> Vec<Backend> {
    let mut all = Vec::new();
    for name in ["a", "b", "c"] {
        all.push(named(name, Duration::ZERO).await);
    }
    all
}

/// Three backends, a fresh policy directory, and its `live.wasm` holding `initial`.
async fn setup(tag: &str, initial: &[u8]) -> (Vec<Backend>, PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    let file = dir.join("live.wasm");
    std::fs::write(&file, initial).unwrap();
    (backends().await, dir, file)
}

/// Rescans and expects exactly one new version to have loaded.
fn expect_loaded(registry: &PolicyRegistry) {
    let outcomes = registry.rescan();
    assert!(
        matches!(outcomes[..], [ReloadOutcome::Loaded { .. }]),
        "{outcomes:?}"
    );
}

/// A proxy whose cluster `api` uses policy `policy`, loaded from `dir`.
fn proxy(policy: &str, dir: &Path, backends: &[Backend], extra: &str) -> App {
    let endpoints: Vec<(SocketAddr, u32)> = backends.iter().map(|b| (b.addr, 1)).collect();
    let policies = format!(
        "[policies]\ndir = \"{}\"\ncache_dir = \"{}\"\n{extra}",
        dir.display(),
        dir.with_extension("cache").display()
    );
    common::proxy(&common::config(policy, &endpoints, &policies))
}

fn listener(proxy: &App) -> SocketAddr {
    proxy.listener_addr("web").unwrap()
}

/// Polls until `check` holds for the active version of `name`, or panics after 10 s.
async fn active_when(
    registry: &PolicyRegistry,
    name: &str,
    check: impl Fn(&PolicyVersion) -> bool,
) -> PolicyVersion {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(version) = registry.active(name).filter(&check) {
            return version;
        }
        assert!(
            Instant::now() < deadline,
            "policy {name} never reached the expected version"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One response seen by the load client: when its request was sent, when the answer
/// was in, and from whom. The proxy picked somewhere between the two.
struct Seen {
    sent: Instant,
    answered: Instant,
    backend: Result<String, String>,
}

/// `clients` keep-alive connections sending GETs back to back until `stop`.
fn load(
    addr: SocketAddr,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Seen>>> {
    (0..clients)
        .map(|_| {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut sender = common::client::keep_alive(addr).await;
                while !stop.load(Relaxed) {
                    let sent = Instant::now();
                    let backend = match sender
                        .send_request(common::client::get_root("switchyard.test"))
                        .await
                    {
                        Ok(response) if response.status() == 200 => {
                            let body = response.into_body().collect().await;
                            body.map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                                .map_err(|e| e.to_string())
                        }
                        Ok(response) => Err(format!("status {}", response.status())),
                        Err(e) => Err(e.to_string()),
                    };
                    let failed = backend.is_err();
                    seen.push(Seen {
                        sent,
                        answered: Instant::now(),
                        backend,
                    });
                    if failed {
                        break;
                    }
                }
                seen
            })
        })
        .collect()
}

/// How a test writes a policy file into the watched directory.
#[derive(Clone, Copy, Debug)]
enum Write {
    /// Write a hidden temporary file, then rename it into place (atomic).
    Rename,
    /// Truncate and write in place, in one call.
    InPlace,
    /// Write in place in two halves with a pause between: a slow writer.
    Halves,
}

fn write(path: &Path, bytes: &[u8], how: Write) {
    use std::io::Write as _;
    match how {
        Write::Rename => {
            let temp = path.with_file_name(".incoming.tmp");
            std::fs::write(&temp, bytes).unwrap();
            std::fs::rename(&temp, path).unwrap();
        }
        Write::InPlace => std::fs::write(path, bytes).unwrap(),
        Write::Halves => {
            let mut file = std::fs::File::create(path).unwrap();
            let (first, second) = bytes.split_at(bytes.len() / 2);
            file.write_all(first).unwrap();
            file.flush().unwrap();
            std::thread::sleep(Duration::from_millis(30));
            file.write_all(second).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_swaps_under_load_fail_no_request() {
    let round_robin = component_bytes("round-robin");
    let (backends, dir, file) = setup("reload-swaps", &round_robin).await;
    // A debug build's host side of a pick is many times slower than a release build's,
    // and a pick past its CPU deadline is answered by the previous version, which looks
    // like a late swap. This test is about swaps, so its picks get room; each window
    // still checks that none fell back.
    let limits = "[clusters.policy_limits]\npick_deadline = \"50ms\"\n";
    let proxy = proxy("live", &dir, &backends, limits);
    let registry = Arc::clone(proxy.registry());

    // `hostile` in its default mode behaves: every request to the first member, `a`.
    let pinned = component_bytes("hostile");
    let versions = [
        ("pinned", pinned.clone()),
        ("round-robin", round_robin.clone()),
        ("least-request", component_bytes("least-request")),
    ];
    let broken: [(&str, Vec<u8>); 3] = [
        ("truncated", pinned[..pinned.len() / 3].to_vec()),
        (
            "not wasm",
            b"#!/bin/sh\necho this is not a policy\n".to_vec(),
        ),
        ("unknown import", component_bytes("alien-import")),
    ];

    // Compile every version once before the load starts: compilation runs at idle CPU
    // priority and would crawl beside eight busy clients on a small machine. The swaps
    // under load then come from the compiled cache, as in the bench's cached case. The
    // watcher is on, so it may load a version before an explicit rescan would: wait
    // for the version to serve, whoever loaded it.
    for (_, bytes) in versions.iter().rev() {
        std::fs::write(&file, bytes).unwrap();
        registry.rescan();
        let sha = Sha256Digest::of(bytes);
        active_when(&registry, "live", |v| v.sha256 == sha).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(listener(&proxy), 8, Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Per swap: the policy that served, the window in which it alone chose, and its
    // pick counters at the window's end.
    let mut windows: Vec<(&str, Instant, Instant, PolicyStats)> = Vec::new();
    let writes = [Write::Rename, Write::InPlace, Write::Halves];
    for swap in 0..50 {
        let (label, bytes) = &versions[swap % versions.len()];
        let sha = Sha256Digest::of(bytes);
        let how = writes[swap % writes.len()];
        let path = file.clone();
        let payload = bytes.clone();
        tokio::task::spawn_blocking(move || write(&path, &payload, how))
            .await
            .unwrap();
        active_when(&registry, "live", |v| v.sha256 == sha).await;
        let from = Instant::now();
        tokio::time::sleep(Duration::from_millis(60)).await;
        if swap % 10 == 9 {
            // A broken file mid-load: reported, never serving.
            let (what, junk) = &broken[(swap / 10) % broken.len()];
            let path = file.clone();
            let payload = junk.clone();
            tokio::task::spawn_blocking(move || write(&path, &payload, Write::InPlace))
                .await
                .unwrap();
            wait_for_error(&registry, "live", from).await;
            assert_eq!(
                registry.active("live").unwrap().sha256,
                sha,
                "{what} replaced the serving version"
            );
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        let stats = proxy.upstream("api").unwrap().policy().stats();
        windows.push((label, from, Instant::now(), stats));
    }
    stop.store(true, Relaxed);
    let mut seen = Vec::new();
    for client in clients {
        seen.extend(client.await.unwrap());
    }

    let failures: Vec<&String> = seen
        .iter()
        .filter_map(|s| s.backend.as_ref().err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        seen.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        seen.len() > 1000,
        "the load kept flowing: only {} requests",
        seen.len()
    );
    for (label, from, until, stats) in &windows {
        // A faulting pick is answered by the previous version: none may have.
        assert_eq!(stats.fallbacks, 0, "{label}: a pick fell back: {stats:?}");
        // Only exchanges wholly inside the window were surely picked by its version: a
        // request sent near its end may wait in the proxy until the next one serves.
        let answered: Vec<&str> = seen
            .iter()
            .filter(|s| s.sent >= *from && s.answered < *until)
            .filter_map(|s| s.backend.as_deref().ok())
            .collect();
        assert!(
            answered.len() >= 5,
            "too few requests while {label} served: {}",
            answered.len()
        );
        let pinned = answered.iter().all(|b| *b == "a");
        match *label {
            "pinned" => assert!(
                pinned,
                "pinned policy served, but answers came from {answered:?}"
            ),
            _ => assert!(!pinned, "{label} served, but every answer came from `a`"),
        }
    }
    proxy.shutdown();
}

/// Waits until `name` reports a load error newer than `since`.
async fn wait_for_error(registry: &PolicyRegistry, name: &str, since: Instant) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let since = std::time::SystemTime::now() - since.elapsed();
    loop {
        let status = registry.status();
        let entry = status.iter().find(|p| p.name == name).unwrap();
        if entry.last_error.as_ref().is_some_and(|e| e.at >= since) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no load error reported for {name}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A file that fails to load is tried once per content: one failure, not one a second
/// for as long as it stays; putting the serving content back clears the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_file_is_tried_once_per_content() {
    let live = component_bytes("round-robin");
    let (backends, dir, file) = setup("once-per-content", &live).await;
    let proxy = proxy("live", &dir, &backends, "");
    let registry = proxy.registry();
    let failed = || registry.reloads().failed.load(Relaxed);
    let truncated = &live[..live.len() / 2];
    let started = Instant::now();
    write(&file, truncated, Write::Rename);
    wait_for_error(registry, "live", started).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(failed(), 1, "the failed file was tried again");
    // The same broken bytes written again are not tried again...
    write(&file, truncated, Write::InPlace);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(failed(), 1);
    // ... unless the operator asks for a rescan.
    let outcomes = registry.rescan();
    assert!(
        matches!(outcomes[..], [ReloadOutcome::Failed { .. }]),
        "{outcomes:?}"
    );
    assert_eq!(failed(), 2);
    // The serving content back in place: no reload, and no error to report.
    write(&file, &live, Write::Rename);
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry.status()[0].last_error.is_some() {
        assert!(Instant::now() < deadline, "the error was never cleared");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(registry.reloads().loaded.load(Relaxed), 0);
    // Broken again: a new failure, since the file held something else in between.
    let started = Instant::now();
    write(&file, truncated, Write::Rename);
    wait_for_error(registry, "live", started).await;
    assert_eq!(failed(), 3);
    proxy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_file_reverts_to_the_builtin_or_keeps_the_last_good_version() {
    let backends = backends().await;
    let dir = temp_dir("reload-remove");
    // A file that shadows the built-in `round-robin`, and one with no built-in behind it.
    std::fs::write(
        dir.join("round-robin.wasm"),
        component_bytes("least-request"),
    )
    .unwrap();
    std::fs::write(dir.join("custom.wasm"), component_bytes("round-robin")).unwrap();
    let first = proxy("round-robin", &dir, &backends, "watch = false");
    let second = proxy("custom", &dir, &backends, "watch = false");
    for proxy in [&first, &second] {
        std::fs::remove_file(dir.join(format!("{}.wasm", proxy_policy(proxy)))).unwrap();
    }

    let reverted = first.registry().rescan();
    assert_eq!(
        reverted,
        vec![ReloadOutcome::RevertedToBuiltin {
            name: "round-robin".into()
        }]
    );
    let active = first.registry().active("round-robin").unwrap();
    assert_eq!(active.source, PolicySource::Builtin);
    assert_eq!(
        active.sha256,
        Sha256Digest::of(&component_bytes("round-robin"))
    );

    let kept = second.registry().rescan();
    assert_eq!(
        kept,
        vec![ReloadOutcome::KeptLastGood {
            name: "custom".into()
        }]
    );
    let status = second.registry().status();
    assert!(status[0].file_removed, "the status says the file is gone");
    assert_eq!(
        status[0].active.sha256,
        Sha256Digest::of(&component_bytes("round-robin"))
    );
    let (code, _, _) = common::client::get(listener(&second), "/", false).await;
    assert_eq!(code, 200, "the last good version still serves");
    first.shutdown();
    second.shutdown();
}

fn proxy_policy(proxy: &App) -> String {
    proxy.registry().status()[0].name.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_handed_to_the_next_version() {
    let round_robin = component_bytes("round-robin");
    let (backends, dir, file) = setup("reload-state", &round_robin).await;
    // One worker, so one instance and one round-robin counter.
    let endpoints: Vec<(SocketAddr, u32)> = backends.iter().map(|b| (b.addr, 1)).collect();
    let policies = format!("[policies]\ndir = \"{}\"\nwatch = false\n", dir.display());
    let text =
        common::config("live", &endpoints, &policies).replacen("workers = 2", "workers = 1", 1);
    let proxy = common::proxy(&text);
    let addr = listener(&proxy);
    let order = |n: usize| async move {
        let mut order = Vec::new();
        for _ in 0..n {
            order.push(common::client::get(addr, "/", false).await.2);
        }
        order
    };
    // The smoke pick at load took `a`.
    assert_eq!(order(4).await, ["b", "c", "a", "b"]);
    // A rebuilt round-robin (same code, other bytes) continues where the old one was;
    // starting afresh it would answer b, c, a (after its own smoke pick).
    std::fs::write(&file, with_custom_section(&round_robin, "v2")).unwrap();
    expect_loaded(proxy.registry());
    assert_eq!(order(3).await, ["c", "a", "b"]);
    proxy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_versions_come_from_the_compiled_cache() {
    let v1 = with_custom_section(&component_bytes("round-robin"), "v1");
    let v2 = component_bytes("least-request");
    let (backends, dir, file) = setup("reload-cache", &v1).await;
    let proxy1 = proxy("live", &dir, &backends, "watch = false");
    let registry = proxy1.registry();
    assert_eq!(
        registry.active("live").unwrap().origin,
        CacheOrigin::Compiled
    );

    std::fs::write(&file, &v1).unwrap();
    assert_eq!(
        registry.rescan(),
        vec![ReloadOutcome::Unchanged {
            name: "live".into()
        }]
    );
    std::fs::write(&file, &v2).unwrap();
    registry.rescan();
    std::fs::write(&file, &v1).unwrap();
    registry.rescan();
    let back = registry.active("live").unwrap();
    assert_eq!(
        (back.sha256, back.origin),
        (Sha256Digest::of(&v1), CacheOrigin::Memory)
    );

    // A restart finds v1 compiled on disk.
    let engine = switchyard_policy::PolicyEngine::new().unwrap();
    let config = switchyard::config::parse(
        "restart.toml",
        &common::config(
            "live",
            &[(backends[0].addr, 1)],
            &format!(
                "[policies]\ndir = \"{}\"\ncache_dir = \"{}\"\nwatch = false\n",
                dir.display(),
                dir.with_extension("cache").display()
            ),
        ),
    )
    .unwrap();
    let proxy2 = App::start(&config, &engine).unwrap();
    assert_eq!(
        proxy2.registry().active("live").unwrap().origin,
        CacheOrigin::Disk
    );
    proxy1.shutdown();
    proxy2.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_policies_and_reloads_on_request() {
    let (backends, dir, file) = setup("reload-admin", &component_bytes("round-robin")).await;
    let proxy = proxy(
        "live",
        &dir,
        &backends,
        "watch = false\n[admin]\nlisten = \"127.0.0.1:0\"\n",
    );
    let admin = proxy.admin_addr().expect("admin listener");

    let (code, body) = common::client::admin_json(admin, "GET", "/policies").await;
    assert_eq!(code, 200);
    let policies = &body["policies"];
    assert_eq!(policies[0]["name"], "live");
    assert_eq!(policies[0]["active"]["source"], "file");
    assert_eq!(policies[0]["active"]["file"], file.display().to_string());
    let sha = Sha256Digest::of(&component_bytes("round-robin")).to_string();
    assert_eq!(policies[0]["active"]["sha256"], sha.as_str());
    assert_eq!(policies[0]["clusters"][0]["cluster"], "api");

    let least_request = component_bytes("least-request");
    std::fs::write(&file, &least_request).unwrap();
    let (code, body) = common::client::admin_json(admin, "POST", "/policies/reload").await;
    assert_eq!(code, 200);
    assert_eq!(body["reloaded"][0]["result"], "loaded", "{body}");
    let (_, body) = common::client::admin_json(admin, "GET", "/policies").await;
    let sha = Sha256Digest::of(&least_request).to_string();
    assert_eq!(body["policies"][0]["active"]["sha256"], sha.as_str());

    std::fs::write(&file, b"not a policy").unwrap();
    let (_, body) = common::client::admin_json(admin, "POST", "/policies/reload").await;
    assert_eq!(body["reloaded"][0]["result"], "failed");
    let (_, body) = common::client::admin_json(admin, "GET", "/policies").await;
    let error = &body["policies"][0]["last_error"];
    assert!(
        error["reason"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly file"),
        "{error}"
    );
    assert_eq!(
        body["policies"][0]["active"]["sha256"],
        sha.as_str(),
        "the good version serves on"
    );

    assert_eq!(
        common::client::admin_json(admin, "GET", "/nothing").await.0,
        404
    );
    assert_eq!(
        common::client::admin_json(admin, "GET", "/policies/reload")
            .await
            .0,
        405
    );
    proxy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_faults_in_traffic_falls_back_to_the_previous_one() {
    let (backends, dir, file) = setup("reload-previous", &component_bytes("round-robin")).await;
    let proxy = proxy("live", &dir, &backends, "watch = false");
    // `hostile` passes its smoke pick, then panics on every request for `/trap`.
    std::fs::write(&file, component_bytes("hostile")).unwrap();
    expect_loaded(proxy.registry());

    let upstream = proxy.upstream("api").unwrap();
    let normal = upstream.pick(&RequestInfo::get("/"));
    assert_eq!(
        (normal.source, normal.endpoints[0]),
        (PickSource::Policy, 0)
    );
    for _ in 0..8 {
        let pick = upstream.pick(&RequestInfo::get("/trap"));
        assert_eq!(
            pick.source,
            PickSource::PreviousVersion,
            "round-robin answers"
        );
    }
    assert!(
        upstream.policy().is_quarantined(),
        "repeated faults quarantine the new version"
    );
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let (code, _, backend) = common::client::get(listener(&proxy), "/", false).await;
        assert_eq!(code, 200);
        seen.insert(backend);
    }
    assert_eq!(
        seen.len(),
        3,
        "the previous round-robin serves every request: {seen:?}"
    );
    proxy.shutdown();
}
