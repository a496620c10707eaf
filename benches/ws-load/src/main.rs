//! `ws-load`: the WebSocket echo server and load client of `benches/ws-load.sh`.
//!
//! ```text
//! ws-load echo 127.0.0.1:PORT [--threads N]
//! ws-load run ws://127.0.0.1:PORT/PATH [--connections 32] [--size 64] [--seconds 10] [--threads N]
//! ws-load idle ws://127.0.0.1:PORT/PATH [--connections 1000] [--threads N]
//! ```
//!
//! - `echo` serves WebSockets on the address: every text and binary message is sent
//!   back as it came; pings are answered (by the library, as it reads) and close frames
//!   too. It runs until killed.
//! - `run` opens every connection first (all must open, or it exits with status 1 and
//!   the reason), then for `--seconds` each connection sends one binary message of
//!   `--size` bytes and waits for its echo, in a loop. Its last line on stdout is
//!   `messages_per_sec=X p50_us=X p99_us=X errors=X messages=X seconds=X`: round trips
//!   completed within the time (a round trip the clock cuts short is not counted), the
//!   median and 99th percentile of their durations, the connections that failed during
//!   the run (each stops at its failure; the reasons go to stderr). Exit status 1 when no
//!   message made it (or a connection failed to open).
//! - `idle` opens `--connections` WebSockets (at most [`OPENING`] handshakes at once),
//!   completes one 64-byte echo on each, prints `ready N` and holds them until killed
//!   (a connection the server closes meanwhile is reported on stderr). Exit status 1,
//!   without `ready`, when any failed. The descriptor limit is the caller's (`ulimit -n`).
//!
//! `--threads` (default 1) is the number of runtime threads: one is a single-threaded
//! runtime, as the proxies measured against each other get one worker each.

use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, accept_async, client_async};

/// How many WebSocket handshakes `idle` has in flight at once, so that no listen backlog
/// on the way is overrun.
const OPENING: usize = 100;
/// Bounds opening one connection, handshake included, and `idle`'s echo on it.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// The echo server's listen backlog.
const BACKLOG: u32 = 4096;

const USAGE: &str = "usage:
  ws-load echo 127.0.0.1:PORT [--threads N]
  ws-load run ws://HOST:PORT/PATH [--connections 32] [--size 64] [--seconds 10] [--threads N]
  ws-load idle ws://HOST:PORT/PATH [--connections 1000] [--threads N]";

/// A client connection.
type Ws = WebSocketStream<TcpStream>;

/// What to do, from the command line.
enum Command {
    /// Serve WebSocket echo on `addr`.
    Echo { addr: SocketAddr },
    /// Round trips of `size`-byte messages on `connections` WebSockets for `seconds`.
    Run {
        url: String,
        connections: usize,
        size: usize,
        seconds: f64,
    },
    /// Open and hold `connections` WebSockets.
    Idle { url: String, connections: usize },
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, threads) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(reason) => {
            eprintln!("ws-load: {reason}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ws-load: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match command {
            Command::Echo { addr } => echo(addr).await,
            Command::Run {
                url,
                connections,
                size,
                seconds,
            } => run(&url, connections, size, seconds).await,
            Command::Idle { url, connections } => idle(&url, connections).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("ws-load: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// The command and the runtime's thread count, or why the arguments are wrong.
fn parse(args: &[String]) -> Result<(Command, usize), String> {
    let (Some(command), Some(target)) = (args.first(), args.get(1)) else {
        return Err("a command and its address are needed".into());
    };
    let allowed: &[&str] = match command.as_str() {
        "echo" => &["threads"],
        "run" => &["connections", "size", "seconds", "threads"],
        "idle" => &["connections", "threads"],
        other => return Err(format!("unknown command {other:?}")),
    };
    let mut options = BTreeMap::new();
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        let name = flag
            .strip_prefix("--")
            .filter(|name| allowed.contains(name))
            .ok_or_else(|| format!("{command}: unexpected argument {flag:?}"))?;
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        options.insert(name, value.as_str());
    }
    let number = |name: &str, default: usize| -> Result<usize, String> {
        match options.get(name) {
            None => Ok(default),
            Some(value) => match value.parse() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!(
                    "--{name} must be a positive integer, not {value:?}"
                )),
            },
        }
    };
    let threads = number("threads", 1)?;
    if command != "echo" {
        authority(target)?;
    }
    let command = match command.as_str() {
        "echo" => Command::Echo {
            addr: target
                .parse()
                .map_err(|_| format!("echo: {target:?} is not an IP:PORT address"))?,
        },
        "run" => Command::Run {
            url: target.clone(),
            connections: number("connections", 32)?,
            size: number("size", 64)?,
            seconds: match options.get("seconds").map(|value| value.parse::<f64>()) {
                None => 10.0,
                Some(Ok(seconds)) if seconds > 0.0 && seconds.is_finite() => seconds,
                Some(_) => return Err("--seconds must be a positive number".into()),
            },
        },
        _ => Command::Idle {
            url: target.clone(),
            connections: number("connections", 1000)?,
        },
    };
    Ok((command, threads))
}

