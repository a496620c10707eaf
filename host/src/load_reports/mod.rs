//! Load reports from upstreams: pure parsers for the figures endpoints publish about
//! their own load, which feed the cluster's load figures.
//!
//! - [`orca`]: ORCA per-request load reports in response headers
//!   (`endpoint-load-metrics-bin`, `endpoint-load-metrics`).
//! - [`prometheus`]: the Prometheus text exposition format an endpoint serves at
//!   `/metrics`, and series selectors over it.
//! - [`collect`]: what a cluster collects from its responses (ORCA reports, report
//!   headers), stored in the reporting endpoint's figures.
//!
//! The scrape of every endpoint's metrics path that feeds them too is a probe of
//! sorts: `health::scrape`.

pub mod collect;
pub mod orca;
pub mod prometheus;
