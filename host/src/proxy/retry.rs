//! When a failed attempt may be tried again, and how long to wait first: idempotent
//! requests only, on the failures a retry can help (no connection, reset, timeout,
//! 502/503/504), the next endpoint of the policy's preference list, exponential backoff
//! with full jitter, and a budget so that retries cannot multiply an outage.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A cluster's retry rules.
#[derive(Clone, Debug)]
pub struct RetrySettings {
    /// Attempts per request, the first included; 1 turns retries off.
    pub attempts: u32,
    /// First backoff ceiling; doubles per retry.
    pub backoff_base: Duration,
    /// Largest backoff ceiling.
    pub backoff_max: Duration,
    /// Response statuses that are retried.
    pub on_status: Vec<u16>,
    /// A request carrying this header (any value) counts as idempotent whatever its
    /// method.
    pub idempotent_header: Option<String>,
    /// gRPC status codes that are retried; gRPC calls are retried on nothing else.
    pub on_grpc_status: Vec<u32>,
    /// Request bodies up to this size are kept for replay; larger ones are not retried.
    pub buffer_bytes: usize,
    /// Retries allowed as a share of requests over the budget window.
    pub budget_ratio: f64,
    /// Retries allowed per second whatever the traffic.
    pub budget_min_per_second: u32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            attempts: 1,
            backoff_base: Duration::from_millis(25),
            backoff_max: Duration::from_millis(250),
            on_status: vec![502, 503, 504],
            idempotent_header: None,
            on_grpc_status: Vec::new(),
            buffer_bytes: 64 * 1024,
            budget_ratio: 0.2,
            budget_min_per_second: 3,
        }
    }
}

impl RetrySettings {
    /// Whether retries are on at all.
    pub fn enabled(&self) -> bool {
        self.attempts > 1
    }

    /// Whether a response with `status` is worth another attempt.
    pub fn retries_status(&self, status: u16) -> bool {
        self.on_status.contains(&status)
    }

    /// Whether a gRPC call that ended with `code` is worth another attempt.
    pub fn retries_grpc(&self, code: u32) -> bool {
        self.on_grpc_status.contains(&code)
    }

    /// The wait before retry number `retry` (1 for the first): uniform in
    /// `0..=min(max, base × 2^(retry-1))`, from `random` bits.
    pub fn backoff(&self, retry: u32, random: u64) -> Duration {
        let ceiling = self
            .backoff_base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.backoff_max);
        ceiling.mul_f64(switchyard_policy_sdk::unit_interval(random))
    }
}

/// The response header that says how many attempts a retried request took.
pub const ATTEMPTS_HEADER: &str = "x-switchyard-attempts";

/// Whether a request method is idempotent (RFC 9110 §9.2.2).
pub fn idempotent_method(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE"
    )
}

/// Seconds in the budget's window.
const WINDOW: usize = 10;

/// Requests and retries over the last ten seconds, per second, lock-free: retries are
/// allowed while they stay under `ratio` of the requests (or `min_per_second`).
#[derive(Debug)]
pub struct RetryBudget {
    origin: Instant,
    ratio: f64,
    min_per_second: u32,
    /// Per slot: the second it counts (`u64::MAX`: never), requests, retries.
    seconds: [AtomicU64; WINDOW],
    requests: [AtomicU64; WINDOW],
    retries: [AtomicU64; WINDOW],
    granted: AtomicU64,
    exhausted: AtomicU64,
}

impl RetryBudget {
    /// A budget of `ratio` retries per request, at least `min_per_second`.
    pub fn new(ratio: f64, min_per_second: u32) -> Self {
        Self {
            origin: Instant::now(),
            ratio,
            min_per_second,
            seconds: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            retries: std::array::from_fn(|_| AtomicU64::new(0)),
            granted: AtomicU64::new(0),
            exhausted: AtomicU64::new(0),
        }
    }

    /// Counts a request (first attempts only).
    pub fn request(&self) {
        let slot = self.slot();
        self.requests[slot].fetch_add(1, Relaxed);
    }

    /// Takes one retry from the budget; false (and counted) when it is spent.
    pub fn try_retry(&self) -> bool {
        let now = self.second();
        let (mut requests, mut retries) = (0, 0);
        for i in 0..WINDOW {
            let second = self.seconds[i].load(Relaxed);
            if second != u64::MAX && now - second < WINDOW as u64 {
                requests += self.requests[i].load(Relaxed);
                retries += self.retries[i].load(Relaxed);
            }
        }
        let floor = u64::from(self.min_per_second) * WINDOW as u64;
        let allowed = ((requests as f64 * self.ratio) as u64).max(floor);
        if retries >= allowed {
            self.exhausted.fetch_add(1, Relaxed);
            return false;
        }
        let slot = self.slot();
        self.retries[slot].fetch_add(1, Relaxed);
        self.granted.fetch_add(1, Relaxed);
        true
    }

    /// Retries granted since start.
    pub fn granted(&self) -> u64 {
        self.granted.load(Relaxed)
    }

    /// Retries refused because the budget was spent, since start.
    pub fn exhausted(&self) -> u64 {
        self.exhausted.load(Relaxed)
    }

    fn second(&self) -> u64 {
        self.origin.elapsed().as_secs()
    }

    /// The slot of the current second, cleared first when it last counted another one.
    fn slot(&self) -> usize {
        let now = self.second();
        let slot = (now % WINDOW as u64) as usize;
        let seen = self.seconds[slot].load(Relaxed);
        if seen != now
            && self.seconds[slot]
                .compare_exchange(seen, now, Relaxed, Relaxed)
                .is_ok()
        {
            self.requests[slot].store(0, Relaxed);
            self.retries[slot].store(0, Relaxed);
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_under_a_doubling_ceiling() {
        let settings = RetrySettings::default();
        assert_eq!(settings.backoff(1, u64::MAX), Duration::from_millis(25));
        assert!(settings.backoff(2, u64::MAX) <= Duration::from_millis(50));
        assert!(settings.backoff(2, u64::MAX) > Duration::from_millis(49));
        assert!(settings.backoff(9, u64::MAX) <= Duration::from_millis(250));
        assert_eq!(settings.backoff(3, 0), Duration::ZERO);
    }

    #[test]
    fn the_budget_caps_retries_at_a_share_of_requests() {
        let budget = RetryBudget::new(0.2, 1);
        // Floor: 1 per second over the 10 s window.
        let granted = (0..100).filter(|_| budget.try_retry()).count();
        assert_eq!(granted, 10);
        for _ in 0..1_000 {
            budget.request();
        }
        let granted = (0..1_000).filter(|_| budget.try_retry()).count();
        assert_eq!(granted, 200 - 10, "20% of 1,000 requests, less those taken");
        assert_eq!(budget.exhausted(), 90 + 810);
        assert_eq!(budget.granted(), 200);
        assert!(idempotent_method("GET") && !idempotent_method("POST"));
    }
}
