//! Request smuggling (HTTP desync), case by case, on raw sockets: each case is sent on
//! a connection of its own to a proxy in front of a strict backend that records every
//! request it parsed. No case may make the backend see a request the client never
//! completed (each case hides `GET /smuggled` where a lax parser would find it), and a
//! victim request on a fresh connection after each case must get its own answer.
//!
//! The same cases run against nginx and HAProxy with `benches/desync.sh`, which starts
//! them and then runs the ignored `desync_side_by_side` here, printing the three side
//! by side.

use crate::common::client::raw_request;
use crate::common::proxy;
use crate::common::strict::Strict;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The request a lax parser would find inside each case.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/// One case: what the client sends, and the targets the backend may see.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    allowed: &'static [&'static str],
}

/// `head` (request line and fields, without the final empty line) and `body`.
fn message(head: &str, body: &str) -> Vec<u8> {
    format!("{head}\r\n\r\n{body}").into_bytes()
}

/// A chunked body holding `data` in one chunk.
fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n0\r\n\r\n", data.len())
}

fn cases() -> Vec<Case> {
    let zero_then = format!("0\r\n\r\n{SMUGGLED}");
    let len = |body: &str| body.len();
    let post = |target: &str, fields: &str, body: &str| {
        message(
            &format!("POST {target} HTTP/1.1\r\nHost: x\r\n{fields}"),
            body,
        )
    };
    vec![
        Case {
            name: "CL.TE",
            bytes: post(
                "/a",
                &format!(
                    "Content-Length: {}\r\nTransfer-Encoding: chunked",
                    len(&zero_then)
                ),
                &zero_then,
            ),
            allowed: &["/a"],
        },
        Case {
            name: "TE.CL",
            bytes: post(
                "/a",
                "Content-Length: 4\r\nTransfer-Encoding: chunked",
                &chunk(SMUGGLED),
            ),
            allowed: &["/a"],
        },
        Case {
            name: "two Content-Lengths",
            bytes: post(
                "/a",
                &format!("Content-Length: 0\r\nContent-Length: {}", len(SMUGGLED)),
                SMUGGLED,
            ),
            allowed: &["/a"],
        },
        Case {
            name: "Content-Length list",
            bytes: post(
                "/a",
                &format!("Content-Length: 0, {}", len(SMUGGLED)),
                SMUGGLED,
            ),
            allowed: &["/a"],
        },
        Case {
            name: "Content-Length +N",
            bytes: post(
                "/a",
                &format!("Content-Length: +{}", len(SMUGGLED)),
                SMUGGLED,
            ),
            allowed: &["/a"],
        },
        Case {
            name: "Content-Length 0x",
            bytes: post(
                "/a",
                &format!("Content-Length: 0x{:x}", len(SMUGGLED)),
                SMUGGLED,
            ),
            allowed: &["/a"],
        },
        Case {
            name: "Content-Length -1",
            bytes: post("/a", "Content-Length: -1", SMUGGLED),
            allowed: &["/a"],
        },
        Case {
            name: "TE xchunked",
            bytes: post("/a", "Transfer-Encoding: xchunked", &chunk(SMUGGLED)),
            allowed: &["/a"],
        },
        Case {
            name: "TE space before colon",
            bytes: post("/a", "Transfer-Encoding : chunked", &zero_then),
            allowed: &["/a"],
        },
        Case {
            name: "TE obs-fold",
            bytes: post("/a", "X: y\r\nTransfer-Encoding:\r\n chunked", &zero_then),
            allowed: &["/a"],
        },
        Case {
            name: "TE vertical tab",
            bytes: post("/a", "Transfer-Encoding:\x0bchunked", &zero_then),
            allowed: &["/a"],
        },
        Case {
            name: "TE chunked, identity",
            bytes: post("/a", "Transfer-Encoding: chunked, identity", &zero_then),
            allowed: &["/a"],
        },
        Case {
            name: "HTTP/1.0 with TE",
            bytes: message(
                "POST /a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked",
                &zero_then,
            ),
            allowed: &["/a"],
        },
        Case {
            name: "chunk size overflow",
            bytes: post(
                "/a",
                "Transfer-Encoding: chunked",
                &format!(
                    "10000000000000000{}\r\n{SMUGGLED}\r\n0\r\n\r\n",
                    "0".repeat(4)
                ),
            ),
            allowed: &["/a"],
        },
        Case {
            name: "bare CR in a field",
            bytes: post("/a", "X: a\rTransfer-Encoding: chunked", &zero_then),
            allowed: &["/a"],
        },
        Case {
            name: "bare LF in a field",
            bytes: post("/a", "X: a\nTransfer-Encoding: chunked", &zero_then),
            allowed: &["/a"],
        },
        Case {
            name: "NUL in a field",
            bytes: post("/a", "X: a\0b\r\nTransfer-Encoding: chunked", &zero_then),
            allowed: &["/a"],
        },
        Case {
            name: "Connection: Content-Length",
            bytes: post(
                "/a",
                &format!(
                    "Connection: Content-Length\r\nContent-Length: {}",
                    len(SMUGGLED)
                ),
                SMUGGLED,
            ),
            allowed: &["/a"],
        },
        Case {
            name: "pipelined",
            bytes: message(
                "GET /a HTTP/1.1\r\nHost: x",
                "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
            ),
            allowed: &["/a", "/b"],
        },
        Case {
            name: "response CL + TE",
            bytes: message("GET /respond-cl-te HTTP/1.1\r\nHost: x", ""),
            allowed: &["/respond-cl-te"],
        },
        Case {
            name: "response two lengths",
            bytes: message("GET /respond-two-lengths HTTP/1.1\r\nHost: x", ""),
            allowed: &["/respond-two-lengths"],
        },
    ]
}

