//! TLS to endpoints: a real nginx that requires client certificates, the name sent and
//! verified (the cluster's, an endpoint's own, or its IP address), and a wrong CA
//! answered 502 and counted as a TLS failure.

use crate::common;

use common::certs::{Ca, Leaf, Pki, replace_pair};
use common::client::get;
use common::nginx::{Nginx, free_port};
use common::stop;
use std::path::Path;

/// An nginx `server` on `port` with the certificate `stem` (in `dir`), asking for
/// client certificates signed by `client_ca`, answering who the client is, the name it
/// asked for and the protocol.
fn server(dir: &Path, port: u16, stem: &str, client_ca: &Path) -> String {
    let d = dir.display();
    format!(
        "server {{\n listen 127.0.0.1:{port} ssl http2;\n\
         ssl_certificate {d}/{stem}.pem;\n ssl_certificate_key {d}/{stem}.key;\n\
         ssl_client_certificate {};\n ssl_verify_client on;\n\
         location / {{ return 200 \"nginx client=$ssl_client_s_dn sni=$ssl_server_name $server_protocol\\n\"; }}\n}}\n",
        client_ca.display()
    )
}

/// One cluster `api` of `endpoints` with `[clusters.tls]` body `tls`, behind a
/// cleartext listener, and an admin listener.
fn config(endpoints: &str, tls: &str) -> String {
    format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\nendpoints = [{endpoints}]\n[clusters.tls]\n{tls}\n"
    )
}

/// `[clusters.tls]` lines trusting `ca`, with the client certificate of `pki`.
fn client_tls(pki: &Pki, ca: &Ca) -> String {
    format!(
        "ca = {:?}\nclient_cert = {:?}\nclient_key = {:?}\n",
        ca.file, pki.client.cert, pki.client.key
    )
}

