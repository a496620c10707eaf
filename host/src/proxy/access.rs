//! The access log: one line per request on the `access` target, written when the
//! response head goes to the client (`duration_us` runs to then). On when `[log]
//! access = true`; the fields are structured, so `[log] format = "json"` gives one
//! JSON object per request.

use crate::proxy::upstream::Upstream;
use std::time::Instant;

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
            policy_version = component.map_or("-", |c| c.version()),
            "request"
        );
    }
}
