//! `GET /metrics`: Prometheus text format, built at scrape time from the figures the
//! proxy keeps anyway (endpoint load, health, policy counters), so that metrics cost
//! the request path two atomic adds (its status class, the latency sum). Encoded by the
//! `prometheus` crate.

use super::{ClusterRecord, ListenerRecord};
use crate::proxy::{ClientFault, Descriptors, Refusal, Upstream};
use crate::tls::{HandshakeFailure, Terminator};
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::{Encoder, TextEncoder};
use std::sync::atomic::Ordering::Relaxed;
use switchyard_policy::cluster::{BreakerState, Health, StatusClass};
use switchyard_policy::{Candidate, PolicyRegistry};

/// The content type of the text format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The scrape body.
pub(crate) fn render(
    registry: &PolicyRegistry,
    clusters: &[ClusterRecord],
    listeners: &[ListenerRecord],
) -> Vec<u8> {
    let mut families = Families::default();
    let descriptors = Descriptors::get();
    families.gauge(
        "switchyard_descriptors_limit",
        "The process's file descriptor limit (raised to the hard limit at start).",
        &[],
        descriptors.limit as f64,
    );
    families.gauge(
        "switchyard_descriptors_for_clients",
        "Client connections the process accepts at once; the other descriptors are kept for upstream connections and the admin API.",
        &[],
        descriptors.for_clients as f64,
    );
    for listener in listeners {
        let (name, stats) = (&listener.name, &listener.stats);
        if let Some(tls) = &listener.tls {
            tls_metrics(&mut families, name, tls);
        }
        families.gauge(
            "switchyard_listener_connections",
            "Client connections open on a listener.",
            &[("listener", name)],
            stats.open() as f64,
        );
        for reason in Refusal::ALL {
            families.counter(
                "switchyard_listener_connections_refused_total",
                "Client connections closed as soon as accepted, by reason: max_connections \
                 (the listener's), descriptors (the process's share for clients, or none left), \
                 max_tunnels (a TCP listener's relayed connections).",
                &[("listener", name), ("reason", reason.label())],
                stats.refused(reason) as f64,
            );
        }
        for kind in ClientFault::ALL {
            families.counter(
                "switchyard_downstream_errors_total",
                "Requests a client got wrong, by kind: malformed (400), too_large (413, 431), \
                 timeout (408), aborted (the client left mid-request).",
                &[("listener", name), ("kind", kind.label())],
                stats.faults(kind) as f64,
            );
        }
        families.counter(
            "switchyard_listener_unrouted_requests_total",
            "Requests no route of a listener matched (answered 404).",
            &[("listener", name)],
            stats.unrouted_requests() as f64,
        );
        families.gauge(
            "switchyard_listener_tunnels",
            "Tunnels open on a listener: upgraded connections (such as WebSockets), and \
             a TCP listener's relayed connections.",
            &[("listener", name)],
            stats.tunnels_open() as f64,
        );
        for (end, count) in stats.tunnels_closed() {
            families.counter(
                "switchyard_listener_tunnels_closed_total",
                "Tunnels closed, by how: closed (both sides), idle (tunnel_idle), \
                 client_failed, endpoint_failed, drained (the drain timeout ran out).",
                &[("listener", name), ("end", end)],
                count as f64,
            );
        }
        let (up, down) = stats.tunnel_bytes();
        for (direction, bytes) in [("up", up), ("down", down)] {
            families.counter(
                "switchyard_listener_tunnel_bytes_total",
                "Bytes closed tunnels relayed: up (from clients), down (to them).",
                &[("listener", name), ("direction", direction)],
                bytes as f64,
            );
        }
        for rule in listener.routes.load().rules() {
            families.counter(
                "switchyard_route_requests_total",
                "Requests a route took: sent to its clusters or answered directly.",
                &[("listener", name), ("route", &rule.name)],
                rule.requests() as f64,
            );
        }
    }
    for cluster in clusters {
        endpoints(&mut families, cluster);
        policy(&mut families, &cluster.upstream);
        retries(&mut families, &cluster.upstream);
        upstream_tls(&mut families, &cluster.upstream);
        load_reports(&mut families, &cluster.upstream);
    }
    let reloads = registry.reloads();
    for (result, count) in [("loaded", &reloads.loaded), ("failed", &reloads.failed)] {
        families.counter(
            "switchyard_policy_reloads_total",
            "Policy files loaded from the watched directory, by result.",
            &[("result", result)],
            count.load(Relaxed) as f64,
        );
    }
    let mut body = Vec::new();
    // Encoding into a Vec fails only on a malformed family, which `Families` never builds.
    let _ = TextEncoder::new().encode(&families.list, &mut body);
    body
}

