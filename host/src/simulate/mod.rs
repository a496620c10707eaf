//! `switchyard policy simulate`: a policy against a simulated cluster, without any
//! network. A [`Scenario`] gives endpoints with latency distributions and capacities,
//! what they report about their load, a workload and changes over time; [`simulate`] replays it on a simulated clock through the same
//! sandbox, load figures and fallback the proxy uses, and returns a [`Report`].

mod report;
mod rng;
mod run;
mod scenario;
mod server;

pub use report::{EndpointRow, PhaseReport, Report};
pub use run::simulate;
pub use scenario::{
    Change, DEFAULT, EndpointSpec, LoadReports, PolicySettings, Scenario, ScrapeSpec, Series,
    Workload,
};
