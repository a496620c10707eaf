//! Health checking: active probes (HTTP, TCP, gRPC health v1), passive outlier
//! detection from request outcomes, and the cluster's WASM health scorer that judges
//! them. Verdicts, the panic threshold and slow start become the membership pushed to
//! the cluster's balancer.
//!
//! All clusters' health runs off the request path on two threads of its own
//! ([`HealthChecker`]): one probes, one judges. Workers only push request outcomes
//! into a lock-free queue.

mod monitor;
mod probe;
mod state;
mod view;

pub use monitor::ClusterMonitor;
pub use probe::{ProbeKindSpec, ProbeResult, ProbeSpec, Prober};
pub use state::{Composition, EndpointState, VerdictSource, compose};
pub use view::{EndpointView, HealthSnapshot, HealthView};

use tokio::sync::watch;

/// The health threads, running every monitored cluster until dropped.
pub struct HealthChecker {
    stop: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl HealthChecker {
    /// Starts the threads for `monitors`; with none, starts nothing.
    pub fn start(monitors: Vec<ClusterMonitor>) -> std::io::Result<Self> {
        let (stop, signal) = watch::channel(false);
        let mut threads = Vec::new();
        if !monitors.is_empty() {
            let probing = runtime()?;
            let handle = probing.handle().clone();
            let mut stopped = signal.clone();
            threads.push(spawn("switchyard-probe", move || {
                probing.block_on(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
            })?);
            let judging = runtime()?;
            threads.push(spawn("switchyard-health", move || {
                judging.block_on(async move {
                    let tasks: Vec<_> = monitors
                        .into_iter()
                        .map(|m| tokio::spawn(m.run(handle.clone(), signal.clone())))
                        .collect();
                    for task in tasks {
                        let _ = task.await;
                    }
                })
            })?);
        }
        Ok(Self { stop, threads })
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn spawn(
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(body)
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
