//! A listener's TLS server side: its certificates by server name, ALPN (`h2`,
//! `http/1.1`), session resumption that works on every worker, client certificates when
//! asked for, and reloading the files without a restart — a pair that cannot be used is
//! refused and the one in use keeps serving.

use super::failure::HandshakeFailure;
use super::files::{CertificateInfo, FileError, read_pair, read_roots};
use super::names::ByName;
use crate::config::model::{ListenerTlsConfig, TlsVersion};
use arc_swap::ArcSwap;
use rustls::HandshakeKind;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{
    ProducesTickets, ServerConfig, ServerSessionMemoryCache, StoresServerSessions,
};
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// TLS 1.2 session IDs remembered (shared by every worker).
const SESSIONS: usize = 4096;
/// How long a key that does not match its certificate is taken for a pair being
/// replaced one file at a time, before it is refused.
const PAIR_WAIT: Duration = Duration::from_secs(10);

/// A file that cannot be used, with the configuration key that names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {error}")]
pub struct TlsError {
    /// The key path, such as `listeners[0].tls.cert`.
    pub key: String,
    /// The file and the reason.
    pub error: FileError,
}

/// One certificate a listener serves, as loaded.
#[derive(Debug, Clone)]
pub struct CertificateStatus {
    /// Its chain's file.
    pub file: PathBuf,
    /// The names it is chosen for (empty: the default only).
    pub server_names: Vec<String>,
    /// What it says about itself.
    pub info: CertificateInfo,
}

/// What a listener's TLS has loaded, and its last failure.
#[derive(Debug, Clone, Default)]
pub struct TlsStatus {
    /// The certificates serving now.
    pub certificates: Vec<CertificateStatus>,
    /// Why the last reload was refused, if it was (cleared by a good one).
    pub last_error: Option<String>,
    /// When the certificates serving now were loaded.
    pub loaded_at: Option<SystemTime>,
}

/// What new handshakes use: the server configuration, and the verifier of client
/// certificates in it.
pub struct Serving {
    /// For the handshake.
    pub config: Arc<ServerConfig>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    /// Of the files' contents, to tell a change from a touch.
    fingerprint: [u8; 32],
}

/// What a reload did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The files were read and are used for new handshakes.
    Loaded,
    /// The files hold what is serving already.
    Unchanged,
    /// A key does not match its certificate, perhaps only for the moment: try again
    /// soon.
    Waiting,
    /// The files cannot be used; the certificates in use keep serving.
    Refused(TlsError),
}

/// A listener's TLS server side.
pub struct Terminator {
    listener: String,
    sources: Sources,
    serving: ArcSwap<Serving>,
    /// Also held while a reload reads the files, so that reloads take turns.
    status: Mutex<(TlsStatus, Option<Instant>)>,
    failures: [AtomicU64; HandshakeFailure::ALL.len()],
}

/// What a listener's server configuration is built from.
struct Sources {
    /// Prefix of the configuration keys, such as `listeners[0].tls`.
    keys: String,
    settings: ListenerTlsConfig,
    provider: Arc<CryptoProvider>,
    /// Kept across reloads, so that sessions resume after one.
    tickets: Arc<dyn ProducesTickets>,
    sessions: Arc<dyn StoresServerSessions>,
}

