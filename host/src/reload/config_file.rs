//! Watches the configuration file (`[config] watch = true`) and asks for a reload once a
//! change to it has settled. Its directory is watched, not the file: editors and
//! deployment tools replace a file by renaming another over it, and a Kubernetes
//! config map swaps a symlink (`..data`).

use super::watcher::{SETTLE_CLOSED, SETTLE_OPEN, step};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running watch on the configuration file; dropping it stops it.
pub struct ConfigWatcher {
    watcher: Option<RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl ConfigWatcher {
    /// Calls `changed` each time `file` has changed and the change has settled.
    pub fn start(file: &Path, changed: impl Fn() + Send + 'static) -> notify::Result<Self> {
        let file = file.to_path_buf();
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let name = file.file_name().map(|n| n.to_os_string());
        let (sender, changes) = mpsc::channel::<bool>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else {
                    let _ = sender.send(true);
                    return;
                };
                let Some(complete) = step(&event.kind) else {
                    return;
                };
                let concerns = |path: &PathBuf| {
                    let entry = path.file_name();
                    entry == name.as_deref()
                        || entry.is_some_and(|e| e.as_encoded_bytes().starts_with(b".."))
                };
                if event.need_rescan() || event.paths.iter().any(concerns) {
                    let _ = sender.send(complete);
                }
            })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        let thread = std::thread::Builder::new()
            .name("config-watcher".into())
            .spawn(move || settle(&changes, changed))?;
        Ok(Self {
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        // Dropping the watcher drops the channel's sender, which ends the thread (not
        // joined from itself: a reload it ran may be what stops the watch).
        self.watcher.take();
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// Calls `changed` once the changes coming on `changes` have been quiet for a while.
fn settle(changes: &mpsc::Receiver<bool>, changed: impl Fn()) {
    let mut due: Option<Instant> = None;
    loop {
        let wait = due.map_or(Duration::from_secs(3600), |due| {
            due.saturating_duration_since(Instant::now())
        });
        match changes.recv_timeout(wait) {
            Ok(complete) => {
                let settle = if complete { SETTLE_CLOSED } else { SETTLE_OPEN };
                due = Some(Instant::now() + settle);
            }
            Err(RecvTimeoutError::Timeout) => {
                if due.take().is_some() {
                    changed();
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
