//! The admin listener: plain HTTP/1.1 on its own thread, so that it answers even when
//! the workers are saturated, and so that a slow admin call never delays traffic.

use super::{ClusterRecord, ConfigControl, ListenerRecord};
use crate::admin::{clusters, config, console, metrics, origin, policies, rollouts, tls};
use crate::proxy::{Backoff, Failures, Spare, out_of_descriptors};
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;
use switchyard_policy::PolicyRegistry;
use tokio::sync::watch;

/// Admin connections open at once; more are closed as soon as accepted.
const MAX_CONNECTIONS: usize = 64;
/// Time a request head may take to arrive (and an idle connection to stay open).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest an admin connection stays open (a scraper reconnects, cheaply).
const LIFETIME: Duration = Duration::from_secs(60);

/// Who may use the admin API.
#[derive(Clone, Debug, Default)]
pub struct AdminAccess {
    /// The token every request must carry as `Authorization: Bearer <token>`; `None`:
    /// anyone who can connect (the config check allows that on loopback only).
    pub token: Option<String>,
    /// `GET /metrics` needs no token.
    pub metrics_public: bool,
}

/// What the admin API reports on and who may use it: replaced whole when the
/// configuration is reloaded.
#[derive(Clone, Default)]
pub struct Topology {
    /// Who may use the API.
    pub access: AdminAccess,
    /// Every cluster, in configuration order.
    pub clusters: Vec<ClusterRecord>,
    /// Every listener.
    pub listeners: Vec<ListenerRecord>,
}

/// A running admin listener; dropping it stops it.
pub struct AdminServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AdminServer {
    /// Binds `addr` and serves the admin API for `registry`, the `topology` (as it is
    /// at each request) and the running configuration (`config`) on a thread of its
    /// own.
    pub fn start(
        addr: SocketAddr,
        registry: Arc<PolicyRegistry>,
        topology: Arc<ArcSwap<Topology>>,
        config: Arc<dyn ConfigControl>,
    ) -> std::io::Result<Self> {
        let state = Arc::new(State {
            registry,
            topology,
            config,
        });
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        // Made here, so that a failure (no descriptors left) stops the start.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("switchyard-admin".into())
            .spawn(move || runtime.block_on(serve(listener, state, stopped)))?;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the admin API reports on and acts upon.
struct State {
    registry: Arc<PolicyRegistry>,
    topology: Arc<ArcSwap<Topology>>,
    config: Arc<dyn ConfigControl>,
}

/// Accepts admin connections until stopped. Out of descriptors, it lets go of a spare
/// one it keeps for the purpose, so that the admin API answers even then (one
/// connection at a time), and backs off instead of spinning.
async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stopped: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => return tracing::error!("cannot register the admin listener: {e}"),
    };
    let spare = Arc::new(Spare::new());
    let mut failures = Failures::default();
    let mut backoff = Backoff::default();
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                failures.note(&e, false);
                if !(out_of_descriptors(&e) && spare.release()) {
                    tokio::select! {
                        () = tokio::time::sleep(backoff.pause()) => {}
                        _ = stopped.changed() => return,
                    }
                }
                continue;
            }
        };
        backoff = Backoff::default();
        if open.load(Relaxed) >= MAX_CONNECTIONS {
            // Closed at once: the admin API is for a few operators and scrapers.
            continue;
        }
        let state = Arc::clone(&state);
        let service = service_fn(move |request| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(route(&state, &request).await) }
        });
        let spare = Arc::clone(&spare);
        let counted = Arc::clone(&open);
        counted.fetch_add(1, Relaxed);
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            // A client that stops reading its answers would hold its slot for good.
            match tokio::time::timeout(LIFETIME, connection).await {
                Ok(Err(e)) => tracing::debug!("admin connection: {e}"),
                Err(_) => tracing::debug!("admin connection closed after {LIFETIME:?}"),
                Ok(Ok(())) => {}
            }
            counted.fetch_sub(1, Relaxed);
            // Its descriptor is free again: hold a spare if none is held.
            spare.restore();
        });
    }
}

