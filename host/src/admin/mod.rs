//! The admin HTTP API: what the proxy is running, and commands such as a policy rescan.
//!
//! - `GET /`: the operator's console, a page that polls `GET /console.json` (every
//!   cluster's endpoints with their latency histograms, policies and rollouts,
//!   listeners and routes, certificates, the configuration and the recent reload
//!   history) about once a second and draws it.
//! - `GET /clusters`: every cluster's endpoints: health, the verdict and what gave it
//!   (probe, passive, scorer), effective weight, in-flight, latency EWMA, error rate,
//!   ejections, the last probe.
//! - `GET /policies`: every policy's active version (sha256, load time, source), the
//!   clusters it serves with their pick and fault counters, its staged candidate with
//!   each cluster's comparison and verdict so far, the last rollout's end, and its last
//!   load error.
//! - `GET /metrics`: Prometheus text format: requests by cluster, endpoint and status
//!   class, latency histograms, in-flight, health state, effective weight, ejections,
//!   policy picks, fallbacks, faults, quarantine and reloads, and during a rollout each
//!   version's requests, errors, retries and latency (or a shadow's comparison).
//! - `GET /tls`: each TLS listener's certificates (file, names, not-after), when they
//!   were loaded, the last refused reload and failed handshakes by reason.
//! - `POST /policies/reload`: rescans the policy directory now; answers what it did.
//! - `POST /policies/NAME/stage[?mode=canary&percent=P|?mode=shadow&sample=S]`,
//!   `POST /policies/NAME/promote`, `POST /policies/NAME/rollback`: a rollout of the
//!   candidate `NAME.canary.wasm` by hand (its state is in `GET /policies`).
//! - `GET /config`: the running configuration's digest, when it was loaded, what only
//!   a restart would apply, and the last reload refused with its reason.
//! - `POST /config/reload`: reloads the configuration file (as SIGHUP does); answers
//!   200 with `GET /config`'s body, or 422 with the reason nothing changed.
//!
//! With `admin.token_file` set, every request needs `Authorization: Bearer <token>`
//! (401 otherwise; `GET /metrics` may be left public with `metrics_public`).

mod clusters;
mod config;
mod console;
mod metrics;
mod origin;
mod policies;
mod record;
mod rollouts;
mod server;
mod tls;

pub use config::{ConfigControl, ConfigStatus};
pub use record::{ClusterRecord, ListenerRecord};
pub use server::{AdminAccess, AdminServer, Topology};
