//! Upgrades: an HTTP/1.1 request that asks to switch protocols (`Connection: upgrade`
//! and an `Upgrade` the listener allows), or an HTTP/2 extended CONNECT for a WebSocket
//! (RFC 8441), goes to an endpoint of its cluster as an HTTP/1.1 upgrade on a
//! connection of its own. A `101` answer joins the two connections in a tunnel; any
//! other answer is relayed as an ordinary response. The endpoint has the tunnel in
//! flight for as long as it lasts.

use crate::config::model::UpstreamProtocol;
use crate::net::http1::lists_token;
use crate::proxy::body::{Exchange, ProxyBody, UpstreamBody, text};
use crate::proxy::connection::{ClientIo, InProgress};
use crate::proxy::connection_limit::Socket;
use crate::proxy::headers::strip_hop_by_hop;
use crate::proxy::listener::Listener;
use crate::proxy::pool;
use crate::proxy::tunnel::{self, End, Limits, Relayed};
use crate::proxy::upstream::Upstream;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{Either, Empty};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use switchyard_policy::Pick;
use switchyard_policy::cluster::{Member, Outcome};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// The GUID RFC 6455 §1.3 appends to a WebSocket key.
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What a request asks to become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Upgrade {
    /// An HTTP/1.1 upgrade to the protocol its `Upgrade` names.
    Http1(HeaderValue),
    /// A WebSocket over an HTTP/2 stream (extended CONNECT).
    WebSocketOverHttp2,
}

/// The upgrade `request` asks for, when `allowed` (protocol names, lower case) has it
/// and it has no body; `None` for any other request, whose `Upgrade` goes with the
/// hop-by-hop fields. `h2c` never qualifies: upgrading to HTTP/2 behind the proxy's back
/// would take the connection's later requests past its routes. A WebSocket is opened by
/// a `GET` (RFC 6455 §4.1).
pub(crate) fn wanted<B: http_body::Body>(
    request: &Request<B>,
    allowed: &[Box<str>],
) -> Option<Upgrade> {
    let allows = |name: &str| {
        !name.eq_ignore_ascii_case("h2c") && allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
    };
    let headers = request.headers();
    let upgrade = match request.version() {
        Version::HTTP_11 if headers.contains_key(header::UPGRADE) => {
            let mut upgrades = headers.get_all(header::UPGRADE).iter();
            let (Some(value), None) = (upgrades.next(), upgrades.next()) else {
                return None;
            };
            // One protocol, optionally with its version (`websocket`, `foo/2`).
            let name = protocol_name(value)?;
            let method = request.method();
            let websocket_get = method == Method::GET || !name.eq_ignore_ascii_case("websocket");
            let websocket_get = websocket_get && method != Method::CONNECT;
            let mut connection = headers.get_all(header::CONNECTION).iter();
            let asked =
                connection.any(|v| v.to_str().is_ok() && lists_token(v.as_bytes(), b"upgrade"));
            (asked && websocket_get && allows(name)).then(|| Upgrade::Http1(value.clone()))
        }
        Version::HTTP_2 if request.method() == Method::CONNECT => {
            let protocol = request.extensions().get::<hyper::ext::Protocol>()?;
            let websocket = protocol.as_str().eq_ignore_ascii_case("websocket");
            (websocket && allows("websocket")).then_some(Upgrade::WebSocketOverHttp2)
        }
        _ => None,
    };
    // A body would go ahead of the tunnel's bytes, where neither side expects it.
    upgrade.filter(|_| request.body().is_end_stream())
}

/// The protocol an `Upgrade` value names (without its version), when it names one.
fn protocol_name(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?.trim();
    let name = text.split('/').next().unwrap_or(text);
    (!text.contains(',') && !name.is_empty()).then_some(name)
}

/// What a tunnel needs from the connection whose request opened it.
#[derive(Clone)]
pub(crate) struct Tunnels {
    /// Turns true when the proxy stops, or the listener goes.
    pub(crate) stopping: watch::Receiver<bool>,
    /// Held while a tunnel lasts: the worker waits for it to close when it stops.
    pub(crate) open: mpsc::Sender<()>,
    /// Held while a tunnel lasts: the client connection's admission (its count
    /// against the listener's `max_connections` and the process's descriptors).
    pub(crate) admitted: Arc<dyn Send + Sync>,
}

