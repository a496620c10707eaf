//! Routes: one listener in front of several clusters, chosen by host, path, method,
//! headers or gRPC service, over HTTP/1.1 (the fast path) and h2c (hyper's path);
//! rewrites the endpoint sees; direct answers; weighted and sticky splits.

use crate::common;

use bytes::Bytes;
use common::backend::{self, Backend};
use common::client::send;
use common::scrape::{scrape, value};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Three backends, `a`, `b` and `c`, and a cluster of each.
async fn three() -> (Vec<Backend>, String) {
    let mut backends = Vec::new();
    let mut clusters = String::new();
    for name in ["a", "b", "c"] {
        let backend = backend::named(name, Duration::ZERO).await;
        clusters += &format!(
            "[[clusters]]\nname = \"{name}\"\nendpoints = [{{ address = \"{}\" }}]\n",
            backend.addr
        );
        backends.push(backend);
    }
    (backends, clusters)
}

/// A proxy with `routes` (TOML of `[[listeners.routes]]`) in front of `clusters`, and
/// an admin listener.
fn proxy_with(routes: &str, clusters: &str) -> switchyard::app::App {
    common::proxy(&format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n{routes}\n{clusters}"
    ))
}

/// What answered a request: status, backend (or body), the target and host it saw,
/// and the response's `location`.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    by: String,
    target: String,
    host: String,
    location: String,
}

