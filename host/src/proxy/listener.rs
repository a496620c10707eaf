//! What one listener serves and allows its clients, and what it counts against them.
//!
//! A fault on the client's side of an exchange — malformed framing, a body over the
//! limit, a stalled upload, a client that leaves mid-request — is answered and counted
//! here, on the listener, and never against the endpoint that was being asked.

use crate::config::model::{Cidr, ForwardClientCert, ForwardedProto};
use crate::proxy::route::RouteTable;
use crate::proxy::tunnel::{End, Relayed};
use crate::proxy::upstream::Upstream;
use crate::tls::Terminator;
use arc_swap::ArcSwap;
use http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// The smallest `max_header_bytes` a listener gets: hyper refuses a smaller HTTP/1.1
/// read buffer.
pub const MIN_HEADER_BYTES: usize = 8192;

/// A listener's routes to its clusters.
pub type Routes = RouteTable<Arc<Upstream>>;

/// What one listener serves.
pub struct Listener {
    /// Where its requests go: swapped on reload, shared by every version of the
    /// listener, so that the connections it accepted before take the new routes too.
    pub routes: Arc<ArcSwap<Routes>>,
    /// What its clients may do.
    pub limits: ClientLimits,
    /// What it counts against its clients.
    pub stats: Arc<ListenerStats>,
    /// TLS termination, on a TLS listener.
    pub tls: Option<Arc<Terminator>>,
    /// What becomes of a client's own `X-Forwarded-Client-Cert`.
    pub forward_client_cert: ForwardClientCert,
    /// What becomes of a client's own `X-Forwarded-Proto`.
    pub forwarded_proto: ForwardedProto,
    /// Write an access-log line per request.
    pub access_log: bool,
    /// How long its connections may take to finish their requests once it stops
    /// (the proxy's shutdown, or a reload that removes it).
    pub drain: Duration,
    /// Protocols its clients may upgrade to (lower case).
    pub upgrades: Arc<[Box<str>]>,
    /// On a TCP listener: what it reads of a connection before relaying it. Its
    /// connections are relayed as they come, not read as HTTP.
    pub tcp: Option<TcpOpening>,
}

/// What a TCP listener reads of a connection before relaying it (within the header
/// read timeout).
#[derive(Clone, Debug, Default)]
pub struct TcpOpening {
    /// Peers whose connections start with a PROXY protocol header naming the client.
    pub accept_proxy_from: Arc<[Cidr]>,
    /// Read the server name a TLS client asks for (SNI), leaving its bytes untouched.
    pub tls_passthrough: bool,
}

impl Listener {
    /// The longest `body_idle` of its clusters: how long a connection's relayed bodies
    /// and the proxy's own answers may pause.
    pub fn body_idle(&self) -> Duration {
        let routes = self.routes.load();
        let idle = routes.targets().map(|u| u.settings().body_idle);
        idle.max().unwrap_or(Duration::from_secs(60))
    }

    /// Whether some route of it leads to a cluster the HTTP/1.1 fast path reaches
    /// (cleartext HTTP/1.1 endpoints).
    pub(crate) fn has_fast_targets(&self) -> bool {
        self.routes.load().targets().any(|u| u.fast_path())
    }
}

/// What a listener allows its clients.
#[derive(Clone, Copy, Debug)]
pub struct ClientLimits {
    /// Time allowed for a request head, from its first byte.
    pub header_read_timeout: Duration,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// Largest request body; `None`: unlimited.
    pub max_request_body_bytes: Option<u64>,
    /// Longest pause in the middle of an upload.
    pub body_read_timeout: Duration,
    /// Longest time a connection may stay open with no request in progress.
    pub idle_timeout: Duration,
    /// Streams an HTTP/2 connection may have open at once.
    pub h2_max_concurrent_streams: u32,
    /// Connections open at once, over all workers; `None`: no limit but the process's
    /// descriptors.
    pub max_connections: Option<usize>,
    /// Tunnels open at once, over all workers.
    pub max_tunnels: usize,
}

/// A fault on the client's side of an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFault {
    /// Malformed framing or a malformed head: 400.
    Malformed,
    /// A head or body over the listener's limit: 431 or 413.
    TooLarge,
    /// The client stalled while sending its request: 408.
    Timeout,
    /// The client left in the middle of its request: nothing to answer.
    Aborted,
}

impl ClientFault {
    /// Every kind, in the order counted.
    pub const ALL: [ClientFault; 4] = [
        ClientFault::Malformed,
        ClientFault::TooLarge,
        ClientFault::Timeout,
        ClientFault::Aborted,
    ];

