//! Connecting to etcd: one way, used by discovery, `switchyard register` and the fleet.

use etcd_client::{Client, ConnectOptions};
use std::time::Duration;

/// A client for `endpoints` (`http://host:port`). Connecting is lazy: the first call
/// tells whether etcd is there. A dead connection is noticed within about 4 s by
/// HTTP/2 pings, and the client reconnects by itself.
pub async fn connect(endpoints: &[String]) -> Result<Client, String> {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5))
        .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2));
    Client::connect(endpoints, Some(options))
        .await
        .map_err(|e| format!("etcd {}: {e}", endpoints.join(",")))
}
