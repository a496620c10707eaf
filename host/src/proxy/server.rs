//! Starting and stopping the proxy: clusters and their policies, listeners bound on
//! every worker with `SO_REUSEPORT`, one single-threaded runtime per worker thread (the
//! nginx model: no work stealing, no lock between workers), graceful drain.

use crate::admin::{AdminAccess, AdminServer};
use crate::config::Config;
use crate::config::model::UpstreamProtocol;
use crate::config::model::{AdminConfig, ClusterConfig, ListenerConfig};
use crate::config::read_token;
use crate::discovery::Discovery;
use crate::fleet::{Fleet, Steered};
use crate::health::{Composition, ProbeSpec};
use crate::membership::{Controllers, MembershipController};
use crate::proxy::accept::{Admitted, Descriptors, accept_loop, raise_limit};
use crate::proxy::connection::{Activity, ClientIo, Expired, Tracked};
use crate::proxy::connection_limit::ConnectionLimit;
use crate::proxy::detect::{Protocol, detect};
use crate::proxy::forward::forward;
use crate::proxy::h1;
use crate::proxy::headers::ClientFields;
use crate::proxy::listener::{ClientLimits, ListenerStats, Route};
use crate::proxy::pool;
use crate::proxy::retry::RetrySettings;
use crate::proxy::upstream::{Upstream, UpstreamSettings};
use crate::reload::PolicyWatcher;
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
use switchyard_policy::cluster::{BreakerSettings, LoadDecay, LoadSetup, Member, Membership};
use switchyard_policy::{
    ComponentCache, DEFAULT_HEALTH_POLICY, PolicyEngine, PolicyLimits, PolicyRegistry, PolicySetup,
    ScorerSetup,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// CPU deadline of one health-scorer `observe`.
const SCORER_OBSERVE_DEADLINE: Duration = Duration::from_millis(5);
/// hyper refuses a smaller HTTP/1.1 read buffer.
const MIN_HEADER_BYTES: usize = 8192;
/// How often a worker sweeps its pool of idle upstream connections.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long a closing connection waits for the client to close its side.
const LINGER: Duration = Duration::from_secs(1);

/// A running proxy.
pub struct Proxy {
    registry: Arc<PolicyRegistry>,
    health: Controllers,
    upstreams: Vec<Arc<Upstream>>,
    listeners: Vec<(String, SocketAddr)>,
    shutdown: watch::Sender<bool>,
    workers: Vec<std::thread::JoinHandle<()>>,
    watcher: Option<PolicyWatcher>,
    admin: Option<AdminServer>,
    fleet: Option<Fleet>,
}

impl Proxy {
    /// Builds every cluster's policy, binds every listener, starts the workers, the
    /// policy directory watcher and the admin listener.
    pub fn start(config: &Config, engine: &PolicyEngine) -> anyhow::Result<Self> {
        // First: whatever is opened below may need it.
        raise_limit();
        let workers = worker_count(config);
        let Built {
            registry,
            upstreams,
            monitors,
        } = build_upstreams(config, engine, workers)?;
        let health = Controllers::start(monitors).context("starting the health thread")?;
        let fleet = match &config.etcd {
            Some(fleet) => {
                let steered = config
                    .clusters
                    .iter()
                    .zip(&upstreams)
                    .map(|(cluster, upstream)| Steered {
                        binding: Arc::clone(upstream.binding()),
                        default: (cluster.policy.clone(), policy_config(cluster)),
                    })
                    .collect();
                let started = Fleet::start(fleet, Arc::clone(&registry), steered);
                Some(started.context("starting the fleet watch")?)
            }
            None => None,
        };
        let by_name: HashMap<&str, &Arc<Upstream>> =
            upstreams.iter().map(|u| (u.name(), u)).collect();

        let mut sockets: Vec<Vec<(std::net::TcpListener, Arc<Route>)>> =
            (0..workers).map(|_| Vec::new()).collect();
        let mut listeners = Vec::new();
        let mut stats = Vec::new();
        for listener in &config.listeners {
            let route = Arc::new(route(listener, by_name[listener.cluster.as_str()]));
            stats.push((listener.name.clone(), Arc::clone(&route.stats)));
            let mut addr = listener.listen.0;
            refuse_if_taken(addr)
                .with_context(|| format!("listener {:?}: binding {addr}", listener.name))?;
            for worker in &mut sockets {
                let socket = bind(addr)
                    .with_context(|| format!("listener {:?}: binding {addr}", listener.name))?;
                addr = socket.local_addr()?;
                worker.push((socket, Arc::clone(&route)));
            }
            listeners.push((listener.name.clone(), addr));
        }

        // Made here, so that a failure stops the start instead of a worker.
        let runtimes = (0..sockets.len())
            .map(|_| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting a worker's runtime")
            })
            .collect::<Result<Vec<_>, _>>()?;
        let watcher = match (&config.policies.dir, config.policies.watch) {
            (Some(dir), true) => {
                let watcher = PolicyWatcher::start(Arc::clone(&registry), dir)
                    .with_context(|| format!("policies.dir: watching {}", dir.display()))?;
                // Catch what changed between the first load and the watch.
                registry.rescan();
                Some(watcher)
            }
            _ => None,
        };
        let admin = match &config.admin {
            Some(admin) => Some(
                AdminServer::start(
                    admin.listen.0,
                    admin_access(admin)?,
                    Arc::clone(&registry),
                    upstreams.clone(),
                    stats,
                )
                .with_context(|| format!("admin.listen: binding {}", admin.listen.0))?,
            ),
            None => None,
        };
        // Counted once all else is open, before any client is accepted, so that the
        // clients' share leaves what the proxy itself holds.
        let descriptors = Descriptors::get();
        tracing::info!(
            limit = descriptors.limit,
            raised_from = descriptors.started_with,
            for_clients = descriptors.for_clients,
            "file descriptors"
        );
        let (shutdown, signal) = watch::channel(false);
        let drain = config.drain_timeout.0;
        let workers = sockets
            .into_iter()
            .zip(runtimes)
            .enumerate()
            .map(|(i, (bound, runtime))| {
                let signal = signal.clone();
                std::thread::Builder::new()
                    .name(format!("switchyard-worker-{i}"))
                    .spawn(move || run_worker(runtime, bound, signal, drain))
                    .context("starting a worker thread")
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            registry,
            health,
            upstreams,
            listeners,
            shutdown,
            workers,
            watcher,
            admin,
            fleet,
        })
    }

    /// The loaded policies: their versions, and reloads.
    pub fn registry(&self) -> &Arc<PolicyRegistry> {
        &self.registry
    }

    /// Where the admin API listens, when configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::addr)
    }

    /// The address listener `name` is bound to (useful with port 0).
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }

    /// Every listener's name and address.
    pub fn listeners(&self) -> &[(String, SocketAddr)] {
        &self.listeners
    }

    /// The cluster named `name`.
    pub fn upstream(&self, name: &str) -> Option<&Arc<Upstream>> {
        self.upstreams.iter().find(|u| u.name() == name)
    }

    /// Stops accepting, lets in-flight requests finish (up to the drain timeout), and
    /// waits for the workers.
    pub fn shutdown(self) {
        drop(self.fleet);
        drop(self.watcher);
        let _ = self.shutdown.send(true);
        for worker in self.workers {
            let _ = worker.join();
        }
        drop(self.health);
        drop(self.admin);
    }
}

