//! One client connection, from accept to close: the TLS handshake on a TLS listener,
//! waiting for its bytes without holding a buffer, telling HTTP/1.1 from h2c (or ALPN
//! telling), the HTTP/1.1 fast path, and hyper for HTTP/2 and for the HTTP/1.1
//! requests the fast path hands over. Cleartext and TLS connections share the
//! HTTP/1.1 loop (`ClientStream` is where they differ).
//!
//! Between HTTP/1.1 requests a connection is back here, in a small task that holds its
//! socket and no buffer, whichever path served the last request: the fast path returns
//! when its input runs dry, and hyper's connection parks (see `connection`) and gives
//! the socket back. Only HTTP/2 connections keep hyper's state while idle.

use crate::config::model::ForwardClientCert;
use crate::net::http1::READ_CHUNK;
use crate::proxy::accept::Admitted;
use crate::proxy::body::ProxyBody;
use crate::proxy::buffers;
use crate::proxy::client_stream::{ClientStream, close};
use crate::proxy::connection::{Activity, ClientIo, Expired, Tracked, Watchdog};
use crate::proxy::detect::{Protocol, detect};
use crate::proxy::forward::forward;
use crate::proxy::h1::{self, Ended};
use crate::proxy::headers::ClientFields;
use crate::proxy::listener::Listener;
use crate::proxy::upgrade::Tunnels;
use crate::tls::{ClientIdentity, HandshakeFailure};
use bytes::BytesMut;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Instant, Sleep};

/// A worker's shutdown as its client connections see it: the signal, and a
/// notification for those waiting for a request (cheaper to wait on than the signal).
#[derive(Clone)]
pub(crate) struct Shutdown {
    signal: watch::Receiver<bool>,
    waiting: Arc<Notify>,
}

impl Shutdown {
    /// Follows `signal` (true: shutting down); on the worker's runtime.
    pub(crate) fn follow(signal: watch::Receiver<bool>) -> Self {
        let waiting = Arc::new(Notify::new());
        let (mut watcher, notify) = (signal.clone(), Arc::clone(&waiting));
        tokio::spawn(async move {
            let _ = watcher.wait_for(|&down| down).await;
            notify.notify_waiters();
        });
        Self { signal, waiting }
    }
}

/// Serves one client connection: HTTP/1.1 on the fast path as long as it can, the rest
/// (HTTP/2, and HTTP/1.1 the fast path hands over) with hyper. `admitted` (on its
/// its listener) and `_open` are held until the connection closes.
///
/// This future is the whole of an idle connection's task, so it is kept small: one
/// timer and one wait for shutdown, made once; one place where it waits for bytes;
/// every larger piece of work boxed; the client's address asked for only once it has
/// sent something.
pub(crate) async fn serve(
    mut stream: TcpStream,
    admitted: Admitted,
    shutdown: Shutdown,
    open: mpsc::Sender<()>,
) {
    // Shared with the tunnels its upgrades open, which may outlive this task.
    let admitted = Arc::new(admitted);
    let listener = admitted.listener();
    // Notified of a shutdown from here on, even before it is first polled.
    let stopping = shutdown.waiting.notified();
    tokio::pin!(stopping);
    if *shutdown.signal.borrow() {
        return;
    }
    // Its first bytes, enough of them to tell its protocol, must come within the
    // header read timeout; later, each request within the idle timeout.
    let deadline = Instant::now() + listener.limits.header_read_timeout;
    let timer = tokio::time::sleep_until(deadline);
    tokio::pin!(timer);
    let mut input = BytesMut::new();
    let protocol = loop {
        let wait = (deadline, timer.as_mut(), stopping.as_mut());
        if !next_bytes(&mut stream, &mut input, wait).await {
            return buffers::give_input(input);
        }
        if let Some(protocol) = detect(&input) {
            break protocol;
        }
    };
    let Ok(peer) = stream.peer_addr() else {
        return buffers::give_input(input);
    };
    let client = Client {
        fields: ClientFields::new(peer, false),
        identity: None,
        tunnels: Tunnels {
            stopping: shutdown.signal.clone(),
            open,
            admitted: Arc::clone(&admitted) as _,
        },
    };
    let signal = &shutdown.signal;
    if protocol == Protocol::Http2 {
        let serving = serve_http2(stream, input, client, listener, signal);
        return Box::pin(serving).await;
    }
    let wait = (deadline, timer.as_mut(), stopping.as_mut());
    serve_http1_connection(stream, client, input, listener, signal, wait).await;
}

