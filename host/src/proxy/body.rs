//! Response bodies: the upstream's, streamed through and accounted to its endpoint,
//! or a short one the proxy writes itself.

use crate::load_reports::collect::Collector;
use crate::proxy::client_body::{BoxError, Upload};
use crate::proxy::connection_limit::ConnectionLimit;
use crate::proxy::h1::SocketBody;
use crate::proxy::pauses::Pauses;
use crate::proxy::pool;
use crate::proxy::replay::RequestBody;
use crate::proxy::route::Respond;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use switchyard_policy::cluster::{EndpointLoad, InFlight, Outcome};

/// What the proxy answers with.
pub(crate) type ProxyBody = Either<UpstreamBody, Full<Bytes>>;

/// A pooled HTTP/1.1 connection to hand back once the exchange is over.
pub(crate) struct Reuse {
    pub(crate) key: pool::Key,
    pub(crate) conn: http1::SendRequest<RequestBody>,
    pub(crate) max_idle: usize,
    /// The cluster's connection limit: while requests wait for a slot, the
    /// connection is closed rather than pooled.
    pub(crate) limit: Option<Arc<ConnectionLimit>>,
}

/// A response body as it comes from the upstream: from a hyper client connection
/// (`Left`), or read from a pooled socket by the proxy's own HTTP/1.1 exchange
/// (`Right`).
pub(crate) type Received = Either<Incoming, SocketBody>;

/// The upstream's response body. Its endpoint's request stays in flight until the body
/// ends (streams included); then the outcome is recorded and an HTTP/1.1 connection
/// goes back to the pool. A body in which nothing arrives for the cluster's
/// `body_idle` is cut off, as the endpoint's failure.
pub(crate) struct UpstreamBody {
    inner: Received,
    pending: Option<Pending>,
    pauses: Pauses,
    reports: Option<(Arc<Collector>, Arc<EndpointLoad>)>,
}

/// The response body was cut off: nothing arrived for too long.
#[derive(Debug, thiserror::Error)]
#[error("the endpoint sent nothing of the response body for {0:?}")]
struct Stalled(Duration);

/// How a response body ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// All of it arrived.
    Clean,
    /// The upstream broke it off: the endpoint's failure.
    Broken,
    /// Nothing came for `body_idle`: the endpoint's failure, unless the client was
    /// still sending (then who waited on whom cannot be told).
    Stalled,
    /// The client went away first: nobody's failure, but the connection has unread
    /// data and is not reused.
    Abandoned,
}

struct Pending {
    in_flight: InFlight,
    latency: Duration,
    status: u16,
    reuse: Option<Reuse>,
    /// The client's upload, if the request had a body.
    upload: Option<Arc<Upload>>,
}

/// How the request that a response answers was sent.
pub(crate) struct Exchange {
    /// In flight to the endpoint until the response body ends.
    pub(crate) in_flight: InFlight,
    /// From sending the request to the response head.
    pub(crate) latency: Duration,
    /// The connection to pool afterwards, if any.
    pub(crate) reuse: Option<Reuse>,
    /// The client's upload, if the request had a body: when the client broke it off,
    /// an upstream failure that follows is not the endpoint's.
    pub(crate) upload: Option<Arc<Upload>>,
    /// Longest pause in the response body.
    pub(crate) body_idle: Duration,
    /// Where load reports in the trailers go, when the cluster collects them.
    pub(crate) reports: Option<(Arc<Collector>, Arc<EndpointLoad>)>,
}

impl UpstreamBody {
    /// Wraps `inner`, the body of a response with `status` to `exchange`.
    pub(crate) fn new(inner: Received, status: u16, exchange: Exchange) -> Self {
        let mut body = Self {
            inner,
            pending: Some(Pending {
                in_flight: exchange.in_flight,
                latency: exchange.latency,
                status,
                reuse: exchange.reuse,
                upload: exchange.upload,
            }),
            pauses: Pauses::new(exchange.body_idle),
            reports: exchange.reports,
        };
        if body.inner.is_end_stream() {
            body.complete(End::Clean);
        }
        body
    }

    /// Records the outcome, once.
    fn complete(&mut self, end: End) {
        if let Some(p) = self.pending.take() {
            let upload = p.upload.as_deref();
            let uploaded = upload.is_none_or(Upload::complete);
            let clients = upload.is_some_and(|u| u.fault().is_some());
            // What the end says of the endpoint. The exchange fails when the client
            // breaks off its request body, and a stall while the client is still
            // sending says nothing either: no outcome at all (neither a failure nor a
            // quick success).
            let outcome = match end {
                _ if clients => None,
                End::Stalled if !uploaded => None,
                End::Broken | End::Stalled => Some(Outcome::Broken(p.status)),
                End::Clean | End::Abandoned => Some(Outcome::Status(p.status)),
            };
            match outcome {
                Some(outcome) => p.in_flight.finish(p.latency, outcome),
                None => drop(p.in_flight),
            }
            // Pooled only after a clean end of an exchange whose request was all sent.
            if let Some(reuse) = p.reuse.filter(|_| end == End::Clean && uploaded) {
                let wanted = reuse.limit.as_ref().is_some_and(|l| l.wanted());
                pool::checkin(reuse.key, reuse.conn, reuse.max_idle, wanted);
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending if self.pauses.exceeded(cx) => {
                self.complete(End::Stalled);
                let limit = self.pauses.limit();
                return Poll::Ready(Some(Err(Box::new(Stalled(limit)))));
            }
            Poll::Pending => return Poll::Pending,
        };
        self.pauses.moved();
        if let (Some((collector, load)), Some(Ok(frame))) = (&self.reports, &frame)
            && let Some(trailers) = frame.trailers_ref()
        {
            collector.record(trailers, load);
        }
        match &frame {
            None => self.complete(End::Clean),
            Some(Err(_)) => self.complete(End::Broken),
            Some(Ok(_)) if self.inner.is_end_stream() => self.complete(End::Clean),
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        self.complete(End::Abandoned);
    }
}

/// A short plain-text response written by the proxy.
pub(crate) fn text(status: http::StatusCode, message: String) -> http::Response<ProxyBody> {
    let mut response = http::Response::new(Either::Right(Full::new(Bytes::from(message + "\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A route's direct answer.
pub(crate) fn direct(respond: &Respond) -> http::Response<ProxyBody> {
    let mut response = http::Response::new(Either::Right(Full::new(respond.body.clone())));
    *response.status_mut() = respond.status;
    let headers = response.headers_mut();
    for (name, value) in &respond.headers {
        headers.append(name.clone(), value.clone());
    }
    response
}
