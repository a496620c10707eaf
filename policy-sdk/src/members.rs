//! A cluster's membership as a policy keeps it.

use crate::{Candidate, Choices, Endpoint, EndpointId, Env, Figures, Health};

/// The pushed membership, with the endpoints a policy should choose from (the
/// *routable* ones) indexed `0..len()`.
///
/// Routable means not `unavailable` — or, when every endpoint is unavailable, all of
/// them: better a doubtful endpoint than none.
///
/// ```
/// use switchyard_policy_sdk::testing::endpoints;
/// use switchyard_policy_sdk::{Health, Members};
///
/// let mut all = endpoints(&[1, 1, 1]);
/// all[0].health = Health::Unavailable;
/// let members = Members::new(all);
/// assert_eq!(members.len(), 2);
/// assert_eq!(members.get(0).id, 1, "routable position 0 is endpoint 1");
/// assert_eq!(members.all().len(), 3);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Members {
    all: Vec<Endpoint>,
    routable: Vec<usize>,
    /// For each member (by position in `all`): its routable position (`u32::MAX` when
    /// not routable) and its id, together, so that checking a candidate reads one place.
    by_index: Vec<(u32, EndpointId)>,
    /// The ids of the routable members by position, side by side, so that a pick reads
    /// no whole endpoint.
    routable_ids: Vec<EndpointId>,
}

