//! Forwarding one request on the general path (HTTP/2, gRPC, and the HTTP/1.1 the
//! fast path hands over): pick, connect (falling through the policy's preference list
//! when an endpoint cannot be reached), send, retry on the next endpoint when the
//! cluster's rules allow, stream the response back.

use crate::config::model::UpstreamProtocol;
use crate::proxy::access::{Access, Ended, Picked};
use crate::proxy::body::{Exchange, ProxyBody, Received, Reuse, UpstreamBody, direct, text};
use crate::proxy::client_body::{ClientBody, Upload};
use crate::proxy::connection::{InProgress, UnreadBody};
use crate::proxy::h1::{self, Home};
use crate::proxy::headers::{
    Authority, ClientFields, Kept, PolicyView, add_forwarded, authority, join_cookies,
    set_client_cert, set_destination, set_forwarded_proto, strip_hop_by_hop,
    strip_underscore_aliases, valid_authority,
};
use crate::proxy::listener::{ClientFault, ClientLimits, Listener};
use crate::proxy::pool::{self, Connection, Wanted};
use crate::proxy::replay::{Attempts, RequestBody};
use crate::proxy::retry::{ATTEMPTS_HEADER, RetrySettings, idempotent_method};
use crate::proxy::route::{Action, NO_ROUTE};
use crate::proxy::upgrade::{self, Tunnels, Upgrading};
use crate::proxy::upstream::Upstream;
use crate::tls::ClientIdentity;
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use http_body::Body as _;
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_policy::cluster::{InFlight, Member, Outcome};

