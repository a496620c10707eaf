//! Route matching: the cost of finding a request's route among 10, 100 and 1,000
//! routes of a realistic mix — half by host, half by path prefix, one in ten also by a
//! header or a regular expression — with the matching route last (the worst case),
//! and a request whose host names a route (found through the host index).
//!
//! `cargo bench -p switchyard-benches --bench route_match`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;
use switchyard::config::model::{HeaderMatchConfig, MatchConfig};
use switchyard::proxy::route::{Action, Forward, Matcher, RouteTable, Rule, Split};
use switchyard_policy::RequestInfo;

/// Route `i` of the mix: odd ones by host, even ones by path prefix; every tenth also
/// by a header (or a regular expression on the path instead of its prefix).
fn condition(i: usize) -> MatchConfig {
    let mut config = MatchConfig::default();
    if i % 2 == 1 {
        config.host = Some(format!("svc-{i}.example.com"));
    } else if i.is_multiple_of(20) {
        config.path_regex = Some(format!("/svc-{i}/[0-9]+"));
    } else {
        config.path_prefix = Some(format!("/svc-{i}"));
    }
    if i % 20 == 5 {
        let mut headers = BTreeMap::new();
        headers.insert("x-tenant".into(), HeaderMatchConfig::Value(format!("t{i}")));
        config.headers = headers;
    }
    config
}

/// `n` routes of the mix, then the one the bench's request matches.
fn table(n: usize) -> RouteTable<u32> {
    let mut rules: Vec<Rule<u32>> = (0..n)
        .map(|i| rule(&i.to_string(), &condition(i), i as u32))
        .collect();
    let target = MatchConfig {
        path_prefix: Some("/api/v2".into()),
        ..MatchConfig::default()
    };
    rules.push(rule("target", &target, n as u32));
    RouteTable::new(rules, true)
}

fn rule(name: &str, condition: &MatchConfig, target: u32) -> Rule<u32> {
    let action = Action::Forward(Forward {
        split: Split::one(target),
        path_prefix: None,
        host: None,
    });
    Rule::new(name, Matcher::new(condition).unwrap(), action)
}

fn request(host: &str, path: &str) -> RequestInfo {
    RequestInfo {
        method: "GET".into(),
        authority: Some(host.into()),
        path: path.into(),
        client_addr: None,
        headers: vec![
            ("user-agent".into(), "bench".into()),
            ("x-tenant".into(), "t-other".into()),
            ("accept".into(), "*/*".into()),
        ],
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_match");
    for n in [10, 100, 1000] {
        let routes = table(n);
        let last = request("api.example.com:8443", "/api/v2/users/42?expand=1");
        assert_eq!(*routes.route(&last).unwrap().unwrap().rule.name, *"target");
        group.bench_with_input(BenchmarkId::new("matching route last", n), &last, |b, r| {
            b.iter(|| {
                routes
                    .route(black_box(r))
                    .unwrap()
                    .map(|found| found.rule.matcher.is_empty())
            })
        });
        let host = format!("svc-{}.example.com", n - 1);
        let by_host = request(&host, "/users/42");
        assert!(routes.route(&by_host).unwrap().is_some());
        group.bench_with_input(BenchmarkId::new("by host", n), &by_host, |b, r| {
            b.iter(|| {
                routes
                    .route(black_box(r))
                    .unwrap()
                    .map(|found| found.rule.matcher.is_empty())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