/// The clusters of a configuration, ready to serve.
pub struct Built {
    /// Every loaded policy.
    pub registry: Arc<PolicyRegistry>,
    /// Every cluster.
    pub upstreams: Vec<Arc<Upstream>>,
    /// The health of the clusters that check it or break circuits, not running yet.
    pub monitors: Vec<MembershipController>,
}

/// Builds the policy registry and every cluster's upstream: its policy (and health
/// scorer) loaded from the policy directory or built in, initialised with its
/// configuration and membership, and smoke-tested. `check-config` uses this too.
pub fn build_upstreams(
    config: &Config,
    engine: &PolicyEngine,
    workers: usize,
) -> anyhow::Result<Built> {
    let registry = Arc::new(PolicyRegistry::new(
        engine.clone(),
        config.policies.dir.clone(),
        ComponentCache::new(config.policies.cache_dir()),
    ));
    let mut upstreams = Vec::new();
    let mut monitors = Vec::new();
    for (i, cluster) in config.clusters.iter().enumerate() {
        let load = load_setup(cluster);
        let setup = PolicySetup {
            cluster: cluster.name.clone(),
            policy: cluster.policy.clone(),
            config: policy_config(cluster),
            zone: config.zone.clone(),
            limits: PolicyLimits {
                pick_deadline: cluster.policy_limits.pick_deadline.0,
                memory_bytes: cluster.policy_limits.memory_mib << 20,
                ..PolicyLimits::default()
            },
            // One per worker, and one a membership hand-over may hold meanwhile.
            prewarm: workers + 1,
        };
        let binding = registry
            .bind(setup, Arc::new(membership(cluster, &load)))
            .with_context(|| {
                format!(
                    "clusters[{i}] ({:?}): policy {:?}",
                    cluster.name, cluster.policy
                )
            })?;
        let mut upstream = Upstream::with_retries(
            Arc::clone(&binding),
            settings(config, cluster),
            retries(cluster),
        )
        .with_max_requests(cluster.limits.max_requests)
        .with_load_decay(Arc::clone(&load.decay))
        .with_connection_limit(
            cluster
                .limits
                .max_connections
                .map(|max| ConnectionLimit::new(max, cluster.limits.max_pending)),
        );
        let scorer = scorer_setup(cluster)
            .map(|scorer| {
                let name = scorer.policy.clone();
                registry
                    .bind_scorer(scorer, binding.current().membership())
                    .with_context(|| {
                        format!("clusters[{i}] ({:?}): health_policy {name:?}", cluster.name)
                    })
            })
            .transpose()?;
        let discovery = Discovery::of(cluster);
        if let Some(discovery) = &discovery {
            upstream = upstream.with_discovery(discovery.view());
        }
        if scorer.is_some() || cluster.circuit_breaker.is_some() || discovery.is_some() {
            let rules = Composition {
                panic_threshold: cluster.panic_threshold as f32 / 100.0,
                slow_start: cluster.slow_start.0,
            };
            let probe = cluster.health_check.as_ref().map(ProbeSpec::from);
            let mut monitor = MembershipController::new(binding, scorer, probe, rules);
            if let Some(discovery) = discovery {
                monitor = monitor.with_discovery(discovery, load);
            }
            upstream = upstream.with_health(monitor.view());
            monitors.push(monitor);
        }
        upstreams.push(Arc::new(upstream));
    }
    Ok(Built {
        registry,
        upstreams,
        monitors,
    })
}

