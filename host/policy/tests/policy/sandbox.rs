//! Hostile and broken components are contained: faults fall back to the host's
//! round-robin, are counted, quarantine the version when repeated, and the engine keeps
//! serving picks. Bad files are refused at load with a one-line error.

use crate::support as common;

use common::{bind, bind_with, compile, component_bytes, engine, membership};
use std::time::{Duration, Instant};
use switchyard_policy::{Fault, LoadError, PickSource, PolicyLimits, RequestInfo};

fn hostile(mode: &str) -> switchyard_policy::ClusterPolicy {
    bind("hostile", &[("mode", mode)], membership(&[1, 1, 1]))
        .unwrap_or_else(|e| panic!("mode {mode} should load (it misbehaves only in picks): {e}"))
}

/// Builds the hostile policy for `mode` lazily: the smoke pick at load would catch it,
/// so these modes are switched on after load through a second instance.
fn faulting_pick(mode: &str) -> (switchyard_policy::Pick, switchyard_policy::PolicyStats) {
    faulting_pick_with(mode, PolicyLimits::default())
}

fn faulting_pick_with(
    mode: &str,
    limits: PolicyLimits,
) -> (switchyard_policy::Pick, switchyard_policy::PolicyStats) {
    let err = bind_with("hostile", &[("mode", mode)], membership(&[1, 1, 1]), limits)
        .err()
        .unwrap_or_else(|| panic!("mode {mode} must fail its smoke pick at load"));
    assert!(matches!(err, LoadError::Smoke(_)), "mode {mode}: {err}");
    // The same behaviour on a cluster with no members passes load (no smoke pick), and
    // faults on the first real pick once members arrive.
    let policy = bind_with("hostile", &[("mode", mode)], membership(&[]), limits).unwrap();
    policy.set_membership(membership(&[1, 1, 1]));
    let pick = policy.pick(&RequestInfo::get("/"));
    (pick, policy.stats())
}

fn assert_fallback(pick: &switchyard_policy::Pick, expect: impl Fn(&Fault) -> bool) {
    match &pick.source {
        PickSource::Fallback(fault) => assert!(expect(fault), "unexpected fault {fault:?}"),
        other => panic!("expected a fallback, got {other:?}"),
    }
    assert_eq!(
        pick.endpoints.len(),
        3,
        "the fallback still answers: {pick:?}"
    );
    assert!(pick.endpoints.iter().all(|id| *id < 3));
}

#[test]
fn endless_loop_hits_the_deadline() {
    let started = Instant::now();
    let (pick, stats) = faulting_pick("loop");
    assert_fallback(
        &pick,
        |f| matches!(f, Fault::Deadline(d) if *d == Duration::from_millis(1)),
    );
    assert_eq!(stats.deadlines, 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the loop was stopped"
    );
}

#[test]
fn endless_loop_after_the_engine_idled_hits_the_deadline() {
    // An engine of its own: the shared one is kept awake by the other tests' calls.
    let engine = switchyard_policy::PolicyEngine::new().unwrap();
    let component = engine
        .compile("hostile", &component_bytes("hostile"))
        .unwrap();
    let config = [("mode".to_string(), "loop".to_string())];
    let policy = switchyard_policy::ClusterPolicy::new(
        component,
        "test",
        &config,
        "",
        PolicyLimits::default(),
        membership(&[]),
        None,
    )
    .unwrap();
    // Long enough for its epoch ticker to fall asleep (no call for 100 ticks).
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    policy.set_membership(membership(&[1, 1, 1]));
    let pick = policy.pick(&RequestInfo::get("/"));
    assert_fallback(&pick, |f| matches!(f, Fault::Deadline(_)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the loop was stopped"
    );
}

#[test]
fn endless_loop_in_init_is_refused_at_load() {
    let err = bind("hostile", &[("mode", "init-loop")], membership(&[1]))
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::Smoke(Fault::Deadline(_))), "{err}");
}

#[test]
fn memory_hog_hits_the_cap() {
    // A generous deadline, so that the cap and not the clock stops the 64 MiB hog.
    let limits = PolicyLimits {
        pick_deadline: Duration::from_secs(5),
        ..PolicyLimits::default()
    };
    let (pick, stats) = faulting_pick_with("hog", limits);
    assert_fallback(
        &pick,
        |f| matches!(f, Fault::Memory(cap) if *cap == 16 << 20),
    );
    assert_eq!(stats.memory, 1);
}

#[test]
fn a_larger_memory_cap_is_honoured() {
    let limits = PolicyLimits {
        memory_bytes: 128 << 20,
        setup_deadline: Duration::from_secs(5),
        pick_deadline: Duration::from_secs(5),
        ..PolicyLimits::default()
    };
    // 64 MiB of allocations fit under a 128 MiB cap: the hog then answers normally.
    let policy = bind_with("hostile", &[("mode", "hog")], membership(&[1]), limits).unwrap();
    assert_eq!(
        policy.pick(&RequestInfo::get("/")).source,
        PickSource::Policy
    );
}

#[test]
fn trap_is_contained() {
    let (pick, stats) = faulting_pick("trap");
    assert_fallback(
        &pick,
        |f| matches!(f, Fault::Trap(m) if m.contains("unreachable")),
    );
    assert!(!format!("{:?}", pick.source).contains('\n'));
    assert_eq!(stats.traps, 1);
}

#[test]
fn unknown_id_and_empty_answers_are_invalid() {
    let (pick, _) = faulting_pick("bad-id");
    assert_fallback(
        &pick,
        |f| matches!(f, Fault::InvalidAnswer(m) if m.contains("3735928559") && m.contains("not a member")),
    );
    let (pick, stats) = faulting_pick("empty");
    assert_fallback(
        &pick,
        |f| matches!(f, Fault::InvalidAnswer(m) if m.contains("no endpoint")),
    );
    assert_eq!(stats.invalid_answers, 1);
}

