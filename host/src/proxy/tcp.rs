//! Raw TCP: a TCP listener relays each connection it accepts, bytes as they come, to an
//! endpoint its cluster's policy picks for that connection.
//!
//! Before the relay, within the header read timeout: a PROXY protocol header from a
//! trusted peer says who the client is, and on a TLS-passthrough listener the server
//! name is read from the client's first TLS message without terminating it. The
//! policy sees the client's address and that name; routes match the name. A connect
//! failure falls through the policy's preference list. The endpoint has the connection
//! in flight for as long as it lasts; only its own failures count against it — a
//! refused or timed-out connect, or a reset before the client had finished sending.

use crate::config::model::Cidr;
use crate::net::proxy_protocol::{self, Parsed};
use crate::proxy::accept::Admitted;
use crate::proxy::listener::{ClientFault, Listener, Refusal, TcpOpening};
use crate::proxy::pool;
use crate::proxy::route::Action;
use crate::proxy::tunnel::{self, Limits, Relayed};
use crate::proxy::upstream::Upstream;
use bytes::{Buf, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_policy::RequestView;
use switchyard_policy::cluster::Outcome;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// What a policy sees of a relayed connection: its client and, through TLS passthrough,
/// the server name asked for (as the authority); the method is `CONNECT` and the path
/// `/`, and it has no headers.
struct ConnectionView<'a> {
    client: SocketAddr,
    server_name: Option<&'a str>,
}

impl RequestView for ConnectionView<'_> {
    fn method(&self) -> &str {
        "CONNECT"
    }
    fn authority(&self) -> Option<&str> {
        self.server_name
    }
    fn path(&self) -> &str {
        "/"
    }
    fn client_addr(&self) -> Option<SocketAddr> {
        Some(self.client)
    }
    fn header(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Most bytes of a TLS client's first message read to find its server name.
const MAX_CLIENT_HELLO: usize = 16 * 1024;

/// What was read of a connection before its relay.
struct Opening {
    /// The client: the peer, or whom its PROXY header names.
    client: SocketAddr,
    /// The address the client connected to, as a PROXY header names it; else the
    /// connection's own, asked for only when needed.
    destination: Option<SocketAddr>,
    server_name: Option<String>,
    /// The client's bytes read past the PROXY header, relayed first.
    early: BytesMut,
}

/// Why a connection was closed before its relay.
#[derive(Debug)]
enum Unopened {
    /// The client's fault, counted on the listener.
    Client(ClientFault, String),
    /// The proxy stops.
    Stopping,
}

/// Serves one connection of a TCP listener, from accept to close. `admitted` and
/// `_open` are held until it closes; `stopping` turns true when the proxy stops or the
/// listener goes (then the relay may go on for the drain timeout).
pub(crate) async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
    stopping: watch::Receiver<bool>,
    _open: mpsc::Sender<()>,
) {
    let started = Instant::now();
    let listener = Arc::clone(admitted.listener());
    let Some(opening) = &listener.tcp else {
        return;
    };
    let peer = canonical(peer);
    // Counted from the start, so that connections that have not sent their opening
    // yet count too.
    let Some(_slot) = listener.stats.open_tunnel(listener.limits.max_tunnels) else {
        return listener.stats.refuse(Refusal::MaxTunnels);
    };
    let read = read_opening(&mut stream, peer, opening, &listener);
    // Boxed, and so gone once the relay begins: the opening (a TLS reader with it)
    // would otherwise size the connection's task for its whole life.
    let read = Box::pin(async {
        let timeout = listener.limits.header_read_timeout;
        match tokio::time::timeout(timeout, read).await {
            Ok(read) => read,
            Err(_) => Err(Unopened::Client(
                ClientFault::Timeout,
                format!("nothing to relay within {timeout:?}"),
            )),
        }
    });
    let mut stop = stopping.clone();
    let stopped = async move {
        let _ = stop.wait_for(|&stop| stop).await;
    };
    let opened = tokio::select! {
        opened = read => opened,
        () = stopped => Err(Unopened::Stopping),
    };
    let mut connection = Connection {
        listener: &listener,
        client: peer,
        server_name: None,
        upstream: None,
        started,
    };
    let opening = match opened {
        Ok(opening) => opening,
        Err(Unopened::Client(fault, why)) => {
            listener.stats.count(fault);
            tracing::debug!(%peer, "TCP connection closed before its relay: {why}");
            return connection.log(None, None, fault.label());
        }
        Err(Unopened::Stopping) => return,
    };
    connection.client = opening.client;
    connection.server_name = opening.server_name;
    let view = ConnectionView {
        client: connection.client,
        server_name: connection.server_name.as_deref(),
    };
    let routes = listener.routes.load_full();
    let routed = routes.route(&view).ok().flatten();
    let Some((rule, Action::Forward(forward))) = routed.map(|r| (r.rule, &r.rule.action)) else {
        listener.stats.unrouted();
        return connection.log(None, None, "no_route");
    };
    rule.count();
    let upstream: &Upstream = forward.split.choose(&view);
    connection.upstream = Some(upstream);
    let destination = opening.destination;
    connection
        .relay(stream, opening.early, destination, stopping)
        .await;
}

