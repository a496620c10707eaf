//! Hot reload: a watcher on the policy directory that hands each finished change to the
//! [`PolicyRegistry`](switchyard_policy::PolicyRegistry), and one on the directories of
//! the listeners' certificates that reloads their TLS, and one on the configuration
//! file; and the judge that promotes or rolls back staged policy candidates.

mod certificates;
mod config_file;
mod rollouts;
mod watcher;

pub use certificates::CertificateWatcher;
pub use config_file::ConfigWatcher;
pub use rollouts::RolloutJudge;
pub use watcher::{PolicyWatcher, SETTLE_CLOSED, SETTLE_OPEN};
