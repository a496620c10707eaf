//! A cluster's membership as a policy keeps it.

use crate::{Choices, Endpoint, Env, Figures, Health};

/// The pushed membership, with the endpoints a policy should choose from (the
/// *routable* ones) indexed `0..len()`.
///
/// Routable means not `unavailable` — or, when every endpoint is unavailable, all of
/// them: better a doubtful endpoint than none.
#[derive(Clone, Debug, Default)]
pub struct Members {
    all: Vec<Endpoint>,
    routable: Vec<usize>,
}

impl Members {
    /// Indexes a membership list as pushed by the host.
    pub fn new(all: Vec<Endpoint>) -> Self {
        let mut routable: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].health != Health::Unavailable)
            .collect();
        if routable.is_empty() {
            routable = (0..all.len()).collect();
        }
        Self { all, routable }
    }

    /// Every member, routable or not, in the order pushed.
    pub fn all(&self) -> &[Endpoint] {
        &self.all
    }

    /// How many endpoints are routable.
    pub fn len(&self) -> usize {
        self.routable.len()
    }

    /// True when there is nothing to choose from.
    pub fn is_empty(&self) -> bool {
        self.routable.is_empty()
    }

    /// The `i`-th routable endpoint (`i < len()`).
    pub fn get(&self, i: usize) -> &Endpoint {
        &self.all[self.routable[i]]
    }

    /// The routable endpoints in order.
    pub fn iter(&self) -> impl Iterator<Item = &Endpoint> {
        self.routable.iter().map(|&i| &self.all[i])
    }

    /// Each routable endpoint's effective weight, in order, never zero: the divisors of
    /// load-over-weight costs.
    pub fn divisors(&self) -> Vec<f64> {
        self.iter()
            .map(|e| crate::effective_weight(e).max(f64::MIN_POSITIVE))
            .collect()
    }

    /// Power of two choices: two distinct routable endpoints at random, their load read
    /// in one host call, the one `cost` (of its position and figures) rates lower first
    /// and the other as fallback. One endpoint when there is only one.
    pub fn two_choices(
        &self,
        env: &impl Env,
        mut cost: impl FnMut(usize, &Figures) -> f64,
    ) -> Choices {
        let n = self.len();
        if n < 2 {
            return self.preference(0, 1);
        }
        let a = env.below(n);
        let b = (a + 1 + env.below(n - 1)) % n;
        let (id_a, id_b) = (self.get(a).id, self.get(b).id);
        let (load_a, load_b) = env.pair(id_a, id_b);
        let cost_a = cost(a, &load_a);
        if cost(b, &load_b) < cost_a {
            [id_b, id_a].into_iter().collect()
        } else {
            [id_a, id_b].into_iter().collect()
        }
    }

    /// A preference list: routable endpoint `first`, then the ones after it (wrapping),
    /// `n` at most, each once.
    pub fn preference(&self, first: usize, n: usize) -> Choices {
        let len = self.len();
        (0..n.min(len))
            .map(|k| self.get((first + k) % len).id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::endpoints;

    #[test]
    fn skips_unavailable_unless_all_are() {
        let mut all = endpoints(&[1, 1, 1]);
        all[1].health = Health::Unavailable;
        let members = Members::new(all.clone());
        assert_eq!(members.len(), 2);
        assert_eq!(members.preference(1, 5).as_slice(), &[2, 0]);
        for e in &mut all {
            e.health = Health::Unavailable;
        }
        assert_eq!(Members::new(all).len(), 3);
        assert!(Members::new(Vec::new()).preference(0, 3).is_empty());
    }
}