/// An IPv4 address written as IPv6 (a dual-stack socket's, a PROXY header's with mixed
/// families) as the IPv4 address it is.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Reads what comes before the relay: the PROXY header from a peer in
/// `accept_proxy_from`, the TLS server name with passthrough.
async fn read_opening(
    stream: &mut TcpStream,
    peer: SocketAddr,
    opening: &TcpOpening,
    listener: &Listener,
) -> Result<Opening, Unopened> {
    let mut read = Opening {
        client: peer,
        destination: None,
        server_name: None,
        early: BytesMut::new(),
    };
    if trusted(&opening.accept_proxy_from, peer) {
        let (source, destination) = read_proxy_header(stream, &mut read.early).await?;
        if let (Some(source), Some(destination)) = (source, destination) {
            read.client = canonical(source);
            read.destination = Some(canonical(destination));
        }
    }
    if opening.tls_passthrough {
        let max = read.early.len() + MAX_CLIENT_HELLO.min(listener.limits.max_header_bytes);
        read.server_name = read_server_name(stream, &mut read.early, max).await?;
    }
    Ok(read)
}

/// Whether `peer` is one of those that send a PROXY header.
fn trusted(from: &[Cidr], peer: SocketAddr) -> bool {
    from.iter().any(|cidr| cidr.contains(peer.ip()))
}

/// Reads a PROXY header into `input` and takes it out: the addresses it gives, none
/// for a connection of the peer's own (`LOCAL`, `UNKNOWN`).
async fn read_proxy_header(
    stream: &mut TcpStream,
    input: &mut BytesMut,
) -> Result<(Option<SocketAddr>, Option<SocketAddr>), Unopened> {
    loop {
        match proxy_protocol::parse(input) {
            Parsed::Header {
                length,
                source,
                destination,
            } => {
                input.advance(length);
                return Ok((source, destination));
            }
            Parsed::Invalid(why) => {
                let why = format!("bad PROXY protocol header: {why}");
                return Err(Unopened::Client(ClientFault::Malformed, why));
            }
            Parsed::Incomplete => read_more(stream, input, proxy_protocol::MAX_HEADER).await?,
        }
    }
}

/// Reads a TLS client's first message (its ClientHello) into `input`, leaving it there
/// for the endpoint: the server name it asks for, if any. `input` holds at most `max`.
async fn read_server_name(
    stream: &mut TcpStream,
    input: &mut BytesMut,
    max: usize,
) -> Result<Option<String>, Unopened> {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut fed = 0;
    loop {
        // A record at a time, asking after each whether the message is whole: the
        // client may have sent more behind it (early data).
        while fed < input.len() {
            let taken = acceptor.read_tls(&mut &input[fed..]);
            let taken = taken.map_err(|e| malformed(format!("not a TLS ClientHello: {e}")))?;
            fed += taken;
            match acceptor.accept() {
                Ok(Some(accepted)) => {
                    return Ok(accepted.client_hello().server_name().map(Into::into));
                }
                Ok(None) if taken > 0 => {}
                Ok(None) => break,
                Err((e, _)) => return Err(malformed(format!("not a TLS ClientHello: {e}"))),
            }
        }
        read_more(stream, input, max).await?;
    }
}

fn malformed(why: String) -> Unopened {
    Unopened::Client(ClientFault::Malformed, why)
}

