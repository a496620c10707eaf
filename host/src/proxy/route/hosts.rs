//! Exact host names looked up as requests write them, whatever their case: hashed eight
//! bytes at a time, lower-cased as they are read, with no copy of the request's host.

use hashbrown::HashTable;

/// Values by host name (ASCII, compared without case).
#[derive(Debug)]
pub(super) struct HostIndex<V> {
    table: HashTable<(Box<[u8]>, V)>,
}

impl<V> HostIndex<V> {
    /// `entries`, each under its host name (distinct names).
    pub(super) fn new(entries: impl IntoIterator<Item = (Box<[u8]>, V)>) -> Self {
        let mut table = HashTable::new();
        for (mut host, value) in entries {
            host.make_ascii_lowercase();
            table.insert_unique(hash(&host), (host, value), |(h, _)| hash(h));
        }
        Self { table }
    }

    /// Whether it holds no host.
    pub(super) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The value of `host`, in any case.
    #[inline]
    pub(super) fn get(&self, host: &[u8]) -> Option<&V> {
        let found = self.table.find(hash(host), |(name, _)| {
            name.len() == host.len() && name.eq_ignore_ascii_case(host)
        });
        found.map(|(_, value)| value)
    }
}

const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
const LOW_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// `word` with its eight ASCII capitals in lower case, other bytes as they are: each
/// byte's low seven bits are compared with `A` and `Z` without a carry into the next.
fn lower(word: u64) -> u64 {
    let low = word & LOW_BITS;
    let from_a = low + 0x3f3f_3f3f_3f3f_3f3f; // 0x80 set when the byte is >= b'A'
    let past_z = low + 0x2525_2525_2525_2525; // 0x80 set when the byte is > b'Z'
    let upper = from_a & !past_z & !word & HIGH_BITS;
    word | (upper >> 2)
}

/// A hash of `host` in lower case: of its words of eight bytes, the last of which
/// overlaps the one before when its length is not a multiple of eight.
#[inline]
fn hash(host: &[u8]) -> u64 {
    let mix = |h: u64, word: u64| (h ^ lower(word)).wrapping_mul(SEED).rotate_left(29);
    let word = |at: usize| u64::from_le_bytes(host[at..at + 8].try_into().unwrap_or_default());
    let len = host.len();
    let h = (len as u64).wrapping_mul(SEED);
    if len < 8 {
        let short = host.iter().rev().fold(0, |w, &b| (w << 8) | u64::from(b));
        return mix(h, short);
    }
    let mut h = mix(h, word(0));
    let mut at = 8;
    while at + 8 < len {
        h = mix(h, word(at));
        at += 8;
    }
    if at < len {
        h = mix(h, word(len - 8));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitals_and_nothing_else_are_lowered() {
        for b in 0..=255u8 {
            let word = u64::from_le_bytes([b, b'Z', b'@', b'[', 0x80 | b'A', b'a', 0xff, b]);
            let expected = u64::from_le_bytes([
                b.to_ascii_lowercase(),
                b'z',
                b'@',
                b'[',
                0x80 | b'A',
                b'a',
                0xff,
                b.to_ascii_lowercase(),
            ]);
            assert_eq!(lower(word), expected, "{b:#x}");
        }
    }

    #[test]
    fn hosts_are_found_in_any_case_and_only_they() {
        let names = [
            "a.example.com",
            "api.example.com",
            "x",
            "Long-Name.Of.A.Service.Internal",
        ];
        let index = HostIndex::new(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_bytes().into(), i)),
        );
        for (i, name) in names.iter().enumerate() {
            assert_eq!(index.get(name.as_bytes()), Some(&i), "{name}");
            let upper = name.to_ascii_uppercase();
            assert_eq!(index.get(upper.as_bytes()), Some(&i), "{upper}");
        }
        for other in [
            "",
            "b.example.com",
            "api.example.co",
            "xx",
            "a.example.com.",
        ] {
            assert_eq!(index.get(other.as_bytes()), None, "{other}");
        }
    }
}
