//! Reading certificates and keys from PEM files, and what a certificate says about
//! itself (names, validity). Every error names the file and the reason.

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a certificate, key or CA file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", file.display())]
pub struct FileError {
    /// The file at fault (the key's, for a key that does not match its certificate).
    pub file: PathBuf,
    /// What is wrong with it.
    pub reason: String,
    /// The key does not match the certificate: perhaps only one of the pair has been
    /// replaced yet.
    pub mismatch: bool,
}

impl FileError {
    fn new(file: &Path, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            reason: reason.into(),
            mismatch: false,
        }
    }
}

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Its DNS and IP subject alternative names (its subject's common name when it has
    /// none).
    pub names: Vec<String>,
    /// The end of its validity.
    pub not_after: SystemTime,
}

/// A certificate chain with its key, checked: the key matches the leaf, and the leaf is
/// valid now.
pub(crate) struct Pair {
    pub(crate) key: Arc<CertifiedKey>,
    pub(crate) info: CertificateInfo,
}

/// Reads the chain in `cert` (leaf first) and the private key in `key` (PKCS#8, SEC1 or
/// PKCS#1), and checks that they belong together and that the leaf is valid at `now`.
pub(crate) fn read_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
    now: SystemTime,
) -> Result<Pair, FileError> {
    let chain = read_certificates(cert)?;
    let info = certificate_info(&chain[0]).map_err(|reason| FileError::new(cert, reason))?;
    check_validity(&chain[0], now).map_err(|reason| FileError::new(cert, reason))?;
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| FileError::new(key, pem_reason(e, "PRIVATE KEY")))?;
    let certified = CertifiedKey::from_der(chain, der, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => FileError {
            file: key.to_path_buf(),
            reason: format!("does not match the certificate in {}", cert.display()),
            mismatch: true,
        },
        e => FileError::new(key, format!("unusable private key: {e}")),
    })?;
    Ok(Pair {
        key: Arc::new(certified),
        info,
    })
}

/// The certificates in the PEM file `path`, in order; at least one.
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, FileError> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| FileError::new(path, pem_reason(e, "CERTIFICATE")))?;
    if chain.is_empty() {
        return Err(FileError::new(path, "no CERTIFICATE block in it"));
    }
    for der in &chain {
        X509Certificate::from_der(der)
            .map_err(|e| FileError::new(path, format!("not a valid X.509 certificate: {e}")))?;
    }
    Ok(chain)
}

/// The certificates in the PEM file `path` as trusted roots.
pub(crate) fn read_roots(path: &Path) -> Result<RootCertStore, FileError> {
    let mut roots = RootCertStore::empty();
    for der in read_certificates(path)? {
        let usable = roots.add(der);
        usable.map_err(|e| FileError::new(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// An error reading PEM as words: the I/O error as it is, else what was looked for.
fn pem_reason(error: pem::Error, wanted: &str) -> String {
    match error {
        pem::Error::Io(e) => format!("cannot read: {e}"),
        pem::Error::NoItemsFound => format!("no {wanted} block in it"),
        e => format!("not valid PEM: {e:?}"),
    }
}

/// Names and the end of validity of the certificate `der`.
fn certificate_info(der: &CertificateDer<'_>) -> Result<CertificateInfo, String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_ascii_lowercase()),
                GeneralName::IPAddress(ip) => {
                    if let Some(ip) = ip_address(ip) {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    if names.is_empty() {
        let common = cert.subject().iter_common_name().next();
        if let Some(cn) = common.and_then(|cn| cn.as_str().ok()) {
            names.push(cn.to_ascii_lowercase());
        }
    }
    Ok(CertificateInfo {
        names,
        not_after: time_of(cert.validity().not_after.timestamp()),
    })
}

/// The address in a SAN's `iPAddress` bytes.
fn ip_address(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => Some(<[u8; 4]>::try_from(bytes).ok()?.into()),
        16 => Some(<[u8; 16]>::try_from(bytes).ok()?.into()),
        _ => None,
    }
}

/// Fails when `der` is not valid at `now` (expired, or not yet valid).
fn check_validity(der: &CertificateDer<'_>, now: SystemTime) -> Result<(), String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
    let validity = cert.validity();
    let (from, until) = (
        time_of(validity.not_before.timestamp()),
        time_of(validity.not_after.timestamp()),
    );
    if now > until {
        return Err(format!(
            "expired at {}",
            humantime::format_rfc3339_seconds(until)
        ));
    }
    if now < from {
        return Err(format!(
            "not valid until {}",
            humantime::format_rfc3339_seconds(from)
        ));
    }
    Ok(())
}

/// Seconds since the epoch as a time (before it: the epoch).
fn time_of(seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}