/// Serves WebSocket echo on `addr` until killed.
async fn echo(addr: SocketAddr) -> Result<(), String> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    };
    let listener = socket
        .and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(BACKLOG)
        })
        .map_err(|e| format!("echo: listen on {addr}: {e}"))?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_echo(stream));
            }
            Err(e) => {
                // Out of descriptors, most likely: wait for some to be freed.
                eprintln!("ws-load: echo: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Echoes the text and binary messages of one connection until it ends.
async fn serve_echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = accept_async(stream).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            return;
        }
    }
}

/// The HOST:PORT of a `ws://HOST:PORT/PATH` URL.
fn authority(url: &str) -> Result<&str, String> {
    url.strip_prefix("ws://")
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .filter(|authority| !authority.is_empty())
        .ok_or_else(|| format!("{url:?} is not a ws://HOST:PORT/PATH URL"))
}

/// Opens a WebSocket to `url` (`ws://HOST:PORT/PATH`), within [`OPEN_TIMEOUT`].
async fn open(url: &str) -> Result<Ws, String> {
    let authority = authority(url)?;
    let handshake = async {
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|e| format!("connect to {authority}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (ws, _response) = client_async(url, stream)
            .await
            .map_err(|e| format!("WebSocket handshake with {url}: {e}"))?;
        Ok(ws)
    };
    timeout(OPEN_TIMEOUT, handshake)
        .await
        .unwrap_or_else(|_| Err(format!("opening {url}: no answer in {OPEN_TIMEOUT:?}")))
}

/// Sends `message` (binary) and waits for its echo: a binary message of the same length.
async fn round_trip(ws: &mut Ws, message: Message) -> Result<(), String> {
    let size = message.len();
    ws.send(message).await.map_err(|e| format!("send: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(data))) if data.len() == size => return Ok(()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("the server closed the WebSocket ({frame:?})"));
            }
            Some(Ok(other)) => {
                return Err(format!(
                    "expected a {size}-byte binary echo, got {} bytes ({})",
                    other.len(),
                    if other.is_text() { "text" } else { "binary" }
                ));
            }
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("the server closed the connection".into()),
        }
    }
}

