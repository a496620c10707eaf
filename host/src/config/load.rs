//! Reading a configuration file: TOML syntax, shape, then cross-references. Every error
//! names the file and the key path.

use super::duration::Dur;
use super::model::{
    AdminConfig, ClusterConfig, Config, ListenerConfig, ListenerProtocol, MatchConfig, ProbeKind,
    RewriteConfig, RouteConfig, RouteRetriesConfig, RouteTimeoutsConfig,
};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration problem: `FILE: key.path: what is wrong`.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// Key path and reason.
    pub message: String,
}

/// Reads and validates `path`: syntax, keys, ranges and cross-references. The policy
/// names it uses are checked apart, by [`check_policies`] against the built-ins the
/// caller knows (`app::load` does both). Relative `policies.dir`, `policies.cache_dir`,
/// `admin.token_file`, TLS and discovery file paths are taken relative to the file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    load_text(path, &text)
}

/// As [`load_file`], with the file's `text` already read.
pub fn load_text(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let mut config = parse(&file, text)?;
    let base = path.parent().unwrap_or(Path::new("."));
    anchor_paths(&mut config, base);
    validate(&config).map_err(|message| ConfigError { file, message })?;
    Ok(config)
}

/// Takes every relative file path of `config` as relative to `base`: the token file,
/// the policy and cache directories, TLS files, discovery files.
fn anchor_paths(config: &mut Config, base: &Path) {
    let mut files: Vec<&mut PathBuf> = Vec::new();
    files.extend(config.admin.as_mut().and_then(|a| a.token_file.as_mut()));
    files.extend(config.policies.dir.as_mut());
    files.extend(config.policies.cache_dir.as_mut());
    for tls in config.listeners.iter_mut().filter_map(|l| l.tls.as_mut()) {
        files.extend(
            [&mut tls.cert, &mut tls.key, &mut tls.client_ca]
                .into_iter()
                .flatten(),
        );
        files.extend(
            tls.certificates
                .iter_mut()
                .flat_map(|c| [&mut c.cert, &mut c.key]),
        );
    }
    for cluster in &mut config.clusters {
        if let Some(tls) = &mut cluster.tls {
            let tls_files = [&mut tls.ca, &mut tls.client_cert, &mut tls.client_key];
            files.extend(tls_files.into_iter().flatten());
        }
        if let super::model::DiscoveryConfig::File { path, .. } = &mut cluster.discovery {
            files.push(path);
        }
    }
    for file in files.into_iter().filter(|f| f.is_relative()) {
        *file = base.join(&*file);
    }
}

/// Parses `text` (named `file` in errors) without the checks that need the file system.
pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
    parse_toml(file, text)
}

/// Deserializes TOML `text` (named `file` in errors) into `T`; errors name the key path
/// and the line.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, ConfigError> {
    let error = |message: String| ConfigError {
        file: file.to_string(),
        message,
    };
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|e| error(with_line(text, e.message(), e.span())))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = with_line(text, inner.message(), inner.span());
        error(if path == "." {
            message
        } else {
            format!("{path}: {message}")
        })
    })
}

fn with_line(text: &str, message: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text[..span.start.min(text.len())].lines().count().max(1);
            let line = if text[..span.start.min(text.len())].ends_with('\n') {
                line + 1
            } else {
                line
            };
            format!("{} (line {line})", message.trim_end())
        }
        None => message.trim_end().to_string(),
    }
}

/// `[listeners.tls]`: a default pair or certificates by name, each name well formed;
/// the error is `key: reason`. The files are read when the listener is built.
fn check_listener_tls(tls: &super::model::ListenerTlsConfig) -> Result<(), String> {
    match (&tls.cert, &tls.key) {
        (Some(_), None) => return Err("key: a cert needs its key".into()),
        (None, Some(_)) => return Err("cert: a key needs its cert".into()),
        (None, None) if tls.certificates.is_empty() => {
            return Err("cert: a TLS listener needs a cert and key, or certificates".into());
        }
        _ => {}
    }
    for (j, certificate) in tls.certificates.iter().enumerate() {
        for name in &certificate.server_names {
            let bare = name.strip_prefix("*.").unwrap_or(name);
            let well_formed = !bare.is_empty()
                && bare.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !well_formed {
                return Err(format!(
                    "certificates[{j}].server_names: {name:?} is not a host name or *.wildcard"
                ));
            }
        }
    }
    Ok(())
}

/// `[clusters.tls]`: a client certificate comes with its key, a server name is a DNS
/// name; the error is `key: reason`. The files are read when the cluster is built.
fn check_cluster_tls(tls: &super::model::ClusterTlsConfig) -> Result<(), String> {
    match (&tls.client_cert, &tls.client_key) {
        (Some(_), None) => return Err("client_key: a client_cert needs its key".into()),
        (None, Some(_)) => return Err("client_cert: a client_key needs its cert".into()),
        _ => {}
    }
    if let Some(name) = &tls.server_name
        && rustls::pki_types::DnsName::try_from(name.as_str()).is_err()
    {
        return Err(format!("server_name: {name:?} is not a DNS name"));
    }
    Ok(())
}

/// `[clusters.circuit_breaker]` ranges; the error is `key: reason`.
fn check_breaker(breaker: &super::model::BreakerConfig) -> Result<(), String> {
    if !(1..=100).contains(&breaker.failure_percent) {
        return Err(format!(
            "failure_percent: must be 1 to 100, not {}",
            breaker.failure_percent
        ));
    }
    for (key, value) in [
        ("min_requests", breaker.min_requests),
        ("half_open_requests", breaker.half_open_requests),
    ] {
        if value == 0 {
            return Err(format!("{key}: must be at least 1"));
        }
    }
    if breaker.window.0.is_zero() {
        return Err("window: must be above zero".into());
    }
    Ok(())
}

