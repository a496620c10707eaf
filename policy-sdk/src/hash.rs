//! Hashing helpers for consistent-hashing policies.
//!
//! [`hash_key`] is the function the host uses to fill `request.hash-key`, and
//! [`hash_of`] is how it finds the bytes to hash (a header's value, a cookie's, the
//! path without its query, the authority, the client IP), so a policy (and its native
//! tests, see [`Harness::pick_with_header`](crate::testing::Harness::pick_with_header))
//! can hash the same bytes the same way.
//!
//! ```
//! use switchyard_policy_sdk::hash::{KeySource, hash_key, hash_of};
//! use switchyard_policy_sdk::testing::HttpRequest;
//!
//! let request = HttpRequest::get("/cart?item=7").cookie("session", "s42");
//! assert_eq!(hash_of(KeySource::Cookie("session"), &request), Some(hash_key(b"s42")));
//! assert_eq!(hash_of(KeySource::Path, &request), Some(hash_key(b"/cart")));
//! assert_eq!(hash_of(KeySource::Header("x-user"), &request), None);
//! ```

use crate::HashSource;
use std::net::IpAddr;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes`, then [`mix64`]: the host's `hash-key` function.
///
/// ```
/// use switchyard_policy_sdk::hash_key;
///
/// // What a request with `x-user: ann` carries when the policy hashes on `header:x-user`.
/// let key = hash_key(b"ann");
/// assert_eq!(key, hash_key("ann".as_bytes()));
/// assert_ne!(key, hash_key(b"bob"));
/// ```
pub fn hash_key(bytes: &[u8]) -> u64 {
    let mut fnv = Fnv::new();
    fnv.write(bytes);
    fnv.finish()
}

/// The murmur3 64-bit finaliser: spreads every input bit over every output bit.
///
/// ```
/// use switchyard_policy_sdk::mix64;
///
/// // Neighbouring inputs land far apart: good keys for tests of hashing policies.
/// assert_ne!(mix64(1) >> 32, mix64(2) >> 32);
/// assert_eq!(mix64(0), 0);
/// ```
pub fn mix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Reads a hash source as configured: `header:NAME`, `cookie:NAME`, `path`, `authority`
/// or `client-ip`.
///
/// ```
/// use switchyard_policy_sdk::{HashSource, parse_hash_source};
///
/// assert_eq!(parse_hash_source("header:X-User"), Ok(HashSource::Header("x-user".into())));
/// assert_eq!(parse_hash_source("client-ip"), Ok(HashSource::ClientIp));
/// assert!(parse_hash_source("ip").is_err());
/// ```
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

/// Where a hash key comes from: a [`HashSource`] that borrows its header or cookie
/// name, so that a caller holding a source of its own type (the host) names one
/// without allocating.
///
/// ```
/// use switchyard_policy_sdk::HashSource;
/// use switchyard_policy_sdk::hash::KeySource;
///
/// let source = HashSource::Header("x-user".into());
/// assert_eq!(KeySource::from(&source), KeySource::Header("x-user"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeySource<'a> {
    /// The value of this request header (name in lower case).
    Header(&'a str),
    /// The value of this cookie.
    Cookie(&'a str),
    /// The request path, without the query.
    Path,
    /// The `:authority` / `Host`.
    Authority,
    /// The client's IP address, without the port.
    ClientIp,
}

impl<'a> From<&'a HashSource> for KeySource<'a> {
    fn from(source: &'a HashSource) -> Self {
        match source {
            HashSource::Header(name) => KeySource::Header(name),
            HashSource::Cookie(name) => KeySource::Cookie(name),
            HashSource::Path => KeySource::Path,
            HashSource::Authority => KeySource::Authority,
            HashSource::ClientIp => KeySource::ClientIp,
        }
    }
}

