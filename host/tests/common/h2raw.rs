//! A raw HTTP/2 client for tests that need frames no well-behaved client sends:
//! streams never ended, floods of resets, CONTINUATION frames that never end a block.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Frame types (RFC 9113 §6).
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;
/// Flags.
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
/// Error codes.
pub const CANCEL: u32 = 0x8;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame as read.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// A connection that has sent the preface and an empty SETTINGS frame (and never
/// acknowledges the server's).
pub struct RawH2 {
    stream: TcpStream,
    input: Vec<u8>,
}

impl RawH2 {
    pub async fn connect(addr: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        stream.write_all(&hello).await.unwrap();
        Self {
            stream,
            input: Vec::new(),
        }
    }

    /// Sends `GET path` on `stream`, ended (no body).
    pub async fn get(&mut self, stream: u32, path: &str) -> bool {
        let block = request("GET", path);
        self.send(&frame(HEADERS, END_HEADERS | END_STREAM, stream, &block))
            .await
    }

    /// Opens `n` streams (1, 3, 5, …) with `POST path` and never ends them.
    pub async fn open_streams(&mut self, n: u32, path: &str) -> bool {
        let block = request("POST", path);
        let flood: Vec<u8> = (0..n)
            .flat_map(|i| frame(HEADERS, END_HEADERS, 2 * i + 1, &block))
            .collect();
        self.send(&flood).await
    }

    /// Writes `bytes` (frames built with [`frame`]); false once the peer has closed.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// The next frame, or `None` when the peer closed or nothing came within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Frame> {
        let read = async {
            loop {
                if self.input.len() >= 9 {
                    let len = u32::from_be_bytes([0, self.input[0], self.input[1], self.input[2]])
                        as usize;
                    if self.input.len() >= 9 + len {
                        let head: Vec<u8> = self.input.drain(..9).collect();
                        let payload = self.input.drain(..len).collect();
                        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
                        return Some(Frame {
                            kind: head[3],
                            flags: head[4],
                            stream: stream & 0x7fff_ffff,
                            payload,
                        });
                    }
                }
                let mut chunk = [0u8; 16384];
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                }
            }
        };
        tokio::time::timeout(wait, read).await.ok().flatten()
    }

    /// Whether the peer closes the connection within `wait` (frames before are read and
    /// dropped; PINGs are never answered).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            if self.next(left).await.is_none() {
                return tokio::time::Instant::now() < deadline;
            }
        }
    }

    /// Reads until a GOAWAY (its error code) or the end of the connection (`None`),
    /// within `wait`; panics if the connection is still open then.
    pub async fn until_goaway(&mut self, wait: Duration) -> Option<u32> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "the connection is still open after {wait:?}"
            );
            match self.next(left).await {
                Some(f) if f.kind == GOAWAY => {
                    return Some(u32::from_be_bytes([
                        f.payload[4],
                        f.payload[5],
                        f.payload[6],
                        f.payload[7],
                    ]));
                }
                Some(_) => {}
                None if tokio::time::Instant::now() >= deadline => {
                    panic!("the connection is still open after {wait:?}")
                }
                None => return None,
            }
        }
    }
}

/// A frame's bytes.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK header block of literal fields (never indexed, no Huffman coding), each
/// name and value under 127 bytes.
pub fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        assert!(name.len() < 127 && value.len() < 127);
        out.push(0x10);
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.push(value.len() as u8);
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// The header block of a request for `path`.
pub fn request(method: &str, path: &str) -> Vec<u8> {
    header_block(&[
        (":method", method),
        (":scheme", "http"),
        (":path", path),
        (":authority", "switchyard.test"),
    ])
}

/// A RST_STREAM frame with `code`.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}
