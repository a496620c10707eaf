//! The configuration turned into what each part takes: plain config keys in, the
//! settings of the policy engine, the membership, the proxy and the admin API out.

use crate::admin::AdminAccess;
use crate::config::model::{
    AdminConfig, ClusterConfig, ListenerConfig, ListenerProtocol, LoadReportsConfig,
    PoliciesConfig, RolloutConfig, RolloutModeConfig,
};
use crate::config::{Config, read_token};
use crate::health::Composition;
use crate::health::scrape::ScrapeSpec;
use crate::load_reports::collect::Collector;
use crate::load_reports::prometheus::Selector;
use crate::proxy::retry::RetrySettings;
use crate::proxy::{ClientLimits, MIN_HEADER_BYTES, TcpOpening, UpstreamSettings};
use crate::tls::Originator;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchyard_policy::cluster::{
    BreakerSettings, LoadDecay, LoadSetup, Member, Membership, MetricCatalog,
};
use switchyard_policy::{
    DEFAULT_HEALTH_POLICY, DEFAULT_POLICY, PolicyLimits, PolicySetup, RolloutMode, RolloutRules,
    RolloutSettings, ScorerSetup, default_cache_dir, parse_hash_source,
};

/// CPU deadline of one health-scorer `observe`.
const SCORER_OBSERVE_DEADLINE: Duration = Duration::from_millis(5);

/// Threads to run: `workers` from the config, or one per core.
pub fn worker_count(config: &Config) -> usize {
    config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The cluster's balancer: the one it names, or the default.
pub(super) fn policy_name(cluster: &ClusterConfig) -> &str {
    cluster.policy.as_deref().unwrap_or(DEFAULT_POLICY)
}

/// The directory of the compiled-component cache on disk, if there is to be one.
pub(super) fn cache_dir(policies: &PoliciesConfig) -> Option<PathBuf> {
    if !policies.disk_cache {
        return None;
    }
    policies.cache_dir.clone().or_else(default_cache_dir)
}

/// How the cluster's balancer is set up, for `workers` worker threads, its endpoints'
/// loads set up by `load`.
pub(super) fn policy_setup(
    config: &Config,
    cluster: &ClusterConfig,
    workers: usize,
    load: &LoadSetup,
) -> PolicySetup {
    PolicySetup {
        cluster: cluster.name.clone(),
        policy: policy_name(cluster).to_string(),
        config: policy_config(cluster),
        zone: config.zone.clone(),
        limits: PolicyLimits {
            pick_deadline: cluster.policy_limits.pick_deadline.0,
            memory_bytes: cluster.policy_limits.memory_mib << 20,
            ..PolicyLimits::default()
        },
        // One per worker, and one a membership hand-over may hold meanwhile.
        prewarm: workers + 1,
        reported: load.reported.clone(),
        rollout: rollout_settings(&cluster.rollout),
    }
}

/// How candidates of the cluster's policy are tried (the config is validated: the
/// hash source parses).
fn rollout_settings(rollout: &RolloutConfig) -> RolloutSettings {
    RolloutSettings {
        mode: match rollout.mode {
            RolloutModeConfig::Canary => RolloutMode::Canary {
                percent: rollout.canary_percent,
            },
            RolloutModeConfig::Shadow => RolloutMode::Shadow {
                sample: rollout.shadow_sample,
            },
        },
        sticky: rollout
            .sticky
            .as_deref()
            .and_then(|source| parse_hash_source(source).ok()),
        rules: RolloutRules {
            promote_after: rollout.promote_after.0,
            max_error_rate_delta: rollout.max_error_rate_delta,
            max_p99_ratio: rollout.max_p99_ratio,
            min_p99_delta: rollout.min_p99_delta.0,
            min_requests: rollout.min_requests,
        },
    }
}

/// How the cluster's health scorer is set up, when its health is checked: the
/// `health_config` keys, and the probe thresholds from `health_check`.
pub(super) fn scorer_setup(cluster: &ClusterConfig) -> Option<ScorerSetup> {
    if cluster.health_policy.is_none() && cluster.health_check.is_none() {
        return None;
    }
    let mut config: Vec<(String, String)> = cluster
        .health_config
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    if let Some(check) = &cluster.health_check {
        config.push((
            "healthy_threshold".into(),
            check.healthy_threshold.to_string(),
        ));
        config.push((
            "unhealthy_threshold".into(),
            check.unhealthy_threshold.to_string(),
        ));
    }
    Some(ScorerSetup {
        cluster: cluster.name.clone(),
        policy: cluster
            .health_policy
            .clone()
            .unwrap_or_else(|| DEFAULT_HEALTH_POLICY.to_string()),
        config,
        limits: PolicyLimits {
            pick_deadline: SCORER_OBSERVE_DEADLINE,
            memory_bytes: cluster.policy_limits.memory_mib << 20,
            ..PolicyLimits::default()
        },
    })
}

/// How verdicts, the panic threshold and slow start compose into weights.
pub(super) fn composition(cluster: &ClusterConfig) -> Composition {
    Composition {
        panic_threshold: cluster.panic_threshold as f32 / 100.0,
        slow_start: cluster.slow_start.0,
    }
}

/// Who may use the admin API: the token from `token_file`, read now.
pub(super) fn admin_access(admin: &AdminConfig) -> anyhow::Result<AdminAccess> {
    let token = admin
        .token_file
        .as_deref()
        .map(read_token)
        .transpose()
        .map_err(|e| anyhow::anyhow!("admin.token_file: {e}"))?;
    Ok(AdminAccess {
        token,
        metrics_public: admin.metrics_public,
    })
}

/// The cluster's configured endpoints, each set up as `load` says.
pub(super) fn membership(cluster: &ClusterConfig, load: &LoadSetup) -> Membership {
    Membership::new(
        cluster
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut member = Member::new(i as u32, e.address.0, e.weight);
                member.zone = e.zone.clone();
                member.metadata = e.metadata.clone().into_iter().collect();
                load.apply(&member.load);
                member
            })
            .collect(),
    )
}

