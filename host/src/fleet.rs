//! A fleet steered from one etcd: every proxy with an `[etcd]` section watches
//! `PREFIX/clusters/` and switches a cluster's balancer to the policy (and policy
//! configuration) its keys name, so that one `etcdctl put` changes the algorithm of
//! every proxy at once. A key removed brings back the configuration file's choice; a
//! value that cannot be applied (an unknown policy, configuration the policy refuses)
//! is logged and the cluster keeps its policy. Switching loads and prepares the policy
//! on a thread of its own, off the request path.

use crate::config::model::FleetConfig;
use crate::etcd::{PrefixEvent, watch_prefix};
use std::collections::BTreeMap;
use std::sync::Arc;
use switchyard_policy::{PolicyBinding, PolicyRegistry};
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
}

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
        let thread = std::thread::Builder::new()
            .name("switchyard-fleet".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let (events, mut incoming) = mpsc::channel(16);
                    let watch = tokio::spawn(watch_prefix(endpoints, prefix.clone(), events));
                    let mut applied: Vec<Option<Wanted>> = clusters.iter().map(|_| None).collect();
                    loop {
                        let event = tokio::select! {
                            event = incoming.recv() => event,
                            _ = stopped.wait_for(|stop| *stop) => None,
                        };
                        match event {
                            None => break,
                            Some(PrefixEvent::Failed(reason)) => {
                                tracing::warn!("fleet: {reason}; clusters keep their policies");
                            }
                            Some(PrefixEvent::Snapshot { entries, revision }) => {
                                for (cluster, applied) in clusters.iter().zip(&mut applied) {
                                    steer(&registry, cluster, &prefix, &entries, revision, applied);
                                }
                            }
                        }
                    }
                    watch.abort();
                })
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
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

/// Switches `cluster` to what the keys under `prefix` in `entries` want, unless that
/// was tried already (`applied`).
fn steer(
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
