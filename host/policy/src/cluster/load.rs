//! Per-endpoint load figures, updated lock-free by the requests that use the endpoint,
//! and fading with time when no request refreshes them: an endpoint a policy avoids
//! because of its figures must not keep them forever.

use super::clock::coarse_now_ns as now_ns;
use super::{
    Breaker, BreakerSettings, EndpointId, LatencyHistogram, MetricCatalog, Outcome, Report,
    ReportedMetrics, Reports,
};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Weight of a new latency sample in the EWMA.
const LATENCY_ALPHA: f32 = 0.2;
/// Weight of a new outcome in the error-rate EWMA (about the last 50 requests).
const ERROR_ALPHA: f32 = 0.02;

/// Live load of one endpoint: in-flight requests, latency EWMA, recent error rate, and
/// totals for reports.
///
/// Laid out in the order written (`repr(C)`): what a pick reads of an endpoint comes
/// first, so that it takes at most two cache lines (one prefetch hint each).
#[derive(Debug, Default)]
#[repr(C)]
pub struct EndpointLoad {
    in_flight: AtomicU32,
    latency_ewma_us: AtomicU32,
    error_rate_bits: AtomicU32,
    /// When the figures were last brought up to date, on the coarse clock.
    updated_ns: AtomicU64,
    /// How the figures fade; they keep their values without it.
    decay: OnceLock<Arc<LoadDecay>>,
    /// What the endpoint reports about its load, when the cluster collects reports.
    reported: OnceLock<ReportedMetrics>,
    completed: AtomicU64,
    failed: AtomicU64,
    /// Finished requests by [`StatusClass`].
    classes: [AtomicU64; StatusClass::ALL.len()],
    /// Made at the first finished request, apart, so that the figures of many
    /// endpoints lie close together (and an endpoint never used costs no histogram).
    latency: OnceLock<Box<LatencyHistogram>>,
    /// Where outcomes are reported when the cluster's health is checked.
    reporter: OnceLock<(EndpointId, Arc<Reports>)>,
    /// The circuit breaker, when the cluster has one.
    breaker: OnceLock<Breaker>,
}

// What a pick reads stays within what two prefetch hints cover.
const _: () = assert!(std::mem::offset_of!(EndpointLoad, completed) <= 128);

/// How a cluster's load figures fade while no request refreshes them: the error rate
/// toward 0, the latency EWMA toward the cluster's median latency (so that an endpoint
/// avoided for a bad figure regains average standing, not the best), both by
/// `exp(-elapsed / time constant)`, evaluated when they are read — no timer.
#[derive(Debug)]
pub struct LoadDecay {
    /// The reciprocal of the time constant in ns: a read multiplies, not divides.
    per_ns: f64,
    /// The median of the members' latency figures, µs; 0 until known.
    median_us: AtomicU32,
    /// When the median was last computed, on the coarse clock.
    refreshed_ns: AtomicU64,
}

/// How often the median latency is computed again, at most.
const MEDIAN_EVERY_NS: u64 = 500_000_000;

impl LoadDecay {
    /// Figures fade with `time_constant`.
    pub fn new(time_constant: Duration) -> Arc<Self> {
        Arc::new(Self {
            per_ns: 1.0 / (time_constant.as_nanos() as f64).max(1.0),
            median_us: AtomicU32::new(0),
            refreshed_ns: AtomicU64::new(0),
        })
    }

    /// The latency figures fade toward: the members' median, µs (0: not known yet).
    pub fn median_us(&self) -> u32 {
        self.median_us.load(Relaxed)
    }

