//! What a discovery source is: something that reports a cluster's whole endpoint set,
//! now and after every change. A new kind of source (Consul, Kubernetes endpoints) is
//! one file implementing [`Source`]; [`Discovery`](super::Discovery) settles what it
//! reports (merging duplicates, holding back an empty set) for the cluster.

use super::Discovered;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::mpsc;

/// What a source reports.
pub enum Report {
    /// The whole current set, and its version (revision, serial or digest).
    Found {
        /// The endpoints found, in any order, duplicates allowed.
        endpoints: Vec<Discovered>,
        /// What the admin API shows as the version of this answer.
        version: String,
    },
    /// Why the set could not be had this time; the last one stands.
    Failed(String),
}

/// A source at work, until its reports have no receiver.
pub type Running = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where a cluster's endpoints come from.
pub trait Source: Send {
    /// The source as the admin API and the logs name it, e.g. `file /etc/endpoints.toml`.
    fn describe(&self) -> String;

    /// Reports the endpoints now and after every change (or why they could not be
    /// had), until `reports` has no receiver left.
    fn run(self: Box<Self>, reports: mpsc::Sender<Report>) -> Running;
}