/// The cluster's `policy_config` as key/values.
pub(super) fn policy_config(cluster: &ClusterConfig) -> Vec<(String, String)> {
    cluster
        .policy_config
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

/// What each endpoint of the cluster gets when it joins: fading load figures, and a
/// circuit breaker when the cluster has one.
pub(super) fn load_setup(cluster: &ClusterConfig) -> LoadSetup {
    let breaker = cluster
        .circuit_breaker
        .as_ref()
        .map(|breaker| BreakerSettings {
            failure_ratio: f64::from(breaker.failure_percent) / 100.0,
            min_requests: breaker.min_requests,
            window: breaker.window.0,
            cool_down: breaker.cool_down.0,
            half_open_requests: breaker.half_open_requests,
        });
    LoadSetup {
        decay: LoadDecay::new(cluster.load_decay.0),
        breaker,
        reported: cluster.load_reports.as_ref().map(metric_catalog),
    }
}

/// What the cluster collects from its responses, when it collects load reports.
pub(super) fn load_reports(cluster: &ClusterConfig, load: &LoadSetup) -> Option<Arc<Collector>> {
    let reports = cluster.load_reports.as_ref()?;
    let catalog = Arc::clone(load.reported.as_ref()?);
    Some(Arc::new(Collector::new(catalog, &reports.report_headers)))
}

/// The cluster's metrics scrape, when `load_reports.scrape` asks for one: its series
/// in the slots `collector`'s catalog gives them. The error names a series that is
/// not a selector, and why.
pub(super) fn scrape_spec(
    cluster: &ClusterConfig,
    collector: &Collector,
    tls: Option<Arc<Originator>>,
) -> Result<Option<ScrapeSpec>, String> {
    let Some(scrape) = cluster
        .load_reports
        .as_ref()
        .and_then(|r| r.scrape.as_ref())
    else {
        return Ok(None);
    };
    let mut selectors = Vec::new();
    let mut slots = Vec::new();
    for (j, metric) in scrape.metrics.iter().enumerate() {
        let selector = metric
            .parse::<Selector>()
            .map_err(|e| format!("load_reports.scrape.metrics[{j}]: {metric:?}: {e}"))?;
        selectors.push(selector);
        slots.push(
            collector.catalog().slot(metric).unwrap_or_else(|| {
                unreachable!("every scraped series is in the catalog: {metric:?}")
            }),
        );
    }
    Ok(Some(ScrapeSpec {
        path: scrape.path.clone(),
        interval: scrape.interval.0,
        timeout: scrape.timeout.0,
        selectors: selectors.into(),
        slots,
        tls,
        proxy_protocol: cluster.send_proxy_protocol,
    }))
}

/// The metrics a cluster with `[clusters.load_reports]` collects: the ORCA fields, the
/// report headers, the scraped series (checked at load).
fn metric_catalog(reports: &LoadReportsConfig) -> Arc<MetricCatalog> {
    let scraped = reports.scrape.iter().flat_map(|s| s.metrics.iter());
    let names: Vec<String> = reports
        .report_headers
        .iter()
        .chain(scraped)
        .cloned()
        .collect();
    MetricCatalog::new(reports.orca, &names)
        .unwrap_or_else(|e| unreachable!("[clusters.load_reports] is checked at load: {e}"))
}

/// How the proxy reaches the cluster's endpoints.
pub(super) fn upstream_settings(cluster: &ClusterConfig) -> UpstreamSettings {
    UpstreamSettings {
        protocol: cluster.protocol,
        connect_timeout: cluster.timeouts.connect.0,
        request_timeout: cluster.timeouts.request.0,
        per_try_timeout: cluster.timeouts.per_try.0.min(cluster.timeouts.request.0),
        body_idle: cluster.timeouts.body_idle.0,
        tunnel_idle: cluster.timeouts.tunnel_idle.0,
        max_idle: cluster.pool.max_idle_per_endpoint,
        idle_timeout: cluster.pool.idle_timeout.0,
        proxy_protocol: cluster.send_proxy_protocol,
    }
}

/// When and how the proxy retries the cluster's requests.
pub(super) fn retries(cluster: &ClusterConfig) -> RetrySettings {
    let r = &cluster.retries;
    RetrySettings {
        attempts: r.attempts,
        backoff_base: r.backoff_base.0,
        backoff_max: r.backoff_max.0,
        on_status: r.on_status.clone(),
        idempotent_header: r.idempotent_header.as_ref().map(|h| h.to_ascii_lowercase()),
        on_grpc_status: r.on_grpc_status.clone(),
        buffer_bytes: r.buffer_bytes,
        budget_ratio: f64::from(r.budget_percent) / 100.0,
        budget_min_per_second: r.budget_min_per_second,
    }
}

/// The protocols the listener's clients may upgrade to, in lower case.
pub(super) fn upgrades(listener: &ListenerConfig) -> Arc<[Box<str>]> {
    let names = listener.upgrades.iter();
    names.map(|name| name.to_ascii_lowercase().into()).collect()
}

/// What a TCP listener reads of a connection before relaying it; `None` on an HTTP
/// listener.
pub(super) fn tcp_opening(listener: &ListenerConfig) -> Option<TcpOpening> {
    (listener.protocol == ListenerProtocol::Tcp).then(|| TcpOpening {
        accept_proxy_from: listener.accept_proxy_from.clone().into(),
        tls_passthrough: listener.tls_passthrough,
    })
}

/// How long the listener's connections may idle: as configured, else a minute
/// between HTTP requests and an hour in a quiet TCP connection.
fn idle_timeout(listener: &ListenerConfig) -> Duration {
    let default = match listener.protocol {
        ListenerProtocol::Http => Duration::from_secs(60),
        ListenerProtocol::Tcp => Duration::from_secs(3600),
    };
    listener.idle_timeout.map_or(default, |idle| idle.0)
}

/// What the listener allows its clients.
pub(super) fn client_limits(listener: &ListenerConfig) -> ClientLimits {
    ClientLimits {
        header_read_timeout: listener.header_read_timeout.0,
        max_header_bytes: listener.max_header_bytes.max(MIN_HEADER_BYTES),
        max_request_body_bytes: listener.max_request_body_bytes,
        body_read_timeout: listener.body_read_timeout.0,
        idle_timeout: idle_timeout(listener),
        h2_max_concurrent_streams: listener.h2_max_concurrent_streams,
        max_connections: listener.max_connections,
        max_tunnels: listener.max_tunnels,
    }
}
