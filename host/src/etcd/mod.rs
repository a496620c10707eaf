//! etcd as the proxy uses it: one way to connect ([`connect`], used by discovery,
//! `switchyard register` and the fleet), and a watched key prefix that resumes after
//! disconnects ([`watch_prefix`]). What the keys mean is their users' business:
//! discovery's endpoints, the fleet's policy choices.

mod client;
mod prefix;

pub use client::connect;
pub use prefix::{PrefixEvent, watch_prefix};