impl Members {
    /// Indexes a membership list as pushed by the host.
    ///
    /// ```
    /// use switchyard_policy_sdk::Members;
    /// use switchyard_policy_sdk::testing::endpoints;
    ///
    /// let members = Members::new(endpoints(&[2, 1]));
    /// assert_eq!(members.iter().map(|e| e.weight).collect::<Vec<_>>(), [2, 1]);
    /// ```
    pub fn new(all: Vec<Endpoint>) -> Self {
        let mut routable: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].health != Health::Unavailable)
            .collect();
        if routable.is_empty() {
            routable = (0..all.len()).collect();
        }
        let mut by_index: Vec<(u32, EndpointId)> = all.iter().map(|e| (u32::MAX, e.id)).collect();
        for (position, &i) in routable.iter().enumerate() {
            by_index[i].0 = position as u32;
        }
        let routable_ids = routable.iter().map(|&i| all[i].id).collect();
        Self {
            all,
            routable,
            by_index,
            routable_ids,
        }
    }

    /// The routable position of a delivered candidate; `None` when it is not
    /// routable (or not a member of this membership).
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::endpoints;
    /// use switchyard_policy_sdk::{Candidate, Figures, Health, Members};
    ///
    /// let mut all = endpoints(&[1, 1, 1]);
    /// all[0].health = Health::Unavailable;
    /// let members = Members::new(all);
    /// let figures = Figures { in_flight: 0, latency_ewma_us: 0, error_rate: 0.0 };
    /// assert_eq!(members.candidate(&Candidate { id: 2, index: 2, figures }), Some(1));
    /// assert_eq!(members.candidate(&Candidate { id: 0, index: 0, figures }), None, "unavailable");
    /// assert_eq!(members.candidate(&Candidate { id: 7, index: 2, figures }), None, "stale");
    /// ```
    pub fn candidate(&self, candidate: &Candidate) -> Option<usize> {
        let index = candidate.index as usize;
        match self.by_index.get(index) {
            Some(&(p, id)) if p != u32::MAX && id == candidate.id => Some(p as usize),
            _ => None,
        }
    }

    /// Every member, routable or not, in the order pushed.
    ///
    /// ```
    /// use switchyard_policy_sdk::testing::endpoints;
    /// use switchyard_policy_sdk::{Health, Members};
    ///
    /// let mut all = endpoints(&[1, 1]);
    /// all[1].health = Health::Unavailable;
    /// let members = Members::new(all);
    /// let zones_seen = members.all().iter().filter(|e| e.health != Health::Unavailable).count();
    /// assert_eq!(zones_seen, 1);
    /// ```
    pub fn all(&self) -> &[Endpoint] {
        &self.all
    }

    /// How many endpoints are routable.
    ///
    /// ```
    /// use switchyard_policy_sdk::Members;
    /// use switchyard_policy_sdk::testing::endpoints;
    ///
    /// assert_eq!(Members::new(endpoints(&[1, 1, 1])).len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.routable.len()
    }

    /// True when there is nothing to choose from.
    ///
    /// ```
    /// use switchyard_policy_sdk::Members;
    ///
    /// assert!(Members::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.routable.is_empty()
    }

    /// The `i`-th routable endpoint (`i < len()`).
    ///
    /// ```
    /// use switchyard_policy_sdk::Members;
    /// use switchyard_policy_sdk::testing::endpoints;
    ///
    /// let members = Members::new(endpoints(&[1, 5]));
    /// assert_eq!(members.get(1).weight, 5);
    /// ```
    pub fn get(&self, i: usize) -> &Endpoint {
        &self.all[self.routable[i]]
    }

    /// The id of the `i`-th routable endpoint (`i < len()`): `get(i).id`, read from a
    /// compact table (cheaper in a large cluster).
    ///
    /// ```
    /// use switchyard_policy_sdk::Members;
    /// use switchyard_policy_sdk::testing::endpoints;
    ///
    /// let members = Members::new(endpoints(&[1, 5]));
    /// assert_eq!(members.id_at(1), members.get(1).id);
    /// ```
    pub fn id_at(&self, i: usize) -> EndpointId {
        self.routable_ids[i]
    }

    /// The routable endpoints in order.
    ///
    /// ```
    /// use switchyard_policy_sdk::Members;
    /// use switchyard_policy_sdk::testing::endpoints;
    ///
    /// let members = Members::new(endpoints(&[1, 2, 3]));
    /// let total: u32 = members.iter().map(|e| e.weight).sum();
    /// assert_eq!(total, 6);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &Endpoint> {
        self.routable.iter().map(|&i| &self.all[i])
    }

    /// Each routable endpoint's effective weight, in order, never zero: the divisors of
    /// load-over-weight costs.
    ///
    /// ```
    /// use switchyard_policy_sdk::Members;
    /// use switchyard_policy_sdk::testing::endpoints;
    ///
    /// let mut all = endpoints(&[2, 4]);
    /// all[1].weight_factor = 0.25; // slow start
    /// assert_eq!(Members::new(all).divisors(), [2.0, 1.0]);
    /// ```
    pub fn divisors(&self) -> Vec<f64> {
        self.iter()
            .map(|e| crate::effective_weight(e).max(f64::MIN_POSITIVE))
            .collect()
    }

    /// Power of two choices: two distinct routable endpoints at random, the one `cost`
    /// (of its position and figures) rates lower first and the other as fallback. One
    /// endpoint when there is only one. With [`Candidates::TwoRandom`](crate::Candidates)
    /// in the policy's needs, the pair the host drew and sent with the pick is used (no
    /// host call at all); otherwise the pair is drawn here and its load read in one
    /// host call.
    ///
    /// ```
    /// use switchyard_policy_sdk::Members;
    /// use switchyard_policy_sdk::testing::{FakeEnv, endpoints};
    ///
    /// let members = Members::new(endpoints(&[1, 1]));
    /// let mut env = FakeEnv::default();
    /// env.set_in_flight(0, 8);
    /// // With two endpoints both are drawn: the less loaded comes first.
    /// let choices = members.two_choices(&env, |_, load| f64::from(load.in_flight));
    /// assert_eq!(choices.as_slice(), &[1, 0]);
    /// ```
    pub fn two_choices(
        &self,
        env: &impl Env,
        mut cost: impl FnMut(usize, &Figures) -> f64,
    ) -> Choices {
        let n = self.len();
        if n < 2 {
            return self.preference(0, 1);
        }
        let drawn = env.drawn_pair().and_then(|(a, b)| {
            let (pa, pb) = (self.candidate(a)?, self.candidate(b)?);
            (pa != pb).then_some([(pa, a.id, a.figures), (pb, b.id, b.figures)])
        });
        let [(a, id_a, load_a), (b, id_b, load_b)] = match drawn {
            Some(drawn) => drawn,
            None => {
                let a = env.below(n);
                let b = (a + 1 + env.below(n - 1)) % n;
                let (id_a, id_b) = (self.id_at(a), self.id_at(b));
                let (load_a, load_b) = env.pair(id_a, id_b);
                [(a, id_a, load_a), (b, id_b, load_b)]
            }
        };
        let cost_a = cost(a, &load_a);
        if cost(b, &load_b) < cost_a {
            [id_b, id_a].into_iter().collect()
        } else {
            [id_a, id_b].into_iter().collect()
        }
    }

    /// A preference list: routable endpoint `first`, then the ones after it (wrapping),
    /// `n` at most, each once.
    ///
    /// ```
    /// use switchyard_policy_sdk::Members;
    /// use switchyard_policy_sdk::testing::endpoints;
    ///
    /// let members = Members::new(endpoints(&[1, 1, 1]));
    /// assert_eq!(members.preference(2, 3).as_slice(), &[2, 0, 1]);
    /// assert_eq!(members.preference(1, 9).len(), 3);
    /// ```
    pub fn preference(&self, first: usize, n: usize) -> Choices {
        let len = self.len();
        (0..n.min(len))
            .map(|k| self.id_at((first + k) % len))
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
