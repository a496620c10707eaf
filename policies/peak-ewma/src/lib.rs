//! `peak-ewma`: power of two choices on latency × load, linkerd-style.
//!
//! Each pick samples two distinct routable endpoints and keeps the one with the lower
//! cost `peak_latency × (in_flight + 1) / effective_weight`; the other is the first
//! fallback. `peak_latency` is a peak-EWMA the policy keeps per endpoint over the
//! proxy's latency figure, read at pick time: a rise is taken at once, a fall decays
//! with time constant `decay_ms` — quick to notice a slow endpoint, slow to trust it
//! again. An endpoint with no latency yet counts `default_rtt_ms`. O(1) per pick, and
//! no host call: the host draws the pair and sends it with the pick.

use std::collections::HashMap;
use switchyard_policy_sdk::{
    Balancer, Candidates, Choices, Endpoint, EndpointId, Env, Ewma, Members, Needs, PolicyInfo,
    Request, Setup, export_balancer,
};

/// The policy.
pub struct PeakEwma {
    members: Members,
    weights: Vec<f64>,
    /// Per routable member, by position.
    peaks: Vec<Ewma>,
    decay_ns: u64,
    default_rtt_us: f64,
}

impl Balancer for PeakEwma {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "peak-ewma",
            "power of two choices on peak-EWMA latency × (in-flight + 1)",
        )
        .key(
            "decay_ms",
            "time constant with which a latency peak is forgotten",
            Some("10000"),
        )
        .key(
            "default_rtt_ms",
            "latency assumed for an endpoint not measured yet",
            Some("30"),
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        let config = setup.config();
        config.reject_unknown(&["decay_ms", "default_rtt_ms"])?;
        let decay_ms: u64 = config.parse_or("decay_ms", 10_000)?;
        let default_rtt_ms: f64 = config.parse_or("default_rtt_ms", 30.0)?;
        if decay_ms == 0 {
            return Err("decay_ms must be at least 1".into());
        }
        if !(default_rtt_ms > 0.0 && default_rtt_ms.is_finite()) {
            return Err(format!(
                "default_rtt_ms must be above 0, not {default_rtt_ms}"
            ));
        }
        Ok(Self {
            members: Members::default(),
            weights: Vec::new(),
            peaks: Vec::new(),
            decay_ns: decay_ms * 1_000_000,
            default_rtt_us: default_rtt_ms * 1_000.0,
        })
    }

    /// The pair and the time come with the pick: no host call per pick.
    fn needs(&self) -> Needs {
        Needs::nothing().candidates(Candidates::TwoRandom)
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        // Endpoints that stay keep what was learned of them.
        let old: HashMap<EndpointId, Ewma> = self
            .members
            .iter()
            .map(|e| e.id)
            .zip(self.peaks.drain(..))
            .collect();
        self.members = Members::new(members);
        self.weights = self.members.divisors();
        let decay_ns = self.decay_ns;
        self.peaks = self
            .members
            .iter()
            .map(|e| {
                old.get(&e.id)
                    .copied()
                    .unwrap_or_else(|| Ewma::new(decay_ns))
            })
            .collect();
    }

    fn pick(&mut self, _request: &Request, env: &impl Env) -> Choices {
        let now = env.now_ns();
        let (peaks, weights, default_rtt_us) =
            (&mut self.peaks, &self.weights, self.default_rtt_us);
        self.members.two_choices(env, |position, load| {
            let latency = match load.latency_ewma_us {
                0 => default_rtt_us,
                us => {
                    let peak = &mut peaks[position];
                    peak.observe_peak(f64::from(us), now);
                    peak.value()
                }
            };
            latency * f64::from(load.in_flight + 1) / weights[position]
        })
    }
}

export_balancer!(PeakEwma);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::testing::{Harness, endpoints};

    fn share(counts: &std::collections::BTreeMap<EndpointId, usize>, id: EndpointId) -> f64 {
        counts.get(&id).copied().unwrap_or(0) as f64 / counts.values().sum::<usize>() as f64
    }

    #[test]
    fn a_ten_times_slower_endpoint_gets_a_small_share() {
        let mut h = Harness::<PeakEwma>::new(&[], endpoints(&[1, 1, 1, 1])).unwrap();
        for id in 0..3 {
            h.env_mut().set_latency_us(id, 1_000).set_in_flight(id, 2);
        }
        h.env_mut().set_latency_us(3, 10_000).set_in_flight(3, 2);
        let counts = h.distribution(100_000);
        // The slow one wins no pair: it is chosen only as a fallback.
        assert_eq!(counts.get(&3), None, "{counts:?}");
        for id in 0..3 {
            assert!((share(&counts, id) - 1.0 / 3.0).abs() < 0.01, "{counts:?}");
        }
    }

    #[test]
    fn load_counts_against_latency() {
        // 2× the latency but a quarter of the in-flight: the slower one is cheaper.
        let mut h = Harness::<PeakEwma>::new(&[], endpoints(&[1, 1])).unwrap();
        h.env_mut().set_latency_us(0, 1_000).set_in_flight(0, 7);
        h.env_mut().set_latency_us(1, 2_000).set_in_flight(1, 1);
        assert_eq!(h.distribution(1_000)[&1], 1_000);
    }

    #[test]
    fn peaks_are_taken_at_once_and_forgotten_slowly() {
        let config = [("decay_ms", "1000")];
        let mut h = Harness::<PeakEwma>::new(&config, endpoints(&[1, 1])).unwrap();
        h.env_mut()
            .set_latency_us(0, 1_000)
            .set_latency_us(1, 1_500);
        assert_eq!(h.distribution(100)[&0], 100);
        // Endpoint 0 spikes: it loses at once.
        h.env_mut().set_latency_us(0, 20_000);
        assert_eq!(h.distribution(100)[&1], 100);
        // It is fast again, but its peak decays over the time constant first.
        h.env_mut().set_latency_us(0, 1_000);
        h.env_mut().advance_ns(500_000_000);
        assert_eq!(h.distribution(100)[&1], 100, "still remembered after 0.5 s");
        h.env_mut().advance_ns(5_000_000_000);
        assert_eq!(
            h.distribution(100)[&0],
            100,
            "forgotten after 5 time constants"
        );
    }

    #[test]
    fn unmeasured_endpoints_count_the_default_and_config_is_checked() {
        let mut h =
            Harness::<PeakEwma>::new(&[("default_rtt_ms", "5")], endpoints(&[1, 1])).unwrap();
        h.env_mut().set_latency_us(0, 4_000);
        assert_eq!(h.distribution(100)[&0], 100, "4 ms beats the assumed 5 ms");
        for config in [
            &[("decay_ms", "0")][..],
            &[("default_rtt_ms", "-1")],
            &[("x", "1")],
        ] {
            assert!(
                Harness::<PeakEwma>::new(config, endpoints(&[1])).is_err(),
                "{config:?}"
            );
        }
    }
}
