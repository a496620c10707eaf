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

/// The largest certificate, key or CA file read (a system CA bundle is ~200 KiB).
const MAX_FILE_BYTES: u64 = 4 << 20;

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
    /// `file` cannot be used, for `reason`.
    pub(crate) fn new(file: &Path, reason: impl Into<String>) -> Self {
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
    let der = PrivateKeyDer::from_pem_slice(&read_file(key)?)
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
    let chain = CertificateDer::pem_slice_iter(&read_file(path)?)
        .collect::<Result<Vec<_>, _>>()
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

/// The contents of `path`: a regular file (not a pipe or a device, which could keep
/// a reload waiting forever) of at most [`MAX_FILE_BYTES`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, FileError> {
    let cannot = |e: std::io::Error| FileError::new(path, format!("cannot read: {e}"));
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        return Err(FileError::new(path, "not a regular file"));
    }
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).map_err(cannot)?;
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_FILE_BYTES + 1),
        &mut bytes,
    )
    .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let reason = format!("larger than {} MiB", MAX_FILE_BYTES >> 20);
        return Err(FileError::new(path, reason));
    }
    Ok(bytes)
}

/// An error reading PEM as words, never quoting the file: a malformed block's text may
/// be a private key.
fn pem_reason(error: pem::Error, wanted: &str) -> String {
    let why = match error {
        pem::Error::NoItemsFound => return format!("no {wanted} block in it"),
        pem::Error::MissingSectionEnd { .. } => "a BEGIN line without its END line",
        pem::Error::IllegalSectionStart { .. } => "a malformed BEGIN line",
        pem::Error::Base64Decode(_) => "a block that is not valid base64",
        pem::Error::SectionTooLarge => "a block too large",
        _ => "unreadable",
    };
    format!("not valid PEM: {why}")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sy-files-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_malformed_key_is_refused_without_quoting_it() {
        let dir = temp_dir("flat");
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        // A key pasted on one line: its whole text would be the "section name".
        let path = dir.join("flat.key");
        std::fs::write(&path, key.replace('\n', " ")).unwrap();
        let error = PrivateKeyDer::from_pem_slice(&read_file(&path).unwrap()).unwrap_err();
        let reason = pem_reason(error, "PRIVATE KEY");
        let body = key.lines().nth(1).unwrap();
        assert!(!reason.contains(&body[..16]), "{reason}");
        assert_eq!(reason, "not valid PEM: a BEGIN line without its END line");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_regular_files_of_a_bounded_size_are_read() {
        let dir = temp_dir("kinds");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        for path in [&dir, &fifo] {
            let error = read_file(path).unwrap_err();
            assert_eq!(error.reason, "not a regular file", "{}", path.display());
        }
        let large = dir.join("large.pem");
        std::fs::write(&large, vec![b'a'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert_eq!(read_file(&large).unwrap_err().reason, "larger than 4 MiB");
        let missing = read_file(&dir.join("missing")).unwrap_err();
        assert!(missing.reason.starts_with("cannot read: "), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
