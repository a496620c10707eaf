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

pub use controller::{EndpointUpdates, MembershipController};

use tokio::sync::watch;

/// The membership threads, running controlled clusters until dropped: started with
/// the first controller, and given more (or asked to stop one) as configuration
/// reloads add and remove clusters.
#[derive(Default)]
pub struct Controllers {
    threads: Option<Threads>,
}

/// The probing and judging threads.
struct Threads {
    stop: watch::Sender<bool>,
    probing: tokio::runtime::Handle,
    judging: tokio::runtime::Handle,
    joined: Vec<std::thread::JoinHandle<()>>,
}

/// A controller running; dropping this stops it.
pub struct Running {
    _stop: watch::Sender<bool>,
}

impl Controllers {
    /// Runs `controller` until the answer is dropped (or these threads are); starts
    /// the threads first if they are not running yet.
    pub fn run(&mut self, controller: MembershipController) -> std::io::Result<Running> {
        let threads = match &mut self.threads {
            Some(threads) => threads,
            None => self.threads.insert(Threads::start()?),
        };
        let (stop, signal) = watch::channel(false);
        let probing = threads.probing.clone();
        threads.judging.spawn(controller.run(probing, signal));
        Ok(Running { _stop: stop })
    }

    /// Runs a task that reaches out to endpoints (a metrics scrape) on the probing
    /// thread, until the answer is dropped: `task` is given the stop signal.
    pub fn run_probing<F>(
        &mut self,
        task: impl FnOnce(watch::Receiver<bool>) -> F,
    ) -> std::io::Result<Running>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let threads = match &mut self.threads {
            Some(threads) => threads,
            None => self.threads.insert(Threads::start()?),
        };
        let (stop, signal) = watch::channel(false);
        threads.probing.spawn(task(signal));
        Ok(Running { _stop: stop })
    }
}

impl Threads {
    fn start() -> std::io::Result<Self> {
        let (stop, signal) = watch::channel(false);
        let mut joined = Vec::new();
        let mut handles = Vec::new();
        for name in ["switchyard-probe", "switchyard-health"] {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let mut stopped = signal.clone();
            joined.push(
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn(move || {
                        runtime.block_on(async move {
                            let _ = stopped.wait_for(|stop| *stop).await;
                        })
                    })?,
            );
        }
        let judging = handles.pop().expect("two runtimes");
        let probing = handles.pop().expect("two runtimes");
        Ok(Self {
            stop,
            probing,
            judging,
            joined,
        })
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for thread in self.joined.drain(..) {
            let _ = thread.join();
        }
    }
}