/// Serves one client connection of a TLS listener: the handshake (within the header
/// read timeout; a failure counted by reason), then HTTP/2 when ALPN chose it, else
/// HTTP/1.1 as on a cleartext listener. `admitted` and `_open` are held until the
/// connection closes.
pub(crate) async fn serve_tls(
    stream: TcpStream,
    admitted: Admitted,
    shutdown: Shutdown,
    open: mpsc::Sender<()>,
) {
    // Shared with the tunnels its upgrades open, which may outlive this task.
    let admitted = Arc::new(admitted);
    let listener = admitted.listener();
    let (Some(terminator), Ok(peer)) = (&listener.tls, stream.peer_addr()) else {
        return;
    };
    let config = Arc::clone(&terminator.serving().config);
    let handshake = tokio_rustls::TlsAcceptor::from(config).accept(stream);
    let stream = match tokio::time::timeout(listener.limits.header_read_timeout, handshake).await {
        Ok(Ok(stream)) => stream,
        failed => {
            let failure = match failed {
                Ok(Err(e)) => HandshakeFailure::of(&e),
                _ => HandshakeFailure::Timeout,
            };
            terminator.count(failure);
            return;
        }
    };
    let (_, session) = stream.get_ref();
    let http2 = session.alpn_protocol() == Some(b"h2");
    let identity = match terminator.client_certificate(session) {
        Ok(certificate) => certificate.and_then(ClientIdentity::of).map(Arc::new),
        Err(failure) => return terminator.count(failure),
    };
    let client = Client {
        fields: ClientFields::new(peer, true),
        identity,
        tunnels: Tunnels {
            stopping: shutdown.signal.clone(),
            open,
            admitted: Arc::clone(&admitted) as _,
        },
    };
    let signal = &shutdown.signal;
    if http2 {
        let serving = serve_http2(stream, BytesMut::new(), client, listener, signal);
        return Box::pin(serving).await;
    }
    let stopping = shutdown.waiting.notified();
    tokio::pin!(stopping);
    if *signal.borrow() {
        return Box::pin(close(stream)).await;
    }
    // The first request must begin within the header read timeout.
    let deadline = Instant::now() + listener.limits.header_read_timeout;
    let timer = tokio::time::sleep_until(deadline);
    tokio::pin!(timer);
    let wait = (deadline, timer.as_mut(), stopping.as_mut());
    serve_http1_connection(stream, client, BytesMut::new(), listener, signal, wait).await;
}

/// How long a connection may wait for its client's next bytes: until the deadline (on
/// the connection's one timer), or until the proxy stops.
type Wait<'a, F> = (Instant, Pin<&'a mut Sleep>, Pin<&'a mut F>);

