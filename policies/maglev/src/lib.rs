//! `maglev`: consistent hashing with Google's Maglev lookup table.
//!
//! Every routable endpoint fills slots of a table of `table_size` (a prime, 65537 by
//! default) in the order of its own permutation, `offset + j × skip` with offset and
//! skip hashed from its address; heavier endpoints take turns more often. A request's
//! `hash_on` key (a header, a cookie, the path, the authority or the client IP) picks
//! a slot; the fallbacks are the next distinct endpoints in the table. When an endpoint
//! leaves, about its own share of the keys move; a request without the key goes to a
//! random endpoint.

use switchyard_policy_sdk::consistent::{Hashed, KeyMap};
use switchyard_policy_sdk::{
    Config, Members, PolicyInfo, effective_weight, export_balancer, hash_key, mix64,
};

/// The policy.
pub type Maglev = Hashed<Table>;

/// A Maglev lookup table: slot → position of an endpoint among the routable members.
pub struct Table {
    size: usize,
    slots: Vec<u32>,
}

impl KeyMap for Table {
    fn describe() -> PolicyInfo {
        PolicyInfo::new("maglev", "consistent hashing with a Maglev lookup table").key(
            "table_size",
            "slots in the table, a prime",
            Some("65537"),
        )
    }

    const KEYS: &'static [&'static str] = &["table_size"];

    fn new(config: &Config) -> Result<Self, String> {
        let size: usize = config.parse_or("table_size", 65_537)?;
        if !(3..=10_000_019).contains(&size) || !is_prime(size) {
            return Err(format!(
                "table_size must be a prime from 3 to 10000019, not {size}"
            ));
        }
        Ok(Self {
            size,
            slots: Vec::new(),
        })
    }

    fn rebuild(&mut self, members: &Members) {
        let n = members.len();
        self.slots.clear();
        if n == 0 {
            return;
        }
        let m = self.size as u64;
        let weights: Vec<f64> = members.iter().map(effective_weight).collect();
        let heaviest = weights.iter().copied().fold(f64::MIN_POSITIVE, f64::max);
        // Each endpoint's permutation, and how far along it is.
        let mut walks: Vec<(u64, u64, u64)> = members
            .iter()
            .map(|e| {
                let h = hash_key(e.address.as_bytes());
                (h % m, mix64(h ^ 0x5bd1_e995) % (m - 1) + 1, 0)
            })
            .collect();
        // An endpoint takes a turn in round r once r × weight reaches its next target.
        let mut targets = vec![heaviest; n];
        let mut slots = vec![u32::MAX; self.size];
        let mut filled = 0;
        let mut round = 1.0;
        while filled < self.size {
            for i in 0..n {
                if round * weights[i] < targets[i] {
                    continue;
                }
                targets[i] += heaviest;
                let (offset, skip, next) = &mut walks[i];
                let slot = loop {
                    let slot = ((*offset + *next * *skip) % m) as usize;
                    *next += 1;
                    if slots[slot] == u32::MAX {
                        break slot;
                    }
                };
                slots[slot] = i as u32;
                filled += 1;
                if filled == self.size {
                    break;
                }
            }
            round += 1.0;
        }
        self.slots = slots;
    }

    fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let start = (key % self.size as u64) as usize;
        let slots = if self.slots.is_empty() { 0 } else { self.size };
        (0..slots).map(move |step| self.slots[(start + step) % self.size] as usize)
    }
}

fn is_prime(n: usize) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

export_balancer!(Maglev);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::testing::{Harness, counts, endpoints};

    #[test]
    fn keys_stick_and_spread_evenly() {
        let mut h = Harness::<Maglev>::new(&[], endpoints(&[1; 10])).unwrap();
        let first = h.owners(100_000);
        assert_eq!(first, h.owners(100_000), "the same key, the same endpoint");
        let counts = counts(&first);
        for count in counts.values() {
            assert!((*count as f64 / 10_000.0 - 1.0).abs() < 0.05, "{counts:?}");
        }
        let answer = h.pick_key(7);
        assert_eq!(answer.len(), 4, "three distinct fallbacks");
        let mut distinct = answer.to_vec();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 4);
    }

    #[test]
    fn removing_one_of_ten_moves_about_a_tenth_of_the_keys() {
        let all = endpoints(&[1; 10]);
        let mut h = Harness::<Maglev>::new(&[], all.clone()).unwrap();
        let before = h.owners(100_000);
        h.set_members(all.iter().filter(|e| e.id != 4).cloned().collect());
        let after = h.owners(100_000);
        let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        let share = moved as f64 / 100_000.0;
        assert!(after.iter().all(|&id| id != 4));
        // The keys of endpoint 4 (a tenth) must move; Maglev moves a few more.
        assert!((0.09..0.13).contains(&share), "{share}");
    }

    #[test]
    fn weights_set_shares() {
        let mut h = Harness::<Maglev>::new(&[], endpoints(&[3, 1])).unwrap();
        let first = h.owners(40_000);
        let heavy = first.iter().filter(|&&id| id == 0).count() as f64 / 40_000.0;
        assert!((heavy - 0.75).abs() < 0.02, "{heavy}");
    }

    #[test]
    fn configuration_is_checked() {
        let ok = Harness::<Maglev>::new(
            &[("hash_on", "header:x-user"), ("table_size", "251")],
            endpoints(&[1]),
        );
        assert!(ok.is_ok());
        for config in [
            &[("table_size", "65536")][..],
            &[("hash_on", "ip")],
            &[("speed", "1")],
        ] {
            assert!(
                Harness::<Maglev>::new(config, endpoints(&[1])).is_err(),
                "{config:?}"
            );
        }
    }
}
