//! A fleet steered from one etcd: every proxy with an `[etcd]` section watches
//! `PREFIX/clusters/` and switches a cluster's balancer to the policy (and policy
//! configuration) its keys name, so that one `etcdctl put` changes the algorithm of
//! every proxy at once. A key removed brings back the configuration file's choice; a
//! value that cannot be applied (an unknown policy, configuration the policy refuses)
//! is logged and the cluster keeps its policy. Switching loads and prepares the policy
//! on a thread of its own, off the request path.
//!
//! Rollouts go through etcd too. `PREFIX/clusters/NAME/policy_canary` holds
//! `{"sha256": "…", "mode": "canary", "percent": 5}` (or `"mode": "shadow"`, `"sample":
//! 0.1`; no mode: the cluster's `[clusters.rollout]`): every proxy stages its
//! `POLICY.canary.wasm` when it holds that version (a dropped file alone stages
//! nothing on a fleet's proxy). The first proxy whose rules decide writes its verdict
//! into the key (`"verdict": "promote"`, or `"rollback"` with a `"reason"`) in a
//! transaction that holds only if the key is unchanged; every proxy then promotes or
//! rolls back, so the fleet stays on one version. Removing the key rolls back.

use crate::config::model::FleetConfig;
use crate::etcd::{PrefixEvent, connect, watch_prefix};
use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use switchyard_policy::{
    FleetVerdict, Judgement, PolicyBinding, PolicyRegistry, ReloadOutcome, RolloutMode,
};
use tokio::sync::{mpsc, watch};

/// A cluster as the fleet steers it.
pub struct Steered {
    /// The cluster's tie to its policy.
    pub binding: Arc<PolicyBinding>,
    /// The configuration file's policy and policy configuration.
    pub default: (String, Vec<(String, String)>),
}

/// The running fleet watch; stopped when dropped.
pub struct Fleet {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Where this proxy's rollout decisions go, to be posted to etcd.
    verdicts: mpsc::UnboundedSender<FleetVerdict>,
}

