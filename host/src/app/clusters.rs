//! Every cluster of a configuration, built and ready to serve: the policy registry,
//! each cluster's upstream with its policy (and health scorer) loaded and initialised,
//! and the membership controllers of those that need one, not running yet.

use super::settings;
use crate::admin::ClusterRecord;
use crate::config::Config;
use crate::discovery::Discovery;
use crate::health::ProbeSpec;
use crate::membership::MembershipController;
use crate::proxy::{ConnectionLimit, Upstream};
use crate::tls::Originator;
use anyhow::Context;
use std::sync::Arc;
use switchyard_policy::{ComponentCache, PolicyEngine, PolicyRegistry};

/// The clusters of a configuration, ready to serve.
pub struct Clusters {
    /// Every loaded policy.
    pub registry: Arc<PolicyRegistry>,
    /// Every cluster, in configuration order.
    pub clusters: Vec<ClusterRecord>,
    /// The membership of the clusters that discover, check health or break circuits,
    /// not running yet.
    pub controllers: Vec<MembershipController>,
}

impl Clusters {
    /// Builds the policy registry and every cluster: its policy (and health scorer)
    /// loaded from the policy directory or built in, initialised with its configuration
    /// and membership, and smoke-tested, for `workers` worker threads. `check-config`
    /// uses this too.
    pub fn build(config: &Config, engine: &PolicyEngine, workers: usize) -> anyhow::Result<Self> {
        let registry = Arc::new(PolicyRegistry::new(
            engine.clone(),
            config.policies.dir.clone(),
            ComponentCache::new(settings::cache_dir(&config.policies)),
        ));
        let mut clusters = Vec::new();
        let mut controllers = Vec::new();
        for (i, cluster) in config.clusters.iter().enumerate() {
            let load = settings::load_setup(cluster);
            let setup = settings::policy_setup(config, cluster, workers);
            let binding = registry
                .bind(setup, Arc::new(settings::membership(cluster, &load)))
                .with_context(|| {
                    format!(
                        "clusters[{i}] ({:?}): policy {:?}",
                        cluster.name,
                        settings::policy_name(cluster)
                    )
                })?;
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
            let upstream = Upstream::with_retries(
                Arc::clone(&binding),
                settings::upstream_settings(config, cluster),
                settings::retries(cluster),
            )
            .with_max_requests(cluster.limits.max_requests)
            .with_load_decay(Arc::clone(&load.decay))
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
            if scorer.is_some() || cluster.circuit_breaker.is_some() || discovery.is_some() {
                let probe = cluster.health_check.as_ref().map(|check| ProbeSpec {
                    tls: tls.clone(),
                    ..ProbeSpec::from(check)
                });
                let rules = settings::composition(cluster);
                let mut controller = MembershipController::new(binding, scorer, probe, rules);
                if let Some(discovery) = discovery {
                    controller = controller.with_discovery(discovery, load);
                }
                record.health = Some(controller.view());
                controllers.push(controller);
            }
            clusters.push(record);
        }
        Ok(Self {
            registry,
            clusters,
            controllers,
        })
    }
}