/// Forwards `request` from `client` to an endpoint of the listener's cluster: picks, and
/// sends along the pick, retrying while the rules allow. Never fails: problems become
/// 502, 503 or 504 responses with a one-line body, the client's faults 400, 408 or 413.
// One function rather than admission around a separate retry loop: a future moves by
// being copied, and the loop's (kilobytes) was copied into this one's (merged, ~2% less
// CPU per h2c request in a side-by-side run).
pub(crate) async fn forward(
    listener: &Listener,
    request: Request<Incoming>,
    client: &ClientFields,
    identity: Option<&ClientIdentity>,
    (tunnels, in_progress): (&Tunnels, &InProgress),
) -> Response<ProxyBody> {
    let logged = listener.access_log.then(|| {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        (
            request.method().to_string(),
            path.to_string(),
            Instant::now(),
        )
    });
    let mut ended = Ended {
        logged,
        picked: None,
    };
    if let Some((fault, why)) = refusal(&request, &listener.limits) {
        listener.stats.count(fault);
        let response = text(fault.answer().0, why.into());
        return finish(None, "-", response, None, 0, ended);
    }
    let mut request = request;
    // Asked for before the hop-by-hop fields go; the client's side of a tunnel is
    // taken from the request before it moves.
    let upgrade = upgrade::wanted(&request, &listener.upgrades);
    // A CONNECT that opens no allowed tunnel asks the proxy to be what it is not.
    if upgrade.is_none() && request.method() == http::Method::CONNECT {
        let response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT is not served".into(),
        );
        return finish(None, "-", response, None, 0, ended);
    }
    let client_side = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut request));
    // An HTTP/2 WebSocket reaches the endpoint as a GET: routes and the policy see that
    // method, not the CONNECT that carried it.
    if upgrade == Some(upgrade::Upgrade::WebSocketOverHttp2) {
        *request.method_mut() = http::Method::GET;
    }
    join_cookies(request.headers_mut());
    // Before the route and the pick: what a route's conditions and a policy see of these
    // headers is only what the proxy vouches for.
    set_client_cert(
        request.headers_mut(),
        listener.forward_client_cert,
        identity,
    );
    let kept = Kept::new(listener.forward_client_cert, listener.forwarded_proto);
    set_forwarded_proto(request.headers_mut(), client, kept);
    let view = PolicyView {
        request: &request,
        client: client.addr,
    };
    let routes = listener.routes.load_full();
    let routed = match routes.route(&view) {
        Ok(Some(routed)) => routed,
        Ok(None) => {
            listener.stats.unrouted();
            let response = text(StatusCode::NOT_FOUND, NO_ROUTE.into());
            return finish(None, "-", response, None, 0, ended);
        }
        Err(_) => {
            listener.stats.count(ClientFault::Malformed);
            let response = text(StatusCode::BAD_REQUEST, "malformed request target".into());
            return finish(None, "-", response, None, 0, ended);
        }
    };
    let rule = routed.rule;
    rule.count();
    let route = &*rule.name;
    let forward = match &rule.action {
        Action::Forward(forward) => forward,
        Action::Respond(respond) => {
            return finish(None, route, direct(respond), None, 0, ended);
        }
    };
    let upstream: &Upstream = forward.split.choose(&view);
    // The client's host, for `Forwarded`; the endpoint gets the route's, when it has one.
    let original_host = authority(&request).map(str::to_owned);
    let target = match routed.target {
        Cow::Owned(target) => Some(target),
        Cow::Borrowed(_) => None,
    };
    set_destination(&mut request, target, forward.host.as_deref());
    // Held until the response head: a streaming body no longer counts.
    let Some(admitted) = upstream.admit() else {
        let message = format!("cluster {}: too many requests in flight", upstream.name());
        let response = text(StatusCode::SERVICE_UNAVAILABLE, message);
        return finish(Some(upstream), route, response, None, 0, ended);
    };
    let mut pick = upstream.pick(&PolicyView {
        request: &request,
        client: client.addr,
    });
    ended.picked = Picked::take(&mut pick);
    let downstream = request.version();
    let settings = upstream.settings();
    let http2 = match settings.protocol {
        // A gRPC client speaks HTTP/2: an HTTP/1.1 request's content type does not
        // choose the protocol (the fast path, which takes HTTP/1.1, never would).
        UpstreamProtocol::Auto => downstream == Version::HTTP_2 && speaks_grpc(&request),
        UpstreamProtocol::Http1 => false,
        UpstreamProtocol::Http2 => true,
    };
    // What `set_destination` put in the request: no second copy of it.
    let host = forward.host.as_deref().or(original_host.as_deref());
    strip_hop_by_hop(request.headers_mut());
    strip_underscore_aliases(request.headers_mut());
    // Checked with the request (`refusal`): checked again for the type's sake.
    let checked = original_host.as_deref().map(str::as_bytes);
    add_forwarded(
        request.headers_mut(),
        client,
        checked.and_then(Authority::checked),
    );

    if let (Some(upgrade), Some(client)) = (upgrade, client_side) {
        let upgrading = Upgrading {
            upgrade,
            head: request.into_parts().0,
            client,
            listener,
            upstream,
            pick: &pick,
            host,
            tunnels,
            busy: in_progress.another(),
        };
        // Boxed: its state would otherwise grow every request's future.
        let upgraded = Box::pin(upgrade::forward(upgrading)).await;
        drop(admitted);
        let mut response = upgraded.response;
        *response.version_mut() = downstream;
        let (endpoint, attempts) = (upgraded.endpoint, upgraded.attempts);
        return finish(Some(upstream), route, response, endpoint, attempts, ended);
    }
    let retry = upstream.retry();
    let grpc = is_grpc(&request);
    let bodiless = request.body().is_end_stream();
    // A request without a body to an HTTP/1.1 endpoint (most HTTP/2 clients' calls)
    // goes out on a plain pooled socket; the rest through hyper's clients. Over TLS,
    // `auto` lets the endpoint choose by ALPN unless the call needs HTTP/2.
    let tls = upstream.tls();
    let wanted = match settings.protocol {
        _ if http2 => Wanted::Http2,
        UpstreamProtocol::Auto if tls => Wanted::Either,
        _ if !tls && !grpc && bodiless => Wanted::Socket,
        _ => Wanted::Http1,
    };
    let idempotent = idempotent(&request, retry);
    // gRPC calls are retried on their configured codes, other requests when idempotent.
    let retriable = retry.enabled()
        && if grpc {
            !retry.on_grpc_status.is_empty()
        } else {
            idempotent
        };
    if retry.enabled() {
        upstream.budget().request();
    }
    let deadline = Instant::now() + settings.request_timeout;
    let (mut parts, body) = request.into_parts();
    let unread = parts.extensions.remove::<UnreadBody>();
    let (body, upload) = watched(body, bodiless, listener, unread);
    let mut requests = Attempts::new(parts, body, retriable.then_some(retry.buffer_bytes));
    let mut next = 0;
    let mut attempts = 0;
    let mut last = None;
    let mut tried = None;
    let dial = upstream.dial();
    while let Some((member, conn)) = upstream
        .reach(&pick, &mut next, &mut last, |member| {
            pool::checkout(member.socket, wanted, dial.to(member))
        })
        .await
    {
        let Some(mut request) = requests.next() else {
            break;
        };
        attempts += 1;
        tried = Some(member.socket);
        prepare(&mut request, conn.http2(), host, member);
        let per_try = settings
            .per_try_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let sent = send(
            conn, member, request, per_try, upstream, idempotent, &upload,
        )
        .await;
        let may_retry = retriable
            && attempts < retry.attempts
            && next < pick.endpoints.len()
            && requests.replayable()
            && sent.retried_by(retry, grpc);
        if may_retry && upstream.back_off(attempts, deadline).await {
            last = Some(sent.give_up(member));
            continue;
        }
        let mut response = sent.respond(upstream, member, upload);
        drop(admitted);
        *response.version_mut() = downstream;
        let endpoint = Some(member.socket);
        return finish(Some(upstream), route, response, endpoint, attempts, ended);
    }
    drop(admitted);
    let (status, message) =
        last.unwrap_or_else(|| (503, format!("no endpoint in cluster {}", upstream.name())));
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    finish(
        Some(upstream),
        route,
        text(status, message),
        tried,
        attempts,
        ended,
    )
}

