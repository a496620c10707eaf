//! A verified client certificate as the endpoints see it: an
//! `X-Forwarded-Client-Cert` element in Envoy's format.

use http::{HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use std::fmt::Write;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

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
            push_quoted(&mut element, &cert.subject().to_string());
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
        let element = HeaderValue::from_str(&element).ok()?;
        Some(Self { element })
    }

    /// This client's element.
    pub fn element(&self) -> &HeaderValue {
        &self.element
    }
}

/// Appends `value`, quoted if it holds a character that separates XFCC's parts.
fn push_value(out: &mut String, value: &str) {
    if value.contains([',', ';', '=', '"', ' ']) {
        push_quoted(out, value);
    } else {
        out.extend(value.chars().filter(|c| !c.is_control()));
    }
}

/// Appends `value` as a quoted string: `"` and `\` escaped, control characters left
/// out (they cannot be in a header).
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
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
        assert!(element.contains(r#"CN=Team \"A\", east"#), "{element}");
        assert!(element.contains(";DNS=client.test"), "{element}");
        assert!(
            element.ends_with(";URI=spiffe://example.org/team-a"),
            "{element}"
        );
    }
}
