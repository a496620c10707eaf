//! What the requests picked by one policy version came to, counted while a rollout
//! compares two versions: requests, errors, retries and latency.

use crate::cluster::LatencyHistogram;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The requests one version picked for, since its rollout was staged.
#[derive(Debug)]
pub struct VersionTally {
    version: String,
    requests: AtomicU64,
    errors: AtomicU64,
    retried: AtomicU64,
    faults: AtomicU64,
    latency: LatencyHistogram,
}

/// A [`VersionTally`] read at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TallySnapshot {
    /// Requests finished.
    pub requests: u64,
    /// Of them, answered with a server error (5xx from the endpoint or the proxy).
    pub errors: u64,
    /// Of them, sent more than once.
    pub retried: u64,
    /// Picks the version faulted on (another version answered them): counted as
    /// errors of this one.
    pub faults: u64,
    /// The 99th percentile of their latency; none before the first.
    pub p99: Option<Duration>,
    /// The median of their latency; none before the first.
    pub p50: Option<Duration>,
}

impl TallySnapshot {
    /// Errors (its faults included) per request (0 without any).
    pub fn error_rate(&self) -> f64 {
        let asked = self.requests + self.faults;
        if asked == 0 {
            0.0
        } else {
            (self.errors + self.faults) as f64 / asked as f64
        }
    }
}

impl VersionTally {
    /// An empty tally for `version` (the sha256 of its component, in hex).
    pub fn new(version: String) -> Self {
        Self {
            version,
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            latency: LatencyHistogram::new(),
        }
    }

    /// The version counted, as the hex sha256 of its component.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Counts a finished request: whether it failed (a server error), how long it
    /// took, and how many attempts it made.
    pub fn record(&self, failed: bool, latency: Duration, attempts: u32) {
        self.requests.fetch_add(1, Relaxed);
        if failed {
            self.errors.fetch_add(1, Relaxed);
        }
        if attempts > 1 {
            self.retried.fetch_add(1, Relaxed);
        }
        self.latency.record(latency);
    }

    /// Counts a pick the version faulted on.
    pub fn record_fault(&self) {
        self.faults.fetch_add(1, Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> TallySnapshot {
        TallySnapshot {
            requests: self.requests.load(Relaxed),
            errors: self.errors.load(Relaxed),
            retried: self.retried.load(Relaxed),
            faults: self.faults.load(Relaxed),
            p99: self.latency.quantile(0.99),
            p50: self.latency.quantile(0.5),
        }
    }

    /// The latency histogram, for metrics.
    pub fn latency(&self) -> &LatencyHistogram {
        &self.latency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_errors_retries_and_latency() {
        let tally = VersionTally::new("ab".into());
        assert_eq!(tally.snapshot(), TallySnapshot::default());
        for i in 0..100u64 {
            tally.record(
                i % 10 == 0,
                Duration::from_millis(i + 1),
                1 + u32::from(i < 5),
            );
        }
        let seen = tally.snapshot();
        assert_eq!((seen.requests, seen.errors, seen.retried), (100, 10, 5));
        assert!((seen.error_rate() - 0.1).abs() < 1e-9);
        for _ in 0..10 {
            tally.record_fault();
        }
        assert!((tally.snapshot().error_rate() - 20.0 / 110.0).abs() < 1e-9);
        let p99 = seen.p99.unwrap().as_secs_f64() * 1e3;
        assert!((99.0..120.0).contains(&p99), "p99 {p99}");
    }
}