/// How the cluster's health scorer is set up, when its health is checked: the
/// `health_config` keys, and the probe thresholds from `health_check`.
fn scorer_setup(cluster: &ClusterConfig) -> Option<ScorerSetup> {
    if cluster.health_policy.is_none() && cluster.health_check.is_none() {
        return None;
    }
    let mut config: Vec<(String, String)> = cluster
        .health_config
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    if let Some(check) = &cluster.health_check {
        config.push((
            "healthy_threshold".into(),
            check.healthy_threshold.to_string(),
        ));
        config.push((
            "unhealthy_threshold".into(),
            check.unhealthy_threshold.to_string(),
        ));
    }
    Some(ScorerSetup {
        cluster: cluster.name.clone(),
        policy: cluster
            .health_policy
            .clone()
            .unwrap_or_else(|| DEFAULT_HEALTH_POLICY.to_string()),
        config,
        limits: PolicyLimits {
            pick_deadline: SCORER_OBSERVE_DEADLINE,
            memory_bytes: cluster.policy_limits.memory_mib << 20,
            ..PolicyLimits::default()
        },
    })
}

/// Who may use the admin API: the token from `token_file`, read now.
fn admin_access(admin: &AdminConfig) -> anyhow::Result<AdminAccess> {
    let token = admin
        .token_file
        .as_deref()
        .map(read_token)
        .transpose()
        .map_err(|e| anyhow::anyhow!("admin.token_file: {e}"))?;
    Ok(AdminAccess {
        token,
        metrics_public: admin.metrics_public,
    })
}

