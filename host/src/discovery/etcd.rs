//! etcd discovery: every key under a prefix is one endpoint, its value JSON
//! (`{"address": …, "weight": …, "zone": …, "metadata": {…}}`) or a plain `ip:port`.
//! A malformed value is skipped and logged with its key; the rest stands.

use super::endpoint::Discovered;
use super::{Report, Running, Source};
use crate::etcd::{PrefixEvent, watch_prefix};
use tokio::sync::mpsc;

/// A key prefix in etcd, one key per endpoint.
pub(super) struct EtcdSource {
    /// The etcd cluster (`http://host:port`, ...).
    pub(super) endpoints: Vec<String>,
    /// The prefix whose keys are the endpoints.
    pub(super) prefix: String,
}

impl Source for EtcdSource {
    fn describe(&self) -> String {
        format!("etcd {} {}", self.endpoints.join(","), self.prefix)
    }

    fn run(self: Box<Self>, reports: mpsc::Sender<Report>) -> Running {
        Box::pin(run(self.endpoints, self.prefix, reports))
    }
}

/// Follows `prefix` on `endpoints`, reporting the endpoints after every change, until
/// `reports` closes.
async fn run(endpoints: Vec<String>, prefix: String, reports: mpsc::Sender<Report>) {
    let (events, mut incoming) = mpsc::channel(16);
    let watch = tokio::spawn(watch_prefix(endpoints, prefix, events));
    while let Some(event) = incoming.recv().await {
        let report = match event {
            PrefixEvent::Failed(reason) => Report::Failed(reason),
            PrefixEvent::Snapshot { entries, revision } => {
                let endpoints = entries
                    .iter()
                    .filter_map(|(key, value)| {
                        let parsed = std::str::from_utf8(value)
                            .map_err(|_| "not UTF-8".to_string())
                            .and_then(Discovered::parse);
                        parsed
                            .inspect_err(|reason| {
                                tracing::warn!(
                                    key,
                                    "etcd discovery: skipping a malformed value: {reason}"
                                );
                            })
                            .ok()
                    })
                    .collect();
                Report::Found {
                    endpoints,
                    version: format!("revision {revision}"),
                }
            }
        };
        if reports.send(report).await.is_err() {
            break;
        }
    }
    watch.abort();
}
