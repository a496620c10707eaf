//! A circuit breaker per endpoint, with gobreaker's semantics: *closed* counts outcomes
//! over a window and opens when the failure share passes a threshold with enough
//! requests; *open* refuses everything for a cool-down; *half-open* admits a few trial
//! requests, closing on their success and opening again on any failure.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a breaker trips and how it recovers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerSettings {
    /// Failure share (0–1) over the window that opens the breaker …
    pub failure_ratio: f64,
    /// … once the window holds at least this many requests.
    pub min_requests: u32,
    /// Counting window while closed.
    pub window: Duration,
    /// How long it stays open before trial requests.
    pub cool_down: Duration,
    /// Trial requests admitted while half-open; all must succeed to close.
    pub half_open_requests: u32,
}

/// A breaker's state, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow; outcomes are counted.
    Closed,
    /// Requests are refused until the cool-down ends.
    Open,
    /// A few trial requests are let through.
    HalfOpen,
}

impl BreakerState {
    /// Every state.
    pub const ALL: [BreakerState; 3] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ];

    /// `closed`, `open` or `half_open`.
    pub fn label(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// One endpoint's breaker.
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    state: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    /// Closed: when the window began. Open: when it opened. Half-open: when trials
    /// began.
    since: Instant,
    requests: u32,
    failures: u32,
    /// Half-open: trials admitted and trials that succeeded.
    admitted: u32,
    succeeded: u32,
    opened: u64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: Mutex::new(Inner {
                state: BreakerState::Closed,
                since: Instant::now(),
                requests: 0,
                failures: 0,
                admitted: 0,
                succeeded: 0,
                opened: 0,
            }),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a request may go to the endpoint now (a half-open trial is taken).
    pub fn admit(&self) -> bool {
        let mut inner = self.inner();
        let now = Instant::now();
        match inner.state {
            BreakerState::Closed => true,
            BreakerState::Open if now.duration_since(inner.since) >= self.settings.cool_down => {
                inner.state = BreakerState::HalfOpen;
                inner.since = now;
                inner.admitted = 1;
                inner.succeeded = 0;
                true
            }
            // Trials whose clients left are never recorded: after another cool-down,
            // admit new ones.
            BreakerState::HalfOpen
                if now.duration_since(inner.since) >= self.settings.cool_down =>
            {
                inner.since = now;
                inner.admitted = 1;
                inner.succeeded = 0;
                true
            }
            BreakerState::Open => false,
            BreakerState::HalfOpen if inner.admitted < self.settings.half_open_requests => {
                inner.admitted += 1;
                true
            }
            BreakerState::HalfOpen => false,
        }
    }

    /// Counts a finished request.
    pub fn record(&self, failed: bool) {
        let mut inner = self.inner();
        let now = Instant::now();
        match inner.state {
            BreakerState::Closed => {
                if now.duration_since(inner.since) >= self.settings.window {
                    inner.since = now;
                    inner.requests = 0;
                    inner.failures = 0;
                }
                inner.requests += 1;
                inner.failures += u32::from(failed);
                let share = f64::from(inner.failures) / f64::from(inner.requests);
                if inner.requests >= self.settings.min_requests
                    && share >= self.settings.failure_ratio
                {
                    open(&mut inner, now);
                }
            }
            BreakerState::HalfOpen if failed => open(&mut inner, now),
            BreakerState::HalfOpen => {
                inner.succeeded += 1;
                if inner.succeeded >= self.settings.half_open_requests {
                    inner.state = BreakerState::Closed;
                    inner.since = now;
                    inner.requests = 0;
                    inner.failures = 0;
                }
            }
            // Requests sent before it opened finish while it is open.
            BreakerState::Open => {}
        }
    }

    /// The current state (an open breaker past its cool-down still reads open until
    /// the next request is admitted).
    pub fn state(&self) -> BreakerState {
        self.inner().state
    }

    /// Whether it is open and still cooling down: the endpoint is left out of the
    /// membership the policies see until then, and offered again for half-open trials.
    pub fn cooling(&self) -> bool {
        let inner = self.inner();
        inner.state == BreakerState::Open && inner.since.elapsed() < self.settings.cool_down
    }

    /// Times it has opened.
    pub fn opened(&self) -> u64 {
        self.inner().opened
    }
}

fn open(inner: &mut Inner, now: Instant) {
    inner.state = BreakerState::Open;
    inner.since = now;
    inner.opened += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cool_down: Duration) -> BreakerSettings {
        BreakerSettings {
            failure_ratio: 0.5,
            min_requests: 4,
            window: Duration::from_secs(10),
            cool_down,
            half_open_requests: 2,
        }
    }

    #[test]
    fn opens_half_opens_and_closes() {
        let breaker = Breaker::new(settings(Duration::from_millis(30)));
        for failed in [true, false, true] {
            assert!(breaker.admit());
            breaker.record(failed);
        }
        assert_eq!(breaker.state(), BreakerState::Closed, "3 < min_requests");
        breaker.record(true);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.admit());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.admit() && breaker.admit(), "two trials");
        assert!(!breaker.admit(), "no third");
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        breaker.record(false);
        breaker.record(false);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.opened(), 1);
    }

    #[test]
    fn a_failed_trial_opens_it_again() {
        let breaker = Breaker::new(settings(Duration::ZERO));
        for _ in 0..4 {
            breaker.record(true);
        }
        assert!(breaker.admit());
        breaker.record(true);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.opened(), 2);
    }
}
