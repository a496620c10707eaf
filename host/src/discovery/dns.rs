//! DNS discovery: a name's A/AAAA records (with a configured port) or its SRV records
//! (each target's addresses, with the record's port and weight; only the most
//! preferred priority), resolved again when the answer's TTL runs out, within the
//! configured bounds. A name that does not resolve leaves the last membership as it
//! is.

use super::endpoint::Discovered;
use super::{Report, Running, Source};
use crate::config::model::DnsRecord;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What to resolve, where, and how often.
pub(super) struct Spec {
    pub(super) name: String,
    pub(super) record: DnsRecord,
    pub(super) port: Option<u16>,
    pub(super) nameserver: Option<SocketAddr>,
    pub(super) min_refresh: Duration,
    pub(super) max_refresh: Duration,
}

impl Source for Spec {
    fn describe(&self) -> String {
        let server = self
            .nameserver
            .map_or("the system's nameserver".into(), |a| a.to_string());
        format!("dns {:?} {} via {server}", self.record, self.name)
    }

    fn run(self: Box<Self>, reports: mpsc::Sender<Report>) -> Running {
        Box::pin(run(*self, reports))
    }
}

/// Resolves `spec.name` and reports the endpoints, again and again, until `reports`
/// closes.
async fn run(spec: Spec, reports: mpsc::Sender<Report>) {
    let resolver = match resolver(spec.nameserver) {
        Ok(resolver) => resolver,
        Err(e) => {
            let _ = reports.send(Report::Failed(e)).await;
            return;
        }
    };
    for serial in 1u64.. {
        let (report, valid_until) = match lookup(&resolver, &spec).await {
            Ok((endpoints, valid_until)) => {
                let ttl = valid_until.saturating_duration_since(Instant::now());
                let version = format!("lookup {serial}, ttl {}s", ttl.as_secs());
                (Report::Found { endpoints, version }, valid_until)
            }
            Err(e) => (
                Report::Failed(format!("{}: {e}", spec.name)),
                Instant::now(),
            ),
        };
        if reports.send(report).await.is_err() {
            return;
        }
        let wait = valid_until
            .saturating_duration_since(Instant::now())
            .clamp(spec.min_refresh, spec.max_refresh);
        tokio::time::sleep(wait).await;
    }
}

/// A resolver asking `nameserver` (UDP) or, without one, the system's; no cache, as
/// lookups are timed by their TTL already.
fn resolver(nameserver: Option<SocketAddr>) -> Result<TokioResolver, String> {
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    let builder = match nameserver {
        Some(server) => {
            let mut connection = ConnectionConfig::udp();
            connection.port = server.port();
            let server = NameServerConfig::new(server.ip(), true, vec![connection]);
            let config = ResolverConfig::from_name_servers(vec![server]);
            Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        }
        None => Resolver::builder_tokio()
            .map_err(|e| format!("reading the system's DNS configuration: {e}"))?,
    };
    builder
        .with_options(options)
        .build()
        .map_err(|e| format!("building the DNS resolver: {e}"))
}

/// The endpoints the records name, and until when the answer holds.
async fn lookup(
    resolver: &TokioResolver,
    spec: &Spec,
) -> Result<(Vec<Discovered>, Instant), String> {
    match spec.record {
        DnsRecord::A => {
            let port = spec.port.unwrap_or_default();
            let ips = resolver
                .lookup_ip(spec.name.as_str())
                .await
                .map_err(|e| e.to_string())?;
            let endpoints = ips
                .iter()
                .map(|ip| Discovered::at(SocketAddr::new(ip, port)))
                .collect();
            Ok((endpoints, ips.valid_until()))
        }
        DnsRecord::Srv => {
            let srv = resolver
                .lookup(spec.name.as_str(), RecordType::SRV)
                .await
                .map_err(|e| e.to_string())?;
            let records: Vec<_> = srv
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SRV(srv) => Some(srv.clone()),
                    _ => None,
                })
                .collect();
            let best = records.iter().map(|r| r.priority).min();
            let mut valid_until = srv.valid_until();
            let mut endpoints = Vec::new();
            for record in records.iter().filter(|r| Some(r.priority) == best) {
                let target = record.target.to_string();
                let ips = resolver
                    .lookup_ip(target.as_str())
                    .await
                    .map_err(|e| format!("SRV target {target}: {e}"))?;
                valid_until = valid_until.min(ips.valid_until());
                for ip in ips.iter() {
                    let mut endpoint = Discovered::at(SocketAddr::new(ip, record.port));
                    endpoint.weight = u32::from(record.weight).max(1);
                    endpoints.push(endpoint);
                }
            }
            Ok((endpoints, valid_until))
        }
    }
}
