//! An IP address as text, as `Display` writes it, held inline: what forwarding headers
//! and client-IP hashing need, with neither an allocation nor the formatter for IPv4.

use std::io::Write;
use std::net::IpAddr;

/// The longest IP address as text (IPv6 with an embedded IPv4 address).
const MAX: usize = 45;

/// See the module's doc.
#[derive(Clone, Copy, Debug)]
pub struct IpText {
    text: [u8; MAX],
    len: u8,
}

impl IpText {
    /// `ip` as text.
    pub fn of(ip: IpAddr) -> Self {
        let mut text = [0u8; MAX];
        let len = match ip {
            IpAddr::V4(v4) => {
                let mut len = 0;
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        text[len] = b'.';
                        len += 1;
                    }
                    if octet >= 100 {
                        text[len] = b'0' + octet / 100;
                        len += 1;
                    }
                    if octet >= 10 {
                        text[len] = b'0' + octet / 10 % 10;
                        len += 1;
                    }
                    text[len] = b'0' + octet % 10;
                    len += 1;
                }
                len
            }
            IpAddr::V6(v6) => {
                let mut rest = &mut text[..];
                write!(rest, "{v6}").expect("an IPv6 address's text fits in 45 bytes");
                MAX - rest.len()
            }
        };
        Self {
            text,
            len: len as u8,
        }
    }

    /// The text's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text[..usize::from(self.len)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_what_display_writes() {
        for ip in [
            "0.0.0.0",
            "10.20.3.255",
            "255.255.255.255",
            "::1",
            "2001:db8::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::of(ip).as_bytes(), ip.to_string().as_bytes());
        }
    }
}