/// Serves a client's HTTP/1.1 requests, `input` (read already) first, until the
/// connection closes: each burst of requests on the fast path when it can take them,
/// else with hyper; between bursts only the connection and this task remain, waiting
/// for the next request (the idle timeout after the first) with no buffer.
async fn serve_http1_connection<S: ClientStream>(
    mut stream: S,
    client: Client,
    mut input: BytesMut,
    listener: &Arc<Listener>,
    signal: &watch::Receiver<bool>,
    (mut deadline, mut timer, mut stopping): Wait<'_, impl Future>,
) {
    let idle = listener.limits.idle_timeout;
    loop {
        if input.is_empty() {
            let wait = (deadline, timer.as_mut(), stopping.as_mut());
            if !next_bytes(&mut stream, &mut input, wait).await {
                buffers::give_input(input);
                return Box::pin(close(stream)).await;
            }
        }
        // The fast path speaks cleartext HTTP/1.1 upstream (it hands over a request
        // routed elsewhere), and leaves joining a client's own X-Forwarded-Client-Cert
        // with its verified identity to the general path.
        let fast = listener.has_fast_targets()
            && (client.identity.is_none()
                || listener.forward_client_cert == ForwardClientCert::SanitizeSet);
        let ended = if fast {
            // Written into its allocation: a request's future is large, and built on
            // the stack it would be copied there.
            let serving = h1::serve(
                &mut stream,
                &client.fields,
                client.identity.as_deref(),
                listener,
                input,
                signal,
                timer.as_mut(),
            );
            Box::into_pin(Box::write(Box::new_uninit(), serving)).await
        } else {
            Ended::Handoff(input)
        };
        input = match ended {
            Ended::Closed => return Box::pin(close(stream)).await,
            Ended::CutShort => return Box::pin(stream.cut_short()).await,
            Ended::Idle => {
                // Idle for a moment already.
                deadline = Instant::now() + idle - h1::HOT.min(idle);
                BytesMut::new()
            }
            Ended::Handoff(input) => {
                let serving = serve_http1(stream, input, client.clone(), listener, signal, true);
                let Some((parked, rest)) = Box::pin(serving).await else {
                    return;
                };
                stream = parked;
                deadline = Instant::now() + idle;
                rest
            }
        };
    }
}

/// Reads the client's next bytes into `input`, waiting for them without holding a
/// buffer: whether bytes came (`false`: the client closed, the read failed, or the
/// wait ended).
async fn next_bytes<S: ClientStream>(
    stream: &mut S,
    input: &mut BytesMut,
    (deadline, mut timer, mut stopping): Wait<'_, impl Future>,
) -> bool {
    loop {
        if let Some(read) = read_available(input, |buf| stream.try_read_buf(buf)) {
            return read;
        }
        let ready = std::future::poll_fn(|cx| {
            ready_to_read(
                cx,
                stream.socket(),
                deadline,
                timer.as_mut(),
                stopping.as_mut(),
            )
        });
        if !ready.await {
            return false;
        }
    }
}

/// Whether `stream` is readable (or closed): `false` when `deadline` passes (on
/// `timer`, set only when there is a wait) or `stopping` completes first. No waiter of
/// its own: the socket keeps the task's waker, so an idle connection's task holds only
/// the timer and the wait for shutdown.
fn ready_to_read(
    cx: &mut Context<'_>,
    stream: &TcpStream,
    deadline: Instant,
    mut timer: Pin<&mut Sleep>,
    stopping: Pin<&mut impl Future>,
) -> Poll<bool> {
    if let Poll::Ready(ready) = stream.poll_read_ready(cx) {
        return Poll::Ready(ready.is_ok());
    }
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    if stopping.poll(cx).is_ready() || timer.poll(cx).is_ready() {
        return Poll::Ready(false);
    }
    Poll::Pending
}

/// Reads what `read` has without waiting into `input` (a buffer from the worker's if
/// `input` has none): whether bytes came (`false`: the client closed, or the read
/// failed), `None` when there were none after all (`WouldBlock`; no buffer is kept).
fn read_available(
    input: &mut BytesMut,
    read: impl FnOnce(&mut BytesMut) -> std::io::Result<usize>,
) -> Option<bool> {
    if input.capacity() == 0 {
        *input = buffers::input();
    } else if input.len() == input.capacity() {
        input.reserve(READ_CHUNK);
    }
    match read(input) {
        Ok(n) => Some(n > 0),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            if input.is_empty() {
                buffers::give_input(std::mem::take(input));
            }
            None
        }
        Err(_) => Some(false),
    }
}