    /// Computes the median latency figure of the members with `loads` again (those
    /// with one), unless that was done less than half a second ago. O(n); call it
    /// periodically, off the request path.
    pub fn refresh<'a>(&self, loads: impl IntoIterator<Item = &'a EndpointLoad>) {
        let now = now_ns();
        let last = self.refreshed_ns.load(Relaxed);
        if last != 0 && now.saturating_sub(last) < MEDIAN_EVERY_NS {
            return;
        }
        self.refreshed_ns.store(now.max(1), Relaxed);
        let mut latencies: Vec<u32> = loads
            .into_iter()
            .map(EndpointLoad::latency_ewma_us)
            .filter(|&us| us > 0)
            .collect();
        if latencies.is_empty() {
            return;
        }
        let (even, middle) = (latencies.len().is_multiple_of(2), latencies.len() / 2);
        let (below, &mut upper, _) = latencies.select_nth_unstable(middle);
        // With an even count, the mean of the two middle figures.
        let median = match below.iter().max() {
            Some(&lower) if even => lower / 2 + upper / 2 + (lower & upper & 1),
            _ => upper,
        };
        self.median_us.store(median, Relaxed);
    }

    /// What remains of a figure's distance from its resting value after `elapsed_ns`.
    fn remaining(&self, elapsed_ns: u64) -> Option<f32> {
        let constants = elapsed_ns as f64 * self.per_ns;
        // Under a thousandth of the time constant the figure has not moved by 0.1%;
        // past 24 of them less than 1e-10 of it is left: faded out (no `exp` either way).
        if constants < 1.0 / 1024.0 {
            return None;
        }
        if constants > 24.0 {
            return Some(0.0);
        }
        Some((-constants).exp() as f32)
    }

    /// A latency EWMA of which `left` of its distance from the median remains.
    fn latency(&self, us: u32, left: f32) -> u32 {
        let median = self.median_us();
        if us == 0 || median == 0 {
            return us;
        }
        let (us, median) = (us as f32, median as f32);
        (median + (us - median) * left).round().max(1.0) as u32
    }
}

/// What every endpoint of a cluster gets when it joins: fading figures, and a circuit
/// breaker when the cluster has one.
#[derive(Clone, Debug)]
pub struct LoadSetup {
    /// How the figures fade.
    pub decay: Arc<LoadDecay>,
    /// The breaker's settings, if any.
    pub breaker: Option<BreakerSettings>,
    /// The metrics endpoints report, when the cluster collects any.
    pub reported: Option<Arc<MetricCatalog>>,
}

impl LoadSetup {
    /// Sets up `load` (only its first setup has an effect).
    pub fn apply(&self, load: &EndpointLoad) {
        let _ = load.decay.set(Arc::clone(&self.decay));
        if let Some(settings) = self.breaker {
            load.break_circuit(settings);
        }
        if self.reported.is_some() {
            let _ = load.reported.set(ReportedMetrics::default());
        }
    }
}

impl EndpointLoad {
    /// Requests sent and not finished.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// Latency EWMA in microseconds, faded for the time since the last response; 0
    /// before the first response.
    pub fn latency_ewma_us(&self) -> u32 {
        self.figures().0
    }

    /// Recent error rate, 0.0 to 1.0, faded for the time since the last outcome.
    pub fn error_rate(&self) -> f32 {
        self.figures().1
    }

    /// The latency EWMA (µs) and the error rate as of now, with one look at the clock.
    pub fn figures(&self) -> (u32, f32) {
        self.figures_at(now_ns())
    }

    /// The latency EWMA (µs) and the error rate as of `now` on the coarse clock (read
    /// once for several endpoints).
    pub fn figures_at(&self, now: u64) -> (u32, f32) {
        let latency = self.latency_ewma_us.load(Relaxed);
        let error_rate = f32::from_bits(self.error_rate_bits.load(Relaxed));
        let Some(decay) = self.decay.get() else {
            return (latency, error_rate);
        };
        let elapsed = now.saturating_sub(self.updated_ns.load(Relaxed));
        match decay.remaining(elapsed) {
            Some(left) => (decay.latency(latency, left), error_rate * left),
            None => (latency, error_rate),
        }
    }

    /// Hints the CPU to bring this endpoint's figures into cache, for a pick to come.
    pub fn prefetch_figures(&self) {
        let hot = std::mem::offset_of!(EndpointLoad, completed);
        super::prefetch::prefetch((self as *const Self).cast(), hot);
    }

