//! A policy's lines in the proxy's log: from the `host.log` import and from WASI
//! stdout/stderr, rate-limited per policy.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lines a policy may log per second; the rest are dropped and counted.
const LINES_PER_SECOND: u32 = 20;
/// Longest line kept; longer ones are cut.
const MAX_LINE: usize = 1024;

/// Severity of a policy's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Debug.
    Debug,
    /// Info (stdout).
    Info,
    /// Warning (stderr).
    Warn,
    /// Error.
    Error,
}

/// The log of one policy component, shared by all its instances.
#[derive(Debug)]
pub struct PolicyLog {
    policy: String,
    second: AtomicU64,
    lines: AtomicU32,
    dropped: AtomicU64,
}

impl PolicyLog {
    /// A log for policy `policy`.
    pub fn new(policy: &str) -> Self {
        Self {
            policy: policy.to_string(),
            second: AtomicU64::new(0),
            lines: AtomicU32::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Lines dropped by the rate limit so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Logs one line unless the policy is over its rate.
    pub fn line(&self, level: Level, text: &str) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if self.second.swap(now, Relaxed) != now {
            self.lines.store(0, Relaxed);
        }
        if self.lines.fetch_add(1, Relaxed) >= LINES_PER_SECOND {
            self.dropped.fetch_add(1, Relaxed);
            return;
        }
        let text = text[..text.floor_char_boundary(MAX_LINE)].trim_end();
        let policy = self.policy.as_str();
        match level {
            Level::Debug => tracing::debug!(target: "switchyard::policy", policy, "{text}"),
            Level::Info => tracing::info!(target: "switchyard::policy", policy, "{text}"),
            Level::Warn => tracing::warn!(target: "switchyard::policy", policy, "{text}"),
            Level::Error => tracing::error!(target: "switchyard::policy", policy, "{text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_lines_past_the_rate() {
        let log = PolicyLog::new("noisy");
        for i in 0..(LINES_PER_SECOND + 30) {
            log.line(Level::Info, &format!("line {i}"));
        }
        // A second boundary in the middle lets at most one more window through.
        assert!(log.dropped() >= 10, "dropped {}", log.dropped());
    }
}