/// Serves HTTP/1.1 with hyper, `input` (read already) first, until the connection
/// closes (`None`) or parks (only with `parking`): then the socket comes back with the
/// bytes hyper had read and not used.
async fn serve_http1<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    input: BytesMut,
    client: Client,
    listener: &Arc<Listener>,
    signal: &watch::Receiver<bool>,
    parking: bool,
) -> Option<(S, BytesMut)> {
    let (activity, service, io) = for_hyper(stream, input, client, listener, parking);
    let limits = listener.limits;
    // Not `pipeline_flush`: with it, hyper holds responses back while it has read
    // ahead, and a connection could park with them unsent.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);
    let mut connection = builder.serve_connection(io, service).with_upgrades();
    let watchdog = activity.watchdog(limits.idle_timeout, listener.body_idle());
    let drained = until_drained(
        Pin::new(&mut connection),
        signal.clone(),
        watchdog,
        limits.idle_timeout,
        listener.drain,
        parking.then_some(&*activity),
    );
    if !drained.await {
        return None;
    }
    // None once upgraded: the tunnel has the connection.
    let parts = connection.into_parts()?;
    let rest = if parts.read_buf.is_empty() {
        BytesMut::new()
    } else {
        let mut rest = buffers::input();
        rest.extend_from_slice(&parts.read_buf);
        rest
    };
    Some((parts.io.into_inner().into_socket(), rest))
}

/// Serves HTTP/2 with hyper, `input` (the preface, read already) first, until the
/// connection closes.
async fn serve_http2<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    input: BytesMut,
    client: Client,
    listener: &Arc<Listener>,
    signal: &watch::Receiver<bool>,
) {
    let (activity, service, io) = for_hyper(stream, input, client, listener, false);
    let limits = listener.limits;
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .max_concurrent_streams(limits.h2_max_concurrent_streams);
    // Extended CONNECT (RFC 8441) is offered only where a WebSocket may be opened.
    if listener.upgrades.iter().any(|u| &**u == "websocket") {
        builder.enable_connect_protocol();
    }
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let idle = limits.idle_timeout;
    let watchdog = activity.watchdog(idle, listener.body_idle());
    until_drained(
        connection,
        signal.clone(),
        watchdog,
        idle,
        listener.drain,
        None,
    )
    .await;
}

/// What hyper serves a connection with: its activity (which may park it, when
/// `parking`), the forwarding service, and the socket with `input` to be read first.
fn for_hyper<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    input: BytesMut,
    client: Client,
    listener: &Arc<Listener>,
    parking: bool,
) -> (Arc<Activity>, Forwarding, TokioIo<ClientIo<S>>) {
    // A busy connection keeps hyper's state between its requests; one quiet for a
    // moment parks.
    let activity = Activity::parking_after(if parking { h1::HOT } else { Duration::ZERO });
    activity.allow_parking(parking);
    let service = Forwarding {
        listener: Arc::clone(listener),
        client,
        activity: Arc::clone(&activity),
        watch_bodies: parking,
    };
    let io = TokioIo::new(ClientIo::new(input, stream, Arc::clone(&activity)));
    (activity, service, io)
}

/// A client as the requests of its connection name it.
#[derive(Clone)]
struct Client {
    fields: ClientFields,
    /// Who its certificate says it is, when the listener verified one.
    identity: Option<Arc<ClientIdentity>>,
    /// What tunnels its upgrades open need: held as long as the connection.
    tunnels: Tunnels,
}

/// The service hyper calls for each request of a connection: forwards it, keeping it
/// in progress on the connection's [`Activity`] until its response body is done.
#[derive(Clone)]
struct Forwarding {
    listener: Arc<Listener>,
    client: Client,
    activity: Arc<Activity>,
    /// Whether bodies are watched to their end (for a connection that may park).
    watch_bodies: bool,
}

