//! Hot reload: a watcher on the policy directory that hands each finished change to the
//! [`PolicyRegistry`](switchyard_policy::PolicyRegistry), and one on the directories of
//! the listeners' certificates that reloads their TLS.

mod certificates;
mod watcher;

pub use certificates::CertificateWatcher;
pub use watcher::{PolicyWatcher, SETTLE_CLOSED, SETTLE_OPEN};