/// A TLS listener's failed handshakes by reason, and the seconds until each of its
/// certificates expires.
fn tls_metrics(families: &mut Families, listener: &str, tls: &Terminator) {
    for reason in HandshakeFailure::ALL {
        families.counter(
            "switchyard_tls_handshake_errors_total",
            "TLS handshakes with clients that failed, by reason: timeout, closed, client_alert, \
             malformed, incompatible, no_certificate, no_client_certificate, \
             bad_client_certificate, other.",
            &[("listener", listener), ("reason", reason.label())],
            tls.failures(reason) as f64,
        );
    }
    let now = std::time::SystemTime::now();
    for certificate in tls.status().certificates {
        let file = certificate.file.display().to_string();
        families.gauge(
            "switchyard_tls_certificate_expiry_seconds",
            "Seconds until a listener's certificate expires (negative once it has).",
            &[("listener", listener), ("file", &file)],
            super::tls::seconds_between(now, certificate.info.not_after) as f64,
        );
    }
}

fn endpoints(families: &mut Families, record: &ClusterRecord) {
    let upstream = &record.upstream;
    let cluster = upstream.name();
    let membership = upstream.membership();
    let snapshot = record.health.as_ref().map(|h| h.snapshot());
    for (i, member) in membership.members().iter().enumerate() {
        let endpoint = member.address.as_str();
        let labels = [("cluster", cluster), ("endpoint", endpoint)];
        let load = &member.load;
        for class in StatusClass::ALL {
            families.counter(
                "switchyard_upstream_requests_total",
                "Requests finished at an endpoint, by status class (error: no response).",
                &[labels[0], labels[1], ("class", class.label())],
                load.count_of(class) as f64,
            );
        }
        families.gauge(
            "switchyard_upstream_in_flight",
            "Requests sent to an endpoint whose responses have not finished.",
            &labels,
            f64::from(load.in_flight()),
        );
        families.histogram(
            "switchyard_upstream_latency_seconds",
            "Time from sending a request to its response head.",
            &labels,
            load.latency(),
        );
        for health in Health::ALL {
            families.gauge(
                "switchyard_endpoint_health",
                "1 for an endpoint's current health state, 0 for the others.",
                &[labels[0], labels[1], ("state", health.label())],
                f64::from(u8::from(member.health == health)),
            );
        }
        families.gauge(
            "switchyard_endpoint_effective_weight",
            "Weight times the health factor (slow start, degradation).",
            &labels,
            f64::from(member.weight) * f64::from(member.weight_factor),
        );
        if let Some(breaker) = load.breaker() {
            let current = breaker.state();
            for state in BreakerState::ALL {
                families.gauge(
                    "switchyard_endpoint_breaker_state",
                    "1 for an endpoint's circuit breaker state, 0 for the others.",
                    &[labels[0], labels[1], ("state", state.label())],
                    f64::from(u8::from(current == state)),
                );
            }
            families.counter(
                "switchyard_endpoint_breaker_opened_total",
                "Times an endpoint's circuit breaker opened.",
                &labels,
                breaker.opened() as f64,
            );
        }
        if let Some(view) = snapshot.as_ref().and_then(|s| s.endpoints.get(i)) {
            families.counter(
                "switchyard_endpoint_ejections_total",
                "Times the health scorer ejected an endpoint.",
                &labels,
                f64::from(view.state.ejections),
            );
        }
    }
}

