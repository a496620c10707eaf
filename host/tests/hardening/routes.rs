//! Routes a client tries to get around: the same path spelt another way, a host with
//! user info or a second name, a header that is there but not text; and direct answers that must not
//! desync a kept-alive connection. Each on the fast path (raw HTTP/1.1) and, where the
//! client can choose, on hyper's (h2c).

use crate::common;

use common::backend;
use common::client::{raw_request, raw_response};
use std::time::Duration;

const ROUTES: &str = r#"
[[listeners.routes]]
name = "admin"
match = { path_prefix = "/admin" }
respond = { status = 403, body = "forbidden" }
[[listeners.routes]]
name = "internal"
match = { headers = { x-internal = { present = true } } }
respond = { status = 403, body = "forbidden" }
[[listeners.routes]]
name = "empty"
match = { path = "/empty" }
respond = { status = 204 }
[[listeners.routes]]
name = "api"
match = { path_prefix = "/%61pi" }
cluster = "app"
rewrite = { path_prefix = "/" }
[[listeners.routes]]
name = "app"
cluster = "app"
"#;

fn proxy(app: std::net::SocketAddr) -> switchyard::app::App {
    common::proxy(&format!(
        "workers = 2\n[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n{ROUTES}\n\
         [[clusters]]\nname = \"app\"\nendpoints = [{{ address = \"{app}\" }}]\n"
    ))
}

/// The status line of a raw answer.
fn status(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_spelling_of_a_path_gets_the_same_route_or_400() {
    let app = backend::named("app", Duration::ZERO).await;
    let proxy = proxy(app.addr);
    let web = proxy.listener_addr("web").unwrap();
    for (target, expected) in [
        ("/admin", "403"),
        ("/%61dmin", "403"),
        ("//admin", "403"),
        ("/x/../admin/", "403"),
        ("/admin;jsessionid=1", "403"),
        ("/%2e%2E/admin", "403"),
        ("/public/..;/admin", "400"),
        ("/public\\..\\admin", "400"),
        // hyper takes the fragment off: the route of /admin.
        ("/admin#", "403"),
        ("/adminx", "200"),
        ("/x/..%2Fadmin/secret", "400"),
        ("/x/..%5cadmin", "400"),
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        let answer = raw_request(web, request.as_bytes()).await;
        assert!(
            status(&answer).contains(expected),
            "{target}: {}",
            status(&answer)
        );
    }
    // The same over h2c, hyper's path.
    for (target, expected) in [("/%61dmin", 403), ("//admin", 403), ("/adminx", 200)] {
        let (status, _, _) = common::client::get(web, target, true).await;
        assert_eq!(status.as_u16(), expected, "h2c {target}");
    }
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_with_user_info_and_headers_that_are_not_text_cannot_slip_past() {
    let app = backend::named("app", Duration::ZERO).await;
    let proxy = proxy(app.addr);
    let web = proxy.listener_addr("web").unwrap();
    let hosts = [
        "admin.example.com:1@public.example.com",
        "[::1]evil",
        "a b",
        "a.com,admin.example.com",
        "%61dmin.example.com",
    ];
    for host in hosts {
        // On the fast path, and on hyper's (a chunked body hands the request over).
        for framing in ["", "Transfer-Encoding: chunked\r\n"] {
            let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n{framing}\r\n0\r\n\r\n");
            let answer = raw_request(web, request.as_bytes()).await;
            assert!(
                status(&answer).contains("400"),
                "{host} {framing}: {answer}"
            );
        }
    }
    // A Host that is not text, on hyper's path (the chunked body hands it over).
    let request =
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: admin.example.com\x80\r\n\r\n0\r\n\r\n";
    let answer = raw_request(web, request).await;
    assert!(status(&answer).contains("400"), "{answer}");
    let request = b"GET / HTTP/1.1\r\nHost: t\r\nX-Internal: \xff\xfe\r\n\r\n";
    let answer = raw_request(web, request).await;
    assert!(status(&answer).contains("403"), "{answer}");
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_204_has_no_body_and_the_connection_goes_on() {
    let app = backend::named("app", Duration::ZERO).await;
    let proxy = proxy(app.addr);
    let web = proxy.listener_addr("web").unwrap();
    let mut stream = tokio::net::TcpStream::connect(web).await.unwrap();
    let first = raw_response(&mut stream, b"GET /empty HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert!(first.starts_with("HTTP/1.1 204"), "{first}");
    assert!(
        !first.to_ascii_lowercase().contains("content-length"),
        "{first}"
    );
    assert!(
        first.ends_with("\r\n\r\n"),
        "nothing after the head: {first:?}"
    );
    let second = raw_response(&mut stream, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert!(
        second.starts_with("HTTP/1.1 200") && second.ends_with("app"),
        "{second}"
    );
    common::stop(proxy).await;
}

/// A rewritten prefix written with an escape in the configuration cuts the canonical
/// prefix it matched, whatever the request's length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_written_with_an_escape_is_rewritten_as_matched() {
    let app = backend::named("app", Duration::ZERO).await;
    let proxy = proxy(app.addr);
    let web = proxy.listener_addr("web").unwrap();
    for (target, seen) in [
        ("/api/xyz", "/xyz"),
        ("/api", "/"),
        ("/%61pi/q?x=1", "/q?x=1"),
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        let answer = raw_request(web, request.as_bytes()).await;
        assert!(
            answer.contains(&format!("x-seen-target: {seen}\r\n")),
            "{target}: {answer}"
        );
    }
    common::stop(proxy).await;
}
