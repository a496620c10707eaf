//! The built-in policies, loaded as components through the real engine, produce the
//! distributions they promise over 10,000 picks.

use crate::support as common;

use common::{Build, bind, bind_built, membership};
use std::collections::BTreeMap;
use std::sync::Arc;
use switchyard_policy::cluster::{Health, LoadDecay, LoadSetup, Member, Membership, MetricCatalog};
use switchyard_policy::{ClusterPolicy, PickSource, RequestInfo};

const PICKS: usize = 10_000;

fn first_choices(policy: &ClusterPolicy, picks: usize) -> BTreeMap<u32, usize> {
    let request = RequestInfo::get("/");
    let mut counts = BTreeMap::new();
    for _ in 0..picks {
        let pick = policy.pick(&request);
        assert_eq!(pick.source, PickSource::Policy);
        *counts.entry(pick.endpoints[0]).or_insert(0) += 1;
    }
    counts
}

fn share(counts: &BTreeMap<u32, usize>, id: u32) -> f64 {
    counts.get(&id).copied().unwrap_or(0) as f64 / counts.values().sum::<usize>() as f64
}

#[test]
fn round_robin_is_even_and_ordered() {
    for build in Build::ALL {
        round_robin_of(build);
    }
}

fn round_robin_of(build: Build) {
    let policy = bind_built(build, "round-robin", &[], membership(&[5, 1, 1, 1])).unwrap();
    let counts = first_choices(&policy, PICKS);
    assert!(counts.values().all(|&c| c == PICKS / 4), "{counts:?}");
    let first = policy.pick(&RequestInfo::get("/")).endpoints;
    let expected: Vec<u32> = (0..3).map(|k| (first[0] + k) % 4).collect();
    assert_eq!(
        first, expected,
        "first choice, then the next two as fallbacks"
    );
}

#[test]
fn weighted_round_robin_spreads_5_1_1() {
    let policy = bind("weighted-round-robin", &[], membership(&[5, 1, 1])).unwrap();
    // The stride schedule's cycle is a a b a a c a, entered at a random point.
    let picks: Vec<u32> = (0..7)
        .map(|_| policy.pick(&RequestInfo::get("/")).endpoints[0])
        .collect();
    let cycle = [0, 0, 1, 0, 0, 2, 0];
    assert!(
        (0..7).any(|k| (0..7).all(|i| picks[i] == cycle[(k + i) % 7])),
        "{picks:?} is not a rotation of {cycle:?}"
    );
    for build in Build::ALL {
        let policy =
            bind_built(build, "weighted-round-robin", &[], membership(&[5, 1, 1])).unwrap();
        let counts = first_choices(&policy, 7 * 1_000);
        assert_eq!(
            counts.values().copied().collect::<Vec<_>>(),
            vec![5_000, 1_000, 1_000],
            "{build:?}"
        );
    }
}

#[test]
fn random_follows_weights() {
    for build in Build::ALL {
        let policy = bind_built(build, "random", &[], membership(&[1, 1, 2])).unwrap();
        let counts = first_choices(&policy, PICKS);
        for (id, expected) in [(0, 0.25), (1, 0.25), (2, 0.5)] {
            let got = share(&counts, id);
            assert!(
                (got - expected).abs() < 0.03,
                "{build:?}: endpoint {id}: {got} vs {expected}"
            );
        }
    }
}

#[test]
fn least_request_avoids_busy_endpoints() {
    for build in Build::ALL {
        least_request_of(build);
    }
}

fn least_request_of(build: Build) {
    let members = membership(&[1, 1, 1, 1]);
    let busy: Vec<_> = (0..20).map(|_| members.members()[3].load.start()).collect();
    let policy = bind_built(build, "least-request", &[], Arc::clone(&members)).unwrap();
    let counts = first_choices(&policy, PICKS);
    assert_eq!(
        counts.get(&3),
        None,
        "P2C never prefers the busy endpoint: {counts:?}"
    );
    for id in 0..3 {
        assert!((share(&counts, id) - 1.0 / 3.0).abs() < 0.03, "{counts:?}");
    }
    // Load is read live: once endpoint 3 drains and the others fill, it is preferred.
    for request in busy {
        request.finish(
            std::time::Duration::from_millis(1),
            switchyard_policy::cluster::Outcome::Status(200),
        );
    }
    let _others: Vec<_> = members.members()[..3]
        .iter()
        .flat_map(|m| (0..5).map(|_| m.load.start()))
        .collect();
    let counts = first_choices(&policy, PICKS);
    assert!(share(&counts, 3) > 0.4, "{counts:?}");
}

