//! A verified client certificate as the endpoints see it: an
//! `X-Forwarded-Client-Cert` element in Envoy's format.

use http::{HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use std::fmt::Write;
use x509_parser::extensions::GeneralName;
use x509_parser::objects::{oid_registry, oid2abbrev};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// The header that carries client certificates' details to endpoints.
pub const X_FORWARDED_CLIENT_CERT: HeaderName = HeaderName::from_static("x-forwarded-client-cert");

/// A client whose certificate the listener verified: its `X-Forwarded-Client-Cert`
/// element, made once per connection.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    element: HeaderValue,
}

impl ClientIdentity {
    /// The identity in the leaf certificate `der`: `Hash` (SHA-256 of the DER, in
    /// hex), `Subject`, and each `URI` and `DNS` subject alternative name.
    pub fn of(der: &CertificateDer<'_>) -> Option<Self> {
        let mut element = String::from("Hash=");
        for byte in Sha256::digest(der.as_ref()) {
            let _ = write!(element, "{byte:02x}");
        }
        if let Ok((_, cert)) = X509Certificate::from_der(der) {
            element.push_str(";Subject=");
            push_quoted(&mut element, &rfc4514(cert.subject()));
            if let Ok(Some(san)) = cert.subject_alternative_name() {
                for name in &san.value.general_names {
                    let (key, value) = match name {
                        GeneralName::URI(uri) => ("URI", uri),
                        GeneralName::DNSName(dns) => ("DNS", dns),
                        _ => continue,
                    };
                    let _ = write!(element, ";{key}=");
                    push_value(&mut element, value);
                }
            }
        }
        // Names this long are not an identity anyone routes on: the hash is. The
        // escaping leaves only printable ASCII; should anything else get through, the
        // hash alone is kept, so that every path can write the element as text.
        let printable = element.bytes().all(|b| (0x20..0x7f).contains(&b));
        if element.len() > MAX_ELEMENT || !printable {
            element.truncate(element.find(";Subject=").unwrap_or(element.len()));
        }
        let element = HeaderValue::from_str(&element).ok()?;
        Some(Self { element })
    }

    /// This client's element (printable ASCII).
    pub fn element(&self) -> &HeaderValue {
        &self.element
    }
}

/// The longest element, in bytes; a longer one loses its names and keeps its hash.
const MAX_ELEMENT: usize = 4096;

/// `name` as RFC 4514 writes it, as Envoy does: the last RDN first, `TYPE=value`, with
/// `,+"\<>;=`, a leading `#` or space and a trailing space escaped by `\`, and every
/// byte outside printable ASCII as `\XX` — so that no value can pass for another
/// attribute. A value that is not a string is `#` and its DER bytes in hex.
fn rfc4514(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    let rdns: Vec<_> = name.iter_rdn().collect();
    for (i, rdn) in rdns.into_iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attribute) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attribute.attr_type();
            match oid2abbrev(oid, oid_registry()) {
                Ok(abbreviation) => out.push_str(abbreviation),
                Err(_) => out.push_str(&oid.to_id_string()),
            }
            out.push('=');
            match attribute.as_str() {
                Ok(value) => escape_value(&mut out, value),
                Err(_) => {
                    out.push('#');
                    for byte in attribute.as_slice() {
                        let _ = write!(out, "{byte:02x}");
                    }
                }
            }
        }
    }
    out
}

/// Appends an attribute value with RFC 4514's escapes (and non-ASCII as `\XX`).
fn escape_value(out: &mut String, value: &str) {
    let last = value.len().saturating_sub(1);
    for (i, byte) in value.bytes().enumerate() {
        let special = b",+\"\\<>;=".contains(&byte)
            || (i == 0 && (byte == b'#' || byte == b' '))
            || (i == last && byte == b' ');
        if special {
            out.push('\\');
            out.push(char::from(byte));
        } else if byte.is_ascii_graphic() || byte == b' ' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "\\{byte:02X}");
        }
    }
}

/// Appends `value`, quoted if it holds a character that separates XFCC's parts, and
/// every byte outside printable ASCII as `%XX` (a policy reads the header as text).
fn push_value(out: &mut String, value: &str) {
    if value.contains([',', ';', '=', '"', ' ']) {
        push_quoted(out, value);
    } else {
        for byte in value.bytes() {
            if byte.is_ascii_graphic() {
                out.push(char::from(byte));
            } else {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
}

/// Appends `value` as a quoted string: `"` and `\` escaped, bytes outside printable
/// ASCII as `%XX`.
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for byte in value.bytes() {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            b' ' => out.push(' '),
            _ if byte.is_ascii_graphic() => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_element_names_the_hash_subject_and_alternative_names() {
        let mut params = rcgen::CertificateParams::new(vec!["client.test".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Team \"A\", east");
        params.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://example.org/team-a".try_into().unwrap(),
        ));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let identity = ClientIdentity::of(cert.der()).unwrap();
        let element = identity.element().to_str().unwrap();
        let hash: String = Sha256::digest(cert.der().as_ref())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            element.starts_with(&format!("Hash={hash};Subject=\"")),
            "{element}"
        );
        // Escaped twice: RFC 4514 in the name, then the quoted string.
        assert!(
            element.contains(r#"Subject="CN=Team \\\"A\\\"\\, east""#),
            "{element}"
        );
        assert!(element.contains(";DNS=client.test"), "{element}");
        assert!(
            element.ends_with(";URI=spiffe://example.org/team-a"),
            "{element}"
        );
    }

    #[test]
    fn a_subject_cannot_forge_another_attribute() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Real");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "x, O=admins é");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let identity = ClientIdentity::of(cert.der()).unwrap();
        let element = identity.element().to_str().unwrap();
        // rcgen writes the attributes in an order of its own; RFC 4514 reverses it.
        let subject = element.split_once(";Subject=").unwrap().1;
        assert!(
            [
                r#""O=Real,CN=x\\, O\\=admins \\C3\\A9""#,
                r#""CN=x\\, O\\=admins \\C3\\A9,O=Real""#
            ]
            .contains(&subject),
            "{element}"
        );
    }
}
