//! Choosing a listener's certificate by the server name a client asks for (SNI).

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

/// A listener's certificates by name: exact names first, then `*.` wildcards for one
/// label, then the default (for a client that sends no name, or one none has).
#[derive(Debug, Default)]
pub(crate) struct ByName {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// By the suffix after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl ByName {
    /// Serves `key` for each of `names` (an earlier entry keeps a name it has).
    pub(crate) fn add(&mut self, names: &[String], key: &Arc<CertifiedKey>) {
        for name in names {
            let name = name.to_ascii_lowercase();
            let (table, name) = match name.strip_prefix("*.") {
                Some(suffix) => (&mut self.wildcard, suffix.to_string()),
                None => (&mut self.exact, name),
            };
            table.entry(name).or_insert_with(|| Arc::clone(key));
        }
    }

    /// Serves `key` when nothing else fits.
    pub(crate) fn set_default(&mut self, key: &Arc<CertifiedKey>) {
        self.default = Some(Arc::clone(key));
    }

    /// The certificate for `name`.
    fn find(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let found = name.and_then(|name| {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            self.exact.get(&name).or_else(|| {
                let (_, parent) = name.split_once('.')?;
                self.wildcard.get(parent)
            })
        });
        found.or(self.default.as_ref()).cloned()
    }
}

impl ResolvesServerCert for ByName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.find(hello.server_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;

    fn key(tag: u8) -> Arc<CertifiedKey> {
        let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(
            &rcgen::KeyPair::generate()
                .unwrap()
                .serialize_der()
                .try_into()
                .unwrap(),
        )
        .unwrap();
        Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(vec![tag])],
            signer,
        ))
    }

    fn tag(found: Option<Arc<CertifiedKey>>) -> Option<u8> {
        found.map(|k| k.cert[0][0])
    }

    #[test]
    fn exact_names_then_one_label_wildcards_then_the_default() {
        let mut names = ByName::default();
        names.add(&["api.example.com".into()], &key(1));
        names.add(&["*.example.com".into()], &key(2));
        assert_eq!(tag(names.find(Some("API.example.com."))), Some(1));
        assert_eq!(tag(names.find(Some("www.example.com"))), Some(2));
        assert_eq!(tag(names.find(Some("a.b.example.com"))), None);
        assert_eq!(tag(names.find(Some("example.com"))), None);
        assert_eq!(tag(names.find(None)), None);
        names.set_default(&key(3));
        assert_eq!(tag(names.find(Some("example.com"))), Some(3));
        assert_eq!(tag(names.find(None)), Some(3));
    }
}
