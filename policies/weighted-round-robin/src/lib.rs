//! `weighted-round-robin`: nginx's smooth weighted round-robin.
//!
//! Every pick adds each endpoint's effective weight to its running score, picks the
//! highest score and subtracts the total from it. Weights 5/1/1 give the order
//! a a b a c a a: heavy endpoints are spread out rather than bunched. O(n) per pick.

use switchyard_policy_sdk::{
    Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup, effective_weight,
    export_balancer,
};

/// Fallbacks offered after the first choice.
const FALLBACKS: usize = 2;
/// Effective weights are scaled to integers with this resolution.
const SCALE: f64 = 1000.0;

/// Smooth weighted round-robin over the routable members.
#[derive(Default)]
pub struct WeightedRoundRobin {
    members: Members,
    weights: Vec<i64>,
    scores: Vec<i64>,
    total: i64,
}

impl Balancer for WeightedRoundRobin {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "weighted-round-robin",
            "smooth weighted round-robin (nginx): shares follow weights, spread evenly",
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        setup.config().reject_unknown(&[])?;
        Ok(Self::default())
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = Members::new(members);
        self.weights = self
            .members
            .iter()
            .map(|e| ((effective_weight(e) * SCALE).round() as i64).max(1))
            .collect();
        self.scores = vec![0; self.weights.len()];
        self.total = self.weights.iter().sum();
    }

    fn pick(&mut self, _request: &Request, _env: &impl Env) -> Choices {
        if self.members.is_empty() {
            return Choices::none();
        }
        let mut best = 0;
        for i in 0..self.scores.len() {
            self.scores[i] += self.weights[i];
            if self.scores[i] > self.scores[best] {
                best = i;
            }
        }
        self.scores[best] -= self.total;
        self.members.preference(best, 1 + FALLBACKS)
    }
}

export_balancer!(WeightedRoundRobin);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::testing::{Harness, endpoints};

    #[test]
    fn smooth_order_for_5_1_1() {
        let mut h = Harness::<WeightedRoundRobin>::new(&[], endpoints(&[5, 1, 1])).unwrap();
        assert_eq!(h.sequence(7), vec![0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(h.sequence(7), vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn shares_follow_weights() {
        let mut h = Harness::<WeightedRoundRobin>::new(&[], endpoints(&[3, 2, 1, 4])).unwrap();
        let counts = h.distribution(10_000);
        assert_eq!(
            counts.values().copied().collect::<Vec<_>>(),
            vec![3_000, 2_000, 1_000, 4_000]
        );
    }

    #[test]
    fn weight_factor_scales_share() {
        let mut members = endpoints(&[2, 2]);
        members[1].weight_factor = 0.5;
        let mut h = Harness::<WeightedRoundRobin>::new(&[], members).unwrap();
        let counts = h.distribution(3_000);
        assert_eq!((counts[&0], counts[&1]), (2_000, 1_000));
    }
}
