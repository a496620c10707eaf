//! Switchyard: a load-balancing reverse proxy whose balancing policies are
//! WebAssembly components.
//!
//! Data flows one way: request → listener → [`cluster`] → [`policy`] pick → upstream →
//! the response feeds the cluster's load figures → policies read them.

pub mod cli;
pub mod cluster;
pub mod policy;