#[test]
fn membership_changes_reach_every_instance() {
    let policy = bind("round-robin", &[], membership(&[1, 1])).unwrap();
    policy.prewarm(4);
    let socket = "127.0.0.1:1".parse().unwrap();
    let mut members: Vec<Member> = (10..13).map(|id| Member::new(id, socket, 1)).collect();
    members[1].health = Health::Unavailable;
    policy.set_membership(Arc::new(Membership::new(members)));
    let counts = first_choices(&policy, 1_000);
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        vec![10, 12],
        "{counts:?}"
    );
    policy.set_membership(Arc::new(Membership::new(Vec::new())));
    let pick = policy.pick(&RequestInfo::get("/"));
    assert!(pick.endpoints.is_empty());
    assert_eq!(pick.source, PickSource::Policy);
}

#[test]
fn picks_answer_from_their_instance_while_a_hand_over_runs() {
    let policy =
        Arc::new(bind("round-robin", &[], Arc::new(Membership::synthetic(10_000))).unwrap());
    policy.prewarm(3);
    let request = RequestInfo::get("/");
    // Pushing 10,000 members takes milliseconds per instance, so picks in a loop
    // meanwhile meet instances the hand-over has not reached; on a loaded machine it
    // may take a few tries.
    for _ in 0..5 {
        let new = Arc::new(Membership::synthetic(10_000));
        let changer = {
            let (policy, new) = (Arc::clone(&policy), Arc::clone(&new));
            std::thread::spawn(move || policy.set_membership(new))
        };
        let mut from_older = 0;
        while !changer.is_finished() {
            let published = policy.membership().generation();
            let pick = policy.pick(&request);
            assert_eq!(pick.source, PickSource::Policy);
            assert!(pick.membership.get(pick.endpoints[0]).is_some());
            if published == new.generation() && pick.membership.generation() != published {
                from_older += 1;
            }
        }
        changer.join().unwrap();
        for _ in 0..20 {
            let pick = policy.pick(&request);
            assert_eq!(
                pick.membership.generation(),
                new.generation(),
                "the hand-over reached every instance"
            );
        }
        if from_older > 0 {
            return;
        }
    }
    panic!("no pick answered from an instance the hand-over had not reached yet");
}

