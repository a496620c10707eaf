//! JSON for the `/policies` endpoints.

use serde_json::{Value, json};
use std::time::{Duration, SystemTime};
use switchyard_policy::{
    CandidateStatus, ClusterRollout, Judgement, PolicySource, PolicyStatus, ReloadOutcome,
    RolloutEnd, RolloutStatus, TallySnapshot,
};

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
        "rollout": p.rollout.as_ref().map(rollout),
        "last_rollout": p.last_rollout.as_ref().map(rollout_end),
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

/// One reload's outcome (also `POST /policies/NAME/stage`'s answer).
pub(crate) fn outcome(o: &ReloadOutcome) -> Value {
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
        ReloadOutcome::Staged { name, sha256 } => {
            json!({ "policy": name, "result": "staged", "sha256": sha256.to_string() })
        }
        ReloadOutcome::Withdrawn { name } => json!({ "policy": name, "result": "withdrawn" }),
        ReloadOutcome::Failed { name, reason } => {
            json!({ "policy": name, "result": "failed", "reason": reason })
        }
    }
}

fn rollout(r: &RolloutStatus) -> Value {
    json!({
        "sha256": r.version.sha256.to_string(),
        "file": match &r.version.source {
            PolicySource::File(file) => Some(file.display().to_string()),
            PolicySource::Builtin => None,
        },
        "staged_at": timestamp(r.version.loaded_at),
        "clusters": r.clusters.iter().map(cluster_rollout).collect::<Vec<_>>(),
    })
}

fn rollout_end(end: &RolloutEnd) -> Value {
    json!({
        "sha256": end.sha256.to_string(),
        "at": timestamp(end.at),
        "result": end.outcome.name(),
        "reason": end.reason,
        "clusters": end.clusters.iter().map(cluster_rollout).collect::<Vec<_>>(),
    })
}

fn cluster_rollout(c: &ClusterRollout) -> Value {
    let (verdict, reason) = match &c.judgement {
        Judgement::Wait(why) => ("wait", why.as_str()),
        Judgement::Promote => ("promote", ""),
        Judgement::Rollback(why) => ("rollback", why.as_str()),
    };
    let candidate: &CandidateStatus = &c.candidate;
    let stats = &candidate.stats;
    json!({
        "cluster": c.cluster,
        "mode": candidate.mode.name(),
        "share": candidate.mode.share(),
        "since": timestamp(candidate.since),
        "elapsed_s": candidate.elapsed.as_secs_f64(),
        "serving": tally(&candidate.serving, &candidate.serving_version),
        "candidate": tally(&candidate.candidate, &candidate.version),
        "shadow": candidate.shadow.as_ref().map(|s| json!({
            "sampled": s.sampled,
            "dropped": s.dropped,
            "compared": s.compared,
            "agreed": s.agreed,
            "agreement": (s.compared > 0).then(|| share_of(s.agreed, s.compared)),
            "faults": s.faults,
            "pick_p50_us": s.pick_p50.map(micros),
            "pick_p99_us": s.pick_p99.map(micros),
            "shares": s.shares.iter().map(|(endpoint, serving, candidate)| json!({
                "endpoint": endpoint,
                "serving": share_of(*serving, s.compared),
                "candidate": share_of(*candidate, s.compared),
            })).collect::<Vec<_>>(),
        })),
        "picks": stats.picks,
        "faults": stats.faults(),
        "quarantined": candidate.quarantined,
        "rules": {
            "promote_after_s": candidate.rules.promote_after.as_secs_f64(),
            "max_error_rate_delta": candidate.rules.max_error_rate_delta,
            "max_p99_ratio": candidate.rules.max_p99_ratio,
            "min_p99_delta_ms": candidate.rules.min_p99_delta.as_secs_f64() * 1e3,
            "min_requests": candidate.rules.min_requests,
        },
        "verdict": verdict,
        "reason": reason,
    })
}

fn tally(t: &TallySnapshot, version: &str) -> Value {
    json!({
        "version": format!("sha256:{version}"),
        "requests": t.requests,
        "errors": t.errors,
        "error_rate": t.error_rate(),
        "retried": t.retried,
        "faults": t.faults,
        "p50_ms": t.p50.map(millis),
        "p99_ms": t.p99.map(millis),
    })
}

fn share_of(count: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        count as f64 / of as f64
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}