/// `[clusters.rollout]` ranges and its hash source; the error is `key: reason`.
fn check_rollout(rollout: &super::model::RolloutConfig) -> Result<(), String> {
    use switchyard_policy::RolloutMode;
    RolloutMode::canary(rollout.canary_percent).map_err(|e| format!("canary_percent: {e}"))?;
    RolloutMode::shadow(rollout.shadow_sample).map_err(|e| format!("shadow_sample: {e}"))?;
    if !(0.0..=1.0).contains(&rollout.max_error_rate_delta) {
        return Err(format!(
            "max_error_rate_delta: must be 0 to 1 (0.01 is one percentage point), not {}",
            rollout.max_error_rate_delta
        ));
    }
    if !(rollout.max_p99_ratio >= 1.0 && rollout.max_p99_ratio.is_finite()) {
        return Err(format!(
            "max_p99_ratio: must be at least 1, not {}",
            rollout.max_p99_ratio
        ));
    }
    if rollout.promote_after.0.is_zero() {
        return Err("promote_after: must be above zero".into());
    }
    if let Some(sticky) = &rollout.sticky {
        switchyard_policy::parse_hash_source(sticky).map_err(|e| format!("sticky: {e}"))?;
    }
    Ok(())
}

/// `[clusters.load_reports]`: header names, scrape settings, and no more
/// metrics than a cluster stores; the error is `key: reason`.
fn check_load_reports(reports: &super::model::LoadReportsConfig) -> Result<(), String> {
    use switchyard_policy::cluster::{ORCA_FIELDS, ORCA_NAMED_PREFIX};
    let mut names: Vec<&str> = Vec::new();
    for (j, header) in reports.report_headers.iter().enumerate() {
        if http::HeaderName::from_bytes(header.as_bytes()).is_err()
            || header.bytes().any(|b| b.is_ascii_uppercase())
        {
            return Err(format!(
                "report_headers[{j}]: {header:?} is not a lower-case header name"
            ));
        }
        let orca_header = header.starts_with("endpoint-load-metrics");
        if orca_header || header.starts_with(ORCA_NAMED_PREFIX) || ORCA_FIELDS.contains(&&**header)
        {
            return Err(format!(
                "report_headers[{j}]: {header:?} is an ORCA name (ORCA reports are read \
                 with `orca = true`)"
            ));
        }
        names.push(header);
    }
    if let Some(scrape) = &reports.scrape {
        if !(scrape.path.starts_with('/') && scrape.path.bytes().all(|b| b.is_ascii_graphic())) {
            return Err(format!(
                "scrape.path: {:?} must start with '/' and hold no spaces or control characters",
                scrape.path
            ));
        }
        for (key, value) in [("interval", scrape.interval), ("timeout", scrape.timeout)] {
            check_timeout(value).map_err(|m| format!("scrape.{key}: {m}"))?;
        }
        if scrape.interval.0 < Duration::from_millis(100) {
            return Err("scrape.interval: must be at least 100ms".into());
        }
        if scrape.timeout.0.is_zero() || scrape.timeout.0 > scrape.interval.0 {
            return Err("scrape.timeout: must be above zero and at most scrape.interval".into());
        }
        if scrape.metrics.is_empty() {
            return Err("scrape.metrics: name at least one series".into());
        }
        // The series' syntax is checked where the scrape is built (`app`).
        names.extend(scrape.metrics.iter().map(String::as_str));
    }
    let names: Vec<String> = names.into_iter().map(str::to_string).collect();
    switchyard_policy::cluster::MetricCatalog::new(reports.orca, &names)
        .map(|_| ())
        .map_err(|e| format!("report_headers and scrape.metrics: {e}"))
}

/// `[clusters.retries]` ranges; the error is `key: reason`.
fn check_retries(retries: &super::model::RetriesConfig) -> Result<(), String> {
    check_attempts(retries.attempts)?;
    if retries.backoff_max < retries.backoff_base {
        return Err("backoff_max: must not be below backoff_base".into());
    }
    check_retry_on(&retries.on_status, &retries.on_grpc_status)?;
    if retries.budget_percent > 100 {
        return Err(format!(
            "budget_percent: must be 0 to 100, not {}",
            retries.budget_percent
        ));
    }
    check_idempotent_header(retries.idempotent_header.as_deref())
}

/// A route's `retries` overrides: the same ranges as a cluster's.
fn check_route_retries(retries: &RouteRetriesConfig) -> Result<(), String> {
    if let Some(attempts) = retries.attempts {
        check_attempts(attempts)?;
    }
    check_retry_on(
        retries.on_status.as_deref().unwrap_or_default(),
        retries.on_grpc_status.as_deref().unwrap_or_default(),
    )?;
    check_idempotent_header(retries.idempotent_header.as_deref())
}

fn check_attempts(attempts: u32) -> Result<(), String> {
    match attempts {
        1..=10 => Ok(()),
        _ => Err(format!("attempts: must be 1 to 10, not {attempts}")),
    }
}

/// Retried statuses are 5xx, retried gRPC codes error codes.
fn check_retry_on(statuses: &[u16], grpc: &[u32]) -> Result<(), String> {
    if let Some(status) = statuses.iter().find(|s| !(500..=599).contains(*s)) {
        return Err(format!("on_status: {status} is not a 5xx status"));
    }
    if let Some(code) = grpc.iter().find(|c| !(1..=16).contains(*c)) {
        return Err(format!(
            "on_grpc_status: {code} is not a gRPC error code (1 to 16)"
        ));
    }
    Ok(())
}

fn check_idempotent_header(name: Option<&str>) -> Result<(), String> {
    match name {
        Some(name) if http::HeaderName::from_bytes(name.as_bytes()).is_err() => {
            Err(format!("idempotent_header: {name:?} is not a header name"))
        }
        _ => Ok(()),
    }
}

