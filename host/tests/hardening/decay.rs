//! Load figures fade when nothing refreshes them: an endpoint a latency-aware policy
//! stopped sending anything to, because it was slow, comes back once it is fast again —
//! with no traffic of its own to show it.

use crate::common::backend;
use crate::common::client::{Load, share};
use crate::common::proxy;
use crate::setup;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avoided_endpoint_regains_its_share_once_it_recovers() {
    let a = backend::named("a", Duration::from_millis(1)).await;
    let slow = Arc::new(AtomicBool::new(true));
    let b = backend::switchable("b", Arc::clone(&slow), Duration::from_millis(150)).await;
    let c = backend::named("c", Duration::from_millis(1)).await;
    // An endpoint not measured yet counts as faster than any measured one, so that b
    // is sure to be tried (and found slow) before it is avoided.
    let cluster =
        "load_decay = \"500ms\"\npolicy_config = { decay_ms = 100, default_rtt_ms = 0.01 }";
    let config = setup("", cluster, &[a.addr, b.addr, c.addr]).replace("round-robin", "peak-ewma");
    let proxy = proxy(&config);
    let load = Load::start(proxy.listener_addr("web").unwrap(), 8);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let avoided = share(
        &load.since(Instant::now() - Duration::from_millis(500), None),
        "b",
    );
    assert!(avoided < 0.05, "b is avoided while slow: {avoided}");
    assert!(b.hits.load(Relaxed) > 0, "b was measured slow");

    slow.store(false, Relaxed);
    let recovered = Instant::now();
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let regained = share(
        &load.since(recovered + Duration::from_millis(2_000), None),
        "b",
    );
    assert!(regained > 0.15, "b regains its share: {regained}");
}
