//! Per-endpoint load figures, updated lock-free by the requests that use the endpoint.

use super::{Breaker, BreakerSettings, EndpointId, LatencyHistogram, Outcome, Report, Reports};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

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
    /// Finished requests by [`StatusClass`].
    classes: [AtomicU64; StatusClass::ALL.len()],
    latency: LatencyHistogram,
    /// Where outcomes are reported when the cluster's health is checked.
    reporter: OnceLock<(EndpointId, Arc<Reports>)>,
    /// The circuit breaker, when the cluster has one.
    breaker: OnceLock<Breaker>,
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

    /// Finished requests (connect failures included) in `class`.
    pub fn count_of(&self, class: StatusClass) -> u64 {
        self.classes[class as usize].load(Relaxed)
    }

    /// Latency distribution of finished requests.
    pub fn latency(&self) -> &LatencyHistogram {
        &self.latency
    }

    /// Reports every outcome from now on to `reports`, as endpoint `id`. Only the first
    /// call has an effect.
    pub fn report_to(&self, id: EndpointId, reports: Arc<Reports>) {
        let _ = self.reporter.set((id, reports));
    }

    /// Puts the endpoint behind a circuit breaker. Only the first call has an effect.
    pub fn break_circuit(&self, settings: BreakerSettings) {
        let _ = self.breaker.set(Breaker::new(settings));
    }

    /// The circuit breaker, if any.
    pub fn breaker(&self) -> Option<&Breaker> {
        self.breaker.get()
    }

    /// Whether an open breaker keeps the endpoint out of the policies' membership.
    pub fn circuit_cooling(&self) -> bool {
        self.breaker.get().is_some_and(Breaker::cooling)
    }

    /// Whether a request may be sent now: always, unless a breaker is open (a
    /// half-open breaker's trial is taken).
    pub fn admits(&self) -> bool {
        self.breaker.get().is_none_or(Breaker::admit)
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

    /// An attempt that never became a request: the connection could not be made after
    /// `elapsed` (`timed_out`: the connect timeout ran out). Counts as a failure, adds
    /// no latency sample.
    pub fn record_connect_failure(&self, elapsed: Duration, timed_out: bool) {
        self.completed.fetch_add(1, Relaxed);
        self.failed.fetch_add(1, Relaxed);
        self.classes[StatusClass::Error as usize].fetch_add(1, Relaxed);
        if let Some(breaker) = self.breaker.get() {
            breaker.record(true);
        }
        self.record_outcome(true);
        self.report(elapsed, Outcome::NoConnection { timed_out });
    }

    fn report(&self, latency: Duration, outcome: Outcome) {
        if let Some((endpoint, reports)) = self.reporter.get() {
            reports.push(Report {
                endpoint: *endpoint,
                at: Instant::now(),
                latency,
                outcome,
            });
        }
    }

    fn finish(&self, latency: Duration, outcome: Outcome) {
        let failed = outcome.failed();
        self.report(latency, outcome);
        self.in_flight.fetch_sub(1, Relaxed);
        self.completed.fetch_add(1, Relaxed);
        self.classes[StatusClass::of(outcome) as usize].fetch_add(1, Relaxed);
        if let Some(breaker) = self.breaker.get() {
            breaker.record(failed);
        }
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

/// How a finished request is counted: its status class, or `Error` without a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    /// 1xx.
    Informational,
    /// 2xx.
    Success,
    /// 3xx.
    Redirection,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// No response: connect failure, timeout, reset.
    Error,
}

impl StatusClass {
    /// Every class, in order.
    pub const ALL: [StatusClass; 6] = [
        StatusClass::Informational,
        StatusClass::Success,
        StatusClass::Redirection,
        StatusClass::ClientError,
        StatusClass::ServerError,
        StatusClass::Error,
    ];

    /// The class of `outcome`.
    pub fn of(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Status(status) | Outcome::Broken(status) => match status {
                100..=199 => StatusClass::Informational,
                200..=299 => StatusClass::Success,
                300..=399 => StatusClass::Redirection,
                400..=499 => StatusClass::ClientError,
                _ => StatusClass::ServerError,
            },
            Outcome::TimedOut | Outcome::Failed | Outcome::NoConnection { .. } => {
                StatusClass::Error
            }
        }
    }

    /// The label: `1xx` … `5xx`, or `error`.
    pub fn label(self) -> &'static str {
        match self {
            StatusClass::Informational => "1xx",
            StatusClass::Success => "2xx",
            StatusClass::Redirection => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::Error => "error",
        }
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
    /// The request ended with `outcome`, `latency` after it was sent (to its response
    /// headers when there were any).
    pub fn finish(mut self, latency: Duration, outcome: Outcome) {
        self.done = true;
        self.load.finish(latency, outcome);
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
        let reports = Arc::new(Reports::default());
        load.report_to(9, Arc::clone(&reports));
        a.finish(Duration::from_micros(1_000), Outcome::Status(200));
        assert_eq!((load.in_flight(), load.latency_ewma_us()), (2, 1_000));
        b.finish(Duration::from_micros(2_000), Outcome::Status(503));
        assert_eq!(load.latency_ewma_us(), 1_200);
        assert!((load.error_rate() - 0.02).abs() < 1e-6);
        drop(c);
        assert_eq!(load.in_flight(), 0, "an abandoned request leaves");
        let counts = (load.completed(), load.failed(), load.latency().count());
        assert_eq!(counts, (2, 1, 2));
        load.record_connect_failure(Duration::from_millis(5), true);
        let counts = (load.completed(), load.failed(), load.latency().count());
        assert_eq!(counts, (3, 2, 2));
        let classes = StatusClass::ALL.map(|c| load.count_of(c));
        assert_eq!(classes, [0, 1, 0, 0, 1, 1]);
        assert_eq!(
            load.latency_ewma_us(),
            1_200,
            "no latency sample for a failed connect"
        );
        let outcomes: Vec<_> = std::iter::from_fn(|| reports.pop())
            .map(|r| (r.endpoint, r.outcome))
            .collect();
        let expected = [
            (9, Outcome::Status(200)),
            (9, Outcome::Status(503)),
            (9, Outcome::NoConnection { timed_out: true }),
        ];
        assert_eq!(outcomes, expected, "the abandoned request is not reported");
    }
}