/// Why the request is refused before any endpoint is asked: an HTTP/1.1 request must
/// name its `Host`, no request may name two (RFC 9112 §3.2), nor one other than its
/// target's authority (RFC 9113 §8.3.1); a declared body must fit the listener's
/// limit.
fn refusal(
    request: &Request<Incoming>,
    limits: &ClientLimits,
) -> Option<(ClientFault, &'static str)> {
    let hosts = request.headers().get_all(header::HOST).iter().count();
    if hosts > 1 || (hosts == 0 && request.version() == Version::HTTP_11) {
        return Some((
            ClientFault::Malformed,
            "a request needs exactly one Host header",
        ));
    }
    // An absolute-form target or `:authority` names the host too: the two must agree,
    // or the policy and the endpoint would see different hosts.
    if let (Some(target), Some(host)) = (
        request.uri().authority(),
        request.headers().get(header::HOST),
    ) && !host
        .as_bytes()
        .eq_ignore_ascii_case(target.as_str().as_bytes())
    {
        return Some((
            ClientFault::Malformed,
            "the Host header differs from the request target's host",
        ));
    }
    // The Host field's bytes too: one that is not text has no authority to check, and
    // would pass unread.
    let host_field = request.headers().get(header::HOST).map(|v| v.as_bytes());
    let target_host = request.uri().authority().map(|a| a.as_str().as_bytes());
    if [host_field, target_host]
        .into_iter()
        .flatten()
        .any(|a| !valid_authority(a))
    {
        return Some((
            ClientFault::Malformed,
            "the request's host is not a host[:port]",
        ));
    }
    let declared = request.body().size_hint().upper();
    if let (Some(limit), Some(size)) = (limits.max_request_body_bytes, declared)
        && size > limit
    {
        return Some((ClientFault::TooLarge, "request body too large"));
    }
    None
}

/// The request's body watched as the listener's limits say (unless it is `bodiless`),
/// and the upload's state for whoever reads the upstream's answer; its end is told to
/// `unread`.
fn watched(
    body: Incoming,
    bodiless: bool,
    listener: &Listener,
    unread: Option<UnreadBody>,
) -> (ClientBody, Option<Arc<Upload>>) {
    if bodiless {
        return (ClientBody::ended(body), None);
    }
    let upload = Upload::new(Arc::clone(&listener.stats), unread);
    let limits = &listener.limits;
    let body = ClientBody::new(
        body,
        Arc::clone(&upload),
        limits.max_request_body_bytes,
        limits.body_read_timeout,
    );
    (body, Some(upload))
}

