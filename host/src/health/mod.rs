//! Health checking: active probes (HTTP, TCP, gRPC health v1), each endpoint's health
//! state under the scorer's verdicts, and how verdicts, the panic threshold and slow
//! start compose into the weights the balancer sees. The cluster's membership
//! controller (`membership`) runs them. Also the other out-of-band look at endpoints:
//! the scrape of the metrics they report about their load ([`scrape`]).

mod probe;
pub mod scrape;
mod state;
mod view;

pub use probe::{ProbeKindSpec, ProbeResult, ProbeSpec, Prober};
pub use state::{Composition, EndpointState, VerdictSource, compose};
pub use view::{EndpointView, HealthSnapshot, HealthView};
