//! `switchyard run` and `switchyard check-config`.

use super::signals::{Asked, Signals};
use crate::app::{self, App, worker_count};
use std::path::Path;
use switchyard_policy::PolicyEngine;

/// Runs the proxy from `path` until SIGINT or SIGTERM, then drains and returns.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let config = app::load(path)?;
    super::logging::init(config.log.format, "info");
    let engine = PolicyEngine::new().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let signals = runtime.block_on(async { Signals::install() })?;
    let proxy = App::start_from_file(path, &engine)?;
    for (name, addr) in proxy.listeners() {
        tracing::info!(listener = name.as_str(), %addr, workers = worker_count(&config), "listening");
    }
    if let Some(addr) = proxy.admin_addr() {
        tracing::info!(%addr, console = %format!("http://{addr}/"), "admin API listening");
    }
    runtime.block_on(serve_until_stopped(signals, &proxy));
    tracing::info!(drain = ?config.drain_timeout.0, "shutting down: finishing requests in flight");
    proxy.shutdown();
    tracing::info!("stopped");
    Ok(())
}

/// Validates `path`: its syntax and keys, and every cluster's policy, loaded and
/// initialised with its configuration as `run` would.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let config = app::load(path)?;
    let engine = PolicyEngine::new().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let warnings =
        app::check(&config, &engine).map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
    for warning in &warnings {
        println!("{}: warning: {warning}", path.display());
    }
    println!(
        "{}: ok ({} listeners, {} clusters)",
        path.display(),
        config.listeners.len(),
        config.clusters.len()
    );
    Ok(())
}

/// Waits for SIGINT or SIGTERM; on SIGHUP, reloads the configuration file (when the
/// proxy runs from one), rescans the policy directory and reads the certificates again.
pub(crate) async fn serve_until_stopped(mut signals: Signals, proxy: &App) {
    while let Asked::Rescan = signals.next().await {
        tracing::info!(
            "SIGHUP: reloading the configuration, rescanning the policy directory, reloading certificates"
        );
        // This thread only waits for signals: the reload may block it.
        let _ = proxy.reload();
        proxy.registry().rescan();
        proxy.reload_certificates();
    }
}
