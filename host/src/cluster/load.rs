//! Per-endpoint load figures, updated lock-free by the requests that use the endpoint.

use super::LatencyHistogram;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Weight of a new latency sample in the EWMA.
const LATENCY_ALPHA: f32 = 0.2;
/// Weight of a new outcome in the error-rate EWMA (about the last 50 requests).
const ERROR_ALPHA: f32 = 0.02;

/// Live load of one endpoint: in-flight requests, latency EWMA, recent error rate, and
/// totals for reports.
#[derive(Debug, Default)]
pub struct EndpointLoad {
    in_flight: AtomicU32,
    latency_ewma_us: AtomicU32,
    error_rate_bits: AtomicU32,
    completed: AtomicU64,
    failed: AtomicU64,
    latency: LatencyHistogram,
}

impl EndpointLoad {
    /// Requests sent and not finished.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// Latency EWMA in microseconds; 0 before the first response.
    pub fn latency_ewma_us(&self) -> u32 {
        self.latency_ewma_us.load(Relaxed)
    }

    /// Recent error rate, 0.0 to 1.0.
    pub fn error_rate(&self) -> f32 {
        f32::from_bits(self.error_rate_bits.load(Relaxed))
    }

    /// Requests finished so far.
    pub fn completed(&self) -> u64 {
        self.completed.load(Relaxed)
    }

    /// Requests finished as failures so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Relaxed)
    }

    /// Latency distribution of finished requests.
    pub fn latency(&self) -> &LatencyHistogram {
        &self.latency
    }

    /// A request to this endpoint starts.
    pub fn start(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// A request to this endpoint finished after `latency`, failed or not.
    pub fn finish(&self, latency: Duration, failed: bool) {
        // Saturating: never wrap below zero even if start/finish are ever unbalanced.
        let _ = self
            .in_flight
            .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(1)));
        self.completed.fetch_add(1, Relaxed);
        if failed {
            self.failed.fetch_add(1, Relaxed);
        }
        self.latency.record(latency);
        let sample = latency.as_micros().min(u128::from(u32::MAX)) as f32;
        let _ = self.latency_ewma_us.fetch_update(Relaxed, Relaxed, |old| {
            Some(if old == 0 {
                sample.max(1.0) as u32
            } else {
                (old as f32 + LATENCY_ALPHA * (sample - old as f32)).max(1.0) as u32
            })
        });
        let outcome = if failed { 1.0 } else { 0.0 };
        let _ = self.error_rate_bits.fetch_update(Relaxed, Relaxed, |bits| {
            let old = f32::from_bits(bits);
            Some((old + ERROR_ALPHA * (outcome - old)).to_bits())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_in_flight_latency_and_errors() {
        let load = EndpointLoad::default();
        load.start();
        load.start();
        assert_eq!(load.in_flight(), 2);
        load.finish(Duration::from_micros(1_000), false);
        assert_eq!((load.in_flight(), load.latency_ewma_us()), (1, 1_000));
        load.finish(Duration::from_micros(2_000), true);
        assert_eq!(load.latency_ewma_us(), 1_200);
        assert!((load.error_rate() - 0.02).abs() < 1e-6);
        load.finish(Duration::ZERO, false);
        assert_eq!(load.in_flight(), 0);
        assert_eq!(
            (load.completed(), load.failed(), load.latency().count()),
            (3, 1, 3)
        );
    }
}
