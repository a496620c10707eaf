//! Time-decayed moving averages, for policies that learn latencies themselves.

/// An exponentially weighted moving average whose memory is a time constant, not a
/// sample count: an observation `tau` old weighs 1/e of a fresh one.
#[derive(Clone, Copy, Debug)]
pub struct Ewma {
    value: f64,
    last_ns: u64,
    tau_ns: f64,
    seeded: bool,
}

impl Ewma {
    /// A new average with time constant `tau_ns` nanoseconds.
    pub fn new(tau_ns: u64) -> Self {
        Self {
            value: 0.0,
            last_ns: 0,
            tau_ns: tau_ns.max(1) as f64,
            seeded: false,
        }
    }

    /// Adds `sample` observed at `now_ns`.
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
