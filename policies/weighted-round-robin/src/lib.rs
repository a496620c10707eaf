//! `weighted-round-robin`: deterministic weighted round-robin, gRPC's static stride
//! scheduler ([`StrideScheduler`]).
//!
//! Shares follow effective weights and picks of an endpoint are spread out rather than
//! bunched: weights 5/1/1 give the order a a b a a c a, over and over. Whole-number
//! weights are exact over every cycle of `Σ weights` picks. Each instance (one per
//! worker) starts at a random place in the sequence, so that workers do not pick in
//! lockstep.
//!
//! Cost: O(n) in `set_members`; a pick is expected O(1), `max weight / mean weight`
//! tries of a few integer operations each (1 when weights are equal), at most n.

use switchyard_policy_sdk::{
    Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup, StrideScheduler,
    effective_weight, export_balancer,
};

/// Fallbacks offered after the first choice.
const FALLBACKS: usize = 2;

/// Weighted round-robin over the routable members.
#[derive(Default)]
pub struct WeightedRoundRobin {
    members: Members,
    schedule: StrideScheduler,
    /// The schedule was rebuilt and has not picked yet: start it at a random place.
    fresh: bool,
}

impl Balancer for WeightedRoundRobin {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "weighted-round-robin",
            "weighted round-robin (stride scheduler): shares follow weights, spread evenly",
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        setup.config().reject_unknown(&[])?;
        Ok(Self::default())
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = Members::new(members);
        let weights: Vec<f64> = self.members.iter().map(effective_weight).collect();
        // Routable members have a positive effective weight, unless all are
        // unavailable: then all are zero, which the scheduler takes as equal weights.
        self.schedule = StrideScheduler::new(&weights);
        self.fresh = true;
    }

    fn pick(&mut self, _request: &Request, env: &impl Env) -> Choices {
        if self.fresh {
            self.fresh = false;
            self.schedule = std::mem::take(&mut self.schedule).with_offset(env.random());
        }
        match self.schedule.pick() {
            Some(first) => self.members.preference(first, 1 + FALLBACKS),
            None => Choices::none(),
        }
    }
}

export_balancer!(WeightedRoundRobin);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::Health;
    use switchyard_policy_sdk::testing::{Harness, counts, endpoints};

    /// Where in `cycle` the picks of `order` start, if they follow it round and round.
    fn rotation(order: &[u32], cycle: &[u32]) -> Option<usize> {
        let len = cycle.len();
        (0..len).find(|&s| {
            order
                .iter()
                .enumerate()
                .all(|(k, &id)| id == cycle[(s + k) % len])
        })
    }

    #[test]
    fn spread_order_for_5_1_1() {
        // nginx's smooth order was 0 0 1 0 2 0 0; the stride scheduler's is a cycle of
        // 0 0 1 0 0 2 0, entered wherever the instance's random offset puts it.
        let cycle = [0, 0, 1, 0, 0, 2, 0];
        let starts: Vec<usize> = (1..=6)
            .map(|seed| {
                let mut h = Harness::<WeightedRoundRobin>::new(&[], endpoints(&[5, 1, 1])).unwrap();
                h.env_mut().seed(seed);
                let order = h.sequence(21);
                rotation(&order, &cycle)
                    .unwrap_or_else(|| panic!("{order:?} does not follow {cycle:?}"))
            })
            .collect();
        assert!(
            starts.iter().any(|&s| s != starts[0]),
            "lockstep: {starts:?}"
        );
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
    fn shares_are_exact_every_cycle_and_spread() {
        let weights = [3, 2, 1, 4];
        let mut h = Harness::<WeightedRoundRobin>::new(&[], endpoints(&weights)).unwrap();
        let order = h.sequence(10_000);
        // Every 10 consecutive picks (a cycle) hold each endpoint exactly its weight.
        for window in order.windows(10) {
            assert_eq!(
                counts(window).values().copied().collect::<Vec<_>>(),
                vec![3, 2, 1, 4]
            );
        }
        // No endpoint gets more than ceil(share × k) + 1 of any k consecutive picks.
        for k in [2, 3, 4, 5, 7] {
            for window in order.windows(k) {
                for (id, n) in counts(window) {
                    let share = f64::from(weights[id as usize]) / 10.0;
                    assert!(n <= (share * k as f64).ceil() as usize + 1, "{window:?}");
                }
            }
        }
    }

    #[test]
    fn weight_factor_scales_share() {
        let mut members = endpoints(&[2, 2]);
        members[1].weight_factor = 0.5;
        let mut h = Harness::<WeightedRoundRobin>::new(&[], members).unwrap();
        let counts = h.distribution(3_000);
        assert_eq!((counts[&0], counts[&1]), (2_000, 1_000));
    }

    #[test]
    fn fractional_factors_follow_shares() {
        let mut members = endpoints(&[3, 3, 3]);
        members[0].weight_factor = 0.1;
        members[2].weight_factor = 0.7;
        let mut h = Harness::<WeightedRoundRobin>::new(&[], members).unwrap();
        let counts = h.distribution(38_000);
        let expected = [3_000, 30_000, 21_000].map(|c| c * 38 / 54);
        for (id, e) in expected.iter().enumerate() {
            assert!(counts[&(id as u32)].abs_diff(*e) <= 2, "{counts:?}");
        }
    }

    #[test]
    fn skips_unavailable_and_offers_fallbacks() {
        let mut members = endpoints(&[1, 5, 1]);
        members[1].health = Health::Unavailable;
        let mut h = Harness::<WeightedRoundRobin>::new(&[], members.clone()).unwrap();
        let counts = h.distribution(1_000);
        assert_eq!((counts.get(&1), counts[&0], counts[&2]), (None, 500, 500));
        let answer = h.pick(&Request::empty());
        assert_eq!(answer.len(), 2);
        // All unavailable: all routable, equal shares.
        for m in &mut members {
            m.health = Health::Unavailable;
        }
        h.set_members(members);
        assert_eq!(
            h.distribution(900).values().copied().collect::<Vec<_>>(),
            [300; 3]
        );
        h.set_members(Vec::new());
        assert!(h.pick(&Request::empty()).is_empty());
    }
}
