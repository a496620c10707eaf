//! A route's requests split over clusters by weight: per request at random, or by a
//! hash of the request (sticky), so that one user stays on one side.

use switchyard_policy::random::draw;
use switchyard_policy::{HashSource, RequestView, hash_of};

/// Where a route sends its requests: one target, or several by weight.
#[derive(Debug)]
pub struct Split<T> {
    /// Each side, with the end of its share in `0..total`.
    sides: Box<[(T, u32)]>,
    total: u32,
    sticky: Option<HashSource>,
}

impl<T> Split<T> {
    /// Every request to `target`.
    pub fn one(target: T) -> Self {
        Self {
            sides: Box::new([(target, 1)]),
            total: 1,
            sticky: None,
        }
    }

    /// Requests shared by the weights of `sides` (their sum above zero), chosen by
    /// the hash of `sticky` when the request has it.
    pub fn weighted(sides: Vec<(T, u32)>, sticky: Option<HashSource>) -> Self {
        let mut total = 0u32;
        let sides = sides
            .into_iter()
            .map(|(target, weight)| {
                total = total.saturating_add(weight);
                (target, total)
            })
            .collect();
        Self {
            sides,
            total,
            sticky,
        }
    }

    /// The target of `request`.
    pub fn choose(&self, request: &impl RequestView) -> &T {
        if let [(only, _)] = &*self.sides {
            return only;
        }
        let key = self
            .sticky
            .as_ref()
            .and_then(|source| hash_of(source, request))
            .unwrap_or_else(draw);
        let point = (key % u64::from(self.total.max(1))) as u32;
        let side = self.sides.iter().find(|(_, end)| point < *end);
        &side.unwrap_or(&self.sides[0]).0
    }

    /// Every target, with its weight.
    pub fn targets(&self) -> impl Iterator<Item = (&T, u32)> {
        let mut start = 0;
        self.sides.iter().map(move |(target, end)| {
            let weight = end - start;
            start = *end;
            (target, weight)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy::RequestInfo;

    #[test]
    fn weights_share_requests_and_sticky_ones_stay() {
        let split = Split::weighted(vec![("a", 95), ("b", 5), ("never", 0)], None);
        let request = RequestInfo::get("/");
        let b = (0..100_000)
            .filter(|_| *split.choose(&request) == "b")
            .count();
        assert!((4_000..6_000).contains(&b), "{b}");
        assert!((0..10_000).all(|_| *split.choose(&request) != "never"));
        let sticky = Split::weighted(
            vec![("a", 50), ("b", 50)],
            Some(HashSource::Header("x-user".into())),
        );
        let mut sides = std::collections::BTreeSet::new();
        for user in 0..64 {
            let mut request = RequestInfo::get("/");
            request.headers = vec![("x-user".into(), format!("user-{user}"))];
            let first = *sticky.choose(&request);
            assert!((0..20).all(|_| *sticky.choose(&request) == first));
            sides.insert(first);
        }
        assert_eq!(sides.len(), 2, "users land on both sides");
        let weights: Vec<_> = split.targets().map(|(t, w)| (*t, w)).collect();
        assert_eq!(weights, [("a", 95), ("b", 5), ("never", 0)]);
    }
}