    /// The `kind` label in metrics.
    pub fn label(self) -> &'static str {
        match self {
            ClientFault::Malformed => "malformed",
            ClientFault::TooLarge => "too_large",
            ClientFault::Timeout => "timeout",
            ClientFault::Aborted => "aborted",
        }
    }

    /// The status answered for a body fault, and why, in words.
    pub(crate) fn answer(self) -> (StatusCode, &'static str) {
        match self {
            ClientFault::Malformed => (StatusCode::BAD_REQUEST, "malformed request body"),
            ClientFault::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
            ClientFault::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            ),
            ClientFault::Aborted => (
                StatusCode::BAD_REQUEST,
                "request body cut off by the client",
            ),
        }
    }

    /// The fault behind a status the proxy refuses a request with.
    pub(crate) fn of_status(status: u16) -> Self {
        match status {
            408 => ClientFault::Timeout,
            413 | 431 => ClientFault::TooLarge,
            _ => ClientFault::Malformed,
        }
    }
}

/// Why a new connection was closed as soon as it was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The listener's `max_connections` were open.
    MaxConnections,
    /// Client connections had used the descriptors the proxy lets them have (the
    /// rest are kept for upstream connections and the admin API), or the process had
    /// none left at all.
    Descriptors,
    /// A TCP listener's `max_tunnels` were open.
    MaxTunnels,
}

impl Refusal {
    /// Every reason, in the order counted.
    pub const ALL: [Refusal; 3] = [
        Refusal::MaxConnections,
        Refusal::Descriptors,
        Refusal::MaxTunnels,
    ];

    /// The `reason` label in metrics.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::Descriptors => "descriptors",
            Refusal::MaxTunnels => "max_tunnels",
        }
    }
}

/// What one listener has counted, read by the admin API.
#[derive(Debug, Default)]
pub struct ListenerStats {
    faults: [AtomicU64; ClientFault::ALL.len()],
    refused: [AtomicU64; Refusal::ALL.len()],
    unrouted: AtomicU64,
    /// Client connections open now, over all workers.
    pub(crate) open: AtomicUsize,
    /// Tunnels open now, over all workers.
    tunnels_open: AtomicUsize,
    /// Tunnels closed, by how they ended ([`End::ALL`]'s order).
    tunnels_closed: [AtomicU64; End::ALL.len()],
    /// Bytes tunnels relayed: from clients, to clients.
    tunnel_bytes: [AtomicU64; 2],
}

impl ListenerStats {
    /// Counts one `fault`.
    pub(crate) fn count(&self, fault: ClientFault) {
        self.faults[fault as usize].fetch_add(1, Relaxed);
    }

    /// Counts a connection closed at once for `reason`.
    pub(crate) fn refuse(&self, reason: Refusal) {
        self.refused[reason as usize].fetch_add(1, Relaxed);
    }

    /// Counts a request no route matched.
    pub(crate) fn unrouted(&self) {
        self.unrouted.fetch_add(1, Relaxed);
    }

    /// Requests no route matched so far (answered 404).
    pub fn unrouted_requests(&self) -> u64 {
        self.unrouted.load(Relaxed)
    }

    /// Faults of `kind` counted so far.
    pub fn faults(&self, kind: ClientFault) -> u64 {
        self.faults[kind as usize].load(Relaxed)
    }

    /// Connections closed at once for `reason` so far.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refused[reason as usize].load(Relaxed)
    }

    /// Client connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Relaxed)
    }

    /// A place for one more tunnel, unless `max` are open; given back when dropped.
    pub(crate) fn open_tunnel(self: &Arc<Self>, max: usize) -> Option<TunnelSlot> {
        let opened = self
            .tunnels_open
            .fetch_update(Relaxed, Relaxed, |open| (open < max).then_some(open + 1));
        opened.ok().map(|_| TunnelSlot(Arc::clone(self)))
    }

    /// Counts a tunnel that closed.
    pub(crate) fn tunnel_closed(&self, relayed: &Relayed) {
        self.tunnels_closed[relayed.end as usize].fetch_add(1, Relaxed);
        self.tunnel_bytes[0].fetch_add(relayed.up, Relaxed);
        self.tunnel_bytes[1].fetch_add(relayed.down, Relaxed);
    }

    /// Tunnels open now.
    pub fn tunnels_open(&self) -> usize {
        self.tunnels_open.load(Relaxed)
    }

    /// Tunnels closed so far, by how they ended (`closed`, `idle`, `client_failed`,
    /// `endpoint_failed`, `drained`).
    pub fn tunnels_closed(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let counts = self.tunnels_closed.iter().map(|n| n.load(Relaxed));
        End::ALL.iter().map(|end| end.as_str()).zip(counts)
    }

    /// Bytes tunnels relayed so far: from clients, and to them.
    pub fn tunnel_bytes(&self) -> (u64, u64) {
        (
            self.tunnel_bytes[0].load(Relaxed),
            self.tunnel_bytes[1].load(Relaxed),
        )
    }
}

/// One open tunnel of a listener, counted until dropped.
pub(crate) struct TunnelSlot(Arc<ListenerStats>);

impl Drop for TunnelSlot {
    fn drop(&mut self) {
        self.0.tunnels_open.fetch_sub(1, Relaxed);
    }
}