/// The request of an upgrade, routed and with its forwarding fields, and where it goes.
pub(crate) struct Upgrading<'a> {
    pub(crate) upgrade: Upgrade,
    /// The request's head (its body, if any, is not sent: an upgrade has none).
    pub(crate) head: http::request::Parts,
    /// The client's side of the tunnel, once the answer has gone out.
    pub(crate) client: OnUpgrade,
    pub(crate) listener: &'a Listener,
    pub(crate) upstream: &'a Upstream,
    pub(crate) pick: &'a Pick,
    /// The host the endpoint gets (the route's, or the client's).
    pub(crate) host: Option<&'a str>,
    pub(crate) tunnels: &'a Tunnels,
    /// Held while the tunnel lasts: its client connection is busy.
    pub(crate) busy: InProgress,
}

/// What became of an upgrade: the answer for the client, the endpoint that gave it, and
/// the endpoints tried.
pub(crate) struct Upgraded {
    pub(crate) response: Response<ProxyBody>,
    pub(crate) endpoint: Option<SocketAddr>,
    pub(crate) attempts: u32,
}

/// Sends the upgrade to an endpoint of the pick (falling through those that cannot be
/// reached), and opens the tunnel when it agrees.
pub(crate) async fn forward(up: Upgrading<'_>) -> Upgraded {
    let (upstream, listener) = (up.upstream, up.listener);
    if upstream.settings().protocol == UpstreamProtocol::Http2 {
        let message = format!(
            "cluster {} speaks HTTP/2, which has no upgrades",
            upstream.name()
        );
        return refused(StatusCode::NOT_IMPLEMENTED, message, 0, None);
    }
    if *up.tunnels.stopping.borrow() {
        let message = "the proxy is stopping: no new tunnels".to_string();
        return refused(StatusCode::SERVICE_UNAVAILABLE, message, 0, None);
    }
    let Some(slot) = listener.stats.open_tunnel(listener.limits.max_tunnels) else {
        let message = format!(
            "listener: {} tunnels open, its limit",
            listener.limits.max_tunnels
        );
        return refused(StatusCode::SERVICE_UNAVAILABLE, message, 0, None);
    };
    let settings = *upstream.settings();
    // The key the endpoint's accept must answer: the proxy's own from HTTP/2, else the
    // client's (for a WebSocket).
    let own_key = (up.upgrade == Upgrade::WebSocketOverHttp2).then(websocket_key);
    let client_key = up.head.headers.get(header::SEC_WEBSOCKET_KEY);
    let key = own_key
        .clone()
        .or_else(|| Some(client_key?.to_str().ok()?.to_string()));
    let dial = upstream.dial();
    let (mut next, mut last, mut attempts) = (0, None, 0);
    let reached = upstream.reach(up.pick, &mut next, &mut last, |member| {
        pool::connect_upgradable(member.socket, dial.to(member))
    });
    let Some((member, mut sender)) = reached.await else {
        let (status, message) =
            last.unwrap_or_else(|| (503, format!("no endpoint in cluster {}", upstream.name())));
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        return refused(status, message, attempts, None);
    };
    attempts += 1;
    let endpoint = Some(member.socket);
    let request = upstream_request(&up.head, &up.upgrade, own_key.as_deref(), up.host, member);
    let in_flight = member.load.start();
    let started = Instant::now();
    let sent = tokio::time::timeout(settings.per_try_timeout, sender.send_request(request)).await;
    let latency = started.elapsed();
    let mut response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            in_flight.finish(latency, Outcome::Failed);
            let message = format!("{}: upgrade failed: {e}", member.address);
            return refused(StatusCode::BAD_GATEWAY, message, attempts, endpoint);
        }
        Err(_) => {
            in_flight.finish(latency, Outcome::TimedOut);
            let message = format!("{}: no answer to the upgrade in time", member.address);
            return refused(StatusCode::GATEWAY_TIMEOUT, message, attempts, endpoint);
        }
    };
    let status = response.status();
    // hyper takes any 2xx to an HTTP/2 CONNECT for an open tunnel: one that did not
    // switch would leave the client a stream nothing comes down.
    if up.upgrade == Upgrade::WebSocketOverHttp2 && status.is_success() {
        in_flight.finish(latency, Outcome::Status(status.as_u16()));
        let message = format!(
            "{}: answered the WebSocket handshake with {status}",
            member.address
        );
        return refused(StatusCode::BAD_GATEWAY, message, attempts, endpoint);
    }
    if status != StatusCode::SWITCHING_PROTOCOLS {
        // An ordinary answer (a refusal, a redirect): relayed as one.
        let exchange = Exchange {
            in_flight,
            latency,
            reuse: None,
            upload: None,
            body_idle: settings.body_idle,
            reports: None,
        };
        let (head, body) = response.into_parts();
        let body = UpstreamBody::new(Either::Left(body), status.as_u16(), exchange);
        let response = Response::from_parts(head, Either::Left(body));
        return Upgraded {
            response,
            endpoint,
            attempts,
        };
    }
    // A 101 that does not switch to what was asked would give the client a raw
    // channel to the endpoint, past every rule of the proxy.
    if let Err(why) = switched(&up.upgrade, key.as_deref(), response.headers()) {
        in_flight.finish(latency, Outcome::Failed);
        let message = format!("{}: {why}", member.address);
        return refused(StatusCode::BAD_GATEWAY, message, attempts, endpoint);
    }
    let endpoint_side = hyper::upgrade::on(&mut response);
    let answer = client_answer(&up.upgrade, response.into_parts().0.headers);
    let limits = Limits {
        idle: settings.tunnel_idle,
        drain: listener.drain,
    };
    let (client_side, tunnels, busy) = (up.client, up.tunnels.clone(), up.busy);
    let (stats, cluster) = (Arc::clone(&listener.stats), upstream.name().to_string());
    // Plain TCP on both sides: an HTTP/1.1 client of a cleartext listener, and a
    // cleartext cluster.
    let plain =
        matches!(up.upgrade, Upgrade::Http1(_)) && listener.tls.is_none() && !upstream.tls();
    tokio::spawn(async move {
        let _held = (slot, busy, tunnels.open, tunnels.admitted);
        // The client's side comes once its 101 has gone out: bounded, as a client that
        // does not read could hold it back.
        let sides = async { tokio::try_join!(client_side, endpoint_side) };
        let (client, endpoint) = match tokio::time::timeout(settings.body_idle, sides).await {
            Ok(Ok(sides)) => sides,
            failed => {
                // Nothing relayed: the request ends here, nobody's failure.
                tracing::debug!(%cluster, "tunnel not opened: {failed:?}");
                return in_flight.finish(latency, Outcome::Status(101));
            }
        };
        let relayed = relay(client, endpoint, plain, limits, tunnels.stopping).await;
        // How a tunnel ends says nothing sure of the endpoint: a client can make it
        // reset (bad frames, writing past its close).
        in_flight.finish(latency, Outcome::Status(101));
        stats.tunnel_closed(&relayed);
        tracing::debug!(%cluster, up = relayed.up, down = relayed.down, end = relayed.end.as_str(), "tunnel closed");
    });
    Upgraded {
        response: answer,
        endpoint,
        attempts,
    }
}

