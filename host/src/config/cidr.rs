//! Network prefixes as configuration writes them: `10.0.0.0/8`, `::1/128`, or a bare
//! address (the one host).

use serde::{Deserialize, Deserializer, de};
use std::net::IpAddr;

/// An address prefix: the addresses whose first `bits` bits are those of `network`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Reads `a.b.c.d/n`, `x::y/n` or a bare address; bits set past the prefix are an
    /// error (they suggest a mistyped prefix length).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, bits) = match text.split_once('/') {
            Some((address, bits)) => (address, Some(bits)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().map_err(|_| {
            format!("{text:?} is not an IP address or prefix (like \"10.0.0.0/8\")")
        })?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(text) => match text.parse::<u8>() {
                Ok(bits) if bits <= max && !text.starts_with('+') => bits,
                _ => return Err(format!("{text:?}: the prefix length must be 0 to {max}")),
            },
        };
        let cidr = Self { network, bits };
        if !cidr.contains(network) || cidr.masked(network) != bits_of(network) {
            return Err(format!(
                "{text:?}: bits are set past the prefix length (the network of /{bits} is {})",
                cidr.network_of()
            ));
        }
        Ok(cidr)
    }

    /// Whether it holds every address of its family (`/0`).
    pub fn is_everything(&self) -> bool {
        self.bits == 0
    }

    /// Whether `ip` is in it; an IPv4-mapped IPv6 address counts as its IPv4 one.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == self.masked(self.network)
    }

    /// `ip`'s bits within the prefix, as a number.
    fn masked(&self, ip: IpAddr) -> u128 {
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let value = bits_of(ip);
        match u32::from(self.bits) {
            0 => 0,
            bits => value & (u128::MAX >> (128 - bits) << (width - bits)),
        }
    }

    /// The network address of the prefix, for an error message.
    fn network_of(&self) -> IpAddr {
        let bits = self.masked(self.network);
        match self.network {
            IpAddr::V4(_) => IpAddr::from((bits as u32).to_be_bytes()),
            IpAddr::V6(_) => IpAddr::from(bits.to_be_bytes()),
        }
    }
}

/// An address as a number.
fn bits_of(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Cidr::parse(&text).map_err(de::Error::custom)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn prefixes_hold_their_addresses_only() {
        let ten = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains(ip("10.255.1.2")));
        assert!(!ten.contains(ip("11.0.0.1")));
        assert!(ten.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        assert!(!ten.contains(ip("::1")));
        let host = Cidr::parse("127.0.0.7").unwrap();
        assert!(host.contains(ip("127.0.0.7")) && !host.contains(ip("127.0.0.8")));
        let everything = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(everything.contains(ip("203.0.113.9")) && !everything.contains(ip("::2")));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        let odd = Cidr::parse("192.168.4.0/22").unwrap();
        assert!(odd.contains(ip("192.168.7.255")) && !odd.contains(ip("192.168.8.0")));
        assert_eq!(odd.to_string(), "192.168.4.0/22");
    }

    #[test]
    fn mistakes_are_named() {
        let err = Cidr::parse("10.0.0.1/8").unwrap_err();
        assert!(err.contains("the network of /8 is 10.0.0.0"), "{err}");
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "ten",
            "::/129",
            "",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
