//! A cluster's endpoints and their live load.
//!
//! The proxy keeps these figures; policies read them through the WIT `load` imports.
//! Membership is an immutable snapshot ([`Membership`]): a change builds a new one.

mod breaker;
pub mod clock;
mod histogram;
mod load;
mod membership;
mod prefetch;
mod reported;
mod reports;

pub use breaker::{Breaker, BreakerSettings, BreakerState};
pub use histogram::{Histogram, LatencyHistogram, PickHistogram};

pub use load::{EndpointLoad, InFlight, LoadDecay, LoadSetup, StatusClass};
pub use membership::{EndpointId, Health, Member, Membership};
pub use reported::{
    MAX_METRICS, MetricCatalog, ORCA_FIELDS, ORCA_NAMED_PREFIX, Reading, ReportedMetrics,
};
pub use reports::{Outcome, Report, Reports};
