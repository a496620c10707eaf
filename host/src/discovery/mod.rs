//! Discovery: where a cluster's endpoints come from when they are not listed in the
//! configuration — a watched file, DNS records, or a key prefix in etcd.
//!
//! Membership flows one way: a source reports what it found; [`Discovery::run`]
//! merges duplicates and holds back an empty result for the grace period (the last
//! non-empty set keeps serving, loudly); the cluster's membership controller takes the settled set,
//! keeps the health of the endpoints that stay, and pushes the new membership to the
//! cluster's policies. Sources run on the health thread, off the request path.

mod dns;
mod endpoint;
mod etcd;
mod file;
mod source;

pub use endpoint::{Discovered, merge, parse_file};
pub use source::{Report, Running, Source};

use crate::config::model::{ClusterConfig, DiscoveryConfig};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};

/// A settled endpoint set, in address order.
pub type Endpoints = Arc<Vec<Discovered>>;

/// A cluster's discovery, ready to run.
pub struct Discovery {
    cluster: String,
    source: Box<dyn Source>,
    grace: Duration,
    view: Arc<DiscoveryView>,
}

impl Discovery {
    /// The discovery `cluster` configures; `None` for a static cluster.
    pub fn of(cluster: &ClusterConfig) -> Option<Self> {
        let (source, grace): (Box<dyn Source>, _) = match &cluster.discovery {
            DiscoveryConfig::Static => return None,
            DiscoveryConfig::File { path, empty_grace } => {
                (Box::new(file::FileSource(path.clone())), empty_grace.0)
            }
            DiscoveryConfig::Dns {
                name,
                record,
                port,
                nameserver,
                min_refresh,
                max_refresh,
                empty_grace,
            } => {
                let spec = dns::Spec {
                    name: name.clone(),
                    record: *record,
                    port: *port,
                    nameserver: nameserver.map(|a| a.0),
                    min_refresh: min_refresh.0,
                    max_refresh: max_refresh.0,
                };
                (Box::new(spec), empty_grace.0)
            }
            DiscoveryConfig::Etcd {
                endpoints,
                prefix,
                empty_grace,
            } => {
                let source = etcd::EtcdSource {
                    endpoints: endpoints.clone(),
                    prefix: prefix.clone(),
                };
                (Box::new(source), empty_grace.0)
            }
        };
        Some(Self {
            cluster: cluster.name.clone(),
            view: Arc::new(DiscoveryView::new(source.describe())),
            source,
            grace,
        })
    }

    /// What the admin API shows of it.
    pub fn view(&self) -> Arc<DiscoveryView> {
        Arc::clone(&self.view)
    }

    /// Runs the source and settles its reports into `out` until `out` has no
    /// receiver left.
    pub async fn run(self, out: watch::Sender<Option<Endpoints>>) {
        let (reports, incoming) = mpsc::channel(16);
        let source = tokio::spawn(self.source.run(reports));
        Settle {
            cluster: self.cluster,
            grace: self.grace,
            view: self.view,
            out,
        }
        .run(incoming)
        .await;
        source.abort();
    }
}

/// Turns a source's reports into the settled endpoint set.
struct Settle {
    cluster: String,
    grace: Duration,
    view: Arc<DiscoveryView>,
    out: watch::Sender<Option<Endpoints>>,
}

impl Settle {
    async fn run(self, mut incoming: mpsc::Receiver<Report>) {
        let cluster = self.cluster.as_str();
        // Since when an empty result has been held back.
        let mut empty_since: Option<tokio::time::Instant> = None;
        loop {
            let expiry = empty_since.map(|since| since + self.grace);
            let report = tokio::select! {
                report = incoming.recv() => match report {
                    Some(report) => report,
                    None => return,
                },
                () = sleep_until(expiry), if expiry.is_some() => {
                    tracing::error!(
                        cluster,
                        grace = ?self.grace,
                        "discovery: still no endpoints after the grace period; the cluster is empty now"
                    );
                    empty_since = None;
                    self.publish(Vec::new());
                    continue;
                }
            };
            let (endpoints, version) = match report {
                Report::Found { endpoints, version } => (endpoints, version),
                Report::Failed(reason) => {
                    tracing::warn!(cluster, "discovery: {reason}; the last membership stays");
                    self.view.failed(reason);
                    continue;
                }
            };
            let endpoints = merge(endpoints, cluster, &self.view.source);
            self.view.found(version, endpoints.len());
            let serving = self.out.borrow().as_ref().is_some_and(|e| !e.is_empty());
            if endpoints.is_empty() && serving {
                if empty_since.is_none() {
                    tracing::error!(
                        cluster,
                        grace = ?self.grace,
                        "discovery found no endpoints; the last non-empty membership keeps serving for the grace period"
                    );
                    empty_since = Some(tokio::time::Instant::now());
                    self.view.holding(true);
                }
                continue;
            }
            empty_since = None;
            self.view.holding(false);
            self.publish(endpoints);
        }
    }

    /// Hands `endpoints` to the cluster, unless it has them already.
    fn publish(&self, endpoints: Vec<Discovered>) {
        let unchanged = self
            .out
            .borrow()
            .as_ref()
            .is_some_and(|current| **current == endpoints);
        if !unchanged {
            tracing::info!(
                cluster = self.cluster.as_str(),
                endpoints = endpoints.len(),
                "discovery: membership changed"
            );
            self.view.changed();
            self.out.send_replace(Some(Arc::new(endpoints)));
        }
    }
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A cluster's discovery as the admin API shows it.
#[derive(Debug)]
pub struct DiscoveryView {
    source: String,
    status: Mutex<DiscoveryStatus>,
}

/// Where a cluster's discovery stands.
#[derive(Clone, Debug, Default)]
pub struct DiscoveryStatus {
    /// When the membership last changed through discovery.
    pub last_update: Option<SystemTime>,
    /// When the source last answered.
    pub last_seen: Option<SystemTime>,
    /// The version of the last answer: etcd revision, DNS lookup serial, file digest.
    pub version: Option<String>,
    /// Endpoints in the last answer.
    pub endpoints: usize,
    /// The last failure, and when.
    pub last_error: Option<(SystemTime, String)>,
    /// An empty answer is being held back for the grace period.
    pub holding_empty: bool,
}

impl DiscoveryView {
    fn new(source: String) -> Self {
        Self {
            source,
            status: Mutex::new(DiscoveryStatus::default()),
        }
    }

    /// The source, e.g. `etcd http://127.0.0.1:2379 /services/user/`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// A copy of the current status.
    pub fn status(&self) -> DiscoveryStatus {
        self.lock().clone()
    }

    fn found(&self, version: String, endpoints: usize) {
        let mut status = self.lock();
        status.last_seen = Some(SystemTime::now());
        status.version = Some(version);
        status.endpoints = endpoints;
    }

    fn failed(&self, reason: String) {
        self.lock().last_error = Some((SystemTime::now(), reason));
    }

    fn changed(&self) {
        self.lock().last_update = Some(SystemTime::now());
    }

    fn holding(&self, holding: bool) {
        self.lock().holding_empty = holding;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DiscoveryStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}
