//! What a policy can ask of the proxy while it picks: live load, time, randomness, log.

use crate::{EndpointId, Figures, LogLevel};
use std::cell::Cell;

/// The proxy as seen from a pick. Inside a component every load and clock call goes to
/// the host; in native tests [`testing::FakeEnv`](crate::testing::FakeEnv) answers
/// instead.
pub trait Env {
    /// In-flight requests, latency EWMA and error rate of `id` (zeros for a non-member).
    fn figures(&self, id: EndpointId) -> Figures;
    /// The figures of two endpoints in one call: the power-of-two-choices fast path.
    fn pair(&self, a: EndpointId, b: EndpointId) -> (Figures, Figures);
    /// Requests in flight to `id` (responses not finished yet).
    fn in_flight(&self, id: EndpointId) -> u32;
    /// Monotonic nanoseconds.
    fn now_ns(&self) -> u64;
    /// 64 random bits (fast, not cryptographic).
    fn random(&self) -> u64;
    /// A line for the proxy's log (rate-limited by the host).
    fn log(&self, level: LogLevel, message: &str);

    /// Latency EWMA of `id` in microseconds; 0 before its first response.
    fn latency_ewma_us(&self, id: EndpointId) -> u32 {
        self.figures(id).latency_ewma_us
    }
    /// Recent error rate of `id`, 0.0 to 1.0.
    fn error_rate(&self, id: EndpointId) -> f32 {
        self.figures(id).error_rate
    }
    /// A uniformly distributed number in [0, 1).
    fn uniform(&self) -> f64 {
        unit_interval(self.random())
    }

    /// A uniformly distributed number in `0..n` (`n` > 0), without modulo bias worth
    /// mentioning for the cluster sizes a proxy sees.
    fn below(&self, n: usize) -> usize {
        ((u128::from(self.random()) * n as u128) >> 64) as usize
    }
}

/// The real host, reached through the component's imports.
///
/// Random numbers come from a generator inside the component, seeded once from the
/// host's `random`: a pick that draws twice does not pay two host calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostEnv;

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

impl Env for HostEnv {
    fn figures(&self, id: EndpointId) -> Figures {
        crate::bindings::switchyard::policy::load::get(id)
    }
    fn pair(&self, a: EndpointId, b: EndpointId) -> (Figures, Figures) {
        crate::bindings::switchyard::policy::load::pair(a, b)
    }
    fn in_flight(&self, id: EndpointId) -> u32 {
        crate::bindings::switchyard::policy::load::in_flight(id)
    }
    fn now_ns(&self) -> u64 {
        crate::bindings::switchyard::policy::host::now_ns()
    }
    fn random(&self) -> u64 {
        RNG.with(|state| {
            let mut s = state.get();
            if s == 0 {
                s = crate::bindings::switchyard::policy::host::random() | 1;
            }
            let (next, value) = wyrand(s);
            state.set(next);
            value
        })
    }
    fn log(&self, level: LogLevel, message: &str) {
        crate::bindings::switchyard::policy::host::log(level, message)
    }
}

/// `bits` as a uniformly distributed number in [0, 1) (its top 53 bits).
pub fn unit_interval(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// One step of wyrand: the next state and a 64-bit output. Fast, not cryptographic.
pub fn wyrand(state: u64) -> (u64, u64) {
    let next = state.wrapping_add(0xa076_1d64_78bd_642f);
    let t = u128::from(next) * u128::from(next ^ 0xe703_7ed1_a0b4_28db);
    (next, (t >> 64) as u64 ^ t as u64)
}
