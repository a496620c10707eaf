//! Nothing a client opens may stay open doing nothing: a connection that never says
//! what it speaks, a keep-alive connection between requests (HTTP/1.1 and HTTP/2), a
//! response body that stops moving because the endpoint stalls or the client stops
//! reading.

use crate::common::backend;
use crate::common::client::{raw_request, raw_response, until_closed};
use crate::common::h2raw::{self, RawH2};
use crate::common::proxy;
use crate::setup;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_by_the_header_read_timeout() {
    let a = backend::named("a", Duration::ZERO).await;
    let proxy = proxy(&setup("header_read_timeout = \"300ms\"", "", &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    for sent in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
        let mut stream = TcpStream::connect(web).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let (took, _) = until_closed(&mut stream, Duration::from_secs(5)).await;
        assert!(took < Duration::from_secs(2), "{sent:?}: {took:?}");
    }
}

/// Between requests an HTTP/1.1 connection may idle for `idle_timeout`, longer than the
/// header read timeout; once a request has started, its head must come within the
/// header read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_idles_for_the_idle_timeout() {
    let a = backend::named("a", Duration::ZERO).await;
    let listener = "header_read_timeout = \"300ms\"\nidle_timeout = \"1200ms\"";
    let proxy = proxy(&setup(listener, "", &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    let mut stream = TcpStream::connect(web).await.unwrap();
    let get = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    assert!(
        raw_response(&mut stream, get)
            .await
            .starts_with("HTTP/1.1 200")
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let again = raw_response(&mut stream, get).await;
    assert!(
        again.starts_with("HTTP/1.1 200"),
        "idle past the header read timeout: {again:?}"
    );
    let (took, _) = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        took >= Duration::from_millis(1100) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // A head begun and not finished: 408 after the header read timeout.
    let mut stream = TcpStream::connect(web).await.unwrap();
    assert!(
        raw_response(&mut stream, get)
            .await
            .starts_with("HTTP/1.1 200")
    );
    let answer = raw_response(&mut stream, b"GET / HTTP/1.1\r\nHo").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
}

/// An HTTP/2 connection with no stream open is ended with GOAWAY after `idle_timeout`;
/// one with a stream open is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_gets_goaway() {
    let a = backend::named("a", Duration::ZERO).await;
    let first = proxy(&setup("idle_timeout = \"500ms\"", "", &[a.addr]));
    let web = first.listener_addr("web").unwrap();
    let mut client = RawH2::connect(web).await;
    assert!(client.get(1, "/").await);
    let started = Instant::now();
    let code = client.until_goaway(Duration::from_secs(5)).await;
    assert_eq!(code, Some(0), "GOAWAY with NO_ERROR");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(450), "{took:?}");
    // A client that never acknowledges the GOAWAY's PING is cut off all the same.
    let closed = client.closed_within(Duration::from_secs(3)).await;
    assert!(closed, "the connection stays open after GOAWAY");

    // A request whose response takes longer than the idle timeout is not cut off.
    let slow = backend::named("slow", Duration::from_millis(1200)).await;
    let second = proxy(&setup("idle_timeout = \"500ms\"", "", &[slow.addr]));
    let (status, _, body) =
        crate::common::client::get(second.listener_addr("web").unwrap(), "/", true).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "slow"));
}

/// An endpoint that stops in the middle of its response body: the response is cut off
/// after `body_idle`, on both forwarding paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_body_that_stalls_is_cut_off() {
    let stalling = backend::scripted(|_, _| {
        Some((
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b".to_vec(),
            false,
        ))
    })
    .await;
    let cluster = "protocol = \"http1\"\n[clusters.timeouts]\nbody_idle = \"300ms\"";
    let proxy = proxy(&setup("", cluster, &[stalling.addr]));
    let web = proxy.listener_addr("web").unwrap();
    // The fast path.
    let mut stream = TcpStream::connect(web).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (took, received) = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(received < 200, "{received}");
    // The general path (HTTP/1.0 is handed to it).
    let mut stream = TcpStream::connect(web).await.unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let (took, _) = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    // HTTP/2: the stream is reset.
    let mut client = RawH2::connect(web).await;
    assert!(client.get(1, "/").await);
    let started = Instant::now();
    let reset = loop {
        let frame = client.next(Duration::from_secs(5)).await.expect("a reset");
        if frame.kind == h2raw::RST_STREAM && frame.stream == 1 {
            break started.elapsed();
        }
    };
    assert!(reset < Duration::from_secs(2), "{reset:?}");
}