/// The attributes of a request a hash key can come from, as the host reads them.
///
/// [`testing::HttpRequest`](crate::testing::HttpRequest) implements it; so can a host's
/// own request type, to compute keys with [`hash_of`].
///
/// ```
/// use std::net::IpAddr;
/// use switchyard_policy_sdk::hash::{KeySource, KeyedRequest, hash_of};
/// use switchyard_policy_sdk::hash_key;
///
/// struct OnlyPath(&'static str);
///
/// impl KeyedRequest for OnlyPath {
///     fn header(&self, _name: &str) -> Option<&str> { None }
///     fn path(&self) -> Option<&str> { Some(self.0) }
///     fn authority(&self) -> Option<&str> { None }
///     fn client_ip(&self) -> Option<IpAddr> { None }
/// }
///
/// assert_eq!(hash_of(KeySource::Path, &OnlyPath("/a?b")), Some(hash_key(b"/a")));
/// assert_eq!(hash_of(KeySource::ClientIp, &OnlyPath("/a")), None);
/// ```
pub trait KeyedRequest {
    /// The value of header `name` (lower case), the first when it repeats; `None` when
    /// the request does not carry it (or its value is not text).
    ///
    /// ```
    /// use switchyard_policy_sdk::hash::KeyedRequest;
    /// use switchyard_policy_sdk::testing::HttpRequest;
    ///
    /// let request = HttpRequest::get("/").header("x-user", "ann").header("x-user", "bob");
    /// assert_eq!(KeyedRequest::header(&request, "x-user"), Some("ann"));
    /// ```
    fn header(&self, name: &str) -> Option<&str>;
    /// The path and query.
    ///
    /// ```
    /// use switchyard_policy_sdk::hash::KeyedRequest;
    /// use switchyard_policy_sdk::testing::HttpRequest;
    ///
    /// assert_eq!(HttpRequest::get("/a?b").path(), Some("/a?b"));
    /// ```
    fn path(&self) -> Option<&str>;
    /// The `:authority` or `Host`.
    ///
    /// ```
    /// use switchyard_policy_sdk::hash::KeyedRequest;
    /// use switchyard_policy_sdk::testing::HttpRequest;
    ///
    /// let request = HttpRequest::get("/").authority("api.example.com");
    /// assert_eq!(KeyedRequest::authority(&request), Some("api.example.com"));
    /// ```
    fn authority(&self) -> Option<&str>;
    /// The client's IP address.
    ///
    /// ```
    /// use switchyard_policy_sdk::hash::KeyedRequest;
    /// use switchyard_policy_sdk::testing::HttpRequest;
    ///
    /// let request = HttpRequest::get("/").client_ip([10, 0, 0, 7]);
    /// assert_eq!(KeyedRequest::client_ip(&request), Some([10, 0, 0, 7].into()));
    /// ```
    fn client_ip(&self) -> Option<IpAddr>;
}

/// The hash key the host puts in a pick's `request.hash-key` when the policy's
/// [`Needs::hash_on`](crate::Needs) is `source`: [`hash_key`] of
///
/// - `Header(name)`: the header's value (the first, when it repeats);
/// - `Cookie(name)`: the cookie's value in the `cookie` header ([`cookie_value`]);
/// - `Path`: the path without its query ([`path_without_query`]);
/// - `Authority`: the authority;
/// - `ClientIp`: the client's IP address as text, without the port ([`ip_key`]).
///
/// `None` when the request lacks the attribute: the pick then has no key.
///
/// ```
/// use switchyard_policy_sdk::hash::{KeySource, hash_of};
/// use switchyard_policy_sdk::hash_key;
/// use switchyard_policy_sdk::testing::HttpRequest;
///
/// let request = HttpRequest::get("/").header("X-User", "ann").client_ip([10, 0, 0, 7]);
/// assert_eq!(hash_of(KeySource::Header("x-user"), &request), Some(hash_key(b"ann")));
/// assert_eq!(hash_of(KeySource::ClientIp, &request), Some(hash_key(b"10.0.0.7")));
/// assert_eq!(hash_of(KeySource::Cookie("sid"), &request), None);
/// ```
pub fn hash_of(source: KeySource<'_>, request: &impl KeyedRequest) -> Option<u64> {
    match source {
        KeySource::Header(name) => request.header(name).map(|v| hash_key(v.as_bytes())),
        KeySource::Cookie(name) => {
            cookie_value(request.header("cookie")?, name).map(|v| hash_key(v.as_bytes()))
        }
        KeySource::Path => request
            .path()
            .map(|path| hash_key(path_without_query(path).as_bytes())),
        KeySource::Authority => request.authority().map(|a| hash_key(a.as_bytes())),
        KeySource::ClientIp => request.client_ip().map(ip_key),
    }
}