/// Marks a response that took more than one attempt, counts it for the version that
/// picked (during a rollout), and writes the access log line when the listener keeps
/// one: for a request to `upstream` along `route`, or answered by the proxy itself (no
/// upstream).
fn finish(
    upstream: Option<&Upstream>,
    route: &str,
    mut response: Response<ProxyBody>,
    endpoint: Option<SocketAddr>,
    attempts: u32,
    ended: Ended,
) -> Response<ProxyBody> {
    let Ended { logged, picked } = ended;
    if let Some(picked) = &picked {
        picked.count(response.status().as_u16(), attempts);
    }
    if attempts > 1 {
        response
            .headers_mut()
            .insert(ATTEMPTS_HEADER, HeaderValue::from(attempts));
    }
    if let Some((method, path, started)) = &logged {
        let endpoint = endpoint.map(|addr| addr.to_string());
        Access {
            route,
            method,
            path,
            status: response.status().as_u16(),
            endpoint: endpoint.as_deref(),
            attempts,
            started: *started,
            version: picked.as_ref().map(Picked::version),
        }
        .log(upstream);
    }
    response
}

/// Whether the request is safe to send again: by its method, or marked so by the
/// cluster's idempotency header.
fn idempotent<B>(request: &Request<B>, retry: &RetrySettings) -> bool {
    idempotent_method(request.method().as_str())
        || retry
            .idempotent_header
            .as_deref()
            .is_some_and(|name| request.headers().contains_key(name))
}

/// Whether the request is a gRPC call.
fn is_grpc<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Whether `request` is a gRPC call (`content-type` `application/grpc`, alone or
/// followed by `+` or `;`), which needs HTTP/2; gRPC-Web (`application/grpc-web…`) works
/// over HTTP/1.1.
fn speaks_grpc<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            let value = value.as_bytes();
            value.len() >= 16
                && value[..16].eq_ignore_ascii_case(b"application/grpc")
                && matches!(value.get(16), None | Some(b'+' | b';'))
        })
}

/// Sets the URI, version and `Host` for the upstream protocol.
fn prepare(request: &mut Request<RequestBody>, http2: bool, host: Option<&str>, member: &Member) {
    let authority = host.unwrap_or(&member.address);
    let mut parts = std::mem::take(request.uri_mut()).into_parts();
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(PathAndQuery::from_static("/"));
    }
    if http2 {
        // HTTP/2 wants the absolute form: `:scheme` and `:authority`.
        parts.scheme = Some(Scheme::HTTP);
        if parts.authority.is_none() {
            parts.authority = authority.parse().ok();
        }
        *request.version_mut() = Version::HTTP_2;
        request.headers_mut().remove(header::HOST);
    } else {
        // HTTP/1.1 wants the origin form, and a Host header.
        parts.scheme = None;
        parts.authority = None;
        *request.version_mut() = Version::HTTP_11;
        if !request.headers().contains_key(header::HOST)
            && let Ok(value) = HeaderValue::from_str(authority)
        {
            request.headers_mut().insert(header::HOST, value);
        }
    }
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
}

/// What one attempt got.
// An answer is the common case: boxing it to even out the variants would allocate for
// every request.
#[allow(clippy::large_enum_variant)]
enum Sent {
    /// A response head; the request stays charged to the endpoint until its body ends.
    Answered {
        response: Response<Received>,
        in_flight: InFlight,
        latency: Duration,
        reuse: Option<http1::SendRequest<RequestBody>>,
    },
    /// No response (reset, timeout); already counted against the endpoint.
    Failed { status: StatusCode, message: String },
    /// No response because the client broke off its request body: nobody's failure
    /// upstream.
    ClientFault(ClientFault),
}