fn check_etcd_urls(urls: &[String]) -> Result<(), String> {
    if urls.is_empty() {
        return Err("at least one etcd URL is needed".into());
    }
    match urls.iter().find(|u| !u.starts_with("http://")) {
        Some(url) => Err(format!("{url:?} is not an http:// URL")),
        None => Ok(()),
    }
}

fn check_discovery(cluster: &super::model::ClusterConfig) -> Result<(), String> {
    use super::model::{DiscoveryConfig, DnsRecord};
    let kind = match &cluster.discovery {
        DiscoveryConfig::Static if cluster.endpoints.is_empty() => {
            return Err("endpoints: a cluster without discovery needs at least one".into());
        }
        DiscoveryConfig::Static => return Ok(()),
        DiscoveryConfig::File { .. } => "file",
        DiscoveryConfig::Dns {
            name,
            record,
            port,
            min_refresh,
            max_refresh,
            ..
        } => {
            if name.is_empty() {
                return Err("discovery.name: must not be empty".into());
            }
            if *record == DnsRecord::A && port.is_none() {
                return Err("discovery.port: needed with record = \"a\"".into());
            }
            if min_refresh.0.is_zero() || max_refresh < min_refresh {
                return Err(
                    "discovery.min_refresh: must be above zero and at most max_refresh".into(),
                );
            }
            "dns"
        }
        DiscoveryConfig::Etcd {
            endpoints, prefix, ..
        } => {
            check_etcd_urls(endpoints).map_err(|m| format!("discovery.endpoints: {m}"))?;
            if prefix.is_empty() {
                return Err("discovery.prefix: must not be empty".into());
            }
            "etcd"
        }
    };
    if !cluster.endpoints.is_empty() {
        return Err(format!(
            "endpoints: not used with discovery kind {kind:?}; remove them"
        ));
    }
    Ok(())
}

/// The longest timeout accepted: far beyond any use, and far from overflowing a
/// deadline.
const LONGEST: Duration = Duration::from_secs(30 * 24 * 3600);

/// A timeout must be above zero and at most [`LONGEST`].
fn check_timeout(value: Dur) -> Result<(), &'static str> {
    if value.0.is_zero() {
        return Err("must be above zero");
    }
    if value.0 > LONGEST {
        return Err("at most 720h (30 days)");
    }
    Ok(())
}

/// Cross-reference and range checks; the error is `key.path: reason`.
fn validate(config: &Config) -> Result<(), String> {
    // Zero is allowed: close every connection at once.
    if config.drain_timeout.0 > LONGEST {
        return Err("drain_timeout: at most 720h (30 days)".into());
    }
    if let Some(fleet) = &config.etcd {
        check_etcd_urls(&fleet.endpoints).map_err(|m| format!("etcd.endpoints: {m}"))?;
    }
    if config.workers == Some(0) {
        return Err("workers: must be at least 1".into());
    }
    if config.listeners.is_empty() {
        return Err("listeners: at least one [[listeners]] is needed".into());
    }
    if let Some(admin) = &config.admin {
        check_admin(admin)?;
    }
    let mut names = HashSet::new();
    for (i, cluster) in config.clusters.iter().enumerate() {
        if !names.insert(cluster.name.as_str()) {
            return Err(format!(
                "clusters[{i}].name: duplicate cluster {:?}",
                cluster.name
            ));
        }
        if !(1..=4096).contains(&cluster.policy_limits.memory_mib) {
            return Err(format!(
                "clusters[{i}].policy_limits.memory_mib: must be 1 to 4096 (a WebAssembly memory holds at most 4 GiB)"
            ));
        }
        for (key, value) in [
            ("timeouts.connect", cluster.timeouts.connect),
            ("timeouts.request", cluster.timeouts.request),
            ("timeouts.per_try", cluster.timeouts.per_try),
            ("timeouts.body_idle", cluster.timeouts.body_idle),
            ("timeouts.tunnel_idle", cluster.timeouts.tunnel_idle),
            ("pool.idle_timeout", cluster.pool.idle_timeout),
            ("load_decay", cluster.load_decay),
        ] {
            check_timeout(value).map_err(|m| format!("clusters[{i}].{key}: {m}"))?;
        }
        check_health(cluster).map_err(|m| format!("clusters[{i}].{m}"))?;
        check_retries(&cluster.retries).map_err(|m| format!("clusters[{i}].retries.{m}"))?;
        for (key, value) in [
            ("max_requests", cluster.limits.max_requests),
            ("max_connections", cluster.limits.max_connections),
        ] {
            if value == Some(0) {
                return Err(format!("clusters[{i}].limits.{key}: must be at least 1"));
            }
        }
        if let Some(breaker) = &cluster.circuit_breaker {
            check_breaker(breaker).map_err(|m| format!("clusters[{i}].circuit_breaker.{m}"))?;
        }
        if let Some(reports) = &cluster.load_reports {
            check_load_reports(reports).map_err(|m| format!("clusters[{i}].load_reports.{m}"))?;
        }
        check_rollout(&cluster.rollout).map_err(|m| format!("clusters[{i}].rollout.{m}"))?;
        if cluster.policy_limits.pick_deadline.0.is_zero() {
            return Err(format!(
                "clusters[{i}].policy_limits.pick_deadline: must be above zero"
            ));
        }
        check_discovery(cluster).map_err(|m| format!("clusters[{i}].{m}"))?;
        let mut addresses = HashSet::new();
        if let Some(tls) = &cluster.tls {
            check_cluster_tls(tls).map_err(|m| format!("clusters[{i}].tls.{m}"))?;
        }
        for (j, endpoint) in cluster.endpoints.iter().enumerate() {
            let key = format!("clusters[{i}].endpoints[{j}]");
            if endpoint.weight == 0 {
                return Err(format!("{key}.weight: must be at least 1"));
            }
            if !addresses.insert(endpoint.address) {
                return Err(format!(
                    "{key}.address: {} is listed twice",
                    endpoint.address.0
                ));
            }
        }
    }
    let mut listener_names = HashSet::new();
    let mut addresses = HashSet::new();
    for (i, listener) in config.listeners.iter().enumerate() {
        for (key, value) in [
            ("header_read_timeout", Some(listener.header_read_timeout)),
            ("body_read_timeout", Some(listener.body_read_timeout)),
            ("idle_timeout", listener.idle_timeout),
        ] {
            let Some(value) = value else { continue };
            check_timeout(value).map_err(|m| format!("listeners[{i}].{key}: {m}"))?;
        }
        check_protocol(listener).map_err(|m| format!("listeners[{i}].{m}"))?;
        if !(1..=10_000).contains(&listener.h2_max_concurrent_streams) {
            return Err(format!(
                "listeners[{i}].h2_max_concurrent_streams: must be 1 to 10000"
            ));
        }
        if listener.max_tunnels == 0 {
            return Err(format!("listeners[{i}].max_tunnels: must be at least 1"));
        }
        for protocol in &listener.upgrades {
            let name = !protocol.is_empty()
                && protocol
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b));
            if !name {
                return Err(format!(
                    "listeners[{i}].upgrades: {protocol:?} is not a protocol name without a version (like \"websocket\")"
                ));
            }
            if ["h2c", "h2", "http"]
                .iter()
                .any(|p| protocol.eq_ignore_ascii_case(p))
            {
                return Err(format!(
                    "listeners[{i}].upgrades: {protocol} cannot be allowed (an upgrade to another HTTP through the proxy would take the connection past its routes)"
                ));
            }
        }
        if listener.max_connections == Some(0) {
            return Err(format!(
                "listeners[{i}].max_connections: must be at least 1"
            ));
        }
        if listener.max_request_body_bytes == Some(0) {
            return Err(format!(
                "listeners[{i}].max_request_body_bytes: must be at least 1 (leave it out for no limit)"
            ));
        }
        if listener.max_header_bytes > 16 << 20 {
            return Err(format!("listeners[{i}].max_header_bytes: at most 16 MiB"));
        }
        if let Some(tls) = &listener.tls {
            check_listener_tls(tls).map_err(|m| format!("listeners[{i}].tls.{m}"))?;
        }
        if !listener_names.insert(listener.name.as_str()) {
            return Err(format!(
                "listeners[{i}].name: duplicate listener {:?}",
                listener.name
            ));
        }
        if listener.listen.0.port() != 0 && !addresses.insert(listener.listen) {
            return Err(format!(
                "listeners[{i}].listen: {} is used twice",
                listener.listen.0
            ));
        }
        let known = |name: &str| -> Result<(), String> {
            if names.contains(name) {
                return Ok(());
            }
            let known: Vec<&str> = config.clusters.iter().map(|c| c.name.as_str()).collect();
            Err(format!(
                "no cluster named {name:?} (clusters: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            ))
        };
        check_destination(listener, &known).map_err(|m| format!("listeners[{i}].{m}"))?;
    }
    for (i, cluster) in config.clusters.iter().enumerate() {
        check_cluster_use(config, cluster).map_err(|m| format!("clusters[{i}].{m}"))?;
    }
    Ok(())
}

