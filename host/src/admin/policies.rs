//! JSON for the `/policies` endpoints.

use serde_json::{Value, json};
use std::time::SystemTime;
use switchyard_policy::{PolicySource, PolicyStatus, ReloadOutcome};

/// `GET /policies`.
pub(crate) fn status(policies: &[PolicyStatus]) -> Value {
    json!({ "policies": policies.iter().map(policy).collect::<Vec<_>>() })
}

/// `POST /policies/reload`.
pub(crate) fn outcomes(outcomes: &[ReloadOutcome]) -> Value {
    json!({ "reloaded": outcomes.iter().map(outcome).collect::<Vec<_>>() })
}

fn policy(p: &PolicyStatus) -> Value {
    let (source, file) = match &p.active.source {
        PolicySource::Builtin => ("builtin", None),
        PolicySource::File(file) => ("file", Some(file.display().to_string())),
    };
    json!({
        "name": p.name,
        "world": p.world.name(),
        "active": {
            "sha256": p.active.sha256.to_string(),
            "loaded_at": timestamp(p.active.loaded_at),
            "source": source,
            "file": file,
            "file_removed": p.file_removed,
            "from": p.active.origin.label(),
            "load_ms": p.active.load_time.as_secs_f64() * 1e3,
        },
        "last_error": p.last_error.as_ref().map(|e| json!({
            "at": timestamp(e.at),
            "file": e.file.display().to_string(),
            "reason": e.reason,
        })),
        "clusters": p.clusters.iter().map(|(cluster, stats, quarantined)| json!({
            "cluster": cluster,
            "quarantined": quarantined,
            "picks": stats.picks,
            "fallbacks": stats.fallbacks,
            "faults": {
                "trap": stats.traps,
                "deadline": stats.deadlines,
                "memory": stats.memory,
                "invalid_answer": stats.invalid_answers,
            },
        })).collect::<Vec<_>>(),
    })
}

fn outcome(o: &ReloadOutcome) -> Value {
    match o {
        ReloadOutcome::Loaded { name, sha256 } => {
            json!({ "policy": name, "result": "loaded", "sha256": sha256.to_string() })
        }
        ReloadOutcome::Unchanged { name } => json!({ "policy": name, "result": "unchanged" }),
        ReloadOutcome::RevertedToBuiltin { name } => {
            json!({ "policy": name, "result": "reverted-to-builtin" })
        }
        ReloadOutcome::KeptLastGood { name } => {
            json!({ "policy": name, "result": "kept-last-good" })
        }
        ReloadOutcome::Failed { name, reason } => {
            json!({ "policy": name, "result": "failed", "reason": reason })
        }
    }
}

fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}
