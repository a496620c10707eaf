//! The PROXY protocol (HAProxy's `proxy-protocol.txt`, versions 1 and 2): the header a
//! proxy puts before the relayed bytes to tell the receiver the addresses of the
//! connection it relays.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The largest header [`parse`] may ask to buffer: a v2 header with the largest length
/// its 16-bit field can declare (a v1 line is at most 107 bytes).
pub(crate) const MAX_HEADER: usize = V2_FIXED + u16::MAX as usize;

/// What every v1 header starts with.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line, CRLF included.
const V1_MAX_LINE: usize = 107;
/// What every v2 header starts with.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The v2 signature, version/command, family/transport and length bytes.
const V2_FIXED: usize = 16;
/// Version 2 in the high nibble of the 13th byte.
const V2_VERSION: u8 = 0x20;
/// The v2 command of a connection the proxy opened for itself.
const LOCAL: u8 = 0x0;
/// The v2 command of a relayed connection.
const PROXY: u8 = 0x1;
/// v2 family/transport byte: TCP over IPv4.
const TCP4: u8 = 0x11;
/// v2 family/transport byte: TCP over IPv6.
const TCP6: u8 = 0x21;
/// Bytes of a v2 IPv4 address block: two addresses and two ports.
const INET_BLOCK: u16 = 2 * 4 + 2 * 2;
/// Bytes of a v2 IPv6 address block: two addresses and two ports.
const INET6_BLOCK: u16 = 2 * 16 + 2 * 2;

pub(crate) use crate::config::model::ProxyProtocolVersion as Version;

/// Appends to `out` the header telling that a connection from `source` to `destination`
/// is being relayed. When the two addresses are of different families, the IPv4 one is
/// written as its IPv4-mapped IPv6 form so both are IPv6.
pub(crate) fn encode(
    version: Version,
    source: SocketAddr,
    destination: SocketAddr,
    out: &mut Vec<u8>,
) {
    match version {
        Version::V1 => encode_v1(source, destination, out),
        Version::V2 => encode_v2(source, destination, out),
    }
}

/// Appends the header of a connection the proxy opens on its own behalf (a health
/// probe): v1 `PROXY UNKNOWN\r\n`, v2 the LOCAL command with no addresses.
pub(crate) fn encode_local(version: Version, out: &mut Vec<u8>) {
    match version {
        Version::V1 => out.extend_from_slice(b"PROXY UNKNOWN\r\n"),
        Version::V2 => {
            out.extend_from_slice(&V2_SIGNATURE);
            out.extend_from_slice(&[V2_VERSION | LOCAL, 0x00, 0x00, 0x00]);
        }
    }
}

/// `PROXY TCP4 …` or `PROXY TCP6 …`, IPv6 when either address is.
fn encode_v1(source: SocketAddr, destination: SocketAddr, out: &mut Vec<u8>) {
    use std::io::Write;
    let (family, from, to) = match (source.ip(), destination.ip()) {
        (from @ IpAddr::V4(_), to @ IpAddr::V4(_)) => ("TCP4", from, to),
        (from, to) => ("TCP6", as_v6(from).into(), as_v6(to).into()),
    };
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "PROXY {family} {} {} {} {}\r\n",
        V1Ip(from),
        V1Ip(to),
        source.port(),
        destination.port()
    );
}

/// The PROXY command with a TCP over IPv4 block, or IPv6 when either address is.
fn encode_v2(source: SocketAddr, destination: SocketAddr, out: &mut Vec<u8>) {
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(V2_VERSION | PROXY);
    match (source.ip(), destination.ip()) {
        (IpAddr::V4(from), IpAddr::V4(to)) => {
            out.push(TCP4);
            out.extend_from_slice(&INET_BLOCK.to_be_bytes());
            out.extend_from_slice(&from.octets());
            out.extend_from_slice(&to.octets());
        }
        (from, to) => {
            out.push(TCP6);
            out.extend_from_slice(&INET6_BLOCK.to_be_bytes());
            out.extend_from_slice(&as_v6(from).octets());
            out.extend_from_slice(&as_v6(to).octets());
        }
    }
    out.extend_from_slice(&source.port().to_be_bytes());
    out.extend_from_slice(&destination.port().to_be_bytes());
}