/// Opens `count` connections to `url`, at most `window` handshakes at once, and with
/// `echo_first` completes one 64-byte echo on each; if any fails, the reasons of every
/// failed one, counted.
async fn open_all(
    url: &str,
    count: usize,
    window: usize,
    echo_first: bool,
) -> Result<Vec<Ws>, String> {
    let gate = Arc::new(Semaphore::new(window));
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (gate, url) = (Arc::clone(&gate), url.to_owned());
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                let mut ws = open(&url).await?;
                if echo_first {
                    let first = round_trip(&mut ws, Message::binary(vec![0x5a; 64]));
                    timeout(OPEN_TIMEOUT, first)
                        .await
                        .unwrap_or_else(|_| Err(format!("no answer in {OPEN_TIMEOUT:?}")))
                        .map_err(|reason| format!("first echo: {reason}"))?;
                }
                Ok(ws)
            })
        })
        .collect();
    let mut opened = Vec::with_capacity(count);
    let mut failures = BTreeMap::new();
    for task in tasks {
        match task.await.unwrap_or_else(|e| Err(format!("task: {e}"))) {
            Ok(ws) => opened.push(ws),
            Err(reason) => *failures.entry(reason).or_insert(0) += 1,
        }
    }
    if failures.is_empty() {
        Ok(opened)
    } else {
        let failed = count - opened.len();
        Err(format!(
            "{failed} of {count} connections failed to open:{}",
            counted(&failures)
        ))
    }
}

/// Failure reasons, one per line, each with its count.
fn counted(failures: &BTreeMap<String, usize>) -> String {
    failures
        .iter()
        .map(|(reason, n)| format!("\n  {n:6}  {reason}"))
        .collect()
}

/// What one connection of `run` did: its round trips' durations in µs, and why it
/// stopped early if it did.
struct Outcome {
    latencies: Vec<u32>,
    error: Option<String>,
}

/// The `run` command: prints the figures line, or fails when no message made it.
async fn run(url: &str, connections: usize, size: usize, seconds: f64) -> Result<(), String> {
    let opened = open_all(url, connections, connections, false).await?;
    let message = Message::binary(vec![0x5a; size]);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = opened
        .into_iter()
        .map(|ws| tokio::spawn(hammer(ws, message.clone(), deadline)))
        .collect();
    let mut latencies = Vec::new();
    let mut failures = BTreeMap::new();
    for task in tasks {
        let outcome = task.await.unwrap_or_else(|e| Outcome {
            latencies: Vec::new(),
            error: Some(format!("task: {e}")),
        });
        latencies.extend(outcome.latencies);
        if let Some(reason) = outcome.error {
            *failures.entry(reason).or_insert(0) += 1;
        }
    }
    let errors: usize = failures.values().sum();
    if errors > 0 {
        eprintln!(
            "ws-load: {errors} of {connections} connections failed during the run:{}",
            counted(&failures)
        );
    }
    if latencies.is_empty() {
        return Err(format!("no message made it through {url} in {seconds} s"));
    }
    latencies.sort_unstable();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "messages_per_sec={:.0} p50_us={} p99_us={} errors={errors} messages={} seconds={seconds}",
        latencies.len() as f64 / seconds,
        percentile(50),
        percentile(99),
        latencies.len(),
    );
    Ok(())
}

/// One connection of `run`: round trips of `message` until `deadline` or a failure;
/// then the WebSocket is closed (without waiting for the server's close frame).
async fn hammer(mut ws: Ws, message: Message, deadline: Instant) -> Outcome {
    let mut latencies = Vec::new();
    let mut error = None;
    loop {
        let sent = Instant::now();
        match timeout_at(deadline, round_trip(&mut ws, message.clone())).await {
            Ok(Ok(())) => latencies.push(sent.elapsed().as_micros().min(u32::MAX.into()) as u32),
            Ok(Err(reason)) => {
                error = Some(reason);
                break;
            }
            Err(_deadline) => break,
        }
    }
    if error.is_none() {
        let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
    }
    Outcome { latencies, error }
}

/// The `idle` command: opens and holds `count` connections; returns only on a failure.
async fn idle(url: &str, count: usize) -> Result<(), String> {
    let held = open_all(url, count, OPENING, true).await?;
    println!("ready {count}");
    let _ = std::io::stdout().flush();
    // Hold them, reading each, so that a connection the server ends is noticed.
    for (i, mut ws) in held.into_iter().enumerate() {
        tokio::spawn(async move {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        eprintln!("ws-load: idle: held connection {i}: {e}");
                        return;
                    }
                }
            }
            eprintln!("ws-load: idle: the server closed held connection {i}");
        });
    }
    std::future::pending().await
}
