//! The admin API changes what the proxy does and shows its whole topology: with a
//! token file set, every request needs the token (metrics may be left public), and an
//! admin address that is not loopback is refused without one.

use crate::common::backend;
use crate::common::client::admin_request;
use crate::common::{proxy, switchyard, temp_dir};
use crate::setup;
use std::net::SocketAddr;
use std::time::Duration;

/// Status of `method path` on the admin API at `admin`, with `token` as bearer.
async fn status(admin: SocketAddr, method: &str, path: &str, token: Option<&str>) -> u16 {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("host", "localhost")];
    headers.extend(bearer.as_deref().map(|b| ("authorization", b)));
    let response = admin_request(admin, method, path, &headers).await;
    if response.status() == 401 {
        let challenge = response.headers().get("www-authenticate");
        assert!(challenge.is_some(), "a 401 says how to authenticate");
        let close = response.headers().get("connection");
        assert_eq!(
            close.map(|v| v.as_bytes()),
            Some(&b"close"[..]),
            "one answer, then closed"
        );
    }
    response.status().as_u16()
}

/// A proxy whose admin listener has the token in a file and `extra` admin keys.
fn guarded(backend: SocketAddr, extra: &str) -> switchyard::app::App {
    let dir = temp_dir("admin-token");
    let file = dir.join("token");
    std::fs::write(&file, "s3cret-Token_42\n").unwrap();
    let admin = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n{extra}\n",
        file.display()
    );
    let text = setup("", "", &[backend]).replace("[admin]\nlisten = \"127.0.0.1:0\"\n", &admin);
    proxy(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_request_needs_the_token() {
    let a = backend::named("a", Duration::ZERO).await;
    let proxy = guarded(a.addr, "");
    let admin = proxy.admin_addr().unwrap();
    for (method, path) in [
        ("GET", "/clusters"),
        ("GET", "/policies"),
        ("GET", "/metrics"),
        ("GET", "/console.json"),
        ("POST", "/policies/reload"),
        ("GET", "/nothing-here"),
    ] {
        assert_eq!(
            status(admin, method, path, None).await,
            401,
            "{method} {path}"
        );
        let wrong = status(admin, method, path, Some("s3cret-Token_43")).await;
        assert_eq!(wrong, 401, "{method} {path}");
        let prefix = status(admin, method, path, Some("s3cret")).await;
        assert_eq!(prefix, 401, "{method} {path}");
    }
    let token = Some("s3cret-Token_42");
    assert_eq!(status(admin, "GET", "/clusters", token).await, 200);
    assert_eq!(status(admin, "GET", "/metrics", token).await, 200);
    assert_eq!(status(admin, "POST", "/policies/reload", token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_may_be_public_while_the_rest_is_not() {
    let a = backend::named("a", Duration::ZERO).await;
    let proxy = guarded(a.addr, "metrics_public = true");
    let admin = proxy.admin_addr().unwrap();
    assert_eq!(status(admin, "GET", "/metrics", None).await, 200);
    assert_eq!(status(admin, "GET", "/clusters", None).await, 401);
    assert_eq!(status(admin, "POST", "/policies/reload", None).await, 401);
}

#[test]
fn an_open_admin_address_needs_a_token_file() {
    let dir = temp_dir("admin-check");
    let config = |admin: &str| {
        let file = dir.join("switchyard.toml");
        std::fs::write(
            &file,
            format!(
                "[admin]\n{admin}\n[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n\
                 cluster = \"api\"\n[[clusters]]\nname = \"api\"\n\
                 endpoints = [{{ address = \"127.0.0.1:9\" }}]\n"
            ),
        )
        .unwrap();
        switchyard(&["check-config", file.to_str().unwrap()])
    };
    let (ok, _, stderr) = config("listen = \"0.0.0.0:19901\"");
    assert!(!ok);
    assert!(
        stderr.contains("admin.listen: 0.0.0.0:19901 is not a loopback address")
            && stderr.contains("token_file"),
        "{stderr}"
    );
    std::fs::write(dir.join("token"), "  \n").unwrap();
    let (ok, _, stderr) = config("listen = \"0.0.0.0:19901\"\ntoken_file = \"token\"");
    assert!(!ok);
    assert!(
        stderr.contains("admin.token_file:") && stderr.contains("is empty"),
        "{stderr}"
    );
    std::fs::write(dir.join("token"), "abc\n").unwrap();
    let (ok, stdout, stderr) = config("listen = \"0.0.0.0:19901\"\ntoken_file = \"token\"");
    assert!(ok, "{stdout}{stderr}");
    let (ok, _, stderr) = config("listen = \"127.0.0.1:19901\"");
    assert!(ok, "loopback needs no token: {stderr}");
}

/// Status of `method path` on the admin API at `admin` with exactly `headers`.
async fn status_with(admin: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    admin_request(admin, method, path, headers)
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_other_sites_cannot_use_the_admin_api() {
    let a = backend::named("a", Duration::ZERO).await;
    // No token: the configuration allows that on loopback only.
    let proxy = proxy(&setup("", "", &[a.addr]));
    let admin = proxy.admin_addr().unwrap();
    let here = admin.to_string();
    let origin = format!("http://{here}");
    // Tools and the console itself.
    assert_eq!(
        status_with(admin, "GET", "/clusters", &[("host", &here)]).await,
        200
    );
    let console = [
        ("host", here.as_str()),
        ("origin", origin.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    assert_eq!(
        status_with(admin, "POST", "/policies/reload", &console).await,
        200
    );
    // A form or fetch from another site (CSRF), and a page on a name rebound to
    // 127.0.0.1 (DNS rebinding), are refused before anything runs.
    for headers in [
        &[("host", here.as_str()), ("sec-fetch-site", "cross-site")][..],
        &[("host", here.as_str()), ("origin", "https://evil.example")],
        &[
            ("host", "evil.example:9901"),
            ("origin", "http://evil.example:9901"),
        ],
        &[
            ("host", "evil.example:9901"),
            ("sec-fetch-site", "same-origin"),
        ],
    ] {
        for (method, path) in [
            ("POST", "/policies/reload"),
            ("POST", "/config/reload"),
            ("GET", "/console.json"),
            ("GET", "/"),
        ] {
            assert_eq!(
                status_with(admin, method, path, headers).await,
                403,
                "{method} {path} {headers:?}"
            );
        }
    }
}
