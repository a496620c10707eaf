//! JSON for `GET /clusters`: every cluster's discovery, and its endpoints with their
//! health and load.

use super::ClusterRecord;
use crate::discovery::DiscoveryView;
use crate::health::EndpointView;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Instant, SystemTime};
use switchyard_policy::Verdict;
use switchyard_policy::cluster::clock::coarse_now_ns;
use switchyard_policy::cluster::{EndpointId, Member};

/// What each endpoint's entry says of its latency.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Latency {
    /// The EWMA only (`GET /clusters`).
    Ewma,
    /// Also the histogram's non-empty buckets, `[index, count]`, from which the
    /// console's page takes quantiles over a window.
    Buckets,
}

/// `GET /clusters`, with each endpoint's `latency`.
pub(crate) fn status(clusters: &[ClusterRecord], latency: Latency) -> Value {
    json!({ "clusters": clusters.iter().map(|c| cluster(c, latency)).collect::<Vec<_>>() })
}

fn cluster(record: &ClusterRecord, latency: Latency) -> Value {
    let upstream = &record.upstream;
    let membership = upstream.membership();
    let snapshot = record.health.as_ref().map(|h| h.snapshot());
    let health = record.health.as_ref().map(|view| {
        let panic = snapshot.as_ref().is_some_and(|s| s.panic);
        json!({
            "scorer": view.scorer().map(|s| s.name()),
            "scorer_quarantined": view.scorer().is_some_and(|s| s.is_quarantined()),
            "panic": panic,
            "dropped_reports": view.dropped_reports(),
        })
    });
    let now = Instant::now();
    let views: HashMap<EndpointId, &EndpointView> = snapshot
        .iter()
        .flat_map(|s| s.endpoints.iter().map(|v| (v.id, v)))
        .collect();
    let collected = upstream.load_reports().map(|c| c.catalog().names());
    let endpoints: Vec<Value> = membership
        .members()
        .iter()
        .map(|member| {
            let mut value = endpoint(member, views.get(&member.id).copied(), now);
            if let Some(names) = &collected {
                value["reported"] = reported(member, names);
            }
            if latency == Latency::Buckets {
                value["latency_buckets"] = json!(member.load.latency().buckets());
            }
            value
        })
        .collect();
    let reports = upstream.load_reports().map(|c| {
        let counts = c.counts();
        json!({
            "collects": c.catalog().names(),
            "accepted": counts.accepted,
            "malformed": counts.malformed,
            "scraped": counts.scraped,
            "scrape_failures": counts.scrape_failures,
        })
    });
    json!({
        "name": upstream.name(),
        "policy": upstream.policy_name(),
        "load_reports": reports,
        "discovery": record.discovery.as_deref().map(discovery),
        "health": health,
        "endpoints": endpoints,
    })
}

fn discovery(view: &DiscoveryView) -> Value {
    let status = view.status();
    let time = |t: SystemTime| humantime::format_rfc3339_millis(t).to_string();
    json!({
        "source": view.source(),
        "last_update": status.last_update.map(time),
        "last_seen": status.last_seen.map(time),
        "version": status.version,
        "endpoints_found": status.endpoints,
        "holding_empty": status.holding_empty,
        "last_error": status.last_error.map(|(at, error)| json!({ "at": time(at), "error": error })),
    })
}

/// What `member` last reported of each metric in `names` (its cluster's catalog):
/// value and age, or null when never reported.
fn reported(member: &Member, names: &[String]) -> Value {
    let now = coarse_now_ns();
    let store = member.load.reported();
    let readings = names.iter().enumerate().map(|(slot, name)| {
        let reading = store.and_then(|s| s.reading(slot, now));
        let value = reading.map(|r| json!({ "value": r.value, "age_ms": r.age_ms }));
        (name.clone(), value.unwrap_or(Value::Null))
    });
    Value::Object(readings.collect())
}

fn endpoint(member: &Member, view: Option<&EndpointView>, now: Instant) -> Value {
    let load = &member.load;
    let mut value = json!({
        "id": member.id,
        "address": member.address,
        "health": member.health.label(),
        "weight": member.weight,
        "weight_factor": member.weight_factor,
        "effective_weight": member.weight as f32 * member.weight_factor,
        "in_flight": load.in_flight(),
        "latency_ewma_us": load.latency_ewma_us(),
        "error_rate": load.error_rate(),
        "requests": load.completed(),
        "failures": load.failed(),
    });
    if let Some(view) = view {
        let state = &view.state;
        value["verdict"] = match state.verdict {
            Verdict::Healthy => json!({ "state": "healthy" }),
            Verdict::Degraded(factor) => json!({ "state": "degraded", "factor": factor }),
            Verdict::Ejected(_) => json!({
                "state": "ejected",
                "remaining_ms": state
                    .ejected_until
                    .map(|until| until.saturating_duration_since(now).as_millis() as u64),
            }),
        };
        value["verdict_source"] = json!(state.source.label());
        value["ejections"] = json!(state.ejections);
        value["last_probe"] = json!(view.last_probe.as_ref().map(|p| json!({
            "success": p.success,
            "status": p.status,
            "latency_us": p.latency.as_micros() as u64,
            "error": p.reason,
        })));
    }
    value
}
