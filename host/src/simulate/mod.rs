//! `switchyard policy simulate`: a policy against a simulated cluster, without any
//! network. A [`Scenario`] gives endpoints with latency distributions, a workload and
//! changes over time; [`simulate`] replays it on a simulated clock through the same
//! sandbox, load figures and fallback the proxy uses, and returns a [`Report`].

mod report;
mod rng;
mod run;
mod scenario;

pub use report::{EndpointRow, PhaseReport, Report};
pub use run::simulate;
pub use scenario::{Change, DEFAULT, EndpointSpec, PolicySettings, Scenario, Workload};
