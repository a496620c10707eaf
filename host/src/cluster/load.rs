//! Per-endpoint load figures, updated lock-free by the requests that use the endpoint.

use super::LatencyHistogram;
use std::sync::Arc;
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

    /// A request to this endpoint starts. It stays in flight until the returned guard
    /// is finished or dropped (dropped unfinished: the client went away; nothing is
    /// recorded against the endpoint).
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight {
            load: Arc::clone(self),
            done: false,
        }
    }

    /// An attempt that never became a request (the connection could not be made):
    /// counts as a failure, adds no latency sample.
    pub fn record_failure(&self) {
        self.completed.fetch_add(1, Relaxed);
        self.failed.fetch_add(1, Relaxed);
        self.record_outcome(true);
    }

    fn finish(&self, latency: Duration, failed: bool) {
        self.in_flight.fetch_sub(1, Relaxed);
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
        self.record_outcome(failed);
    }

    fn record_outcome(&self, failed: bool) {
        let outcome = if failed { 1.0 } else { 0.0 };
        let _ = self.error_rate_bits.fetch_update(Relaxed, Relaxed, |bits| {
            let old = f32::from_bits(bits);
            Some((old + ERROR_ALPHA * (outcome - old)).to_bits())
        });
    }
}

/// A request in flight to an endpoint; see [`EndpointLoad::start`].
#[derive(Debug)]
#[must_use = "a request stays in flight until this is finished or dropped"]
pub struct InFlight {
    load: Arc<EndpointLoad>,
    done: bool,
}

impl InFlight {
    /// The request finished after `latency` (to its response headers), failed or not.
    pub fn finish(mut self, latency: Duration, failed: bool) {
        self.done = true;
        self.load.finish(latency, failed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.load.in_flight.fetch_sub(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_in_flight_latency_and_errors() {
        let load = Arc::new(EndpointLoad::default());
        let (a, b, c) = (load.start(), load.start(), load.start());
        assert_eq!(load.in_flight(), 3);
        a.finish(Duration::from_micros(1_000), false);
        assert_eq!((load.in_flight(), load.latency_ewma_us()), (2, 1_000));
        b.finish(Duration::from_micros(2_000), true);
        assert_eq!(load.latency_ewma_us(), 1_200);
        assert!((load.error_rate() - 0.02).abs() < 1e-6);
        drop(c);
        assert_eq!(load.in_flight(), 0, "an abandoned request leaves");
        let counts = (load.completed(), load.failed(), load.latency().count());
        assert_eq!(counts, (2, 1, 2));
        load.record_failure();
        let counts = (load.completed(), load.failed(), load.latency().count());
        assert_eq!(counts, (3, 2, 2));
        assert_eq!(
            load.latency_ewma_us(),
            1_200,
            "no latency sample for a failed connect"
        );
    }
}