/// What only one kind of listener takes; the error is `key: reason`.
fn check_protocol(listener: &ListenerConfig) -> Result<(), String> {
    if listener.protocol == ListenerProtocol::Http {
        if !listener.accept_proxy_from.is_empty() {
            return Err("accept_proxy_from: only on protocol = \"tcp\" listeners".into());
        }
        if listener.tls_passthrough {
            return Err("tls_passthrough: only on protocol = \"tcp\" listeners (an HTTP listener terminates TLS with [listeners.tls])".into());
        }
        return Ok(());
    }
    if let Some(everyone) = listener
        .accept_proxy_from
        .iter()
        .find(|cidr| cidr.is_everything())
    {
        return Err(format!(
            "accept_proxy_from: {everyone} would let every client claim to be anyone; list the proxies in front of this one"
        ));
    }
    if listener.tls.is_some() {
        return Err(
            "tls: a TCP listener relays bytes as they come and terminates no TLS; \
             set tls_passthrough = true to send TLS by its server name, or use protocol = \"http\""
                .into(),
        );
    }
    for (j, route) in listener.routes.iter().enumerate() {
        let key = format!("routes[{j}]");
        let m = &route.matches;
        let http_only = [
            ("match.path_prefix", m.path_prefix.is_some()),
            ("match.path", m.path.is_some()),
            ("match.path_regex", m.path_regex.is_some()),
            ("match.method", m.method.is_some()),
            ("match.headers", !m.headers.is_empty()),
            ("match.grpc_service", m.grpc_service.is_some()),
            ("match.grpc_method", m.grpc_method.is_some()),
            ("respond", route.respond.is_some()),
            ("rewrite", route.rewrite != RewriteConfig::default()),
            ("timeouts", route.timeouts != RouteTimeoutsConfig::default()),
            ("retries", route.retries != RouteRetriesConfig::default()),
        ];
        if let Some((name, _)) = http_only.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{key}.{name}: a TCP listener's routes match only host (the TLS server name)"
            ));
        }
        let sticky = route.sticky.as_deref();
        if sticky.is_some_and(|source| !["client-ip", "authority"].contains(&source)) {
            return Err(format!(
                "{key}.sticky: a TCP connection has no path, headers or cookies; stick by \"client-ip\" or \"authority\" (the TLS server name)"
            ));
        }
        if m.host.is_some() && !listener.tls_passthrough {
            return Err(format!(
                "{key}.match.host: a TCP listener knows its clients' server name only with tls_passthrough = true"
            ));
        }
    }
    Ok(())
}

