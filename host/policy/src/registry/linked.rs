//! Linking a compiled component into the world it implements: a balancer
//! ([`PolicyComponent`]) or a health scorer ([`ScorerComponent`]).

use crate::balancer::component::{BalancerPre, PolicyComponent};
use crate::engine::world::{self, v0_1};
use crate::engine::{Contract, LoadError, PolicyEngine, World, inspect};
use crate::registry::cache::Sha256Digest;
use crate::scorer::component::{ScorerComponent, ScorerPre};
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
        let (world, contract) = inspect::check_interface(self.wasmtime(), component)?;
        let link_error = |e: wasmtime::Error| LoadError::Link {
            world: world.name(),
            reason: format!("{e:#}"),
        };
        let pre = self.instantiate_pre(component).map_err(link_error)?;
        let ticker = Arc::clone(self.ticker());
        Ok(match world {
            World::Balancer => {
                let pre = match contract {
                    Contract::V0_2 => {
                        BalancerPre::Current(world::BalancerPre::new(pre).map_err(link_error)?)
                    }
                    Contract::V0_1 => {
                        BalancerPre::V0_1(v0_1::BalancerPre::new(pre).map_err(link_error)?)
                    }
                };
                let sha256 = sha256.to_string();
                Linked::Balancer(Arc::new(PolicyComponent::new(name, sha256, pre, ticker)))
            }
            World::HealthScorer => {
                let pre = match contract {
                    Contract::V0_2 => ScorerPre::Current(
                        world::scorer::HealthScorerPre::new(pre).map_err(link_error)?,
                    ),
                    Contract::V0_1 => ScorerPre::V0_1(
                        v0_1::scorer::HealthScorerPre::new(pre).map_err(link_error)?,
                    ),
                };
                Linked::Scorer(Arc::new(ScorerComponent::new(name, pre, ticker)))
            }
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
