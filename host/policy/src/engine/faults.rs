//! Fault accounting shared by balancers and scorers: counters by kind, and quarantine
//! after too many faults in a window.

use crate::engine::{Fault, PolicyLimits};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Faults of one policy version serving one cluster.
#[derive(Default)]
pub(crate) struct FaultLog {
    traps: AtomicU64,
    deadlines: AtomicU64,
    memory: AtomicU64,
    invalid_answers: AtomicU64,
    recent: Mutex<VecDeque<Instant>>,
    quarantined: AtomicBool,
}

/// Fault counts by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FaultCounts {
    pub(crate) traps: u64,
    pub(crate) deadlines: u64,
    pub(crate) memory: u64,
    pub(crate) invalid_answers: u64,
}

impl FaultLog {
    /// Counts and logs `fault` of `policy` serving `cluster`; quarantines the version
    /// when `limits.quarantine_after` faults fell within `limits.fault_window`. True
    /// when this fault is the one that quarantined it.
    pub(crate) fn record(
        &self,
        fault: &Fault,
        limits: &PolicyLimits,
        policy: &str,
        cluster: &str,
    ) -> bool {
        let counter = match fault {
            Fault::Trap(_) => &self.traps,
            Fault::Deadline(_) => &self.deadlines,
            Fault::Memory(_) => &self.memory,
            Fault::InvalidAnswer(_) => &self.invalid_answers,
        };
        counter.fetch_add(1, Relaxed);
        tracing::warn!(
            policy,
            cluster,
            kind = fault.kind(),
            "policy fault: {fault}"
        );
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.push_back(now);
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > limits.fault_window)
        {
            recent.pop_front();
        }
        recent.len() >= limits.quarantine_after as usize && !self.quarantined.swap(true, Relaxed)
    }

    /// Quarantines the version whatever the count.
    pub(crate) fn quarantine(&self) {
        self.quarantined.store(true, Relaxed);
    }

    /// True once the version is quarantined.
    pub(crate) fn is_quarantined(&self) -> bool {
        self.quarantined.load(Relaxed)
    }

    /// The counts so far.
    pub(crate) fn counts(&self) -> FaultCounts {
        FaultCounts {
            traps: self.traps.load(Relaxed),
            deadlines: self.deadlines.load(Relaxed),
            memory: self.memory.load(Relaxed),
            invalid_answers: self.invalid_answers.load(Relaxed),
        }
    }
}

/// Counters of one cluster's policy: a balancer's picks, or a scorer's calls (as
/// `picks`), and the faults of either.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyStats {
    /// Picks answered by the policy.
    pub picks: u64,
    /// Picks answered by the fallback (faults and quarantine).
    pub fallbacks: u64,
    /// Traps (panics, blocked I/O, instantiation failures).
    pub traps: u64,
    /// Calls that ran past their deadline.
    pub deadlines: u64,
    /// Instances that hit the memory cap.
    pub memory: u64,
    /// Answers the host could not use.
    pub invalid_answers: u64,
}

impl PolicyStats {
    /// Faults of every kind.
    pub fn faults(&self) -> u64 {
        self.traps + self.deadlines + self.memory + self.invalid_answers
    }
}
