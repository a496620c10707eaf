//! `maglev`: consistent hashing with Google's Maglev lookup table.
//!
//! Every routable endpoint fills slots of a table of `table_size` (a prime, 65537 by
//! default) in the order of its own permutation, `offset + j × skip` with offset and
//! skip hashed from its address; heavier endpoints take turns more often. A request's
//! `hash_on` key (a header, a cookie, the path, the authority or the client IP) picks
//! a slot; the fallbacks are the next distinct endpoints in the table. When an endpoint
//! leaves, about its own share of the keys move; a request without the key goes to a
//! random endpoint.

use switchyard_policy_sdk::{
    Balancer, Choices, Endpoint, Env, Members, Needs, PolicyInfo, Request, Setup, effective_weight,
    export_balancer, hash_key, mix64, parse_hash_source,
};

/// Choices in an answer: the first and its fallbacks.
const CHOICES: usize = 4;
/// Slots looked at after the chosen one for distinct fallbacks.
const FALLBACK_SCAN: usize = 256;

/// The policy.
pub struct Maglev {
    needs: Needs,
    table_size: usize,
    members: Members,
    /// Slot → position in `members`.
    table: Vec<u32>,
}

impl Maglev {
    fn build(&mut self) {
        let n = self.members.len();
        self.table.clear();
        if n == 0 {
            return;
        }
        let m = self.table_size as u64;
        let weights: Vec<f64> = self.members.iter().map(effective_weight).collect();
        let heaviest = weights.iter().copied().fold(f64::MIN_POSITIVE, f64::max);
        // Each endpoint's permutation, and where it is in it.
        let mut walks: Vec<(u64, u64, u64)> = self
            .members
            .iter()
            .map(|e| {
                let h = hash_key(e.address.as_bytes());
                (h % m, mix64(h ^ 0x5bd1_e995) % (m - 1) + 1, 0)
            })
            .collect();
        // An endpoint takes a turn in round r once r × weight reaches its next target.
        let mut targets = vec![heaviest; n];
        let mut table = vec![u32::MAX; self.table_size];
        let mut filled = 0;
        let mut round = 1.0;
        while filled < self.table_size {
            for i in 0..n {
                if round * weights[i] < targets[i] {
                    continue;
                }
                targets[i] += heaviest;
                let (offset, skip, next) = &mut walks[i];
                let slot = loop {
                    let slot = ((*offset + *next * *skip) % m) as usize;
                    *next += 1;
                    if table[slot] == u32::MAX {
                        break slot;
                    }
                };
                table[slot] = i as u32;
                filled += 1;
                if filled == self.table_size {
                    break;
                }
            }
            round += 1.0;
        }
        self.table = table;
    }
}

impl Balancer for Maglev {
    fn describe() -> PolicyInfo {
        PolicyInfo::new("maglev", "consistent hashing with a Maglev lookup table")
            .key(
                "hash_on",
                "header:NAME, cookie:NAME, path, authority or client-ip",
                Some("client-ip"),
            )
            .key("table_size", "slots in the table, a prime", Some("65537"))
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        let config = setup.config();
        config.reject_unknown(&["hash_on", "table_size"])?;
        let source = parse_hash_source(config.get("hash_on").unwrap_or("client-ip"))?;
        let table_size: usize = config.parse_or("table_size", 65_537)?;
        if !(3..=10_000_019).contains(&table_size) || !is_prime(table_size) {
            return Err(format!(
                "table_size must be a prime from 3 to 10000019, not {table_size}"
            ));
        }
        Ok(Self {
            needs: Needs {
                hash_on: Some(source),
                ..Needs::nothing()
            },
            table_size,
            members: Members::default(),
            table: Vec::new(),
        })
    }

    fn needs(&self) -> Needs {
        self.needs.clone()
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = Members::new(members);
        self.build();
    }

    fn pick(&mut self, request: &Request, env: &impl Env) -> Choices {
        if self.table.is_empty() {
            return Choices::none();
        }
        let key = request.hash_key.unwrap_or_else(|| env.random());
        let start = (key % self.table_size as u64) as usize;
        let mut choices = Choices::none();
        let mut seen = [u32::MAX; CHOICES];
        for step in 0..FALLBACK_SCAN.min(self.table_size) {
            let position = self.table[(start + step) % self.table_size];
            if seen.contains(&position) {
                continue;
            }
            seen[choices.len()] = position;
            choices.push(self.members.get(position as usize).id);
            if choices.len() == CHOICES.min(self.members.len()) {
                break;
            }
        }
        choices
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
    use std::collections::BTreeMap;
    use switchyard_policy_sdk::testing::{Harness, endpoints};

    fn request(key: u64) -> Request {
        Request {
            hash_key: Some(key),
            ..Request::empty()
        }
    }

    /// First choice for each of `keys` keys.
    fn owners(h: &mut Harness<Maglev>, keys: u64) -> Vec<u32> {
        (0..keys).map(|k| h.pick(&request(mix64(k)))[0]).collect()
    }

    #[test]
    fn keys_stick_and_spread_evenly() {
        let mut h = Harness::<Maglev>::new(&[], endpoints(&[1; 10])).unwrap();
        let first = owners(&mut h, 100_000);
        assert_eq!(
            first,
            owners(&mut h, 100_000),
            "the same key, the same endpoint"
        );
        let mut counts = BTreeMap::new();
        for id in &first {
            *counts.entry(*id).or_insert(0usize) += 1;
        }
        for count in counts.values() {
            assert!((*count as f64 / 10_000.0 - 1.0).abs() < 0.05, "{counts:?}");
        }
        let answer = h.pick(&request(7));
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
        let before = owners(&mut h, 100_000);
        h.set_members(all.iter().filter(|e| e.id != 4).cloned().collect());
        let after = owners(&mut h, 100_000);
        let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        let share = moved as f64 / 100_000.0;
        assert!(after.iter().all(|&id| id != 4));
        // The keys of endpoint 4 (a tenth) must move; Maglev moves a few more.
        assert!((0.09..0.13).contains(&share), "{share}");
    }

    #[test]
    fn weights_set_shares() {
        let mut h = Harness::<Maglev>::new(&[], endpoints(&[3, 1])).unwrap();
        let first = owners(&mut h, 40_000);
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
