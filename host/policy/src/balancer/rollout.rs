//! How a candidate version is tried beside the serving one, and the rules that promote
//! or roll it back: judged over the whole window since staging, the candidate's
//! requests against the serving version's requests of the same window.

use crate::balancer::tally::TallySnapshot;
use crate::engine::HashSource;
use std::time::Duration;

/// How a staged candidate takes part in picks.
#[derive(Clone, Debug, PartialEq)]
pub enum RolloutMode {
    /// The serving version answers every pick; the candidate is also asked, off the
    /// request path, on this share (0–1) of picks, and the answers compared.
    Shadow {
        /// Share of picks also put to the candidate.
        sample: f64,
    },
    /// The candidate answers this share of picks (0–100 percent).
    Canary {
        /// Percent of picks it answers.
        percent: f64,
    },
}

/// The smallest canary share, in percent: one pick in 10,000.
const MIN_CANARY_PERCENT: f64 = 0.01;
/// The smallest shadow sample: one pick in 10,000.
const MIN_SHADOW_SAMPLE: f64 = 0.0001;

impl RolloutMode {
    /// A canary answering `percent` of picks (0.01 to 100).
    pub fn canary(percent: f64) -> Result<Self, String> {
        if (MIN_CANARY_PERCENT..=100.0).contains(&percent) {
            Ok(RolloutMode::Canary { percent })
        } else {
            Err(format!(
                "a canary's percent is {MIN_CANARY_PERCENT} to 100, not {percent}"
            ))
        }
    }

    /// A shadow asked on a `sample` share of picks (0.0001 to 1).
    pub fn shadow(sample: f64) -> Result<Self, String> {
        if (MIN_SHADOW_SAMPLE..=1.0).contains(&sample) {
            Ok(RolloutMode::Shadow { sample })
        } else {
            Err(format!(
                "a shadow's sample is {MIN_SHADOW_SAMPLE} to 1 (a share of picks), not {sample}"
            ))
        }
    }

    /// `shadow` or `canary`.
    pub fn name(&self) -> &'static str {
        match self {
            RolloutMode::Shadow { .. } => "shadow",
            RolloutMode::Canary { .. } => "canary",
        }
    }

    /// The share of picks it concerns, 0–1: sampled in shadow, answered in canary.
    pub fn share(&self) -> f64 {
        match self {
            RolloutMode::Shadow { sample } => *sample,
            RolloutMode::Canary { percent } => percent / 100.0,
        }
    }
}

/// When a candidate is promoted or rolled back.
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutRules {
    /// A canary that kept within the rules this long (with enough requests) is
    /// promoted.
    pub promote_after: Duration,
    /// Most the candidate's error rate may exceed the serving version's (0.01: one
    /// percentage point).
    pub max_error_rate_delta: f64,
    /// Most the candidate's p99 latency may be, as a multiple of the serving version's.
    pub max_p99_ratio: f64,
    /// A p99 difference below this never breaks `max_p99_ratio`: at such small
    /// latencies the difference is noise.
    pub min_p99_delta: Duration,
    /// Requests the candidate must have picked for before it is judged at all.
    pub min_requests: u64,
}

impl Default for RolloutRules {
    fn default() -> Self {
        Self {
            promote_after: Duration::from_secs(600),
            max_error_rate_delta: 0.01,
            max_p99_ratio: 1.2,
            min_p99_delta: Duration::from_millis(2),
            min_requests: 1000,
        }
    }
}

/// How a cluster tries candidates of its policy.
#[derive(Clone, Debug)]
pub struct RolloutSettings {
    /// The mode of a candidate staged without one given (a dropped `NAME.canary.wasm`).
    pub mode: RolloutMode,
    /// In canary mode, what keeps one user on one version (`None`: each request is
    /// drawn at random).
    pub sticky: Option<HashSource>,
    /// When to promote or roll back.
    pub rules: RolloutRules,
}

/// Canary at this percent unless configured.
pub const DEFAULT_CANARY_PERCENT: f64 = 5.0;
/// Shadow sampling at this share unless configured.
pub const DEFAULT_SHADOW_SAMPLE: f64 = 0.1;

impl Default for RolloutSettings {
    fn default() -> Self {
        Self {
            mode: RolloutMode::Canary {
                percent: DEFAULT_CANARY_PERCENT,
            },
            sticky: None,
            rules: RolloutRules::default(),
        }
    }
}

/// What the rules say of a candidate now.
#[derive(Clone, Debug, PartialEq)]
pub enum Judgement {
    /// Not decided yet, and why.
    Wait(String),
    /// It kept within the rules for the whole window.
    Promote,
    /// It broke a rule: which, with the figures.
    Rollback(String),
}

