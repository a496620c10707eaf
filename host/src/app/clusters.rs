//! One cluster of a configuration, built and ready to serve: its upstream with its
//! policy (and health scorer) loaded, initialised and smoke-tested through the policy
//! registry, and its membership controller when it needs one, not running yet.

use super::settings;
use crate::admin::ClusterRecord;
use crate::config::Config;
use crate::config::model::{ClusterConfig, DiscoveryConfig};
use crate::discovery::{Discovered, Discovery, Endpoints};
use crate::health::ProbeSpec;
use crate::health::scrape::ScrapeSpec;
use crate::load_reports::collect::Collector;
use crate::membership::{EndpointUpdates, MembershipController};
use crate::proxy::{ConnectionLimit, Upstream};
use crate::tls::Originator;
use anyhow::Context;
use std::sync::Arc;
use switchyard_policy::cluster::{LoadSetup, Member, Membership};
use switchyard_policy::{PolicyBinding, PolicyRegistry, ScorerBinding};

/// A cluster built from its configuration.
pub struct Built {
    /// What serves it and what the admin API shows.
    pub record: ClusterRecord,
    /// What its endpoints get when they join.
    pub load: LoadSetup,
    /// Its health scorer's tie to its policy, when its health is checked.
    pub scorer: Option<Arc<ScorerBinding>>,
    /// Its membership controller, when it discovers, checks health or breaks
    /// circuits; not running yet.
    pub controller: Option<MembershipController>,
    /// Where a static cluster's new endpoint lists go while its controller runs.
    pub updates: Option<EndpointUpdates>,
    /// Its metrics scrape, when it has one; not running yet.
    pub scrape: Option<Scrape>,
}

/// A cluster's metrics scrape, ready to run.
pub struct Scrape {
    /// What to scrape.
    pub spec: ScrapeSpec,
    /// The members scraped: the cluster's.
    pub binding: Arc<PolicyBinding>,
    /// Where scrapes are counted.
    pub collector: Arc<Collector>,
}

/// Builds cluster number `i` of `config` through `registry`, for `workers` worker
/// threads: its balancer is `steered` (a policy and its configuration the fleet chose)
/// when given, else the one the file names. Nothing is running yet; on an error,
/// whatever was bound to the registry is detached again.
pub fn build(
    config: &Config,
    i: usize,
    registry: &PolicyRegistry,
    workers: usize,
    steered: Option<(String, Vec<(String, String)>)>,
) -> anyhow::Result<Built> {
    let cluster = &config.clusters[i];
    let load = settings::load_setup(cluster);
    let mut setup = settings::policy_setup(config, cluster, workers, &load);
    if let Some((policy, policy_config)) = steered {
        (setup.policy, setup.config) = (policy, policy_config);
    }
    let policy = setup.policy.clone();
    let binding = registry
        .bind(setup, Arc::new(settings::membership(cluster, &load)))
        .with_context(|| format!("clusters[{i}] ({:?}): policy {policy:?}", cluster.name))?;
    let built = finish(config, i, registry, binding.clone(), load.clone());
    if built.is_err() {
        registry.detach(&binding, None);
    }
    built
}