/// A key that could not be applied (its candidate's file missing or another version)
/// is tried again this often.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Fleet {
    /// Watches `config`'s etcd for `clusters`' policy keys, switching them through
    /// `registry`.
    pub fn start(
        config: &FleetConfig,
        registry: Arc<PolicyRegistry>,
        clusters: Vec<Steered>,
    ) -> std::io::Result<Self> {
        let (stop, mut stopped) = watch::channel(false);
        let endpoints = config.endpoints.clone();
        let prefix = format!("{}clusters/", config.prefix);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (verdicts, mut decided) = mpsc::unbounded_channel::<FleetVerdict>();
        let thread = std::thread::Builder::new()
            .name("switchyard-fleet".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let (events, mut incoming) = mpsc::channel(16);
                    let watch =
                        tokio::spawn(watch_prefix(endpoints.clone(), prefix.clone(), events));
                    let mut applied: Vec<Applied> =
                        clusters.iter().map(|_| Applied::default()).collect();
                    let mut last = None;
                    let mut retry = tokio::time::interval(RETRY_EVERY);
                    loop {
                        tokio::select! {
                            event = incoming.recv() => match event {
                                None => break,
                                Some(PrefixEvent::Failed(reason)) => {
                                    tracing::warn!("fleet: {reason}; clusters keep their policies");
                                }
                                Some(PrefixEvent::Snapshot { entries, revision }) => {
                                    for (cluster, applied) in clusters.iter().zip(&mut applied) {
                                        steer(&registry, cluster, &prefix, &entries, revision, applied);
                                    }
                                    last = Some((entries, revision));
                                }
                            },
                            _ = retry.tick() => {
                                let Some((entries, revision)) = &last else { continue };
                                for (cluster, applied) in clusters.iter().zip(&mut applied) {
                                    if applied.retry {
                                        steer(&registry, cluster, &prefix, entries, *revision, applied);
                                    }
                                }
                            }
                            Some(verdict) = decided.recv() => {
                                post(&endpoints, &prefix, &clusters, &applied, &verdict).await;
                            }
                            _ = stopped.wait_for(|stop| *stop) => break,
                        }
                    }
                    watch.abort();
                })
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
            verdicts,
        })
    }

    /// Makes this watch the one `registry`'s rollouts go through (once it serves):
    /// candidates are staged by the fleet's keys, not by dropped files, and decisions
    /// go to etcd.
    pub fn take_rollouts(&self, registry: &PolicyRegistry) {
        let verdicts = self.verdicts.clone();
        registry.set_stage_dropped_files(false);
        registry.set_fleet_verdicts(Some(Arc::new(move |verdict| {
            // Lost only once this watch has stopped: the judge posts again later.
            let _ = verdicts.send(verdict);
        })));
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A policy and its configuration.
type Wanted = (String, Vec<(String, String)>);

/// What a cluster's keys asked for when last applied.
#[derive(Default)]
struct Applied {
    /// Its `policy` and `policy_config`.
    policy: Option<Wanted>,
    /// Its `policy_canary`, as written.
    canary: Option<Vec<u8>>,
    /// The policy and candidate version that key staged.
    staged: Option<(String, String)>,
    /// The key could not be applied yet; it is tried again.
    retry: bool,
}

/// Switches `cluster` to what the keys under `prefix` in `entries` want, and stages,
/// promotes or rolls back its candidate as `policy_canary` says, unless that was done
/// already (`applied`).
fn steer(
    registry: &PolicyRegistry,
    cluster: &Steered,
    prefix: &str,
    entries: &BTreeMap<String, Vec<u8>>,
    revision: i64,
    applied: &mut Applied,
) {
    switch(
        registry,
        cluster,
        prefix,
        entries,
        revision,
        &mut applied.policy,
    );
    let key = format!("{prefix}{}/policy_canary", cluster.binding.cluster());
    let canary = entries.get(&key);
    if canary != applied.canary.as_ref() || applied.retry {
        applied.canary = canary.cloned();
        let value = canary.map(Vec::as_slice);
        applied.retry = !roll(registry, cluster, &key, value, &mut applied.staged);
    }
}

/// Switches `cluster`'s policy to what the keys want, unless that was tried already.
fn switch(
    registry: &PolicyRegistry,
    cluster: &Steered,
    prefix: &str,
    entries: &BTreeMap<String, Vec<u8>>,
    revision: i64,
    applied: &mut Option<Wanted>,
) {
    let name = cluster.binding.cluster();
    let key = |leaf: &str| format!("{prefix}{name}/{leaf}");
    let wanted = wanted(
        entries,
        &key("policy"),
        &key("policy_config"),
        &cluster.default,
    );
    let wanted = match wanted {
        Ok(wanted) => wanted,
        Err(reason) => {
            tracing::error!(
                cluster = name,
                revision,
                "fleet: {reason}; the cluster keeps its policy"
            );
            return;
        }
    };
    if applied.as_ref() == Some(&wanted) {
        return;
    }
    let (policy, config) = wanted.clone();
    match registry.switch(&cluster.binding, &policy, config) {
        Ok(true) => tracing::info!(
            cluster = name,
            policy,
            revision,
            "fleet: cluster policy switched"
        ),
        Ok(false) => {}
        Err(e) => tracing::error!(
            cluster = name,
            policy,
            revision,
            "fleet: cannot switch, the cluster keeps its policy: {e}"
        ),
    }
    *applied = Some(wanted);
}

/// What a `policy_canary` key says.
#[derive(Debug, PartialEq)]
struct CanaryKey {
    /// The candidate's version.
    sha256: String,
    /// Its mode; none: the cluster's configured one.
    mode: Option<RolloutMode>,
    /// What the fleet decided, once a proxy has.
    verdict: Option<Judgement>,
}

/// Stages, promotes or rolls back the candidate of `cluster`'s policy as its
/// `policy_canary` key (`value`, none when removed) says; `staged` is what the key
/// staged before, and becomes what it stages now. False when it could not, for a
/// reason that may pass (the candidate's file not there yet): to be tried again.
fn roll(
    registry: &PolicyRegistry,
    cluster: &Steered,
    key: &str,
    value: Option<&[u8]>,
    staged: &mut Option<(String, String)>,
) -> bool {
    let name = cluster.binding.cluster();
    let Some(value) = value else {
        // Only what this key staged, if it is staged still.
        if let Some((policy, sha256)) = staged.take()
            && registry
                .staged(&policy)
                .is_some_and(|s| s.to_string() == sha256)
        {
            let _ = registry.roll_back(&policy, "fleet: the policy_canary key was removed");
        }
        return true;
    };
    let wanted = match canary_key(value) {
        Ok(wanted) => wanted,
        Err(reason) => {
            tracing::error!(cluster = name, "fleet: {key}: {reason}; nothing staged");
            return true;
        }
    };
    let policy = cluster.binding.policy_name();
    let here = registry.staged(&policy).map(|s| s.to_string());
    let serving = registry.active(&policy).map(|v| v.sha256.to_string());
    let result = match &wanted.verdict {
        Some(Judgement::Rollback(reason)) if here.as_ref() == Some(&wanted.sha256) => registry
            .roll_back(&policy, &format!("fleet: {reason}"))
            .map(|_| "rolled back"),
        Some(Judgement::Rollback(_)) => Ok("not staged here; nothing to roll back"),
        Some(Judgement::Promote) if serving.as_ref() == Some(&wanted.sha256) => {
            Ok("promoted already")
        }
        Some(Judgement::Promote) => stage(registry, &policy, &wanted)
            .and_then(|()| registry.promote(&policy, "fleet: promoted"))
            .map(|_| "promoted"),
        None => stage(registry, &policy, &wanted).map(|()| "staged"),
        Some(Judgement::Wait(_)) => Ok("waiting"),
    };
    match result {
        Ok(done) => {
            tracing::info!(
                cluster = name,
                policy,
                sha256 = wanted.sha256,
                "fleet: candidate {done}"
            );
            if wanted.verdict.is_none() {
                *staged = Some((policy, wanted.sha256));
            }
            true
        }
        Err(reason) => {
            tracing::error!(
                cluster = name,
                policy,
                sha256 = wanted.sha256,
                "fleet: {key}: {reason}; tried again in {}s",
                RETRY_EVERY.as_secs()
            );
            false
        }
    }
}

/// Stages the candidate `wanted` names, unless it is staged already.
fn stage(registry: &PolicyRegistry, policy: &str, wanted: &CanaryKey) -> Result<(), String> {
    match registry.stage_for_fleet(policy, wanted.mode.clone(), &wanted.sha256) {
        ReloadOutcome::Failed { reason, .. } => Err(reason),
        _ => Ok(()),
    }
}

/// Writes this proxy's `verdict` into the `policy_canary` key of every cluster using
/// its policy, if the key still says what was applied: the first proxy to decide
/// decides for the fleet.
async fn post(
    endpoints: &[String],
    prefix: &str,
    clusters: &[Steered],
    applied: &[Applied],
    verdict: &FleetVerdict,
) {
    let client = match connect(endpoints).await {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(
                policy = verdict.policy,
                "fleet: cannot post the rollout's verdict: {e}"
            );
            return;
        }
    };
    let sha256 = verdict.sha256.to_string();
    for (cluster, applied) in clusters.iter().zip(applied) {
        let Some(value) = &applied.canary else {
            continue;
        };
        let mine = cluster.binding.policy_name() == verdict.policy
            && canary_key(value).is_ok_and(|k| k.sha256 == sha256 && k.verdict.is_none());
        if !mine {
            continue;
        }
        let key = format!("{prefix}{}/policy_canary", cluster.binding.cluster());
        let decided = with_verdict(value, &verdict.judgement);
        let txn = Txn::new()
            .when([Compare::value(
                key.as_str(),
                CompareOp::Equal,
                value.clone(),
            )])
            .and_then([TxnOp::put(key.as_str(), decided, None)]);
        match client.kv_client().txn(txn).await {
            Ok(answer) if answer.succeeded() => tracing::info!(
                policy = verdict.policy,
                key,
                "fleet: this proxy's rollout verdict is the fleet's: {:?}",
                verdict.judgement
            ),
            Ok(_) => tracing::info!(key, "fleet: another proxy decided first"),
            Err(e) => tracing::warn!(key, "fleet: cannot post the rollout's verdict: {e}"),
        }
    }
}

