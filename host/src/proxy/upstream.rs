//! A cluster at run time: its policy (which holds the membership) and how to reach its
//! endpoints.

use crate::cluster::Membership;
use crate::config::model::UpstreamProtocol;
use crate::policy::ClusterPolicy;
use arc_swap::{ArcSwap, Guard};
use std::sync::Arc;
use std::time::Duration;

/// How a cluster's endpoints are reached.
#[derive(Clone, Copy, Debug)]
pub struct UpstreamSettings {
    /// Protocol spoken upstream.
    pub protocol: UpstreamProtocol,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Time from sending a request to its response headers.
    pub request_timeout: Duration,
    /// Idle HTTP/1.1 connections kept per endpoint and worker.
    pub max_idle: usize,
    /// Idle connections older than this are not reused.
    pub idle_timeout: Duration,
}

/// A cluster as the forwarding core uses it.
pub struct Upstream {
    name: String,
    policy: ArcSwap<ClusterPolicy>,
    settings: UpstreamSettings,
}

impl Upstream {
    /// A cluster named `name` balanced by `policy`.
    pub fn new(name: &str, policy: ClusterPolicy, settings: UpstreamSettings) -> Self {
        Self {
            name: name.to_string(),
            policy: ArcSwap::from_pointee(policy),
            settings,
        }
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The policy serving the cluster now.
    pub fn policy(&self) -> Guard<Arc<ClusterPolicy>> {
        self.policy.load()
    }

    /// The current membership.
    pub fn membership(&self) -> Arc<Membership> {
        self.policy.load().membership()
    }

    /// Connection settings.
    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }
}