/// Sends on `conn` within `timeout`; on a plain socket, an `idempotent` request may
/// be sent again on a new connection when the pooled one turns out closed. A failure
/// after the client broke off its `upload` is the client's; one before the upload was
/// complete is nobody's (the client may be slow, the endpoint slow to read it, or it
/// refused the body and closed), and so is a timeout that left the endpoint under
/// half of `timeout` after the upload ended.
async fn send(
    conn: Connection,
    member: &Member,
    request: Request<RequestBody>,
    timeout: Duration,
    upstream: &Upstream,
    idempotent: bool,
    upload: &Option<Arc<Upload>>,
) -> Sent {
    // Dropped unfinished (the client went away before the headers came) it leaves the
    // in-flight count without blaming the endpoint.
    let in_flight = member.load.start();
    let started = Instant::now();
    let (result, reuse) = match conn {
        Connection::Http1(mut conn) => {
            let sent = conn.send_request(request);
            let result = tokio::time::timeout(timeout, sent).await;
            (result.map(hyper_answer), Some(conn))
        }
        Connection::Http2(mut conn) => {
            let sent = conn.send_request(request);
            (
                tokio::time::timeout(timeout, sent).await.map(hyper_answer),
                None,
            )
        }
        Connection::Socket(socket, reused) => {
            let home = Home {
                addr: member.socket,
                max_idle: upstream.settings().max_idle,
            };
            let (parts, _) = request.into_parts();
            let sent = h1::exchange(socket, reused, &parts, idempotent, home, upstream.dial());
            let result = tokio::time::timeout(timeout, sent).await;
            let answer = |sent: Result<_, h1::ExchangeError>| {
                sent.map(|r: Response<_>| r.map(Either::Right))
                    .map_err(|e| (e.status(), e.to_string()))
            };
            (result.map(answer), None)
        }
    };
    if let Some(upload) = upload {
        let failed = match &result {
            Ok(Ok(_)) => None,
            Err(_) => Some((
                StatusCode::GATEWAY_TIMEOUT,
                format!("the request body was still on its way after {timeout:?}"),
            )),
            Ok(Err((status, e))) => Some((*status, format!("{}: {e}", member.address))),
        };
        if let Some((status, message)) = failed {
            if let Some(fault) = upload.fault() {
                // Dropped unfinished: the endpoint is not blamed.
                drop(in_flight);
                return Sent::ClientFault(fault);
            }
            // The client was still uploading: the endpoint may have been slow to read
            // it, or refused the body and closed before its answer could be read. Or
            // the upload ended so late that the endpoint had under half the time to
            // answer (a client sending its last byte just before the deadline).
            // Nobody's failure, and (incomplete) nothing to retry.
            let late = result.is_err() && !upload.complete_for(timeout / 2);
            if !upload.complete() || late {
                drop(in_flight);
                return Sent::Failed { status, message };
            }
        }
    }
    match result {
        Err(_) => {
            in_flight.finish(started.elapsed(), Outcome::TimedOut);
            Sent::Failed {
                status: StatusCode::GATEWAY_TIMEOUT,
                message: format!("{} did not answer within {timeout:?}", member.address),
            }
        }
        Ok(Err((status, e))) => {
            let outcome = if status == StatusCode::GATEWAY_TIMEOUT {
                Outcome::TimedOut
            } else {
                Outcome::Failed
            };
            in_flight.finish(started.elapsed(), outcome);
            Sent::Failed {
                status,
                message: format!("{}: {e}", member.address),
            }
        }
        Ok(Ok(response)) => Sent::Answered {
            response,
            in_flight,
            latency: started.elapsed(),
            reuse,
        },
    }
}

/// A hyper client's answer, its body as [`Received`], its error as 502 and text.
fn hyper_answer(
    sent: hyper::Result<Response<Incoming>>,
) -> Result<Response<Received>, (StatusCode, String)> {
    sent.map(|r| r.map(Either::Left))
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))
}