/// `value` (a `policy_canary` JSON object) with `judgement` as its verdict.
fn with_verdict(value: &[u8], judgement: &Judgement) -> Vec<u8> {
    let mut object: Map<String, Value> = serde_json::from_slice(value).unwrap_or_default();
    match judgement {
        Judgement::Promote => {
            object.insert("verdict".into(), "promote".into());
        }
        Judgement::Rollback(reason) => {
            object.insert("verdict".into(), "rollback".into());
            object.insert("reason".into(), reason.as_str().into());
        }
        Judgement::Wait(_) => {}
    }
    serde_json::to_vec(&object).unwrap_or_default()
}

/// Reads a `policy_canary` value.
fn canary_key(value: &[u8]) -> Result<CanaryKey, String> {
    let object: Map<String, Value> =
        serde_json::from_slice(value).map_err(|e| format!("not a JSON object: {e}"))?;
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let number = |key: &str| object.get(key).and_then(Value::as_f64);
    let sha256 = text("sha256")
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("sha256: the candidate's sha256, 64 hex digits, is needed")?
        .to_ascii_lowercase();
    let mode = match text("mode") {
        None => None,
        Some("canary") => Some(
            RolloutMode::canary(number("percent").unwrap_or(0.0))
                .map_err(|e| format!("percent: {e}"))?,
        ),
        Some("shadow") => Some(
            RolloutMode::shadow(
                number("sample").unwrap_or(switchyard_policy::DEFAULT_SHADOW_SAMPLE),
            )
            .map_err(|e| format!("sample: {e}"))?,
        ),
        Some(other) => return Err(format!("mode: canary or shadow, not {other:?}")),
    };
    let verdict = match text("verdict") {
        None => None,
        Some("promote") => Some(Judgement::Promote),
        Some("rollback") => Some(Judgement::Rollback(
            text("reason").unwrap_or("rolled back").to_string(),
        )),
        Some(other) => return Err(format!("verdict: promote or rollback, not {other:?}")),
    };
    Ok(CanaryKey {
        sha256,
        mode,
        verdict,
    })
}