/// `ip` as IPv6: an IPv4 address becomes its IPv4-mapped form.
fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// An address as a v1 line writes it: IPv6 in hexadecimal groups only, as the spec
/// asks, so an IPv4-mapped address is `::ffff:c000:201`, not `::ffff:192.0.2.1`.
struct V1Ip(IpAddr);

impl fmt::Display for V1Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
                let groups = v6.segments();
                write!(f, "::ffff:{:x}:{:x}", groups[6], groups[7])
            }
            ip => ip.fmt(f),
        }
    }
}

/// What the start of a connection's bytes holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Not enough bytes yet to tell (the caller reads more and asks again).
    Incomplete,
    /// A whole header of `length` bytes (the relayed bytes start after it). `source` and
    /// `destination` are the addresses it gives; both None for v1 UNKNOWN, for v2 LOCAL,
    /// or for a v2 family other than TCP/UDP over IPv4/IPv6 (such as AF_UNIX): the
    /// connection's own addresses stand then.
    Header {
        /// Bytes of the header.
        length: usize,
        /// The relayed connection's source.
        source: Option<SocketAddr>,
        /// The relayed connection's destination.
        destination: Option<SocketAddr>,
    },
    /// Not a valid PROXY header; the reason in words, for a log line.
    Invalid(&'static str),
}

/// Reads a PROXY header (v1 or v2, told apart by their signatures) from the start of
/// `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Parsed {
    if bytes.starts_with(&V2_SIGNATURE) {
        parse_v2(bytes)
    } else if bytes.starts_with(V1_PREFIX) {
        parse_v1(bytes)
    } else if V2_SIGNATURE.starts_with(bytes) || V1_PREFIX.starts_with(bytes) {
        Parsed::Incomplete
    } else {
        Parsed::Invalid("no PROXY protocol header")
    }
}

/// A v1 line, `bytes` starting with `PROXY `.
fn parse_v1(bytes: &[u8]) -> Parsed {
    let window = bytes.get(..V1_MAX_LINE).unwrap_or(bytes);
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return v1_without_end(bytes);
    };
    let line = window.get(..lf).unwrap_or_default();
    let Some(line) = line.strip_suffix(b"\r") else {
        return Parsed::Invalid("v1 header ends in LF without CR");
    };
    let Some(fields) = line.strip_prefix(V1_PREFIX) else {
        return Parsed::Invalid("no PROXY protocol header");
    };
    match v1_fields(fields) {
        Ok((source, destination)) => Parsed::Header {
            length: lf + 1,
            source,
            destination,
        },
        Err(reason) => Parsed::Invalid(reason),
    }
}

/// A v1 line whose end has not been seen: invalid if it is already too long or names
/// no known protocol, otherwise incomplete.
fn v1_without_end(bytes: &[u8]) -> Parsed {
    let after = bytes.get(V1_PREFIX.len()..).unwrap_or_default();
    if !may_start_v1_protocol(after) {
        Parsed::Invalid("v1 header names an unknown protocol")
    } else if bytes.len() >= V1_MAX_LINE {
        Parsed::Invalid("v1 header has no CRLF in its first 107 bytes")
    } else {
        Parsed::Incomplete
    }
}

/// Whether `after` (what follows `PROXY `, maybe cut short) may begin with a protocol.
fn may_start_v1_protocol(after: &[u8]) -> bool {
    [&b"TCP4 "[..], b"TCP6 ", b"UNKNOWN"].iter().any(|name| {
        let n = after.len().min(name.len());
        after.get(..n) == name.get(..n)
    })
}

/// The addresses of a v1 line's fields (what lies between `PROXY ` and CRLF).
fn v1_fields(fields: &[u8]) -> Result<(Option<SocketAddr>, Option<SocketAddr>), &'static str> {
    if fields == b"UNKNOWN" || fields.starts_with(b"UNKNOWN ") {
        return Ok((None, None));
    }
    let text = std::str::from_utf8(fields).map_err(|_| "v1 header is not ASCII")?;
    let mut parts = text.split(' ');
    let ipv6 = match parts.next() {
        Some("TCP4") => false,
        Some("TCP6") => true,
        _ => return Err("v1 header names an unknown protocol"),
    };
    let mut next = || parts.next().ok_or("v1 header has too few fields");
    let (from, to, from_port, to_port) = (next()?, next()?, next()?, next()?);
    if parts.next().is_some() {
        return Err("v1 header has too many fields");
    }
    let source = SocketAddr::new(v1_ip(from, ipv6)?, v1_port(from_port)?);
    let destination = SocketAddr::new(v1_ip(to, ipv6)?, v1_port(to_port)?);
    Ok((Some(source), Some(destination)))
}

