//! The access log: one line per request on the `access` target, written when the
//! response head goes to the client (`duration_us` runs to then). On when `[log]
//! access = true`; the fields are structured, so `[log] format = "json"` gives one
//! JSON object per request.

use crate::proxy::upstream::Upstream;
use std::time::Instant;

/// What one request came to.
pub(crate) struct Access<'a> {
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
}

impl Access<'_> {
    /// Writes the line for a request to `upstream`.
    pub(crate) fn log(&self, upstream: &Upstream) {
        let policy = upstream.policy();
        tracing::info!(
            target: "access",
            method = self.method,
            path = self.path,
            status = self.status,
            cluster = upstream.name(),
            endpoint = self.endpoint.unwrap_or("-"),
            attempts = self.attempts,
            duration_us = self.started.elapsed().as_micros() as u64,
            policy = policy.component().name(),
            policy_version = policy.component().version(),
            "request"
        );
    }
}