fn policy(families: &mut Families, upstream: &Upstream) {
    let policy_name = upstream.policy_name();
    let labels = [
        ("cluster", upstream.name()),
        ("policy", policy_name.as_str()),
    ];
    let policy = upstream.policy();
    let stats = policy.stats();
    for (source, count) in [("policy", stats.picks), ("fallback", stats.fallbacks)] {
        families.counter(
            "switchyard_policy_picks_total",
            "Picks of the serving policy version, by who answered (fallback: the host, \
             because the policy faulted or is quarantined).",
            &[labels[0], labels[1], ("source", source)],
            count as f64,
        );
    }
    for (kind, count) in [
        ("trap", stats.traps),
        ("deadline", stats.deadlines),
        ("memory", stats.memory),
        ("invalid_answer", stats.invalid_answers),
    ] {
        families.counter(
            "switchyard_policy_faults_total",
            "Faults of the serving policy version, by kind.",
            &[labels[0], labels[1], ("kind", kind)],
            count as f64,
        );
    }
    families.histogram(
        "switchyard_policy_pick_duration_seconds",
        "Time a pick takes, policy call and host fallback included (one pick in 8 \
         is timed, per cluster since start).",
        &labels,
        upstream.pick_durations(),
    );
    families.gauge(
        "switchyard_policy_quarantined",
        "1 while the serving policy version is quarantined.",
        &labels,
        f64::from(u8::from(policy.is_quarantined())),
    );
    if let Some(candidate) = upstream.binding().candidate() {
        rollout(families, labels, &candidate);
    }
}

/// A staged candidate: its share, and per version (serving and candidate) the requests
/// it picked for since staging, or in shadow mode how its answers compare.
fn rollout(families: &mut Families, [cluster, policy]: [(&str, &str); 2], candidate: &Candidate) {
    let status = candidate.status();
    let [serving, tried] = candidate.tallies();
    let candidate_version = format!("sha256:{}", tried.version());
    families.gauge(
        "switchyard_policy_rollout_share",
        "Share of picks (0-1) a staged candidate answers (canary) or is also asked (shadow).",
        &[
            cluster,
            policy,
            ("version", &candidate_version),
            ("mode", status.mode.name()),
        ],
        status.mode.share(),
    );
    families.gauge(
        "switchyard_policy_rollout_staged_seconds",
        "How long a staged candidate has been tried (its figures cover this window).",
        &[cluster, policy, ("version", &candidate_version)],
        status.elapsed.as_secs_f64(),
    );
    if let Some(shadow) = &status.shadow {
        for (result, count) in [
            ("agreed", shadow.agreed),
            ("differed", shadow.compared.saturating_sub(shadow.agreed)),
            ("fault", shadow.faults),
            ("dropped", shadow.dropped),
        ] {
            families.counter(
                "switchyard_policy_shadow_picks_total",
                "Shadow picks of a staged candidate, by how its first choice compared with \
                 the serving version's (fault: it faulted; dropped: the queue was full).",
                &[
                    cluster,
                    policy,
                    ("version", &candidate_version),
                    ("result", result),
                ],
                count as f64,
            );
        }
        return;
    }
    for (role, tally) in [("serving", serving), ("candidate", tried)] {
        let version = format!("sha256:{}", tally.version());
        let labels = [cluster, policy, ("version", &version), ("role", role)];
        let seen = tally.snapshot();
        for (name, help, count) in [
            (
                "switchyard_policy_version_requests_total",
                "Requests whose endpoint a policy version picked, since its rollout was staged.",
                seen.requests,
            ),
            (
                "switchyard_policy_version_errors_total",
                "Of them, answered with a server error (5xx).",
                seen.errors,
            ),
            (
                "switchyard_policy_version_retried_total",
                "Of them, sent more than once.",
                seen.retried,
            ),
        ] {
            families.counter(name, help, &labels, count as f64);
        }
        families.histogram(
            "switchyard_policy_version_request_duration_seconds",
            "Time to the response head of requests a policy version picked for, since its \
             rollout was staged.",
            &labels,
            tally.latency(),
        );
    }
}

/// A TLS cluster's failed handshakes with its endpoints, and the seconds until its
/// client certificate expires.
fn upstream_tls(families: &mut Families, upstream: &Upstream) {
    let Some(originator) = upstream.originator() else {
        return;
    };
    let now = std::time::SystemTime::now();
    for certificate in originator.status().certificates {
        let file = certificate.file.display().to_string();
        families.gauge(
            "switchyard_cluster_tls_client_certificate_expiry_seconds",
            "Seconds until the client certificate a cluster shows its endpoints expires \
             (negative once it has).",
            &[("cluster", upstream.name()), ("file", &file)],
            super::tls::seconds_between(now, certificate.info.not_after) as f64,
        );
    }
    families.counter(
        "switchyard_cluster_upstream_tls_errors_total",
        "Connections to a cluster's endpoints whose TLS handshake failed (a wrong CA, name \
         or client certificate): each also counts as a failed connect of its endpoint.",
        &[("cluster", upstream.name())],
        upstream.tls_failures() as f64,
    );
}

