//! Active probes: an HTTP `GET`, a TCP connect, or a gRPC `Health/Check`, each under a
//! timeout. HTTP and gRPC probes keep their connection open between probes, as a
//! client of the endpoint would.

use crate::config::model::{HealthCheckConfig, ProbeKind, ProxyProtocolVersion, StatusRange};
use crate::net::http1::{WholeResponse, read_response};
use crate::net::{ConnectError, proxy_protocol, quiet, tcp};
use crate::tls::{Alpn, Originator};
use bytes::{Buf, Bytes, BytesMut};
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use prost::Message;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse, health_check_response};

/// Most of a response body an HTTP probe reads to look for `expect_body`.
const MAX_BODY: usize = 64 << 10;

/// What to probe and how often.
#[derive(Clone, Debug)]
pub struct ProbeSpec {
    /// The question asked.
    pub kind: ProbeKindSpec,
    /// Time between probes of one endpoint.
    pub interval: Duration,
    /// A probe that takes longer fails.
    pub timeout: Duration,
    /// Each interval is lengthened by a random amount up to this.
    pub jitter: Duration,
    /// TLS, with the cluster's settings, when the cluster speaks it to its endpoints.
    pub tls: Option<Arc<Originator>>,
    /// The PROXY protocol header the cluster's endpoints expect first, if they do: a
    /// probe sends the one for a connection of the proxy's own.
    pub proxy_protocol: Option<ProxyProtocolVersion>,
}

/// The question a probe asks.
#[derive(Clone, Debug)]
pub enum ProbeKindSpec {
    /// `GET path`: a status in `expect`, and the body containing `body` if set.
    Http {
        /// Path and query.
        path: String,
        /// `Host` header; the endpoint's address when `None`.
        host: Option<String>,
        /// Passing statuses.
        expect: StatusRange,
        /// Text the body must contain.
        body: Option<String>,
    },
    /// A TCP connect.
    Tcp,
    /// `grpc.health.v1.Health/Check` for `service`; passes on `SERVING`.
    Grpc {
        /// Service name; empty for the server as a whole.
        service: String,
    },
}

impl From<&HealthCheckConfig> for ProbeSpec {
    fn from(c: &HealthCheckConfig) -> Self {
        let kind = match c.kind {
            ProbeKind::Http => ProbeKindSpec::Http {
                path: c.path.clone(),
                host: c.host.clone(),
                expect: c.expect_status,
                body: c.expect_body.clone(),
            },
            ProbeKind::Tcp => ProbeKindSpec::Tcp,
            ProbeKind::Grpc => ProbeKindSpec::Grpc {
                service: c.grpc_service.clone(),
            },
        };
        Self {
            kind,
            interval: c.interval.0,
            timeout: c.timeout.0,
            jitter: c.jitter.0,
            tls: None,
            proxy_protocol: None,
        }
    }
}

/// How one probe went.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeResult {
    /// It met every expectation.
    pub success: bool,
    /// HTTP status, or the gRPC status for gRPC probes, when an answer came.
    pub status: Option<u16>,
    /// Time to the answer or the failure.
    pub latency: Duration,
    /// The connection could not be made.
    pub connect_error: bool,
    /// It ran out of time.
    pub timed_out: bool,
    /// Why it failed, for logs and the admin API.
    pub reason: Option<String>,
}

/// Why a probe failed.
enum Failed {
    Connect(ConnectError),
    /// An answer came and did not meet expectations (`status` as in [`ProbeResult`]).
    Answer {
        status: Option<u16>,
        reason: String,
    },
    /// The exchange broke off.
    Exchange(String),
    /// The TLS handshake failed.
    Tls(String),
}

/// A probe's connection: TCP, or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {
    /// The TCP socket under it.
    fn socket(&self) -> &TcpStream;
}

