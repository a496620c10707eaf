//! `GET /tls`: each TLS listener's certificates, and each TLS cluster's client
//! certificate, with their state.

use super::{ClusterRecord, ListenerRecord};
use crate::tls::{HandshakeFailure, TlsStatus};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// Every TLS listener: its certificates (file, names, not-after and the seconds left),
/// when they were loaded, the last refused reload, failed handshakes by reason; every
/// TLS cluster: the same of its client certificate, and its failed handshakes.
pub(crate) fn status(listeners: &[ListenerRecord], clusters: &[ClusterRecord]) -> Value {
    let listeners: Vec<Value> = listeners
        .iter()
        .filter_map(|listener| {
            let tls = listener.tls.as_ref()?;
            let failures: serde_json::Map<String, Value> = HandshakeFailure::ALL
                .iter()
                .map(|f| (f.label().to_string(), json!(tls.failures(*f))))
                .collect();
            let mut entry = loaded(&tls.status());
            entry["listener"] = json!(listener.name);
            entry["handshake_failures"] = json!(failures);
            Some(entry)
        })
        .collect();
    let clusters: Vec<Value> = clusters
        .iter()
        .filter_map(|cluster| {
            let upstream = &cluster.upstream;
            let mut entry = loaded(&upstream.originator()?.status());
            entry["cluster"] = json!(upstream.name());
            entry["handshake_failures"] = json!(upstream.tls_failures());
            Some(entry)
        })
        .collect();
    json!({ "listeners": listeners, "clusters": clusters })
}

/// What one listener's or cluster's TLS has loaded.
fn loaded(status: &TlsStatus) -> Value {
    let now = SystemTime::now();
    let certificates: Vec<Value> = status
        .certificates
        .iter()
        .map(|c| {
            json!({
                "file": c.file.display().to_string(),
                "server_names": c.server_names,
                "names": c.info.names,
                "not_after": humantime::format_rfc3339_seconds(c.info.not_after).to_string(),
                "expires_in_seconds": seconds_between(now, c.info.not_after),
            })
        })
        .collect();
    json!({
        "certificates": certificates,
        "loaded_at": status.loaded_at.map(|t| humantime::format_rfc3339_millis(t).to_string()),
        "last_error": status.last_error,
    })
}

/// Seconds from `now` to `then`, negative once past.
pub(crate) fn seconds_between(now: SystemTime, then: SystemTime) -> i64 {
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    };
    secs(then) - secs(now)
}
