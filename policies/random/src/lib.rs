//! `random`: each pick an endpoint at random, in proportion to effective weight.
//!
//! Stateless apart from the membership, so it behaves the same whatever the number of
//! workers. O(n) in `set_members` (an [`AliasTable`]), O(1) per pick: one random number,
//! one table read.

use switchyard_policy_sdk::{
    AliasTable, Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup,
    effective_weight, export_balancer,
};

/// Fallbacks offered after the first choice.
const FALLBACKS: usize = 2;

/// Weighted random choice over the routable members.
#[derive(Default)]
pub struct Random {
    members: Members,
    table: AliasTable,
}

impl Balancer for Random {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "random",
            "random endpoint, in proportion to effective weight",
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        setup.config().reject_unknown(&[])?;
        Ok(Self::default())
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = Members::new(members);
        let weights: Vec<f64> = self.members.iter().map(effective_weight).collect();
        self.table = AliasTable::new(&weights);
    }

    fn pick(&mut self, _request: &Request, env: &impl Env) -> Choices {
        match self.table.sample(env.random()) {
            Some(first) => self.members.preference(first, 1 + FALLBACKS),
            None => Choices::none(),
        }
    }
}

export_balancer!(Random);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::testing::{Harness, endpoints};

    #[test]
    fn shares_follow_weights_within_tolerance() {
        let mut h = Harness::<Random>::new(&[], endpoints(&[1, 1, 2])).unwrap();
        let counts = h.distribution(100_000);
        let share = |id| counts[&id] as f64 / 100_000.0;
        assert!((share(0) - 0.25).abs() < 0.01, "{counts:?}");
        assert!((share(1) - 0.25).abs() < 0.01, "{counts:?}");
        assert!((share(2) - 0.50).abs() < 0.01, "{counts:?}");
    }
}
