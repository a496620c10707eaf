//! Health checking: active probes (HTTP, TCP, gRPC health v1), passive outlier
//! detection from request outcomes, and the cluster's WASM health scorer that judges
//! them. Verdicts, the panic threshold and slow start become the membership pushed to
//! the cluster's balancer.
//!
//! All clusters' health runs on one thread of its own ([`HealthChecker`]), off the
//! request path: workers only push request outcomes into a lock-free queue.

mod monitor;
mod probe;
mod state;
mod view;

pub use monitor::ClusterMonitor;
pub use probe::{ProbeKindSpec, ProbeResult, ProbeSpec, Prober};
pub use state::{Composition, EndpointState, VerdictSource, compose};
pub use view::{EndpointView, HealthSnapshot, HealthView};

use tokio::sync::watch;

/// The health thread, running every monitored cluster until dropped.
pub struct HealthChecker {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HealthChecker {
    /// Starts the thread for `monitors`; with none, starts nothing.
    pub fn start(monitors: Vec<ClusterMonitor>) -> std::io::Result<Self> {
        let (stop, signal) = watch::channel(false);
        let thread = if monitors.is_empty() {
            None
        } else {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Some(
                std::thread::Builder::new()
                    .name("switchyard-health".into())
                    .spawn(move || {
                        runtime.block_on(async move {
                            let tasks: Vec<_> = monitors
                                .into_iter()
                                .map(|m| tokio::spawn(m.run(signal.clone())))
                                .collect();
                            for task in tasks {
                                let _ = task.await;
                            }
                        })
                    })?,
            )
        };
        Ok(Self { stop, thread })
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