async fn request(
    proxy: SocketAddr,
    method: &str,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
    http2: bool,
) -> Seen {
    let uri = if http2 {
        format!("http://{host}{target}")
    } else {
        target.to_string()
    };
    let mut builder = Request::builder().method(method).uri(uri);
    if !http2 {
        builder = builder.header(http::header::HOST, host);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = send(proxy, builder.body(Empty::<Bytes>::new()).unwrap(), http2).await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map_or("", |v| v.to_str().unwrap())
            .to_string()
    };
    let (status, target, host, location) = (
        response.status().as_u16(),
        header("x-seen-target"),
        header("x-seen-host"),
        header("location"),
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Seen {
        status,
        by: String::from_utf8_lossy(&body).trim_end().to_string(),
        target,
        host,
        location,
    }
}

const ROUTES: &str = r#"
[[listeners.routes]]
name = "old"
match = { path = "/old" }
respond = { status = 301, headers = { location = "https://example.com/new" } }

[[listeners.routes]]
name = "api"
match = { host = "api.example.com", path_prefix = "/v2/" }
cluster = "a"
rewrite = { path_prefix = "/", host = "internal.api" }

[[listeners.routes]]
name = "canary"
match = { host = "api.example.com", headers = { x-env = "canary" } }
cluster = "c"

[[listeners.routes]]
name = "api-rest"
match = { host = "api.example.com" }
cluster = "b"

[[listeners.routes]]
name = "wild"
match = { host = "*.example.com", method = "POST" }
cluster = "c"

[[listeners.routes]]
name = "docs"
match = { path_prefix = "/docs" }
cluster = "b"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_path_method_and_header_routes_reach_three_clusters_over_http1_and_h2c() {
    let (_backends, clusters) = three().await;
    let proxy = proxy_with(ROUTES, &clusters);
    let addr = proxy.listener_addr("web").unwrap();
    for http2 in [false, true] {
        let on = if http2 { "h2c" } else { "http/1.1" };
        let seen = |by: &str, target: &str, host: &str| Seen {
            status: 200,
            by: by.into(),
            target: target.into(),
            host: host.into(),
            location: String::new(),
        };
        for (method, host, target, headers, expected) in [
            // Prefix rewritten, host replaced; the port is ignored, case too.
            (
                "GET",
                "API.example.com:8080",
                "/v2/users?id=7",
                &[][..],
                seen("a", "/users?id=7", "internal.api"),
            ),
            (
                "GET",
                "api.example.com",
                "/v2",
                &[],
                seen("a", "/", "internal.api"),
            ),
            // Dot segments are removed before matching, and the endpoint gets that path.
            (
                "GET",
                "api.example.com",
                "/x/../v2/./users",
                &[],
                seen("a", "/users", "internal.api"),
            ),
            (
                "GET",
                "api.example.com",
                "/v2/%2e%2e/admin",
                &[],
                seen("b", "/admin", "api.example.com"),
            ),
            // Whole segments only.
            (
                "GET",
                "api.example.com",
                "/v2x",
                &[],
                seen("b", "/v2x", "api.example.com"),
            ),
            (
                "GET",
                "api.example.com",
                "/v3",
                &[("x-env", "canary")],
                seen("c", "/v3", "api.example.com"),
            ),
            (
                "POST",
                "www.example.com",
                "/p",
                &[],
                seen("c", "/p", "www.example.com"),
            ),
            (
                "GET",
                "other.test",
                "/docs/a/../b",
                &[],
                seen("b", "/docs/b", "other.test"),
            ),
        ] {
            let got = request(addr, method, host, target, headers, http2).await;
            assert_eq!(got, expected, "{on}: {method} {host}{target} {headers:?}");
        }
        // A direct answer, and a request no route takes.
        let moved = request(addr, "GET", "any.test", "/old", &[], http2).await;
        assert_eq!(
            (moved.status, moved.location.as_str()),
            (301, "https://example.com/new"),
            "{on}"
        );
        let none = request(addr, "GET", "www.example.com", "/nothing", &[], http2).await;
        assert_eq!(
            (none.status, none.by.as_str()),
            (404, "no route for this request"),
            "{on}"
        );
    }
    let (scraped, _) = scrape(proxy.admin_addr().unwrap()).await;
    let taken = |route: &str| {
        value(
            &scraped,
            "switchyard_route_requests_total",
            &[("listener", "web"), ("route", route)],
        )
    };
    assert_eq!((taken("api"), taken("old"), taken("docs")), (6.0, 2.0, 2.0));
    let unrouted = value(
        &scraped,
        "switchyard_listener_unrouted_requests_total",
        &[("listener", "web")],
    );
    assert_eq!(unrouted, 2.0);
    common::stop(proxy).await;
}

/// Counts of which backend answered `n` GETs of `/` with `headers` for user `user`
/// (none when `None`) over one kept-alive connection.
async fn split_counts(addr: SocketAddr, n: usize, user: Option<&str>) -> BTreeMap<String, usize> {
    let mut sender = common::client::keep_alive(addr).await;
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let mut request = common::client::get_root("t");
        if let Some(user) = user {
            request
                .headers_mut()
                .insert("x-user", user.parse().unwrap());
        }
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let who = match status {
            StatusCode::OK => String::from_utf8_lossy(&body).into_owned(),
            other => other.to_string(),
        };
        *counts.entry(who).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weighted_split_shares_requests_and_a_sticky_one_keeps_each_user_on_one_side() {
    let (_backends, clusters) = three().await;
    let routes = r#"
[[listeners.routes]]
name = "sticky"
match = { headers = { x-user = { present = true } } }
clusters = [ { name = "b", weight = 50 }, { name = "c", weight = 50 } ]
sticky = "header:x-user"

[[listeners.routes]]
name = "canary"
clusters = [ { name = "a", weight = 95 }, { name = "b", weight = 5 }, { name = "c", weight = 0 } ]
"#;
    let proxy = proxy_with(routes, &clusters);
    let addr = proxy.listener_addr("web").unwrap();
    // 10,000 requests over 4 connections.
    let sending: Vec<_> = (0..4)
        .map(|_| tokio::spawn(split_counts(addr, 2_500, None)))
        .collect();
    let mut counts = BTreeMap::<String, usize>::new();
    for sent in sending {
        for (who, n) in sent.await.unwrap() {
            *counts.entry(who).or_default() += n;
        }
    }
    let share = |who: &str| counts.get(who).copied().unwrap_or(0) as f64 / 100.0;
    assert_eq!(counts.values().sum::<usize>(), 10_000, "{counts:?}");
    assert!((share("b") - 5.0).abs() <= 1.5, "the 5% side: {counts:?}");
    assert_eq!(share("c"), 0.0, "weight 0 gets nothing: {counts:?}");
    // Each user stays on one side; both sides get users.
    let mut sides = BTreeMap::<String, usize>::new();
    for user in 0..40 {
        let user = format!("user-{user}");
        let seen = split_counts(addr, 10, Some(&user)).await;
        assert_eq!(seen.len(), 1, "{user} moved: {seen:?}");
        *sides.entry(seen.into_keys().next().unwrap()).or_default() += 1;
    }
    assert_eq!(sides.keys().collect::<Vec<_>>(), ["b", "c"], "{sides:?}");
    assert!(
        sides.values().all(|&n| n >= 8),
        "both sides get users: {sides:?}"
    );
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_are_routed_by_service_and_method() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let (check_server, _a) = backend::grpc_health("routed.Check").await;
    let (watch_server, _b) = backend::grpc_health("routed.Watch").await;
    let clusters = format!(
        "[[clusters]]\nname = \"check\"\nendpoints = [{{ address = \"{check_server}\" }}]\n\
         [[clusters]]\nname = \"watch\"\nendpoints = [{{ address = \"{watch_server}\" }}]\n"
    );
    let routes = r#"
[[listeners.routes]]
match = { grpc_method = "grpc.health.v1.Health/Watch" }
cluster = "watch"
[[listeners.routes]]
match = { grpc_service = "grpc.health.v1.Health" }
cluster = "check"
"#;
    let proxy = proxy_with(routes, &clusters);
    let addr = proxy.listener_addr("web").unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let ask = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    // Only the check server knows `routed.Check`, only the watch server `routed.Watch`.
    let checked = client
        .check(ask("routed.Check"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(checked.status, ServingStatus::Serving as i32);
    let unknown = client.check(ask("routed.Watch")).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let mut watching = client
        .watch(ask("routed.Watch"))
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), watching.message())
        .await
        .expect("a first status in time")
        .unwrap()
        .unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    common::stop(proxy).await;
}
