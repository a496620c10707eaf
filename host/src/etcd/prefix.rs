//! Watching every key under a prefix: an initial get, then a watch from the next
//! revision. After a disconnect or an etcd restart the watch resumes from the last
//! revision seen, so no event is lost; when that revision has been compacted away, a
//! fresh get starts over.

use super::connect;
use etcd_client::{Client, EventType, GetOptions, WatchOptions};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// What a prefix watch reports.
#[derive(Debug)]
pub enum PrefixEvent {
    /// Every key under the prefix with its value, as of `revision`.
    Snapshot {
        entries: BTreeMap<String, Vec<u8>>,
        revision: i64,
    },
    /// etcd could not be reached or the watch failed; it is tried again after a
    /// backoff.
    Failed(String),
}

/// First wait before trying etcd again; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Watches `prefix` on `endpoints`, sending a snapshot after the initial get and
/// after every batch of changes, until `events` closes.
pub async fn watch_prefix(
    endpoints: Vec<String>,
    prefix: String,
    events: mpsc::Sender<PrefixEvent>,
) {
    let mut known: Option<(BTreeMap<String, Vec<u8>>, i64)> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut client = None;
    loop {
        let failure = match &mut client {
            Some(client) => {
                match follow(client, &prefix, &mut known, &events, &mut backoff).await {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            None => match connect(&endpoints).await {
                Ok(connected) => {
                    client = Some(connected);
                    continue;
                }
                Err(e) => e,
            },
        };
        let message = format!("etcd {} {prefix}: {failure}", endpoints.join(","));
        if events.send(PrefixEvent::Failed(message)).await.is_err() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Gets the prefix (unless `known` already holds it) and follows its changes; `Ok`
/// only when `events` has closed.
async fn follow(
    client: &mut Client,
    prefix: &str,
    known: &mut Option<(BTreeMap<String, Vec<u8>>, i64)>,
    events: &mpsc::Sender<PrefixEvent>,
    backoff: &mut Duration,
) -> Result<(), String> {
    loop {
        let (entries, revision) = match known {
            Some(known) => known,
            None => {
                let listed = client
                    .get(prefix, Some(GetOptions::new().with_prefix()))
                    .await
                    .map_err(|e| e.to_string())?;
                let revision = listed.header().map_or(0, |h| h.revision());
                let entries = listed
                    .kvs()
                    .iter()
                    .map(|kv| {
                        (
                            String::from_utf8_lossy(kv.key()).into_owned(),
                            kv.value().to_vec(),
                        )
                    })
                    .collect();
                *backoff = FIRST_BACKOFF;
                let snapshot = PrefixEvent::Snapshot {
                    entries: BTreeMap::clone(&entries),
                    revision,
                };
                if events.send(snapshot).await.is_err() {
                    return Ok(());
                }
                known.insert((entries, revision))
            }
        };
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(*revision + 1);
        let mut stream = client
            .watch(prefix, Some(options))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let Some(response) = stream.message().await.map_err(|e| e.to_string())? else {
                return Err("the watch ended".into());
            };
            if response.canceled() {
                if response.compact_revision() > 0 {
                    tracing::warn!(
                        prefix,
                        from = *revision + 1,
                        compacted = response.compact_revision(),
                        "etcd compacted the revisions the watch needed; listing the prefix again"
                    );
                    *known = None;
                    break;
                }
                return Err(format!(
                    "the watch was cancelled: {}",
                    response.cancel_reason()
                ));
            }
            *backoff = FIRST_BACKOFF;
            if response.events().is_empty() {
                continue;
            }
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                match event.event_type() {
                    EventType::Put => entries.insert(key, kv.value().to_vec()),
                    EventType::Delete => entries.remove(&key),
                };
                *revision = (*revision).max(kv.mod_revision());
            }
            let snapshot = PrefixEvent::Snapshot {
                entries: entries.clone(),
                revision: *revision,
            };
            if events.send(snapshot).await.is_err() {
                return Ok(());
            }
        }
    }
}