/// What a cluster that collects load reports received: reports by result, scrapes
/// by result.
fn load_reports(families: &mut Families, upstream: &Upstream) {
    let Some(collector) = upstream.load_reports() else {
        return;
    };
    let counts = collector.counts();
    let cluster = upstream.name();
    for (result, count) in [
        ("accepted", counts.accepted),
        ("malformed", counts.malformed),
    ] {
        families.counter(
            "switchyard_load_reports_total",
            "Load reports on a cluster's responses (an ORCA report, or a report header's \
             value), by result: accepted, or malformed (ignored; the request is unaffected).",
            &[("cluster", cluster), ("result", result)],
            count as f64,
        );
    }
    for (result, count) in [("ok", counts.scraped), ("failed", counts.scrape_failures)] {
        families.counter(
            "switchyard_load_scrapes_total",
            "Scrapes of a cluster's endpoints' metrics, by result.",
            &[("cluster", cluster), ("result", result)],
            count as f64,
        );
    }
}

fn retries(families: &mut Families, upstream: &Upstream) {
    let cluster = [("cluster", upstream.name())];
    let budget = upstream.budget();
    families.counter(
        "switchyard_retries_total",
        "Retries made (each after a failed attempt of an idempotent request).",
        &cluster,
        budget.granted() as f64,
    );
    families.counter(
        "switchyard_retry_budget_exhausted_total",
        "Retries not made because the retry budget was spent.",
        &cluster,
        budget.exhausted() as f64,
    );
    families.counter(
        "switchyard_cluster_requests_refused_total",
        "Requests answered 503 at once because the cluster had max_requests in flight.",
        &cluster,
        upstream.refused() as f64,
    );
    if let Some(limit) = upstream.connection_limit() {
        families.gauge(
            "switchyard_cluster_upstream_connections",
            "Upstream connections open to the cluster (idle pooled ones included), \
             when it has max_connections.",
            &cluster,
            limit.open() as f64,
        );
        families.counter(
            "switchyard_cluster_connection_overflow_total",
            "Requests answered 503 because max_connections was reached and max_pending \
             requests waited already, or no connection came free within the connect \
             timeout.",
            &cluster,
            limit.overflowed() as f64,
        );
    }
}

/// Metric families in the order first seen, one per name.
#[derive(Default)]
struct Families {
    list: Vec<MetricFamily>,
}

impl Families {
    fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let mut counter = Counter::default();
        counter.set_value(value);
        let mut metric = metric(labels);
        metric.set_counter(counter);
        self.push(name, help, MetricType::COUNTER, metric);
    }

    fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let mut gauge = Gauge::default();
        gauge.set_value(value);
        let mut metric = metric(labels);
        metric.set_gauge(gauge);
        self.push(name, help, MetricType::GAUGE, metric);
    }

    fn histogram<const UNIT_NS: u64>(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        latency: &switchyard_policy::cluster::Histogram<UNIT_NS>,
    ) {
        let buckets = latency.cumulative();
        let mut histogram = Histogram::default();
        histogram.set_sample_count(latency.count());
        histogram.set_sample_sum(latency.sum().as_secs_f64());
        histogram.set_bucket(
            buckets
                .into_iter()
                .map(|(upper, count)| {
                    let mut bucket = Bucket::default();
                    bucket.set_upper_bound(upper);
                    bucket.set_cumulative_count(count);
                    bucket
                })
                .collect(),
        );
        let mut metric = metric(labels);
        metric.set_histogram(histogram);
        self.push(name, help, MetricType::HISTOGRAM, metric);
    }

    fn push(&mut self, name: &str, help: &str, kind: MetricType, metric: Metric) {
        if let Some(family) = self.list.iter_mut().find(|f| f.name() == name) {
            family.mut_metric().push(metric);
            return;
        }
        let mut family = MetricFamily::default();
        family.set_name(name.to_string());
        family.set_help(help.to_string());
        family.set_field_type(kind);
        family.set_metric(vec![metric]);
        self.list.push(family);
    }
}

fn metric(labels: &[(&str, &str)]) -> Metric {
    let mut metric = Metric::default();
    metric.set_label(
        labels
            .iter()
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name(name.to_string());
                pair.set_value(value.to_string());
                pair
            })
            .collect(),
    );
    metric
}