#[test]
fn files_and_sockets_fail_inside_the_policy() {
    for mode in ["file", "socket"] {
        let policy = hostile(mode);
        for _ in 0..10 {
            let pick = policy.pick(&RequestInfo::get("/"));
            assert_eq!(pick.source, PickSource::Policy, "mode {mode}: {pick:?}");
            assert_eq!(
                pick.endpoints,
                vec![0],
                "mode {mode}: the policy saw its attempt fail"
            );
        }
    }
}

#[test]
fn stdout_and_stderr_work_on_a_tokio_worker() {
    let policy = std::sync::Arc::new(hostile("print"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let sources = runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let policy = std::sync::Arc::clone(&policy);
            tasks.push(tokio::spawn(async move {
                policy.pick(&RequestInfo::get("/")).source
            }));
        }
        let mut sources = Vec::new();
        for t in tasks {
            sources.push(t.await.unwrap());
        }
        sources
    });
    assert!(
        sources.iter().all(|s| *s == PickSource::Policy),
        "{sources:?}"
    );
}

#[test]
fn sleeping_traps_instead_of_blocking() {
    let started = Instant::now();
    let (pick, _) = faulting_pick("sleep");
    assert_fallback(
        &pick,
        |f| matches!(f, Fault::Trap(m) if m.contains("without waiting")),
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn repeated_faults_quarantine_and_the_engine_keeps_serving() {
    // A generous deadline, so that every fault is the trap: on a machine busy with
    // other tests, a trap that ran past 1 ms was counted as a deadline instead.
    let limits = PolicyLimits {
        pick_deadline: Duration::from_secs(5),
        ..PolicyLimits::default()
    };
    let policy = bind_with("hostile", &[("mode", "trap")], membership(&[]), limits).unwrap();
    policy.set_membership(membership(&[1, 1, 1]));
    let request = RequestInfo::get("/");
    for _ in 0..5 {
        assert!(matches!(
            policy.pick(&request).source,
            PickSource::Fallback(_)
        ));
    }
    assert!(policy.is_quarantined());
    let picks: Vec<_> = (0..6).map(|_| policy.pick(&request)).collect();
    assert!(picks.iter().all(|p| p.source == PickSource::Quarantined));
    let firsts: std::collections::BTreeSet<u32> = picks.iter().map(|p| p.endpoints[0]).collect();
    assert_eq!(firsts.len(), 3, "the fallback round-robins: {firsts:?}");
    assert_eq!(
        policy.stats().traps,
        5,
        "a quarantined version is not called again"
    );
    // Other policies in the same engine are unaffected.
    let healthy = bind("round-robin", &[], membership(&[1, 1])).unwrap();
    assert_eq!(healthy.pick(&request).source, PickSource::Policy);
}

#[test]
fn unknown_import_is_refused_at_load_by_name() {
    let err = engine()
        .compile("alien-import", &component_bytes("alien-import"))
        .err()
        .unwrap();
    assert!(
        matches!(&err, LoadError::UnknownImport { name } if name == "switchyard-test:alien/exfil"),
        "{err}"
    );
    assert!(
        err.to_string().contains("`switchyard-test:alien/exfil`"),
        "{err}"
    );
}

fn load_error(bytes: &[u8]) -> String {
    let err = engine().compile("bad", bytes).err().expect("refused");
    let message = err.to_string();
    assert!(!message.contains('\n'), "one line: {message}");
    message
}

#[test]
fn bad_files_get_one_line_errors() {
    let text = load_error(b"hello, I am not wasm");
    assert!(
        text.starts_with("not a WebAssembly file (it starts with the text \"hello, I\")"),
        "{text}"
    );
    let empty = load_error(b"");
    assert!(empty.contains("the file is empty"), "{empty}");
    let core = load_error(&wat::parse_str("(module)").unwrap());
    assert!(
        core.starts_with("found a core WebAssembly module, expected a component"),
        "{core}"
    );
    let truncated = component_bytes("round-robin");
    let truncated = load_error(&truncated[..truncated.len() / 2]);
    assert!(truncated.starts_with("invalid component:"), "{truncated}");
}

/// A component with one lifted function `$f` (no parameters) and the given exports.
fn component_exporting(exports: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            {exports})"#
    ))
    .unwrap()
}

#[test]
fn components_for_another_world_or_version_are_refused() {
    let other_world = component_exporting(r#"(export "run" (func $f))"#);
    let message = load_error(&other_world);
    assert!(
        message.contains("exports no Switchyard policy (found exports: run)"),
        "{message}"
    );

    let other_version = component_exporting(
        r#"(instance $api (export "pick" (func $f)))
           (export "switchyard:policy/balancing@0.3.0" (instance $api))"#,
    );
    let message = load_error(&other_version);
    assert!(
        message.contains(
            "uses `switchyard:policy/balancing@0.3.0`, but this proxy speaks switchyard:policy@0.1.0 and @0.2.0"
        ),
        "{message}"
    );

    for version in ["0.1.0", "0.2.0"] {
        let wrong_shape = component_exporting(&format!(
            r#"(instance $api (export "pick" (func $f)))
               (export "switchyard:policy/balancing@{version}" (instance $api))"#
        ));
        let message = load_error(&wrong_shape);
        assert!(
            message.starts_with("component does not match the balancer world"),
            "{version}: {message}"
        );
    }
}

#[test]
fn healthy_components_compile_quickly_enough_to_reload() {
    // Not a timing assertion: just that compiling twice gives two working versions.
    let a = compile("least-request");
    let b = compile("least-request");
    assert_eq!(a.name(), b.name());
}
