//! Hashing helpers for consistent-hashing policies.
//!
//! [`hash_key`] is the function the host uses to fill `request.hash-key`, so a policy
//! (and its native tests) can hash the same bytes the same way.

use crate::HashSource;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes`, then [`mix64`]: the host's `hash-key` function.
pub fn hash_key(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    mix64(h)
}

/// The murmur3 64-bit finaliser: spreads every input bit over every output bit.
pub fn mix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Reads a hash source as configured: `header:NAME`, `cookie:NAME`, `path`, `authority`
/// or `client-ip`.
pub fn parse_hash_source(text: &str) -> Result<HashSource, String> {
    let expected = "expected header:NAME, cookie:NAME, path, authority or client-ip";
    Ok(match text.split_once(':') {
        Some(("header", name)) if !name.is_empty() => HashSource::Header(name.to_lowercase()),
        Some(("cookie", name)) if !name.is_empty() => HashSource::Cookie(name.to_string()),
        None if text == "path" => HashSource::Path,
        None if text == "authority" => HashSource::Authority,
        None if text == "client-ip" => HashSource::ClientIp,
        _ => return Err(format!("hash_on: {text:?}: {expected}")),
    })
}

/// Jump consistent hash (Lamping & Veach): maps `key` to a bucket in `0..buckets`,
/// moving only `1/buckets` of keys when a bucket is added at the end.
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b.max(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_sources_parse() {
        assert!(
            matches!(parse_hash_source("header:X-User"), Ok(HashSource::Header(h)) if h == "x-user")
        );
        assert!(matches!(parse_hash_source("cookie:sid"), Ok(HashSource::Cookie(c)) if c == "sid"));
        assert!(matches!(
            parse_hash_source("client-ip"),
            Ok(HashSource::ClientIp)
        ));
        assert!(parse_hash_source("header:").is_err());
        assert!(parse_hash_source("ip").unwrap_err().contains("client-ip"));
    }

    #[test]
    fn hash_key_is_stable_and_spread() {
        assert_eq!(hash_key(b"user-42"), hash_key(b"user-42"));
        assert_ne!(hash_key(b"user-42"), hash_key(b"user-43"));
        assert_eq!(hash_key(b""), mix64(FNV_OFFSET));
    }

    #[test]
    fn jump_hash_moves_few_keys() {
        let moved = (0..10_000u64)
            .filter(|k| jump_hash(mix64(*k), 10) != jump_hash(mix64(*k), 11))
            .count();
        assert!((700..1_200).contains(&moved), "moved {moved} of 10000");
        assert!((0..1000u64).all(|k| jump_hash(k, 7) < 7));
    }
}
