//! The forwarding core: listeners that speak HTTP/1.1 and h2c on one port, forwarding
//! driven by each cluster's policy, pooled upstream connections.
//!
//! A request flows listener → [`Upstream`] policy pick → pooled connection → endpoint;
//! the response streams back and, when its body ends, feeds the endpoint's load
//! figures. HTTP/1.1 requests take a fast path (`h1`) that relays heads and bodies
//! itself; HTTP/2, gRPC and the HTTP/1.1 requests the fast path hands over go through
//! hyper (`forward`). Nothing here knows wasmtime: policies are reached through
//! [`ClusterPolicy`](switchyard_policy::ClusterPolicy).

mod accept;
mod access;
mod body;
mod buffers;
mod client_body;
mod client_stream;
mod connection;
mod connection_limit;
mod detect;
mod downstream;
mod forward;
pub(crate) mod h1;
#[cfg(feature = "fuzzing")]
pub use h1::fuzz;
mod headers;
mod listener;
mod pauses;
pub(crate) mod pool;
mod pump;
mod replay;
pub mod retry;
pub mod route;
mod server;
mod tcp;
mod tunnel;
mod upgrade;
mod upstream;

pub(crate) use accept::raise_limit;
pub use accept::{Backoff, Descriptors, Failures, Spare, out_of_descriptors};
pub use connection_limit::{ConnectionLimit, Overflow};
pub use listener::{
    ClientFault, ClientLimits, Listener, ListenerStats, MIN_HEADER_BYTES, Refusal, Routes,
    TcpOpening,
};
pub use server::{ClusterList, Server, Sockets};
pub use upstream::{Upstream, UpstreamSettings};
