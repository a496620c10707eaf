//! `least-request`: power of two choices on in-flight requests, weight-aware.
//!
//! Each pick samples two distinct routable endpoints at random and keeps the one with
//! the lower `(in_flight + 1) / effective_weight`; the other is the first fallback.
//! O(1) per pick whatever the cluster size: one host call for both endpoints' load,
//! two random draws inside the component.

use switchyard_policy_sdk::{
    Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup, export_balancer,
};

/// Power-of-two-choices least-request over the routable members.
#[derive(Default)]
pub struct LeastRequest {
    members: Members,
    weights: Vec<f64>,
}

impl Balancer for LeastRequest {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "least-request",
            "power of two choices on in-flight requests divided by weight",
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        setup.config().reject_unknown(&[])?;
        Ok(Self::default())
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = Members::new(members);
        self.weights = self.members.divisors();
    }

    fn pick(&mut self, _request: &Request, env: &impl Env) -> Choices {
        let weights = &self.weights;
        self.members.two_choices(env, |position, load| {
            f64::from(load.in_flight + 1) / weights[position]
        })
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
    fn weight_counts_against_in_flight() {
        // Same in-flight, weight 3 vs 1: the heavier endpoint always wins the pair.
        let mut h = Harness::<LeastRequest>::new(&[], endpoints(&[3, 1])).unwrap();
        h.env_mut().set_in_flight(0, 2).set_in_flight(1, 2);
        assert_eq!(h.distribution(1_000)[&0], 1_000);
        h.env_mut().set_in_flight(0, 20);
        assert_eq!(h.distribution(1_000)[&1], 1_000);
    }
}
