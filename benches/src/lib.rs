//! Shared set-up for Switchyard's criterion benches.

use std::sync::Arc;
use switchyard_policy::cluster::{Member, Membership};

/// `n` healthy endpoints of weight 1, ids `0..n`.
pub fn membership(n: usize) -> Arc<Membership> {
    Arc::new(Membership::new(
        (0..n)
            .map(|i| {
                let socket = std::net::SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16));
                Member::new(i as u32, socket, 1)
            })
            .collect(),
    ))
}

/// `component` with a custom section holding `n` appended: the same policy with other
/// bytes, so another sha256, as a rebuilt version would have.
pub fn stamped(component: &[u8], n: u32) -> Vec<u8> {
    let payload = [&[1, b'n'][..], &n.to_le_bytes()].concat();
    [component, &[0, payload.len() as u8], &payload].concat()
}

/// One worker, one listener, cluster `app` on `backend` balanced by policy `live` from
/// `dir` (watched; compiled cache in `dir/cache`).
pub fn reload_config(dir: &std::path::Path, backend: &str) -> String {
    format!(
        "workers = 1\n[policies]\ndir = \"{dir}\"\ncache_dir = \"{dir}/cache\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"app\"\n\
         [[clusters]]\nname = \"app\"\npolicy = \"live\"\nendpoints = [{{ address = \"{backend}\" }}]\n",
        dir = dir.display()
    )
}

/// A demo backend answering at once, on a runtime (returned: keep it alive) with one
/// thread of its own, so it never shares the bench thread.
pub fn backend() -> (tokio::runtime::Runtime, std::net::SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime
        .block_on(switchyard::cli::demo_backend(
            "backend",
            std::time::Duration::ZERO,
        ))
        .unwrap();
    (runtime, addr)
}
