//! Serving listeners: each bound on every worker with `SO_REUSEPORT`, one
//! single-threaded runtime per worker thread (the nginx model: no work stealing, no
//! lock between workers), graceful drain.

use crate::proxy::accept::accept_loop;
use crate::proxy::buffers;
use crate::proxy::downstream::{self, Shutdown};
use crate::proxy::listener::Listener;
use crate::proxy::pool;
use anyhow::Context;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often a worker sweeps its pool of idle upstream connections.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A listener to serve.
pub struct ListenerSpec {
    /// Its name, in logs and metrics.
    pub name: String,
    /// The address to bind (port 0: any free port).
    pub addr: SocketAddr,
    /// What it serves.
    pub serves: Arc<Listener>,
}

/// Listeners bound on every worker and the workers' runtimes made, not serving yet.
pub struct Bound {
    sockets: Vec<Vec<(std::net::TcpListener, Arc<Listener>)>>,
    runtimes: Vec<tokio::runtime::Runtime>,
    listeners: Vec<(String, SocketAddr)>,
}

impl Bound {
    /// Binds each of `listeners` once for each of `workers` threads, and makes their
    /// runtimes, so that a failure stops the start instead of a worker.
    pub fn bind(listeners: Vec<ListenerSpec>, workers: usize) -> anyhow::Result<Self> {
        let mut sockets: Vec<Vec<(std::net::TcpListener, Arc<Listener>)>> =
            (0..workers).map(|_| Vec::new()).collect();
        let mut bound = Vec::new();
        for listener in listeners {
            let mut addr = listener.addr;
            refuse_if_taken(addr)
                .with_context(|| format!("listener {:?}: binding {addr}", listener.name))?;
            for worker in &mut sockets {
                let socket = bind(addr)
                    .with_context(|| format!("listener {:?}: binding {addr}", listener.name))?;
                addr = socket.local_addr()?;
                worker.push((socket, Arc::clone(&listener.serves)));
            }
            bound.push((listener.name, addr));
        }
        let runtimes = (0..sockets.len())
            .map(|_| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting a worker's runtime")
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            sockets,
            runtimes,
            listeners: bound,
        })
    }

    /// Starts the workers: they serve until [`Server::shutdown`], then let requests in
    /// flight finish for up to `drain`.
    pub fn serve(self, drain: Duration) -> anyhow::Result<Server> {
        let (shutdown, signal) = watch::channel(false);
        let workers = self
            .sockets
            .into_iter()
            .zip(self.runtimes)
            .enumerate()
            .map(|(i, (bound, runtime))| {
                let signal = signal.clone();
                std::thread::Builder::new()
                    .name(format!("switchyard-worker-{i}"))
                    .spawn(move || run_worker(runtime, bound, signal, drain))
                    .context("starting a worker thread")
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Server {
            listeners: self.listeners,
            shutdown,
            workers,
        })
    }
}

/// Workers serving listeners.
pub struct Server {
    listeners: Vec<(String, SocketAddr)>,
    shutdown: watch::Sender<bool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Every listener's name and bound address.
    pub fn listeners(&self) -> &[(String, SocketAddr)] {
        &self.listeners
    }

    /// Stops accepting, lets in-flight requests finish (up to the drain timeout), and
    /// waits for the workers.
    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for worker in self.workers {
            let _ = worker.join();
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

fn run_worker(
    runtime: tokio::runtime::Runtime,
    bound: Vec<(std::net::TcpListener, Arc<Listener>)>,
    signal: watch::Receiver<bool>,
    drain: Duration,
) {
    runtime.block_on(async move {
        // Every connection holds a clone; `recv` answers `None` once all are gone.
        let (open, mut all_closed) = mpsc::channel::<()>(1);
        let listeners: Vec<Arc<Listener>> = bound.iter().map(|(_, l)| Arc::clone(l)).collect();
        let sweeping = tokio::spawn(sweep_pool(listeners));
        let mut accepting = tokio::task::JoinSet::new();
        let shutdown = Shutdown::follow(signal.clone());
        for (socket, listener) in bound {
            match tokio::net::TcpListener::from_std(socket) {
                Ok(socket) => {
                    let (signal, shutdown, open) = (signal.clone(), shutdown.clone(), open.clone());
                    accepting.spawn(accept(socket, listener, signal, shutdown, open));
                }
                Err(e) => tracing::error!("cannot register a listener: {e}"),
            }
        }
        drop(open);
        while accepting.join_next().await.is_some() {}
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
async fn sweep_pool(listeners: Vec<Arc<Listener>>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        let mut timeouts: HashMap<SocketAddr, Duration> = HashMap::new();
        // A cluster may be reached by several routes (with their own overrides).
        let mut seen = Vec::new();
        for upstream in listeners.iter().flat_map(|l| l.routes.targets()) {
            let binding = Arc::as_ptr(upstream.binding());
            if seen.contains(&binding) {
                continue;
            }
            seen.push(binding);
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

async fn accept(
    socket: tokio::net::TcpListener,
    listener: Arc<Listener>,
    mut signal: watch::Receiver<bool>,
    shutdown: Shutdown,
    open: mpsc::Sender<()>,
) {
    let stop = async move {
        let _ = signal.changed().await;
    };
    let tls = listener.tls.is_some();
    accept_loop(socket, listener, stop, |stream, admitted| {
        let _ = stream.set_nodelay(true);
        let (shutdown, open) = (shutdown.clone(), open.clone());
        if tls {
            tokio::spawn(downstream::serve_tls(stream, admitted, shutdown, open));
        } else {
            tokio::spawn(downstream::serve(stream, admitted, shutdown, open));
        }
    })
    .await;
}