/// Threads to run: `workers` from the config, or one per core.
pub fn worker_count(config: &Config) -> usize {
    config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn membership(cluster: &ClusterConfig, load: &LoadSetup) -> Membership {
    Membership::new(
        cluster
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut member = Member::new(i as u32, e.address.0, e.weight);
                member.zone = e.zone.clone();
                member.metadata = e.metadata.clone().into_iter().collect();
                load.apply(&member.load);
                member
            })
            .collect(),
    )
}

/// The cluster's `policy_config` as key/values.
fn policy_config(cluster: &ClusterConfig) -> Vec<(String, String)> {
    cluster
        .policy_config
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

/// What each endpoint of the cluster gets when it joins: fading load figures, and a
/// circuit breaker when the cluster has one.
fn load_setup(cluster: &ClusterConfig) -> LoadSetup {
    let breaker = cluster
        .circuit_breaker
        .as_ref()
        .map(|breaker| BreakerSettings {
            failure_ratio: f64::from(breaker.failure_percent) / 100.0,
            min_requests: breaker.min_requests,
            window: breaker.window.0,
            cool_down: breaker.cool_down.0,
            half_open_requests: breaker.half_open_requests,
        });
    LoadSetup {
        decay: LoadDecay::new(cluster.load_decay.0),
        breaker,
    }
}

fn settings(config: &Config, cluster: &ClusterConfig) -> UpstreamSettings {
    UpstreamSettings {
        protocol: cluster.protocol,
        connect_timeout: cluster.timeouts.connect.0,
        request_timeout: cluster.timeouts.request.0,
        per_try_timeout: cluster.timeouts.per_try.0.min(cluster.timeouts.request.0),
        body_idle: cluster.timeouts.body_idle.0,
        max_idle: cluster.pool.max_idle_per_endpoint,
        idle_timeout: cluster.pool.idle_timeout.0,
        access_log: config.log.access,
    }
}

fn retries(cluster: &ClusterConfig) -> RetrySettings {
    let r = &cluster.retries;
    RetrySettings {
        attempts: r.attempts,
        backoff_base: r.backoff_base.0,
        backoff_max: r.backoff_max.0,
        on_status: r.on_status.clone(),
        idempotent_header: r.idempotent_header.as_ref().map(|h| h.to_ascii_lowercase()),
        on_grpc_status: r.on_grpc_status.clone(),
        buffer_bytes: r.buffer_bytes,
        budget_ratio: f64::from(r.budget_percent) / 100.0,
        budget_min_per_second: r.budget_min_per_second,
    }
}

fn route(listener: &ListenerConfig, upstream: &Arc<Upstream>) -> Route {
    Route {
        upstream: Arc::clone(upstream),
        limits: ClientLimits {
            header_read_timeout: listener.header_read_timeout.0,
            max_header_bytes: listener.max_header_bytes.max(MIN_HEADER_BYTES),
            max_request_body_bytes: listener.max_request_body_bytes,
            body_read_timeout: listener.body_read_timeout.0,
            idle_timeout: listener.idle_timeout.0,
            h2_max_concurrent_streams: listener.h2_max_concurrent_streams,
            max_connections: listener.max_connections,
        },
        stats: Arc::new(ListenerStats::default()),
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
