//! The policies the proxy knows by name: built-in ones, the versions loaded from the
//! policy directory, and the cache of compiled components behind them.

mod builtin;
pub(crate) mod cache;
mod history;
pub(crate) mod linked;
mod rollouts;
mod versions;

pub use builtin::{
    DEFAULT_HEALTH_POLICY, DEFAULT_POLICY, builtin, builtin_names, builtin_scorer_names,
};
pub use cache::{CacheOrigin, ComponentCache, Sha256Digest, default_cache_dir};
pub use history::{HistoryEntry, PolicyEvent, cut_reason};
pub use rollouts::{
    ClusterRollout, FleetVerdict, RolloutEnd, RolloutOutcome, RolloutStatus, VerdictSink,
};
pub use versions::{
    LoadFailure, PolicyRegistry, PolicySource, PolicyStatus, PolicyVersion, ReloadCounts,
    ReloadOutcome, is_policy_file,
};