    /// Hints the CPU to bring the readings in `slots` of what this endpoint reports
    /// into cache. It reads where they are from the figures' cache line: prefetch the
    /// figures a pick earlier.
    pub fn prefetch_readings(&self, slots: &[usize]) {
        if let (false, Some(reported)) = (slots.is_empty(), self.reported.get()) {
            reported.prefetch(slots);
        }
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
        static NONE_YET: LatencyHistogram = LatencyHistogram::new();
        self.latency.get().map_or(&NONE_YET, |h| h)
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

    /// What the endpoint reported about its load, when its cluster collects reports.
    pub fn reported(&self) -> Option<&ReportedMetrics> {
        self.reported.get()
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
        let faded = self.age();
        self.record_latency(None, faded);
        self.record_outcome(true, faded);
        self.report(elapsed, Outcome::NoConnection { timed_out });
    }

    /// Marks the figures as current from now: what remains of them after they had
    /// been fading (none: they had not faded).
    fn age(&self) -> Option<f32> {
        let decay = self.decay.get()?;
        let now = now_ns();
        decay.remaining(now.saturating_sub(self.updated_ns.swap(now, Relaxed)))
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
        self.latency.get_or_init(Box::default).record(latency);
        let faded = self.age();
        let sample = latency.as_micros().min(u128::from(u32::MAX)) as f32;
        self.record_latency(Some(sample), faded);
        self.record_outcome(failed, faded);
    }

    /// Adds a latency `sample` (µs) to the EWMA, after fading it to what is `left`.
    fn record_latency(&self, sample: Option<f32>, left: Option<f32>) {
        let decay = self.decay.get().zip(left);
        let _ = self.latency_ewma_us.fetch_update(Relaxed, Relaxed, |old| {
            let old = decay.map_or(old, |(d, left)| d.latency(old, left));
            Some(match sample {
                None => old,
                Some(sample) if old == 0 => sample.max(1.0) as u32,
                Some(sample) => {
                    (old as f32 + LATENCY_ALPHA * (sample - old as f32)).max(1.0) as u32
                }
            })
        });
    }

    /// Adds an outcome to the error rate, after fading it to what is `left`.
    fn record_outcome(&self, failed: bool, left: Option<f32>) {
        let outcome = if failed { 1.0 } else { 0.0 };
        let _ = self.error_rate_bits.fetch_update(Relaxed, Relaxed, |bits| {
            let old = f32::from_bits(bits) * left.unwrap_or(1.0);
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

    #[test]
    fn figures_fade_toward_the_median_and_zero_and_samples_start_from_the_faded_value() {
        let second = 1_000_000_000;
        super::super::clock::simulate(Some(second));
        let decay = LoadDecay::new(Duration::from_secs(10));
        let setup = LoadSetup {
            decay: Arc::clone(&decay),
            breaker: None,
            reported: None,
        };
        let (slow, fast) = (
            Arc::new(EndpointLoad::default()),
            Arc::new(EndpointLoad::default()),
        );
        let third = Arc::new(EndpointLoad::default());
        for load in [&slow, &fast, &third] {
            setup.apply(load);
        }
        slow.start()
            .finish(Duration::from_millis(100), Outcome::Status(503));
        fast.start()
            .finish(Duration::from_millis(2), Outcome::Status(200));
        third
            .start()
            .finish(Duration::from_millis(4), Outcome::Status(200));
        decay.refresh([&*slow, &*fast, &*third]);
        assert_eq!(decay.median_us(), 4_000);
        assert_eq!(slow.figures(), (100_000, 0.02));

        // One time constant later: e^-1 of the distance is left.
        super::super::clock::simulate(Some(11 * second));
        let (latency, errors) = slow.figures();
        assert_eq!(latency, 4_000 + (96_000.0 * (-1f32).exp()).round() as u32);
        assert!((errors - 0.02 * (-1f32).exp()).abs() < 1e-6);
        // A new sample starts from where the figure had faded to.
        slow.start()
            .finish(Duration::from_millis(4), Outcome::Status(200));
        let faded = latency as f32;
        let expected = (faded + LATENCY_ALPHA * (4_000.0 - faded)) as u32;
        assert!(slow.latency_ewma_us().abs_diff(expected) <= 1, "{expected}");
        // Much later, an avoided endpoint has the median's standing and no errors.
        super::super::clock::simulate(Some(200 * second));
        let (latency, errors) = slow.figures();
        assert!(latency == 4_000 && errors < 1e-9, "{latency} {errors}");
        super::super::clock::simulate(None);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let decay = LoadDecay::new(Duration::from_secs(10));
        let loads: Vec<EndpointLoad> = [3_000u32, 1_000, 0, 9_000, 5_000]
            .iter()
            .map(|&us| {
                let load = EndpointLoad::default();
                load.latency_ewma_us.store(us, Relaxed);
                load
            })
            .collect();
        decay.refresh(&loads);
        assert_eq!(decay.median_us(), 4_000, "0 (no figure yet) does not count");
    }
}
