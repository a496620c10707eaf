//! Real HTTP backends for the proxy tests: hyper servers on 127.0.0.1 (HTTP/1.1 and
//! h2c), each answering in its own way.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

type Body = BoxBody<Bytes, Infallible>;

/// A running backend.
pub struct Backend {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

/// Answers `name` after `delay`; echoes what it saw in `x-seen-*` headers (`x-seen-target`:
/// path and query). Paths:
/// `/upload` counts the request body's bytes, `/download/N` streams N MiB.
pub async fn named(name: &'static str, delay: Duration) -> Backend {
    serve(move |request| answer(name, delay, request)).await
}

/// As [`named`], on `listener`.
pub async fn named_on(name: &'static str, listener: tokio::net::TcpListener) -> Backend {
    serve_on(listener, move |request| {
        answer(name, Duration::ZERO, request)
    })
    .await
}

/// As [`named`], except that `GET /health` answers 200 `ok` while `healthy` is set and
/// 503 `draining` while it is not.
pub async fn with_health(name: &'static str, healthy: Arc<AtomicBool>) -> Backend {
    serve(move |request| {
        let healthy = Arc::clone(&healthy);
        async move {
            if request.uri().path() != "/health" {
                return answer(name, Duration::ZERO, request).await;
            }
            let (status, text) = match healthy.load(Relaxed) {
                true => (200, "ok"),
                false => (503, "draining"),
            };
            let mut response = Response::new(full(text.to_string()));
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            response
        }
    })
    .await
}

/// As [`named`], answering after 1 ms, or after `slow_delay` while `slow` is set.
pub async fn switchable(
    name: &'static str,
    slow: Arc<AtomicBool>,
    slow_delay: Duration,
) -> Backend {
    serve(move |request| {
        let slow = Arc::clone(&slow);
        async move {
            let delay = match slow.load(Relaxed) {
                true => slow_delay,
                false => Duration::from_millis(1),
            };
            answer(name, delay, request).await
        }
    })
    .await
}

async fn answer(name: &'static str, delay: Duration, request: Request<Incoming>) -> Response<Body> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let seen = |h: &str| {
        request
            .headers()
            .get(h)
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    let host = match request.uri().authority() {
        Some(authority) => authority.to_string(),
        None => seen("host"),
    };
    let (xff, forwarded) = (seen("x-forwarded-for"), seen("forwarded"));
    let client_cert = seen("x-forwarded-client-cert");
    let upgrade = format!("{}|{}", seen("upgrade"), seen("connection"));
    let framing = format!("{}|{}", seen("content-length"), seen("transfer-encoding"));
    let version = format!("{:?}", request.version());
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let path = request.uri().path().to_string();
    let body: Body = if path == "/upload" {
        let mut bytes = 0usize;
        let mut body = request.into_body();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map(|f| f.into_data()) {
                bytes += data.map_or(0, |d| d.len());
            }
        }
        full(format!("{bytes}"))
    } else if let Some(mib) = path.strip_prefix("/download/") {
        let mib: usize = mib.parse().unwrap_or(1);
        let chunk = Bytes::from(vec![b'x'; 1 << 20]);
        BoxBody::new(Download { left: mib, chunk })
    } else {
        full(name.to_string())
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    for (key, value) in [
        ("x-backend", name.to_string()),
        ("x-seen-xff", xff),
        ("x-seen-host", host),
        ("x-seen-forwarded", forwarded),
        ("x-seen-version", version),
        ("x-seen-framing", framing),
        ("x-seen-client-cert", client_cert),
        ("x-seen-target", target),
        ("x-seen-upgrade", upgrade),
    ] {
        headers.insert(key, value.parse().unwrap());
    }
    response
}

fn full(text: String) -> Body {
    BoxBody::new(Full::new(Bytes::from(text)))
}

/// `left` frames of `chunk`, produced lazily: whoever sends it never holds it whole.
pub struct Download {
    pub left: usize,
    pub chunk: Bytes,
}

impl http_body::Body for Download {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

/// A backend (HTTP/1.1 and h2c) that answers every request 503 `busy`, after reading
/// its body.
pub async fn busy() -> Backend {
    serve(|request: Request<Incoming>| async move {
        let _ = request.into_body().collect().await;
        let mut response = Response::new(full("busy".to_string()));
        *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        response
    })
    .await
}

/// Requests a [`holding`] backend holds now, and the most it held at once.
#[derive(Default)]
pub struct Concurrency {
    pub now: AtomicUsize,
    pub peak: AtomicUsize,
}

/// A backend (HTTP/1.1 and h2c) that reads each request's body to its end before it
/// answers `done`, counting the requests it holds meanwhile.
pub async fn holding() -> (Backend, Arc<Concurrency>) {
    let counts = Arc::new(Concurrency::default());
    let seen = Arc::clone(&counts);
    let backend = serve(move |request: Request<Incoming>| {
        let counts = Arc::clone(&seen);
        async move {
            let now = counts.now.fetch_add(1, Relaxed) + 1;
            counts.peak.fetch_max(now, Relaxed);
            let _ = request.into_body().collect().await;
            counts.now.fetch_sub(1, Relaxed);
            Response::new(full("done".to_string()))
        }
    })
    .await;
    (backend, counts)
}

/// A backend that answers every request with bytes that are not HTTP.
pub async fn garbage() -> Backend {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Relaxed);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
                let _ = stream.write_all(b"SSH-2.0-not-http\r\n\r\n\x00\x01").await;
            });
        }
    });
    Backend { addr, hits }
}

