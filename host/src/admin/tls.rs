//! `GET /tls`: each TLS listener's certificates and their state.

use super::ListenerRecord;
use crate::tls::HandshakeFailure;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// Every TLS listener: its certificates (file, names, not-after and the seconds left),
/// when they were loaded, the last refused reload, failed handshakes by reason.
pub(crate) fn status(listeners: &[ListenerRecord]) -> Value {
    let now = SystemTime::now();
    let listeners: Vec<Value> = listeners
        .iter()
        .filter_map(|listener| {
            let tls = listener.tls.as_ref()?;
            let status = tls.status();
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
            let failures: serde_json::Map<String, Value> = HandshakeFailure::ALL
                .iter()
                .map(|f| (f.label().to_string(), json!(tls.failures(*f))))
                .collect();
            Some(json!({
                "listener": listener.name,
                "certificates": certificates,
                "loaded_at": status.loaded_at.map(|t| humantime::format_rfc3339_millis(t).to_string()),
                "last_error": status.last_error,
                "handshake_failures": failures,
            }))
        })
        .collect();
    json!({ "listeners": listeners })
}

/// Seconds from `now` to `then`, negative once past.
pub(crate) fn seconds_between(now: SystemTime, then: SystemTime) -> i64 {
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    };
    secs(then) - secs(now)
}