/// Relays an opened tunnel: socket to socket when both sides are `plain` TCP, so that
/// an idle tunnel holds no buffer; else through hyper's upgraded connections.
async fn relay(
    client: hyper::upgrade::Upgraded,
    endpoint: hyper::upgrade::Upgraded,
    plain: bool,
    limits: Limits,
    stopping: watch::Receiver<bool>,
) -> Relayed {
    let client = match plain {
        true => client.downcast::<TokioIo<ClientIo<TcpStream>>>(),
        false => Err(client),
    };
    let endpoint = match &client {
        Ok(_) => endpoint.downcast::<TokioIo<Socket<TcpStream>>>(),
        Err(_) => Err(endpoint),
    };
    let (client, endpoint) = match (client, endpoint) {
        (Ok(client), Ok(endpoint)) => (client, endpoint),
        (Err(client), Err(endpoint)) => {
            let (client, endpoint) = (TokioIo::new(client), TokioIo::new(endpoint));
            return tunnel::relay(client, endpoint, limits, stopping).await;
        }
        // A cleartext cluster's upgrade connection is a plain socket: never here. Were
        // it not, the client's side is taken apart already, and the tunnel can only end.
        _ => {
            tracing::error!("an upgraded connection to a cleartext cluster is not a socket");
            return Relayed {
                up: 0,
                down: 0,
                end: End::EndpointFailed,
                endpoint_reset: false,
            };
        }
    };
    // What each side's reader took in past the handshake goes first, copied: the
    // readers' buffers are let go before the tunnel idles.
    let (unread, mut client_socket) = client.io.into_inner().into_parts();
    let ahead = [
        [&client.read_buf[..], &unread[..]].concat(),
        endpoint.read_buf.to_vec(),
    ];
    drop((unread, client.read_buf, endpoint.read_buf));
    let mut endpoint_socket = endpoint.io.into_inner();
    let sockets = [&mut client_socket, &mut *endpoint_socket];
    tunnel::relay_sockets(sockets, ahead, limits, stopping).await
}