/// An address where nothing listens.
pub fn dead() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

async fn serve<F, Fut>(handler: F) -> Backend
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, handler).await
}

async fn serve_on<F, Fut>(listener: tokio::net::TcpListener, handler: F) -> Backend
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            let counter = Arc::clone(&counter);
            let service = service_fn(move |request| {
                counter.fetch_add(1, Relaxed);
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(request).await) }
            });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Backend { addr, hits }
}

/// A backend written at the byte level, for exact HTTP/1.1 framing: for each request
/// (head and `Content-Length` body) on a connection it records the request's text and
/// writes what `answer(request, index on the connection)` returns — the response bytes,
/// and whether to close afterwards — or closes at once on `None`.
pub struct Scripted {
    pub addr: SocketAddr,
    pub requests: Arc<std::sync::Mutex<Vec<String>>>,
    pub connections: Arc<AtomicUsize>,
    /// Connections that have ended (the peer closed, or the script did).
    pub closed: Arc<AtomicUsize>,
}

/// What a scripted backend does with one request: respond (and maybe close), or close.
pub type Script = fn(&str, usize) -> Option<(Vec<u8>, bool)>;

pub async fn scripted(answer: Script) -> Scripted {
    scripted_ending(answer, false).await
}

/// A scripted backend that resets the connection (RST, not FIN) where `answer` says
/// `None`.
pub async fn scripted_resetting(answer: Script) -> Scripted {
    scripted_ending(answer, true).await
}

async fn scripted_ending(answer: Script, reset: bool) -> Scripted {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (seen, count, ended) = (
        Arc::clone(&requests),
        Arc::clone(&connections),
        Arc::clone(&closed),
    );
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Relaxed);
            let seen = Arc::clone(&seen);
            let ended = Arc::clone(&ended);
            tokio::spawn(async move {
                let _ended = Ended(ended);
                let mut buf = Vec::new();
                for index in 0.. {
                    let Some(request) = read_request(&mut stream, &mut buf).await else {
                        return;
                    };
                    seen.lock().unwrap().push(request.clone());
                    let Some((response, close)) = answer(&request, index) else {
                        if reset {
                            // A zero linger time makes the close a reset.
                            let _ = stream.set_zero_linger();
                        }
                        return;
                    };
                    if stream.write_all(&response).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    Scripted {
        addr,
        requests,
        connections,
        closed,
    }
}

/// Counts a connection as ended when dropped.
struct Ended(Arc<AtomicUsize>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.fetch_add(1, Relaxed);
    }
}

/// The next request (head and `Content-Length` body) from `stream`, as text.
async fn read_request(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).to_lowercase();
            let body = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if buf.len() >= end + 4 + body {
                let request: Vec<u8> = buf.drain(..end + 4 + body).collect();
                return Some(String::from_utf8_lossy(&request).into_owned());
            }
        }
        let mut chunk = [0u8; 4096];
        match tokio::io::AsyncReadExt::read(stream, &mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A tonic gRPC server with only the `grpc.health.v1` service, `service` set to
/// SERVING; the reporter changes its status.
pub async fn grpc_health(service: &str) -> (SocketAddr, tonic_health::server::HealthReporter) {
    grpc_health_over(service, None).await
}

/// [`grpc_health`], over TLS when `tls` is given.
pub async fn grpc_health_over(
    service: &str,
    tls: Option<tonic::transport::ServerTlsConfig>,
) -> (SocketAddr, tonic_health::server::HealthReporter) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(service, tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls).unwrap();
    }
    tokio::spawn(
        server
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (addr, reporter)
}
