//! HTTP/1.1 exchanges of the general path on pooled sockets, for requests without a
//! body (most HTTP/2 clients' calls to HTTP/1.1 endpoints): the request head written
//! from its parts, the response head read into `http` types, and the body streamed
//! (decoded from chunks) by a [`SocketBody`] that hands the socket back to the pool
//! when it ends. No connection task, channel or second head encoding per request, as
//! hyper's client would need.

use crate::net::http1::{
    Framing, HeadError, MAX_HEADERS, Piece, READ_CHUNK, ResponseSink, about_the_connection,
    read_head, write_field, write_length,
};
use crate::proxy::connection_limit::Socket;
use crate::proxy::pool::{self, Dial};
use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode, request};
use http_body::{Body, Frame, SizeHint};
use hyper::ext::ReasonPhrase;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::AsyncWriteExt;

/// Most bytes of trailer fields taken from a chunked body.
const MAX_TRAILER_BYTES: usize = 64 << 10;

/// Where a socket goes back once its exchange is over.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Home {
    /// The endpoint.
    pub(crate) addr: SocketAddr,
    /// Idle connections kept per endpoint and worker.
    pub(crate) max_idle: usize,
}

/// Why an exchange gave no response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// Writing the request failed.
    #[error("sending the request: {0}")]
    Write(std::io::Error),
    /// No usable response head.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// A pooled connection turned out closed and a new one could not be had.
    #[error(transparent)]
    Connect(#[from] pool::ConnectError),
}

impl ExchangeError {
    /// What the client is answered: as [`pool::ConnectError::status`] when no new
    /// connection could be had, else 502.
    pub(crate) fn status(&self) -> http::StatusCode {
        match self {
            ExchangeError::Connect(e) => e.status(),
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }
}

/// Sends the bodiless request `parts` on `socket` and reads the response head; the
/// body streams from the socket. A pooled (`reused`) socket that the endpoint had
/// just closed gets an `idempotent` request sent once more on a new connection, as
/// the endpoint never saw it.
pub(crate) async fn exchange(
    socket: Socket,
    reused: bool,
    parts: &request::Parts,
    idempotent: bool,
    home: Home,
    dial: Dial<'_>,
) -> Result<Response<SocketBody>, ExchangeError> {
    let mut head = Vec::with_capacity(512);
    write_head(&mut head, parts);
    let head_request = parts.method == Method::HEAD;
    match send(socket, &head, head_request, home).await {
        Err(ExchangeError::Head(HeadError::Closed) | ExchangeError::Write(_))
            if reused && idempotent =>
        {
            // Rare: boxed, so that it does not enlarge every exchange's future.
            Box::pin(async {
                let fresh = pool::connect(home.addr, dial).await?;
                send(fresh, &head, head_request, home).await
            })
            .await
        }
        sent => sent,
    }
}

/// Writes `head` on `socket` and reads the response head.
async fn send(
    mut socket: Socket,
    head: &[u8],
    head_request: bool,
    home: Home,
) -> Result<Response<SocketBody>, ExchangeError> {
    socket.write_all(head).await.map_err(ExchangeError::Write)?;
    let mut buf = BytesMut::new();
    let mut out = HeadParts::default();
    let parsed = read_head(&mut socket, &mut buf, head_request, &mut out).await?;
    let (parts, ()) = out.response().ok_or(HeadError::Malformed)?.into_parts();
    let body = SocketBody::new(socket, buf, parsed.framing, parsed.reusable, home);
    Ok(Response::from_parts(parts, body))
}

/// Writes the HTTP/1.1 head of `parts` (origin form, `Host` set), with
/// `Content-Length: 0` where the method gives a body meaning and none was said.
fn write_head(out: &mut Vec<u8>, parts: &request::Parts) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    let bodiless_method = matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE
    );
    if !bodiless_method && !parts.headers.contains_key(CONTENT_LENGTH) {
        write_length(out, 0);
    }
    out.extend_from_slice(b"\r\n");
}

/// A response head as `http` types, for a client that frames the body itself.
#[derive(Default)]
pub(super) struct HeadParts {
    /// `None` when the code is not one `http` accepts.
    status: Option<StatusCode>,
    /// The reason phrase, when it is not the status code's standard one: hyper's server
    /// writes it to HTTP/1.x clients (hyper's own client keeps it the same way).
    reason: Option<ReasonPhrase>,
    headers: HeaderMap,
    /// A field `http` does not accept.
    invalid: bool,
}

impl HeadParts {
    /// The head, unless a field was unacceptable.
    pub(super) fn response(self) -> Option<Response<()>> {
        if self.invalid {
            return None;
        }
        let mut response = Response::new(());
        *response.status_mut() = self.status?;
        *response.headers_mut() = self.headers;
        if let Some(reason) = self.reason {
            response.extensions_mut().insert(reason);
        }
        Some(response)
    }
}

impl ResponseSink for HeadParts {
    fn status(&mut self, status: u16, reason: &str) {
        // An interim head may have come first: start over.
        self.status = StatusCode::from_u16(status).ok();
        let standard = self.status.and_then(|s| s.canonical_reason());
        self.reason = match reason {
            "" => None,
            reason if Some(reason) == standard => None,
            reason => ReasonPhrase::try_from(reason.as_bytes()).ok(),
        };
        self.headers.clear();
        self.invalid = false;
    }
    fn field(&mut self, name: &str, value: &[u8]) {
        match http_field(name, value) {
            Some((name, value)) => {
                self.headers.append(name, value);
            }
            None => self.invalid = true,
        }
    }
    fn transfer_coding(&mut self, _name: &str, _value: &[u8]) {
        // The body is decoded.
    }
    fn length(&mut self, n: u64) {
        self.headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
    }
    fn end(&mut self, _close: bool) {}
}