/// A v1 address of the family the line names.
fn v1_ip(text: &str, ipv6: bool) -> Result<IpAddr, &'static str> {
    let ip = if ipv6 {
        text.parse().map(IpAddr::V6)
    } else {
        text.parse().map(IpAddr::V4)
    };
    ip.map_err(|_| "v1 header has a bad address")
}

/// A v1 port: 1 to 5 decimal digits, no sign, no leading zero, at most 65535.
fn v1_port(text: &str) -> Result<u16, &'static str> {
    let digits = text.as_bytes();
    let well_formed = (1..=5).contains(&digits.len())
        && digits.iter().all(u8::is_ascii_digit)
        && (digits.len() == 1 || digits.first() != Some(&b'0'));
    if !well_formed {
        return Err("v1 header has a bad port");
    }
    text.parse().map_err(|_| "v1 header has a port above 65535")
}

/// A v2 header, `bytes` starting with its signature.
fn parse_v2(bytes: &[u8]) -> Parsed {
    let Some(&version_command) = bytes.get(V2_SIGNATURE.len()) else {
        return Parsed::Incomplete;
    };
    if version_command & 0xf0 != V2_VERSION {
        return Parsed::Invalid("v2 header has an unknown version");
    }
    let command = version_command & 0x0f;
    if command != LOCAL && command != PROXY {
        return Parsed::Invalid("v2 header has an unknown command");
    }
    let Some(&[family, high, low]) = bytes.get(V2_SIGNATURE.len() + 1..V2_FIXED) else {
        return Parsed::Incomplete;
    };
    let declared = u16::from_be_bytes([high, low]);
    let family = if command == LOCAL {
        Family::Other
    } else {
        match v2_family(family, declared) {
            Ok(family) => family,
            Err(reason) => return Parsed::Invalid(reason),
        }
    };
    let length = V2_FIXED + usize::from(declared);
    let Some(block) = bytes.get(V2_FIXED..length) else {
        return Parsed::Incomplete;
    };
    let addresses = match family {
        Family::Inet => v2_addresses::<4>(block),
        Family::Inet6 => v2_addresses::<16>(block),
        Family::Other => Some((None, None)),
    };
    match addresses {
        Some((source, destination)) => Parsed::Header {
            length,
            source,
            destination,
        },
        None => Parsed::Invalid("v2 header is too short for its addresses"),
    }
}

/// The addresses a v2 PROXY header gives.
enum Family {
    /// TCP or UDP over IPv4.
    Inet,
    /// TCP or UDP over IPv6.
    Inet6,
    /// None the proxy reads: the connection's own addresses stand.
    Other,
}

/// The family/transport byte of a v2 PROXY header declaring `declared` bytes after the
/// fixed part. Values the spec leaves unassigned are invalid.
fn v2_family(byte: u8, declared: u16) -> Result<Family, &'static str> {
    let (family, transport) = (byte >> 4, byte & 0x0f);
    if family > 0x3 {
        return Err("v2 header has an unknown address family");
    }
    if transport > 0x2 {
        return Err("v2 header has an unknown transport");
    }
    let (family, needed) = match (family, transport) {
        (0x1, 0x1 | 0x2) => (Family::Inet, INET_BLOCK),
        (0x2, 0x1 | 0x2) => (Family::Inet6, INET6_BLOCK),
        _ => (Family::Other, 0),
    };
    if declared < needed {
        return Err("v2 header is too short for its addresses");
    }
    Ok(family)
}

