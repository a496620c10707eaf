//! HTTP/2 clients cannot make the proxy hold more than a listener allows: streams per
//! connection, header list size, and the known floods (rapid reset, CONTINUATION).

use crate::common::backend;
use crate::common::h2raw::{self, CONTINUATION, END_HEADERS, END_STREAM, HEADERS, RawH2};
use crate::common::proxy;
use crate::setup;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// 500 streams opened on one connection and never ended: the endpoint sees at most
/// `h2_max_concurrent_streams` of them at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_the_limit_never_reach_the_endpoint() {
    let (held, counts) = backend::holding().await;
    let proxy = proxy(&setup("h2_max_concurrent_streams = 50", "", &[held.addr]));
    let web = proxy.listener_addr("web").unwrap();
    let mut client = RawH2::connect(web).await;
    assert!(client.open_streams(500, "/upload").await);
    let started = std::time::Instant::now();
    while counts.now.load(Relaxed) < 50 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let peak = counts.peak.load(Relaxed);
    assert_eq!(peak, 50, "held at once by the endpoint");
}

/// The default is 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_stream_limit_is_100() {
    let (held, counts) = backend::holding().await;
    let proxy = proxy(&setup("", "", &[held.addr]));
    let mut client = RawH2::connect(proxy.listener_addr("web").unwrap()).await;
    assert!(client.open_streams(300, "/upload").await);
    let started = std::time::Instant::now();
    while counts.now.load(Relaxed) < 100 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counts.peak.load(Relaxed), 100);
}

/// Streams opened and reset at once, over and over (CVE-2023-44487): the connection is
/// ended with GOAWAY `ENHANCE_YOUR_CALM`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_is_answered_with_goaway() {
    let a = backend::named("a", Duration::from_millis(50)).await;
    let proxy = proxy(&setup("", "", &[a.addr]));
    let mut client = RawH2::connect(proxy.listener_addr("web").unwrap()).await;
    let mut flood = Vec::new();
    for i in 0..2_000u32 {
        let block = h2raw::request("GET", "/");
        flood.extend(h2raw::frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            2 * i + 1,
            &block,
        ));
        flood.extend(h2raw::rst_stream(2 * i + 1, h2raw::CANCEL));
    }
    client.send(&flood).await;
    let code = client.until_goaway(Duration::from_secs(10)).await;
    assert_eq!(code, Some(h2raw::ENHANCE_YOUR_CALM));
    assert!(
        a.hits.load(Relaxed) < 1_000,
        "{} reached the endpoint",
        a.hits.load(Relaxed)
    );
}

/// A header block continued without end: the connection is cut off long before the
/// client stops sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_flood_is_cut_off() {
    let a = backend::named("a", Duration::ZERO).await;
    let proxy = proxy(&setup("", "", &[a.addr]));
    let mut client = RawH2::connect(proxy.listener_addr("web").unwrap()).await;
    let block = h2raw::request("GET", "/");
    let mut flood = h2raw::frame(HEADERS, 0, 1, &block);
    let field = h2raw::header_block(&[("x-flood", "y")]);
    for _ in 0..10_000 {
        flood.extend(h2raw::frame(CONTINUATION, 0, 1, &field));
    }
    // The proxy may close before it has read all of it.
    client.send(&flood).await;
    client.until_goaway(Duration::from_secs(10)).await;
    assert_eq!(a.hits.load(Relaxed), 0);
}

/// A header list over the listener's `max_header_bytes` is refused on its stream and
/// never reaches the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_list_over_the_limit_never_reaches_the_endpoint() {
    let a = backend::named("a", Duration::ZERO).await;
    let proxy = proxy(&setup("max_header_bytes = 8192", "", &[a.addr]));
    let mut client = RawH2::connect(proxy.listener_addr("web").unwrap()).await;
    let value = "v".repeat(100);
    let mut fields = vec![
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "switchyard.test"),
    ];
    let names: Vec<String> = (0..100).map(|i| format!("x-big-{i}")).collect();
    fields.extend(names.iter().map(|n| (n.as_str(), value.as_str())));
    let block = h2raw::header_block(&fields);
    assert!(block.len() > 8192 && block.len() < 16384);
    client
        .send(&h2raw::frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
        .await;
    let answer = loop {
        let frame = client
            .next(Duration::from_secs(5))
            .await
            .expect("an answer");
        if frame.stream == 1 {
            break frame;
        }
    };
    assert!(
        matches!(answer.kind, HEADERS | h2raw::RST_STREAM),
        "{answer:?}"
    );
    assert_eq!(a.hits.load(Relaxed), 0);
}
