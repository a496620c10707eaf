//! A strict HTTP/1.1 backend for the desync tests: it parses requests by the letter of
//! RFC 9112 (one `Content-Length` of digits, or `Transfer-Encoding: chunked` alone, with
//! well-formed chunks), records every request it parsed, answers each with its own
//! method and target in the body, and answers 400 and closes on anything else — so
//! that a request it records is a request it really saw, however it was framed.
//!
//! Paths starting `/respond-` make it answer with a malformed response instead, for
//! the response-side cases.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running strict backend.
pub struct Strict {
    pub addr: SocketAddr,
    /// `METHOD TARGET` of every request parsed, in order.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Strict {
    /// Starts one on an ephemeral port.
    pub async fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").await.unwrap()).await
    }

    /// Starts one on `listener`.
    pub async fn on(listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&record)));
            }
        });
        Self { addr, seen }
    }

    /// What it has seen so far, and forgets it.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

async fn serve(mut stream: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let mut input = Vec::new();
    loop {
        let request = match next_request(&mut stream, &mut input).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(()) => {
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                return;
            }
        };
        seen.lock().unwrap().push(request.clone());
        let response = match request.split_once(' ').map(|(_, target)| target) {
            Some("/respond-cl-te") => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nfrom smuggled".to_vec(),
            Some("/respond-two-lengths") => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 39\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nfrom smuggled".to_vec(),
            _ => {
                let body = format!("seen {request}");
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
            }
        };
        if stream.write_all(&response).await.is_err() {
            return;
        }
    }
}

/// Reads more of `stream` into `input`: false at its end.
async fn more(stream: &mut TcpStream, input: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            input.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// The next whole request as `METHOD TARGET`, its body read and checked; `None` at
/// the end of the connection, an error for anything the RFC does not allow.
async fn next_request(stream: &mut TcpStream, input: &mut Vec<u8>) -> Result<Option<String>, ()> {
    let (head_len, request, framing) = loop {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut fields);
        match parsed.parse(input) {
            Ok(httparse::Status::Complete(n)) => {
                let framing = framing(&parsed)?;
                let request = format!("{} {}", parsed.method.ok_or(())?, parsed.path.ok_or(())?);
                break (n, request, framing);
            }
            Ok(httparse::Status::Partial) => {
                if !more(stream, input).await {
                    return if input.is_empty() { Ok(None) } else { Err(()) };
                }
            }
            Err(_) => return Err(()),
        }
    };
    input.drain(..head_len);
    match framing {
        Body::Length(length) => {
            while input.len() < length {
                if !more(stream, input).await {
                    return Err(());
                }
            }
            input.drain(..length);
        }
        Body::Chunked => loop {
            match chunked_end(input)? {
                Some(end) => {
                    input.drain(..end);
                    break;
                }
                None if !more(stream, input).await => return Err(()),
                None => {}
            }
        },
    }
    Ok(Some(request))
}

enum Body {
    Length(usize),
    Chunked,
}

/// The body's framing, strictly: HTTP/1.1 with exactly one `Host`; `chunked` alone,
/// or one `Content-Length` of digits, never both; no field value with a control
/// character.
fn framing(request: &httparse::Request) -> Result<Body, ()> {
    if request.version != Some(1) {
        return Err(());
    }
    let mut length = None;
    let mut chunked = false;
    let mut hosts = 0;
    for field in request.headers.iter() {
        if field
            .value
            .iter()
            .any(|&b| b < 0x20 && b != b'\t' || b == 0x7f)
        {
            return Err(());
        }
        let value = std::str::from_utf8(field.value).map_err(|_| ())?;
        if field.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if field.name.eq_ignore_ascii_case("content-length") {
            if length.is_some() || value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            length = Some(value.parse::<usize>().map_err(|_| ())?);
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            if chunked || value != "chunked" {
                return Err(());
            }
            chunked = true;
        }
    }
    match (hosts, chunked, length) {
        (1, true, None) => Ok(Body::Chunked),
        (1, false, length) => Ok(Body::Length(length.unwrap_or(0))),
        _ => Err(()),
    }
}

/// Where a chunked body at the start of `input` ends, if all of it is there; an error
/// when it is malformed (sizes of hex digits only, at most 8, no extensions or
/// trailers, CRLF after each chunk).
fn chunked_end(input: &[u8]) -> Result<Option<usize>, ()> {
    let mut at = 0;
    loop {
        let Some(line) = input[at..].windows(2).position(|w| w == b"\r\n") else {
            return if input.len() - at > 10 {
                Err(())
            } else {
                Ok(None)
            };
        };
        let size = &input[at..at + line];
        if size.is_empty() || size.len() > 8 || !size.iter().all(u8::is_ascii_hexdigit) {
            return Err(());
        }
        let size = usize::from_str_radix(std::str::from_utf8(size).map_err(|_| ())?, 16)
            .map_err(|_| ())?;
        at += line + 2;
        if input.len() < at + size + 2 {
            return Ok(None);
        }
        if &input[at + size..at + size + 2] != b"\r\n" {
            return Err(());
        }
        at += size + 2;
        if size == 0 {
            return Ok(Some(at));
        }
    }
}