/// A request's forwarding, boxed: hyper keeps it for as long as the response head is
/// awaited.
type Forwarded =
    Pin<Box<dyn Future<Output = Result<Response<Tracked<ProxyBody>>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Forwarding {
    type Response = Response<Tracked<ProxyBody>>;
    type Error = Infallible;
    type Future = Forwarded;

    fn call(&self, mut request: Request<Incoming>) -> Forwarded {
        let mut in_progress = self.activity.begin();
        if self.watch_bodies && !http_body::Body::is_end_stream(request.body()) {
            request.extensions_mut().insert(self.activity.unread_body());
        }
        let listener = Arc::clone(&self.listener);
        let client = self.client.clone();
        // Allocated first and written into its slot: a request's future is large
        // (kilobytes), and built on the stack it would be copied into the heap (a
        // profile: memmove from here went from 1.9% to 0.8% of the worker's time).
        let future = Box::write(Box::new_uninit(), async move {
            let identity = client.identity.as_deref();
            let response = forward(
                &listener,
                request,
                &client.fields,
                identity,
                (&client.tunnels, &in_progress),
            )
            .await;
            in_progress.answered();
            Ok(response.map(|body| Tracked::new(body, in_progress)))
        });
        Box::into_pin(future)
    }
}

/// Runs a hyper connection until it ends, parks (whether it did; only with `parking`,
/// the connection's activity), or its `watchdog` expires it: stalled, it is dropped at
/// once; idle, it is closed politely (HTTP/2: GOAWAY), and dropped if it has not closed
/// within `grace` (a client that never acknowledges the GOAWAY's ping would keep it
/// open, and could go on opening streams). On shutdown (or its listener's removal),
/// lets it finish the requests it has and close, within `drain`.
async fn until_drained<C: Closing>(
    mut connection: Pin<&mut C>,
    mut signal: watch::Receiver<bool>,
    watchdog: Watchdog,
    grace: Duration,
    drain: Duration,
    parking: Option<&Activity>,
) -> bool {
    tokio::pin!(watchdog);
    while !*signal.borrow() {
        // Parking happens while the connection is polled: looked at right after it.
        let parked = std::future::poll_fn(|_| match parking {
            Some(activity) if activity.parked() => Poll::Ready(()),
            _ => Poll::Pending,
        });
        let expired = tokio::select! {
            // The watchdog after the connection: it sees what the connection just did.
            biased;
            _ = connection.as_mut() => return false,
            () = parked => return true,
            _ = signal.changed() => break,
            expired = watchdog.as_mut() => expired,
        };
        match expired {
            // Quiet long enough to park: polled again, it does.
            Expired::Quiet => continue,
            Expired::Stalled => return false,
            Expired::Idle => {
                stop_parking(parking);
                connection.as_mut().close();
                let _ = tokio::time::timeout(grace, connection).await;
                return false;
            }
        }
    }
    stop_parking(parking);
    connection.as_mut().close();
    // Bounded: a client that never lets go (a long upload, a GOAWAY never answered)
    // would keep a removed listener's connection, and all it holds, for good.
    let _ = tokio::time::timeout(drain, connection).await;
    false
}

/// A hyper connection, which can be asked to finish what it has and close.
trait Closing: Future {
    /// Starts closing it (HTTP/2: with GOAWAY); it is to be polled until it has.
    fn close(self: Pin<&mut Self>);
}