impl Sent {
    /// Whether `retry` tries again after this: for gRPC, on its configured codes only
    /// (a failure counts as UNAVAILABLE, a timeout as DEADLINE_EXCEEDED); otherwise on
    /// its statuses and on every failure.
    fn retried_by(&self, retry: &RetrySettings, grpc: bool) -> bool {
        match (self, grpc) {
            (Sent::Answered { response, .. }, true) => {
                grpc_code(response).is_some_and(|code| retry.retries_grpc(code))
            }
            (Sent::Answered { response, .. }, false) => {
                retry.retries_status(response.status().as_u16())
            }
            (Sent::Failed { status, .. }, true) => {
                retry.retries_grpc(if *status == StatusCode::GATEWAY_TIMEOUT {
                    GRPC_DEADLINE_EXCEEDED
                } else {
                    GRPC_UNAVAILABLE
                })
            }
            (Sent::Failed { .. }, false) => true,
            (Sent::ClientFault(_), _) => false,
        }
    }

    /// Ends an attempt that is retried: its outcome is recorded, its response
    /// dropped; the status and message the client gets if no later attempt answers.
    fn give_up(self, member: &Member) -> (u16, String) {
        match self {
            Sent::Answered {
                response,
                in_flight,
                latency,
                ..
            } => {
                let status = response.status().as_u16();
                in_flight.finish(latency, Outcome::Status(status));
                (status, format!("{} answered {status}", member.address))
            }
            Sent::Failed { status, message } => (status.as_u16(), message),
            Sent::ClientFault(fault) => {
                let (status, why) = fault.answer();
                (status.as_u16(), why.to_string())
            }
        }
    }

    /// The response for the client, its body accounted to `member` as it streams.
    fn respond(
        self,
        upstream: &Upstream,
        member: &Member,
        upload: Option<Arc<Upload>>,
    ) -> Response<ProxyBody> {
        match self {
            Sent::Failed { status, message } => text(status, message),
            Sent::ClientFault(fault) => {
                let (status, why) = fault.answer();
                text(status, why.to_string())
            }
            Sent::Answered {
                response,
                in_flight,
                latency,
                reuse,
            } => {
                let status = response.status().as_u16();
                let (mut parts, body) = response.into_parts();
                if let Either::Left(_) = body {
                    // The proxy's own exchange passes on end-to-end fields only.
                    strip_hop_by_hop(&mut parts.headers);
                }
                let reports = upstream.load_reports().map(|collector| {
                    collector.record(&parts.headers, &member.load);
                    (Arc::clone(collector), Arc::clone(&member.load))
                });
                let reuse = reuse.map(|conn| Reuse {
                    key: upstream.dial().to(member).key(member.socket),
                    conn,
                    max_idle: upstream.settings().max_idle,
                    limit: upstream.connection_limit().cloned(),
                });
                let exchange = Exchange {
                    in_flight,
                    latency,
                    reuse,
                    upload,
                    body_idle: upstream.settings().body_idle,
                    reports,
                };
                let body = UpstreamBody::new(body, status, exchange);
                Response::from_parts(parts, Either::Left(body))
            }
        }
    }
}

/// gRPC's UNAVAILABLE.
const GRPC_UNAVAILABLE: u32 = 14;
/// gRPC's DEADLINE_EXCEEDED.
const GRPC_DEADLINE_EXCEEDED: u32 = 4;

/// The gRPC status of a response known from its head: `grpc-status` of a
/// trailers-only response, or the code the gRPC spec maps an HTTP error status to.
fn grpc_code(response: &Response<Received>) -> Option<u32> {
    if let Some(value) = response.headers().get("grpc-status") {
        return value.to_str().ok()?.parse().ok();
    }
    match response.status().as_u16() {
        429 | 502 | 503 | 504 => Some(GRPC_UNAVAILABLE),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_calls_and_only_they_need_http2() {
        let with = |content_type: &str| {
            let request = Request::builder().header(header::CONTENT_TYPE, content_type);
            speaks_grpc(&request.body(()).unwrap())
        };
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC; charset=x",
        ] {
            assert!(with(grpc), "{grpc}");
        }
        for other in [
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/grpcx",
            "application/json",
            "application/grp",
        ] {
            assert!(!with(other), "{other}");
        }
        assert!(!speaks_grpc(&Request::new(())));
    }
}
