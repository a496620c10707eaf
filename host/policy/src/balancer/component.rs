//! A compiled, linked balancer, ready to be instantiated cheaply.

use crate::balancer::instance::Instance;
use crate::cluster::Membership;
use crate::engine::log::PolicyLog;
use crate::engine::store::StoreState;
use crate::engine::ticker::Ticker;
use crate::engine::world::{self, PolicyInfo, v0_1};
use crate::engine::{Contract, LoadError, PolicyLimits};
use std::sync::Arc;

/// A balancer linked in the contract version it was built against.
pub(crate) enum BalancerPre {
    /// Contract 0.2.0.
    Current(world::BalancerPre<StoreState>),
    /// Contract 0.1.0.
    V0_1(v0_1::BalancerPre<StoreState>),
}

impl BalancerPre {
    /// The engine it was linked by.
    pub(crate) fn engine(&self) -> &wasmtime::Engine {
        match self {
            BalancerPre::Current(pre) => pre.engine(),
            BalancerPre::V0_1(pre) => pre.engine(),
        }
    }

    /// The contract version.
    pub(crate) fn contract(&self) -> Contract {
        match self {
            BalancerPre::Current(_) => Contract::V0_2,
            BalancerPre::V0_1(_) => Contract::V0_1,
        }
    }
}

/// A compiled, linked balancer.
pub struct PolicyComponent {
    name: String,
    sha256: String,
    pub(crate) pre: BalancerPre,
    pub(crate) log: Arc<PolicyLog>,
    /// Keeps the epoch advancing while the policy's calls run.
    pub(crate) ticker: Arc<Ticker>,
}

impl PolicyComponent {
    /// Balancer `name` whose bytes hash to `sha256` (hex), linked as `pre`, its calls
    /// kept timed by `ticker`.
    pub(crate) fn new(name: &str, sha256: String, pre: BalancerPre, ticker: Arc<Ticker>) -> Self {
        Self {
            name: name.to_string(),
            sha256,
            pre,
            log: Arc::new(PolicyLog::new(name)),
            ticker,
        }
    }

    /// The policy's name (built-in name or file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first 12 hex digits of the sha256 of its bytes: which build this is.
    pub fn version(&self) -> &str {
        &self.sha256[..12]
    }

    /// The sha256 of its bytes, in hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The contract version it was built against.
    pub fn contract(&self) -> Contract {
        self.pre.contract()
    }

    /// The policy's own description of itself, from a throw-away instance.
    pub fn describe(&self, limits: &PolicyLimits) -> Result<PolicyInfo, LoadError> {
        let mut instance = Instance::start(self, limits, Arc::new(Membership::synthetic(0)))
            .map_err(LoadError::Smoke)?;
        instance.describe().map_err(LoadError::Smoke)
    }
}
