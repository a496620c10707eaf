//! A listener's TLS server side: its certificates by server name, ALPN (`h2`,
//! `http/1.1`), session resumption that works on every worker, client certificates when
//! asked for, and reloading the files without a restart — a pair that cannot be used is
//! refused and the one in use keeps serving.

use super::failure::HandshakeFailure;
use super::files::{FileError, read_pair, read_roots};
use super::names::ByName;
use super::reloading::{
    Build, CertificateStatus, Reload, Reloaded, Reloading, TlsError, TlsStatus,
};
use crate::config::model::{ListenerTlsConfig, TlsVersion};
use rustls::HandshakeKind;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{
    ProducesTickets, ServerConfig, ServerSessionMemoryCache, StoresServerSessions,
};
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

/// TLS 1.2 session IDs remembered (shared by every worker).
const SESSIONS: usize = 4096;
/// What new handshakes use: the server configuration, and the verifier of client
/// certificates in it.
pub struct Serving {
    /// For the handshake.
    pub config: Arc<ServerConfig>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
}

/// A listener's TLS server side.
pub struct Terminator {
    material: Reloading<Sources>,
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
            error: FileError::new(
                Path::new(""),
                format!("cannot make session ticket keys: {e}"),
            ),
        })?;
        let sources = Sources {
            keys: keys.to_string(),
            settings: settings.clone(),
            provider: super::provider(),
            tickets,
            sessions: ServerSessionMemoryCache::new(SESSIONS),
        };
        Ok(Self {
            material: Reloading::new(format!("listener {listener:?}"), sources)?,
            failures: Default::default(),
        })
    }

    /// What new handshakes use.
    pub fn serving(&self) -> Arc<Serving> {
        self.material.built()
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
        let Some(verifier) = self.material.built().verifier.clone() else {
            return Ok(None);
        };
        match verifier.verify_client_cert(leaf, intermediates, UnixTime::now()) {
            Ok(_) => Ok(Some(leaf)),
            Err(_) => Err(HandshakeFailure::BadClientCertificate),
        }
    }

    /// What it has loaded, and its last failure.
    pub fn status(&self) -> TlsStatus {
        self.material.status()
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

impl Reload for Terminator {
    fn files(&self) -> Vec<PathBuf> {
        self.material.files()
    }

    fn reload(&self) -> Reloaded {
        self.material.reload()
    }
}

impl Build for Sources {
    type Built = Serving;

    /// A server configuration from the files, and what it serves.
    fn build(&self) -> Result<(Serving, Vec<CertificateStatus>), TlsError> {
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
        };
        Ok((serving, certificates))
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
}

impl Sources {
    /// `error` under the configuration key `key` of this listener's TLS.
    fn error(&self, key: &str, error: FileError) -> TlsError {
        TlsError::at(&self.keys, key, error)
    }

    /// `error` reading the pair whose key file is `key`, under `at` (`""` or
    /// `certificates[N].`): named by the file at fault.
    fn pair_error(&self, at: &str, key: &std::path::Path, error: FileError) -> TlsError {
        let which = if error.file == key { "key" } else { "cert" };
        self.error(&format!("{at}{which}"), error)
    }

    /// An error about `file` under the key `key`, with `reason`.
    fn refuse(&self, key: &str, file: &std::path::Path, reason: String) -> TlsError {
        self.error(key, FileError::new(file, reason))
    }
}
