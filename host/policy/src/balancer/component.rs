//! A compiled, linked balancer, ready to be instantiated cheaply.

use crate::balancer::instance::Instance;
use crate::cluster::Membership;
use crate::engine::log::PolicyLog;
use crate::engine::store::StoreState;
use crate::engine::ticker::Ticker;
use crate::engine::world::{BalancerPre, PolicyInfo};
use crate::engine::{LoadError, PolicyLimits};
use std::sync::Arc;

/// A compiled, linked balancer.
pub struct PolicyComponent {
    name: String,
    version: String,
    pub(crate) pre: BalancerPre<StoreState>,
    pub(crate) log: Arc<PolicyLog>,
    /// Keeps the epoch advancing while the policy's calls run.
    pub(crate) ticker: Arc<Ticker>,
}

impl PolicyComponent {
    /// Balancer `name` of `version`, linked as `pre`, its calls kept timed by `ticker`.
    pub(crate) fn new(
        name: &str,
        version: String,
        pre: BalancerPre<StoreState>,
        ticker: Arc<Ticker>,
    ) -> Self {
        Self {
            name: name.to_string(),
            version,
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
        &self.version
    }

    /// The policy's own description of itself, from a throw-away instance.
    pub fn describe(&self, limits: &PolicyLimits) -> Result<PolicyInfo, LoadError> {
        let mut instance = Instance::start(self, limits, Arc::new(Membership::synthetic(0)))
            .map_err(LoadError::Smoke)?;
        instance.describe().map_err(LoadError::Smoke)
    }
}
