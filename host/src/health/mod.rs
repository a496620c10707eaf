//! Health checking: active probes (HTTP, TCP, gRPC health v1), each endpoint's health
//! state under the scorer's verdicts, and how verdicts, the panic threshold and slow
//! start compose into the weights the balancer sees. The cluster's membership
//! controller (`membership`) runs them.

mod probe;
mod state;
mod view;

pub use probe::{ProbeKindSpec, ProbeResult, ProbeSpec, Prober};
pub use state::{Composition, EndpointState, VerdictSource, compose};
pub use view::{EndpointView, HealthSnapshot, HealthView};
