//! The out-of-band scrape of a cluster's endpoints: every interval, `GET` each
//! member's Prometheus metrics path, select the configured series and store their
//! values in the member's reported metrics.

use crate::config::model::ProxyProtocolVersion;
use crate::load_reports::collect::Collector;
use crate::load_reports::prometheus::{self, Selector};
use crate::net::{proxy_protocol, tcp};
use crate::tls::{self, Alpn, Originator};
use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use switchyard_policy::PolicyBinding;
use switchyard_policy::cluster::Member;
use switchyard_policy::cluster::clock::coarse_now_ns;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// Largest metrics body read from an endpoint.
pub const MAX_BODY: usize = 4 << 20;
/// Scrapes of one cluster in flight at once: the bodies held, and the probe thread's
/// time, stay bounded however many endpoints there are.
const CONCURRENT: usize = 8;

/// What to scrape, how often, and where the values go.
#[derive(Clone, Debug)]
pub struct ScrapeSpec {
    /// Path and query scraped on every endpoint.
    pub path: String,
    /// Time between scrapes of the cluster.
    pub interval: Duration,
    /// Longest one scrape may take, connect included.
    pub timeout: Duration,
    /// The series stored …
    pub selectors: Arc<[Selector]>,
    /// … each in this slot of the cluster's catalog.
    pub slots: Vec<usize>,
    /// TLS, when the cluster speaks it to its endpoints.
    pub tls: Option<Arc<Originator>>,
    /// The PROXY header the endpoints expect first, if they do (a `LOCAL` one is sent).
    pub proxy_protocol: Option<ProxyProtocolVersion>,
}

/// Scrapes the members of `binding`'s cluster every `spec.interval` until `stop` turns
/// true (or its sender goes), counting each scrape in `collector`.
pub async fn run(
    spec: ScrapeSpec,
    binding: Arc<PolicyBinding>,
    collector: Arc<Collector>,
    mut stop: watch::Receiver<bool>,
) {
    let spec = Arc::new(spec);
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
    let mut ticks = tokio::time::interval(spec.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        let membership = binding.current().membership();
        let mut scrapes = tokio::task::JoinSet::new();
        for index in 0..membership.len() {
            let (spec, membership) = (Arc::clone(&spec), Arc::clone(&membership));
            let slots = Arc::clone(&slots);
            scrapes.spawn(async move {
                let _slot = slots.acquire().await;
                let member = &membership.members()[index];
                let scraped = tokio::time::timeout(spec.timeout, scrape(member, &spec)).await;
                match scraped {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(reason)) => Err(format!("{}: {reason}", member.address)),
                    Err(_) => Err(format!(
                        "{}: no answer within {:?}",
                        member.address, spec.timeout
                    )),
                }
            });
        }
        while let Some(done) = scrapes.join_next().await {
            let outcome = done.unwrap_or_else(|e| Err(format!("scrape task failed: {e}")));
            if let Err(reason) = &outcome {
                tracing::debug!(
                    cluster = binding.cluster(),
                    "metrics scrape failed: {reason}"
                );
            }
            collector.count_scrape(outcome.is_ok());
        }
    }
}

/// Scrapes `member` once and stores what it reports.
async fn scrape(member: &Member, spec: &ScrapeSpec) -> Result<(), String> {
    let mut socket = tcp(member.socket, spec.timeout)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(version) = spec.proxy_protocol {
        let mut header = Vec::new();
        proxy_protocol::encode_local(version, &mut header);
        socket
            .write_all(&header)
            .await
            .map_err(|e| format!("sending the PROXY header: {e}"))?;
    }
    let body = match &spec.tls {
        None => get(socket, member, &spec.path).await?,
        Some(originator) => {
            let named = tls::server_name(member);
            let (stream, _) = originator
                .connect(socket, member.socket, named, Alpn::Http1)
                .await?;
            get(stream, member, &spec.path).await?
        }
    };
    // Parsing megabytes is not for the thread that also runs every health probe.
    let selectors = Arc::clone(&spec.selectors);
    let selection = tokio::task::spawn_blocking(move || {
        let text = std::str::from_utf8(&body).map_err(|_| "the metrics are not UTF-8")?;
        Ok::<_, &str>(prometheus::select(text, &selectors))
    })
    .await
    .map_err(|e| format!("parsing the metrics: {e}"))??;
    if let Some(store) = member.load.reported() {
        let now = coarse_now_ns();
        for (value, slot) in selection.values.iter().zip(&spec.slots) {
            if let Some(value) = value {
                store.record_at(*slot, *value, now);
            }
        }
    }
    Ok(())
}

/// `GET path` over `io`, on a connection of its own; the body when the status is 200.
async fn get<T>(io: T, member: &Member, path: &str) -> Result<Bytes, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = Request::get(path)
        .header(header::HOST, member.address.as_str())
        .header(header::USER_AGENT, "switchyard-scrape")
        .header(header::ACCEPT, "text/plain")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != http::StatusCode::OK {
        return Err(format!("status {}", response.status()));
    }
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading the metrics: {e}"))?;
    Ok(body.to_bytes())
}
