//! A cluster at run time: its policy binding (the serving policy version, which holds
//! the membership) and how to reach its endpoints.

use crate::config::model::{ProxyProtocolVersion, UpstreamProtocol};
use crate::load_reports::collect::Collector;
use crate::proxy::connection_limit::ConnectionLimit;
use crate::proxy::pool::{ConnectError, Dial, DialTls};
use crate::proxy::retry::{RetryBudget, RetrySettings};
use crate::tls::Originator;
use arc_swap::Guard;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use switchyard_policy::cluster::{LoadDecay, Member, Membership, PickHistogram};
use switchyard_policy::random::draw;
use switchyard_policy::{ClusterPolicy, Pick, PolicyBinding, RequestView};

/// The time constant of fading load figures unless configured.
const DEFAULT_LOAD_DECAY: Duration = Duration::from_secs(10);

/// How a cluster's endpoints are reached.
#[derive(Clone, Copy, Debug)]
pub struct UpstreamSettings {
    /// Protocol spoken upstream.
    pub protocol: UpstreamProtocol,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// From the first attempt to the response headers, retries included.
    pub request_timeout: Duration,
    /// One attempt, from sending it to the response headers.
    pub per_try_timeout: Duration,
    /// Longest time in which no byte of a body being relayed moves.
    pub body_idle: Duration,
    /// Longest time in which no byte of a tunnel moves either way.
    pub tunnel_idle: Duration,
    /// Idle HTTP/1.1 connections kept per endpoint and worker.
    pub max_idle: usize,
    /// Idle connections older than this are not reused.
    pub idle_timeout: Duration,
    /// The PROXY protocol header a relayed TCP connection starts with, if any.
    pub proxy_protocol: Option<ProxyProtocolVersion>,
}

/// A cluster as the forwarding core uses it.
pub struct Upstream {
    name: String,
    policy: Arc<PolicyBinding>,
    settings: UpstreamSettings,
    retry: RetrySettings,
    /// Shared with the cluster's routes that override its settings.
    shared: Arc<Shared>,
    connections: Option<Arc<ConnectionLimit>>,
    decay: Arc<LoadDecay>,
    tls: Option<Arc<Originator>>,
    reports: Option<Arc<Collector>>,
}

/// What a cluster counts over all the routes that reach it.
#[derive(Debug)]
struct Shared {
    budget: RetryBudget,
    admission: Admission,
    /// Connections whose TLS handshake failed.
    tls_failures: AtomicU64,
}

/// The cluster's limit on requests in flight.
#[derive(Debug, Default)]
struct Admission {
    max: Option<u32>,
    active: AtomicU32,
    refused: AtomicU64,
}

/// A request admitted to its cluster; leaves the count when dropped.
#[must_use = "the request counts against the cluster's limit while this lives"]
pub(crate) struct Admitted<'a>(Option<&'a AtomicU32>);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(active) = self.0 {
            active.fetch_sub(1, Relaxed);
        }
    }
}

impl Upstream {
    /// A cluster balanced by `policy`, named as the binding says.
    pub fn new(policy: Arc<PolicyBinding>, settings: UpstreamSettings) -> Self {
        Self::with_retries(policy, settings, RetrySettings::default())
    }

    /// As [`new`](Self::new), retrying as `retry` says.
    pub fn with_retries(
        policy: Arc<PolicyBinding>,
        settings: UpstreamSettings,
        retry: RetrySettings,
    ) -> Self {
        let budget = RetryBudget::new(retry.budget_ratio, retry.budget_min_per_second);
        Self {
            name: policy.cluster().to_string(),
            policy,
            settings,
            retry,
            shared: Arc::new(Shared {
                budget,
                admission: Admission::default(),
                tls_failures: AtomicU64::new(0),
            }),
            connections: None,
            decay: LoadDecay::new(DEFAULT_LOAD_DECAY),
            tls: None,
            reports: None,
        }
    }

    /// The same cluster with a route's `settings` and `retry` rules: its policy,
    /// endpoints, connections, limits and retry budget are the cluster's.
    pub fn overridden(&self, settings: UpstreamSettings, retry: RetrySettings) -> Self {
        Self {
            name: self.name.clone(),
            policy: Arc::clone(&self.policy),
            settings,
            retry,
            shared: Arc::clone(&self.shared),
            connections: self.connections.clone(),
            decay: Arc::clone(&self.decay),
            tls: self.tls.clone(),
            reports: self.reports.clone(),
        }
    }

    /// Speaks TLS to the cluster's endpoints as `tls` says.
    pub fn with_tls(mut self, tls: Option<Arc<Originator>>) -> Self {
        self.tls = tls;
        self
    }

    /// Whether the cluster speaks TLS to its endpoints.
    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether the HTTP/1.1 fast path can reach its endpoints: cleartext, and
    /// HTTP/1.1 at least for some requests.
    pub(crate) fn fast_path(&self) -> bool {
        self.settings.protocol != UpstreamProtocol::Http2 && self.tls.is_none()
    }

    /// Its TLS client side, when it speaks TLS.
    pub fn originator(&self) -> Option<&Arc<Originator>> {
        self.tls.as_ref()
    }

    /// Connections to its endpoints whose TLS handshake failed so far.
    pub fn tls_failures(&self) -> u64 {
        self.shared.tls_failures.load(Relaxed)
    }

