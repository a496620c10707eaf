//! `GET /config` and `POST /config/reload`: the running configuration (its digest,
//! when it was loaded, the last reload that failed and why) and a reload of the file.

use serde_json::{Value, json};
use std::time::SystemTime;

/// What the admin API can ask of the running configuration (the composition root
/// answers).
pub trait ConfigControl: Send + Sync {
    /// Reads the configuration file again and applies it: how things stand then, or
    /// why nothing changed (`file: key: reason`).
    fn reload(&self) -> Result<ConfigStatus, String>;
    /// How things stand.
    fn status(&self) -> ConfigStatus;
}

/// The running configuration.
#[derive(Clone, Debug, Default)]
pub struct ConfigStatus {
    /// The file it came from, if any.
    pub file: Option<String>,
    /// SHA-256 of the file's text, hex.
    pub digest: String,
    /// When it was applied.
    pub loaded_at: Option<SystemTime>,
    /// Reloads applied since start.
    pub reloads: u64,
    /// Changes in the file that only a restart applies (`workers`, `admin.listen`, …).
    pub needs_restart: Vec<String>,
    /// The last reload refused: when, and why.
    pub last_failure: Option<(SystemTime, String)>,
    /// The last 50 reloads, oldest first: when, and the digest applied
    /// or why it was refused.
    pub recent: Vec<(SystemTime, Result<String, String>)>,
}

/// Reloads [`ConfigStatus::recent`] keeps.
const RECENT_RELOADS: usize = 50;

impl ConfigStatus {
    /// Keeps a reload's result in [`recent`](Self::recent), forgetting the oldest.
    pub fn remember(&mut self, mut result: Result<String, String>) {
        if let Err(reason) = &mut result {
            // Kept, and sent to the console each second: long ones are cut.
            switchyard_policy::cut_reason(reason);
        }
        if self.recent.len() == RECENT_RELOADS {
            self.recent.drain(..1);
        }
        self.recent.push((SystemTime::now(), result));
    }
}

/// The JSON of `status`.
pub(crate) fn to_json(status: &ConfigStatus) -> Value {
    let seconds = |at: SystemTime| {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    json!({
        "file": status.file,
        "sha256": status.digest,
        "loaded_at_unix": status.loaded_at.map(seconds),
        "reloads": status.reloads,
        "needs_restart": status.needs_restart,
        "last_failure": status.last_failure.as_ref().map(|(at, reason)| json!({
            "at_unix": seconds(*at),
            "reason": reason,
        })),
    })
}
