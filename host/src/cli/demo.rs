//! `switchyard demo`: the embedded default policy choosing among three endpoints.
//!
//! Until the forwarding core lands this runs the policy engine alone: it loads the
//! embedded round-robin component, makes picks over a synthetic three-endpoint cluster
//! and prints how they spread.

use crate::cluster::{Member, Membership};
use crate::policy::{
    ClusterPolicy, DEFAULT_POLICY, PickSource, PolicyEngine, PolicyLimits, RequestInfo,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const PICKS: usize = 30_000;

/// Runs the demo; `once` is accepted for scripts (the demo always exits).
pub fn run(_once: bool) -> anyhow::Result<()> {
    let engine = PolicyEngine::new().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let started = Instant::now();
    let component = engine
        .builtin(DEFAULT_POLICY)
        .expect("the default policy is built in")?;
    let load = started.elapsed();
    let names = ["alpha", "bravo", "charlie"];
    let members = names
        .iter()
        .enumerate()
        .map(|(i, _)| Member::new(i as u32, format!("127.0.0.1:{}", 9001 + i), 1))
        .collect();
    let membership = Arc::new(Membership::new(members));
    let policy = ClusterPolicy::new(
        component,
        "demo",
        &[],
        "",
        PolicyLimits::default(),
        Arc::clone(&membership),
    )?;
    let request = RequestInfo::get("/");
    let mut counts = BTreeMap::new();
    let started = Instant::now();
    for _ in 0..PICKS {
        let pick = policy.pick(&request);
        anyhow::ensure!(
            pick.source == PickSource::Policy,
            "policy fault: {:?}",
            pick.source
        );
        *counts.entry(pick.endpoints[0]).or_insert(0usize) += 1;
    }
    let per_pick = started.elapsed() / PICKS as u32;
    println!(
        "Switchyard demo — policy `{DEFAULT_POLICY}` (embedded WebAssembly component, loaded in {:.1} ms)",
        load.as_secs_f64() * 1e3
    );
    println!(
        "{:<10} {:<16} {:>8} {:>7}",
        "backend", "address", "picks", "share"
    );
    for (id, count) in &counts {
        let member = membership.get(*id).expect("picked ids are members");
        println!(
            "{:<10} {:<16} {:>8} {:>6.1}%",
            names[*id as usize],
            member.address,
            count,
            *count as f64 * 100.0 / PICKS as f64
        );
    }
    println!(
        "{PICKS} picks through wasmtime, {:.0} ns per pick",
        per_pick.as_nanos()
    );
    println!(
        "The forwarding proxy (listeners, backends, live table) arrives with the next release."
    );
    Ok(())
}