/// The proxy's own answer instead of an upgrade.
fn refused(
    status: StatusCode,
    message: String,
    attempts: u32,
    endpoint: Option<SocketAddr>,
) -> Upgraded {
    Upgraded {
        response: text(status, message),
        endpoint,
        attempts,
    }
}

/// The HTTP/1.1 upgrade request the endpoint gets: the client's (or, from HTTP/2, a
/// WebSocket handshake with the proxy's own `key`), in origin form with its `Host`.
fn upstream_request(
    head: &http::request::Parts,
    upgrade: &Upgrade,
    key: Option<&str>,
    host: Option<&str>,
    member: &Member,
) -> Request<Empty<Bytes>> {
    let mut request = Request::new(Empty::new());
    *request.method_mut() = match upgrade {
        Upgrade::Http1(_) => head.method.clone(),
        Upgrade::WebSocketOverHttp2 => Method::GET,
    };
    *request.version_mut() = Version::HTTP_11;
    let target = head.uri.path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = target.parse().unwrap_or_default();
    let headers = request.headers_mut();
    headers.clone_from(&head.headers);
    let host = host.unwrap_or(&member.address);
    if let Ok(host) = HeaderValue::from_str(host) {
        headers.insert(header::HOST, host);
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    let protocol = match upgrade {
        Upgrade::Http1(protocol) => protocol.clone(),
        Upgrade::WebSocketOverHttp2 => HeaderValue::from_static("websocket"),
    };
    headers.insert(header::UPGRADE, protocol);
    if let Some(key) = key.and_then(|k| HeaderValue::from_str(k).ok()) {
        headers.insert(header::SEC_WEBSOCKET_KEY, key);
    }
    request
}

/// Whether the endpoint's 101 (its `headers`) switched to the protocol `upgrade` asked
/// for; for a WebSocket, with the `Sec-WebSocket-Accept` that answers `key`.
fn switched(upgrade: &Upgrade, key: Option<&str>, headers: &HeaderMap) -> Result<(), &'static str> {
    let asked = match upgrade {
        Upgrade::Http1(value) => protocol_name(value).unwrap_or_default(),
        Upgrade::WebSocketOverHttp2 => "websocket",
    };
    let mut named = headers.get_all(header::UPGRADE).iter();
    let answered = named.next().and_then(protocol_name);
    if named.next().is_some() || !answered.is_some_and(|a| a.eq_ignore_ascii_case(asked)) {
        return Err("switched protocols to another than asked");
    }
    if asked.eq_ignore_ascii_case("websocket") && !key.is_some_and(|k| accepts(headers, k)) {
        return Err("wrong Sec-WebSocket-Accept");
    }
    Ok(())
}

/// The client's answer once the endpoint switched: its `101` for an HTTP/1.1 upgrade,
/// with the endpoint's end-to-end fields and the upgrade's; for HTTP/2, `200` with the
/// end-to-end fields but the accept (the stream is the tunnel).
fn client_answer(upgrade: &Upgrade, mut endpoint: HeaderMap) -> Response<ProxyBody> {
    let protocol = endpoint.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut endpoint);
    endpoint.remove(header::CONTENT_LENGTH);
    let mut response = Response::new(Either::Right(http_body_util::Full::new(Bytes::new())));
    *response.status_mut() = match upgrade {
        Upgrade::Http1(_) => {
            endpoint.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(protocol) = protocol {
                endpoint.insert(header::UPGRADE, protocol);
            }
            StatusCode::SWITCHING_PROTOCOLS
        }
        Upgrade::WebSocketOverHttp2 => {
            endpoint.remove(header::SEC_WEBSOCKET_ACCEPT);
            StatusCode::OK
        }
    };
    *response.headers_mut() = endpoint;
    response
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes in base64.
fn websocket_key() -> String {
    let mut nonce = [0u8; 16];
    // The key only shows that the endpoint speaks WebSocket: an unlikely failure of
    // the system's randomness leaves zeros, which still do that.
    let _ = aws_lc_rs::rand::fill(&mut nonce);
    BASE64.encode(nonce)
}

