//! The simulation's seeded random numbers: the same seed replays the same run.

/// wyrand with the draws a workload needs.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Self(switchyard_policy_sdk::mix64(seed))
    }

    fn next(&mut self) -> u64 {
        let (state, value) = switchyard_policy_sdk::wyrand(self.0);
        self.0 = state;
        value
    }

    /// Uniform in [0, 1).
    pub(super) fn uniform(&mut self) -> f64 {
        switchyard_policy_sdk::unit_interval(self.next())
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    /// The gap before the next arrival of a Poisson process of `rate` per second.
    pub(super) fn exponential(&mut self, rate: f64) -> f64 {
        -(1.0 - self.uniform()).ln() / rate
    }

    /// Standard normal (Box–Muller).
    pub(super) fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_the_right_moments() {
        let mut rng = Rng::new(7);
        let n = 100_000;
        let mean = (0..n).map(|_| rng.exponential(4.0)).sum::<f64>() / n as f64;
        assert!((mean - 0.25).abs() < 0.01, "{mean}");
        let samples: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
            "{mean} {var}"
        );
        let mut again = Rng::new(7);
        assert_eq!(Rng::new(7).next(), again.next());
    }
}