/// A client that stops reading a large response: its connection is closed after
/// `body_idle` without progress, on both HTTP/1.1 paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off() {
    let a = backend::named("a", Duration::ZERO).await;
    let cluster = "[clusters.timeouts]\nbody_idle = \"400ms\"";
    let proxy = proxy(&setup("", cluster, &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    for request in [
        &b"GET /download/64 HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"GET /download/64 HTTP/1.0\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(web).await.unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(request).await.unwrap();
        // Let the socket buffers fill, then look: the proxy gave up meanwhile.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let (_, received) = until_closed(&mut stream, Duration::from_secs(5)).await;
        let text = String::from_utf8_lossy(request);
        assert!(received < 32 << 20, "{text:?}: {received} bytes");
    }
}

/// A client that pipelines requests the proxy answers itself (here 502: the endpoint is
/// down) and never reads the answers is cut off after `body_idle`, not held forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_none_of_the_proxys_own_answers_is_cut_off() {
    let dead = backend::dead();
    let cluster = "[clusters.timeouts]\nbody_idle = \"300ms\"";
    let proxy = proxy(&setup("", cluster, &[dead]));
    let web = proxy.listener_addr("web").unwrap();
    // A small receive buffer, so that the proxy's writes block after a few answers.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(web).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let requests = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".repeat(60_000);
    let writing = tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(10), writer.write_all(&requests)).await;
        writer
    });
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (_, received) = until_closed(&mut reader, Duration::from_secs(5)).await;
    let all = 60_000 * 100;
    assert!(received < all, "{received} bytes: every answer was written");
    drop(writing);
}

/// Many idle connections cost the proxy little and take nothing from live ones: 2,000
/// keep-alive connections, each idle after one request (every fourth a chunked upload,
/// which hyper serves and then hands back), do not stop requests on another connection,
/// and are still usable afterwards; a connection that sends half a head meanwhile is
/// still answered 408 after the header read timeout. (The test process holds both ends
/// of every connection: about 4,000 descriptors; the proxy raises the limit to the
/// hard one, 20,000 on CI's machines.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_stay_usable_and_take_nothing_from_live_ones() {
    const IDLE: usize = 2_000;
    let a = backend::named("a", Duration::ZERO).await;
    let listener = "header_read_timeout = \"1s\"\nidle_timeout = \"60s\"";
    let proxy = proxy(&setup(listener, "", &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    let get = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    let upload = b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                   5\r\nhello\r\n0\r\n\r\n";
    let request = |i: usize| {
        if i.is_multiple_of(4) {
            &upload[..]
        } else {
            &get[..]
        }
    };

    // Opened and used once, 200 at a time.
    let mut idle = Vec::with_capacity(IDLE);
    for batch in 0..IDLE / 200 {
        let mut opening = tokio::task::JoinSet::new();
        for i in batch * 200..(batch + 1) * 200 {
            opening.spawn(async move {
                let mut stream = TcpStream::connect(web).await.unwrap();
                let answer = raw_response(&mut stream, request(i)).await;
                (i, stream, answer)
            });
        }
        while let Some(opened) = opening.join_next().await {
            let (i, stream, answer) = opened.unwrap();
            assert!(
                answer.starts_with("HTTP/1.1 200"),
                "connection {i}: {answer:?}"
            );
            idle.push((i, stream));
        }
    }

    // Live traffic on another connection, and a head that never ends.
    let mut live = TcpStream::connect(web).await.unwrap();
    for n in 0..200 {
        let answer = raw_response(&mut live, get).await;
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "live request {n}: {answer:?}"
        );
    }
    let started = Instant::now();
    let half = raw_request(web, b"GET / HTTP/1.1\r\nHo").await;
    assert!(half.starts_with("HTTP/1.1 408"), "{half:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // Every idle connection answers again, over the path it took before (200 at a
    // time, as they were opened: all at once, they would open 2,000 connections to the
    // one backend together).
    let mut failed = Vec::new();
    while !idle.is_empty() {
        let mut again = tokio::task::JoinSet::new();
        for (i, mut stream) in idle.split_off(idle.len().saturating_sub(200)) {
            again.spawn(async move { (i, raw_response(&mut stream, request(i)).await) });
        }
        while let Some(done) = again.join_next().await {
            let (i, answer) = done.unwrap();
            if !answer.starts_with("HTTP/1.1 200") {
                failed.push((i, answer));
            }
        }
    }
    failed.sort();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
}
