//! WebSockets through the proxy, with a real WebSocket library (tungstenite) on both
//! ends: HTTP/1.1 upgrades spread by the cluster's policy, HTTP/2 extended CONNECT
//! (RFC 8441) relayed to HTTP/1.1 endpoints, an endpoint dying mid-tunnel, the idle
//! timeout, the listener's cap, and upgrades the listener does not allow.

use crate::common;

use bytes::Bytes;
use common::certs::{Ca, acceptor, tls_connect};
use common::client::raw_request;
use common::scrape::{scrape, value};
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{WebSocketStream, accept_async, client_async};

/// Bounds every wait on a WebSocket.
const WAIT: Duration = Duration::from_secs(10);

/// A WebSocket echo server named `name`: answers `who` with its name, drops the
/// connection on `die` (as a killed server would), echoes every other message; pings
/// and close frames are answered by the library.
struct EchoServer {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

async fn echo_server(name: &'static str) -> EchoServer {
    echo_server_over(name, None).await
}

/// As [`echo_server`], over TLS with `tls` when given.
async fn echo_server_over(name: &'static str, tls: Option<TlsAcceptor>) -> EchoServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Relaxed);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => echo(name, stream).await,
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(stream).await {
                            echo(name, stream).await;
                        }
                    }
                }
            });
        }
    });
    EchoServer { addr, connections }
}

/// Serves one WebSocket connection of an echo server.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(name: &'static str, stream: S) {
    let Ok(mut ws) = accept_async(stream).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        let answer = match message {
            Message::Text(text) if text.as_str() == "who" => Message::text(name),
            Message::Text(text) if text.as_str() == "die" => return,
            Message::Text(_) | Message::Binary(_) => message,
            _ => continue,
        };
        if ws.send(answer).await.is_err() {
            return;
        }
    }
}

fn proxy(
    servers: &[&EchoServer],
    extra_listener: &str,
    extra_cluster: &str,
) -> switchyard::app::App {
    let endpoints: Vec<String> = servers
        .iter()
        .map(|s| format!("{{ address = \"{}\" }}", s.addr))
        .collect();
    common::proxy(&format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"ws\"\n{extra_listener}\n\
         [[clusters]]\nname = \"ws\"\npolicy = \"round-robin\"\nendpoints = [{}]\n{extra_cluster}\n",
        endpoints.join(", ")
    ))
}

/// A proxy whose listener `web` sends every request to the one endpoint at `addr`.
fn to_one(addr: SocketAddr) -> switchyard::app::App {
    common::proxy(&format!(
        "[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"app\"\n\
         [[clusters]]\nname = \"app\"\nendpoints = [{{ address = \"{addr}\" }}]\n"
    ))
}

/// A WebSocket client through the proxy at `web` over HTTP/1.1.
async fn connect(web: SocketAddr) -> WebSocketStream<TcpStream> {
    let stream = TcpStream::connect(web).await.unwrap();
    let url = format!("ws://{web}/chat");
    let (ws, response) = tokio::time::timeout(WAIT, client_async(url, stream))
        .await
        .expect("handshake in time")
        .expect("handshake through the proxy");
    assert_eq!(response.status(), 101);
    ws
}

/// The next message, within [`WAIT`].
async fn next<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> Message {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a message in time")
        .expect("the tunnel is open")
        .expect("a well-formed message")
}

/// Sends `message` and expects it back.
async fn echoed<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, message: Message) {
    ws.send(message.clone()).await.unwrap();
    assert_eq!(next(ws).await, message);
}

/// Text, binary, 1 MiB, ping and a close with its code: what a tunnel must carry.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) {
    echoed(ws, Message::text("hello through the proxy")).await;
    echoed(ws, Message::binary((0..=255u8).collect::<Vec<_>>())).await;
    let large: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    echoed(ws, Message::binary(large)).await;
    ws.send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    assert_eq!(
        next(ws).await,
        Message::Pong(Bytes::from_static(b"are you there"))
    );
    let close = CloseFrame {
        code: CloseCode::Library(4001),
        reason: Utf8Bytes::from_static("done here"),
    };
    ws.send(Message::Close(Some(close.clone()))).await.unwrap();
    assert_eq!(
        next(ws).await,
        Message::Close(Some(close)),
        "the close code comes back"
    );
}

/// The cluster's endpoints' requests in flight, from the admin API.
async fn in_flight(admin: SocketAddr) -> Vec<u64> {
    let clusters = common::client::json(admin, "/clusters").await;
    let endpoints = clusters["clusters"][0]["endpoints"]
        .as_array()
        .unwrap()
        .clone();
    endpoints
        .iter()
        .map(|e| e["in_flight"].as_u64().unwrap())
        .collect()
}

