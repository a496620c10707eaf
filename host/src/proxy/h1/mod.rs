//! The HTTP/1.1 fast path: one task per client connection parses each request head in
//! place, asks the policy, rewrites the head into one buffer and sends it with the
//! body on a pooled upstream socket, then relays the response byte for byte (its
//! framing tracked, never re-encoded). No per-request task, channel or header map.
//! Clients come in cleartext or over TLS (a verified client certificate's identity
//! written as `X-Forwarded-Client-Cert`, unless the client's own is to be kept too:
//! that joining is the general path's); endpoints in cleartext.
//!
//! It takes requests whose whole body arrived with the head (up to
//! [`MAX_BUFFERED_BODY`](head::MAX_BUFFERED_BODY) by `Content-Length`, most API calls;
//! the header read timeout covers that body too, and a client that stalls in it gets
//! 408). It serves while requests keep coming, and hands the connection back, with its
//! buffers returned to the worker, once none has begun for a moment ([`HOT`]): waiting
//! longer for the next request is the caller's, and costs no buffer. HTTP/1.0,
//! upgrades, `Expect`, chunked or larger uploads and absolute-form targets are handed,
//! with the rest of their connection, to the general (hyper) path.

mod client;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod head;

pub(crate) use client::{ExchangeError, Home, SocketBody, exchange};