/// How the listeners use `cluster`: the PROXY protocol only to TCP listeners' endpoints,
/// TLS origination only to HTTP listeners'; the error is `key: reason`.
fn check_cluster_use(config: &Config, cluster: &ClusterConfig) -> Result<(), String> {
    let users = config.listeners.iter().filter(|listener| {
        let mut named = listener.routes.iter().flat_map(|route| {
            let sides = route.clusters.iter().map(|side| side.name.as_str());
            route.cluster.as_deref().into_iter().chain(sides)
        });
        listener.cluster.as_deref() == Some(cluster.name.as_str())
            || named.any(|name| name == cluster.name)
    });
    for listener in users {
        let name = &listener.name;
        match listener.protocol {
            ListenerProtocol::Http if cluster.send_proxy_protocol.is_some() => {
                return Err(format!(
                    "send_proxy_protocol: HTTP listener {name:?} uses this cluster; the PROXY protocol is sent to TCP listeners' endpoints only"
                ));
            }
            ListenerProtocol::Tcp if cluster.tls.is_some() => {
                return Err(format!(
                    "tls: TCP listener {name:?} uses this cluster, and relays bytes as they come; TLS to endpoints is for HTTP listeners' clusters"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where a listener sends its requests: one `cluster`, or `routes` that each name
/// clusters that exist (`known`) or answer directly; the error is `key.path: reason`.
fn check_destination(
    listener: &ListenerConfig,
    known: &impl Fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    match (&listener.cluster, listener.routes.is_empty()) {
        (Some(cluster), true) => return known(cluster).map_err(|m| format!("cluster: {m}")),
        (Some(_), false) => {
            return Err(
                "cluster: a listener with routes names its clusters in them \
                        (a route with an empty match takes every request)"
                    .into(),
            );
        }
        (None, true) => return Err("cluster: a listener needs a cluster or routes".into()),
        (None, false) => {}
    }
    let mut route_names = HashSet::new();
    for (j, route) in listener.routes.iter().enumerate() {
        let key = format!("routes[{j}]");
        check_route(route, known).map_err(|m| format!("{key}.{m}"))?;
        let name = route.name.clone().unwrap_or_else(|| j.to_string());
        if !route_names.insert(name) {
            return Err(format!("{key}.name: another route has this name"));
        }
    }
    Ok(())
}

/// One route: what it matches, and exactly one destination; the error is `key: reason`.
fn check_route(
    route: &RouteConfig,
    known: &impl Fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    check_match(&route.matches).map_err(|m| format!("match.{m}"))?;
    let destinations = [
        route.cluster.is_some(),
        !route.clusters.is_empty(),
        route.respond.is_some(),
    ];
    if destinations.iter().filter(|&&d| d).count() != 1 {
        return Err("cluster: a route needs exactly one of cluster, clusters or respond".into());
    }
    if let Some(cluster) = &route.cluster {
        known(cluster).map_err(|m| format!("cluster: {m}"))?;
    }
    let mut split = HashSet::new();
    for (k, side) in route.clusters.iter().enumerate() {
        known(&side.name).map_err(|m| format!("clusters[{k}].name: {m}"))?;
        if !split.insert(side.name.as_str()) {
            return Err(format!(
                "clusters[{k}].name: {:?} is listed twice",
                side.name
            ));
        }
    }
    if !route.clusters.is_empty() && route.clusters.iter().all(|side| side.weight == 0) {
        return Err("clusters: the weights sum to 0, so no request could be sent".into());
    }
    if route
        .clusters
        .iter()
        .map(|side| u64::from(side.weight))
        .sum::<u64>()
        > u64::from(u32::MAX)
    {
        return Err("clusters: the weights sum to more than 4294967295".into());
    }
    if route.sticky.is_some() && route.clusters.len() < 2 {
        return Err("sticky: only a split over several clusters is sticky".into());
    }
    if let Some(prefix) = &route.rewrite.path_prefix {
        if route.matches.path_prefix.is_none() {
            return Err(
                "rewrite.path_prefix: needs match.path_prefix, the part it replaces".into(),
            );
        }
        check_path("rewrite.path_prefix", prefix)?;
    }
    if let Some(host) = &route.rewrite.host
        && (host.contains('@') || http::uri::Authority::try_from(host.as_str()).is_err())
    {
        return Err(format!("rewrite.host: {host:?} is not a host[:port]"));
    }
    for (key, value) in [
        ("timeouts.request", route.timeouts.request),
        ("timeouts.per_try", route.timeouts.per_try),
        ("timeouts.body_idle", route.timeouts.body_idle),
    ] {
        if let Some(value) = value {
            check_timeout(value).map_err(|m| format!("{key}: {m}"))?;
        }
    }
    check_route_retries(&route.retries).map_err(|m| format!("retries.{m}"))?;
    if let Some(respond) = &route.respond {
        let overrides = route.rewrite.path_prefix.is_some()
            || route.rewrite.host.is_some()
            || route.sticky.is_some();
        if overrides {
            return Err(
                "respond: a direct answer is not sent anywhere: remove rewrite and sticky".into(),
            );
        }
        check_respond(respond).map_err(|m| format!("respond.{m}"))?;
    }
    Ok(())
}

/// A route's `match`; the error is `key: reason`.
fn check_match(matches: &MatchConfig) -> Result<(), String> {
    if let Some(host) = &matches.host {
        if host.len() > 253 {
            return Err("host: longer than a DNS name can be (253 bytes)".into());
        }
        let bare = host.strip_prefix("*.").unwrap_or(host);
        let name = !bare.is_empty()
            && bare.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !name {
            return Err(format!(
                "host: {host:?} is not a host name (without port) or *.suffix"
            ));
        }
    }
    let paths = [
        matches.path_prefix.is_some(),
        matches.path.is_some(),
        matches.path_regex.is_some(),
        matches.grpc_service.is_some(),
        matches.grpc_method.is_some(),
    ];
    if paths.iter().filter(|&&p| p).count() > 1 {
        return Err(
            "path: at most one of path, path_prefix, path_regex, grpc_service and grpc_method"
                .into(),
        );
    }
    if let Some(prefix) = &matches.path_prefix {
        check_path("path_prefix", prefix)?;
    }
    if let Some(path) = &matches.path {
        check_path("path", path)?;
    }
    if let Some(service) = &matches.grpc_service
        && (service.is_empty()
            || service.contains('/')
            || !service.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(format!(
            "grpc_service: {service:?} is not a service name like pkg.Service"
        ));
    }
    if let Some(method) = &matches.grpc_method {
        let well_formed = method.split_once('/').is_some_and(|(service, name)| {
            !service.is_empty() && !name.is_empty() && !name.contains('/')
        }) && method.bytes().all(|b| b.is_ascii_graphic());
        if !well_formed {
            return Err(format!(
                "grpc_method: {method:?} is not a method like pkg.Service/Method"
            ));
        }
    }
    if let Some(method) = &matches.method
        && http::Method::from_bytes(method.as_bytes()).is_err()
    {
        return Err(format!("method: {method:?} is not a method"));
    }
    // Headers the proxy rewrites or removes: a condition on them would see what the
    // client claims, not what the endpoint gets.
    let unseen = [
        "x-forwarded-for",
        "forwarded",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    for name in matches.headers.keys() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("headers: {name:?} is not a header name"));
        }
        if name.eq_ignore_ascii_case("host") {
            return Err(format!(
                "headers.{name}: match the host with match.host (it reads Host and :authority alike, without the port)"
            ));
        }
        if unseen.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "headers.{name}: the proxy rewrites or removes this header, so a route cannot trust it"
            ));
        }
    }
    Ok(())
}

/// A path in a route: it starts with `/`, holds only the characters of a URI path (RFC
/// 3986), no query, no empty segment and no dot segments (requests are matched in
/// canonical form, which has none).
fn check_path(key: &str, path: &str) -> Result<(), String> {
    let uri_path = path.bytes().all(super::uri::path_byte);
    let mut segments = path.trim_end_matches('/').split('/').skip(1);
    let odd = segments.any(|segment| segment == "." || segment == ".." || segment.is_empty());
    if !path.starts_with('/') || !uri_path || (path.len() > 1 && odd) {
        return Err(format!(
            "{key}: {path:?} must start with '/' and hold only URI path characters, no \
             query, empty, . or .. segments"
        ));
    }
    Ok(())
}

/// A direct answer: a status with a reason to exist, and headers the proxy may send.
fn check_respond(respond: &super::model::RespondConfig) -> Result<(), String> {
    if !(200..=599).contains(&respond.status) {
        return Err(format!(
            "status: must be 200 to 599, not {}",
            respond.status
        ));
    }
    if matches!(respond.status, 204 | 304) && !respond.body.is_empty() {
        return Err(format!("body: a {} answer has no body", respond.status));
    }
    for (name, value) in &respond.headers {
        let lower = name.to_ascii_lowercase();
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("headers: {name:?} is not a header name"));
        }
        let framing = [
            "content-length",
            "transfer-encoding",
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "trailer",
            "upgrade",
        ];
        if framing.contains(&lower.as_str()) {
            return Err(format!("headers.{name}: set by the proxy itself"));
        }
        if http::HeaderValue::from_str(value).is_err() {
            return Err(format!("headers.{name}: {value:?} is not a header value"));
        }
    }
    Ok(())
}

