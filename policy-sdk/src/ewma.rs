//! Time-decayed moving averages, for policies that learn latencies themselves.
//!
//! ```
//! use switchyard_policy_sdk::ewma::Ewma;
//!
//! // Per endpoint: latency remembered over about ten seconds.
//! let mut latencies = vec![Ewma::new(10_000_000_000); 3];
//! latencies[1].observe(2_000.0, 0);
//! assert_eq!(latencies[1].value(), 2_000.0);
//! assert_eq!(latencies[0].value(), 0.0);
//! ```

/// An exponentially weighted moving average whose memory is a time constant, not a
/// sample count: an observation `tau` old weighs 1/e of a fresh one.
///
/// ```
/// use switchyard_policy_sdk::Ewma;
///
/// let mut latency = Ewma::new(1_000_000_000); // remembers about a second
/// latency.observe(200.0, 0);
/// latency.observe(100.0, 1_000_000_000);
/// // One time constant later the old sample weighs 1/e.
/// let expected = 200.0 / std::f64::consts::E + 100.0 * (1.0 - 1.0 / std::f64::consts::E);
/// assert!((latency.value() - expected).abs() < 1e-9);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ewma {
    value: f64,
    last_ns: u64,
    tau_ns: f64,
    seeded: bool,
}

impl Ewma {
    /// A new average with time constant `tau_ns` nanoseconds.
    ///
    /// ```
    /// use switchyard_policy_sdk::Ewma;
    ///
    /// assert_eq!(Ewma::new(5_000_000_000).value(), 0.0);
    /// ```
    pub fn new(tau_ns: u64) -> Self {
        Self {
            value: 0.0,
            last_ns: 0,
            tau_ns: tau_ns.max(1) as f64,
            seeded: false,
        }
    }

    /// Adds `sample` observed at `now_ns`.
    ///
    /// ```
    /// use switchyard_policy_sdk::Ewma;
    ///
    /// let mut e = Ewma::new(1_000);
    /// e.observe(10.0, 0); // the first sample is the average
    /// assert_eq!(e.value(), 10.0);
    /// e.observe(20.0, 0); // no time passed: it weighs nothing
    /// assert_eq!(e.value(), 10.0);
    /// ```
    pub fn observe(&mut self, sample: f64, now_ns: u64) {
        if !self.seeded {
            self.value = sample;
            self.seeded = true;
        } else {
            let elapsed = now_ns.saturating_sub(self.last_ns) as f64;
            let keep = (-elapsed / self.tau_ns).exp();
            self.value = self.value * keep + sample * (1.0 - keep);
        }
        self.last_ns = now_ns.max(self.last_ns);
    }

    /// Adds `sample`, but lets a sample above the average replace it at once
    /// (peak-EWMA: quick to notice trouble, slow to forget it).
    ///
    /// ```
    /// use switchyard_policy_sdk::Ewma;
    ///
    /// let mut e = Ewma::new(1_000);
    /// e.observe_peak(10.0, 0);
    /// e.observe_peak(90.0, 1); // a spike is taken at once
    /// assert_eq!(e.value(), 90.0);
    /// e.observe_peak(10.0, 2); // a good sample decays it slowly
    /// assert!(e.value() > 89.0);
    /// ```
    pub fn observe_peak(&mut self, sample: f64, now_ns: u64) {
        if sample > self.value {
            self.value = sample;
            self.seeded = true;
            self.last_ns = now_ns.max(self.last_ns);
        } else {
            self.observe(sample, now_ns);
        }
    }

    /// The current average (0 before the first sample).
    ///
    /// ```
    /// use switchyard_policy_sdk::Ewma;
    ///
    /// let mut e = Ewma::new(1_000);
    /// e.observe(42.0, 7);
    /// assert_eq!(e.value(), 42.0);
    /// ```
    pub fn value(&self) -> f64 {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decays_with_time() {
        let mut e = Ewma::new(1_000);
        e.observe(100.0, 0);
        e.observe(0.0, 1_000);
        assert!((e.value() - 100.0 / std::f64::consts::E).abs() < 0.01);
        e.observe_peak(500.0, 1_001);
        assert_eq!(e.value(), 500.0);
    }
}
