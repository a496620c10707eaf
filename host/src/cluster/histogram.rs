//! A lock-free latency histogram with about 19% bucket resolution, for percentiles.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Buckets per power of two.
const STEPS: f64 = 4.0;
/// Buckets in all: up to 2^24 µs (about 16 s); slower lands in the last.
const BUCKETS: usize = 97;

/// Counts of latencies in exponentially growing buckets.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl LatencyHistogram {
    /// Adds one observation.
    pub fn record(&self, latency: Duration) {
        let us = latency.as_micros().max(1) as f64;
        let index = ((us.log2() * STEPS) as usize).min(BUCKETS - 1);
        self.buckets[index].fetch_add(1, Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// The `q` quantile (0.0–1.0), as the upper edge of its bucket; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let upper_us = 2f64.powf((i + 1) as f64 / STEPS);
                return Some(Duration::from_secs_f64(upper_us / 1e6));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_a_bucket() {
        let h = LatencyHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        let p50 = h.quantile(0.5).unwrap().as_secs_f64() * 1e3;
        let p99 = h.quantile(0.99).unwrap().as_secs_f64() * 1e3;
        assert!((50.0..62.0).contains(&p50), "p50 {p50}");
        assert!((99.0..120.0).contains(&p99), "p99 {p99}");
    }
}