/// The admin API must not be open to the network without a token: it changes what the
/// proxy does and shows its whole topology.
fn check_admin(admin: &AdminConfig) -> Result<(), String> {
    match &admin.token_file {
        None if !admin.listen.0.ip().is_loopback() => Err(format!(
            "admin.listen: {} is not a loopback address, and the admin API can change \
             what the proxy does: set admin.token_file (requests then need \
             `Authorization: Bearer <token>`) or listen on 127.0.0.1",
            admin.listen.0
        )),
        None => Ok(()),
        Some(file) => read_token(file)
            .map(drop)
            .map_err(|e| format!("admin.token_file: {e}")),
    }
}

/// The admin token in `file`: its content without surrounding whitespace, not empty.
pub fn read_token(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{} is empty", file.display()));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{}: the token must be one line without spaces",
            file.display()
        ));
    }
    Ok(token.to_string())
}

/// The health keys of one cluster; the error is `key: reason` within the cluster.
fn check_health(cluster: &ClusterConfig) -> Result<(), String> {
    if cluster.panic_threshold > 100 {
        return Err("panic_threshold: a percentage, 0 to 100".into());
    }
    let Some(check) = &cluster.health_check else {
        return Ok(());
    };
    for key in ["healthy_threshold", "unhealthy_threshold"] {
        if cluster.health_config.contains_key(key) {
            return Err(format!(
                "health_config.{key}: set it in [clusters.health_check], which hands it to the scorer"
            ));
        }
    }
    if check.interval.0 < Duration::from_millis(10) {
        return Err("health_check.interval: at least 10ms".into());
    }
    if check.timeout.0.is_zero() {
        return Err("health_check.timeout: must be above zero".into());
    }
    if check.healthy_threshold == 0 || check.unhealthy_threshold == 0 {
        return Err(
            "health_check: healthy_threshold and unhealthy_threshold must be at least 1".into(),
        );
    }
    let printable = |text: &str| text.bytes().all(|b| b.is_ascii_graphic());
    if check.kind == ProbeKind::Http && !(check.path.starts_with('/') && printable(&check.path)) {
        return Err(format!(
            "health_check.path: {:?} must start with '/' and hold no spaces or control characters",
            check.path
        ));
    }
    if let Some(host) = check
        .host
        .as_deref()
        .filter(|h| h.is_empty() || !printable(h))
    {
        return Err(format!(
            "health_check.host: {host:?} must be a host name, without spaces or control characters"
        ));
    }
    Ok(())
}

