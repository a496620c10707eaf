//! Cost of one pick through wasmtime vs. the same policy compiled natively, at 10, 100
//! and 1,000 endpoints; of a maglev table rebuild; and of loading (compile + link +
//! validate) a component.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use switchyard_benches::membership;
use switchyard_policy::cluster::Membership;
use switchyard_policy::{ClusterPolicy, PolicyEngine, PolicyLimits, RequestInfo, builtin};
use switchyard_policy_sdk::testing::{FakeEnv, endpoints};
use switchyard_policy_sdk::{Balancer, Request, Setup};

const SIZES: [usize; 3] = [10, 100, 1000];

fn native<P: Balancer>(c: &mut Criterion, name: &str) {
    let mut group = c.benchmark_group(format!("pick/{name}"));
    for n in SIZES {
        let setup = Setup {
            cluster: "bench".into(),
            local_zone: String::new(),
            config: Vec::new(),
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
    let component = engine.compile(name, builtin(name).unwrap()).unwrap();
    let mut group = c.benchmark_group(format!("pick/{name}"));
    for n in SIZES {
        let policy = ClusterPolicy::new(
            Arc::clone(&component),
            "bench",
            &[],
            "",
            PolicyLimits::default(),
            membership(n),
        )
        .unwrap();
        let request = RequestInfo::get("/");
        group.bench_with_input(BenchmarkId::new("wasm", n), &n, |b, _| {
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

fn picks(c: &mut Criterion) {
    let engine = PolicyEngine::new().unwrap();
    native::<round_robin::RoundRobin>(c, "round-robin");
    wasm(c, &engine, "round-robin");
    native::<least_request::LeastRequest>(c, "least-request");
    wasm(c, &engine, "least-request");
    native::<weighted_round_robin::WeightedRoundRobin>(c, "weighted-round-robin");
    wasm(c, &engine, "weighted-round-robin");
    native::<random::Random>(c, "random");
    wasm(c, &engine, "random");
    native::<peak_ewma::PeakEwma>(c, "peak-ewma");
    wasm(c, &engine, "peak-ewma");
    native::<maglev::Maglev>(c, "maglev");
    wasm(c, &engine, "maglev");
    native::<ring_hash::RingHash>(c, "ring-hash");
    wasm(c, &engine, "ring-hash");
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

criterion_group!(benches, picks, rebuild, load);
criterion_main!(benches);