/// Whether `headers` carry the `Sec-WebSocket-Accept` that answers `key` (RFC 6455
/// §4.2.2: base64 of the SHA-1 of the key and the GUID).
fn accepts(headers: &HeaderMap, key: &str) -> bool {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(key.as_bytes());
    context.update(WEBSOCKET_GUID);
    let expected = BASE64.encode(context.finish());
    headers
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .is_some_and(|accept| accept.as_bytes() == expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn allowed() -> Vec<Box<str>> {
        vec!["websocket".into()]
    }

    fn http1(connection: &str, upgrade: &str) -> Request<Empty<Bytes>> {
        Request::builder()
            .header("connection", connection)
            .header("upgrade", upgrade)
            .body(Empty::new())
            .unwrap()
    }

    #[test]
    fn only_allowed_protocols_asked_for_by_connection_are_upgrades() {
        let websocket = Some(Upgrade::Http1(HeaderValue::from_static("WebSocket")));
        assert_eq!(
            wanted(&http1("keep-alive, Upgrade", "WebSocket"), &allowed()),
            websocket
        );
        assert_eq!(wanted(&http1("keep-alive", "websocket"), &allowed()), None);
        assert_eq!(wanted(&http1("upgrade", "h2c"), &["h2c".into()]), None);
        assert_eq!(wanted(&http1("upgrade", "foo"), &allowed()), None);
        assert_eq!(
            wanted(&http1("upgrade", "websocket, foo"), &allowed()),
            None
        );
        let with_body = http1("upgrade", "websocket").map(|_| Full::new(Bytes::from("x")));
        assert_eq!(
            wanted(&with_body, &allowed()),
            None,
            "an upgrade has no body"
        );
        let mut h2 = Request::builder()
            .method(Method::CONNECT)
            .version(Version::HTTP_2)
            .body(Empty::<Bytes>::new())
            .unwrap();
        assert_eq!(wanted(&h2, &allowed()), None, "a plain CONNECT");
        h2.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        assert_eq!(wanted(&h2, &allowed()), Some(Upgrade::WebSocketOverHttp2));
        assert_eq!(wanted(&h2, &[]), None);
    }

    #[test]
    fn a_switch_must_be_to_what_was_asked_with_the_right_accept() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, HeaderValue::from_static(value));
            }
            map
        };
        let websocket = Upgrade::Http1(HeaderValue::from_static("websocket"));
        let key = Some("dGhlIHNhbXBsZSBub25jZQ==");
        let accept = ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let good = headers(&[("upgrade", "WebSocket"), accept]);
        assert_eq!(switched(&websocket, key, &good), Ok(()));
        assert_eq!(switched(&Upgrade::WebSocketOverHttp2, key, &good), Ok(()));
        assert!(switched(&websocket, key, &headers(&[("upgrade", "websocket")])).is_err());
        assert!(
            switched(&websocket, None, &good).is_err(),
            "no key, no accept to check"
        );
        assert!(switched(&websocket, key, &headers(&[("upgrade", "h2c"), accept])).is_err());
        assert!(switched(&websocket, key, &headers(&[accept])).is_err());
        let foo = Upgrade::Http1(HeaderValue::from_static("foo/1"));
        assert_eq!(
            switched(&foo, None, &headers(&[("upgrade", "foo/2")])),
            Ok(())
        );
        assert!(switched(&foo, None, &headers(&[("upgrade", "bar")])).is_err());
    }

    #[test]
    fn the_accept_is_the_one_rfc_6455_gives() {
        // The example of RFC 6455 §1.3.
        let mut headers = HeaderMap::new();
        headers.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        );
        assert!(accepts(&headers, "dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!accepts(&headers, "dGhlIHNhbXBsZSBub25jZR=="));
        assert_eq!(websocket_key().len(), 24);
    }
}
