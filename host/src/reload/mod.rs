//! Hot reload: a watcher on the policy directory that hands each finished change to the
//! [`PolicyRegistry`](switchyard_policy::PolicyRegistry).

mod watcher;

pub use watcher::{PolicyWatcher, SETTLE_CLOSED, SETTLE_OPEN};