impl Terminator {
    /// Reads the listener's certificates, keys and client CA (configuration keys under
    /// `keys`); fails on the first that cannot be used.
    pub fn new(listener: &str, keys: &str, settings: &ListenerTlsConfig) -> Result<Self, TlsError> {
        let tickets = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| TlsError {
            key: keys.to_string(),
            error: FileError {
                file: PathBuf::new(),
                reason: format!("cannot make session ticket keys: {e}"),
                mismatch: false,
            },
        })?;
        let sources = Sources {
            keys: keys.to_string(),
            settings: settings.clone(),
            provider: super::provider(),
            tickets,
            sessions: ServerSessionMemoryCache::new(SESSIONS),
        };
        let (serving, certificates) = sources.build(sources.fingerprint())?;
        Ok(Self {
            listener: listener.to_string(),
            sources,
            serving: ArcSwap::from_pointee(serving),
            status: Mutex::new((loaded(certificates), None)),
            failures: Default::default(),
        })
    }

    /// What new handshakes use.
    pub fn serving(&self) -> Arc<Serving> {
        self.serving.load_full()
    }

    /// The client certificate of a finished handshake, as the proxy vouches for it
    /// now. A resumed session's certificate was verified when the session began: it is
    /// verified again, with the client CA in use now and at today's date, so that
    /// resumption outlives neither a CA taken out of `client_ca` nor the certificate's
    /// expiry (`Err`: it no longer verifies; `Ok(None)`: no certificate, or client
    /// certificates are no longer asked for).
    pub fn client_certificate<'a>(
        &self,
        session: &'a ServerConnection,
    ) -> Result<Option<&'a CertificateDer<'static>>, HandshakeFailure> {
        let Some((leaf, intermediates)) = session.peer_certificates().and_then(|c| c.split_first())
        else {
            return Ok(None);
        };
        if session.handshake_kind() != Some(HandshakeKind::Resumed) {
            return Ok(Some(leaf));
        }
        let Some(verifier) = self.serving.load().verifier.clone() else {
            return Ok(None);
        };
        match verifier.verify_client_cert(leaf, intermediates, UnixTime::now()) {
            Ok(_) => Ok(Some(leaf)),
            Err(_) => Err(HandshakeFailure::BadClientCertificate),
        }
    }

    /// Every file it reads, to be watched.
    pub fn files(&self) -> Vec<PathBuf> {
        self.sources.files()
    }

    /// Reads the files again and uses them for new handshakes; connections already
    /// open keep theirs. A refusal is logged once (file and reason).
    pub fn reload(&self) -> Reloaded {
        let mut guard = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let (status, waiting) = &mut *guard;
        let fingerprint = self.sources.fingerprint();
        if fingerprint == self.serving.load().fingerprint {
            *waiting = None;
            status.last_error = None;
            return Reloaded::Unchanged;
        }
        match self.sources.build(fingerprint) {
            Ok((serving, certificates)) => {
                self.serving.store(Arc::new(serving));
                *status = loaded(certificates);
                *waiting = None;
                tracing::info!(listener = %self.listener, "TLS certificates loaded");
                Reloaded::Loaded
            }
            Err(e) if e.error.mismatch && waiting.is_none_or(|t| t.elapsed() < PAIR_WAIT) => {
                waiting.get_or_insert_with(Instant::now);
                Reloaded::Waiting
            }
            Err(e) => {
                *waiting = None;
                let text = e.to_string();
                if status.last_error.as_ref() != Some(&text) {
                    tracing::warn!(
                        listener = %self.listener,
                        "TLS certificates refused, the ones in use keep serving: {text}"
                    );
                    status.last_error = Some(text);
                }
                Reloaded::Refused(e)
            }
        }
    }

    /// What it has loaded, and its last failure.
    pub fn status(&self) -> TlsStatus {
        let guard = self.status.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.clone()
    }

    /// Counts a failed handshake.
    pub fn count(&self, failure: HandshakeFailure) {
        self.failures[failure as usize].fetch_add(1, Relaxed);
    }

    /// Handshakes failed for `reason` so far.
    pub fn failures(&self, reason: HandshakeFailure) -> u64 {
        self.failures[reason as usize].load(Relaxed)
    }
}