/// Reads more of the client's bytes into `input`, which may hold at most `max`.
async fn read_more(
    stream: &mut TcpStream,
    input: &mut BytesMut,
    max: usize,
) -> Result<(), Unopened> {
    let room = max.saturating_sub(input.len());
    if room == 0 {
        let why = format!("more than {max} bytes before anything to relay");
        return Err(Unopened::Client(ClientFault::TooLarge, why));
    }
    input.reserve(room.min(4096));
    match (&mut *stream).take(room as u64).read_buf(input).await {
        Ok(0) => Err(Unopened::Client(
            ClientFault::Aborted,
            "the client closed before anything to relay".into(),
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(Unopened::Client(ClientFault::Aborted, e.to_string())),
    }
}

/// One connection of a TCP listener, as its access-log line tells it.
struct Connection<'a> {
    listener: &'a Listener,
    /// The client: the peer, or whom its PROXY header names.
    client: SocketAddr,
    server_name: Option<String>,
    /// Its cluster, once routed.
    upstream: Option<&'a Upstream>,
    started: Instant,
}

impl Connection<'_> {
    /// Connects to an endpoint its cluster's policy picks (falling through those that
    /// cannot be reached), sends it the PROXY header and `early`, and relays `client`
    /// until the connection ends; then counts and logs it.
    async fn relay(
        &self,
        mut client: TcpStream,
        early: BytesMut,
        destination: Option<SocketAddr>,
        stopping: watch::Receiver<bool>,
    ) {
        let Some(upstream) = self.upstream else {
            return;
        };
        // The address the client connected to, for the PROXY header, when no header of
        // its own named it (the connection's, unknown only once it has gone).
        let destination = match (upstream.settings().proxy_protocol, destination) {
            (Some(_), None) => match client.local_addr() {
                Ok(local) => Some(canonical(local)),
                Err(_) => return self.log(None, None, ClientFault::Aborted.label()),
            },
            (_, destination) => destination,
        };
        let Some(_admitted) = upstream.admit() else {
            tracing::debug!(cluster = upstream.name(), "too many connections in flight");
            return self.log(None, None, "refused");
        };
        let view = ConnectionView {
            client: self.client,
            server_name: self.server_name.as_deref(),
        };
        let pick = upstream.pick(&view);
        let dial = upstream.dial();
        let (mut next, mut last) = (0, None);
        // Boxed, as the opening is, so that it sizes no idle connection's task.
        let reached = Box::pin(
            upstream.reach(&pick, &mut next, &mut last, |member| async move {
                let connecting = Instant::now();
                let socket = pool::connect(member.socket, dial).await?;
                Ok((socket, connecting.elapsed()))
            }),
        );
        let Some((member, (mut endpoint, latency))) = reached.await else {
            let why = last.map_or_else(|| "no endpoint".to_string(), |(_, why)| why);
            tracing::debug!(cluster = upstream.name(), client = %self.client, "not relayed: {why}");
            return self.log(None, None, "no_endpoint");
        };
        let in_flight = member.load.start();
        let mut first = Vec::new();
        if let (Some(version), Some(destination)) =
            (upstream.settings().proxy_protocol, destination)
        {
            proxy_protocol::encode(version, self.client, destination, &mut first);
        }
        first.extend_from_slice(&early);
        drop(early);
        let limits = Limits {
            idle: self.listener.limits.idle_timeout,
            drain: self.listener.drain,
        };
        let sockets = [&mut client, &mut *endpoint];
        let relayed = tunnel::relay_sockets(sockets, [first, Vec::new()], limits, stopping).await;
        self.listener.stats.tunnel_closed(&relayed);
        let outcome = match relayed.endpoint_reset {
            true => Outcome::Failed,
            false => Outcome::Status(200),
        };
        in_flight.finish(latency, outcome);
        self.log(Some(&member.address), Some(&relayed), relayed.end.as_str());
    }

    /// Its access-log line, when the listener writes them: the endpoint it reached, what
    /// was relayed, and how it ended.
    fn log(&self, endpoint: Option<&str>, relayed: Option<&Relayed>, end: &str) {
        if !self.listener.access_log {
            return;
        }
        let policy = self.upstream.map(|u| u.policy());
        let component = policy.as_ref().map(|p| p.component());
        let duration: Duration = self.started.elapsed();
        tracing::info!(
            target: "access",
            client = %self.client,
            server_name = self.server_name.as_deref().unwrap_or("-"),
            cluster = self.upstream.map_or("-", |u| u.name()),
            endpoint = endpoint.unwrap_or("-"),
            up = relayed.map_or(0, |r| r.up),
            down = relayed.map_or(0, |r| r.down),
            end,
            duration_us = duration.as_micros() as u64,
            policy = component.map_or("-", |c| c.name()),
            policy_version = component.map_or("-", |c| c.version()),
            "connection"
        );
    }
}