/// What one case did through one proxy.
struct Outcome {
    /// Statuses the client got, in order, or `closed`.
    answers: String,
    /// Targets the backend saw that the client never sent as a request.
    smuggled: Vec<String>,
    /// Whether the victim after it got its own answer.
    victim_ok: bool,
}

impl Outcome {
    fn clean(&self) -> bool {
        self.smuggled.is_empty() && self.victim_ok
    }

    fn describe(&self) -> String {
        let mut text = self.answers.clone();
        if !self.smuggled.is_empty() {
            text += &format!(" SMUGGLED {}", self.smuggled.join(","));
        }
        if !self.victim_ok {
            text += " VICTIM-WRONG";
        }
        text
    }
}

/// Everything `stream` sends until it closes or is quiet for 300 ms.
async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 8192];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(300), stream.read(&mut chunk)).await
    {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    got
}

/// The statuses of the responses in `bytes`.
fn statuses(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let found: Vec<&str> = text
        .match_indices("HTTP/1.")
        .filter_map(|(at, _)| text.get(at + 9..at + 12))
        .filter(|code| code.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    if found.is_empty() {
        "closed".into()
    } else {
        found.join(" ")
    }
}

async fn run(proxy: SocketAddr, backend: &Strict, case: &Case, index: usize) -> Outcome {
    backend.take();
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let _ = stream.write_all(&case.bytes).await;
    let answers = statuses(&read_all(&mut stream).await);
    drop(stream);
    let victim = format!("/victim-{index}");
    let request = format!("GET {victim} HTTP/1.1\r\nHost: x\r\n\r\n");
    let answer = raw_request(proxy, request.as_bytes()).await;
    let victim_ok =
        answer.starts_with("HTTP/1.1 200") && answer.ends_with(&format!("seen GET {victim}"));
    let smuggled = backend
        .take()
        .into_iter()
        .filter_map(|seen| seen.split_once(' ').map(|(_, target)| target.to_string()))
        .filter(|target| *target != victim && !case.allowed.contains(&target.as_str()))
        .collect();
    Outcome {
        answers,
        smuggled,
        victim_ok,
    }
}

/// Switchyard (one worker, so that the victim reuses the pooled upstream connection a
/// case may have left something on) in front of `backend`.
fn switchyard_before(backend: SocketAddr) -> switchyard::app::App {
    proxy(&format!(
        "workers = 1\n[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         header_read_timeout = \"1s\"\n\
         [[clusters]]\nname = \"api\"\npolicy = \"round-robin\"\n\
         endpoints = [{{ address = \"{backend}\" }}]\n"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_case_smuggles_a_request_or_misroutes_a_victim() {
    let backend = Strict::start().await;
    let proxy = switchyard_before(backend.addr);
    let web = proxy.listener_addr("web").unwrap();
    let mut failed = Vec::new();
    for (i, case) in cases().iter().enumerate() {
        let outcome = run(web, &backend, case, i).await;
        eprintln!("{:<28} {}", case.name, outcome.describe());
        if !outcome.clean() {
            failed.push(format!("{}: {}", case.name, outcome.describe()));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

/// With `DESYNC_BACKEND` (where to start the strict backend) and `DESYNC_PROXIES`
/// (`name=addr,...`, proxies already running in front of that address), prints every
/// case through Switchyard and each of them. Run by `benches/desync.sh`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx and HAProxy running: benches/desync.sh"]
async fn desync_side_by_side() {
    let backend_addr = std::env::var("DESYNC_BACKEND").expect("DESYNC_BACKEND");
    let listener = tokio::net::TcpListener::bind(&backend_addr).await.unwrap();
    let backend = Strict::on(listener).await;
    let proxy = switchyard_before(backend.addr);
    let mut proxies = vec![(
        "switchyard".to_string(),
        proxy.listener_addr("web").unwrap(),
    )];
    for entry in std::env::var("DESYNC_PROXIES")
        .unwrap_or_default()
        .split(',')
    {
        if let Some((name, addr)) = entry.split_once('=') {
            proxies.push((name.to_string(), addr.parse().unwrap()));
        }
    }
    let mut header = format!("{:<28}", "case");
    for (name, _) in &proxies {
        header += &format!(" {name:<26}");
    }
    println!("{header}");
    let mut clean = vec![0; proxies.len()];
    let cases = cases();
    for (i, case) in cases.iter().enumerate() {
        let mut line = format!("{:<28}", case.name);
        for (p, (_, addr)) in proxies.iter().enumerate() {
            let outcome = run(*addr, &backend, case, i).await;
            clean[p] += usize::from(outcome.clean());
            line += &format!(" {:<26}", outcome.describe());
        }
        println!("{line}");
    }
    let mut totals = format!("{:<28}", "clean");
    for count in clean {
        totals += &format!(" {:<26}", format!("{count} of {}", cases.len()));
    }
    println!("{totals}");
}
