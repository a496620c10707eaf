//! A small client of a running proxy's admin API, for the commands that act on it
//! (`switchyard policy stage|promote|rollback --admin URL`): one plain HTTP/1.1
//! request per connection, with a bearer token when the proxy needs one.

use crate::config::read_token;
use anyhow::{Context, bail};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Most a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most an answer may take: staging compiles the candidate.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest answer read.
const MAX_ANSWER_BYTES: u64 = 16 << 20;

/// Where the admin API is, and how to get in.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// The running proxy's admin API, such as `http://127.0.0.1:9901` (its
    /// `[admin] listen`).
    #[arg(long, value_name = "URL")]
    admin: String,
    /// A file holding the admin token (`[admin] token_file`), when the proxy has one.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

impl AdminArgs {
    /// Sends `POST path` and answers the status and the JSON body.
    pub fn post(&self, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        let authority = authority(&self.admin)?;
        let token = match &self.token_file {
            Some(file) => Some(read_token(file).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let addr = authority
            .to_socket_addrs()
            .with_context(|| format!("--admin {}: resolving {authority}", self.admin))?
            .next()
            .with_context(|| format!("--admin {}: {authority} has no address", self.admin))?;
        let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .with_context(|| format!("connecting to the admin API at {addr}"))?;
        stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
        let authorization = token
            .map(|t| format!("authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: {authority}\r\n{authorization}content-length: 0\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes())?;
        let mut answer = Vec::new();
        stream
            .take(MAX_ANSWER_BYTES)
            .read_to_end(&mut answer)
            .with_context(|| format!("reading the admin API's answer from {addr}"))?;
        parse_answer(&answer)
    }
}

/// `host:port` of an `http://host:port[/]` URL.
fn authority(url: &str) -> anyhow::Result<String> {
    if url.starts_with("https://") {
        bail!(
            "--admin {url}: the admin API speaks plain HTTP; use http:// (and keep it on loopback or behind a token)"
        );
    }
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
        bail!("--admin {url}: expected http://HOST:PORT, such as http://127.0.0.1:9901");
    }
    Ok(authority.to_string())
}

/// The status and JSON body of a whole HTTP/1.1 answer read to its end.
fn parse_answer(answer: &[u8]) -> anyhow::Result<(u16, serde_json::Value)> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the admin API's answer has no end of head")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("not an HTTP answer: {:?}", head.lines().next()))?;
    // A chunked body would need decoding: the admin API always sends a length.
    let body = serde_json::from_str(body.trim())
        .with_context(|| format!("the admin API answered {status} without JSON: {body:?}"))?;
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_answers() {
        assert_eq!(
            authority("http://127.0.0.1:9901/").unwrap(),
            "127.0.0.1:9901"
        );
        assert_eq!(authority("localhost:9901").unwrap(), "localhost:9901");
        for bad in ["https://x:1", "http://x", "http://x:1/admin", ""] {
            assert!(authority(bad).is_err(), "{bad}");
        }
        let (status, body) =
            parse_answer(b"HTTP/1.1 409 Conflict\r\ncontent-length: 12\r\n\r\n{\"a\": true}\n")
                .unwrap();
        assert_eq!((status, body["a"].as_bool()), (409, Some(true)));
        assert!(parse_answer(b"garbage").is_err());
    }
}
