//! Health checking end to end: real backends behind the proxy under load. A backend
//! process killed and restarted, a `/health` that turns 503, a slow backend and
//! `latency-outlier`, a gRPC server set to NOT_SERVING, misbehaving scorers, and a
//! scorer reloaded from the policy directory.

use crate::common;

use common::client::{Load, Sent, share};
use common::process::BackendProcess;
use common::{backend, component_bytes, config, proxy, temp_dir};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};
use switchyard_policy::ReloadOutcome;
use switchyard_policy::cluster::Health;

/// A policy directory holding the `hostile-scorer` fixture.
fn hostile_scorer_dir(tag: &str) -> std::path::PathBuf {
    let dir = temp_dir(tag);
    let bytes = component_bytes("hostile-scorer");
    std::fs::write(dir.join("hostile-scorer.wasm"), bytes).unwrap();
    dir
}

const PROBES: &str = "slow_start = \"1s\"\n\
    [clusters.health_check]\n\
    interval = \"300ms\"\ntimeout = \"200ms\"\njitter = \"0ms\"\n\
    unhealthy_threshold = 2\nhealthy_threshold = 1\n\
    [admin]\nlisten = \"127.0.0.1:0\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backend_is_dropped_within_two_probe_intervals_and_ramps_back() {
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let c_addr = backend::dead();
    let mut c = Some(BackendProcess::start("c", c_addr));
    let endpoints = [(a.addr, 1), (b.addr, 1), (c_addr, 1)];
    let proxy = proxy(&config("weighted-round-robin", &endpoints, PROBES));
    let load = Load::start(proxy.listener_addr("web").unwrap(), 4);

    tokio::time::sleep(Duration::from_millis(800)).await;
    let warm = load.since(Instant::now() - Duration::from_millis(500), None);
    assert!(
        warm.iter().all(|s| s.status == 200),
        "all served before the kill"
    );
    assert!(share(&warm, "c") > 0.2, "c takes its share");

    drop(c.take()); // SIGKILL
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let after = load.since(killed, None);
    let failures: Vec<&Sent> = after.iter().filter(|s| s.status != 200).collect();
    let last_failure = failures.iter().map(|s| s.at - killed).max();
    eprintln!(
        "kill: {} requests failed, the last sent {last_failure:?} after the kill (probe interval 300ms × 2)",
        failures.len()
    );
    // Detection is due within interval × threshold (+100 ms); allow slack for a
    // loaded test machine, and check that nothing reaches c once it is out.
    let settled = load.since(killed + Duration::from_millis(1_000), None);
    assert!(!settled.is_empty());
    assert!(
        settled.iter().all(|s| s.status == 200 && s.backend != "c"),
        "after detection every request is served by a or b"
    );

    let admin = proxy.admin_addr().unwrap();
    let clusters = common::client::json(admin, "/clusters").await;
    let endpoint = &clusters["clusters"][0]["endpoints"][2];
    eprintln!(
        "kill: {} connect attempts reached c before it was taken out (failed over to a or b)",
        endpoint["failures"]
    );
    assert_eq!(endpoint["health"], "unavailable", "{endpoint}");
    assert_eq!(endpoint["verdict"]["state"], "ejected", "{endpoint}");
    assert!(
        ["probe", "passive"].contains(&endpoint["verdict_source"].as_str().unwrap()),
        "{endpoint}"
    );
    assert_eq!(endpoint["last_probe"]["success"], false, "{endpoint}");
    assert_eq!(
        clusters["clusters"][0]["health"]["scorer"],
        "default-health"
    );

    let _c = BackendProcess::start("c", c_addr);
    let restarted = Instant::now();
    let back = loop {
        if let Some(first) = load
            .since(restarted, None)
            .iter()
            .find(|s| s.backend == "c")
        {
            break first.at;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "c never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let early = share(
        &load.since(back, Some(back + Duration::from_millis(400))),
        "c",
    );
    let late = share(&load.since(back + Duration::from_millis(1_300), None), "c");
    eprintln!(
        "slow start: c's share {early:.3} in its first 400 ms back, {late:.3} after the ramp"
    );
    assert!(early < late && late > 0.2, "early {early}, late {late}");
    assert!(load.since(back, None).iter().all(|s| s.status == 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_whose_health_check_fails_is_drained_while_it_still_serves() {
    let healthy = Arc::new(AtomicBool::new(true));
    let always = Arc::new(AtomicBool::new(true));
    let a = backend::with_health("a", Arc::clone(&always)).await;
    let b = backend::with_health("b", always).await;
    let c = backend::with_health("c", Arc::clone(&healthy)).await;
    let endpoints = [(a.addr, 1), (b.addr, 1), (c.addr, 1)];
    let extra = PROBES.replace(
        "[clusters.health_check]\n",
        "[clusters.health_check]\nexpect_body = \"ok\"\n",
    );
    let proxy = proxy(&config("round-robin", &endpoints, &extra));
    let load = Load::start(proxy.listener_addr("web").unwrap(), 4);
    tokio::time::sleep(Duration::from_millis(800)).await;

    healthy.store(false, Relaxed);
    let draining = Instant::now();
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    let drained = load.since(draining + Duration::from_millis(1_000), None);
    assert!(!drained.is_empty() && drained.iter().all(|s| s.backend != "c"));

    healthy.store(true, Relaxed);
    let restored = Instant::now();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        share(
            &load.since(restored + Duration::from_millis(700), None),
            "c"
        ) > 0.1
    );
    let all = load.since(draining - Duration::from_secs(1), None);
    assert!(
        all.iter().all(|s| s.status == 200),
        "draining fails no request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_outlier_takes_share_from_a_slow_backend() {
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let slow = backend::named("slow", Duration::from_millis(25)).await;
    let endpoints = [(a.addr, 1), (b.addr, 1), (slow.addr, 1)];
    let extra = "health_policy = \"latency-outlier\"\n\
                 health_config = { min_requests = 10, min_latency_us = 5000 }\n";
    let proxy = proxy(&config("weighted-round-robin", &endpoints, extra));
    let started = Instant::now();
    let load = Load::start(proxy.listener_addr("web").unwrap(), 6);
    tokio::time::sleep(Duration::from_millis(3_000)).await;

    let before = share(
        &load.since(started, Some(started + Duration::from_millis(700))),
        "slow",
    );
    let after = share(
        &load.since(started + Duration::from_millis(2_000), None),
        "slow",
    );
    eprintln!("latency-outlier: slow backend's share {before:.3} before, {after:.3} after");
    assert!(before > 0.2, "{before}");
    assert!(after < 0.12, "{after}");
    let membership = proxy.upstream("api").unwrap().membership();
    let slow_member = &membership.members()[2];
    assert_eq!(
        (slow_member.health, slow_member.weight_factor),
        (Health::Degraded, 0.1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_backend_not_serving_is_drained() {
    use tonic_health::ServingStatus;
    const SERVICE: &str = "switchyard.test.Echo";
    let mut servers = Vec::new();
    for _ in 0..2 {
        servers.push(backend::grpc_health(SERVICE).await);
    }
    let extra = format!(
        "protocol = \"http2\"\n[clusters.health_check]\nkind = \"grpc\"\n\
         grpc_service = \"{SERVICE}\"\ninterval = \"200ms\"\n\
         unhealthy_threshold = 1\nhealthy_threshold = 1\n"
    );
    let endpoints = [(servers[0].0, 1), (servers[1].0, 1)];
    let proxy = proxy(&config("round-robin", &endpoints, &extra));
    let upstream = proxy.upstream("api").unwrap();
    let health_of = |i: usize| upstream.membership().members()[i].health;
    let wait_for = |i: usize, want: Health| {
        let upstream = Arc::clone(&upstream);
        async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            while upstream.membership().members()[i].health != want {
                assert!(
                    Instant::now() < deadline,
                    "endpoint {i} never became {want:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };

    servers[1]
        .1
        .set_service_status(SERVICE, ServingStatus::NotServing)
        .await;
    wait_for(1, Health::Unavailable).await;
    assert_eq!(health_of(0), Health::Healthy);
    let cluster = proxy.cluster("api").unwrap();
    let view = cluster.health.as_ref().unwrap().snapshot();
    let probe = view.endpoints[1].last_probe.clone().unwrap();
    assert_eq!((probe.success, probe.status), (false, Some(0)));
    assert!(probe.reason.unwrap().contains("NOT_SERVING"));

    servers[1]
        .1
        .set_service_status(SERVICE, ServingStatus::Serving)
        .await;
    wait_for(1, Health::Healthy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_scorer_is_contained_and_traffic_flows() {
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let dir = hostile_scorer_dir("health-hostile");
    for (mode, fault) in [
        ("trap", "traps"),
        ("bad-verdict", "invalid_answers"),
        ("loop", "deadlines"),
    ] {
        let extra = format!(
            "health_policy = \"hostile-scorer\"\nhealth_config = {{ mode = \"{mode}\" }}\n\
             [policies]\ndir = \"{}\"\nwatch = false\n",
            dir.display()
        );
        let proxy = proxy(&config("round-robin", &[(a.addr, 1), (b.addr, 1)], &extra));
        let load = Load::start(proxy.listener_addr("web").unwrap(), 2);
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let sent = load.since(Instant::now() - Duration::from_secs(2), None);
        assert!(
            sent.len() > 50 && sent.iter().all(|s| s.status == 200),
            "{mode}"
        );
        let status = proxy.registry().status();
        let scorer = status.iter().find(|p| p.name == "hostile-scorer").unwrap();
        let (_, stats, quarantined) = &scorer.clusters[0];
        let count = match fault {
            "traps" => stats.traps,
            "invalid_answers" => stats.invalid_answers,
            _ => stats.deadlines,
        };
        assert!(count >= 5 && *quarantined, "{mode}: {stats:?}");
        let membership = proxy.upstream("api").unwrap().membership();
        assert!(
            membership
                .members()
                .iter()
                .all(|m| m.health == Health::Healthy),
            "{mode}: no verdict came of it"
        );
        drop(load);
        proxy.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scorer_reloads_from_the_policy_directory() {
    let a = backend::named("a", Duration::ZERO).await;
    let dir = temp_dir("health-reload");
    let file = dir.join("guard.wasm");
    std::fs::write(&file, component_bytes("default-health")).unwrap();
    let extra = format!(
        "health_policy = \"guard\"\n[policies]\ndir = \"{}\"\nwatch = false\n",
        dir.display()
    );
    let proxy = proxy(&config("round-robin", &[(a.addr, 1)], &extra));
    let registry = proxy.registry();

    std::fs::write(&file, component_bytes("latency-outlier")).unwrap();
    assert!(matches!(
        registry.reload_file(&file),
        ReloadOutcome::Loaded { .. }
    ));
    let serving = registry.active("guard").unwrap().sha256;

    std::fs::write(&file, component_bytes("round-robin")).unwrap();
    match registry.reload_file(&file) {
        ReloadOutcome::Failed { reason, .. } => {
            assert!(
                reason.contains("a health scorer (world health-scorer) is needed"),
                "{reason}"
            )
        }
        other => panic!("a balancer must not replace a scorer: {other:?}"),
    }
    assert_eq!(registry.active("guard").unwrap().sha256, serving);
    let (status, _, body) =
        common::client::get(proxy.listener_addr("web").unwrap(), "/", false).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_scorer_keeps_a_dead_endpoint_out() {
    let a = backend::named("a", Duration::ZERO).await;
    let dir = hostile_scorer_dir("health-flaky");
    let extra = format!(
        "health_policy = \"hostile-scorer\"\nhealth_config = {{ mode = \"flaky\" }}\n\
         [clusters.health_check]\ninterval = \"100ms\"\ntimeout = \"100ms\"\n\
         unhealthy_threshold = 2\nhealthy_threshold = 1\n\
         [policies]\ndir = \"{}\"\nwatch = false\n",
        dir.display()
    );
    let proxy = proxy(&config(
        "round-robin",
        &[(a.addr, 1), (backend::dead(), 1)],
        &extra,
    ));
    let upstream = proxy.upstream("api").unwrap();
    let load = Load::start(proxy.listener_addr("web").unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let dead = |u: &switchyard::proxy::Upstream| u.membership().members()[1].load.failed();
    let failed_then = dead(&upstream);
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    let status = proxy.registry().status();
    let scorer = status.iter().find(|p| p.name == "hostile-scorer").unwrap();
    let (_, stats, quarantined) = &scorer.clusters[0];
    assert!(stats.traps >= 2 && !quarantined, "{stats:?}");
    assert_eq!(
        dead(&upstream),
        failed_then,
        "restarts after {} traps never let the dead endpoint back in",
        stats.traps
    );
    assert!(
        load.since(Instant::now() - Duration::from_secs(6), None)
            .iter()
            .all(|s| s.status == 200)
    );
}
