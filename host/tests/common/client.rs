//! A plain hyper client for the proxy tests: one fresh connection per call, HTTP/1.1 or
//! h2c with prior knowledge; keep-alive connections; steady load ([`Load`]).

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sends `request` over a new connection to `addr`.
pub async fn send<B>(addr: SocketAddr, request: Request<B>, http2: bool) -> Response<Incoming>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if http2 {
        return h2c(addr).await.send_request(request).await.unwrap();
    }
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    send.send_request(request).await.unwrap()
}

/// A new h2c connection (prior knowledge) to `addr`, driven by a task of its own, for
/// requests that must share it.
pub async fn h2c<B>(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<B>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

/// `GET path`: status, headers and body text.
pub async fn get(addr: SocketAddr, path: &str, http2: bool) -> (StatusCode, HeaderMap, String) {
    let uri = if http2 {
        format!("http://switchyard.test{path}")
    } else {
        path.to_string()
    };
    let mut request = Request::get(uri).body(Empty::<Bytes>::new()).unwrap();
    if !http2 {
        request
            .headers_mut()
            .insert(http::header::HOST, "switchyard.test".parse().unwrap());
    }
    let response = send(addr, request, http2).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// `GET path` answered 200 with JSON (an admin endpoint): the value.
pub async fn json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = admin_json(addr, "GET", path).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// How many of `n` GETs of `/` (one after another on one kept-alive connection) each
/// backend answered, by the name in the body; failures count under their status.
pub async fn answered_by(proxy: SocketAddr, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut sender = keep_alive(proxy).await;
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..n {
        sender.ready().await.unwrap();
        let response = sender.send_request(get_root("t")).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let who = match status.as_u16() {
            200 => String::from_utf8_lossy(&body).into_owned(),
            other => other.to_string(),
        };
        *counts.entry(who).or_default() += 1;
    }
    counts
}

/// Waits (up to `limit`) until 30 GETs are answered by exactly the backends `names`
/// (sorted); how long that took.
pub async fn until_answered_by(proxy: SocketAddr, names: &[&str], limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let seen = answered_by(proxy, 30).await;
        if seen.keys().map(String::as_str).eq(names.iter().copied()) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "expected {names:?}, saw {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes `bytes` on `stream` and returns the text of what one read brings back
/// (within 3 s): enough for a short response.
pub async fn raw_exchange(stream: &mut tokio::net::TcpStream, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(bytes).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(3), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A keep-alive HTTP/1.1 connection to `addr`.
pub async fn keep_alive(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// `GET /` for `host`.
pub fn get_root(host: &str) -> Request<Empty<Bytes>> {
    Request::get("/")
        .header(http::header::HOST, host)
        .body(Empty::new())
        .unwrap()
}

/// Statuses of `n` GETs of `/` sent one after another on one kept-alive connection.
pub async fn statuses(proxy: SocketAddr, n: usize) -> Vec<u16> {
    let mut sender = keep_alive(proxy).await;
    let mut statuses = Vec::with_capacity(n);
    for _ in 0..n {
        sender.ready().await.unwrap();
        let response = sender.send_request(get_root("t")).await.unwrap();
        statuses.push(response.status().as_u16());
        let _ = response.into_body().collect().await;
    }
    statuses
}

/// One request of the load: when it was sent, its status (0: no response), who
/// answered.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub status: u16,
    pub backend: String,
}

/// Steady traffic through the proxy on a few keep-alive connections.
pub struct Load {
    sent: Arc<Mutex<Vec<Sent>>>,
    stop: Arc<AtomicBool>,
}

impl Load {
    pub fn start(proxy: SocketAddr, connections: usize) -> Self {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        for _ in 0..connections {
            let (sent, stop) = (Arc::clone(&sent), Arc::clone(&stop));
            tokio::spawn(async move {
                while !stop.load(Relaxed) {
                    let mut send = keep_alive(proxy).await;
                    while !stop.load(Relaxed) {
                        let at = Instant::now();
                        let Ok(response) = send.send_request(get_root("health.test")).await else {
                            sent.lock().unwrap().push(Sent {
                                at,
                                status: 0,
                                backend: String::new(),
                            });
                            break;
                        };
                        let status = response.status().as_u16();
                        let backend = response
                            .headers()
                            .get("x-backend")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default();
                        let _ = response.into_body().collect().await;
                        sent.lock().unwrap().push(Sent {
                            at,
                            status,
                            backend,
                        });
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            });
        }
        Self { sent, stop }
    }

    /// Requests sent from `from` on (until `to` when given).
    pub fn since(&self, from: Instant, to: Option<Instant>) -> Vec<Sent> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.at >= from && to.is_none_or(|to| s.at < to))
            .cloned()
            .collect()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

/// Share of `sent` that `backend` answered.
pub fn share(sent: &[Sent], backend: &str) -> f64 {
    sent.iter().filter(|s| s.backend == backend).count() as f64 / sent.len().max(1) as f64
}

/// Sends `bytes` on a new connection to `addr` and reads until one whole response (a
/// head and its `Content-Length` body) has arrived or the peer closes, within 5 s: its
/// text, or what came before the peer closed.
pub async fn raw_request(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw_response(&mut stream, bytes).await
}

/// As [`raw_request`], on an open connection.
pub async fn raw_response(stream: &mut tokio::net::TcpStream, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The peer may answer and close before it reads all of `bytes`.
    let _ = stream.write_all(bytes).await;
    let mut got = Vec::new();
    let read = async {
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let body = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if body.is_some_and(|len| got.len() >= end + 4 + len) {
                    return;
                }
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read).await;
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads until the peer closes `stream` (or resets it), within `limit`, else panics:
/// how long it took and how many bytes came.
pub async fn until_closed(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    limit: std::time::Duration,
) -> (std::time::Duration, usize) {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut received = 0;
    let mut buf = vec![0u8; 64 << 10];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .unwrap_or_else(|_| panic!("still open after {limit:?}"));
    (started.elapsed(), received)
}

/// One admin API request (`GET`, `POST`…) with no body and exactly `headers`.
pub async fn admin_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response<Incoming> {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(addr, request.body(Empty::<Bytes>::new()).unwrap(), false).await
}

/// One admin API request (`GET`, `POST`…) with no body: the status and the JSON body.
pub async fn admin_json(addr: SocketAddr, method: &str, path: &str) -> (u16, serde_json::Value) {
    let response = admin_request(addr, method, path, &[("host", "localhost")]).await;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&body).expect("admin answers JSON"),
    )
}
