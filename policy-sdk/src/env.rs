//! What a policy can ask of the proxy while it picks: live load, time, randomness, log.

use crate::{EndpointId, LogLevel};

/// The proxy as seen from a pick. Inside a component every call goes to the host; in
/// native tests [`testing::FakeEnv`](crate::testing::FakeEnv) answers instead.
pub trait Env {
    /// Requests in flight to `id` (responses not finished yet).
    fn in_flight(&self, id: EndpointId) -> u32;
    /// Latency EWMA of `id` in microseconds; 0 before its first response.
    fn latency_ewma_us(&self, id: EndpointId) -> u32;
    /// Recent error rate of `id`, 0.0 to 1.0.
    fn error_rate(&self, id: EndpointId) -> f32;
    /// Monotonic nanoseconds.
    fn now_ns(&self) -> u64;
    /// 64 random bits (fast, not cryptographic).
    fn random(&self) -> u64;
    /// A line for the proxy's log (rate-limited by the host).
    fn log(&self, level: LogLevel, message: &str);

    /// A uniformly distributed number in `0..n` (`n` > 0), without modulo bias worth
    /// mentioning for the cluster sizes a proxy sees.
    fn below(&self, n: usize) -> usize {
        ((u128::from(self.random()) * n as u128) >> 64) as usize
    }
}

/// The real host, reached through the component's imports.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostEnv;

impl Env for HostEnv {
    fn in_flight(&self, id: EndpointId) -> u32 {
        crate::bindings::switchyard::policy::load::in_flight(id)
    }
    fn latency_ewma_us(&self, id: EndpointId) -> u32 {
        crate::bindings::switchyard::policy::load::latency_ewma_us(id)
    }
    fn error_rate(&self, id: EndpointId) -> f32 {
        crate::bindings::switchyard::policy::load::error_rate(id)
    }
    fn now_ns(&self) -> u64 {
        crate::bindings::switchyard::policy::host::now_ns()
    }
    fn random(&self) -> u64 {
        crate::bindings::switchyard::policy::host::random()
    }
    fn log(&self, level: LogLevel, message: &str) {
        crate::bindings::switchyard::policy::host::log(level, message)
    }
}