/// A mutual-TLS setup in `dir` and an nginx serving its `server` certificate (for
/// `backend.test`) to clients of its clients' CA: the setup, nginx's port, nginx.
fn mutual_nginx(dir: &Path) -> (Pki, u16, Nginx) {
    let pki = Pki::new(dir, &["backend.test"]);
    let port = free_port();
    let nginx = Nginx::start(
        dir,
        &server(dir, port, "server", &pki.clients.file),
        &[port],
    );
    (pki, port, nginx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_to_nginx_and_the_name_sent_and_verified() {
    let dir = common::temp_dir("tls-upstream");
    let pki = Pki::new(&dir, &["backend.test"]);
    pki.servers.leaf(&dir, "by-ip", "by-ip", &["127.0.0.1"]);
    let (named, by_ip) = (free_port(), free_port());
    let clients = &pki.clients.file;
    let blocks = server(&dir, named, "server", clients) + &server(&dir, by_ip, "by-ip", clients);
    let nginx = Nginx::start(&dir, &blocks, &[named, by_ip]);
    let client_tls = client_tls(&pki, &pki.servers);

    // The cluster's server_name, sent and verified; ALPN lets nginx choose HTTP/2.
    let text = config(
        &format!("{{ address = \"127.0.0.1:{named}\" }}"),
        &format!("{client_tls}server_name = \"backend.test\""),
    );
    let proxy = common::proxy(&text);
    let addr = proxy.listener_addr("web").unwrap();
    for http2 in [false, true] {
        let (status, _, body) = get(addr, "/", http2).await;
        assert_eq!(status, 200, "{body}\n{}", nginx.log());
        assert!(
            body.starts_with("nginx client=CN=client sni=backend.test HTTP/2.0"),
            "{body}"
        );
    }
    stop(proxy).await;

    // No server_name: none is sent, and the certificate must name the IP address; an
    // endpoint's own server_name (metadata) is used for that endpoint.
    let text = config(
        &format!(
            "{{ address = \"127.0.0.1:{by_ip}\" }}, \
             {{ address = \"127.0.0.1:{named}\", metadata = {{ server_name = \"backend.test\" }} }}"
        ),
        &client_tls,
    );
    let proxy = common::proxy(&text);
    let addr = proxy.listener_addr("web").unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..8 {
        let (status, _, body) = get(addr, "/", false).await;
        assert_eq!(status, 200, "{body}");
        seen.insert(body.split(' ').nth(2).unwrap_or_default().to_string());
    }
    assert_eq!(
        seen,
        ["sni=".to_string(), "sni=backend.test".to_string()].into(),
        "{seen:?}"
    );
    stop(proxy).await;

    // The named certificate reached by IP, with no name to check it against.
    let text = config(
        &format!("{{ address = \"127.0.0.1:{named}\" }}"),
        &client_tls,
    );
    let proxy = common::proxy(&text);
    let (status, _, body) = get(proxy.listener_addr("web").unwrap(), "/", false).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("no server_name is set"), "{body}");
    stop(proxy).await;
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_is_a_tls_failure_answered_502() {
    let dir = common::temp_dir("tls-upstream-ca");
    let (pki, port, nginx) = mutual_nginx(&dir);
    let text = config(
        &format!("{{ address = \"127.0.0.1:{port}\" }}"),
        &format!(
            "{}server_name = \"backend.test\"",
            client_tls(&pki, &pki.strangers)
        ),
    );
    let proxy = common::proxy(&text);
    let addr = proxy.listener_addr("web").unwrap();
    for _ in 0..3 {
        let (status, _, body) = get(addr, "/", false).await;
        assert_eq!(status, 502, "{body}");
        assert!(body.contains("TLS handshake with 127.0.0.1"), "{body}");
    }
    let admin = proxy.admin_addr().unwrap();
    let (scrape, text) = common::scrape::scrape(admin).await;
    let failures = common::scrape::value(
        &scrape,
        "switchyard_cluster_upstream_tls_errors_total",
        &[("cluster", "api")],
    );
    assert!(failures >= 3.0, "{text}");
    stop(proxy).await;
    drop(nginx);
}

/// The first probe's result of a proxy running `config` (5 s at most).
async fn first_probe(config: &str) -> serde_json::Value {
    let proxy = common::proxy(config);
    let admin = proxy.admin_addr().unwrap();
    let started = std::time::Instant::now();
    let probe = loop {
        let status = common::client::json(admin, "/clusters").await;
        let probe = status["clusters"][0]["endpoints"][0]["last_probe"].clone();
        if !probe.is_null() {
            break probe;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    stop(proxy).await;
    probe
}

/// Probes of `kind` to the endpoint at `addr` (serving `backend.test`) pass when the
/// cluster trusts the servers' CA, and fail at the handshake when it trusts another.
async fn probes_over_tls(kind: &str, addr: std::net::SocketAddr, pki: &Pki) {
    for (ca, passes) in [(&pki.servers, true), (&pki.strangers, false)] {
        let text = config(
            &format!("{{ address = \"{addr}\" }}"),
            &format!(
                "{}server_name = \"backend.test\"\n\
                 [clusters.health_check]\nkind = \"{kind}\"\ninterval = \"100ms\"\n\
                 timeout = \"1s\"\njitter = \"0ms\"\n",
                client_tls(pki, ca)
            ),
        );
        let probe = first_probe(&text).await;
        assert_eq!(
            probe["success"], passes,
            "{kind}, passes: {passes}: {probe}"
        );
        if !passes {
            let error = probe["error"].as_str().unwrap_or_default();
            let expected = format!("TLS handshake with {addr}");
            assert!(error.contains(&expected), "{kind}: {probe}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_speak_tls_with_the_clusters_settings() {
    let dir = common::temp_dir("tls-upstream-probes");
    let (pki, port, nginx) = mutual_nginx(&dir);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    for kind in ["http", "tcp"] {
        probes_over_tls(kind, addr, &pki).await;
    }
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_probes_speak_tls_with_the_clusters_settings() {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let dir = common::temp_dir("tls-upstream-grpc-probes");
    let pki = Pki::new(&dir, &["backend.test"]);
    let read = |path: &Path| std::fs::read(path).unwrap();
    // A gRPC server of its own that asks for client certificates, as nginx does.
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(
            read(&pki.server.cert),
            read(&pki.server.key),
        ))
        .client_ca_root(Certificate::from_pem(read(&pki.clients.file)));
    let (addr, _reporter) = common::backend::grpc_health_over("", Some(tls)).await;
    probes_over_tls("grpc", addr, &pki).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_tls_connections_keep_to_their_server_name() {
    let dir = common::temp_dir("tls-upstream-pool");
    let pki = Pki::new(&dir, &["backend.test", "other.test"]);
    let port = free_port();
    let nginx = Nginx::start(
        &dir,
        &server(&dir, port, "server", &pki.clients.file),
        &[port],
    );
    // Two clusters of the same endpoint, each with a server name of its own.
    let tls = client_tls(&pki, &pki.servers);
    let cluster = |name: &str, server_name: &str| {
        format!(
            "[[clusters]]\nname = \"{name}\"\nendpoints = [{{ address = \"127.0.0.1:{port}\" }}]\n\
             [clusters.tls]\n{tls}server_name = \"{server_name}\"\n"
        )
    };
    let text = format!(
        "workers = 1\n\
         [[listeners]]\nname = \"a\"\nlisten = \"127.0.0.1:0\"\ncluster = \"a\"\n\
         [[listeners]]\nname = \"b\"\nlisten = \"127.0.0.1:0\"\ncluster = \"b\"\n{}{}",
        cluster("a", "backend.test"),
        cluster("b", "other.test")
    );
    let proxy = common::proxy(&text);
    let (a, b) = (
        proxy.listener_addr("a").unwrap(),
        proxy.listener_addr("b").unwrap(),
    );
    for _ in 0..10 {
        for (addr, name) in [(a, "backend.test"), (b, "other.test")] {
            let (status, _, body) = get(addr, "/", false).await;
            assert_eq!(status, 200, "{body}");
            assert!(body.contains(&format!("sni={name} ")), "{name}: {body}");
        }
    }
    stop(proxy).await;
    drop(nginx);
}

/// Polls `/tls` of the proxy at `admin` (5 s at most) until `done` holds of its first
/// cluster's entry; that entry.
async fn cluster_tls_until(
    admin: std::net::SocketAddr,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let status = common::client::json(admin, "/tls").await;
        let cluster = &status["clusters"][0];
        if done(cluster) {
            return cluster.clone();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_client_certificate_is_shown_from_the_next_request_on() {
    let dir = common::temp_dir("tls-upstream-renewal");
    let pki = Pki::new(&dir, &["backend.test"]);
    let renewed = pki
        .clients
        .leaf(&dir, "renewed", "renewed", &["renewed.test"]);
    let port = free_port();
    let block = server(&dir, port, "server", &pki.clients.file);
    let nginx = Nginx::start(&dir, &block, &[port]);
    // The cluster's client pair in a directory of its own, replaced in place.
    let mount = dir.join("client-pair");
    std::fs::create_dir(&mount).unwrap();
    let pair = Leaf {
        cert: mount.join("tls.crt"),
        key: mount.join("tls.key"),
    };
    replace_pair(&pki.client, &pair, std::time::Duration::ZERO).await;
    let text = config(
        &format!("{{ address = \"127.0.0.1:{port}\" }}"),
        &format!(
            "ca = {:?}\nclient_cert = {:?}\nclient_key = {:?}\nserver_name = \"backend.test\"\n",
            pki.servers.file, pair.cert, pair.key
        ),
    );
    let proxy = common::proxy(&text);
    let (addr, admin) = (
        proxy.listener_addr("web").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    let shown = async || get(addr, "/", false).await.2;
    let body = shown().await;
    assert!(
        body.starts_with("nginx client=CN=client "),
        "{body}\n{}",
        nginx.log()
    );

    // A broken key is refused, named with its key path; the pair in use stays.
    std::fs::write(&pair.key, "not a key").unwrap();
    let refused = cluster_tls_until(admin, |c| !c["last_error"].is_null()).await;
    let error = refused["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("clusters[0].tls.client_key: "),
        "{refused}"
    );
    let body = shown().await;
    assert!(body.starts_with("nginx client=CN=client "), "{body}");

    // Renewed, the certificate first: the next request goes on a new connection (the
    // pooled one was set up with the old certificate) and shows the new one.
    replace_pair(&renewed, &pair, std::time::Duration::from_millis(50)).await;
    let loaded = cluster_tls_until(admin, |c| {
        c["certificates"][0]["names"][0] == "renewed.test"
    })
    .await;
    assert!(loaded["last_error"].is_null(), "{loaded}");
    let body = shown().await;
    assert!(body.starts_with("nginx client=CN=renewed "), "{body}");
    let metrics = get(admin, "/metrics", false).await.2;
    assert!(
        metrics
            .contains("switchyard_cluster_tls_client_certificate_expiry_seconds{cluster=\"api\""),
        "{metrics}"
    );
    stop(proxy).await;
    drop(nginx);
}
