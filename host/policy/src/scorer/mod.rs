//! Health scorers: components of the `health-scorer` world, turned into checked
//! verdicts, and each cluster's tie to its scorer.

pub(crate) mod binding;
pub(crate) mod component;

pub use binding::{ScorerBinding, ScorerSetup};
pub use component::{Observation, ObservationSource, ScorerComponent, ScorerInstance, Verdict};
