//! A plain hyper client for the proxy tests: one fresh connection per call, HTTP/1.1 or
//! h2c with prior knowledge.

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;

/// Sends `request` over a new connection to `addr`.
pub async fn send<B>(addr: SocketAddr, request: Request<B>, http2: bool) -> Response<Incoming>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let io = TokioIo::new(stream);
    if http2 {
        let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        send.send_request(request).await.unwrap()
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        send.send_request(request).await.unwrap()
    }
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
