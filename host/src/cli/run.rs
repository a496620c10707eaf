//! `switchyard run` and `switchyard check-config`.

use crate::config::load_file;
use crate::policy::PolicyEngine;
use crate::proxy::{Proxy, build_upstreams, worker_count};
use std::path::Path;

/// Runs the proxy from `path` until SIGINT or SIGTERM, then drains and returns.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let config = load_file(path)?;
    super::logging::init(config.log.format);
    let engine = PolicyEngine::new().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let proxy = Proxy::start(&config, &engine)?;
    for (name, addr) in proxy.listeners() {
        tracing::info!(listener = name.as_str(), %addr, workers = worker_count(&config), "listening");
    }
    wait_for_signal(&proxy)?;
    tracing::info!(drain = ?config.drain_timeout.0, "shutting down: finishing requests in flight");
    proxy.shutdown();
    tracing::info!("stopped");
    Ok(())
}

/// Validates `path`: its syntax and keys, and every cluster's policy, loaded and
/// initialised with its configuration as `run` would.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let config = load_file(path)?;
    let engine = PolicyEngine::new().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    build_upstreams(&config, &engine, 1)
        .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
    println!(
        "{}: ok ({} listeners, {} clusters)",
        path.display(),
        config.listeners.len(),
        config.clusters.len()
    );
    Ok(())
}

/// Blocks until SIGINT or SIGTERM; on SIGHUP, rescans the policy directory.
pub(crate) fn wait_for_signal(proxy: &Proxy) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                result = tokio::signal::ctrl_c() => return result,
                _ = terminate.recv() => return Ok(()),
                _ = hangup.recv() => {
                    tracing::info!("SIGHUP: rescanning the policy directory");
                    proxy.registry().rescan();
                }
            }
        }
    })?;
    Ok(())
}