    /// Caps the requests in flight to the cluster at `max`.
    pub fn with_max_requests(mut self, max: Option<u32>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.admission.max = max;
        }
        self
    }

    /// Fades the figures of the cluster's endpoints as `decay` says (its median latency
    /// is kept up to date by whoever calls [`load_decay`](Self::load_decay)).
    pub fn with_load_decay(mut self, decay: Arc<LoadDecay>) -> Self {
        self.decay = decay;
        self
    }

    /// Collects the load reports responses carry as `reports` says.
    pub fn with_load_reports(mut self, reports: Option<Arc<Collector>>) -> Self {
        self.reports = reports;
        self
    }

    /// What the cluster collects from responses, if anything.
    pub fn load_reports(&self) -> Option<&Arc<Collector>> {
        self.reports.as_ref()
    }

    /// How the figures of the cluster's endpoints fade.
    pub fn load_decay(&self) -> &LoadDecay {
        &self.decay
    }

    /// Caps the cluster's open upstream connections as `limit` says.
    pub fn with_connection_limit(mut self, limit: Option<ConnectionLimit>) -> Self {
        self.connections = limit.map(Arc::new);
        self
    }

    /// The cluster's connection limit, if it has one.
    pub fn connection_limit(&self) -> Option<&Arc<ConnectionLimit>> {
        self.connections.as_ref()
    }

    /// How the cluster's endpoints are dialled.
    pub(crate) fn dial(&self) -> Dial<'_> {
        Dial {
            connect_timeout: self.settings.connect_timeout,
            idle_timeout: self.settings.idle_timeout,
            limit: self.connections.as_ref(),
            tls: self.tls.as_deref().map(|originator| DialTls {
                originator,
                server_name: None,
            }),
        }
    }

    /// Admits a request unless the cluster has `max_requests` in flight already (then
    /// `None`, counted).
    pub(crate) fn admit(&self) -> Option<Admitted<'_>> {
        let Some(max) = self.shared.admission.max else {
            return Some(Admitted(None));
        };
        let active = &self.shared.admission.active;
        if active.fetch_add(1, Relaxed) >= max {
            active.fetch_sub(1, Relaxed);
            self.shared.admission.refused.fetch_add(1, Relaxed);
            return None;
        }
        Some(Admitted(Some(active)))
    }

    /// Requests refused by `max_requests` since start.
    pub fn refused(&self) -> u64 {
        self.shared.admission.refused.load(Relaxed)
    }

    /// The retry rules.
    pub fn retry(&self) -> &RetrySettings {
        &self.retry
    }

    /// The first endpoint of `pick` from position `next` on that admits a request (its
    /// circuit is not open) and that `open` connects to, with the connection. Endpoints
    /// that cannot be reached are counted against and skipped; `last` says why the
    /// latest was passed over. None when the pick runs out, or at once when the
    /// cluster's connection limit leaves no room.
    pub(crate) async fn reach<'p, T, F>(
        &self,
        pick: &'p Pick,
        next: &mut usize,
        last: &mut Option<(u16, String)>,
        open: impl Fn(&'p Member) -> F,
    ) -> Option<(&'p Member, T)>
    where
        F: Future<Output = Result<T, ConnectError>>,
    {
        while let Some(id) = pick.endpoints.get(*next) {
            *next += 1;
            let Some(member) = pick.membership.get(*id) else {
                continue;
            };
            if !member.load.admits() {
                *last = Some((503, format!("{}: circuit open", member.address)));
                continue;
            }
            match open(member).await {
                Ok(conn) => return Some((member, conn)),
                Err(e) => {
                    e.record(&member.load, self.settings.connect_timeout);
                    if matches!(e, ConnectError::Tls(..)) {
                        self.shared.tls_failures.fetch_add(1, Relaxed);
                    }
                    tracing::debug!(cluster = self.name(), endpoint = %member.address, "{e}");
                    *last = Some((e.status().as_u16(), e.to_string()));
                    if e.cluster_wide() {
                        return None;
                    }
                }
            }
        }
        None
    }

    /// Waits before retry number `attempts` (jittered backoff) if `deadline` leaves
    /// room and the budget a retry; false when they do not.
    pub(crate) async fn back_off(&self, attempts: u32, deadline: Instant) -> bool {
        let wait = self.retry.backoff(attempts, draw());
        if Instant::now() + wait >= deadline || !self.shared.budget.try_retry() {
            return false;
        }
        tokio::time::sleep(wait).await;
        true
    }

    /// The retry budget.
    pub fn budget(&self) -> &RetryBudget {
        &self.shared.budget
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of the cluster's balancer.
    pub fn policy_name(&self) -> String {
        self.policy.policy_name()
    }

    /// The cluster's tie to its policy.
    pub fn binding(&self) -> &Arc<PolicyBinding> {
        &self.policy
    }

    /// Chooses endpoints for `request` (see [`PolicyBinding::pick`]).
    pub fn pick(&self, request: &impl RequestView) -> Pick {
        self.policy.pick(request)
    }

    /// How long picks take (sampled).
    pub fn pick_durations(&self) -> &PickHistogram {
        self.policy.pick_durations()
    }

    /// The policy version serving the cluster now.
    pub fn policy(&self) -> Guard<Arc<ClusterPolicy>> {
        self.policy.current()
    }

    /// The current membership.
    pub fn membership(&self) -> Arc<Membership> {
        self.policy.current().membership()
    }

    /// Connection settings.
    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }
}
