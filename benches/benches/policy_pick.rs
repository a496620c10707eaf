//! Cost of one pick through wasmtime vs. the same policy compiled natively, at 1,000
//! and 10,000 endpoints; of a maglev table rebuild; and of loading (compile + link +
//! validate) a component.
//!
//! At 10,000 endpoints the keyed policies get tables sized for them
//! (`points_per_weight = 16`, `table_size = 1000003`) and every policy 64 MiB of
//! memory, as the configuration guide advises. Every endpoint reports ORCA figures and
//! a queue length, so the policies that read reported metrics receive real readings.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use switchyard_benches::{ZONES, membership, pick_config, pick_policy};
use switchyard_policy::cluster::Membership;
use switchyard_policy::{ClusterPolicy, PolicyEngine, PolicyLimits, RequestInfo, builtin};
use switchyard_policy_sdk::testing::{FakeEnv, endpoints};
use switchyard_policy_sdk::{Balancer, Request, Setup};

const SIZES: [usize; 2] = [1_000, 10_000];

fn native<P: Balancer>(c: &mut Criterion, name: &str) {
    let mut group = c.benchmark_group(format!("pick/{name}"));
    for n in SIZES {
        let config = pick_config(name, n);
        let setup = Setup {
            cluster: "bench".into(),
            local_zone: String::new(),
            config,
        };
        let mut policy = P::new(&setup).unwrap();
        policy.set_members(endpoints(&vec![1; n]));
        let env = FakeEnv::default();
        let request = Request::empty();
        group.bench_with_input(BenchmarkId::new("native", n), &n, |b, _| {
            b.iter(|| black_box(policy.pick(black_box(&request), &env)))
        });
    }
    group.finish();
}

fn wasm(c: &mut Criterion, engine: &PolicyEngine, name: &str) {
    let Some(bytes) = builtin(name) else {
        eprintln!("{name}: not a built-in here, skipped");
        return;
    };
    wasm_of(c, engine, name, "wasm", bytes, "");
}

/// The build of built-in `name` against contract 0.1.0 kept as a test fixture: what
/// the contract's version costs, against [`wasm`].
fn wasm_0_1(c: &mut Criterion, engine: &PolicyEngine, name: &str) {
    let path = format!(
        "{}/../host/fixtures/contract-0.1.0/{name}.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    wasm_of(c, engine, name, "wasm-0.1", &bytes, "");
}

/// Picks of `name` built from `bytes`, as `pick/NAME/LABEL/N`; with a `zone`, the
/// proxy is in it and the endpoints are spread over two zones.
fn wasm_of(
    c: &mut Criterion,
    engine: &PolicyEngine,
    name: &str,
    label: &str,
    bytes: &[u8],
    zone: &str,
) {
    let mut group = c.benchmark_group(format!("pick/{name}"));
    for n in SIZES {
        let policy = pick_policy(engine, name, bytes, n, zone);
        let request = RequestInfo::get("/");
        group.bench_with_input(BenchmarkId::new(label, n), &n, |b, _| {
            b.iter(|| black_box(policy.pick(black_box(&request))))
        });
        assert_eq!(
            policy.stats().fallbacks,
            0,
            "{name} faulted during the bench"
        );
    }
    group.finish();
}

/// What reading a metric delivered with a pick costs a policy: `PickEnv::reported` for
/// the last of eight watched candidates with five metrics each (the same code runs in
/// the component; natively it is timed without the boundary).
fn delivered_reading(c: &mut Criterion) {
    use switchyard_policy_sdk::{Candidate, Env, Figures, PickEnv, Reading};
    let figures = Figures {
        in_flight: 1,
        latency_ewma_us: 100,
        error_rate: 0.0,
    };
    let request = Request {
        watched: Some(
            (0..8)
                .map(|id| Candidate {
                    id,
                    index: id,
                    figures,
                })
                .collect(),
        ),
        readings: Some(
            (0..40)
                .map(|i| {
                    Some(Reading {
                        value: f64::from(i),
                        age_ms: 5,
                    })
                })
                .collect(),
        ),
        ..Request::empty()
    };
    c.bench_function("reading/delivered", |b| {
        b.iter(|| {
            let env = PickEnv::new(black_box(&request));
            black_box(env.reported(black_box(7), black_box(4)))
        })
    });
}

fn picks(c: &mut Criterion) {
    let engine = PolicyEngine::new().unwrap();
    native::<round_robin::RoundRobin>(c, "round-robin");
    native::<least_request::LeastRequest>(c, "least-request");
    native::<weighted_round_robin::WeightedRoundRobin>(c, "weighted-round-robin");
    native::<random::Random>(c, "random");
    native::<peak_ewma::PeakEwma>(c, "peak-ewma");
    native::<maglev::Maglev>(c, "maglev");
    native::<ring_hash::RingHash>(c, "ring-hash");
    for name in [
        "round-robin",
        "least-request",
        "weighted-round-robin",
        "random",
        "peak-ewma",
        "maglev",
        "ring-hash",
        "locality",
        "orca-wrr",
        "queue-aware",
    ] {
        wasm(c, &engine, name);
    }
    // locality with a zone: half the endpoints are local.
    let locality = builtin("locality").expect("a built-in");
    wasm_of(c, &engine, "locality", "wasm-zoned", locality, ZONES[0]);
    for name in ["round-robin", "peak-ewma", "least-request"] {
        wasm_0_1(c, &engine, name);
    }
}

/// A membership change for maglev at 1,000 endpoints: `set-members` of one idle
/// instance, which rebuilds its 65,537-slot table (plus the host's conversion of the
/// membership, so an upper bound of the rebuild inside the component).
fn rebuild(c: &mut Criterion) {
    let engine = PolicyEngine::new().unwrap();
    let component = engine
        .compile("maglev", builtin("maglev").unwrap())
        .unwrap();
    let members = membership(1000);
    let policy = ClusterPolicy::new(
        component,
        "bench",
        &[],
        "",
        PolicyLimits::default(),
        Arc::clone(&members),
        None,
    )
    .unwrap();
    let mut group = c.benchmark_group("rebuild/maglev");
    group.sample_size(20);
    group.bench_function("1000", |b| {
        b.iter(|| policy.set_membership(Arc::new(Membership::new(members.members().to_vec()))))
    });
    group.finish();
    assert_eq!(policy.stats().traps + policy.stats().deadlines, 0);
}

fn load(c: &mut Criterion) {
    let engine = PolicyEngine::new().unwrap();
    let mut group = c.benchmark_group("load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for name in ["round-robin", "least-request"] {
        let bytes = builtin(name).unwrap();
        group.bench_function(name, |b| b.iter(|| engine.compile(name, bytes).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, delivered_reading, picks, rebuild, load);
criterion_main!(benches);