/// Judges a candidate (`candidate`'s requests) against the serving version
/// (`serving`'s, over the same window) after `elapsed` staged in `mode`. A shadow
/// serves no requests: only a quarantine (judged by the caller) or an operator ends it.
pub fn judge(
    rules: &RolloutRules,
    mode: &RolloutMode,
    serving: &TallySnapshot,
    candidate: &TallySnapshot,
    elapsed: Duration,
) -> Judgement {
    if let RolloutMode::Shadow { .. } = mode {
        return Judgement::Wait("shadow: promote by hand, or stage again as a canary".into());
    }
    if serving.requests < rules.min_requests {
        return Judgement::Wait(format!(
            "the serving version has {} of the {} requests needed to compare",
            serving.requests, rules.min_requests
        ));
    }
    if candidate.requests < rules.min_requests {
        let reason = format!(
            "{} of the {} requests needed to judge",
            candidate.requests, rules.min_requests
        );
        return Judgement::Wait(if elapsed >= rules.promote_after {
            format!(
                "promote_after ({}) has passed with only {reason}; staying staged",
                seconds(rules.promote_after)
            )
        } else {
            reason
        });
    }
    let (theirs, ours) = (candidate.error_rate(), serving.error_rate());
    if theirs - ours > rules.max_error_rate_delta {
        return Judgement::Rollback(format!(
            "error rate {} against the serving version's {} (at most {} points more)",
            percent(theirs),
            percent(ours),
            rules.max_error_rate_delta * 100.0
        ));
    }
    if let (Some(theirs), Some(ours)) = (candidate.p99, serving.p99)
        && theirs.as_secs_f64() > ours.as_secs_f64() * rules.max_p99_ratio
        && theirs.saturating_sub(ours) >= rules.min_p99_delta
    {
        return Judgement::Rollback(format!(
            "p99 latency {} against the serving version's {} (at most {}×)",
            millis(theirs),
            millis(ours),
            rules.max_p99_ratio
        ));
    }
    if elapsed >= rules.promote_after {
        Judgement::Promote
    } else {
        Judgement::Wait(format!(
            "within the rules; promoted at {} if it stays so",
            seconds(rules.promote_after)
        ))
    }
}

fn percent(rate: f64) -> String {
    format!("{:.2}%", rate * 100.0)
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(requests: u64, errors: u64, p99_ms: u64) -> TallySnapshot {
        TallySnapshot {
            requests,
            errors,
            retried: 0,
            faults: 0,
            p99: Some(Duration::from_millis(p99_ms)),
            p50: Some(Duration::from_millis(p99_ms / 2)),
        }
    }

    #[test]
    fn the_rules_decide_in_order() {
        let rules = RolloutRules::default();
        let canary = RolloutMode::Canary { percent: 5.0 };
        let minute = Duration::from_secs(60);
        let after = rules.promote_after + minute;
        let serving = tally(20_000, 200, 10);
        let few = tally(999, 0, 10);
        assert!(matches!(
            judge(&rules, &canary, &few, &tally(5000, 0, 10), after),
            Judgement::Wait(why) if why.starts_with("the serving version has 999")
        ));
        let cases: &[(TallySnapshot, Duration, &str)] = &[
            // Too few requests: wait, even past the window, and say so.
            (tally(999, 900, 500), minute, "wait:999 of the 1000"),
            (
                tally(999, 0, 10),
                after,
                "wait:promote_after (600s) has passed",
            ),
            // Errors: the serving 1.0% + 1 point is the limit.
            (tally(1000, 19, 10), minute, "wait:within the rules"),
            (tally(1000, 25, 10), minute, "rollback:error rate 2.50%"),
            // p99: 1.2× is the limit, and a difference under 2 ms never counts.
            (tally(1000, 0, 11), minute, "wait:within"),
            (tally(1000, 0, 13), minute, "rollback:p99 latency 13.0 ms"),
            (tally(1000, 0, 10), after, "promote"),
        ];
        for (candidate, elapsed, expected) in cases {
            let said = match judge(&rules, &canary, &serving, candidate, *elapsed) {
                Judgement::Wait(why) => format!("wait:{why}"),
                Judgement::Promote => "promote".into(),
                Judgement::Rollback(why) => format!("rollback:{why}"),
            };
            assert!(said.starts_with(expected), "{candidate:?}: {said}");
        }
        let fast = tally(20_000, 0, 1);
        assert!(matches!(
            judge(&rules, &canary, &fast, &tally(1000, 0, 2), minute),
            Judgement::Wait(_)
        ));
    }

    #[test]
    fn a_shadow_is_never_promoted_by_the_rules() {
        let shadow = RolloutMode::Shadow { sample: 0.1 };
        let ever = Duration::from_secs(1 << 30);
        let judged = judge(
            &RolloutRules::default(),
            &shadow,
            &tally(1, 0, 1),
            &tally(0, 0, 1),
            ever,
        );
        assert!(matches!(judged, Judgement::Wait(why) if why.starts_with("shadow")));
    }
}