/// The rest of cluster `i` once its balancer is bound.
fn finish(
    config: &Config,
    i: usize,
    registry: &PolicyRegistry,
    binding: Arc<PolicyBinding>,
    load: LoadSetup,
) -> anyhow::Result<Built> {
    let cluster = &config.clusters[i];
    let tls = match &cluster.tls {
        Some(tls) => {
            if tls.insecure_skip_verify {
                tracing::warn!(
                    cluster = %cluster.name,
                    "insecure_skip_verify: the endpoints' certificates are not verified"
                );
            }
            let keys = format!("clusters[{i}].tls");
            Some(Arc::new(Originator::new(&cluster.name, &keys, tls)?))
        }
        None => None,
    };
    let collector = settings::load_reports(cluster, &load);
    let scrape = match &collector {
        Some(collector) => settings::scrape_spec(cluster, collector, tls.clone())
            .map_err(|e| anyhow::anyhow!("clusters[{i}].{e}"))?
            .map(|spec| Scrape {
                spec,
                binding: Arc::clone(&binding),
                collector: Arc::clone(collector),
            }),
        None => None,
    };
    let upstream = Upstream::with_retries(
        Arc::clone(&binding),
        settings::upstream_settings(cluster),
        settings::retries(cluster),
    )
    .with_max_requests(cluster.limits.max_requests)
    .with_load_decay(Arc::clone(&load.decay))
    .with_load_reports(collector)
    .with_tls(tls.clone())
    .with_connection_limit(
        cluster
            .limits
            .max_connections
            .map(|max| ConnectionLimit::new(max, cluster.limits.max_pending)),
    );
    let scorer = settings::scorer_setup(cluster)
        .map(|scorer| {
            let name = scorer.policy.clone();
            registry
                .bind_scorer(scorer, binding.current().membership())
                .with_context(|| {
                    format!("clusters[{i}] ({:?}): health_policy {name:?}", cluster.name)
                })
        })
        .transpose()?;
    let discovery = Discovery::of(cluster);
    let mut record = ClusterRecord {
        upstream: Arc::new(upstream),
        health: None,
        discovery: discovery.as_ref().map(Discovery::view),
    };
    let mut built = Built {
        record: ClusterRecord::clone(&record),
        load: load.clone(),
        scorer: scorer.clone(),
        controller: None,
        updates: None,
        scrape,
    };
    if scorer.is_some() || cluster.circuit_breaker.is_some() || discovery.is_some() {
        let probe = cluster.health_check.as_ref().map(|check| ProbeSpec {
            tls: tls.clone(),
            proxy_protocol: cluster.send_proxy_protocol,
            ..ProbeSpec::from(check)
        });
        let rules = settings::composition(cluster);
        let mut controller = MembershipController::new(binding, scorer, probe, rules);
        match discovery {
            Some(discovery) => controller = controller.with_discovery(discovery, load),
            None => {
                let (with_updates, updates) = controller.with_updates(load);
                controller = with_updates;
                built.updates = Some(updates);
            }
        }
        record.health = Some(controller.view());
        built.controller = Some(controller);
    }
    built.record = record;
    Ok(built)
}

/// Whether `old` and `new` differ only in their static endpoints (a membership
/// update, as discovery's, rather than a new cluster).
pub fn only_endpoints_differ(old: &ClusterConfig, new: &ClusterConfig) -> bool {
    let static_cluster = matches!(new.discovery, DiscoveryConfig::Static);
    let without = |c: &ClusterConfig| ClusterConfig {
        endpoints: Vec::new(),
        ..c.clone()
    };
    static_cluster && old.endpoints != new.endpoints && without(old) == without(new)
}

/// `cluster`'s configured endpoints, as discovery would have found them.
pub fn endpoints(cluster: &ClusterConfig) -> Endpoints {
    let found = cluster.endpoints.iter().map(|e| Discovered {
        address: e.address.0,
        weight: e.weight,
        zone: e.zone.clone(),
        metadata: e.metadata.clone(),
    });
    Arc::new(found.collect())
}

/// Replaces the endpoints of a static cluster without a controller by `cluster`'s:
/// those that stay keep their ids and load figures, new ones get fresh ids and are set
/// up as `load` (the cluster's) says.
pub fn set_endpoints(binding: &PolicyBinding, cluster: &ClusterConfig, load: &LoadSetup) {
    let current = binding.current().membership();
    let mut next_id = current
        .members()
        .iter()
        .map(|m| m.id + 1)
        .max()
        .unwrap_or(0);
    let members = cluster.endpoints.iter().map(|e| {
        let kept = current.members().iter().find(|m| m.socket == e.address.0);
        let mut member = match kept {
            Some(kept) => kept.clone(),
            None => {
                let member = Member::new(next_id, e.address.0, e.weight);
                next_id += 1;
                load.apply(&member.load);
                member
            }
        };
        member.weight = e.weight;
        member.zone = e.zone.clone();
        member.metadata = e.metadata.clone().into_iter().collect();
        member
    });
    binding.set_membership(Arc::new(Membership::new(members.collect())));
}
