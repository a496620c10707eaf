//! The demo's clients: keep-alive HTTP/1.1 connections sending GETs through the proxy,
//! counting what they sent and what failed.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;
use tokio::task::JoinSet;

/// Counts shared by the clients.
#[derive(Default)]
struct Counts {
    /// Requests started (the next one's number).
    started: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
    /// Clients still sending.
    running: AtomicUsize,
    stop: AtomicBool,
}

/// Clients sending requests until they have sent `limit` between them, or are stopped.
pub struct Traffic {
    counts: Arc<Counts>,
    clients: JoinSet<anyhow::Result<()>>,
}

impl Traffic {
    /// Starts `connections` clients to `addr`, each pausing `pace` between requests,
    /// until `limit` requests were sent (if any).
    pub fn start(
        addr: SocketAddr,
        connections: usize,
        limit: Option<usize>,
        pace: Duration,
    ) -> Self {
        let counts = Arc::new(Counts::default());
        let mut clients = JoinSet::new();
        counts.running.store(connections, Relaxed);
        for _ in 0..connections {
            let counts = Arc::clone(&counts);
            clients.spawn(async move {
                let result = client(addr, &counts, limit.unwrap_or(usize::MAX), pace).await;
                counts.running.fetch_sub(1, Relaxed);
                result
            });
        }
        Self { counts, clients }
    }

    /// Requests answered or failed so far.
    pub fn done(&self) -> usize {
        self.counts.done.load(Relaxed)
    }

    /// Whether any client is still sending (one that could not connect has stopped).
    pub fn running(&self) -> bool {
        self.counts.running.load(Relaxed) > 0
    }

    /// Requests that failed so far.
    pub fn failed(&self) -> usize {
        self.counts.failed.load(Relaxed)
    }

    /// Waits until every client is done (its limit reached or stopped); a client
    /// that could not connect is an error.
    pub async fn finish(mut self) -> anyhow::Result<usize> {
        while let Some(result) = self.clients.join_next().await {
            result??;
        }
        Ok(self.failed())
    }

    /// Stops the clients after their current requests; what failed in all.
    pub async fn stop(self) -> anyhow::Result<usize> {
        self.counts.stop.store(true, Relaxed);
        self.finish().await
    }
}

/// One connection sending requests in turn; a request that fails (no answer, or not
/// 2xx) counts as failed, and a broken connection is replaced.
async fn client(
    addr: SocketAddr,
    counts: &Counts,
    limit: usize,
    pace: Duration,
) -> anyhow::Result<()> {
    'connect: while !counts.stop.load(Relaxed) {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut send, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        while !counts.stop.load(Relaxed) && counts.started.fetch_add(1, Relaxed) < limit {
            let request = http::Request::get("/")
                .header(http::header::HOST, "demo")
                .body(Empty::<Bytes>::new())?;
            let ok = match send.send_request(request).await {
                Ok(response) => {
                    let ok = response.status().is_success();
                    response.into_body().collect().await.is_ok() && ok
                }
                Err(_) => false,
            };
            if !ok {
                counts.failed.fetch_add(1, Relaxed);
            }
            counts.done.fetch_add(1, Relaxed);
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
            if !ok || send.is_closed() {
                continue 'connect;
            }
        }
        break;
    }
    Ok(())
}