use crate::net::http1::{Framing, Parsed, READ_CHUNK, ResponseHead, header_slots, parse_response};
use crate::proxy::access::{Access, Picked};
use crate::proxy::buffers::{self, Scratch};
use crate::proxy::client_stream::ClientStream;
use crate::proxy::connection_limit::Socket;
use crate::proxy::headers::{ClientFields, Kept};
use crate::proxy::listener::{ClientFault, Listener, Routes};
use crate::proxy::pool::{self, ConnectError};
use crate::proxy::retry::{ATTEMPTS_HEADER, idempotent_method};
use crate::proxy::route::{Action, NO_ROUTE, Respond};
use crate::proxy::upstream::Upstream;
use crate::tls::ClientIdentity;
use arc_swap::{ArcSwap, Cache};
use bytes::{Buf, BytesMut};
use head::{Destination, RequestHead, write_response, write_text};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_policy::RequestView;
use switchyard_policy::cluster::{InFlight, Member, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Sleep;

/// How long a connection keeps its buffers after a response, waiting for the next
/// request: a busy connection (one more than a few requests a second) never lets them
/// go, an idle one holds none after this.
pub(crate) const HOT: std::time::Duration = std::time::Duration::from_millis(250);

/// How a fast-path connection ended.
pub(crate) enum Ended {
    /// It is over; close it.
    Closed,
    /// A response the endpoint broke off was relayed in part: close it so that the
    /// client can tell the response is not whole.
    CutShort,
    /// Its requests so far are answered, and no other began within [`HOT`]: wait for
    /// the next one.
    Idle,
    /// These bytes start with a request for the general path, which serves the rest
    /// of the connection.
    Handoff(BytesMut),
}

/// Serves the HTTP/1.1 requests in `input` (bytes already read from `stream`, a
/// request begun) and those that follow them without a pause, from `client` (whose
/// verified `identity`, if any, replaces any `X-Forwarded-Client-Cert` it sends);
/// `timer` (the connection's one timer) is reset for each deadline.
pub(crate) async fn serve<S: ClientStream>(
    stream: &mut S,
    client: &ClientFields,
    identity: Option<&ClientIdentity>,
    listener: &Listener,
    input: BytesMut,
    signal: &watch::Receiver<bool>,
    mut timer: Pin<&mut Sleep>,
) -> Ended {
    let Scratch {
        out,
        head,
        upstream_input,
    } = Scratch::take();
    let mut conn = Conn {
        stream,
        client,
        identity: identity.and_then(|i| i.element().to_str().ok()),
        listener,
        current: Cache::new(&*listener.routes),
        body_idle: listener.body_idle(),
        input,
        out,
        head,
        upstream_input,
        cut_short: false,
    };
    // The listener's routes now, looked at again before each request: a reload swaps
    // them, and the requests after it take the new ones.
    let mut routes = Arc::clone(conn.current.load());
    // Made once for the whole burst of requests.
    let mut watcher = signal.clone();
    let shutdown = watcher.wait_for(|&down| down);
    tokio::pin!(shutdown);
    loop {
        let next = loop {
            match conn.next_request(&routes, timer.as_mut()).await {
                // Routes reloaded since the last request: take it with the new ones.
                Some(Parsed::Ready(Taken::Stale)) => routes = Arc::clone(conn.current.load()),
                next => break next,
            }
        };
        let taken = match next {
            Some(Parsed::Ready(taken)) => taken,
            None | Some(Parsed::Partial) => return Ended::Closed,
            Some(Parsed::Handoff) => return Ended::Handoff(std::mem::take(&mut conn.input)),
            Some(Parsed::Refuse(status)) => {
                let why = match status {
                    408 => "request not received in time",
                    413 => "request body too large",
                    431 => "request head too large",
                    _ => "malformed request",
                };
                listener.stats.count(ClientFault::of_status(status));
                conn.reply(status, why, true, timer.as_mut()).await;
                return Ended::Closed;
            }
        };
        let kept_open = match taken {
            Taken::Forward(request) => {
                let closing = request.close || *signal.borrow();
                conn.forward(request, closing, timer.as_mut()).await
            }
            Taken::Direct(direct) => {
                let closing = direct.close || *signal.borrow();
                conn.answer(direct, closing, timer.as_mut()).await
            }
            Taken::Stale => unreachable!("taken again with the new routes"),
        };
        if !kept_open {
            return if conn.cut_short {
                Ended::CutShort
            } else {
                Ended::Closed
            };
        }
        conn.trim();
        if conn.input.is_empty() {
            match conn.next_soon(shutdown.as_mut(), timer.as_mut()).await {
                Some(true) => {}
                Some(false) => return Ended::Idle,
                None => return Ended::Closed,
            }
        }
    }
}

/// What the fast path took from the client's input.
enum Taken<'a> {
    /// A request to forward.
    Forward(Request<'a>),
    /// A request the proxy answers itself.
    Direct(Direct<'a>),
    /// A request to take again: the listener's routes were reloaded.
    Stale,
}

/// A request answered by the proxy: by its route's direct answer, or 404 when no route
/// matched.
struct Direct<'a> {
    /// Bytes of its head and body.
    len: usize,
    /// A HEAD request (the answer has no body).
    head: bool,
    /// The client asked to close afterwards.
    close: bool,
    /// The answer; `None`: no route matched.
    respond: Option<&'a Respond>,
    /// The route's name, `-` for none.
    route: &'a str,
    /// As [`Request::logged`].
    logged: Option<(String, String, Instant)>,
}

/// A request taken by the fast path: its head rewritten for upstream in `Conn::out`.
struct Request<'a> {
    /// The cluster its route chose.
    upstream: &'a Upstream,
    /// Its route's name.
    route: &'a str,
    /// Bytes of its head in the input.
    head_len: usize,
    /// Bytes of its head and body.
    len: usize,
    /// A HEAD request (its response has no body).
    head: bool,
    /// Safe to send again (RFC 9110 §9.2.2).
    idempotent: bool,
    /// The client asked to close afterwards.
    close: bool,
    /// The policy's choice.
    pick: switchyard_policy::Pick,
    /// The version that made it, during a rollout.
    picked: Option<Picked>,
    /// Method, path and when it was taken, kept for the access log when it is on.
    logged: Option<(String, String, Instant)>,
}

/// Why an exchange gave no response to relay.
#[derive(Debug)]
enum Failure {
    /// No socket to any chosen endpoint.
    Connect(ConnectError),
    /// The endpoint closed the connection before a byte of response (on a pooled
    /// connection: it had just closed it as idle).
    Closed,
    /// No response head within the request timeout.
    Timeout,
    /// A malformed or cut-off response head.
    Malformed(String),
    /// The client went away.
    ClientGone,
}

/// What one attempt got.
enum Attempt {
    /// A response head (its client form in `Conn::out`).
    Answered(Answer),
    /// No response: why, the request's accounting, and how long it took.
    Failed(Failure, InFlight, std::time::Duration),
}

/// A response head from an endpoint, not relayed yet.
struct Answer {
    head: ResponseHead,
    socket: Socket,
    in_flight: InFlight,
    latency: std::time::Duration,
}