async fn route(state: &State, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method();
    let topology = state.topology.load_full();
    if let Some(reason) = origin::refused(request.headers(), topology.access.token.is_some()) {
        return error(StatusCode::FORBIDDEN, reason);
    }
    // The console's files hold no data: they are served without the token, which the
    // page asks for and sends with its polls.
    if let Some(asset) = console::asset(request.uri().path()) {
        return if method == Method::GET {
            page(asset)
        } else {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        };
    }
    if request.uri().path() == console::ACCESS_PATH && method == Method::GET {
        return json(StatusCode::OK, &console::access(&topology.access));
    }
    if !authorized(&topology.access, request) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "this admin API needs `Authorization: Bearer <token>` (admin.token_file)",
        );
        let headers = response.headers_mut();
        headers.insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"switchyard-admin\""),
        );
        // A peer without the token gets one answer per connection.
        headers.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return response;
    }
    match request.uri().path() {
        "/clusters" if method == Method::GET => json(
            StatusCode::OK,
            &clusters::status(&topology.clusters, clusters::Latency::Ewma),
        ),
        // Compact: it is asked for every second, and large for large clusters.
        "/console.json" if method == Method::GET => json_text(
            StatusCode::OK,
            serde_json::to_vec(&console::snapshot(
                &state.registry,
                &topology,
                &state.config.status(),
            ))
            .unwrap_or_default(),
        ),
        "/policies" if method == Method::GET => {
            json(StatusCode::OK, &policies::status(&state.registry.status()))
        }
        "/metrics" if method == Method::GET => {
            let body = metrics::render(&state.registry, &topology.clusters, &topology.listeners);
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            response
        }
        "/tls" if method == Method::GET => json(
            StatusCode::OK,
            &tls::status(&topology.listeners, &topology.clusters),
        ),
        "/config" if method == Method::GET => {
            json(StatusCode::OK, &config::to_json(&state.config.status()))
        }
        "/config/reload" if method == Method::POST => {
            // A reload compiles policies and reads files: off this thread's event loop.
            let control = Arc::clone(&state.config);
            match tokio::task::spawn_blocking(move || control.reload()).await {
                Ok(Ok(status)) => json(StatusCode::OK, &config::to_json(&status)),
                Ok(Err(reason)) => error(StatusCode::UNPROCESSABLE_ENTITY, &reason),
                Err(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("reload failed: {e}"),
                ),
            }
        }
        "/policies/reload" if method == Method::POST => {
            // A rescan compiles; keep it off this thread's event loop.
            let registry = Arc::clone(&state.registry);
            match tokio::task::spawn_blocking(move || registry.rescan()).await {
                Ok(outcomes) => json(StatusCode::OK, &policies::outcomes(&outcomes)),
                Err(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("rescan failed: {e}"),
                ),
            }
        }
        "/clusters" | "/console.json" | "/policies" | "/policies/reload" | "/metrics" | "/tls"
        | "/config" | "/config/reload" => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        path => match rollouts::action(path, request.uri().query()) {
            Some(Ok(_)) if method != Method::POST => {
                error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            }
            Some(Ok(action)) => {
                // Staging compiles; keep it off this thread's event loop.
                let registry = Arc::clone(&state.registry);
                match tokio::task::spawn_blocking(move || action.run(&registry)).await {
                    Ok((status, body)) => json(status, &body),
                    Err(e) => error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("rollout action failed: {e}"),
                    ),
                }
            }
            Some(Err(reason)) => error(StatusCode::BAD_REQUEST, &reason),
            None => error(
                StatusCode::NOT_FOUND,
                "not found; try GET / (the console), GET /clusters, GET /policies, GET /tls, GET /config, GET /metrics, \
                 POST /policies/reload, POST /config/reload or \
                 POST /policies/NAME/{stage,promote,rollback}",
            ),
        },
    }
}

/// Whether `access` lets `request` in: no token is set, the request carries it, or it
/// is a metrics scrape and those are public.
fn authorized(access: &AdminAccess, request: &Request<Incoming>) -> bool {
    let Some(token) = &access.token else {
        return true;
    };
    if access.metrics_public && request.uri().path() == "/metrics" {
        return true;
    }
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        .is_some_and(|given| same_secret(given, token.as_bytes()))
}

/// Compares two secrets in time that depends on neither: their SHA-256 digests, byte
/// by byte, without stopping at the first difference.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    let differences = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(differences) == 0
}

/// One of the console's files, with its security headers.
fn page(asset: &console::Asset) -> Response<Full<Bytes>> {
    let body = Bytes::from_static(asset.body.as_bytes());
    let mut response = respond(StatusCode::OK, body, &console::SECURITY_HEADERS);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(asset.content_type),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": message }))
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut text = serde_json::to_vec_pretty(body).unwrap_or_default();
    text.push(b'\n');
    json_text(status, text)
}

/// A JSON answer: never cached (it may hold the topology), never sniffed as another
/// type.
fn json_text(status: StatusCode, text: Vec<u8>) -> Response<Full<Bytes>> {
    let headers = [
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
    ];
    respond(status, Bytes::from(text), &headers)
}

/// An answer of `status` with `body` and `headers`.
fn respond(
    status: StatusCode,
    body: Bytes,
    headers: &[(&'static str, &'static str)],
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let map = response.headers_mut();
    for (name, value) in headers {
        map.insert(*name, header::HeaderValue::from_static(value));
    }
    response
}
