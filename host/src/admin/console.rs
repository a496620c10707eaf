//! The operator's console: a page served at `/` (with its script and style sheet, all
//! embedded in the binary) that polls `GET /console.json` about once a second and
//! draws every cluster's endpoints, policies, rollouts, listeners, certificates and
//! reload history.
//!
//! The page, script and style sheet hold no data, so they are served without the admin
//! token; the page asks for the token once (keeping it in `sessionStorage`) and sends
//! it with each poll. `Content-Security-Policy: default-src 'self'` keeps anything but
//! these files from running, and the script writes every string as text, never as
//! markup.

use super::clusters::{self, Latency};
use super::{AdminAccess, ConfigStatus, ListenerRecord, Topology, config, policies, tls};
use crate::proxy::route::Action;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use switchyard_policy::cluster::LatencyHistogram;
use switchyard_policy::{PolicyEvent, PolicyRegistry, PolicyStatus};

/// One file of the page: its path, content type and bytes.
pub(crate) struct Asset {
    /// Where it is served.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static str,
}

/// The page's files.
pub(crate) const ASSETS: [Asset; 4] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("console/index.html"),
    },
    Asset {
        path: "/console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("console/console.js"),
    },
    Asset {
        path: "/console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("console/console.css"),
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("console/favicon.svg"),
    },
];

/// Where the page asks whether it needs a token, before it has one.
pub(crate) const ACCESS_PATH: &str = "/console/access";

/// `GET /console/access`: whether the admin API needs a token. Public, as a 401 from
/// any other path says as much; asking first keeps the page's first poll from failing.
pub(crate) fn access(access: &AdminAccess) -> Value {
    json!({ "token_required": access.token.is_some() })
}

/// The page's file served at `path`, if any.
pub(crate) fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The headers every file of the page carries: nothing but the proxy's own files may
/// run or load, the page is never framed, and types are not sniffed.
pub(crate) const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
         require-trusted-types-for 'script'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
];

/// `GET /console.json`: everything the page draws.
pub(crate) fn snapshot(
    registry: &PolicyRegistry,
    topology: &Topology,
    config: &ConfigStatus,
) -> Value {
    let policies: Vec<PolicyStatus> = registry.status();
    let mut history: Vec<(SystemTime, Value)> = registry
        .history()
        .iter()
        .map(|entry| {
            let mut event = policy_event(&entry.event);
            event["times"] = json!(entry.times);
            (entry.at, event)
        })
        .chain(
            config
                .recent
                .iter()
                .map(|(at, result)| (*at, config_event(result))),
        )
        .collect();
    history.sort_by_key(|(at, _)| *at);
    let history: Vec<Value> = history
        .into_iter()
        .rev()
        .map(|(at, mut event)| {
            event["at_ms"] = json!(unix_ms(at));
            event
        })
        .collect();
    json!({
        "version": env!("SWITCHYARD_VERSION"),
        "at_ms": unix_ms(SystemTime::now()),
        // Each latency bucket's upper edge (null: slower than the one before).
        "latency_edges_s": LatencyHistogram::edges(),
        "clusters": clusters::status(&topology.clusters, Latency::Buckets)["clusters"].take(),
        "policies": policies::status(&policies)["policies"].take(),
        "listeners": topology.listeners.iter().map(listener).collect::<Vec<_>>(),
        "tls": tls::status(&topology.listeners, &topology.clusters),
        "config": config::to_json(config),
        "history": history,
    })
}

/// A listener: address, protocol, open connections, and its routes with where each
/// sends its requests.
fn listener(record: &ListenerRecord) -> Value {
    let routes: Vec<Value> = record
        .routes
        .load()
        .rules()
        .iter()
        .map(|rule| {
            let to = match &rule.action {
                Action::Forward(forward) => json!({
                    "clusters": forward
                        .split
                        .targets()
                        .map(|(upstream, weight)| json!({ "cluster": upstream.name(), "weight": weight }))
                        .collect::<Vec<_>>(),
                }),
                Action::Respond(respond) => json!({ "status": respond.status.as_u16() }),
            };
            json!({ "name": rule.name, "requests": rule.requests(), "to": to })
        })
        .collect();
    json!({
        "name": record.name,
        "address": record.address.to_string(),
        "protocol": record.protocol,
        "connections": record.stats.open(),
        "routes": routes,
    })
}

/// A policy event as the history shows it: `kind`, `subject`, `result` and `detail`;
/// `failed` when something was refused or rolled back.
fn policy_event(event: &PolicyEvent) -> Value {
    let (subject, result, detail, failed) = match event {
        PolicyEvent::Reload(outcome) => {
            let value = policies::outcome(outcome);
            let result = value["result"].as_str().unwrap_or_default().to_string();
            let detail = value
                .get("sha256")
                .or_else(|| value.get("reason"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let failed = result == "failed";
            (value["policy"].clone(), result, detail, failed)
        }
        PolicyEvent::Rollout {
            name,
            sha256,
            outcome,
            reason,
        } => (
            json!(name),
            format!("candidate {}", outcome.name()),
            format!("{sha256}: {reason}"),
            *outcome != switchyard_policy::RolloutOutcome::Promoted,
        ),
        PolicyEvent::Switched { cluster, from, to } => (
            json!(to),
            "switched".to_string(),
            format!("cluster {cluster} now balances with {to} (was {from})"),
            false,
        ),
    };
    json!({ "kind": "policy", "subject": subject, "result": result, "detail": detail, "failed": failed })
}

/// A configuration reload as the history shows it.
fn config_event(result: &Result<String, String>) -> Value {
    let (result, detail, failed) = match result {
        Ok(digest) => ("reloaded", format!("sha256 {digest}"), false),
        Err(reason) => ("refused", reason.clone(), true),
    };
    json!({ "kind": "config", "subject": "configuration", "result": result, "detail": detail, "failed": failed })
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