/// Source and destination from a v2 block of `N`-byte addresses then two ports; what
/// follows (TLVs) is skipped. None when the block is too short.
fn v2_addresses<const N: usize>(block: &[u8]) -> Option<(Option<SocketAddr>, Option<SocketAddr>)>
where
    IpAddr: From<[u8; N]>,
{
    let (from, rest) = block.split_first_chunk::<N>()?;
    let (to, rest) = rest.split_first_chunk::<N>()?;
    let (from_port, rest) = rest.split_first_chunk::<2>()?;
    let (to_port, _) = rest.split_first_chunk::<2>()?;
    let source = SocketAddr::new(IpAddr::from(*from), u16::from_be_bytes(*from_port));
    let destination = SocketAddr::new(IpAddr::from(*to), u16::from_be_bytes(*to_port));
    Some((Some(source), Some(destination)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a socket address written in a test.
    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    /// The header `encode` writes.
    fn encoded(version: Version, source: &str, destination: &str) -> Vec<u8> {
        let mut out = Vec::new();
        encode(version, addr(source), addr(destination), &mut out);
        out
    }

    /// A whole header of `length` bytes giving these addresses.
    fn header(length: usize, source: &str, destination: &str) -> Parsed {
        Parsed::Header {
            length,
            source: Some(addr(source)),
            destination: Some(addr(destination)),
        }
    }

    /// A whole header of `length` bytes giving no addresses.
    fn no_addresses(length: usize) -> Parsed {
        Parsed::Header {
            length,
            source: None,
            destination: None,
        }
    }

    /// The fixed 16 bytes of a v2 header.
    fn v2_fixed(version_command: u8, family: u8, declared: u16) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(version_command);
        out.push(family);
        out.extend_from_slice(&declared.to_be_bytes());
        out
    }

    /// Whether `parse` reads `bytes` as invalid.
    fn is_invalid(bytes: &[u8]) -> bool {
        matches!(parse(bytes), Parsed::Invalid(_))
    }

    /// Valid headers of every kind, for the prefix and mutation checks.
    fn samples() -> Vec<Vec<u8>> {
        let mut local_v1 = Vec::new();
        encode_local(Version::V1, &mut local_v1);
        let mut local_v2 = Vec::new();
        encode_local(Version::V2, &mut local_v2);
        let mut tlv = encoded(Version::V2, "[2001:db8::1]:1", "[2001:db8::2]:2");
        tlv[15] += 7;
        tlv.extend_from_slice(&[0x04, 0x00, 0x04, 1, 2, 3, 4]);
        vec![
            encoded(Version::V1, "192.168.0.1:56324", "192.168.0.11:443"),
            encoded(Version::V1, "[2001:db8::1]:65535", "[ffff::ffff]:0"),
            encoded(Version::V2, "192.168.0.1:56324", "192.168.0.11:443"),
            encoded(Version::V2, "10.0.0.1:80", "[2001:db8::2]:8080"),
            local_v1,
            local_v2,
            tlv,
        ]
    }

    #[test]
    fn v1_encodes_the_spec_example() {
        let line = encoded(Version::V1, "192.168.0.1:56324", "192.168.0.11:443");
        assert_eq!(line, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    }

    #[test]
    fn v1_mixed_families_are_written_as_ipv6_in_hex_groups() {
        let line = encoded(Version::V1, "192.0.2.1:1234", "[2001:db8::1]:443");
        assert_eq!(line, b"PROXY TCP6 ::ffff:c000:201 2001:db8::1 1234 443\r\n");
    }

    #[test]
    fn v2_encodes_the_bytes_the_spec_defines() {
        let expected: [u8; 28] = [
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54,
            0x0A, // signature
            0x21, // version 2, PROXY
            0x11, // AF_INET, STREAM
            0x00, 0x0C, // 12 bytes follow
            192, 168, 0, 1, // source
            192, 168, 0, 11, // destination
            0xDC, 0x04, // 56324
            0x01, 0xBB, // 443
        ];
        let written = encoded(Version::V2, "192.168.0.1:56324", "192.168.0.11:443");
        assert_eq!(written, expected);
        assert_eq!(
            parse(&expected),
            header(28, "192.168.0.1:56324", "192.168.0.11:443")
        );
    }

    #[test]
    fn encode_local_writes_unknown_and_local() {
        let mut v1 = Vec::new();
        encode_local(Version::V1, &mut v1);
        assert_eq!(v1, b"PROXY UNKNOWN\r\n");
        let mut v2 = Vec::new();
        encode_local(Version::V2, &mut v2);
        assert_eq!(v2, v2_fixed(0x20, 0x00, 0));
    }

    #[test]
    fn encode_appends_to_what_is_there() {
        let mut out = b"x".to_vec();
        encode(Version::V1, addr("1.2.3.4:5"), addr("6.7.8.9:10"), &mut out);
        assert_eq!(out, b"xPROXY TCP4 1.2.3.4 6.7.8.9 5 10\r\n");
    }

    #[test]
    fn round_trips_every_version_and_family() {
        let v4 = ("192.168.0.1:56324", "192.168.0.11:443");
        let v6 = ("[2001:db8::1]:1", "[fe80::1:2:3:4]:65535");
        let mixed = ("10.0.0.1:80", "[2001:db8::2]:8080");
        let mixed_as_v6 = ("[::ffff:10.0.0.1]:80", "[2001:db8::2]:8080");
        let reversed = ("[2001:db8::2]:8080", "10.0.0.1:0");
        let reversed_as_v6 = ("[2001:db8::2]:8080", "[::ffff:10.0.0.1]:0");
        let cases = [
            (v4, v4),
            (v6, v6),
            (mixed, mixed_as_v6),
            (reversed, reversed_as_v6),
        ];
        for version in [Version::V1, Version::V2] {
            for ((source, destination), (source_out, destination_out)) in cases {
                let mut bytes = encoded(version, source, destination);
                let length = bytes.len();
                bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
                assert_eq!(
                    parse(&bytes),
                    header(length, source_out, destination_out),
                    "{version:?} {source} {destination}"
                );
            }
        }
    }

    #[test]
    fn v1_parses_the_spec_examples() {
        let bytes = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(bytes),
            header(47, "192.168.0.1:56324", "192.168.0.11:443")
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), no_addresses(15));
        assert_eq!(
            parse(b"PROXY TCP6 2001:db8::1 2001:DB8:0:0:0:0:0:2 56324 443\r\n"),
            header(55, "[2001:db8::1]:56324", "[2001:db8::2]:443")
        );
    }

    #[test]
    fn v1_unknown_ignores_the_rest_of_its_line() {
        let line = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \
                     ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(line.len(), 107);
        assert_eq!(parse(line), no_addresses(107));
        assert_eq!(parse(b"PROXY UNKNOWN anything\r\nrest"), no_addresses(24));
        assert!(is_invalid(b"PROXY UNKNOWNX\r\n"));
    }

    #[test]
    fn v1_line_must_end_within_107_bytes() {
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(106, b'a');
        assert_eq!(parse(&line), Parsed::Incomplete);
        line.push(b'a');
        assert_eq!(
            parse(&line),
            Parsed::Invalid("v1 header has no CRLF in its first 107 bytes")
        );
        line.extend_from_slice(b"\r\n");
        assert!(is_invalid(&line));
    }

    #[test]
    fn v1_malformed_lines_are_invalid() {
        let cases: [&[u8]; 19] = [
            b"PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n",
            b"PROXY TCP6 192.168.0.1 192.168.0.11 1 2\r\n",
            b"PROXY TCP4 192.168.0.1  192.168.0.11 1 2\r\n",
            b"PROXY  TCP4 192.168.0.1 192.168.0.11 1 2\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 1 2 \r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 +1 443\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 000001 443\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 0443 443\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 1 \r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 1\r\n",
            b"PROXY TCP4 192.168.000.1 192.168.0.11 1 2\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 1 2\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 1 2\r\r\n",
            b"PROXY TCP5 192.168.0.1 192.168.0.11 1 2\r\n",
            b"PROXY tcp4 192.168.0.1 192.168.0.11 1 2\r\n",
            b"PROXY \r\n",
            b"PROXY UDP4",
        ];
        for case in cases {
            assert!(is_invalid(case), "{}", String::from_utf8_lossy(case));
        }
        assert_eq!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n"),
            header(36, "1.2.3.4:0", "5.6.7.8:65535")
        );
    }

    #[test]
    fn other_protocols_are_invalid() {
        for bytes in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PRI * HTTP/2.0\r\n",
            b"\x16\x03\x01\x02\x00",
            b"\r\n\r\nX",
            b"PROXZ",
            b"proxy ",
        ] {
            assert_eq!(parse(bytes), Parsed::Invalid("no PROXY protocol header"));
        }
    }

    #[test]
    fn v2_local_gives_no_addresses_whatever_its_family() {
        assert_eq!(parse(&v2_fixed(0x20, 0x00, 0)), no_addresses(16));
        let mut with_block = v2_fixed(0x20, 0x11, 12);
        with_block.extend_from_slice(&[1; 12]);
        assert_eq!(parse(&with_block), no_addresses(28));
        assert_eq!(parse(&v2_fixed(0x20, 0xff, 0)), no_addresses(16));
    }

    #[test]
    fn v2_skips_tlvs_and_leaves_the_relayed_bytes() {
        let mut bytes = v2_fixed(0x21, 0x11, 12 + 7);
        bytes.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0x1F, 0x90, 0x00, 0x50]);
        bytes.extend_from_slice(&[0x04, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]); // NOOP TLV
        bytes.extend_from_slice(b"payload");
        let parsed = parse(&bytes);
        assert_eq!(parsed, header(35, "10.0.0.1:8080", "10.0.0.2:80"));
        let Parsed::Header { length, .. } = parsed else {
            unreachable!()
        };
        assert_eq!(&bytes[length..], b"payload");
    }

    #[test]
    fn v2_reads_udp_and_accepts_families_it_does_not_read() {
        let mut udp = v2_fixed(0x21, 0x12, 12);
        udp.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0, 53, 0, 54]);
        assert_eq!(parse(&udp), header(28, "1.2.3.4:53", "5.6.7.8:54"));
        let mut unix = v2_fixed(0x21, 0x31, 216);
        unix.resize(16 + 216, 0);
        assert_eq!(parse(&unix), no_addresses(232));
        assert_eq!(parse(&v2_fixed(0x21, 0x00, 0)), no_addresses(16));
        assert_eq!(parse(&v2_fixed(0x21, 0x10, 0)), no_addresses(16));
    }

    #[test]
    fn v2_malformed_headers_are_invalid() {
        let mut inet_too_short = v2_fixed(0x21, 0x11, 8);
        inet_too_short.extend_from_slice(&[0; 8]);
        let mut inet6_too_short = v2_fixed(0x21, 0x21, 35);
        inet6_too_short.extend_from_slice(&[0; 35]);
        let cases = [
            v2_fixed(0x11, 0x11, 12),
            v2_fixed(0x31, 0x11, 12),
            v2_fixed(0x22, 0x11, 12),
            v2_fixed(0x2f, 0x00, 0),
            v2_fixed(0x21, 0x41, 12),
            v2_fixed(0x21, 0x13, 12),
            inet_too_short.clone(),
            inet6_too_short,
        ];
        for case in &cases {
            assert!(is_invalid(case), "{case:x?}");
        }
        // Known invalid as soon as the fixed part is in.
        assert!(is_invalid(&inet_too_short[..16]));
        assert!(is_invalid(&v2_fixed(0x11, 0x11, 12)[..13]));
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        for sample in samples() {
            assert!(
                matches!(parse(&sample), Parsed::Header { length, .. } if length == sample.len())
            );
            for end in 0..sample.len() {
                assert_eq!(
                    parse(&sample[..end]),
                    Parsed::Incomplete,
                    "{sample:x?} cut at {end}"
                );
            }
        }
    }

    #[test]
    fn incomplete_until_the_declared_length_is_in() {
        let mut bytes = v2_fixed(0x21, 0x00, 65_535);
        bytes.resize(MAX_HEADER - 1, 0);
        assert_eq!(parse(&bytes), Parsed::Incomplete);
        bytes.push(0);
        assert_eq!(parse(&bytes), no_addresses(MAX_HEADER));
    }

    /// What must hold whatever the bytes: a header lies within them and is read the same
    /// from its own bytes.
    fn check_consistent(bytes: &[u8]) {
        if let Parsed::Header { length, .. } = parse(bytes) {
            assert!(length <= bytes.len() && length <= MAX_HEADER, "{bytes:x?}");
            assert_eq!(parse(&bytes[..length]), parse(bytes), "{bytes:x?}");
        }
    }

    #[test]
    fn mutations_and_truncations_never_panic() {
        for sample in samples() {
            for end in 0..=sample.len() {
                check_consistent(&sample[..end]);
            }
            for at in 0..sample.len() {
                for value in 0..=u8::MAX {
                    let mut mutated = sample.clone();
                    mutated[at] = value;
                    check_consistent(&mutated);
                    mutated.extend_from_slice(b"\r\n\r\n");
                    check_consistent(&mutated);
                }
            }
        }
    }
}