impl<I, S, B> Closing for http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: http_body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn close(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B, E> Closing for http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: http_body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn close(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// A connection closing stays with hyper to the end.
fn stop_parking(parking: Option<&Activity>) {
    if let Some(activity) = parking {
        activity.allow_parking(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// hyper serving `server` with a service that echoes request bodies (reading them
    /// whole unless `read_bodies` is false), until the connection ends (`None`) or
    /// parks: then its socket and what hyper had read and not used.
    async fn echo(server: TcpStream, read_bodies: bool) -> Option<(TcpStream, Bytes)> {
        let activity = Activity::new();
        activity.allow_parking(true);
        let watched = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let unread = watched.unread_body();
            let mut in_progress = watched.begin();
            async move {
                let body = if read_bodies {
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    unread.read();
                    body
                } else {
                    Bytes::from_static(b"not read")
                };
                in_progress.answered();
                let body = Tracked::new(Full::new(body), in_progress);
                Ok::<_, Infallible>(Response::new(body))
            }
        });
        let io = TokioIo::new(ClientIo::new(
            BytesMut::new(),
            server,
            Arc::clone(&activity),
        ));
        let connection = http1::Builder::new().serve_connection(io, service);
        let mut connection = connection.with_upgrades();
        let (_shutdown, signal) = watch::channel(false);
        let minute = Duration::from_secs(60);
        let drained = until_drained(
            Pin::new(&mut connection),
            signal,
            activity.watchdog(minute, minute),
            minute,
            minute,
            Some(&activity),
        );
        let parked = tokio::time::timeout(Duration::from_secs(5), drained)
            .await
            .expect("the connection parks or ends in time");
        parked.then(|| {
            let parts = connection.into_parts().expect("not upgraded");
            (parts.io.into_inner().into_socket(), parts.read_buf)
        })
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        (client, listener.accept().await.unwrap().0)
    }

    /// Reads from `stream` until `end` has come; what came.
    async fn read_until(stream: &mut TcpStream, end: &str) -> String {
        let mut seen = Vec::new();
        let reading = async {
            while !String::from_utf8_lossy(&seen).contains(end) {
                let mut chunk = [0u8; 1024];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&seen));
                seen.extend_from_slice(&chunk[..n]);
            }
        };
        tokio::time::timeout(Duration::from_secs(5), reading)
            .await
            .expect("in time");
        String::from_utf8_lossy(&seen).into_owned()
    }

    #[tokio::test]
    async fn an_http1_connection_parks_once_its_exchange_is_done_and_gives_the_socket_back() {
        let (mut client, server) = pair().await;
        // A chunked upload, and the start of the next request in the same write.
        client
            .write_all(
                b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHo",
            )
            .await
            .unwrap();
        let (mut socket, read) = echo(server, true).await.expect("parked");
        let answer = read_until(&mut client, "hello").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        // What hyper had read of the next request comes back with the socket, and the
        // rest of it arrives on the socket.
        assert_eq!(&read[..], b"GET /next HTTP/1.1\r\nHo");
        client.write_all(b"st: t\r\n\r\n").await.unwrap();
        assert_eq!(read_until(&mut socket, "\r\n\r\n").await, "st: t\r\n\r\n");
    }

    #[tokio::test]
    async fn a_connection_that_is_to_close_closes_rather_than_parks() {
        for request in [
            &b"POST /up HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"
                [..],
            b"POST /up HTTP/1.0\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        ] {
            let (mut client, server) = pair().await;
            client.write_all(request).await.unwrap();
            assert!(echo(server, true).await.is_none(), "{request:?}");
            let answer = read_until(&mut client, "hello").await;
            assert!(answer.starts_with("HTTP/1."), "{answer:?}");
            let mut rest = Vec::new();
            let closed =
                tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest));
            assert!(matches!(closed.await, Ok(Ok(_))), "closed after the answer");
        }
    }

    #[tokio::test]
    async fn a_connection_whose_body_was_not_read_whole_does_not_park() {
        let (mut client, server) = pair().await;
        client
            .write_all(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nhello")
            .await
            .unwrap();
        let answered = tokio::spawn(async move { read_until(&mut client, "not read").await });
        // hyper answers and closes: the rest of the body was never read.
        assert!(echo(server, false).await.is_none());
        assert!(answered.await.unwrap().starts_with("HTTP/1.1 200"));
    }
}
