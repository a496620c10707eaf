//! Balancers: components of the `balancer` world bound to clusters. A cluster's
//! [`PolicyBinding`] holds the version serving it, and a candidate staged beside it
//! during a rollout; its [`ClusterPolicy`] keeps a pool of instances and the fallback
//! that keeps requests flowing when the policy misbehaves.

pub(crate) mod binding;
pub(crate) mod candidate;
pub(crate) mod cluster_policy;
pub(crate) mod component;
pub(crate) mod instance;
mod pool;
mod request;
pub(crate) mod rollout;
mod shadow;
mod tally;

pub use binding::{PolicyBinding, PolicySetup};
pub use candidate::{Candidate, CandidateStatus};
pub use cluster_policy::{ClusterPolicy, MAX_STATE_BYTES, Pick, PickSource, Preference};
pub use component::PolicyComponent;
pub use request::{RequestInfo, RequestView, hash_of, parse_hash_source};
pub use rollout::{
    DEFAULT_CANARY_PERCENT, DEFAULT_SHADOW_SAMPLE, Judgement, RolloutMode, RolloutRules,
    RolloutSettings, judge,
};
pub use shadow::ShadowReport;
pub use tally::{TallySnapshot, VersionTally};
