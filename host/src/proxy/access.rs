//! The access log: one line per request on the `access` target, written when the
//! response head goes to the client (`duration_us` runs to then). On when `[log]
//! access = true`; the fields are structured, so `[log] format = "json"` gives one
//! JSON object per request.

use crate::proxy::upstream::Upstream;
use std::sync::Arc;
use std::time::Instant;
use switchyard_policy::{Pick, VersionTally};

/// Where a request's end is recorded: its access-log line (method, path and when it
/// was taken, when the log is on) and, during a rollout, the tally of the version that
/// picked.
pub(crate) struct Ended {
    /// For the access log.
    pub(crate) logged: Option<(String, String, Instant)>,
    /// For the rollout.
    pub(crate) picked: Option<Picked>,
}

/// During a policy rollout: the tally of the version that picked a request's endpoint,
/// and when it picked. The request's outcome is counted there when its response head
/// goes out.
pub(crate) struct Picked {
    tally: Arc<VersionTally>,
    at: Instant,
}

impl Picked {
    /// Takes the tally out of `pick`: none when no rollout compares versions.
    pub(crate) fn take(pick: &mut Pick) -> Option<Self> {
        pick.tally.take().map(|tally| Self {
            tally,
            at: Instant::now(),
        })
    }

    /// Counts the request: a server error or not, after `attempts` attempts.
    pub(crate) fn count(&self, status: u16, attempts: u32) {
        self.tally
            .record(status >= 500, self.at.elapsed(), attempts.max(1));
    }

    /// The picking version as the access log writes it (12 hex digits).
    pub(crate) fn version(&self) -> &str {
        let version = self.tally.version();
        &version[..version.len().min(12)]
    }
}

/// What one request came to.
pub(crate) struct Access<'a> {
    /// The route it took; `-` when none matched.
    pub(crate) route: &'a str,
    /// Request method.
    pub(crate) method: &'a str,
    /// Path and query.
    pub(crate) path: &'a str,
    /// Status sent to the client.
    pub(crate) status: u16,
    /// The endpoint that answered (or was tried last); none when none was reachable.
    pub(crate) endpoint: Option<&'a str>,
    /// Attempts made (retries plus one).
    pub(crate) attempts: u32,
    /// When the request was taken.
    pub(crate) started: Instant,
    /// The policy version that picked, during a rollout; else the serving one is
    /// logged.
    pub(crate) version: Option<&'a str>,
}

impl Access<'_> {
    /// Writes the line for a request sent to `upstream`, or answered by the proxy
    /// itself (`None`).
    pub(crate) fn log(&self, upstream: Option<&Upstream>) {
        let policy = upstream.map(|u| u.policy());
        let component = policy.as_ref().map(|p| p.component());
        tracing::info!(
            target: "access",
            method = self.method,
            path = self.path,
            status = self.status,
            route = self.route,
            cluster = upstream.map_or("-", |u| u.name()),
            endpoint = self.endpoint.unwrap_or("-"),
            attempts = self.attempts,
            duration_us = self.started.elapsed().as_micros() as u64,
            policy = component.map_or("-", |c| c.name()),
            policy_version = self
                .version
                .or_else(|| component.map(|c| c.version()))
                .unwrap_or("-"),
            "request"
        );
    }
}
