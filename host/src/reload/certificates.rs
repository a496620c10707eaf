//! Watches the directories of the listeners' and clusters' certificate and key files,
//! and reloads a listener's or cluster's TLS once a change there has settled.
//!
//! A whole directory is watched, not the files: a Kubernetes secret mount replaces
//! its files by swapping a symlink (`..data`), which names none of them. A renewal
//! that writes the certificate and then the key meets, in between, a key that does
//! not match: the reload waits for the other half (see [`Reloaded::Waiting`]) and is
//! tried again shortly.
//! Only entries named like a watched file, or `..`-prefixed ones (the secret mount's
//! own), count as changes; and every file is read again every minute anyway.

use super::watcher::step;
use crate::tls::{Reload, Reloaded};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Quiet time after a step that completes a write (close, rename, removal).
const SETTLE_CLOSED: Duration = Duration::from_millis(10);
/// Quiet time after a step that may be followed by more writes.
const SETTLE_OPEN: Duration = Duration::from_millis(200);
/// How soon a reload waiting for the other half of a pair is tried again.
const RETRY: Duration = Duration::from_millis(100);
/// How often every file is read again anyway (a change the watch missed,
/// a certificate that was not valid yet); nothing is logged when the files hold what is in use.
const POLL: Duration = Duration::from_secs(60);

/// A running watcher; dropping it stops the watch and its thread.
pub struct CertificateWatcher {
    watcher: Option<RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

/// Entries changed in watched directories (none: anything may have changed), and
/// whether the step completes a write.
struct Touched(Vec<PathBuf>, bool);

impl CertificateWatcher {
    /// Watches the directories of every file of `tls`.
    pub fn start(tls: Vec<Arc<dyn Reload>>) -> notify::Result<Self> {
        let dirs: BTreeSet<PathBuf> = tls
            .iter()
            .flat_map(|t| t.files())
            .filter_map(|file| file.parent().map(Path::to_path_buf))
            .collect();
        let (sender, changes) = mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let touched = match event {
                    Ok(event) if event.need_rescan() => Touched(Vec::new(), true),
                    Ok(event) => match step(&event.kind) {
                        Some(complete) => Touched(event.paths, complete),
                        // Opened or read (reloading does that): not changed.
                        None => return,
                    },
                    Err(_) => Touched(Vec::new(), true),
                };
                let _ = sender.send(touched);
            })?;
        for dir in &dirs {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        let thread = std::thread::Builder::new()
            .name("certificate-watcher".into())
            .spawn(move || settle_and_reload(&tls, &changes))?;
        Ok(Self {
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }
}

impl Drop for CertificateWatcher {
    fn drop(&mut self) {
        // Dropping the watcher drops the channel's sender, which ends the thread.
        self.watcher.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether the entry `path` (in a watched directory) may be one of `files`: one of
/// them, or a `..`-prefixed entry of their directory (a secret mount's versions and
/// its `..data` link).
fn concerns(files: &[PathBuf], path: &Path) -> bool {
    let mounted = path
        .file_name()
        .is_some_and(|name| name.as_encoded_bytes().starts_with(b".."));
    files
        .iter()
        .any(|file| file == path || (mounted && file.parent() == path.parent()))
}

/// Collects changes per listener or cluster and reloads each once they have settled.
fn settle_and_reload(tls: &[Arc<dyn Reload>], changes: &mpsc::Receiver<Touched>) {
    let files: Vec<Vec<PathBuf>> = tls.iter().map(|t| t.files()).collect();
    let mut polled = Instant::now();
    // Per listener or cluster: when it is due for a reload.
    let mut due: Vec<Option<Instant>> = vec![None; tls.len()];
    loop {
        let wait = due
            .iter()
            .flatten()
            .min()
            .map_or(POLL.saturating_sub(polled.elapsed()), |at| {
                at.saturating_duration_since(Instant::now())
            });
        match changes.recv_timeout(wait) {
            Ok(Touched(paths, complete)) => {
                let at = Instant::now() + if complete { SETTLE_CLOSED } else { SETTLE_OPEN };
                for (i, files) in files.iter().enumerate() {
                    if paths.is_empty() || paths.iter().any(|p| concerns(files, p)) {
                        due[i] = Some(at);
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        if polled.elapsed() >= POLL {
            polled = now;
            due.iter_mut()
                .for_each(|at| *at = Some(at.map_or(now, |at| at.min(now))));
        }
        for (i, tls) in tls.iter().enumerate() {
            if due[i].is_some_and(|at| at <= now) {
                due[i] = match tls.reload() {
                    Reloaded::Waiting => Some(now + RETRY),
                    Reloaded::Loaded | Reloaded::Unchanged | Reloaded::Refused(_) => None,
                };
            }
        }
    }
}
