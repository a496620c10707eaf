//! `POST /policies/NAME/stage`, `…/promote` and `…/rollback`: a policy rollout run by
//! hand. `stage` takes `mode=canary&percent=P` or `mode=shadow&sample=S` (0–1); without
//! a mode, each cluster's `[clusters.rollout]` mode.

use crate::admin::policies;
use http::StatusCode;
use serde_json::{Value, json};
use switchyard_policy::{PolicyRegistry, ReloadOutcome, RolloutMode};

/// A rollout command.
pub(crate) enum RolloutAction {
    /// Stage `NAME.canary.wasm` from the policy directory.
    Stage {
        /// Policy name.
        name: String,
        /// The mode given, if any.
        mode: Option<RolloutMode>,
    },
    /// Promote the staged candidate.
    Promote(String),
    /// Roll the staged candidate back.
    Rollback(String),
}

/// The command `path` (with `query`) names: none when the path is not one; an error
/// when it is, but malformed.
pub(crate) fn action(path: &str, query: Option<&str>) -> Option<Result<RolloutAction, String>> {
    let (name, verb) = path.strip_prefix("/policies/")?.split_once('/')?;
    let name = match policy_name(name) {
        Ok(name) => name,
        Err(e) => return Some(Err(e)),
    };
    Some(match verb {
        "stage" => parse_mode(query.unwrap_or("")).map(|mode| RolloutAction::Stage { name, mode }),
        "promote" => Ok(RolloutAction::Promote(name)),
        "rollback" => Ok(RolloutAction::Rollback(name)),
        _ => return None,
    })
}

/// A policy name as a file stem in the policy directory: letters, digits, `-`, `_`
/// and `.`, not starting with a dot; nothing that leads out of the directory.
fn policy_name(name: &str) -> Result<String, String> {
    let fine = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if fine {
        Ok(name.to_string())
    } else {
        Err(format!(
            "policy name {name:?}: letters, digits, '-', '_' and '.' only, not starting with '.'"
        ))
    }
}

/// `mode=canary&percent=P`, `mode=shadow&sample=S`, or nothing.
fn parse_mode(query: &str) -> Result<Option<RolloutMode>, String> {
    let mut mode = None;
    let mut percent = None;
    let mut sample = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = || {
            value
                .parse::<f64>()
                .map_err(|_| format!("{key}: not a number: {value:?}"))
        };
        match key {
            "mode" => mode = Some(value.to_string()),
            "percent" => percent = Some(number()?),
            "sample" => sample = Some(number()?),
            _ => {
                return Err(format!(
                    "unknown parameter {key:?}; stage takes mode, percent and sample"
                ));
            }
        }
    }
    match (mode.as_deref(), percent, sample) {
        (None, None, None) => Ok(None),
        (Some("canary") | None, Some(percent), None) => RolloutMode::canary(percent)
            .map(Some)
            .map_err(|e| format!("percent: {e}")),
        (Some("canary"), None, None) => Err("mode=canary needs percent=P".into()),
        (Some("shadow") | None, None, sample) => {
            let sample = sample.unwrap_or(switchyard_policy::DEFAULT_SHADOW_SAMPLE);
            RolloutMode::shadow(sample)
                .map(Some)
                .map_err(|e| format!("sample: {e}"))
        }
        (Some(mode), _, _) if mode != "canary" && mode != "shadow" => {
            Err(format!("mode: canary or shadow, not {mode:?}"))
        }
        _ => Err("percent goes with mode=canary, sample with mode=shadow".into()),
    }
}

impl RolloutAction {
    /// Runs the command on `registry`: the status and body to answer.
    pub(crate) fn run(self, registry: &PolicyRegistry) -> (StatusCode, Value) {
        let (name, verb, done) = match self {
            RolloutAction::Stage { name, mode } => {
                let outcome = registry.stage(&name, mode);
                let status = match outcome {
                    ReloadOutcome::Failed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::OK,
                };
                return (status, policies::outcome(&outcome));
            }
            RolloutAction::Promote(name) => {
                let done = registry.promote(&name, "promoted by hand");
                (name, "promoted", done)
            }
            RolloutAction::Rollback(name) => {
                let done = registry.roll_back(&name, "rolled back by hand");
                (name, "rolled-back", done)
            }
        };
        match done {
            Ok(sha256) => (
                StatusCode::OK,
                json!({ "policy": name, "result": verb, "sha256": sha256.to_string() }),
            ),
            Err(reason) => (
                StatusCode::CONFLICT,
                json!({ "policy": name, "result": "failed", "reason": reason }),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_their_errors() {
        let parsed = |path: &str, query: &str| match action(path, Some(query)) {
            None => "none".to_string(),
            Some(Ok(RolloutAction::Stage { name, mode })) => format!("stage {name} {mode:?}"),
            Some(Ok(RolloutAction::Promote(name))) => format!("promote {name}"),
            Some(Ok(RolloutAction::Rollback(name))) => format!("rollback {name}"),
            Some(Err(e)) => format!("error {e}"),
        };
        assert_eq!(parsed("/policies/live/stage", ""), "stage live None");
        assert_eq!(
            parsed("/policies/live/stage", "mode=canary&percent=7.5"),
            "stage live Some(Canary { percent: 7.5 })"
        );
        assert_eq!(
            parsed("/policies/live/stage", "mode=shadow"),
            "stage live Some(Shadow { sample: 0.1 })"
        );
        assert_eq!(parsed("/policies/p-2.x/promote", ""), "promote p-2.x");
        assert_eq!(parsed("/policies/live/rollback", ""), "rollback live");
        assert_eq!(parsed("/policies/live/explode", ""), "none");
        assert_eq!(parsed("/clusters", ""), "none");
        for (path, query, says) in [
            ("/policies/..%2f/stage", "", "policy name"),
            ("/policies/.hidden/promote", "", "policy name"),
            ("/policies/live/stage", "mode=canary", "needs percent"),
            (
                "/policies/live/stage",
                "percent=0",
                "percent: a canary's percent is 0.01 to 100",
            ),
            (
                "/policies/live/stage",
                "mode=shadow&sample=2",
                "sample: a shadow's sample is",
            ),
            (
                "/policies/live/stage",
                "mode=shadow&percent=5",
                "percent goes with",
            ),
            (
                "/policies/live/stage",
                "mode=blue",
                "mode: canary or shadow",
            ),
            ("/policies/live/stage", "share=5", "unknown parameter"),
        ] {
            let got = parsed(path, query);
            assert!(
                got.starts_with("error") && got.contains(says),
                "{path}?{query}: {got}"
            );
        }
    }
}
