//! Choosing among endpoints by weight.

use crate::{Endpoint, Health};

/// The endpoint's effective weight: configured weight × the host's factor (slow start,
/// degradation). Zero for an `unavailable` endpoint.
///
/// ```
/// use switchyard_policy_sdk::testing::endpoints;
/// use switchyard_policy_sdk::{Health, effective_weight};
///
/// let mut e = endpoints(&[4]).remove(0);
/// e.weight_factor = 0.5; // slow start halfway
/// assert_eq!(effective_weight(&e), 2.0);
/// e.health = Health::Unavailable;
/// assert_eq!(effective_weight(&e), 0.0);
/// ```
pub fn effective_weight(endpoint: &Endpoint) -> f64 {
    if endpoint.health == Health::Unavailable {
        return 0.0;
    }
    f64::from(endpoint.weight) * f64::from(endpoint.weight_factor.clamp(0.0, 1.0))
}

/// Picks an index with probability proportional to its weight, given `random` uniform
/// bits. Returns `None` when there are no weights; zero or negative weights are never
/// chosen unless all are, then the choice is uniform.
///
/// ```
/// use switchyard_policy_sdk::weighted_index;
///
/// let weights = [1.0, 0.0, 3.0];
/// assert_eq!(weighted_index(&weights, 0), Some(0));
/// assert_eq!(weighted_index(&weights, u64::MAX), Some(2));
/// assert_eq!(weighted_index(&[], 7), None);
/// ```
pub fn weighted_index(weights: &[f64], random: u64) -> Option<usize> {
    if weights.is_empty() {
        return None;
    }
    let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
    if total <= 0.0 {
        return Some(crate::env::index_below(random, weights.len()));
    }
    let mut target = crate::env::unit_interval(random) * total;
    let mut last = 0;
    for (i, w) in weights.iter().enumerate() {
        if *w > 0.0 {
            if target < *w {
                return Some(i);
            }
            target -= w;
            last = i;
        }
    }
    Some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_index_follows_weights() {
        let weights = [3.0, 1.0, 0.0];
        let mut counts = [0usize; 3];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..40_000 {
            x = crate::hash::mix64(x);
            counts[weighted_index(&weights, x).unwrap()] += 1;
        }
        assert_eq!(counts[2], 0);
        let ratio = counts[0] as f64 / counts[1] as f64;
        assert!((2.7..3.3).contains(&ratio), "ratio {ratio}");
        assert_eq!(weighted_index(&[], 1), None);
        assert!(weighted_index(&[0.0, 0.0], u64::MAX).unwrap() < 2);
    }
}