/// Waits (at most 5 s) until `admin` shows `expected` in flight per endpoint.
async fn until_in_flight(admin: SocketAddr, expected: &[u64]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = in_flight(admin).await;
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "in flight {now:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_over_http1_are_spread_by_the_policy_and_held_in_flight() {
    let servers = [
        echo_server("a").await,
        echo_server("b").await,
        echo_server("c").await,
    ];
    let proxy = proxy(&servers.iter().collect::<Vec<_>>(), "", "");
    let (web, admin) = (
        proxy.listener_addr("web").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    let mut sockets = Vec::new();
    let mut names = std::collections::BTreeMap::new();
    for _ in 0..9 {
        let mut ws = connect(web).await;
        ws.send(Message::text("who")).await.unwrap();
        let name = next(&mut ws).await.into_text().unwrap().to_string();
        *names.entry(name).or_insert(0) += 1;
        sockets.push(ws);
    }
    let expected: std::collections::BTreeMap<String, i32> =
        [("a".into(), 3), ("b".into(), 3), ("c".into(), 3)].into();
    assert_eq!(names, expected, "round-robin over the three servers");
    // Each endpoint has its three tunnels in flight while they last.
    until_in_flight(admin, &[3, 3, 3]).await;
    // A tunnel's client connection still counts against max_connections.
    let (metrics, _) = scrape(admin).await;
    let open = value(
        &metrics,
        "switchyard_listener_connections",
        &[("listener", "web")],
    );
    assert_eq!(open, 9.0, "client connections open");
    for ws in &mut sockets {
        exchange(ws).await;
    }
    drop(sockets);
    until_in_flight(admin, &[0, 0, 0]).await;
    let (metrics, _) = scrape(admin).await;
    let tunnels = value(
        &metrics,
        "switchyard_listener_tunnels",
        &[("listener", "web")],
    );
    assert_eq!(tunnels, 0.0);
    let closed = value(
        &metrics,
        "switchyard_listener_tunnels_closed_total",
        &[("listener", "web"), ("end", "closed")],
    );
    assert_eq!(closed, 9.0);
    let up = value(
        &metrics,
        "switchyard_listener_tunnel_bytes_total",
        &[("listener", "web"), ("direction", "up")],
    );
    assert!(up > 9.0 * f64::from(1u32 << 20), "{up} bytes up");
    common::stop(proxy).await;
}

/// An HTTP/2 connection to the proxy at `web`.
async fn h2_client(web: SocketAddr) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(web).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

/// The answer to an extended CONNECT for a WebSocket at `path` (RFC 8441).
async fn h2_websocket(
    sender: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    web: SocketAddr,
    path: &str,
) -> http::Response<hyper::body::Incoming> {
    let mut request = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{web}{path}"))
        .header("sec-websocket-version", "13")
        .body(Empty::<Bytes>::new())
        .unwrap();
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    tokio::time::timeout(WAIT, sender.send_request(request))
        .await
        .expect("an answer in time")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_over_http2_take_extended_connect_to_http1_endpoints() {
    let server = echo_server("a").await;
    let proxy = proxy(&[&server], "", "");
    let web = proxy.listener_addr("web").unwrap();
    let mut sender = h2_client(web).await;
    for _ in 0..2 {
        // Two WebSockets on one HTTP/2 connection, one after the other.
        let response = h2_websocket(&mut sender, web, "/chat").await;
        assert_eq!(
            response.status(),
            200,
            "HTTP/2 answers a WebSocket with 200"
        );
        assert!(!response.headers().contains_key("sec-websocket-accept"));
        let upgraded = hyper::upgrade::on(response).await.unwrap();
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
        exchange(&mut ws).await;
    }
    assert_eq!(server.connections.load(Relaxed), 2);
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_websocket_is_routed_as_the_get_the_endpoint_gets() {
    let server = echo_server("a").await;
    // Only a GET reaches the WebSocket cluster; anything else is answered 403.
    let proxy = common::proxy(&format!(
        "[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n\
         [[listeners.routes]]\nmatch = {{ method = \"GET\", path_prefix = \"/chat\" }}\ncluster = \"ws\"\n\
         [[listeners.routes]]\nrespond = {{ status = 403 }}\n\
         [[clusters]]\nname = \"ws\"\nendpoints = [{{ address = \"{}\" }}]\n",
        server.addr
    ));
    let web = proxy.listener_addr("web").unwrap();
    let mut sender = h2_client(web).await;
    let response = h2_websocket(&mut sender, web, "/chat").await;
    assert_eq!(response.status(), 200, "routed by GET, not CONNECT");
    let upgraded = hyper::upgrade::on(response).await.unwrap();
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    echoed(&mut ws, Message::text("routed")).await;
    drop(ws);
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_websocket_answered_200_by_the_endpoint_is_a_502() {
    // An endpoint that does not speak WebSocket and answers the handshake 200.
    let backend = common::backend::named("plain", Duration::ZERO).await;
    let proxy = to_one(backend.addr);
    let web = proxy.listener_addr("web").unwrap();
    let mut sender = h2_client(web).await;
    let response = h2_websocket(&mut sender, web, "/chat").await;
    assert_eq!(response.status(), 502, "no tunnel that nothing comes down");
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_dies_mid_tunnel_closes_the_clients_side() {
    let server = echo_server("a").await;
    let proxy = proxy(&[&server], "", "");
    let (web, admin) = (
        proxy.listener_addr("web").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    let mut ws = connect(web).await;
    echoed(&mut ws, Message::text("before")).await;
    ws.send(Message::text("die")).await.unwrap();
    let ended = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("the client sees the end");
    assert!(
        !matches!(ended, Some(Ok(_))),
        "no message after the endpoint went: {ended:?}"
    );
    drop(ws);
    until_in_flight(admin, &[0]).await;
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_tunnels_close_and_the_listener_caps_them() {
    let server = echo_server("a").await;
    let proxy = proxy(
        &[&server],
        "max_tunnels = 1",
        "[clusters.timeouts]\ntunnel_idle = \"1s\"",
    );
    let web = proxy.listener_addr("web").unwrap();
    let mut ws = connect(web).await;
    // A second tunnel is over the listener's cap.
    let stream = TcpStream::connect(web).await.unwrap();
    let refused = client_async(format!("ws://{web}/chat"), stream).await;
    let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = refused else {
        panic!("the second tunnel is refused: {refused:?}");
    };
    assert_eq!(response.status(), 503);
    echoed(&mut ws, Message::text("still here")).await;
    let started = std::time::Instant::now();
    let ended = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("closed for idling");
    assert!(!matches!(ended, Some(Ok(Message::Text(_)))), "{ended:?}");
    let quiet = started.elapsed();
    assert!(
        quiet >= Duration::from_millis(900),
        "closed after {quiet:?}, before tunnel_idle"
    );
    // The place is free again.
    let mut again = connect(web).await;
    echoed(&mut again, Message::text("again")).await;
    // An open tunnel would hold the stop for the drain timeout.
    drop(again);
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_the_listener_does_not_allow_go_as_ordinary_requests() {
    let backend = common::backend::named("plain", Duration::ZERO).await;
    let proxy = to_one(backend.addr);
    let web = proxy.listener_addr("web").unwrap();
    for upgrade in ["h2c", "foo/1"] {
        let request = format!(
            "GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n\
             Upgrade: {upgrade}\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
        );
        let answer = raw_request(web, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{upgrade}: {answer}");
        let seen = answer
            .lines()
            .find_map(|l| l.strip_prefix("x-seen-upgrade: "))
            .unwrap_or("");
        assert_eq!(
            seen, "|",
            "{upgrade}: the endpoint saw Upgrade|Connection {seen:?}"
        );
    }
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_go_from_a_tls_listener_to_tls_endpoints() {
    let dir = common::temp_dir("websockets-tls");
    let ca = Ca::new(&dir, "ws");
    let front = ca.leaf(&dir, "front", "api.test", &["api.test"]);
    let back = ca.leaf(&dir, "back", "backend", &["127.0.0.1"]);
    let server = echo_server_over("secure", Some(acceptor(&back))).await;
    let proxy = proxy(
        &[&server],
        &format!(
            "[listeners.tls]\ncert = {:?}\nkey = {:?}",
            front.cert, front.key
        ),
        &format!("[clusters.tls]\nca = {:?}", ca.file),
    );
    let web = proxy.listener_addr("web").unwrap();
    let stream = tls_connect(web, "api.test", &ca.file).await;
    let (mut ws, response) =
        tokio::time::timeout(WAIT, client_async("wss://api.test/chat", stream))
            .await
            .expect("handshake in time")
            .expect("handshake through the proxy");
    assert_eq!(response.status(), 101);
    ws.send(Message::text("who")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("secure"));
    exchange(&mut ws).await;
    drop(ws);
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_101_that_does_not_switch_as_asked_opens_no_tunnel() {
    // 101s an endpoint might send: no accept, another protocol.
    for script in [
        (|_: &str, _: usize| {
            let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
            Some((head.as_bytes().to_vec(), false))
        }) as common::backend::Script,
        |_: &str, _: usize| {
            let head =
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
            Some((head.as_bytes().to_vec(), false))
        },
    ] {
        let backend = common::backend::scripted(script).await;
        let proxy = to_one(backend.addr);
        let web = proxy.listener_addr("web").unwrap();
        let request = "GET /chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        let answer = raw_request(web, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
        // CONNECT is no way around it.
        let connect = "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n";
        let answer = raw_request(web, connect.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
        common::stop(proxy).await;
    }
}