/// The value of cookie `name` in a `Cookie` header's value (`a=1; session=s42`), as
/// the host reads it for `hash_on = "cookie:NAME"`: pairs split at `;`, trimmed, the
/// first whose name is exactly `name`.
///
/// ```
/// use switchyard_policy_sdk::hash::cookie_value;
///
/// assert_eq!(cookie_value("a=1; session=s42; z=9", "session"), Some("s42"));
/// assert_eq!(cookie_value("a=1", "session"), None);
/// ```
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The path of a request target without its query: what `hash_on = "path"` hashes.
///
/// ```
/// use switchyard_policy_sdk::hash::path_without_query;
///
/// assert_eq!(path_without_query("/users/42?tab=1"), "/users/42");
/// assert_eq!(path_without_query("/users/42"), "/users/42");
/// ```
pub fn path_without_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// [`hash_key`] of `ip` as text (as `Display` writes it), without allocating: what
/// `hash_on = "client-ip"` hashes.
///
/// ```
/// use std::net::IpAddr;
/// use switchyard_policy_sdk::hash::ip_key;
/// use switchyard_policy_sdk::hash_key;
///
/// let ip: IpAddr = "2001:db8::42".parse().unwrap();
/// assert_eq!(ip_key(ip), hash_key(b"2001:db8::42"));
/// assert_eq!(ip_key([10, 0, 0, 7].into()), hash_key(b"10.0.0.7"));
/// ```
pub fn ip_key(ip: IpAddr) -> u64 {
    let mut fnv = Fnv::new();
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    fnv.write(b".");
                }
                if octet >= 100 {
                    fnv.write(&[b'0' + octet / 100]);
                }
                if octet >= 10 {
                    fnv.write(&[b'0' + octet / 10 % 10]);
                }
                fnv.write(&[b'0' + octet % 10]);
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            // Writing to an FNV state never fails.
            let _ = write!(fnv, "{v6}");
        }
    }
    fnv.finish()
}

/// FNV-1a fed piecewise.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(FNV_OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    fn finish(&self) -> u64 {
        mix64(self.0)
    }
}

impl std::fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.write(s.as_bytes());
        Ok(())
    }
}

/// Jump consistent hash (Lamping & Veach): maps `key` to a bucket in `0..buckets`,
/// moving only `1/buckets` of keys when a bucket is added at the end.
///
/// ```
/// use switchyard_policy_sdk::{hash_key, jump_hash};
///
/// let bucket = jump_hash(hash_key(b"user-42"), 10);
/// assert!(bucket < 10);
/// // Growing to 11 buckets either keeps the key or moves it to the new bucket.
/// assert!([bucket, 10].contains(&jump_hash(hash_key(b"user-42"), 11)));
/// ```
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
    fn keys_are_those_the_host_computes() {
        let v4: IpAddr = "10.20.3.255".parse().unwrap();
        for ip in [
            "0.0.0.0",
            "10.20.3.255",
            "192.168.100.9",
            "::1",
            "2001:db8::ff00:42:8329",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_key(ip), hash_key(ip.to_string().as_bytes()), "{ip}");
        }
        assert_eq!(ip_key(v4), hash_key(b"10.20.3.255"));
        assert_eq!(
            cookie_value(" a=1;session=s42 ;z=9", "session"),
            Some("s42")
        );
        assert_eq!(cookie_value("session", "session"), None);
        assert_eq!(cookie_value("xsession=1; session=2", "session"), Some("2"));
        assert_eq!(path_without_query("?a"), "");
        let header = HashSource::Header("x-user".into());
        assert_eq!(KeySource::from(&header), KeySource::Header("x-user"));
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
