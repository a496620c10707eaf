//! Serving listeners: each bound on every worker with `SO_REUSEPORT`, one
//! single-threaded runtime per worker thread (the nginx model: no work stealing, no
//! lock between workers), graceful drain.
//!
//! Listeners come and go while the workers run (a configuration reload): a new one is
//! bound first ([`Sockets::bind`]) and then served ([`Server::add`]); a removed one
//! stops accepting and its connections finish their requests and close
//! ([`Server::remove`]). A listener kept across a reload keeps its sockets: what it
//! serves is swapped in its slot (`ArcSwap<Listener>`), and each new connection takes
//! what is there then.

use crate::proxy::accept::accept_loop;
use crate::proxy::buffers;
use crate::proxy::downstream::{self, Shutdown};
use crate::proxy::listener::Listener;
use crate::proxy::pool;
use crate::proxy::tcp;
use crate::proxy::upstream::Upstream;
use anyhow::Context;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often a worker sweeps its pool of idle upstream connections.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How much longer than the drain timeout a stopping worker waits for its connections.
const DRAIN_MARGIN: Duration = Duration::from_millis(250);

/// Every cluster the proxy serves now, for the workers' sweeps; replaced on reload.
pub type ClusterList = Arc<ArcSwap<Vec<Arc<Upstream>>>>;

/// A listener bound once for each worker, not serving yet.
pub struct Sockets {
    sockets: Vec<std::net::TcpListener>,
    addr: SocketAddr,
}

impl Sockets {
    /// Binds `addr` once for each of `workers` threads; an error names the listener.
    pub fn bind(name: &str, addr: SocketAddr, workers: usize) -> anyhow::Result<Self> {
        let context = || format!("listener {name:?}: binding {addr}");
        refuse_if_taken(addr).with_context(context)?;
        let mut sockets = Vec::with_capacity(workers);
        let mut bound = addr;
        for _ in 0..workers {
            let socket = bind(bound).with_context(context)?;
            bound = socket.local_addr()?;
            sockets.push(socket);
        }
        Ok(Self {
            sockets,
            addr: bound,
        })
    }