/// Checks that every policy the clusters name is one of the built-in `balancers` (or,
/// for `health_policy`, `scorers`) or a `NAME.wasm` in the policy directory; the error
/// is `key.path: reason`. The built-ins are the policy engine's, which the caller
/// knows: this module is plain data.
pub fn check_policies(config: &Config, balancers: &[&str], scorers: &[&str]) -> Result<(), String> {
    for (i, cluster) in config.clusters.iter().enumerate() {
        if let Some(name) = &cluster.policy {
            check_policy(config, name, balancers)
                .map_err(|m| format!("clusters[{i}].policy: {m}"))?;
        }
        if let Some(name) = &cluster.health_policy {
            check_policy(config, name, scorers)
                .map_err(|m| format!("clusters[{i}].health_policy: {m}"))?;
        }
    }
    Ok(())
}

/// A policy name must be a built-in or a `NAME.wasm` in the policy directory.
fn check_policy(config: &Config, name: &str, builtins: &[&str]) -> Result<(), String> {
    if let Some(dir) = &config.policies.dir
        && dir.join(format!("{name}.wasm")).is_file()
    {
        return Ok(());
    }
    if builtins.contains(&name) {
        return Ok(());
    }
    Err(match &config.policies.dir {
        Some(dir) => format!(
            "no policy {name:?}: not a built-in ({}) and no {name}.wasm in {}",
            builtins.join(", "),
            dir.display()
        ),
        None => format!(
            "no policy {name:?}: not a built-in ({}) and no [policies] dir is set",
            builtins.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[admin]
listen = "127.0.0.1:9901"

[policies]
dir = "./policies.d"          # watched directory (hot reload: next issue)

[[listeners]]
name = "web"
listen = "127.0.0.1:8080"
cluster = "api"

[[clusters]]
name = "api"
policy = "weighted-round-robin"   # a built-in name, or NAME of NAME.wasm in policies.dir
policy_config = { }               # key/values handed to the policy's init
endpoints = [
  { address = "127.0.0.1:9001", weight = 5 },
  { address = "127.0.0.1:9002", weight = 1 },
  { address = "127.0.0.1:9003", weight = 1 },
]
[clusters.timeouts]
connect = "500ms"
request = "3s"
"#;

    /// Built-in names as the policy engine would give them (config knows none itself).
    const BALANCERS: &[&str] = &["round-robin", "weighted-round-robin"];
    const SCORERS: &[&str] = &["default-health", "latency-outlier"];

    fn check(text: &str) -> Result<Config, ConfigError> {
        let config = parse("switchyard.toml", text)?;
        validate(&config)
            .and_then(|()| check_policies(&config, BALANCERS, SCORERS))
            .map_err(|message| ConfigError {
                file: "switchyard.toml".into(),
                message,
            })?;
        Ok(config)
    }

    #[test]
    fn the_documented_example_parses() {
        let config = check(EXAMPLE).unwrap();
        assert_eq!(config.clusters[0].endpoints[0].weight, 5);
        assert_eq!(config.clusters[0].timeouts.connect.0.as_millis(), 500);
        assert_eq!(config.listeners[0].cluster.as_deref(), Some("api"));
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let bad = EXAMPLE.replace("127.0.0.1:9003", "127.0.0.1:99999");
        let err = check(&bad).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "switchyard.toml: clusters[0].endpoints[2].address: invalid socket address \"127.0.0.1:99999\""
            ),
            "{err}"
        );
        // (text in the example, replaced by, what the error must say)
        for (from, to, expected) in [
            (
                "request = \"3s\"",
                "request = \"3s\"\nretries = 2",
                "clusters[0].timeouts.retries: unknown field `retries`, expected one of `connect`, `request`, `per_try`",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\n[clusters.retries]\nattempts = 0",
                "clusters[0].retries.attempts: must be 1 to 10, not 0",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\n[clusters.retries]\nattempts = 3\non_status = [404]",
                "clusters[0].retries.on_status: 404 is not a 5xx status",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\n[clusters.circuit_breaker]\nfailure_percent = 0",
                "clusters[0].circuit_breaker.failure_percent: must be 1 to 100, not 0",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\n[clusters.load_reports]\nreport_headers = [\"X-Queue\"]",
                "clusters[0].load_reports.report_headers[0]: \"X-Queue\" is not a lower-case header name",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\n[clusters.load_reports]\nreport_headers = [\"x-q\", \"x-q\"]",
                "clusters[0].load_reports.report_headers and scrape.metrics: metric \"x-q\" is named twice",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\n[clusters.load_reports]\nreport_headers = [\"named_metrics.q\"]",
                "clusters[0].load_reports.report_headers[0]: \"named_metrics.q\" is an ORCA name",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\n[clusters.load_reports]\nscrape = { metrics = [\"q\"], path = \"/m etrics\" }",
                "clusters[0].load_reports.scrape.path: \"/m etrics\" must start with '/'",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\n[clusters.load_reports]\nscrape = { metrics = [\"q\"], interval = \"1s\", timeout = \"2s\" }",
                "clusters[0].load_reports.scrape.timeout: must be above zero and at most scrape.interval",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\n[log]\nformat = \"xml\"",
                "log.format: unknown variant `xml`",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"apx\"",
                "listeners[0].cluster: no cluster named \"apx\" (clusters: api)",
            ),
            (
                "\"weighted-round-robin\"",
                "\"fancy\"",
                "clusters[0].policy: no policy \"fancy\"",
            ),
            (
                "connect = \"500ms\"",
                "connect = \"soon\"",
                "clusters[0].timeouts.connect: invalid duration \"soon\"",
            ),
            (
                "request = \"3s\"",
                "request = \"0s\"",
                "clusters[0].timeouts.request: must be above zero",
            ),
            (
                "weight = 5",
                "weight = 0",
                "clusters[0].endpoints[0].weight: must be at least 1",
            ),
            (
                "policy_config = { }",
                "policy_config = { }\nhealth_policy = \"round-robin\"",
                "clusters[0].health_policy: no policy \"round-robin\": not a built-in (default-health, latency-outlier)",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\n[clusters.health_check]\ninterval = \"5ms\"",
                "clusters[0].health_check.interval: at least 10ms",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\n[clusters.health_check]\nexpect_status = \"200-600\"",
                "clusters[0].health_check.expect_status: invalid status range \"200-600\"",
            ),
            (
                "policy_config = { }",
                "policy_config = { }\nhealth_config = { unhealthy_threshold = 1 }\nhealth_check = { }",
                "clusters[0].health_config.unhealthy_threshold: set it in [clusters.health_check]",
            ),
            (
                "policy_config = { }",
                "policy_config = { }\ndiscovery = { kind = \"etcd\", endpoints = [\"127.0.0.1:2379\"], prefix = \"/s/\" }",
                "clusters[0].discovery.endpoints: \"127.0.0.1:2379\" is not an http:// URL",
            ),
            (
                "policy_config = { }",
                "policy_config = { }\ndiscovery = { kind = \"file\", path = \"e.toml\" }",
                "clusters[0].endpoints: not used with discovery kind \"file\"; remove them",
            ),
            (
                "policy_config = { }",
                "policy_config = { }\ndiscovery = { kind = \"dns\", name = \"api.test\" }",
                "clusters[0].discovery.port: needed with record = \"a\"",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\nbody_idle = \"721h\"",
                "clusters[0].timeouts.body_idle: at most 720h (30 days)",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"api\"\nidle_timeout = \"0s\"",
                "listeners[0].idle_timeout: must be above zero",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"api\"\nh2_max_concurrent_streams = 0",
                "listeners[0].h2_max_concurrent_streams: must be 1 to 10000",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"api\"\nmax_connections = 0",
                "listeners[0].max_connections: must be at least 1",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"api\"\nupgrades = [\"h2c\"]",
                "listeners[0].upgrades: h2c cannot be allowed",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"api\"\nupgrades = [\"foo/2\"]",
                "listeners[0].upgrades: \"foo/2\" is not a protocol name without a version",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"api\"\nmax_tunnels = 0",
                "listeners[0].max_tunnels: must be at least 1",
            ),
            (
                "[admin]",
                "drain_timeout = \"721h\"\n[admin]",
                "drain_timeout: at most 720h (30 days)",
            ),
            (
                "request = \"3s\"",
                "request = \"3s\"\ntunnel_idle = \"0s\"",
                "clusters[0].timeouts.tunnel_idle: must be above zero",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"api\"\naccept_proxy_from = [\"127.0.0.1\"]",
                "listeners[0].accept_proxy_from: only on protocol = \"tcp\" listeners",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"api\"\nprotocol = \"tcp\"\naccept_proxy_from = [\"10.0.0.1/8\"]",
                "the network of /8 is 10.0.0.0",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"api\"\nprotocol = \"tcp\"\naccept_proxy_from = [\"::/0\"]",
                "listeners[0].accept_proxy_from: ::/0 would let every client claim to be anyone",
            ),
            (
                "cluster = \"api\"",
                "protocol = \"tcp\"\n[[listeners.routes]]\nclusters = [{ name = \"api\", weight = 1 }]\nsticky = \"header:x-user\"",
                "listeners[0].routes[0].sticky: a TCP connection has no path, headers or cookies",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"api\"\ntls_passthrough = true",
                "listeners[0].tls_passthrough: only on protocol = \"tcp\" listeners",
            ),
            (
                "cluster = \"api\"",
                "cluster = \"api\"\nprotocol = \"tcp\"\ntls = { cert = \"c.pem\", key = \"k.pem\" }",
                "listeners[0].tls: a TCP listener relays bytes as they come",
            ),
            (
                "cluster = \"api\"",
                "protocol = \"tcp\"\ntls_passthrough = true\n[[listeners.routes]]\nmatch = { host = \"a.test\", path_prefix = \"/a\" }\ncluster = \"api\"",
                "listeners[0].routes[0].match.path_prefix: a TCP listener's routes match only host",
            ),
            (
                "cluster = \"api\"",
                "protocol = \"tcp\"\n[[listeners.routes]]\nmatch = { host = \"a.test\" }\ncluster = \"api\"",
                "listeners[0].routes[0].match.host: a TCP listener knows its clients' server name only with tls_passthrough = true",
            ),
            (
                "policy_config = { }",
                "policy_config = { }\nsend_proxy_protocol = \"v2\"",
                "clusters[0].send_proxy_protocol: HTTP listener \"web\" uses this cluster",
            ),
            (
                "policy_config = { }",
                "policy_config = { }\nsend_proxy_protocol = \"v3\"",
                "clusters[0].send_proxy_protocol: unknown variant `v3`, expected `v1` or `v2`",
            ),
            (
                "cluster = \"api\"\n\n[[clusters]]\nname = \"api\"",
                "cluster = \"api\"\nprotocol = \"tcp\"\n[[clusters]]\nname = \"api\"\ntls = { }",
                "clusters[0].tls: TCP listener \"web\" uses this cluster",
            ),
            (
                "listen = \"127.0.0.1:9901\"",
                "listen = \"0.0.0.0:9901\"",
                "admin.listen: 0.0.0.0:9901 is not a loopback address",
            ),
            (
                "policy_config = { }",
                "policy_config = { }\ndiscovery = { kind = \"zookeeper\" }",
                "clusters[0].discovery.kind: unknown variant `zookeeper`, expected one of `static`, `file`, `dns`, `etcd`",
            ),
        ] {
            let err = check(&EXAMPLE.replace(from, to)).unwrap_err().to_string();
            assert!(err.contains(expected), "{to}: {err}");
        }
        let err = check("[[listeners]\n").unwrap_err().to_string();
        assert!(
            err.starts_with("switchyard.toml: ") && err.contains("line 1"),
            "{err}"
        );
    }
}
