//! Linking a compiled component into the world it implements: a balancer
//! ([`PolicyComponent`]) or a health scorer ([`ScorerComponent`]).

use crate::balancer::component::PolicyComponent;
use crate::engine::world::BalancerPre;
use crate::engine::world::scorer::HealthScorerPre;
use crate::engine::{LoadError, PolicyEngine, World, inspect};
use crate::registry::cache::Sha256Digest;
use crate::scorer::component::ScorerComponent;
use std::sync::Arc;
use wasmtime::component::Component;

impl PolicyEngine {
    /// Compiles, validates and links a balancer component named `name`.
    pub fn compile(&self, name: &str, bytes: &[u8]) -> Result<Arc<PolicyComponent>, LoadError> {
        let sha256 = Sha256Digest::of(bytes);
        match self.link(name, sha256, &self.compile_only(bytes)?)? {
            Linked::Balancer(component) => Ok(component),
            Linked::Scorer(_) => Err(LoadError::ScorerNotBalancer),
        }
    }

    /// Compiles, validates and links a health-scorer component named `name`.
    pub fn compile_scorer(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<Arc<ScorerComponent>, LoadError> {
        let sha256 = Sha256Digest::of(bytes);
        match self.link(name, sha256, &self.compile_only(bytes)?)? {
            Linked::Scorer(component) => Ok(component),
            Linked::Balancer(_) => Err(LoadError::BalancerNotScorer),
        }
    }

    /// Checks a compiled component's world and links it as policy `name`, whose bytes
    /// hash to `sha256`.
    pub(crate) fn link(
        &self,
        name: &str,
        sha256: Sha256Digest,
        component: &Component,
    ) -> Result<Linked, LoadError> {
        let world = inspect::check_interface(self.wasmtime(), component)?;
        let link_error = |e: wasmtime::Error| LoadError::Link {
            world: world.name(),
            reason: format!("{e:#}"),
        };
        let pre = self.instantiate_pre(component).map_err(link_error)?;
        Ok(match world {
            World::Balancer => Linked::Balancer(Arc::new(PolicyComponent::new(
                name,
                sha256.to_string()[..12].to_string(),
                BalancerPre::new(pre).map_err(link_error)?,
                Arc::clone(self.ticker()),
            ))),
            World::HealthScorer => Linked::Scorer(Arc::new(ScorerComponent::new(
                name,
                HealthScorerPre::new(pre).map_err(link_error)?,
                Arc::clone(self.ticker()),
            ))),
        })
    }
}

/// A linked component of either world.
#[derive(Clone)]
pub(crate) enum Linked {
    /// A balancer.
    Balancer(Arc<PolicyComponent>),
    /// A health scorer.
    Scorer(Arc<ScorerComponent>),
}