/// Counts `request` for the version that picked (during a rollout), and writes its
/// access-log line when the access log is on.
fn log_access(request: &Request<'_>, status: u16, endpoint: Option<&Member>, attempts: u32) {
    if let Some(picked) = &request.picked {
        picked.count(status, attempts);
    }
    if let Some((method, path, started)) = &request.logged {
        Access {
            route: request.route,
            method,
            path,
            status,
            endpoint: endpoint.map(|m| m.address.as_str()),
            attempts,
            started: *started,
            version: request.picked.as_ref().map(Picked::version),
        }
        .log(Some(request.upstream));
    }
}

/// Adds `x-switchyard-attempts` to the head at the start of `out`.
fn add_attempts(out: &mut Vec<u8>, attempts: u32) {
    if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
        let field = format!("{ATTEMPTS_HEADER}: {attempts}\r\n");
        out.splice(end + 2..end + 2, field.into_bytes());
    }
}

/// How a relayed response body ended.
enum Relayed {
    Complete,
    /// The upstream broke it off: the endpoint's failure; the client's connection
    /// closes so it sees the response is cut short.
    Broken,
    /// The client went away.
    Abandoned,
}

struct Conn<'a, S> {
    stream: &'a mut S,
    client: &'a ClientFields,
    /// The client's verified identity, as its `X-Forwarded-Client-Cert` element.
    identity: Option<&'a str>,
    listener: &'a Listener,
    /// The listener's routes as last seen: telling whether a reload swapped them costs
    /// one pointer comparison per request.
    current: Cache<&'a ArcSwap<Routes>, Arc<Routes>>,
    /// The longest `body_idle` of the listener's clusters: the bound on writing the
    /// proxy's own answers.
    body_idle: Duration,
    /// Bytes from the client not yet consumed.
    input: BytesMut,
    /// The head being sent (upstream or to the client), and body bytes with it.
    out: Vec<u8>,
    /// The request's rewritten head, kept while its attempts last.
    head: Vec<u8>,
    /// Bytes from the upstream not yet relayed.
    upstream_input: BytesMut,
    /// A response was broken off after its head went to the client.
    cut_short: bool,
}

