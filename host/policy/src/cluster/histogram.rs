//! A lock-free latency histogram with about 19% bucket resolution, for percentiles,
//! counting in a unit of `UNIT_NS` nanoseconds: microseconds for requests, nanoseconds
//! for policy picks.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Buckets per power of two.
const STEPS: f64 = 4.0;
/// Buckets in all: up to 2^24 units (about 16 s in µs); slower lands in the last.
const BUCKETS: usize = 97;

/// Request latencies, in microseconds (up to about 16 s).
pub type LatencyHistogram = Histogram<1_000>;
/// Policy pick durations, in nanoseconds (up to about 16 ms).
pub type PickHistogram = Histogram<1>;

/// Counts of durations in exponentially growing buckets of `UNIT_NS` nanoseconds.
#[derive(Debug)]
pub struct Histogram<const UNIT_NS: u64> {
    buckets: [AtomicU64; BUCKETS],
    sum_units: AtomicU64,
}

impl<const UNIT_NS: u64> Default for Histogram<UNIT_NS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const UNIT_NS: u64> Histogram<UNIT_NS> {
    /// An empty histogram.
    pub const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
            sum_units: AtomicU64::new(0),
        }
    }

    /// Adds one observation.
    pub fn record(&self, latency: Duration) {
        // In u64 (584 years of nanoseconds): a u128 division and conversion to f64
        // cost more than the rest of a record.
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        let units = (nanos / UNIT_NS).max(1);
        let index = (((units as f64).log2() * STEPS) as usize).min(BUCKETS - 1);
        self.buckets[index].fetch_add(1, Relaxed);
        self.sum_units.fetch_add(units, Relaxed);
    }

    /// The sum of all observations.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_units.load(Relaxed).saturating_mul(UNIT_NS))
    }

    /// Cumulative counts at power-of-two upper bounds (2, 4, 8 … 2^24 units, in
    /// seconds), for a Prometheus histogram; what is slower counts only in
    /// [`count`](Self::count).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut seen = 0;
        self.buckets[..BUCKETS - 1]
            .chunks(STEPS as usize)
            .enumerate()
            .map(|(i, chunk)| {
                seen += chunk.iter().map(|b| b.load(Relaxed)).sum::<u64>();
                (2f64.powi(i as i32 + 1) * UNIT_NS as f64 / 1e9, seen)
            })
            .collect()
    }

    /// The buckets holding observations, fastest first: each one's index (into
    /// [`edges`](Self::edges)) and count. The admin console's page takes quantiles over
    /// a window from the differences between two of these.
    pub fn buckets(&self) -> Vec<(usize, u64)> {
        self.buckets
            .iter()
            .map(|b| b.load(Relaxed))
            .enumerate()
            .filter(|(_, count)| *count > 0)
            .collect()
    }

    /// Each bucket's upper edge in seconds; the last holds whatever is slower, and its
    /// edge is infinite.
    pub fn edges() -> Vec<f64> {
        (0..BUCKETS)
            .map(|i| {
                if i == BUCKETS - 1 {
                    f64::INFINITY
                } else {
                    Self::upper_edge(i)
                }
            })
            .collect()
    }

    /// The upper edge of bucket `index`, in seconds.
    fn upper_edge(index: usize) -> f64 {
        2f64.powf((index + 1) as f64 / STEPS) * UNIT_NS as f64 / 1e9
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
                return Some(Duration::from_secs_f64(Self::upper_edge(i)));
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
        let buckets = h.buckets();
        assert_eq!(buckets.iter().map(|(_, n)| n).sum::<u64>(), 100);
        assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0));
        // 100 ms is in the last non-empty bucket, whose upper edge is within 19%.
        let edges = LatencyHistogram::edges();
        assert_eq!(edges.last(), Some(&f64::INFINITY));
        let upper = edges[buckets.last().unwrap().0];
        assert!((0.1..0.12).contains(&upper), "{upper}");
    }

    #[test]
    fn picks_count_in_nanoseconds() {
        let h = PickHistogram::default();
        for ns in [100, 200, 300, 400] {
            h.record(Duration::from_nanos(ns));
        }
        assert_eq!(h.sum(), Duration::from_nanos(1_000));
        let p50 = h.quantile(0.5).unwrap().as_nanos();
        assert!((200..240).contains(&p50), "p50 {p50}");
        let cumulative = h.cumulative();
        let at = |seconds: f64| cumulative.iter().find(|(b, _)| *b >= seconds).unwrap().1;
        assert_eq!((at(128e-9), at(256e-9), at(512e-9)), (1, 2, 4));
    }
}