/// A response body read from its socket as the client takes it, decoded from its
/// HTTP/1.1 framing; at a clean end the socket goes back to the pool.
pub(crate) struct SocketBody {
    /// Until the body has ended.
    socket: Option<Socket>,
    /// Bytes read and not yet given out.
    buf: BytesMut,
    framing: Framing,
    /// Whether the connection may carry another request.
    reusable: bool,
    home: Home,
    /// Trailer field lines of a chunked body, as they come.
    trailer_lines: Vec<u8>,
    /// Decoded trailers, given out after the last data (boxed: they are rare, and the
    /// body is moved around).
    trailers: Option<Box<HeaderMap>>,
}

impl SocketBody {
    fn new(socket: Socket, buf: BytesMut, framing: Framing, reusable: bool, home: Home) -> Self {
        let mut body = Self {
            socket: Some(socket),
            buf,
            framing,
            reusable,
            home,
            trailer_lines: Vec::new(),
            trailers: None,
        };
        if framing == Framing::Empty {
            body.end(true);
        }
        body
    }

    /// The body has ended: the socket goes back to the pool when it is `clean` (all
    /// of the body read, nothing after it), else it closes.
    fn end(&mut self, clean: bool) {
        if let Some(socket) = self.socket.take()
            && clean
            && self.reusable
            && self.buf.is_empty()
        {
            pool::checkin_socket(self.home.addr, socket, self.home.max_idle);
        }
    }

    /// The next frame from what is buffered, if there is one; ends the body when its
    /// last byte is given out.
    fn buffered(&mut self) -> Result<Option<Frame<Bytes>>, std::io::Error> {
        if let Some(trailers) = self.trailers.take() {
            return Ok(Some(Frame::trailers(*trailers)));
        }
        if self.ended() || self.buf.is_empty() {
            return Ok(None);
        }
        match &mut self.framing {
            Framing::Chunked(chunked) => {
                let mut data = BytesMut::new();
                let trailer_lines = &mut self.trailer_lines;
                let (used, done) = chunked
                    .decode(&self.buf, |piece| match piece {
                        Piece::Data(bytes) => data.extend_from_slice(bytes),
                        Piece::Trailer(byte) => trailer_lines.push(byte),
                    })
                    .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
                self.buf.advance(used);
                if self.trailer_lines.len() > MAX_TRAILER_BYTES {
                    return Err(std::io::Error::new(
                        ErrorKind::InvalidData,
                        "trailers too large",
                    ));
                }
                if done {
                    // A trailer section that cannot be read fails the body: ending it
                    // cleanly without the trailers would tell the client all was well.
                    let trailers = parse_trailers(&self.trailer_lines)
                        .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
                    self.trailers = trailers.map(Box::new);
                    self.end(true);
                }
                if data.is_empty() {
                    return Ok(self.trailers.take().map(|t| Frame::trailers(*t)));
                }
                Ok(Some(Frame::data(data.freeze())))
            }
            framing => {
                // Length or until close: the bytes themselves.
                let (take, done) = framing
                    .advance(&self.buf)
                    .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
                let data = self.buf.split_to(take).freeze();
                if done {
                    self.end(true);
                }
                Ok(Some(Frame::data(data)))
            }
        }
    }

    fn ended(&self) -> bool {
        self.socket.is_none()
    }
}

/// The error for more trailer fields than a head may have: [`MAX_HEADERS`] is 100.
const TOO_MANY_TRAILERS: &str = "more than 100 trailer fields";
const _: () = assert!(MAX_HEADERS == 100, "TOO_MANY_TRAILERS states the limit");

/// Trailer field lines as a header map (`None` when there are none); an error when
/// they do not parse, or are more than a head may have.
pub(super) fn parse_trailers(lines: &[u8]) -> Result<Option<HeaderMap>, &'static str> {
    if lines.is_empty() {
        return Ok(None);
    }
    let mut section = lines.to_vec();
    section.extend_from_slice(b"\r\n");
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let fields = match httparse::parse_headers(&section, &mut slots) {
        Ok(httparse::Status::Complete((_, fields))) => fields,
        Err(httparse::Error::TooManyHeaders) => return Err(TOO_MANY_TRAILERS),
        _ => return Err("malformed trailer section"),
    };
    let mut trailers = HeaderMap::with_capacity(fields.len());
    // Fields about the connection or the framing have no place in HTTP/2 trailers.
    for field in fields.iter().filter(|f| !about_the_connection(f.name)) {
        if let Some((name, value)) = http_field(field.name, field.value) {
            trailers.append(name, value);
        }
    }
    Ok(Some(trailers))
}

/// A field line as `http` types, if `http` accepts both parts.
fn http_field(name: &str, value: &[u8]) -> Option<(HeaderName, HeaderValue)> {
    let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
    Some((name, HeaderValue::from_bytes(value).ok()?))
}

impl Body for SocketBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(frame) = this.buffered().transpose() {
                return Poll::Ready(Some(frame));
            }
            let Some(socket) = this.socket.as_mut() else {
                return Poll::Ready(None);
            };
            this.buf.reserve(READ_CHUNK);
            let read = loop {
                ready!(socket.poll_read_ready(cx))?;
                match socket.try_read_buf(&mut this.buf) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                    read => break read?,
                }
            };
            if read == 0 {
                // The end of the body only when the close is what delimits it.
                this.end(false);
                return Poll::Ready(match this.framing {
                    Framing::UntilClose => None,
                    _ => Some(Err(ErrorKind::UnexpectedEof.into())),
                });
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            _ if self.is_end_stream() => SizeHint::with_exact(0),
            Framing::Length(left) => SizeHint::with_exact(left),
            _ => SizeHint::default(),
        }
    }
}