#[test]
fn concurrent_picks_use_their_own_instances() {
    let policy = Arc::new(bind("least-request", &[], membership(&[1; 100])).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let policy = Arc::clone(&policy);
            std::thread::spawn(move || {
                let request = RequestInfo::get("/");
                (0..2_000).all(|_| policy.pick(&request).source == PickSource::Policy)
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap());
    }
    assert_eq!(policy.stats().picks, 8_000);
    assert_eq!(policy.stats().fallbacks, 0);
}

#[test]
fn configuration_errors_name_the_key() {
    let err = bind("round-robin", &[("speed", "9")], membership(&[1]))
        .err()
        .expect("unknown key rejected")
        .to_string();
    assert!(err.contains("policy_config.speed: unknown key"), "{err}");
}

#[test]
fn default_health_is_a_health_scorer_and_not_a_builtin_balancer() {
    // The engine inspects the component's world and imports before anything runs: the
    // scorer passes the import check and is told apart from a balancer.
    let bytes = common::component_bytes("default-health");
    match common::engine().compile("default-health", &bytes) {
        Err(switchyard_policy::LoadError::ScorerNotBalancer) => {}
        Err(e) => panic!("default-health: {e}"),
        Ok(_) => panic!("default-health loaded as a balancer"),
    }
    assert!(
        switchyard_policy::builtin_names().all(|n| n != "default-health"),
        "scorers are not offered as balancers"
    );
}

#[test]
fn every_contract_0_1_build_loads_and_serves_unchanged() {
    use switchyard_policy::Contract;
    for name in [
        "round-robin",
        "weighted-round-robin",
        "random",
        "least-request",
        "peak-ewma",
        "maglev",
        "ring-hash",
        "locality",
    ] {
        let component = common::compile_built(Build::V0_1, name);
        assert_eq!(component.contract(), Contract::V0_1, "{name}");
        assert_eq!(common::compile(name).contract(), Contract::V0_2, "{name}");
        // Keyed policies hash a header the requests lack: a random key each.
        let config: &[(&str, &str)] = match name {
            "maglev" | "ring-hash" => &[("hash_on", "header:x-user")],
            _ => &[],
        };
        let policy = bind_built(Build::V0_1, name, config, membership(&[1, 1, 2])).unwrap();
        let counts = first_choices(&policy, 3_000);
        assert!(counts.len() >= 2, "{name}: {counts:?}");
        assert_eq!(policy.stats().fallbacks, 0, "{name}");
    }
    for name in ["default-health", "latency-outlier"] {
        let bytes = Build::V0_1.bytes(name);
        let scorer = common::engine()
            .compile_scorer(name, &bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(scorer.contract(), Contract::V0_1, "{name}");
        let members = membership(&[1, 1]);
        let mut instance = switchyard_policy::ScorerInstance::start(
            &scorer,
            "test",
            &[],
            &switchyard_policy::PolicyLimits::default(),
            &members,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let observation = switchyard_policy::Observation {
            endpoint: 0,
            source: switchyard_policy::ObservationSource::Request,
            success: false,
            status: Some(503),
            latency: std::time::Duration::from_millis(1),
            connect_error: false,
            timed_out: false,
            at: std::time::Instant::now(),
        };
        for _ in 0..20 {
            instance.observe(&observation).unwrap();
        }
        instance.tick(std::time::Instant::now(), &members).unwrap();
    }
}

/// `members` endpoints whose loads store reported metrics of `catalog`.
fn reporting(weights: &[u32], catalog: &Arc<MetricCatalog>) -> Arc<Membership> {
    let members = membership(weights);
    let setup = LoadSetup {
        decay: LoadDecay::new(std::time::Duration::from_secs(10)),
        breaker: None,
        reported: Some(Arc::clone(catalog)),
    };
    for member in members.members() {
        setup.apply(&member.load);
    }
    members
}

/// Records `value` of metric `name` as just reported by endpoint `id`.
fn report(members: &Membership, catalog: &MetricCatalog, id: u32, name: &str, value: f64) {
    let slot = catalog.slot(name).expect("collected");
    let load = &members.get(id).expect("member").load;
    load.reported().expect("set up").record(slot, value);
}

fn bind_reporting(
    name: &str,
    config: &[(&str, &str)],
    members: &Arc<Membership>,
    catalog: &MetricCatalog,
) -> ClusterPolicy {
    let config: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ClusterPolicy::new(
        common::compile(name),
        "test",
        &config,
        "",
        switchyard_policy::PolicyLimits::default(),
        Arc::clone(members),
        Some(catalog),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn orca_wrr_weighs_endpoints_by_the_load_they_report() {
    let catalog = MetricCatalog::new(true, &[]).unwrap();
    let members = reporting(&[1, 1, 1], &catalog);
    for (id, cpu) in [(0, 0.2), (1, 0.4), (2, 0.8)] {
        report(&members, &catalog, id, "rps_fractional", 100.0);
        report(&members, &catalog, id, "cpu_utilization", cpu);
    }
    let policy = bind_reporting(
        "orca-wrr",
        &[("blackout_period_ms", "0")],
        &members,
        &catalog,
    );
    // Every weight is refreshed within a few picks (8 watched per pick).
    first_choices(&policy, 100);
    let counts = first_choices(&policy, 7_000);
    // Weights qps / utilization: 500, 250, 125, so shares 4/7, 2/7, 1/7.
    for (id, expected) in [(0, 4.0 / 7.0), (1, 2.0 / 7.0), (2, 1.0 / 7.0)] {
        let got = share(&counts, id);
        assert!(
            (got - expected).abs() < 0.02,
            "{id}: {got} vs {expected}: {counts:?}"
        );
    }
}

#[test]
fn a_policy_reading_metrics_the_cluster_does_not_collect_is_refused_by_name() {
    let err = bind("orca-wrr", &[], membership(&[1, 1]))
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("\"cpu_utilization\" is not collected")
            && err.contains("[clusters.load_reports]"),
        "{err}"
    );
}

#[test]
fn queue_aware_avoids_the_long_queue_from_metrics_delivered_with_the_pick() {
    let names = [
        "vllm:num_requests_waiting".to_string(),
        "vllm:gpu_cache_usage_perc".to_string(),
    ];
    let catalog = MetricCatalog::new(false, &names).unwrap();
    let members = reporting(&[1, 1, 1, 1], &catalog);
    for id in 0..4 {
        let waiting = if id == 3 { 40.0 } else { 1.0 };
        report(&members, &catalog, id, &names[0], waiting);
        report(&members, &catalog, id, &names[1], 0.3);
    }
    let policy = bind_reporting("queue-aware", &[], &members, &catalog);
    let counts = first_choices(&policy, PICKS);
    assert_eq!(counts.get(&3), None, "never preferred: {counts:?}");
    for id in 0..3 {
        assert!((share(&counts, id) - 1.0 / 3.0).abs() < 0.03, "{counts:?}");
    }
}
