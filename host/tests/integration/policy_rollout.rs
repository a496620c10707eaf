//! Policy rollouts end to end, under continuous load through the proxy: a candidate
//! (`NAME.canary.wasm`) staged beside the serving version, judged on its own requests,
//! promoted or rolled back by the rules, by hand through the admin API; shadow mode.

use crate::common;

use common::backend::{Backend, named};
use common::client::{Load, Sent, admin_json, share};
use common::{component_bytes, temp_dir, with_custom_section};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard::app::App;
use switchyard_policy::{PolicyStatus, RolloutEnd, RolloutMode, RolloutOutcome, Sha256Digest};

/// Backends by name, each answering after `delay`, in that order (ids 0, 1, …).
async fn backends(named_delays: &[(&'static str, Duration)]) -> Vec<Backend> {
    let mut all = Vec::new();
    for (name, delay) in named_delays {
        all.push(named(name, *delay).await);
    }
    all
}

/// A proxy whose cluster `api` balances with `policy` over `backends`, its policies in
/// `dir` (watched unless `watch` is false), with an admin listener and
/// `[clusters.rollout]` `rollout`.
fn proxy(policy: &str, dir: &Path, backends: &[Backend], rollout: &str, watch: bool) -> App {
    let endpoints: Vec<(SocketAddr, u32)> = backends.iter().map(|b| (b.addr, 1)).collect();
    let extra = format!(
        "[clusters.rollout]\n{rollout}\n\
         [policies]\ndir = \"{}\"\ncache_dir = \"{}\"\nwatch = {watch}\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n",
        dir.display(),
        dir.with_extension("cache").display()
    );
    common::proxy(&common::config(policy, &endpoints, &extra))
}

/// Writes `bytes` to `file` as a deployer would: elsewhere, then renamed into place.
fn drop_in(file: &Path, bytes: &[u8]) {
    let temp = file.with_file_name(".incoming.tmp");
    std::fs::write(&temp, bytes).unwrap();
    std::fs::rename(&temp, file).unwrap();
}

fn status_of(proxy: &App, name: &str) -> PolicyStatus {
    proxy
        .registry()
        .status()
        .into_iter()
        .find(|p| p.name == name)
        .expect("the policy is loaded")
}

/// Polls until `check` finds something in the status of policy `name`, or panics after
/// `within` with the last status.
async fn status_until<T>(
    proxy: &App,
    name: &str,
    within: Duration,
    check: impl Fn(&PolicyStatus) -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let status = status_of(proxy, name);
        if let Some(found) = check(&status) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "policy {name}: not there after {within:?}; rollout {:#?}, last {:#?}",
            status.rollout,
            status.last_rollout
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the current rollout of `name` to end, and answers how.
async fn ended(proxy: &App, name: &str, within: Duration) -> RolloutEnd {
    status_until(proxy, name, within, |s| s.last_rollout.clone()).await
}

fn rejected(file: &Path) -> PathBuf {
    file.with_extension("rejected")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_sending_everything_to_a_slow_endpoint_is_rolled_back() {
    // `slow` first: the candidate (`hostile`, no mode) sends every pick to the first
    // endpoint. The serving peak-ewma keeps away from it.
    let backends = backends(&[
        ("slow", Duration::from_millis(40)),
        ("a", Duration::from_millis(1)),
        ("b", Duration::from_millis(1)),
    ])
    .await;
    let dir = temp_dir("rollout-slow");
    let proxy = proxy(
        "peak-ewma",
        &dir,
        &backends,
        "canary_percent = 10\nmin_requests = 100\npromote_after = \"5m\"",
        true,
    );
    let load = Load::start(proxy.listener_addr("web").unwrap(), 8);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let staged_at = Instant::now();
    let file = dir.join("peak-ewma.canary.wasm");
    drop_in(&file, &component_bytes("hostile"));
    let end = ended(&proxy, "peak-ewma", Duration::from_secs(30)).await;
    let ended_at = Instant::now();
    assert_eq!(end.outcome, RolloutOutcome::RolledBack, "{end:#?}");
    assert!(
        end.reason.contains("cluster api: p99 latency"),
        "the p99 rule broke: {}",
        end.reason
    );
    let figures = &end.clusters[0].candidate;
    assert!(
        figures.candidate.requests >= 100 && figures.serving.requests > figures.candidate.requests,
        "judged on its own requests: {figures:#?}"
    );
    let sent: Vec<Sent> = load.since(staged_at, Some(ended_at));
    let slow = share(&sent, "slow");
    println!(
        "{} requests while staged ({:?}), slow's share {slow:.3}; {}",
        sent.len(),
        ended_at - staged_at,
        end.reason
    );
    assert!(
        slow <= 1.0 / 3.0 + 0.10 + 0.02,
        "the slow endpoint had at most its fair share plus the canary's: {slow:.3}"
    );
    assert!(sent.iter().all(|s| s.status == 200), "no request failed");
    assert!(
        !file.exists() && rejected(&file).exists(),
        "the candidate's file is set aside as .rejected"
    );
    // The serving version answers everything again.
    let upstream = proxy.upstream("api").unwrap();
    assert!(upstream.binding().candidate().is_none());
    let after = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = load.since(after, None);
    assert!(share(&later, "slow") < 0.05, "{}", share(&later, "slow"));
    drop(load);
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_canary_is_promoted_and_then_serves_everything() {
    let fast = Duration::from_millis(1);
    let backends = backends(&[("a", fast), ("b", fast), ("c", fast)]).await;
    let dir = temp_dir("rollout-good");
    let serving = component_bytes("round-robin");
    std::fs::write(dir.join("live.wasm"), &serving).unwrap();
    let proxy = proxy(
        "live",
        &dir,
        &backends,
        "canary_percent = 25\nmin_requests = 50\npromote_after = \"3s\"",
        true,
    );
    let admin = proxy.admin_addr().unwrap();
    let load = Load::start(proxy.listener_addr("web").unwrap(), 4);

    // The same policy, another build: another version.
    let candidate = with_custom_section(&serving, "v2");
    let sha = Sha256Digest::of(&candidate).to_string();
    let file = dir.join("live.canary.wasm");
    drop_in(&file, &candidate);
    // While staged: both versions' requests, in the status and in the metrics.
    let counted = status_until(&proxy, "live", Duration::from_secs(10), |s| {
        let cluster = &s.rollout.as_ref()?.clusters[0].candidate;
        (cluster.candidate.requests >= 20).then(|| cluster.clone())
    })
    .await;
    assert_eq!(counted.version, sha);
    let candidate_share = counted.candidate.requests as f64
        / (counted.candidate.requests + counted.serving.requests) as f64;
    assert!(
        (0.10..0.45).contains(&candidate_share),
        "the canary answers about its 25%: {candidate_share:.3} of {counted:?}"
    );
    let (code, policies) = admin_json(admin, "GET", "/policies").await;
    assert_eq!(code, 200);
    let rollout = &policies["policies"][0]["rollout"];
    assert_eq!(rollout["sha256"], sha.as_str(), "{policies:#}");
    assert_eq!(rollout["clusters"][0]["mode"], "canary");
    assert_eq!(rollout["clusters"][0]["share"], 0.25);
    assert_eq!(rollout["clusters"][0]["verdict"], "wait");
    let metrics = common::client::get(admin, "/metrics", false).await.2;
    let candidate_line = format!(
        "switchyard_policy_version_requests_total{{cluster=\"api\",policy=\"live\",version=\"sha256:{sha}\",role=\"candidate\"}}"
    );
    assert!(
        metrics.contains(&candidate_line),
        "{candidate_line} in\n{metrics}"
    );

    let end = ended(&proxy, "live", Duration::from_secs(20)).await;
    assert_eq!(end.outcome, RolloutOutcome::Promoted, "{end:#?}");
    assert_eq!(end.reason, "the rules passed");
    let status = status_of(&proxy, "live");
    assert_eq!(status.active.sha256.to_string(), sha);
    assert!(status.rollout.is_none());
    // The promotion survives a restart: the candidate's file became `live.wasm`.
    assert!(!file.exists());
    assert_eq!(std::fs::read(dir.join("live.wasm")).unwrap(), candidate);
    let upstream = proxy.upstream("api").unwrap();
    assert_eq!(upstream.policy().component().sha256(), sha);
    assert!(upstream.binding().candidate().is_none());
    // The watcher sees the rename and loads nothing new.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status_of(&proxy, "live").active.sha256.to_string(), sha);
    let after = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = load.since(after, None);
    assert!(
        !later.is_empty() && later.iter().all(|s| s.status == 200),
        "the promoted version serves every request"
    );
    drop(load);
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulting_shadow_leaves_traffic_untouched_and_reports_its_faults() {
    let fast = Duration::from_millis(1);
    let backends = backends(&[("a", fast), ("b", fast), ("c", fast)]).await;
    let dir = temp_dir("rollout-shadow");
    std::fs::write(dir.join("live.wasm"), component_bytes("round-robin")).unwrap();
    let rollout = "mode = \"shadow\"\nshadow_sample = 1.0";
    let proxy = proxy("live", &dir, &backends, rollout, true);
    let web = proxy.listener_addr("web").unwrap();
    let file = dir.join("live.canary.wasm");
    drop_in(&file, &component_bytes("hostile"));
    status_until(&proxy, "live", Duration::from_secs(10), |s| {
        s.rollout.clone()
    })
    .await;

    // On `/`, the candidate would send everything to `a`; the serving round-robin
    // spreads. Traffic follows the serving version only.
    let mut seen = BTreeMap::<String, usize>::new();
    for _ in 0..60 {
        let (code, _, backend) = common::client::get(web, "/", false).await;
        assert_eq!(code, 200);
        *seen.entry(backend).or_default() += 1;
    }
    assert_eq!(seen.len(), 3, "round-robin serves: {seen:?}");
    assert!(seen.values().all(|n| *n >= 15), "{seen:?}");
    let compared = status_until(&proxy, "live", Duration::from_secs(10), |s| {
        let shadow = s.rollout.as_ref()?.clusters[0].candidate.shadow.clone()?;
        (shadow.compared >= 60).then_some(shadow)
    })
    .await;
    let agreement = compared.agreed as f64 / compared.compared as f64;
    assert!(
        (0.15..0.55).contains(&agreement),
        "it agrees on about a third: {compared:?}"
    );
    let first = backends[0].addr.to_string();
    let (_, serving_a, candidate_a) = compared
        .shares
        .iter()
        .find(|(address, _, _)| *address == first)
        .cloned()
        .expect("a's share is reported");
    assert_eq!(
        candidate_a, compared.compared,
        "the candidate would send all to a"
    );
    assert!(serving_a < compared.compared / 2, "{compared:?}");

    // `/trap` makes the candidate panic: every request still answered, and the
    // rollout ends in quarantine with the faults reported.
    let mut answered = BTreeSet::new();
    for _ in 0..30 {
        let (code, _, backend) = common::client::get(web, "/trap", false).await;
        assert_eq!(code, 200, "a shadow's fault never touches a request");
        answered.insert(backend);
    }
    assert_eq!(answered.len(), 3);
    let end = ended(&proxy, "live", Duration::from_secs(10)).await;
    assert_eq!(end.outcome, RolloutOutcome::RolledBack);
    assert!(end.reason.contains("quarantined after"), "{}", end.reason);
    let shadow = end.clusters[0].candidate.shadow.clone().unwrap();
    assert!(shadow.faults >= 5, "{shadow:?}");
    assert!(rejected(&file).exists());
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sticky_canary_keeps_each_user_on_one_version() {
    let fast = Duration::from_millis(1);
    let backends = backends(&[("a", fast), ("b", fast), ("c", fast)]).await;
    let dir = temp_dir("rollout-sticky");
    std::fs::write(dir.join("live.wasm"), component_bytes("round-robin")).unwrap();
    let proxy = proxy(
        "live",
        &dir,
        &backends,
        "canary_percent = 50\nsticky = \"header:x-user\"\nmin_requests = 100000",
        true,
    );
    let web = proxy.listener_addr("web").unwrap();
    // The candidate sends all to `a`; round-robin moves on with every request.
    drop_in(&dir.join("live.canary.wasm"), &component_bytes("hostile"));
    status_until(&proxy, "live", Duration::from_secs(10), |s| {
        s.rollout.clone()
    })
    .await;

    let (mut on_candidate, mut on_serving) = (0, 0);
    for user in 0..24 {
        let mut answered = BTreeSet::new();
        for _ in 0..6 {
            let request = http::Request::get("/")
                .header("host", "switchyard.test")
                .header("x-user", format!("user-{user}"))
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            let response = common::client::send(web, request, false).await;
            assert_eq!(response.status(), 200);
            let backend = response.headers()["x-backend"]
                .to_str()
                .unwrap()
                .to_string();
            answered.insert(backend);
        }
        // Round-robin never answers twice running from one backend.
        if answered.len() == 1 {
            assert!(answered.contains("a"), "user-{user}: {answered:?}");
            on_candidate += 1;
        } else {
            on_serving += 1;
        }
    }
    let status = status_of(&proxy, "live");
    let figures = &status.rollout.unwrap().clusters[0].candidate;
    println!("users on the candidate {on_candidate}, on the serving version {on_serving}");
    assert!(on_candidate > 0 && on_serving > 0);
    assert_eq!(figures.candidate.requests, on_candidate * 6);
    assert_eq!(figures.serving.requests, on_serving * 6);
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_stages_promotes_and_rolls_back_by_hand() {
    let fast = Duration::from_millis(1);
    let backends = backends(&[("a", fast), ("b", fast)]).await;
    let dir = temp_dir("rollout-admin");
    let serving = component_bytes("round-robin");
    std::fs::write(dir.join("live.wasm"), &serving).unwrap();
    // Not watched: only the admin API stages.
    let proxy = proxy("live", &dir, &backends, "min_requests = 100000", false);
    let admin = proxy.admin_addr().unwrap();

    let (code, body) = admin_json(admin, "POST", "/policies/live/stage").await;
    assert_eq!(code, 422, "no candidate file yet: {body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("live.canary.wasm")
    );
    let (code, body) = admin_json(admin, "POST", "/policies/live/promote").await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["reason"], "no candidate of policy \"live\" is staged");

    let file = dir.join("live.canary.wasm");
    let candidate = with_custom_section(&serving, "by-hand");
    std::fs::write(&file, &candidate).unwrap();
    let (code, body) =
        admin_json(admin, "POST", "/policies/live/stage?mode=shadow&sample=0.5").await;
    assert_eq!(
        (code, &body["result"]),
        (200, &Value::from("staged")),
        "{body}"
    );
    let rollout = admin_json(admin, "GET", "/policies").await.1["policies"][0]["rollout"].clone();
    assert_eq!(rollout["clusters"][0]["mode"], "shadow", "{rollout:#}");
    assert_eq!(rollout["clusters"][0]["share"], 0.5);
    let (code, body) = admin_json(admin, "POST", "/policies/live/rollback").await;
    assert_eq!(
        (code, &body["result"]),
        (200, &Value::from("rolled-back")),
        "{body}"
    );
    assert!(rejected(&file).exists() && !file.exists());
    let last = admin_json(admin, "GET", "/policies").await.1["policies"][0]["last_rollout"].clone();
    assert_eq!(last["result"], "rolled-back");
    assert_eq!(last["reason"], "rolled back by hand");

    // The same through the command line.
    std::fs::write(&file, &candidate).unwrap();
    let url = format!("http://{admin}");
    let cli = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::switchyard(&args)
        })
        .await
        .unwrap()
    };
    let args = |verb: &str, extra: &[&str]| {
        let mut all = vec!["policy".to_string(), verb.into(), "live".into()];
        all.extend(extra.iter().map(|s| s.to_string()));
        all.extend(["--admin".to_string(), url.clone()]);
        all
    };
    let (ok, out, err) = cli(args("stage", &["--canary", "30"])).await;
    assert!(ok, "{out}{err}");
    let sha = Sha256Digest::of(&candidate).to_string();
    assert_eq!(out.trim(), format!("live: staged sha256:{sha}"));
    let rollout = admin_json(admin, "GET", "/policies").await.1["policies"][0]["rollout"].clone();
    assert_eq!(rollout["clusters"][0]["share"], 0.3, "{rollout:#}");
    // A new serving version under a rollout: the candidate is staged again against
    // it, in the mode it was given.
    let serving_2 = with_custom_section(&serving, "serving-2");
    std::fs::write(dir.join("live.wasm"), &serving_2).unwrap();
    assert_eq!(admin_json(admin, "POST", "/policies/reload").await.0, 200);
    let status = status_of(&proxy, "live");
    assert_eq!(status.active.sha256, Sha256Digest::of(&serving_2));
    let last = status.last_rollout.unwrap();
    assert_eq!(last.outcome, RolloutOutcome::Withdrawn);
    assert!(
        last.reason.contains("serving version changed"),
        "{}",
        last.reason
    );
    let again = &status.rollout.expect("staged again").clusters[0].candidate;
    assert_eq!(again.version, sha);
    assert_eq!(
        again.serving_version,
        Sha256Digest::of(&serving_2).to_string()
    );
    assert_eq!(again.mode, RolloutMode::Canary { percent: 30.0 });
    // The candidate's file changes after staging: the promotion keeps what was tried,
    // and leaves the file alone.
    std::fs::write(&file, b"not wasm").unwrap();
    let (ok, out, err) = cli(args("promote", &[])).await;
    assert!(ok, "{out}{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"not wasm");
    assert_eq!(out.trim(), format!("live: promoted sha256:{sha}"));
    let (ok, _, err) = cli(args("rollback", &[])).await;
    assert!(!ok);
    assert!(
        err.contains(
            "rollback live: the proxy answered 409: no candidate of policy \"live\" is staged"
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("live.wasm")).unwrap(), candidate);
    assert_eq!(
        status_of(&proxy, "live").active.sha256,
        Sha256Digest::of(&candidate)
    );
    let (code, _) = admin_json(admin, "GET", "/policies/live/promote").await;
    assert_eq!(code, 405);
    let (code, body) = admin_json(admin, "POST", "/policies/..%2Fetc/stage").await;
    assert_eq!(code, 400, "{body}");
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_two_proxies_stages_through_one_key_and_promotes_together() {
    let etcd = common::etcd::Etcd::start();
    let fast = Duration::from_millis(1);
    let backends = backends(&[("a", fast), ("b", fast), ("c", fast)]).await;
    let endpoints: Vec<(SocketAddr, u32)> = backends.iter().map(|b| (b.addr, 1)).collect();
    let serving = component_bytes("round-robin");
    let candidate = with_custom_section(&serving, "fleet");
    let sha = Sha256Digest::of(&candidate).to_string();
    let mut dirs = Vec::new();
    let mut proxies = Vec::new();
    for i in 0..2 {
        let dir = temp_dir("rollout-fleet");
        std::fs::write(dir.join("live.wasm"), &serving).unwrap();
        // The second proxy gets the candidate's file only after the key.
        if i == 0 {
            std::fs::write(dir.join("live.canary.wasm"), &candidate).unwrap();
        }
        let extra = format!(
            "[clusters.rollout]\ncanary_percent = 50\nmin_requests = 50\npromote_after = \"2s\"\n\
             [policies]\ndir = \"{}\"\ncache_dir = \"{}\"\n\
             [etcd]\nendpoints = [\"{}\"]\n",
            dir.display(),
            dir.with_extension("cache").display(),
            etcd.url()
        );
        proxies.push(common::proxy(&common::config("live", &endpoints, &extra)));
        dirs.push(dir);
    }
    // On a fleet's proxy the file alone stages nothing: the key does.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for proxy in &proxies {
        assert!(status_of(proxy, "live").rollout.is_none());
    }
    let key = "/switchyard/clusters/api/policy_canary";
    etcd.put(
        key,
        &format!(r#"{{"sha256": "{sha}", "mode": "canary", "percent": 50}}"#),
    );
    status_until(&proxies[0], "live", Duration::from_secs(10), |s| {
        s.rollout.clone()
    })
    .await;
    // A proxy without the file stages nothing yet, and tries the key again later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(status_of(&proxies[1], "live").rollout.is_none());
    drop_in(&dirs[1].join("live.canary.wasm"), &candidate);
    for proxy in &proxies {
        let rollout = status_until(proxy, "live", Duration::from_secs(15), |s| {
            s.rollout.clone()
        })
        .await;
        assert_eq!(rollout.version.sha256.to_string(), sha);
    }
    let loads: Vec<Load> = proxies
        .iter()
        .map(|proxy| Load::start(proxy.listener_addr("web").unwrap(), 3))
        .collect();
    // The first proxy to decide writes the verdict; both act on it.
    for (proxy, dir) in proxies.iter().zip(&dirs) {
        let end = ended(proxy, "live", Duration::from_secs(30)).await;
        assert_eq!(end.outcome, RolloutOutcome::Promoted, "{end:#?}");
        assert_eq!(end.reason, "fleet: promoted");
        assert_eq!(status_of(proxy, "live").active.sha256.to_string(), sha);
        assert_eq!(std::fs::read(dir.join("live.wasm")).unwrap(), candidate);
    }
    let (_, value) = etcd.ctl(&["get", key, "--print-value-only"]);
    let value: Value = serde_json::from_str(value.trim()).unwrap();
    assert_eq!(value["verdict"], "promote", "{value}");
    assert_eq!(value["sha256"], sha.as_str());
    drop(loads);
    for proxy in proxies {
        common::stop(proxy).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_rebuilt_by_a_config_reload_keeps_trying_the_candidate() {
    let fast = Duration::from_millis(1);
    let backends = backends(&[("a", fast), ("b", fast)]).await;
    let endpoints: Vec<(SocketAddr, u32)> = backends.iter().map(|b| (b.addr, 1)).collect();
    let dir = temp_dir("rollout-reload");
    let serving = component_bytes("round-robin");
    std::fs::write(dir.join("live.wasm"), &serving).unwrap();
    let config = |percent: u32| {
        let extra = format!(
            "[clusters.rollout]\ncanary_percent = {percent}\n\
             [policies]\ndir = \"{}\"\ncache_dir = \"{}\"\nwatch = false\n",
            dir.display(),
            dir.with_extension("cache").display()
        );
        common::config("live", &endpoints, &extra)
    };
    let path = dir.with_extension("toml");
    std::fs::write(&path, config(20)).unwrap();
    let proxy = switchyard::app::App::start_from_file(&path, common::engine()).unwrap();
    std::fs::write(
        dir.join("live.canary.wasm"),
        with_custom_section(&serving, "reload"),
    )
    .unwrap();
    let staged = proxy.registry().stage("live", None);
    assert!(
        matches!(staged, switchyard_policy::ReloadOutcome::Staged { .. }),
        "{staged:?}"
    );
    let before = proxy.upstream("api").unwrap();

    // Another canary share rebuilds the cluster: the new one is staged the candidate.
    std::fs::write(&path, config(40)).unwrap();
    proxy.reload().expect("the configuration reloads");
    let after = proxy.upstream("api").unwrap();
    assert!(!Arc::ptr_eq(before.binding(), after.binding()), "rebuilt");
    let candidate = after
        .binding()
        .candidate()
        .expect("staged on the new cluster");
    assert_eq!(
        candidate.status().mode,
        RolloutMode::Canary { percent: 40.0 }
    );
    let rollout = status_of(&proxy, "live").rollout.unwrap();
    assert_eq!(
        rollout.clusters.len(),
        1,
        "the old cluster left: {rollout:#?}"
    );
    common::stop(proxy).await;
}