impl<'a, S: ClientStream> Conn<'a, S> {
    /// Reads until a whole request is buffered (one has begun in the input), or what
    /// the fast path does not take; `None` when the client left, a refusal with 408
    /// when the request did not arrive within the header read timeout.
    async fn next_request<'r>(
        &mut self,
        routes: &'r Arc<Routes>,
        mut timer: Pin<&mut Sleep>,
    ) -> Option<Parsed<Taken<'r>>> {
        let mut waiting = false;
        loop {
            match self.take_request(routes) {
                Parsed::Partial => {}
                taken => return Some(taken),
            }
            // Most requests arrive whole and never get here: the timer is set for
            // those that do not.
            if !waiting {
                waiting = true;
                let deadline = Instant::now() + self.listener.limits.header_read_timeout;
                timer.as_mut().reset(deadline.into());
            }
            self.input.reserve(READ_CHUNK);
            tokio::select! {
                biased;
                read = self.stream.read_buf(&mut self.input) => {
                    if !matches!(read, Ok(n) if n > 0) {
                        return None;
                    }
                }
                () = timer.as_mut() => return Some(Parsed::Refuse(408)),
            }
        }
    }

    /// Waits, with the buffers at hand, for the next request to begin: whether it did
    /// within [`HOT`] (and the idle timeout); `None` when the client left or the proxy
    /// is shutting down.
    async fn next_soon(
        &mut self,
        mut shutdown: Pin<&mut impl Future>,
        mut timer: Pin<&mut Sleep>,
    ) -> Option<bool> {
        let wait = HOT.min(self.listener.limits.idle_timeout);
        timer.as_mut().reset((Instant::now() + wait).into());
        self.input.reserve(READ_CHUNK);
        tokio::select! {
            biased;
            read = self.stream.read_buf(&mut self.input) => {
                matches!(read, Ok(n) if n > 0).then_some(true)
            }
            () = timer.as_mut() => Some(false),
            _ = shutdown.as_mut() => None,
        }
    }

    /// Parses the buffered request and routes it: for a cluster on the fast path's
    /// reach, asks its policy and writes the upstream head; hands over one for another.
    fn take_request<'r>(&mut self, routes: &'r Arc<Routes>) -> Parsed<Taken<'r>> {
        let mut slots = header_slots();
        let listener = self.listener;
        let limits = &listener.limits;
        let max_body = limits.max_request_body_bytes.unwrap_or(u64::MAX);
        let head =
            match RequestHead::parse(&self.input, &mut slots, limits.max_header_bytes, max_body) {
                Parsed::Ready(head) => head,
                Parsed::Partial => return Parsed::Partial,
                Parsed::Handoff => return Parsed::Handoff,
                Parsed::Refuse(status) => return Parsed::Refuse(status),
            };
        // Looked at once the request is whole: one that arrives after a reload takes
        // the new routes.
        if !Arc::ptr_eq(self.current.load(), routes) {
            return Parsed::Ready(Taken::Stale);
        }
        let kept = Kept::new(listener.forward_client_cert, listener.forwarded_proto);
        let view = head.view(self.client, kept, self.identity);
        let method = head.method();
        let len = head.head_len + head.body_len;
        let (close, head_request) = (head.wants_close(), method == "HEAD");
        let logged = || {
            let access_log = listener.access_log;
            access_log.then(|| (method.to_string(), view.path().to_string(), Instant::now()))
        };
        let direct = |respond, route| {
            Parsed::Ready(Taken::Direct(Direct {
                len,
                head: head_request,
                close,
                respond,
                route,
                logged: logged(),
            }))
        };
        let routed = match routes.route(&view) {
            Ok(Some(routed)) => routed,
            Ok(None) => {
                listener.stats.unrouted();
                return direct(None, "-");
            }
            Err(_) => return Parsed::Refuse(400),
        };
        let forward = match &routed.rule.action {
            Action::Forward(forward) => forward,
            Action::Respond(respond) => {
                routed.rule.count();
                return direct(Some(respond), &routed.rule.name);
            }
        };
        // A split the fast path cannot take whole is the general path's, which
        // chooses the side itself (choosing here and handing over would choose twice).
        if !forward
            .split
            .targets()
            .all(|(upstream, _)| upstream.fast_path())
        {
            return Parsed::Handoff;
        }
        let upstream: &'r Upstream = forward.split.choose(&view);
        routed.rule.count();
        let to = Destination {
            target: &routed.target,
            host: forward.host.as_deref(),
        };
        let mut pick = upstream.pick(&view.routed(to));
        let picked = Picked::take(&mut pick);
        let idempotent_header = upstream.retry().idempotent_header.as_deref();
        self.out.clear();
        head.write_upstream(&mut self.out, self.client, kept, self.identity, to);
        Parsed::Ready(Taken::Forward(Request {
            upstream,
            route: &routed.rule.name,
            head_len: head.head_len,
            len,
            head: head_request,
            idempotent: idempotent_method(method)
                || idempotent_header.is_some_and(|name| view.header(name).is_some()),
            close,
            logged: logged(),
            pick,
            picked,
        }))
    }

    /// Answers a request the proxy answers itself. Whether the connection stays open.
    async fn answer(&mut self, answer: Direct<'_>, close: bool, timer: Pin<&mut Sleep>) -> bool {
        self.input.advance(answer.len);
        self.out.clear();
        let status = match answer.respond {
            Some(respond) => {
                let headers = respond
                    .headers
                    .iter()
                    .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()));
                let body = (!answer.head).then_some(&respond.body[..]);
                write_response(
                    &mut self.out,
                    respond.status,
                    headers,
                    body,
                    respond.body.len(),
                    close,
                );
                respond.status.as_u16()
            }
            None => {
                let (status, text) = (http::StatusCode::NOT_FOUND, format!("{NO_ROUTE}\n"));
                let body = (!answer.head).then_some(text.as_bytes());
                let headers = [(&b"content-type"[..], &b"text/plain; charset=utf-8"[..])];
                write_response(
                    &mut self.out,
                    status,
                    headers.into_iter(),
                    body,
                    text.len(),
                    close,
                );
                404
            }
        };
        if let Some((method, path, started)) = &answer.logged {
            let access = Access {
                route: answer.route,
                method,
                path,
                status,
                endpoint: None,
                attempts: 0,
                started: *started,
                version: None,
            };
            access.log(None);
        }
        self.stream
            .write_within(&self.out, self.body_idle, timer)
            .await
            && !close
    }

    /// Forwards a request along its pick and relays the response. A failed attempt of
    /// an idempotent request moves to the next endpoint of the pick, after a jittered
    /// backoff, while the cluster's retries, the retry budget and the request timeout
    /// allow. Whether the client connection stays open.
    async fn forward(
        &mut self,
        request: Request<'_>,
        close: bool,
        mut timer: Pin<&mut Sleep>,
    ) -> bool {
        let upstream = request.upstream;
        // Held until the response head, as on the general path: a client reading a
        // long body slowly does not keep the cluster's slot.
        let Some(admitted) = upstream.admit() else {
            self.input.advance(request.len);
            log_access(&request, 503, None, 0);
            let message = format!("cluster {}: too many requests in flight", upstream.name());
            return self.reply(503, &message, close, timer).await;
        };
        let settings = *upstream.settings();
        let retry = upstream.retry();
        let retrying = retry.enabled()
            && request.idempotent
            && request.len - request.head_len <= retry.buffer_bytes;
        if retry.enabled() {
            upstream.budget().request();
        }
        let deadline = Instant::now() + settings.request_timeout;
        // The rewritten head without its terminator, kept for every attempt.
        std::mem::swap(&mut self.out, &mut self.head);
        let mut next = 0;
        let mut attempts = 0;
        let mut last = None;
        let mut tried = None;
        let kept_open = loop {
            let dial = upstream.dial();
            let open = |member: &Member| pool::checkout_socket(member.socket, dial);
            let Some((member, (socket, reused))) = upstream
                .reach(&request.pick, &mut next, &mut last, open)
                .await
            else {
                break None;
            };
            attempts += 1;
            tried = Some(member);
            self.write_request(&request);
            let per_try = (Instant::now() + settings.per_try_timeout).min(deadline);
            timer.as_mut().reset(per_try.into());
            let may_retry =
                retrying && attempts < retry.attempts && next < request.pick.endpoints.len();
            match self
                .attempt(member, socket, reused, &request, close, timer.as_mut())
                .await
            {
                Attempt::Answered(answer) => {
                    let status = answer.head.status;
                    if let Some(collector) = upstream.load_reports() {
                        // `out` holds the response head: reports in it are read here,
                        // whether this answer is relayed or retried.
                        collector.record_head(&self.out, &member.load);
                    }
                    if may_retry
                        && retry.retries_status(status)
                        && upstream.back_off(attempts, deadline).await
                    {
                        answer
                            .in_flight
                            .finish(answer.latency, Outcome::Status(status));
                        last = Some((status, format!("{} answered {status}", member.address)));
                        continue;
                    }
                    log_access(&request, status, Some(member), attempts);
                    drop(admitted);
                    let delivered =
                        self.deliver(upstream, member, answer, attempts, timer.as_mut());
                    break Some(delivered.await);
                }
                Attempt::Failed(failure, in_flight, elapsed) => {
                    let Some((status, message)) = failure.answer(member, settings.per_try_timeout)
                    else {
                        // The client left; dropping `in_flight` blames no endpoint.
                        return false;
                    };
                    let outcome = if status == 504 {
                        Outcome::TimedOut
                    } else {
                        Outcome::Failed
                    };
                    in_flight.finish(elapsed, outcome);
                    last = Some((status, message));
                    if may_retry && upstream.back_off(attempts, deadline).await {
                        continue;
                    }
                    break None;
                }
            }
        };
        self.input.advance(request.len);
        std::mem::swap(&mut self.out, &mut self.head);
        if let Some(kept_open) = kept_open {
            return kept_open;
        }
        let (status, message) =
            last.unwrap_or_else(|| (503, format!("no endpoint in cluster {}", upstream.name())));
        log_access(&request, status, tried, attempts);
        self.out.clear();
        write_text(&mut self.out, status, &message, close);
        if attempts > 1 {
            add_attempts(&mut self.out, attempts);
        }
        let idle = upstream.settings().body_idle;
        self.stream.write_within(&self.out, idle, timer).await && !close
    }

    /// Puts the request in `out`: the kept head and the body.
    fn write_request(&mut self, request: &Request) {
        self.out.clear();
        self.out.extend_from_slice(&self.head);
        self.out.extend_from_slice(b"\r\n");
        self.out
            .extend_from_slice(&self.input[request.head_len..request.len]);
    }

    /// Sends the request in `out` to `member` and reads the response head; the
    /// request is charged to the endpoint from here on.
    async fn attempt(
        &mut self,
        member: &Member,
        mut socket: Socket,
        reused: bool,
        request: &Request<'_>,
        close: bool,
        mut timer: Pin<&mut Sleep>,
    ) -> Attempt {
        let in_flight = member.load.start();
        let started = Instant::now();
        let mut result = self
            .send(&mut socket, request.head, close, timer.as_mut())
            .await;
        if matches!(result, Err(Failure::Closed)) && reused && request.idempotent {
            // The endpoint closed the idle connection as the request went out, so it
            // never saw it: send it once more on a new connection.
            self.write_request(request);
            result = match pool::connect(member.socket, request.upstream.dial()).await {
                Ok(fresh) => {
                    socket = fresh;
                    self.send(&mut socket, request.head, close, timer).await
                }
                Err(e) => Err(Failure::Connect(e)),
            };
        }
        match result {
            Ok(head) => Attempt::Answered(Answer {
                head,
                socket,
                in_flight,
                latency: started.elapsed(),
            }),
            Err(failure) => {
                tracing::debug!(cluster = request.upstream.name(), endpoint = %member.address, ?failure);
                Attempt::Failed(failure, in_flight, started.elapsed())
            }
        }
    }

    /// Relays an answer to the client, accounting the request to the endpoint until
    /// the response body has ended. Whether the client connection stays open.
    async fn deliver(
        &mut self,
        upstream: &Upstream,
        member: &Member,
        answer: Answer,
        attempts: u32,
        timer: Pin<&mut Sleep>,
    ) -> bool {
        let Answer {
            head,
            mut socket,
            in_flight,
            latency,
        } = answer;
        if attempts > 1 {
            add_attempts(&mut self.out, attempts);
        }
        let idle = upstream.settings().body_idle;
        match self.relay(&mut socket, &head, idle, timer).await {
            Relayed::Complete => {
                if head.reusable && self.upstream_input.is_empty() {
                    let max_idle = upstream.settings().max_idle;
                    pool::checkin_socket(member.socket, socket, max_idle);
                }
                in_flight.finish(latency, Outcome::Status(head.status));
                !head.close
            }
            Relayed::Broken => {
                self.cut_short = true;
                in_flight.finish(latency, Outcome::Broken(head.status));
                false
            }
            Relayed::Abandoned => {
                in_flight.finish(latency, Outcome::Status(head.status));
                false
            }
        }
    }

    /// Writes `out` to the upstream and reads the final response head, relaying
    /// interim (1xx) responses; the client's head is then in `out`.
    async fn send(
        &mut self,
        socket: &mut TcpStream,
        head_request: bool,
        close: bool,
        mut timer: Pin<&mut Sleep>,
    ) -> Result<ResponseHead, Failure> {
        self.upstream_input.clear();
        let mut received = false;
        tokio::select! {
            biased;
            written = socket.write_all(&self.out) => written.map_err(|_| Failure::Closed)?,
            () = timer.as_mut() => return Err(Failure::Timeout),
        }
        loop {
            if !self.upstream_input.is_empty() {
                self.out.clear();
                match parse_response(&self.upstream_input, head_request, close, &mut self.out) {
                    Parsed::Ready(head) if head.interim() => {
                        self.upstream_input.advance(head.head_len);
                        // Its own bound: the timer is the request's.
                        let idle = self.body_idle;
                        // Boxed: rare, and its timer would make every request's
                        // future larger.
                        let written = Box::pin(async {
                            let timer = std::pin::pin!(tokio::time::sleep(idle));
                            self.stream.write_within(&self.out, idle, timer).await
                        });
                        if !written.await {
                            return Err(Failure::ClientGone);
                        }
                        continue;
                    }
                    Parsed::Ready(head) => {
                        self.upstream_input.advance(head.head_len);
                        return Ok(head);
                    }
                    Parsed::Partial => {}
                    Parsed::Handoff | Parsed::Refuse(_) => {
                        return Err(Failure::Malformed("malformed response head".into()));
                    }
                }
            }
            self.upstream_input.reserve(READ_CHUNK);
            let read = tokio::select! {
                biased;
                read = socket.read_buf(&mut self.upstream_input) => read,
                () = timer.as_mut() => return Err(Failure::Timeout),
            };
            match read {
                Ok(n) if n > 0 => received = true,
                _ if !received => return Err(Failure::Closed),
                Ok(_) => return Err(Failure::Malformed("response head cut short".into())),
                Err(e) => return Err(Failure::Malformed(e.to_string())),
            }
        }
    }

    /// Writes the client's head (in `out`) and the body, as its framing delimits it.
    /// Each read from the endpoint and each write to the client must move within the
    /// cluster's `body_idle`: a stalled endpoint breaks the response, a client that
    /// stops reading abandons it.
    async fn relay(
        &mut self,
        socket: &mut TcpStream,
        head: &ResponseHead,
        idle: Duration,
        mut timer: Pin<&mut Sleep>,
    ) -> Relayed {
        let mut framing = head.framing;
        let Ok((used, mut done)) = framing.advance(&self.upstream_input) else {
            return Relayed::Broken;
        };
        self.out.extend_from_slice(&self.upstream_input[..used]);
        self.upstream_input.advance(used);
        if !self
            .stream
            .write_within(&self.out, idle, timer.as_mut())
            .await
        {
            return Relayed::Abandoned;
        }
        while !done {
            self.upstream_input.reserve(READ_CHUNK);
            match read_within(socket, &mut self.upstream_input, idle, timer.as_mut()).await {
                Some(0) if framing == Framing::UntilClose => break,
                Some(0) | None => return Relayed::Broken,
                Some(_) => {}
            }
            let Ok((used, end)) = framing.advance(&self.upstream_input) else {
                return Relayed::Broken;
            };
            let bytes = &self.upstream_input[..used];
            if !self.stream.write_within(bytes, idle, timer.as_mut()).await {
                return Relayed::Abandoned;
            }
            self.upstream_input.advance(used);
            done = end;
        }
        Relayed::Complete
    }

    /// Lets go of buffer space a large exchange left, so that a busy connection stays
    /// small too. The head and `out` are used by then; the inputs keep what they hold.
    fn trim(&mut self) {
        buffers::fit(&mut self.out, buffers::OUT_CAPACITY);
        buffers::fit(&mut self.head, buffers::HEAD_CAPACITY);
        buffers::fit_bytes(&mut self.input);
        buffers::fit_bytes(&mut self.upstream_input);
    }

    /// Answers with a short text of the proxy's own, unless the client takes none of it
    /// for the cluster's `body_idle`. Whether the connection stays open.
    async fn reply(
        &mut self,
        status: u16,
        message: &str,
        close: bool,
        timer: Pin<&mut Sleep>,
    ) -> bool {
        self.out.clear();
        write_text(&mut self.out, status, message, close);
        self.stream
            .write_within(&self.out, self.body_idle, timer)
            .await
            && !close
    }
}

