//! `ring-hash`: consistent hashing on a ketama-style ring.
//!
//! Every routable endpoint places `points_per_weight` × its effective weight points (at
//! least one) on the ring, each at the hash of `address#k`: an endpoint's points depend
//! on nothing but its own address and weight, so the ring size is their sum and no
//! other endpoint's points move when one leaves. A request's `hash_on` key (a header, a
//! cookie, the path, the authority or the client IP) goes to the first point at or
//! after it; the fallbacks are the next distinct endpoints round the ring. A request
//! without the key goes to a random point.

use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
use switchyard_policy_sdk::{
    Config, Members, PolicyInfo, effective_weight, export_balancer, hash_key,
};

/// Most points one endpoint places, whatever its weight.
const MAX_POINTS: usize = 1 << 20;

/// The policy.
pub type RingHash = Hashed<Ring>;

/// The ring: (point hash, position of its endpoint among the routable members), sorted.
pub struct Ring {
    points_per_weight: f64,
    points: Vec<(u64, u32)>,
}

impl KeyMap for Ring {
    fn describe() -> PolicyInfo {
        PolicyInfo::new("ring-hash", "consistent hashing on a ketama-style ring").key(
            "points_per_weight",
            "ring points per unit of an endpoint's weight",
            Some("256"),
        )
    }

    const KEYS: &'static [&'static str] = &["points_per_weight"];

    fn new(config: &Config) -> Result<Self, String> {
        let points_per_weight: u32 = config.parse_or("points_per_weight", 256)?;
        if !(1..=65_536).contains(&points_per_weight) {
            return Err(format!(
                "points_per_weight must be from 1 to 65536, not {points_per_weight}"
            ));
        }
        Ok(Self {
            points_per_weight: f64::from(points_per_weight),
            points: Vec::new(),
        })
    }

    fn rebuild(&mut self, members: &Members) {
        self.points.clear();
        for (position, endpoint) in members.iter().enumerate() {
            let points = (effective_weight(endpoint) * self.points_per_weight).round();
            let points = (points as usize).clamp(1, MAX_POINTS);
            let mut name = format!("{}#", endpoint.address);
            let prefix = name.len();
            for k in 0..points {
                name.truncate(prefix);
                name.push_str(&k.to_string());
                self.points
                    .push((hash_key(name.as_bytes()), position as u32));
            }
        }
        self.points.sort_unstable();
    }

    fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.points.partition_point(|(hash, _)| *hash < key);
        let len = self.points.len();
        (0..len).map(move |step| self.points[(start + step) % len].1 as usize)
    }
}

export_balancer!(RingHash);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::testing::{Harness, counts, endpoints};

    #[test]
    fn keys_stick_and_spread() {
        let mut h = Harness::<RingHash>::new(&[], endpoints(&[1; 10])).unwrap();
        let first = h.owners(100_000);
        assert_eq!(first, h.owners(100_000), "the same key, the same endpoint");
        let counts = counts(&first);
        // 256 points each spread within about ±20 %.
        for count in counts.values() {
            assert!((*count as f64 / 10_000.0 - 1.0).abs() < 0.2, "{counts:?}");
        }
        let answer = h.pick_key(7);
        let mut distinct = answer.to_vec();
        distinct.sort();
        distinct.dedup();
        assert_eq!((answer.len(), distinct.len()), (4, 4));
    }

    #[test]
    fn removing_one_of_ten_moves_only_its_keys() {
        let all = endpoints(&[1; 10]);
        let mut h = Harness::<RingHash>::new(&[], all.clone()).unwrap();
        let before = h.owners(100_000);
        h.set_members(all.iter().filter(|e| e.id != 4).cloned().collect());
        let after = h.owners(100_000);
        let moved: Vec<_> = before.iter().zip(&after).filter(|(a, b)| a != b).collect();
        assert!(
            moved.iter().all(|(was, _)| **was == 4),
            "only endpoint 4's keys move"
        );
        let share = moved.len() as f64 / 100_000.0;
        assert!(share <= 0.12, "{share}");
    }

    #[test]
    fn weights_set_shares_and_configuration_is_checked() {
        let mut h =
            Harness::<RingHash>::new(&[("points_per_weight", "1024")], endpoints(&[3, 1])).unwrap();
        let first = h.owners(40_000);
        let heavy = first.iter().filter(|&&id| id == 0).count() as f64 / 40_000.0;
        assert!((heavy - 0.75).abs() < 0.05, "{heavy}");
        for config in [
            &[("points_per_weight", "0")][..],
            &[("hash_on", "body")],
            &[("x", "1")],
        ] {
            assert!(
                Harness::<RingHash>::new(config, endpoints(&[1])).is_err(),
                "{config:?}"
            );
        }
    }
}
