//! `round-robin`: each routable endpoint in turn, ignoring weights.
//!
//! The counter is per instance (one per proxy worker), so with several workers the
//! global order interleaves, but every endpoint still gets an equal share.

use switchyard_policy_sdk::{
    Balancer, Choices, Endpoint, Env, Members, PolicyInfo, Request, Setup, export_balancer,
};

/// Fallbacks offered after the first choice.
const FALLBACKS: usize = 2;

/// Round-robin over the routable members.
#[derive(Default)]
pub struct RoundRobin {
    members: Members,
    next: usize,
}

impl Balancer for RoundRobin {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "round-robin",
            "each routable endpoint in turn, ignoring weights",
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        setup.config().reject_unknown(&[])?;
        Ok(Self::default())
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = Members::new(members);
    }

    fn pick(&mut self, _request: &Request, _env: &impl Env) -> Choices {
        if self.members.is_empty() {
            return Choices::none();
        }
        let first = self.next % self.members.len();
        self.next = first + 1;
        self.members.preference(first, 1 + FALLBACKS)
    }

    fn save_state(&self) -> Vec<u8> {
        (self.next as u64).to_le_bytes().to_vec()
    }

    fn restore_state(&mut self, state: &[u8]) {
        if let Ok(bytes) = <[u8; 8]>::try_from(state) {
            self.next = u64::from_le_bytes(bytes) as usize;
        }
    }
}

export_balancer!(RoundRobin);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::Health;
    use switchyard_policy_sdk::testing::{Harness, endpoints};

    #[test]
    fn equal_shares_in_order() {
        let mut h = Harness::<RoundRobin>::new(&[], endpoints(&[5, 1, 1])).unwrap();
        assert_eq!(h.sequence(6), vec![0, 1, 2, 0, 1, 2]);
        let counts = h.distribution(9_999);
        assert!(counts.values().all(|&c| c == 3_333), "{counts:?}");
        assert_eq!(h.pick(&Request::empty()), vec![0, 1, 2]);
    }

    #[test]
    fn skips_unavailable_and_handles_empty() {
        let mut members = endpoints(&[1, 1, 1]);
        members[0].health = Health::Unavailable;
        let mut h = Harness::<RoundRobin>::new(&[], members).unwrap();
        assert_eq!(h.sequence(4), vec![1, 2, 1, 2]);
        h.set_members(Vec::new());
        assert!(h.pick(&Request::empty()).is_empty());
    }

    #[test]
    fn rejects_unknown_config() {
        let err = Harness::<RoundRobin>::new(&[("speed", "9")], endpoints(&[1]))
            .err()
            .unwrap();
        assert!(err.contains("policy_config.speed"), "{err}");
    }
}