impl Sources {
    /// A server configuration from the files, and what it serves.
    /// (`fingerprint` is that of the files' contents now.)
    fn build(&self, fingerprint: [u8; 32]) -> Result<(Serving, Vec<CertificateStatus>), TlsError> {
        let s = &self.settings;
        let now = SystemTime::now();
        let mut names = ByName::default();
        let mut certificates = Vec::new();
        let default = match (&s.cert, &s.key) {
            (Some(cert), Some(key)) => {
                let pair = read_pair(cert, key, &self.provider, now)
                    .map_err(|e| self.pair_error("", key, e))?;
                names.set_default(&pair.key);
                certificates.push(CertificateStatus {
                    file: cert.clone(),
                    server_names: Vec::new(),
                    info: pair.info.clone(),
                });
                Some(pair)
            }
            _ => None,
        };
        for (i, entry) in s.certificates.iter().enumerate() {
            let pair = read_pair(&entry.cert, &entry.key, &self.provider, now)
                .map_err(|e| self.pair_error(&format!("certificates[{i}]."), &entry.key, e))?;
            let served = if entry.server_names.is_empty() {
                &pair.info.names
            } else {
                &entry.server_names
            };
            names.add(served, &pair.key);
            if certificates.is_empty() {
                names.set_default(&pair.key);
            }
            certificates.push(CertificateStatus {
                file: entry.cert.clone(),
                server_names: served.clone(),
                info: pair.info,
            });
        }
        // The names given explicitly first: they win over those the default certificate
        // carries.
        if let Some(pair) = &default {
            names.add(&pair.info.names, &pair.key);
        }
        let versions: &[&'static rustls::SupportedProtocolVersion] = match s.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(versions)
            .map_err(|e| self.refuse("min_version", Path::new(""), e.to_string()))?;
        let mut verifier = None;
        let builder = match &s.client_ca {
            Some(ca) => {
                let roots = read_roots(ca).map_err(|e| self.error("client_ca", e))?;
                let client_verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&self.provider),
                )
                .build()
                .map_err(|e| {
                    self.refuse(
                        "client_ca",
                        ca,
                        format!("cannot verify clients with it: {e}"),
                    )
                })?;
                verifier = Some(Arc::clone(&client_verifier));
                builder.with_client_cert_verifier(client_verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(Arc::new(names));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.ticketer = Arc::clone(&self.tickets);
        config.session_storage = Arc::clone(&self.sessions);
        let serving = Serving {
            config: Arc::new(config),
            verifier,
            fingerprint,
        };
        Ok((serving, certificates))
    }

    /// A digest of every file's contents (or of why it cannot be read).
    fn fingerprint(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        for file in self.files() {
            match std::fs::read(&file) {
                Ok(bytes) => digest.update(&bytes),
                Err(e) => digest.update(e.to_string().as_bytes()),
            }
            digest.update([0]);
        }
        digest.finalize().into()
    }

    /// Every file it reads.
    fn files(&self) -> Vec<PathBuf> {
        let s = &self.settings;
        let pairs = s
            .certificates
            .iter()
            .flat_map(|c| [c.cert.clone(), c.key.clone()]);
        [s.cert.clone(), s.key.clone(), s.client_ca.clone()]
            .into_iter()
            .flatten()
            .chain(pairs)
            .collect()
    }

    /// `error` under the configuration key `key` of this listener's TLS.
    fn error(&self, key: &str, error: FileError) -> TlsError {
        TlsError {
            key: format!("{}.{key}", self.keys),
            error,
        }
    }

    /// `error` reading the pair whose key file is `key`, under `at` (`""` or
    /// `certificates[N].`): named by the file at fault.
    fn pair_error(&self, at: &str, key: &std::path::Path, error: FileError) -> TlsError {
        let which = if error.file == key { "key" } else { "cert" };
        self.error(&format!("{at}{which}"), error)
    }

    /// An error about `file` under the key `key`, with `reason`.
    fn refuse(&self, key: &str, file: &std::path::Path, reason: String) -> TlsError {
        let error = FileError {
            file: file.to_path_buf(),
            reason,
            mismatch: false,
        };
        self.error(key, error)
    }
}

/// The status of certificates loaded just now.
fn loaded(certificates: Vec<CertificateStatus>) -> TlsStatus {
    TlsStatus {
        certificates,
        last_error: None,
        loaded_at: Some(SystemTime::now()),
    }
}
