//! Response bodies: the upstream's, streamed through and accounted to its endpoint,
//! or a short one the proxy writes itself.

use crate::cluster::{InFlight, Outcome};
use crate::proxy::connection_limit::ConnectionLimit;
use crate::proxy::h1::SocketBody;
use crate::proxy::pool;
use crate::proxy::replay::RequestBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// What the proxy answers with.
pub(crate) type ProxyBody = Either<UpstreamBody, Full<Bytes>>;

/// A pooled HTTP/1.1 connection to hand back once the exchange is over.
pub(crate) struct Reuse {
    pub(crate) addr: SocketAddr,
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

/// A boxed body error.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The upstream's response body. Its endpoint's request stays in flight until the body
/// ends (streams included); then the outcome is recorded and an HTTP/1.1 connection
/// goes back to the pool.
pub(crate) struct UpstreamBody {
    inner: Received,
    pending: Option<Pending>,
}

/// How a response body ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// All of it arrived.
    Clean,
    /// The upstream broke it off: the endpoint's failure.
    Broken,
    /// The client went away first: nobody's failure, but the connection has unread
    /// data and is not reused.
    Abandoned,
}

struct Pending {
    in_flight: InFlight,
    latency: Duration,
    status: u16,
    reuse: Option<Reuse>,
}

impl UpstreamBody {
    /// Wraps `inner`, the body of a response with `status` that came `latency` after
    /// the request was sent.
    pub(crate) fn new(
        inner: Received,
        in_flight: InFlight,
        latency: Duration,
        status: u16,
        reuse: Option<Reuse>,
    ) -> Self {
        let mut body = Self {
            inner,
            pending: Some(Pending {
                in_flight,
                latency,
                status,
                reuse,
            }),
        };
        if body.inner.is_end_stream() {
            body.complete(End::Clean);
        }
        body
    }

    /// Records the outcome, once.
    fn complete(&mut self, end: End) {
        if let Some(p) = self.pending.take() {
            p.in_flight.finish(
                p.latency,
                match end {
                    End::Broken => Outcome::Broken(p.status),
                    _ => Outcome::Status(p.status),
                },
            );
            if let Some(reuse) = p.reuse.filter(|_| end == End::Clean) {
                let wanted = reuse.limit.as_ref().is_some_and(|l| l.wanted());
                pool::checkin(reuse.addr, reuse.conn, reuse.max_idle, wanted);
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
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
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