    /// The address bound (with port 0: the port chosen).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// One worker thread.
struct Worker {
    runtime: tokio::runtime::Handle,
    /// Cloned by every accept loop and connection; the worker drains until all are gone.
    open: Option<mpsc::Sender<()>>,
    /// Tells the worker to drain and stop.
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A listener being served.
struct Served {
    id: u64,
    name: String,
    addr: SocketAddr,
    /// Stops its accept loop on each worker, and tells its connections to finish.
    stops: Vec<watch::Sender<bool>>,
}

/// Workers serving listeners.
pub struct Server {
    workers: Vec<Worker>,
    listeners: Vec<Served>,
    next_id: u64,
}

impl Server {
    /// Starts `workers` worker threads, serving nothing yet; on shutdown, requests in
    /// flight may finish for up to `drain`. Each sweeps idle pooled connections to the
    /// endpoints of `clusters`.
    pub fn start(workers: usize, drain: Duration, clusters: ClusterList) -> anyhow::Result<Self> {
        let workers = (0..workers)
            .map(|i| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting a worker's runtime")?;
                let handle = runtime.handle().clone();
                let (open, all_closed) = mpsc::channel::<()>(1);
                let (stop, stopped) = watch::channel(false);
                let clusters = Arc::clone(&clusters);
                let thread = std::thread::Builder::new()
                    .name(format!("switchyard-worker-{i}"))
                    .spawn(move || run_worker(runtime, clusters, stopped, all_closed, drain))
                    .context("starting a worker thread")?;
                Ok(Worker {
                    runtime: handle,
                    open: Some(open),
                    stop,
                    thread: Some(thread),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            workers,
            listeners: Vec::new(),
            next_id: 0,
        })
    }

    /// Serves `sockets` (bound for as many workers) as listener `name`, each new
    /// connection with what `slot` holds then: the listener's id.
    pub fn add(&mut self, name: &str, sockets: Sockets, slot: Arc<ArcSwap<Listener>>) -> u64 {
        let mut stops = Vec::new();
        for (worker, socket) in self.workers.iter().zip(sockets.sockets) {
            let Some(open) = &worker.open else {
                continue;
            };
            let (stop, signal) = watch::channel(false);
            let (slot, open) = (Arc::clone(&slot), open.clone());
            worker.runtime.spawn(accept(socket, slot, signal, open));
            stops.push(stop);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.listeners.push(Served {
            id,
            name: name.to_string(),
            addr: sockets.addr,
            stops,
        });
        id
    }

    /// Stops serving listener `id`: it accepts no more, and its connections close once
    /// their requests in flight are answered (within the drain timeout).
    pub fn remove(&mut self, id: u64) {
        self.listeners.retain(|served| {
            if served.id != id {
                return true;
            }
            for stop in &served.stops {
                let _ = stop.send(true);
            }
            false
        });
    }

    /// Names listener `id` `name` from now on.
    pub fn rename(&mut self, id: u64, name: &str) {
        for served in self.listeners.iter_mut().filter(|s| s.id == id) {
            served.name = name.to_string();
        }
    }

    /// Every listener's name and bound address.
    pub fn listeners(&self) -> Vec<(String, SocketAddr)> {
        let served = self.listeners.iter();
        served.map(|s| (s.name.clone(), s.addr)).collect()
    }

    /// Stops accepting, lets in-flight requests finish (up to the drain timeout), and
    /// waits for the workers.
    pub fn shutdown(mut self) {
        let ids: Vec<u64> = self.listeners.iter().map(|s| s.id).collect();
        for id in ids {
            self.remove(id);
        }
        for worker in &mut self.workers {
            worker.open = None;
            let _ = worker.stop.send(true);
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// Fails when another socket already listens on `addr`: with `SO_REUSEPORT` alone, a
/// second proxy started on the same port would silently share its traffic.
fn refuse_if_taken(addr: SocketAddr) -> std::io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    // A plain bind (no SO_REUSEPORT) fails if anything holds the port; then let it go.
    std::net::TcpListener::bind(addr).map(drop)
}

/// A listening socket with `SO_REUSEPORT`, so every worker can bind the same address.
fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Runs a worker's tasks until told to stop, then until its connections have closed
/// (at most `drain`).
fn run_worker(
    runtime: tokio::runtime::Runtime,
    clusters: ClusterList,
    mut stopped: watch::Receiver<bool>,
    mut all_closed: mpsc::Receiver<()>,
    drain: Duration,
) {
    runtime.block_on(async move {
        let sweeping = tokio::spawn(sweep_pool(clusters));
        let _ = stopped.wait_for(|&stop| stop).await;
        // A little longer than the connections' own drain, which each starts when it
        // hears of the stop: they end (and are counted) before the runtime goes.
        let drain = drain + DRAIN_MARGIN;
        if tokio::time::timeout(drain, all_closed.recv())
            .await
            .is_err()
        {
            tracing::warn!(
                ?drain,
                "drain timeout: closing connections with requests in flight"
            );
        }
        sweeping.abort();
    });
}

/// Every [`SWEEP_EVERY`], closes this worker's pooled idle connections to endpoints no
/// cluster has any more, and those idle past their cluster's `idle_timeout`; updates
/// each cluster's median latency, which fading latency figures return to; and gives
/// back the memory the worker freed.
async fn sweep_pool(clusters: ClusterList) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        let mut timeouts: HashMap<SocketAddr, Duration> = HashMap::new();
        for upstream in clusters.load().iter() {
            let timeout = upstream.settings().idle_timeout;
            let membership = upstream.membership();
            let loads = membership.members().iter().map(|m| &*m.load);
            upstream.load_decay().refresh(loads);
            for member in membership.members() {
                let entry = timeouts.entry(member.socket).or_insert(timeout);
                *entry = (*entry).max(timeout);
            }
        }
        pool::sweep(|addr| timeouts.get(&addr).copied());
        buffers::return_freed_memory();
    }
}

/// Accepts on `socket` until `signal` turns true, serving each connection with what
/// `slot` holds when it is accepted.
async fn accept(
    socket: std::net::TcpListener,
    slot: Arc<ArcSwap<Listener>>,
    mut signal: watch::Receiver<bool>,
    open: mpsc::Sender<()>,
) {
    let socket = match tokio::net::TcpListener::from_std(socket) {
        Ok(socket) => socket,
        Err(e) => return tracing::error!("cannot register a listener: {e}"),
    };
    let shutdown = Shutdown::follow(signal.clone());
    let stopping = signal.clone();
    let stop = async move {
        let _ = signal.wait_for(|&stop| stop).await;
    };
    accept_loop(socket, &slot, stop, |stream, peer, admitted| {
        let _ = stream.set_nodelay(true);
        let (shutdown, open) = (shutdown.clone(), open.clone());
        if admitted.listener().tcp.is_some() {
            tokio::spawn(tcp::serve(stream, peer, admitted, stopping.clone(), open));
        } else if admitted.listener().tls.is_some() {
            tokio::spawn(downstream::serve_tls(stream, admitted, shutdown, open));
        } else {
            tokio::spawn(downstream::serve(stream, admitted, shutdown, open));
        }
    })
    .await;
}