impl Stream for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl Stream for TlsStream<TcpStream> {
    fn socket(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// The probe of one endpoint, with the connection it keeps.
pub struct Prober {
    addr: SocketAddr,
    spec: ProbeSpec,
    /// The endpoint's own TLS server name, if it has one.
    server_name: Option<String>,
    /// The HTTP request, written once.
    request: Vec<u8>,
    /// The kept HTTP/1.1 connection and what was read from it.
    http1: Option<(Box<dyn Stream>, BytesMut)>,
    http2: Option<http2::SendRequest<Full<Bytes>>>,
}

impl Prober {
    /// A prober of `addr` (whose TLS server name is `server_name`, when it has one of
    /// its own); connects on its first probe.
    pub fn new(addr: SocketAddr, spec: ProbeSpec, server_name: Option<String>) -> Self {
        let request = match &spec.kind {
            ProbeKindSpec::Http { path, host, .. } => {
                let host = host.clone().unwrap_or_else(|| addr.to_string());
                format!(
                    "GET {path} HTTP/1.1\r\nhost: {host}\r\nuser-agent: switchyard-health\r\n\r\n"
                )
                .into_bytes()
            }
            _ => Vec::new(),
        };
        Self {
            addr,
            spec,
            server_name,
            request,
            http1: None,
            http2: None,
        }
    }

    /// The probe's interval plus a random share of its jitter.
    pub fn next_delay(&self, random: u64) -> Duration {
        let jitter = self.spec.jitter.as_nanos() as u64;
        let extra = if jitter == 0 { 0 } else { random % jitter };
        self.spec.interval + Duration::from_nanos(extra)
    }

    /// Probes once. Never takes much longer than the timeout.
    pub async fn probe(&mut self) -> ProbeResult {
        let started = Instant::now();
        let timeout = self.spec.timeout;
        let outcome = tokio::time::timeout(timeout, self.ask()).await;
        let latency = started.elapsed();
        let failed = |status, reason: String, connect_error, timed_out| ProbeResult {
            success: false,
            status,
            latency,
            connect_error,
            timed_out,
            reason: Some(reason),
        };
        match outcome {
            Ok(Ok(status)) => ProbeResult {
                success: true,
                status,
                latency,
                connect_error: false,
                timed_out: false,
                reason: None,
            },
            Ok(Err(Failed::Connect(e))) => {
                let timed_out = matches!(e, ConnectError::Timeout(_));
                failed(None, e.to_string(), true, timed_out)
            }
            Ok(Err(Failed::Answer { status, reason })) => failed(status, reason, false, false),
            Ok(Err(Failed::Tls(reason))) => failed(None, reason, true, false),
            Ok(Err(Failed::Exchange(reason))) => {
                self.forget_connection();
                failed(None, reason, false, false)
            }
            Err(_) => {
                // The connection may be stuck mid-exchange: start afresh next time.
                self.forget_connection();
                failed(None, format!("no answer within {timeout:?}"), false, true)
            }
        }
    }

    fn forget_connection(&mut self) {
        self.http1 = None;
        self.http2 = None;
    }

    /// One exchange; the status to report when it passes.
    async fn ask(&mut self) -> Result<Option<u16>, Failed> {
        match &self.spec.kind {
            ProbeKindSpec::Tcp => {
                self.connect(Alpn::Http1).await?;
                Ok(None)
            }
            ProbeKindSpec::Http { .. } => {
                let response = self.http1_exchange().await?;
                self.check_http(&response)
            }
            ProbeKindSpec::Grpc { service } => {
                let request = grpc_request(self.addr, service)?;
                let sender = self.http2_sender().await?;
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| Failed::Exchange(e.to_string()))?;
                grpc_answer(response).await
            }
        }
    }

    /// Whether an HTTP probe's answer meets the expectations.
    fn check_http(&self, response: &WholeResponse) -> Result<Option<u16>, Failed> {
        let status = response.status;
        let ProbeKindSpec::Http { expect, body, .. } = &self.spec.kind else {
            return Ok(Some(status));
        };
        if !(expect.low..=expect.high).contains(&status) {
            return Err(Failed::Answer {
                status: Some(status),
                reason: format!("status {status}, expected {}-{}", expect.low, expect.high),
            });
        }
        match body {
            Some(needle) if !contains(&response.body, needle.as_bytes()) => Err(Failed::Answer {
                status: Some(status),
                reason: format!("body does not contain {needle:?}"),
            }),
            _ => Ok(Some(status)),
        }
    }

    /// The probe request on the kept connection, or on a new one when there is none;
    /// a kept connection the endpoint closed meanwhile is replaced once.
    async fn http1_exchange(&mut self) -> Result<WholeResponse, Failed> {
        // A kept connection the endpoint wrote to or closed while idle (a 408, a FIN)
        // is not reused: what it holds is no answer to this probe.
        let kept = self
            .http1
            .take()
            .filter(|(stream, _)| quiet(stream.socket()));
        let (mut stream, mut buf, mut kept) = match kept {
            Some((stream, buf)) => (stream, buf, true),
            None => (
                self.connect(Alpn::Http1).await?,
                BytesMut::with_capacity(1024),
                false,
            ),
        };
        loop {
            let exchanged = match stream.write_all(&self.request).await {
                Ok(()) => read_response(&mut stream, &mut buf, MAX_BODY).await,
                Err(e) => Err(e.to_string()),
            };
            match exchanged {
                Ok(response) => {
                    if response.reusable {
                        self.http1 = Some((stream, buf));
                    }
                    return Ok(response);
                }
                Err(_) if kept => {
                    (stream, buf) = (
                        self.connect(Alpn::Http1).await?,
                        BytesMut::with_capacity(1024),
                    );
                    kept = false;
                }
                Err(reason) => return Err(Failed::Exchange(reason)),
            }
        }
    }

    /// The kept h2c connection, made anew when there is none or it cannot take a
    /// request.
    async fn http2_sender(&mut self) -> Result<&mut http2::SendRequest<Full<Bytes>>, Failed> {
        if !self
            .http2
            .as_ref()
            .is_some_and(http2::SendRequest::is_ready)
        {
            self.http2 = None;
            let io = TokioIo::new(self.connect(Alpn::Http2).await?);
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(|e| Failed::Exchange(e.to_string()))?;
            tokio::spawn(conn);
            self.http2 = Some(sender);
        }
        Ok(self.http2.as_mut().expect("kept or made above"))
    }
}

impl Prober {
    /// A new connection to the endpoint: TLS (offering `alpn`) when the cluster speaks
    /// it.
    async fn connect(&self, alpn: Alpn) -> Result<Box<dyn Stream>, Failed> {
        let mut socket = tcp(self.addr, self.spec.timeout)
            .await
            .map_err(Failed::Connect)?;
        if let Some(version) = self.spec.proxy_protocol {
            let mut header = Vec::new();
            proxy_protocol::encode_local(version, &mut header);
            let sent = socket.write_all(&header).await;
            sent.map_err(|e| Failed::Exchange(format!("sending the PROXY header: {e}")))?;
        }
        let Some(tls) = &self.spec.tls else {
            return Ok(Box::new(socket));
        };
        let named = self.server_name.as_deref();
        let (stream, _) =
            (tls.connect(socket, self.addr, named, alpn).await).map_err(Failed::Tls)?;
        Ok(Box::new(stream))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// `POST /grpc.health.v1.Health/Check` with one length-prefixed message.
fn grpc_request(addr: SocketAddr, service: &str) -> Result<Request<Full<Bytes>>, Failed> {
    let message = HealthCheckRequest {
        service: service.to_string(),
    }
    .encode_to_vec();
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0); // not compressed
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .version(http::Version::HTTP_2)
        .header(header::CONTENT_TYPE, "application/grpc")
        .header(header::TE, "trailers")
        .header(header::USER_AGENT, "switchyard-health")
        .body(Full::new(Bytes::from(frame)))
        .map_err(|e| Failed::Exchange(e.to_string()))
}

/// Passes on `grpc-status: 0` and `SERVING`; the status reported is the gRPC one.
async fn grpc_answer(response: http::Response<Incoming>) -> Result<Option<u16>, Failed> {
    if response.status() != http::StatusCode::OK {
        return Err(Failed::Answer {
            status: None,
            reason: format!("HTTP status {}", response.status().as_u16()),
        });
    }
    let (parts, body) = response.into_parts();
    let collected = http_body_util::Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| Failed::Exchange(format!("reading the answer: {e}")))?;
    // A trailers-only answer carries grpc-status in the headers.
    let trailers = collected.trailers().cloned().unwrap_or(parts.headers);
    let grpc_status = trailers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u16>().ok());
    match grpc_status {
        Some(0) => {}
        Some(code) => {
            let message = trailers
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            return Err(Failed::Answer {
                status: Some(code),
                reason: format!("grpc-status {code} {message}")
                    .trim_end()
                    .to_string(),
            });
        }
        None => return Err(Failed::Exchange("no grpc-status in the answer".into())),
    }
    let mut data = collected.to_bytes();
    if data.len() < 5 || data[0] != 0 {
        return Err(Failed::Exchange(
            "the answer is not one uncompressed message".into(),
        ));
    }
    data.advance(5);
    let answer = HealthCheckResponse::decode(data)
        .map_err(|e| Failed::Exchange(format!("decoding the answer: {e}")))?;
    match answer.status() {
        health_check_response::ServingStatus::Serving => Ok(Some(0)),
        other => Err(Failed::Answer {
            status: Some(0),
            reason: format!("serving status {}", other.as_str_name()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_body_text_and_spreads_probes() {
        assert!(contains(b"status: ok\n", b"ok"));
        assert!(!contains(b"status: degraded", b"ok\n"));
        let spec = ProbeSpec {
            kind: ProbeKindSpec::Tcp,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(100),
            jitter: Duration::from_millis(100),
            tls: None,
            proxy_protocol: None,
        };
        let prober = Prober::new("127.0.0.1:1".parse().unwrap(), spec, None);
        for random in [0, 7, u64::MAX] {
            let delay = prober.next_delay(random);
            assert!(delay >= Duration::from_secs(1) && delay < Duration::from_millis(1100));
        }
    }
}