/// The policy and configuration the keys ask for, the file's where a key is absent.
fn wanted(
    entries: &BTreeMap<String, Vec<u8>>,
    policy_key: &str,
    config_key: &str,
    default: &Wanted,
) -> Result<Wanted, String> {
    let policy = match entries.get(policy_key) {
        Some(value) => std::str::from_utf8(value)
            .map_err(|_| format!("{policy_key}: not UTF-8"))?
            .trim()
            .to_string(),
        None => default.0.clone(),
    };
    let config = match entries.get(config_key) {
        Some(value) => config_of(value).map_err(|e| format!("{config_key}: {e}"))?,
        None => default.1.clone(),
    };
    Ok((policy, config))
}

/// A JSON object's members as key/values (strings as they are, other values as JSON).
fn config_of(value: &[u8]) -> Result<Vec<(String, String)>, String> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(value).map_err(|e| format!("not a JSON object: {e}"))?;
    Ok(object
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_keys_and_verdicts() {
        let sha = "ab".repeat(32);
        let key = |json: String| canary_key(json.as_bytes());
        let staged = key(format!(
            r#"{{"sha256": "{sha}", "mode": "canary", "percent": 5}}"#
        ));
        assert_eq!(
            staged,
            Ok(CanaryKey {
                sha256: sha.clone(),
                mode: Some(RolloutMode::Canary { percent: 5.0 }),
                verdict: None,
            })
        );
        let plain = format!(r#"{{"sha256": "{sha}"}}"#);
        assert_eq!(key(plain.clone()).unwrap().mode, None);
        let shadow = key(format!(r#"{{"sha256": "{sha}", "mode": "shadow"}}"#)).unwrap();
        assert_eq!(shadow.mode, Some(RolloutMode::Shadow { sample: 0.1 }));
        let decided = with_verdict(plain.as_bytes(), &Judgement::Rollback("p99".into()));
        let decided = canary_key(&decided).unwrap();
        assert_eq!(decided.verdict, Some(Judgement::Rollback("p99".into())));
        assert_eq!(decided.sha256, sha);
        for (bad, says) in [
            (r#"{"sha256": "12"}"#.to_string(), "sha256:"),
            (
                format!(r#"{{"sha256": "{sha}", "mode": "canary"}}"#),
                "percent:",
            ),
            (format!(r#"{{"sha256": "{sha}", "mode": "blue"}}"#), "mode:"),
            (
                format!(r#"{{"sha256": "{sha}", "verdict": "maybe"}}"#),
                "verdict:",
            ),
            ("[]".to_string(), "not a JSON object"),
        ] {
            let err = key(bad.clone()).unwrap_err();
            assert!(err.starts_with(says), "{bad}: {err}");
        }
    }

    #[test]
    fn keys_override_the_file_while_they_exist() {
        let default = ("round-robin".to_string(), vec![]);
        let mut entries = BTreeMap::new();
        let (p, c) = ("/s/clusters/api/policy", "/s/clusters/api/policy_config");
        assert_eq!(wanted(&entries, p, c, &default).unwrap(), default);
        entries.insert(p.to_string(), b" ring-hash\n".to_vec());
        entries.insert(
            c.to_string(),
            br#"{"hash_on": "header:x-user", "points": 100}"#.to_vec(),
        );
        let (policy, config) = wanted(&entries, p, c, &default).unwrap();
        assert_eq!(policy, "ring-hash");
        assert!(config.contains(&("points".to_string(), "100".to_string())));
        assert!(config.contains(&("hash_on".to_string(), "header:x-user".to_string())));
        entries.insert(c.to_string(), b"[1]".to_vec());
        let err = wanted(&entries, p, c, &default).unwrap_err();
        assert!(
            err.starts_with("/s/clusters/api/policy_config: not a JSON object"),
            "{err}"
        );
    }
}
