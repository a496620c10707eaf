//! Forwarding one request: pick, connect (falling through the policy's preference
//! list when an endpoint cannot be reached), send, stream the response back.

use crate::cluster::{Member, Outcome};
use crate::config::model::UpstreamProtocol;
use crate::proxy::access::Access;
use crate::proxy::body::{ProxyBody, Reuse, UpstreamBody, text};
use crate::proxy::headers::{PolicyView, add_forwarded, authority, join_cookies, strip_hop_by_hop};
use crate::proxy::pool::{self, Connection};
use crate::proxy::upstream::Upstream;
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use http_body_util::Either;
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::time::Instant;

/// Forwards `request` from `client` to an endpoint of `upstream`. Never fails: problems
/// become 502, 503 or 504 responses with a one-line body.
pub(crate) async fn forward(
    upstream: &Upstream,
    request: Request<Incoming>,
    client: SocketAddr,
) -> Response<ProxyBody> {
    let logged = upstream.settings().access_log.then(|| {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        (
            request.method().to_string(),
            path.to_string(),
            Instant::now(),
        )
    });
    // Held until the response head: a streaming body no longer counts.
    let admitted = upstream.admit();
    let (response, endpoint) = match admitted {
        Some(_) => relay(upstream, request, client).await,
        None => {
            let message = format!("cluster {}: too many requests in flight", upstream.name());
            (text(StatusCode::SERVICE_UNAVAILABLE, message), None)
        }
    };
    drop(admitted);
    if let Some((method, path, started)) = &logged {
        let endpoint = endpoint.map(|addr| addr.to_string());
        Access {
            method,
            path,
            status: response.status().as_u16(),
            endpoint: endpoint.as_deref(),
            attempts: 1,
            started: *started,
        }
        .log(upstream);
    }
    response
}

/// Picks, connects (falling through the pick on connect failures) and sends; the
/// response, and the endpoint it came from or was tried last.
async fn relay(
    upstream: &Upstream,
    mut request: Request<Incoming>,
    client: SocketAddr,
) -> (Response<ProxyBody>, Option<SocketAddr>) {
    join_cookies(request.headers_mut());
    let pick = upstream.pick(&PolicyView {
        request: &request,
        client,
    });
    if pick.endpoints.is_empty() {
        let response = text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no endpoint in cluster {}", upstream.name()),
        );
        return (response, None);
    }
    let downstream = request.version();
    let settings = upstream.settings();
    let http2 = match settings.protocol {
        UpstreamProtocol::Auto => downstream == Version::HTTP_2,
        UpstreamProtocol::Http1 => false,
        UpstreamProtocol::Http2 => true,
    };
    let host = authority(&request).map(str::to_owned);
    strip_hop_by_hop(request.headers_mut());
    add_forwarded(request.headers_mut(), client, host.as_deref());

    let mut last_error = None;
    let mut circuit_open = None;
    let mut tried = None;
    for id in &pick.endpoints {
        let Some(member) = pick.membership.get(*id) else {
            continue;
        };
        if !member.load.admits() {
            tried = Some(member.socket);
            circuit_open = Some(member);
            continue;
        }
        match pool::checkout(
            member.socket,
            http2,
            settings.connect_timeout,
            settings.idle_timeout,
        )
        .await
        {
            Ok(conn) => {
                prepare(&mut request, http2, host.as_deref(), member);
                let mut response = send(upstream, conn, member, request).await;
                *response.version_mut() = downstream;
                return (response, Some(member.socket));
            }
            Err(e) => {
                tried = Some(member.socket);
                e.record(&member.load, settings.connect_timeout);
                tracing::debug!(cluster = upstream.name(), endpoint = %member.address, "{e}");
                last_error = Some(e);
            }
        }
    }
    let response = match (last_error, circuit_open) {
        (Some(e), _) => text(e.status(), e.to_string()),
        (None, Some(member)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}: circuit open", member.address),
        ),
        (None, None) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no endpoint in cluster {}", upstream.name()),
        ),
    };
    (response, tried)
}

/// Sets the URI, version and `Host` for the upstream protocol.
fn prepare(request: &mut Request<Incoming>, http2: bool, host: Option<&str>, member: &Member) {
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

/// Sends on `conn` under the request timeout and wraps the response for accounting.
async fn send(
    upstream: &Upstream,
    conn: Connection,
    member: &Member,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let settings = upstream.settings();
    // Dropped unfinished (the client went away before the headers came) it leaves the
    // in-flight count without blaming the endpoint.
    let in_flight = member.load.start();
    let started = Instant::now();
    let (result, reuse) = match conn {
        Connection::Http1(mut conn) => {
            let sent = conn.send_request(request);
            (
                tokio::time::timeout(settings.per_try_timeout, sent).await,
                Some(conn),
            )
        }
        Connection::Http2(mut conn) => {
            let sent = conn.send_request(request);
            (
                tokio::time::timeout(settings.per_try_timeout, sent).await,
                None,
            )
        }
    };
    match result {
        Err(_) => {
            in_flight.finish(started.elapsed(), Outcome::TimedOut);
            text(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "{} did not answer within {:?}",
                    member.address, settings.per_try_timeout
                ),
            )
        }
        Ok(Err(e)) => {
            in_flight.finish(started.elapsed(), Outcome::Failed);
            text(StatusCode::BAD_GATEWAY, format!("{}: {e}", member.address))
        }
        Ok(Ok(response)) => {
            let latency = started.elapsed();
            let status = response.status().as_u16();
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            let reuse = reuse.map(|conn| Reuse {
                addr: member.socket,
                conn,
                max_idle: settings.max_idle,
            });
            let body = UpstreamBody::new(body, in_flight, latency, status, reuse);
            Response::from_parts(parts, Either::Left(body))
        }
    }
}
