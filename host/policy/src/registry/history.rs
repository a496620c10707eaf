//! What happened to the policies lately: loads, refusals, stagings, rollouts ended and
//! clusters switched to another policy, newest last, for the admin console.

use super::versions::lock;
use super::{ReloadOutcome, RolloutOutcome, Sha256Digest};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

/// Events kept; older ones are forgotten.
const KEPT: usize = 100;
/// The longest reason kept, in bytes (a fleet's reason comes from etcd).
const REASON_BYTES: usize = 1024;

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

/// One event kept: when it last happened, and how many times in a row.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    /// When it last happened.
    pub at: SystemTime,
    /// What happened.
    pub event: PolicyEvent,
    /// How many times in a row (a fleet's retry may fail the same way every 5 s).
    pub times: u32,
}

/// The last [`KEPT`] policy events.
#[derive(Debug, Default)]
pub(super) struct History(Mutex<VecDeque<HistoryEntry>>);

impl History {
    /// Keeps `event` (its reason cut to [`REASON_BYTES`]), counting it again when it
    /// repeats the last one, and forgetting the oldest when full.
    pub(super) fn push(&self, mut event: PolicyEvent) {
        match &mut event {
            PolicyEvent::Reload(ReloadOutcome::Unchanged { .. }) => return,
            PolicyEvent::Reload(ReloadOutcome::Failed { reason, .. })
            | PolicyEvent::Rollout { reason, .. } => cut_reason(reason),
            _ => {}
        }
        let at = SystemTime::now();
        let mut events = lock(&self.0);
        if let Some(last) = events.back_mut().filter(|last| last.event == event) {
            last.at = at;
            last.times = last.times.saturating_add(1);
            return;
        }
        if events.len() == KEPT {
            events.pop_front();
        }
        events.push_back(HistoryEntry {
            at,
            event,
            times: 1,
        });
    }

    /// The events kept, oldest first.
    pub(super) fn events(&self) -> Vec<HistoryEntry> {
        lock(&self.0).iter().cloned().collect()
    }
}

/// Cuts `reason` to 1 KiB on a character boundary, marking the cut: what a history
/// keeps of a reason (a fleet's comes from etcd, a compiler's may run long).
pub fn cut_reason(reason: &mut String) {
    crate::text::cut(reason, REASON_BYTES);
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
        assert_eq!(events[0].event, loaded(5));
        assert_eq!(events[KEPT - 1].event, loaded(KEPT + 4));
    }

    #[test]
    fn repeats_are_counted_and_reasons_cut() {
        let history = History::default();
        for _ in 0..3 {
            history.push(loaded(1));
        }
        history.push(loaded(2));
        history.push(loaded(1));
        let times: Vec<u32> = history.events().iter().map(|k| k.times).collect();
        assert_eq!(times, [3, 1, 1]);

        history.push(PolicyEvent::Reload(ReloadOutcome::Failed {
            name: "p".into(),
            reason: "é".repeat(REASON_BYTES),
        }));
        let Some(HistoryEntry {
            event: PolicyEvent::Reload(ReloadOutcome::Failed { reason, .. }),
            ..
        }) = history.events().pop()
        else {
            panic!("a failure kept");
        };
        assert!(reason.len() <= REASON_BYTES + '…'.len_utf8() && reason.ends_with('…'));
    }
}
