//! Serving listeners: each bound on every worker with `SO_REUSEPORT`, one
//! single-threaded runtime per worker thread (the nginx model: no work stealing, no
//! lock between workers), graceful drain.

use crate::config::model::UpstreamProtocol;
use crate::proxy::accept::{Admitted, accept_loop};
use crate::proxy::connection::{Activity, ClientIo, Expired, Tracked};
use crate::proxy::detect::{Protocol, detect};
use crate::proxy::forward::forward;
use crate::proxy::h1;
use crate::proxy::headers::ClientFields;
use crate::proxy::listener::Route;
use crate::proxy::pool;
use anyhow::Context;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// How often a worker sweeps its pool of idle upstream connections.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long a closing connection waits for the client to close its side.
const LINGER: Duration = Duration::from_secs(1);

/// A listener to serve.
pub struct ListenerSpec {
    /// Its name, in logs and metrics.
    pub name: String,
    /// The address to bind (port 0: any free port).
    pub addr: SocketAddr,
    /// What it serves.
    pub route: Arc<Route>,
}

/// Listeners bound on every worker and the workers' runtimes made, not serving yet.
pub struct Bound {
    sockets: Vec<Vec<(std::net::TcpListener, Arc<Route>)>>,
    runtimes: Vec<tokio::runtime::Runtime>,
    listeners: Vec<(String, SocketAddr)>,
}

impl Bound {
    /// Binds each of `listeners` once for each of `workers` threads, and makes their
    /// runtimes, so that a failure stops the start instead of a worker.
    pub fn bind(listeners: Vec<ListenerSpec>, workers: usize) -> anyhow::Result<Self> {
        let mut sockets: Vec<Vec<(std::net::TcpListener, Arc<Route>)>> =
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
                worker.push((socket, Arc::clone(&listener.route)));
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
    bound: Vec<(std::net::TcpListener, Arc<Route>)>,
    signal: watch::Receiver<bool>,
    drain: Duration,
) {
    runtime.block_on(async move {
        // Every connection holds a clone; `recv` answers `None` once all are gone.
        let (open, mut all_closed) = mpsc::channel::<()>(1);
        let routes: Vec<Arc<Route>> = bound.iter().map(|(_, r)| Arc::clone(r)).collect();
        let sweeping = tokio::spawn(sweep_pool(routes));
        let mut accepting = tokio::task::JoinSet::new();
        for (socket, route) in bound {
            match tokio::net::TcpListener::from_std(socket) {
                Ok(listener) => {
                    accepting.spawn(accept(listener, route, signal.clone(), open.clone()));
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
/// cluster has any more, and those idle past their cluster's `idle_timeout`; and
/// updates each cluster's median latency, which fading latency figures return to.
async fn sweep_pool(routes: Vec<Arc<Route>>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        let mut timeouts: HashMap<SocketAddr, Duration> = HashMap::new();
        for route in &routes {
            let upstream = &route.upstream;
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
    }
}

async fn accept(
    listener: tokio::net::TcpListener,
    route: Arc<Route>,
    signal: watch::Receiver<bool>,
    open: mpsc::Sender<()>,
) {
    let mut stopping = signal.clone();
    let stop = async move {
        let _ = stopping.changed().await;
    };
    accept_loop(
        listener,
        Arc::clone(&route),
        stop,
        |stream, peer, admitted| {
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve(
                stream,
                peer,
                Arc::clone(&route),
                signal.clone(),
                (open.clone(), admitted),
            ));
        },
    )
    .await;
}

/// Serves one client connection: HTTP/1.1 on the fast path as long as it can, the rest
/// (HTTP/2, and HTTP/1.1 the fast path hands over) with hyper.
async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    route: Arc<Route>,
    mut signal: watch::Receiver<bool>,
    _open: (mpsc::Sender<()>, Admitted),
) {
    let detected = tokio::select! {
        detected = detect(&mut stream, route.limits.header_read_timeout) => detected,
        _ = signal.changed() => None,
    };
    let Some((protocol, mut input)) = detected else {
        return;
    };
    let client = Arc::new(ClientFields::new(peer));
    if protocol == Protocol::Http1 && route.upstream.settings().protocol != UpstreamProtocol::Http2
    {
        match h1::serve(&mut stream, &client, &route, input, &mut signal).await {
            h1::Ended::Closed => return linger(stream).await,
            h1::Ended::Handoff(rest) => input = rest,
        }
    }
    let activity = Activity::new();
    let serving = Arc::clone(&route);
    let watched = Arc::clone(&activity);
    let service = service_fn(move |request| {
        let route = Arc::clone(&serving);
        let client = Arc::clone(&client);
        let mut in_progress = watched.begin();
        async move {
            // In the heap: a request's future is large (kilobytes), and a future moves
            // by being copied, several times before its first poll (into hyper's stream
            // task, into the runtime). Allocated first and written into its slot, it is
            // not built on the stack and then copied (a profile: memmove from here went
            // from 1.9% to 0.8% of the worker's time).
            let future = Box::write(Box::new_uninit(), forward(&route, request, &client));
            let response = Box::into_pin(future).await;
            in_progress.answered();
            Ok::<_, Infallible>(response.map(|body| Tracked::new(body, in_progress)))
        }
    });
    let io = TokioIo::new(ClientIo::new(input, stream, Arc::clone(&activity)));
    let limits = route.limits;
    let idle = limits.idle_timeout;
    let stalled = route.upstream.settings().body_idle;
    let watchdog = activity.watchdog(idle, stalled);
    match protocol {
        Protocol::Http1 => {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(limits.max_header_bytes);
            let connection = builder.serve_connection(io, service);
            until_drained(connection, signal, watchdog, idle).await;
        }
        Protocol::Http2 => {
            let mut builder = http2::Builder::new(TokioExecutor::new());
            builder
                .timer(TokioTimer::new())
                .max_header_list_size(limits.max_header_bytes as u32)
                .max_concurrent_streams(limits.h2_max_concurrent_streams);
            let connection = builder.serve_connection(io, service);
            until_drained(connection, signal, watchdog, idle).await;
        }
    }
}

/// Closes a client connection gracefully: ends the write side, then reads what the
/// client still sends for a moment, so that unread input does not turn the close into a
/// reset that could destroy the last response before the client reads it.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// Runs a hyper connection until it ends or its `watchdog` expires it: stalled, it is
/// dropped at once; idle, it is closed politely (HTTP/2: GOAWAY), and dropped if it
/// has not closed within `grace` (a client that never acknowledges the GOAWAY's ping
/// would keep it open, and could go on opening streams). On shutdown, lets it finish
/// the requests it has and close.
async fn until_drained(
    connection: impl GracefulConnection,
    mut signal: watch::Receiver<bool>,
    watchdog: impl Future<Output = Expired>,
    grace: Duration,
) {
    tokio::pin!(connection);
    if !*signal.borrow() {
        let expired = tokio::select! {
            // The watchdog after the connection: it sees what the connection just did.
            biased;
            _ = connection.as_mut() => return,
            _ = signal.changed() => None,
            expired = watchdog => Some(expired),
        };
        match expired {
            Some(Expired::Stalled) => return,
            Some(Expired::Idle) => {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(grace, connection).await;
                return;
            }
            None => {}
        }
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}
