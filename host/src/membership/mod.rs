//! Each cluster's membership controller: it merges what discovery finds with the
//! configured endpoints (assigning ids, keeping the state of those that stay), applies
//! circuit breakers, probe results and the health scorer's verdicts, and pushes the
//! resulting membership to the cluster's balancer. It runs for every cluster that
//! discovers, checks health or breaks circuits.
//!
//! All controllers run off the request path on two threads of their own
//! ([`Controllers`]): one probes, one judges. Workers only push request outcomes into
//! a lock-free queue.

mod controller;

pub use controller::MembershipController;

use tokio::sync::watch;

/// The membership threads, running every controlled cluster until dropped.
pub struct Controllers {
    stop: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Controllers {
    /// Starts the threads for `controllers`; with none, starts nothing.
    pub fn start(controllers: Vec<MembershipController>) -> std::io::Result<Self> {
        let (stop, signal) = watch::channel(false);
        let mut threads = Vec::new();
        if !controllers.is_empty() {
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
                    let tasks: Vec<_> = controllers
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

impl Drop for Controllers {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
