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
    sum_us: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl LatencyHistogram {
    /// Adds one observation.
    pub fn record(&self, latency: Duration) {
        let micros = latency.as_micros().max(1);
        let index = (((micros as f64).log2() * STEPS) as usize).min(BUCKETS - 1);
        self.buckets[index].fetch_add(1, Relaxed);
        self.sum_us
            .fetch_add(micros.min(u128::from(u64::MAX)) as u64, Relaxed);
    }

    /// The sum of all observations.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_us.load(Relaxed))
    }

    /// Cumulative counts at power-of-two upper bounds (2, 4, 8 … 2^24 µs, in seconds),
    /// for a Prometheus histogram; what is slower counts only in [`count`](Self::count).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut seen = 0;
        self.buckets[..BUCKETS - 1]
            .chunks(STEPS as usize)
            .enumerate()
            .map(|(i, chunk)| {
                seen += chunk.iter().map(|b| b.load(Relaxed)).sum::<u64>();
                (2f64.powi(i as i32 + 1) / 1e6, seen)
            })
            .collect()
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
        assert_eq!(h.sum(), Duration::from_millis(5_050));
        let cumulative = h.cumulative();
        assert_eq!(cumulative.last().unwrap().1, 100);
        let at = |seconds: f64| cumulative.iter().find(|(b, _)| *b >= seconds).unwrap().1;
        // 1–8 ms are at or under 8.192 ms; 1–16 ms under 16.384 ms.
        assert_eq!((at(0.008), at(0.016)), (8, 16));
    }
}
