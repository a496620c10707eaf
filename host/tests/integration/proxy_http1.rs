//! The HTTP/1.1 fast path end to end: responses relayed with their exact framing,
//! requests rewritten, pooled connections the endpoint closed, the hand-over of a
//! connection to the general path, and the sweep of idle pooled connections; h2c
//! requests without a body on the same pooled sockets.

use crate::common;

use bytes::Bytes;
use common::backend::{named, scripted, scripted_resetting};
use common::client::{h2c, raw_exchange};
use common::{config, proxy, stop};
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use switchyard_policy::cluster::Membership;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Asserts that the one endpoint completed `n` requests, none failed and none is left
/// in flight.
fn assert_all_completed(proxy: &switchyard::app::App, n: u64) {
    let membership = proxy.upstream("api").unwrap().membership();
    let load = &membership.members()[0].load;
    assert_eq!(
        (load.completed(), load.failed(), load.in_flight()),
        (n, 0, 0)
    );
}

/// Canned responses by path, each framed its own way.
pub(crate) fn framed(request: &str, _: usize) -> Option<(Vec<u8>, bool)> {
    let path = request.split(' ').nth(1).unwrap_or("");
    let response: &[u8] = match path {
        "/chunked" => {
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: 42\r\n\r\n"
        }
        "/head" => b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n",
        "/empty" => b"HTTP/1.1 204 No Content\r\n\r\n",
        "/hints" => {
            b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>\r\n\r\n\
              HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        }
        "/echo" => {
            let body = request.split("\r\n\r\n").nth(1).unwrap_or("");
            let response = format!(
                "HTTP/1.1 200 OK\r\nconnection: keep-alive, x-private\r\nx-private: 1\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            );
            return Some((response.into_bytes(), false));
        }
        "/until-close" => return Some((b"HTTP/1.1 200 OK\r\n\r\nuntil close".to_vec(), true)),
        "/many-trailers" => {
            let fields: String = (0..101).map(|i| format!("x-t{i}: {i}\r\n")).collect();
            let response = format!(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n{fields}\r\n"
            );
            return Some((response.into_bytes(), false));
        }
        "/bad-trailers" => {
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
              2\r\nok\r\n0\r\nno colon here\r\n\r\n"
        }
        "/custom-reason" => b"HTTP/1.1 299 Custom Thing\r\ncontent-length: 2\r\n\r\nok",
        "/not-modified" => b"HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\n\r\n",
        // Bytes after the body: the connection cannot be trusted with another request.
        "/trailing-bytes" => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokXYZ",
        _ => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
    };
    Some((response.to_vec(), false))
}

/// Six requests for [`framed`] in one write; the last one's response ends at close.
const PIPELINED: &[u8] =
    b"GET /chunked HTTP/1.1\r\nHost: api.test\r\nConnection: keep-alive, x-drop\r\n\
      X-Drop: 1\r\nTE: trailers\r\nX-Forwarded-Proto: https\r\n\r\n\
      HEAD /head HTTP/1.1\r\nHost: api.test\r\n\r\n\
      GET /empty HTTP/1.1\r\nHost: api.test\r\n\r\n\
      GET /hints HTTP/1.1\r\nHost: api.test\r\n\r\n\
      POST /echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: 3\r\n\r\nabc\
      GET /until-close HTTP/1.1\r\nHost: api.test\r\n\r\n";

/// What the fast path relays for [`PIPELINED`]: each response as the endpoint framed
/// it (chunks, trailers, an interim response), hop-by-hop fields removed.
const RELAYED: &str = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
     5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: 42\r\n\r\n\
     HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n\
     HTTP/1.1 204 No Content\r\n\r\n\
     HTTP/1.1 103 Early Hints\r\nlink: </style.css>\r\n\r\n\
     HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok\
     HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc\
     HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil close";

/// Sends [`PIPELINED`] on `client` and asserts that [`RELAYED`] comes back, ended by
/// the proxy's close.
pub(crate) async fn relays_pipelined(
    client: &mut (impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin),
) {
    client.write_all(PIPELINED).await.unwrap();
    let mut transcript = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut transcript))
        .await
        .expect("the proxy closes after a response delimited by close")
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&transcript), RELAYED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_pass_through_with_their_framing() {
    let backend = scripted(framed).await;
    let proxy = proxy(&config("round-robin", &[(backend.addr, 1)], ""));
    let addr = proxy.listener_addr("web").unwrap();

    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    relays_pipelined(&mut client).await;

    let requests = backend.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 6);
    let first = &requests[0];
    assert!(
        first.starts_with("GET /chunked HTTP/1.1\r\nHost: api.test\r\n"),
        "{first}"
    );
    assert!(first.contains("te: trailers\r\n"), "{first}");
    assert!(first.contains("x-forwarded-for: 127.0.0.1\r\n"), "{first}");
    assert!(
        first.contains("forwarded: for=127.0.0.1;proto=http;host=\"api.test\"\r\n"),
        "{first}"
    );
    // The client's claim to have come over TLS is replaced.
    assert!(first.contains("x-forwarded-proto: http\r\n"), "{first}");
    assert!(!first.contains("https"), "{first}");
    let lower = first.to_lowercase();
    assert!(
        !lower.contains("x-drop") && !lower.contains("connection"),
        "{first}"
    );
    assert!(requests[4].ends_with("\r\n\r\nabc"), "{}", requests[4]);
    assert_eq!(
        backend.connections.load(Relaxed),
        1,
        "one pooled upstream connection carried all six"
    );
    assert_all_completed(&proxy, 6);
    stop(proxy).await;
}

