//! `least-request`: Envoy's least-request balancer.
//!
//! When every routable endpoint has the same effective weight, each pick samples two
//! distinct endpoints at random and keeps the one with fewer requests in flight (power
//! of two choices); the other is the first fallback. O(1) per pick whatever the
//! cluster size, and no host call: the host draws the pair and sends it with the pick.
//!
//! When weights differ, picks follow an earliest-deadline-first schedule whose weights
//! move with load, as Envoy's: an endpoint chosen now is scheduled again after
//! `1 / w` with `w = effective_weight / (in_flight + 1) ^ active_request_bias`, its
//! in-flight count read at that moment. A bias of 1.0 (the default) weighs load as much
//! as weight; 0.0 is plain weighted round-robin. O(log n) per pick, one host call.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use switchyard_policy_sdk::{
    Balancer, Candidates, Choices, Endpoint, Env, Members, Needs, PolicyInfo, Request, Setup,
    export_balancer,
};

/// Least-request over the routable members.
#[derive(Default)]
pub struct LeastRequest {
    members: Members,
    weights: Vec<f64>,
    bias: f64,
    /// The weighted schedule; empty when all weights are equal.
    schedule: BinaryHeap<Reverse<Slot>>,
}

/// An endpoint's next turn in the weighted schedule.
#[derive(Clone, Copy, Debug)]
struct Slot {
    deadline: f64,
    position: usize,
}

impl PartialEq for Slot {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Slot {}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Slot {
    fn cmp(&self, other: &Self) -> Ordering {
        self.deadline
            .total_cmp(&other.deadline)
            .then(self.position.cmp(&other.position))
    }
}

impl Balancer for LeastRequest {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "least-request",
            "fewest requests in flight: two random choices, or a load-adjusted weighted \
             schedule when weights differ (Envoy's)",
        )
        .key(
            "active_request_bias",
            "exponent of (in_flight + 1) dividing an endpoint's weight when weights differ",
            Some("1.0"),
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        let config = setup.config();
        config.reject_unknown(&["active_request_bias"])?;
        let bias: f64 = config.parse_or("active_request_bias", 1.0)?;
        if !(bias >= 0.0 && bias.is_finite()) {
            return Err(format!(
                "policy_config.active_request_bias: must be 0.0 or more, not {bias}"
            ));
        }
        Ok(Self {
            bias,
            ..Self::default()
        })
    }

    /// The pair comes with the pick (unused while weights differ).
    fn needs(&self) -> Needs {
        Needs::nothing().candidates(Candidates::TwoRandom)
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = Members::new(members);
        self.weights = self.members.divisors();
        self.schedule.clear();
        let first = self.weights.first().copied().unwrap_or(1.0);
        if self.weights.iter().any(|w| *w != first) {
            self.schedule = self
                .weights
                .iter()
                .enumerate()
                .map(|(position, w)| {
                    Reverse(Slot {
                        deadline: 1.0 / w,
                        position,
                    })
                })
                .collect();
        }
    }

    fn pick(&mut self, _request: &Request, env: &impl Env) -> Choices {
        if self.schedule.is_empty() {
            return self
                .members
                .two_choices(env, |_, load| f64::from(load.in_flight));
        }
        let Some(Reverse(turn)) = self.schedule.pop() else {
            return Choices::none();
        };
        let id = self.members.id_at(turn.position);
        let load = f64::from(env.in_flight(id)) + 1.0;
        let weight = self.weights[turn.position] / load.powf(self.bias);
        let next = self.schedule.peek().map(|Reverse(s)| s.position);
        self.schedule.push(Reverse(Slot {
            deadline: turn.deadline + 1.0 / weight,
            position: turn.position,
        }));
        let mut choices = Choices::one(id);
        if let Some(position) = next {
            choices.push(self.members.id_at(position));
        }
        choices
    }
}

export_balancer!(LeastRequest);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::testing::{Harness, endpoints};

    #[test]
    fn busy_endpoint_gets_less() {
        let mut h = Harness::<LeastRequest>::new(&[], endpoints(&[1, 1, 1, 1])).unwrap();
        h.env_mut().set_in_flight(3, 50);
        let counts = h.distribution(100_000);
        // Endpoint 3 wins only when paired with itself, which P2C never does.
        assert_eq!(counts.get(&3), None, "{counts:?}");
        for id in 0..3 {
            let share = counts[&id] as f64 / 100_000.0;
            assert!((share - 1.0 / 3.0).abs() < 0.01, "{counts:?}");
        }
    }

    #[test]
    fn equal_load_gives_equal_shares_and_two_choices() {
        let mut h = Harness::<LeastRequest>::new(&[], endpoints(&[1, 1, 1, 1, 1])).unwrap();
        let counts = h.distribution(100_000);
        for c in counts.values() {
            assert!((*c as f64 / 100_000.0 - 0.2).abs() < 0.01, "{counts:?}");
        }
        let answer = h.pick(&Request::empty());
        assert_eq!(answer.len(), 2);
        assert_ne!(answer[0], answer[1]);
    }

    #[test]
    fn unequal_weights_follow_weights_when_idle() {
        let mut h = Harness::<LeastRequest>::new(&[], endpoints(&[5, 1, 1])).unwrap();
        let counts = h.distribution(100_000);
        let share = |id| counts[&id] as f64 / 100_000.0;
        assert!((share(0) - 5.0 / 7.0).abs() < 0.005, "{counts:?}");
        assert!((share(1) - 1.0 / 7.0).abs() < 0.005, "{counts:?}");
        let answer = h.pick(&Request::empty());
        assert_eq!(answer.len(), 2);
        assert_ne!(answer[0], answer[1]);
    }

    #[test]
    fn active_requests_bend_the_weights() {
        // Weight 4 with 3 in flight: 4 / (3 + 1) = 1, the same as an idle weight 1.
        let mut h = Harness::<LeastRequest>::new(&[], endpoints(&[4, 1])).unwrap();
        h.env_mut().set_in_flight(0, 3);
        let counts = h.distribution(100_000);
        let share = counts[&0] as f64 / 100_000.0;
        assert!((share - 0.5).abs() < 0.01, "{counts:?}");
        // With the bias at 0 load is ignored: plain 4:1.
        let config = [("active_request_bias", "0")];
        let mut h = Harness::<LeastRequest>::new(&config, endpoints(&[4, 1])).unwrap();
        h.env_mut().set_in_flight(0, 3);
        let share = h.distribution(100_000)[&0] as f64 / 100_000.0;
        assert!((share - 0.8).abs() < 0.01, "{share}");
    }

    #[test]
    fn rejects_a_negative_bias() {
        let config = [("active_request_bias", "-1")];
        let err = Harness::<LeastRequest>::new(&config, endpoints(&[1]))
            .err()
            .unwrap();
        assert!(err.contains("active_request_bias"), "{err}");
    }
}
