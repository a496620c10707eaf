//! File discovery: a TOML or JSON file of endpoints, re-read when it changes. The
//! file's directory is watched, so that a file written elsewhere and renamed into
//! place is seen as well as one rewritten in place; a slow poll backs the watch up.

use super::endpoint::parse_file;
use super::{Report, Running, Source};
use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Quiet time after a change before the file is read, so that a writer is done.
const SETTLE: Duration = Duration::from_millis(20);
/// Re-read this often even when no change was seen.
const POLL: Duration = Duration::from_secs(5);

/// Endpoints listed in a file.
pub(super) struct FileSource(pub(super) PathBuf);

impl Source for FileSource {
    fn describe(&self) -> String {
        format!("file {}", self.0.display())
    }

    fn run(self: Box<Self>, reports: mpsc::Sender<Report>) -> Running {
        Box::pin(run(self.0, reports))
    }
}

/// Reports the file's endpoints now and after every change, until `reports` closes.
async fn run(path: PathBuf, reports: mpsc::Sender<Report>) {
    let (changed, mut changes) = mpsc::unbounded_channel();
    let name = path.file_name().map(|n| n.to_os_string());
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let ours = match &event {
            Ok(event) => {
                event.need_rescan()
                    || event
                        .paths
                        .iter()
                        .any(|p| p.file_name().map(|n| n.to_os_string()) == name)
            }
            Err(_) => true,
        };
        if ours {
            let _ = changed.send(());
        }
    });
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let _watcher =
        match watcher.and_then(|mut w| w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w)) {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                let message = format!(
                    "cannot watch {}: {e}; polling every {POLL:?}",
                    dir.display()
                );
                if reports.send(Report::Failed(message)).await.is_err() {
                    return;
                }
                None
            }
        };
    loop {
        if reports.send(read(&path)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = changes.recv() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        tokio::time::sleep(SETTLE).await;
        while changes.try_recv().is_ok() {}
    }
}

/// The file's endpoints, versioned by a digest of its text.
fn read(path: &Path) -> Report {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return Report::Failed(format!("{}: cannot read: {e}", path.display())),
    };
    let json = path.extension().is_some_and(|e| e == "json");
    match parse_file(&text, json) {
        Ok(endpoints) => {
            let digest = Sha256::digest(text.as_bytes());
            let version = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
            Report::Found { endpoints, version }
        }
        Err(e) => Report::Failed(format!("{}: {e}", path.display())),
    }
}
