//! Watches the policy directory and reloads a `NAME.wasm` once its writer is done.
//!
//! Writers change a file in several steps (create, writes, close; or write elsewhere
//! and rename in). A file is loaded only after it has been quiet for a moment: briefly
//! after a step that ends a write (close after writing, rename into the directory,
//! removal), longer after a step that may be followed by more (create, a write with
//! the file still open). A file caught half-written anyway fails validation, is
//! reported, and never replaces the serving version.

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use switchyard_policy::niceness::lower_priority;
use switchyard_policy::{PolicyRegistry, is_policy_file};

/// Quiet time after a step that completes a write.
pub const SETTLE_CLOSED: Duration = Duration::from_millis(5);
/// Quiet time after a step that may be followed by more writes.
pub const SETTLE_OPEN: Duration = Duration::from_secs(1);

/// A running watcher; dropping it stops the watch and its thread.
pub struct PolicyWatcher {
    watcher: Option<RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

enum Change {
    /// Paths touched, and whether the step completes a write.
    Touched(Vec<PathBuf>, bool),
    /// Events were lost (the kernel's queue overflowed) or the watch failed: only a
    /// rescan of the whole directory can tell what changed.
    Rescan(String),
}

impl PolicyWatcher {
    /// Watches `dir` (not recursively) and reloads changed policy files into `registry`.
    pub fn start(registry: Arc<PolicyRegistry>, dir: &Path) -> notify::Result<Self> {
        let (sender, changes) = mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let change = match event {
                    Ok(event) if event.need_rescan() => Change::Rescan("events were lost".into()),
                    Ok(event) => match step(&event.kind) {
                        Some(complete) => Change::Touched(event.paths, complete),
                        // A file opened or read (loading it does that) has not changed.
                        None => return,
                    },
                    Err(e) => Change::Rescan(e.to_string()),
                };
                let _ = sender.send(change);
            })?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        let thread = std::thread::Builder::new()
            .name("policy-watcher".into())
            .spawn(move || {
                // Loading is background work: requests come first. Compiling, the
                // bulk of it, runs at idle priority on the engine's compile threads.
                lower_priority(false);
                settle_and_reload(&registry, &changes)
            })?;
        tracing::info!(dir = %dir.display(), "watching the policy directory");
        Ok(Self {
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }
}

impl Drop for PolicyWatcher {
    fn drop(&mut self) {
        // Dropping the watcher drops the channel's sender, which ends the thread.
        self.watcher.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What an event says of its files: `None` if they have not changed (opened, read,
/// closed after reading), else whether the step normally completes a write.
pub(super) fn step(kind: &EventKind) -> Option<bool> {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(true),
        EventKind::Access(_) => None,
        EventKind::Modify(ModifyKind::Name(_)) | EventKind::Remove(_) => Some(true),
        _ => Some(false),
    }
}

/// Collects changes per file and reloads each once it has settled.
fn settle_and_reload(registry: &PolicyRegistry, changes: &mpsc::Receiver<Change>) {
    // Per file: when it is due for a reload.
    let mut pending: HashMap<PathBuf, Instant> = HashMap::new();
    loop {
        let wait = pending
            .values()
            .min()
            .map_or(Duration::from_secs(3600), |due| {
                due.saturating_duration_since(Instant::now())
            });
        match changes.recv_timeout(wait) {
            Ok(Change::Touched(paths, complete)) => {
                let settle = if complete { SETTLE_CLOSED } else { SETTLE_OPEN };
                for path in paths.into_iter().filter(|p| is_policy_file(p)) {
                    pending.insert(path, Instant::now() + settle);
                }
            }
            Ok(Change::Rescan(why)) => {
                tracing::warn!("policy directory watch: {why}; rescanning");
                registry.rescan();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let due: Vec<PathBuf> = pending
            .iter()
            .filter(|(_, due)| **due <= now)
            .map(|(path, _)| path.clone())
            .collect();
        for path in due {
            pending.remove(&path);
            registry.reload_file(&path);
        }
    }
}