/// Endpoints spoken to in HTTP/1.1 whatever the client speaks.
const HTTP1_UPSTREAM: &str = "protocol = \"http1\"\n";

/// One h2c connection to the proxy: `(method, path)` in turn, each answered with its
/// status, headers, body and trailers.
async fn h2c_calls(
    addr: std::net::SocketAddr,
    calls: &[(&str, &str)],
) -> Vec<(u16, http::HeaderMap, String, Option<http::HeaderMap>)> {
    let mut sender = h2c(addr).await;
    let mut answers = Vec::new();
    for (method, path) in calls {
        let request = http::Request::builder()
            .method(*method)
            .uri(format!("http://api.test{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned();
        let text = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
        answers.push((parts.status.as_u16(), parts.headers, text, trailers));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_trailer_section_fails_the_h2c_stream_not_the_connection() {
    let backend = scripted(framed).await;
    let proxy = proxy(&config("round-robin", &[(backend.addr, 1)], HTTP1_UPSTREAM));
    let mut sender = h2c(proxy.listener_addr("web").unwrap()).await;
    for path in ["/many-trailers", "/bad-trailers", "/chunked"] {
        let request = http::Request::builder()
            .uri(format!("http://api.test{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let answer = match sender.send_request(request).await {
            Ok(response) => response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{e:?}")),
            // Head and reset can arrive together: then the reset is all there is.
            Err(e) => Err(format!("{e:?}")),
        };
        if path == "/chunked" {
            // The same client connection still serves, trailers and all.
            let trailers = answer.unwrap().trailers().cloned().unwrap();
            assert_eq!(trailers["x-checksum"], "42");
        } else {
            // Not a clean end without the trailers: the client must not take the
            // answer for whole (for gRPC, its status is in them).
            let Err(e) = answer else {
                panic!("{path}: ended cleanly without its trailers")
            };
            assert!(e.contains("INTERNAL_ERROR"), "{path}: {e}");
        }
    }
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_requests_without_a_body_go_out_on_pooled_sockets() {
    let backend = scripted(framed).await;
    let proxy = proxy(&config("round-robin", &[(backend.addr, 1)], HTTP1_UPSTREAM));
    let addr = proxy.listener_addr("web").unwrap();
    let calls = [
        ("GET", "/chunked"),
        ("HEAD", "/head"),
        ("GET", "/empty"),
        ("GET", "/hints"),
        ("POST", "/echo"),
        ("GET", "/not-modified"),
        ("GET", "/trailing-bytes"),
        ("GET", "/until-close"),
        ("GET", "/chunked"),
    ];
    let answers = h2c_calls(addr, &calls).await;
    let summary: Vec<(u16, &str)> = answers.iter().map(|a| (a.0, a.2.as_str())).collect();
    assert_eq!(
        summary,
        [
            (200, "hello world"),
            (200, ""),
            (204, ""),
            (200, "ok"),
            (200, ""),
            (304, ""),
            (200, "ok"),
            (200, "until close"),
            (200, "hello world"),
        ]
    );
    let (_, chunked_headers, _, trailers) = &answers[0];
    assert!(!chunked_headers.contains_key("transfer-encoding"));
    let trailers = trailers
        .as_ref()
        .expect("the chunked body's trailers arrive");
    assert_eq!(trailers["x-checksum"], "42");
    assert_eq!(
        answers[1].1["content-length"], "11",
        "HEAD keeps its length"
    );

    let requests = backend.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 9);
    let first = &requests[0];
    assert!(first.starts_with("GET /chunked HTTP/1.1\r\n"), "{first}");
    for field in [
        "host: api.test\r\n",
        "x-forwarded-for: 127.0.0.1\r\n",
        "forwarded: for=127.0.0.1;proto=http;host=\"api.test\"\r\n",
    ] {
        assert!(first.contains(field), "{field} in {first}");
    }
    assert!(
        requests[4].starts_with("POST /echo") && requests[4].contains("content-length: 0\r\n"),
        "a bodiless POST says so: {}",
        requests[4]
    );
    assert_eq!(
        backend.connections.load(Relaxed),
        3,
        "one pooled connection until bytes trailed a body, one for the body delimited \
         by close, then another"
    );
    assert_all_completed(&proxy, 9);
    stop(proxy).await;
}

/// Answers the first request on each connection; at the second, closes without a
/// word, as an endpoint does that drops an idle connection just as a request arrives.
fn closes_when_reused(_: &str, index: usize) -> Option<(Vec<u8>, bool)> {
    (index == 0).then(|| {
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec(),
            false,
        )
    })
}

/// A backend running [`closes_when_reused`] that ends the connection by `ending`: a
/// "close" or a "reset".
async fn closing_or_resetting(ending: &str) -> common::backend::Scripted {
    match ending {
        "close" => scripted(closes_when_reused).await,
        _ => scripted_resetting(closes_when_reused).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_closed_by_the_endpoint_is_retried_only_for_safe_methods() {
    // An endpoint closing the connection, and one resetting it, have the same effect.
    for ending in ["close", "reset"] {
        let backend = closing_or_resetting(ending).await;
        let proxy = proxy(&config("round-robin", &[(backend.addr, 1)], ""));
        let addr = proxy.listener_addr("web").unwrap();
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut exchange = async |request: &[u8]| raw_exchange(&mut client, request).await;
        let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(exchange(get).await.ends_with("\r\n\r\nok"));
        let again = exchange(get).await;
        assert!(
            again.ends_with("\r\n\r\nok"),
            "{ending}: a GET is sent again: {again}"
        );
        let post = exchange(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n!").await;
        assert!(
            post.starts_with("HTTP/1.1 502"),
            "{ending}: a POST is not: {post}"
        );
        assert_eq!(backend.connections.load(Relaxed), 2, "{ending}");
        assert_eq!(backend.requests.lock().unwrap().len(), 4, "{ending}");
        stop(proxy).await;
    }

    // The same over h2c, whose bodiless requests go out on pooled sockets too.
    for ending in ["close", "reset"] {
        let backend = closing_or_resetting(ending).await;
        let h2c_proxy = common::proxy(&config("round-robin", &[(backend.addr, 1)], HTTP1_UPSTREAM));
        let answers = h2c_calls(
            h2c_proxy.listener_addr("web").unwrap(),
            &[("GET", "/"), ("GET", "/"), ("POST", "/")],
        )
        .await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
        assert_eq!(statuses, [200, 200, 502], "{ending}: {answers:?}");
        assert_eq!(backend.connections.load(Relaxed), 2, "{ending}");
        assert_eq!(backend.requests.lock().unwrap().len(), 4, "{ending}");
        stop(h2c_proxy).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_moves_its_connection_to_the_general_path() {
    let a = named("alpha", Duration::ZERO).await;
    let proxy = proxy(&config("round-robin", &[(a.addr, 1)], ""));
    let addr = proxy.listener_addr("web").unwrap();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let get = || {
        http::Request::get("/")
            .header("host", "x")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    for request in [
        get(),
        // Larger than the fast path buffers: hyper serves it and the rest.
        http::Request::post("/upload")
            .header("host", "x")
            .body(Full::new(Bytes::from(vec![1u8; 300 << 10])))
            .unwrap(),
        get(),
    ] {
        let upload = request.method() == http::Method::POST;
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let expected = if upload {
            format!("{}", 300 << 10)
        } else {
            "alpha".into()
        };
        assert_eq!(body, expected.as_bytes());
    }
    // An HTTP/1.0 client goes the general way from the start.
    let mut old = tokio::net::TcpStream::connect(addr).await.unwrap();
    old.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), old.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.0 200") && response.ends_with("alpha"),
        "{response}"
    );
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reason_phrase_of_its_own_reaches_http1_clients_on_both_paths() {
    let backend = scripted(framed).await;
    let proxy = proxy(&config("round-robin", &[(backend.addr, 1)], ""));
    let addr = proxy.listener_addr("web").unwrap();
    // HTTP/1.1 takes the fast path, HTTP/1.0 the general one (the proxy's own exchange
    // upstream, then hyper's server).
    for version in ["HTTP/1.1", "HTTP/1.0"] {
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET /custom-reason {version}\r\nHost: a\r\n\r\n");
        let response = raw_exchange(&mut client, request.as_bytes()).await;
        assert!(
            response.starts_with(&format!("{version} 299 Custom Thing\r\n")),
            "{version}: {response}"
        );
    }
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cannot_be_smuggled_past_the_policy_as_a_second_request() {
    let backend = scripted(framed).await;
    let proxy = proxy(&config("round-robin", &[(backend.addr, 1)], ""));
    let addr = proxy.listener_addr("web").unwrap();
    let hidden = "GET /until-close HTTP/1.1\r\nHost: a\r\n\r\n";
    let request = format!(
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\
         Connection: content-length\r\n\r\n{hidden}",
        hidden.len()
    );
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let answer = raw_exchange(&mut client, request.as_bytes()).await;
    // The scripted backend echoes the body up to its first empty line.
    let echoed = hidden.trim_end();
    assert!(
        answer.ends_with(echoed),
        "the body came back as a body: {answer}"
    );
    let requests = backend.requests.lock().unwrap().clone();
    assert_eq!(
        requests.len(),
        1,
        "the backend saw one request: {requests:?}"
    );
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_pooled_connections_close_when_their_endpoint_leaves_or_idles_out() {
    let kept = scripted(framed).await;
    let leaving = scripted(framed).await;
    let extra = "[clusters.pool]\nidle_timeout = \"3s\"\n";
    let endpoints = [(kept.addr, 1), (leaving.addr, 1)];
    let proxy = proxy(&config("round-robin", &endpoints, extra));
    let addr = proxy.listener_addr("web").unwrap();
    for _ in 0..8 {
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let answer = raw_exchange(&mut client, b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    }
    let used = Instant::now();
    assert!(leaving.connections.load(Relaxed) > 0 && kept.connections.load(Relaxed) > 0);
    assert_eq!(leaving.closed.load(Relaxed) + kept.closed.load(Relaxed), 0);

    // The endpoint leaves the cluster, as discovery would make it.
    let upstream = proxy.upstream("api").unwrap();
    let membership = upstream.membership();
    let staying = membership.members().iter().filter(|m| m.id == 0).cloned();
    upstream
        .policy()
        .set_membership(Arc::new(Membership::new(staying.collect())));
    let all_closed =
        |b: &common::backend::Scripted| b.closed.load(Relaxed) == b.connections.load(Relaxed);
    while !all_closed(&leaving) {
        assert!(
            used.elapsed() < Duration::from_secs(3),
            "the leaver's idle connections stay"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        used.elapsed() < Duration::from_secs(3) && kept.closed.load(Relaxed) == 0,
        "the member's idle connections are kept until they idle out"
    );
    while !all_closed(&kept) {
        assert!(
            used.elapsed() < Duration::from_secs(8),
            "idle connections never time out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(used.elapsed() >= Duration::from_secs(3));
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_forwarded_proto_is_replaced_or_kept_as_the_listener_says() {
    let backend = scripted(framed).await;
    for (setting, seen) in [
        ("", "x-forwarded-proto: http\r\n"),
        (
            "forwarded_proto = \"if_absent\"\n",
            "x-forwarded-proto: https\r\n",
        ),
    ] {
        let text = config("round-robin", &[(backend.addr, 1)], "").replacen(
            "cluster = \"api\"\n",
            &format!("cluster = \"api\"\n{setting}"),
            1,
        );
        let proxy = proxy(&text);
        let addr = proxy.listener_addr("web").unwrap();
        backend.requests.lock().unwrap().clear();
        // HTTP/1.1 on the fast path, h2c through hyper (then HTTP/1.1 upstream).
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = b"GET /empty HTTP/1.1\r\nHost: api.test\r\nx-forwarded-proto: https\r\n\
                        X_Forwarded_Proto: https\r\n\r\n";
        let answer = raw_exchange(&mut client, request).await;
        assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
        let mut sender = h2c(addr).await;
        let request = http::Request::builder()
            .uri("http://api.test/empty")
            .header("x-forwarded-proto", "https")
            .header("x_forwarded_proto", "https")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let answer = sender.send_request(request).await.unwrap();
        assert_eq!(answer.status(), 204);
        let requests = backend.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 2);
        for request in &requests {
            let lower = request.to_lowercase();
            assert!(lower.contains(seen), "{setting}: {request}");
            assert_eq!(lower.matches("forwarded_proto").count(), 0, "{request}");
            assert_eq!(lower.matches("x-forwarded-proto").count(), 1, "{request}");
        }
        stop(proxy).await;
    }
}
