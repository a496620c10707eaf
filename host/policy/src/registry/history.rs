//! What happened to the policies lately: loads, refusals, stagings, rollouts ended and
//! clusters switched to another policy, newest last, for the admin console.

use super::versions::lock;
use super::{ReloadOutcome, RolloutOutcome, Sha256Digest};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

/// Events kept; older ones are forgotten.
const KEPT: usize = 100;

/// One thing that happened to a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyEvent {
    /// A reload of a file did something (never [`ReloadOutcome::Unchanged`]).
    Reload(ReloadOutcome),
    /// A rollout ended.
    Rollout {
        /// Policy name.
        name: String,
        /// The candidate's version.
        sha256: Sha256Digest,
        /// How it ended.
        outcome: RolloutOutcome,
        /// Why.
        reason: String,
    },
    /// A cluster now balances with another policy.
    Switched {
        /// The cluster.
        cluster: String,
        /// The policy it used.
        from: String,
        /// The policy it uses now.
        to: String,
    },
}

/// The last [`KEPT`] policy events, each with when it happened.
#[derive(Debug, Default)]
pub(super) struct History(Mutex<VecDeque<(SystemTime, PolicyEvent)>>);

impl History {
    /// Keeps `event`, forgetting the oldest when full.
    pub(super) fn push(&self, event: PolicyEvent) {
        if matches!(event, PolicyEvent::Reload(ReloadOutcome::Unchanged { .. })) {
            return;
        }
        let mut events = lock(&self.0);
        if events.len() == KEPT {
            events.pop_front();
        }
        events.push_back((SystemTime::now(), event));
    }

    /// The events kept, oldest first.
    pub(super) fn events(&self) -> Vec<(SystemTime, PolicyEvent)> {
        lock(&self.0).iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(n: usize) -> PolicyEvent {
        PolicyEvent::Reload(ReloadOutcome::Failed {
            name: format!("p{n}"),
            reason: "bad".into(),
        })
    }

    #[test]
    fn keeps_the_newest_and_skips_unchanged_files() {
        let history = History::default();
        history.push(PolicyEvent::Reload(ReloadOutcome::Unchanged {
            name: "p".into(),
        }));
        assert!(history.events().is_empty());
        for n in 0..KEPT + 5 {
            history.push(loaded(n));
        }
        let events = history.events();
        assert_eq!(events.len(), KEPT);
        assert_eq!(events[0].1, loaded(5));
        assert_eq!(events[KEPT - 1].1, loaded(KEPT + 4));
    }
}