impl<S> Drop for Conn<'_, S> {
    /// Gives the buffers back to the worker.
    fn drop(&mut self) {
        buffers::give_input(std::mem::take(&mut self.input));
        Scratch {
            out: std::mem::take(&mut self.out),
            head: std::mem::take(&mut self.head),
            upstream_input: std::mem::take(&mut self.upstream_input),
        }
        .give();
    }
}

/// Reads into `buf` unless nothing comes for `idle`: how many bytes (0 at the end of
/// the stream), or `None` on an error or a stall.
async fn read_within(
    socket: &mut TcpStream,
    buf: &mut BytesMut,
    idle: std::time::Duration,
    mut timer: Pin<&mut Sleep>,
) -> Option<usize> {
    loop {
        match socket.try_read_buf(buf) {
            Ok(n) => return Some(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                timer.as_mut().reset((Instant::now() + idle).into());
                tokio::select! {
                    biased;
                    ready = socket.readable() => ready.ok()?,
                    () = timer.as_mut() => return None,
                }
            }
            Err(_) => return None,
        }
    }
}

impl Failure {
    /// Status and text to answer the client with; `None` when it has gone.
    fn answer(self, member: &Member, timeout: std::time::Duration) -> Option<(u16, String)> {
        Some(match self {
            Failure::Connect(e) => (e.status().as_u16(), e.to_string()),
            Failure::Timeout => (
                504,
                format!("{} did not answer within {timeout:?}", member.address),
            ),
            Failure::Closed => (
                502,
                format!("{} closed the connection without answering", member.address),
            ),
            Failure::Malformed(why) => (502, format!("{}: {why}", member.address)),
            Failure::ClientGone => return None,
        })
    }
}
