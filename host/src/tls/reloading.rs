//! TLS material built from files and built again when they change: a listener's server
//! side, a cluster's client side. A reload that cannot use the files is refused with
//! one log line (file and reason) and what was built before stays in use; a key that
//! does not match its certificate is waited for a while (a pair replaced one file at a
//! time); files that hold what is in use already change nothing.

use super::files::{CertificateInfo, FileError, read_file};
use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

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

impl TlsError {
    /// `error` under the configuration key `KEYS.KEY` (such as `listeners[0].tls` and
    /// `cert`).
    pub(crate) fn at(keys: &str, key: &str, error: FileError) -> Self {
        Self {
            key: format!("{keys}.{key}"),
            error,
        }
    }
}

/// One certificate loaded: a listener's to serve, or a cluster's client certificate.
#[derive(Debug, Clone)]
pub struct CertificateStatus {
    /// Its chain's file.
    pub file: PathBuf,
    /// The names a listener chooses it for (empty: the default only, or a client's).
    pub server_names: Vec<String>,
    /// What it says about itself.
    pub info: CertificateInfo,
}

/// What a listener's or a cluster's TLS has loaded, and its last failure.
#[derive(Debug, Clone, Default)]
pub struct TlsStatus {
    /// The certificates in use now.
    pub certificates: Vec<CertificateStatus>,
    /// Why the last reload was refused, if it was (cleared by a good one).
    pub last_error: Option<String>,
    /// When the certificates in use now were loaded.
    pub loaded_at: Option<SystemTime>,
}

/// What a reload did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The files were read and are used for new handshakes.
    Loaded,
    /// The files hold what is in use already.
    Unchanged,
    /// A key does not match its certificate, perhaps only for the moment: try again
    /// soon.
    Waiting,
    /// The files cannot be used; what was loaded before stays in use.
    Refused(TlsError),
}

/// Something whose TLS files can be read again: what the certificate watcher reloads.
pub trait Reload: Send + Sync {
    /// Every file it reads, to be watched.
    fn files(&self) -> Vec<PathBuf>;
    /// Reads the files again; new handshakes use what they hold, connections already
    /// open keep theirs.
    fn reload(&self) -> Reloaded;
}

/// How TLS material is built from files.
pub(crate) trait Build {
    /// What is built: a server or a client configuration.
    type Built;
    /// Every file it reads.
    fn files(&self) -> Vec<PathBuf>;
    /// Builds it from the files, with the certificates it loaded.
    fn build(&self) -> Result<(Self::Built, Vec<CertificateStatus>), TlsError>;
}

/// TLS material built by `B`, kept up to date with its files by [`Reloading::reload`].
pub(crate) struct Reloading<B: Build> {
    /// Whose it is, for the log: `listener "edge"`, `cluster "api"`.
    owner: String,
    builder: B,
    built: ArcSwap<B::Built>,
    /// How many times it was built again.
    generation: AtomicU64,
    /// Also held while a reload reads the files, so that reloads take turns.
    state: Mutex<State>,
}

/// A reload's bookkeeping.
struct State {
    status: TlsStatus,
    /// Of the files' contents in use, to tell a change from a touch.
    fingerprint: [u8; 32],
    /// Since when a key has not matched its certificate.
    waiting: Option<Instant>,
}

impl<B: Build> Reloading<B> {
    /// Builds it from the files; fails on the first that cannot be used.
    pub(crate) fn new(owner: String, builder: B) -> Result<Self, TlsError> {
        let fingerprint = fingerprint(&builder.files());
        let (built, certificates) = builder.build()?;
        Ok(Self {
            owner,
            builder,
            built: ArcSwap::from_pointee(built),
            generation: AtomicU64::new(0),
            state: Mutex::new(State {
                status: loaded(certificates),
                fingerprint,
                waiting: None,
            }),
        })
    }

    /// What new handshakes use.
    pub(crate) fn built(&self) -> Arc<B::Built> {
        self.built.load_full()
    }

    /// How many times it was built again since it started: what was set up with the
    /// material of an earlier generation may be let go.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// What it builds from.
    pub(crate) fn builder(&self) -> &B {
        &self.builder
    }

    /// Every file it reads.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        self.builder.files()
    }

    /// Reads the files again and builds from them when they changed. A refusal is
    /// logged once (file and reason).
    pub(crate) fn reload(&self) -> Reloaded {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let fingerprint = fingerprint(&self.builder.files());
        if fingerprint == state.fingerprint {
            state.waiting = None;
            state.status.last_error = None;
            return Reloaded::Unchanged;
        }
        match self.builder.build() {
            Ok((built, certificates)) => {
                self.built.store(Arc::new(built));
                self.generation.fetch_add(1, Relaxed);
                *state = State {
                    status: loaded(certificates),
                    fingerprint,
                    waiting: None,
                };
                tracing::info!("{}: TLS certificates loaded", self.owner);
                Reloaded::Loaded
            }
            Err(e) if e.error.mismatch && state.waiting.is_none_or(|t| t.elapsed() < PAIR_WAIT) => {
                state.waiting.get_or_insert_with(Instant::now);
                Reloaded::Waiting
            }
            Err(e) => {
                state.waiting = None;
                let text = e.to_string();
                if state.status.last_error.as_ref() != Some(&text) {
                    tracing::warn!(
                        "{}: TLS certificates refused, the ones in use stay: {text}",
                        self.owner
                    );
                    state.status.last_error = Some(text);
                }
                Reloaded::Refused(e)
            }
        }
    }

    /// What it has loaded, and its last failure.
    pub(crate) fn status(&self) -> TlsStatus {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.status.clone()
    }
}

/// A digest of every file's contents (or of why it cannot be read).
fn fingerprint(files: &[PathBuf]) -> [u8; 32] {
    let mut digest = Sha256::new();
    for file in files {
        match read_file(file) {
            Ok(bytes) => digest.update(&bytes),
            Err(e) => digest.update(e.reason.as_bytes()),
        }
        digest.update([0]);
    }
    digest.finalize().into()
}

/// The status of certificates loaded just now.
fn loaded(certificates: Vec<CertificateStatus>) -> TlsStatus {
    TlsStatus {
        certificates,
        last_error: None,
        loaded_at: Some(SystemTime::now()),
    }
}
