//! TLS termination with real clients: curl over HTTP/1.1 and HTTP/2, openssl s_client
//! for server names and session resumption, client certificates, and configuration
//! errors that name the file, the key and the reason.

use crate::common;

use common::backend;
use common::certs::{Ca, Leaf, Pki, replace_pair, run, run_with_input, tls_connect, uri};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// A proxy config with one TLS listener (`tls` is the body of `[listeners.tls]`) in
/// front of `backend`, and an admin listener.
pub fn tls_config(backend: SocketAddr, tls: &str, extra: &str) -> String {
    format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"edge\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n{extra}\n\
         [listeners.tls]\n{tls}\n\
         [[clusters]]\nname = \"api\"\nendpoints = [{{ address = \"{backend}\" }}]\n"
    )
}

/// `[listeners.tls]` lines: the server certificate of `pki`, clients verified against
/// the CAs in `client_ca`.
fn mutual(pki: &Pki, client_ca: &Path) -> String {
    format!(
        "cert = {:?}\nkey = {:?}\nclient_ca = {:?}",
        pki.server.cert, pki.server.key, client_ca
    )
}

/// curl with the test CA, `host` resolved to the proxy: its exit status, the response
/// head and body, and curl's error text.
async fn curl(ca: &Path, proxy: SocketAddr, host: &str, extra: &[&str]) -> (bool, String, String) {
    let port = proxy.port();
    let mut args: Vec<String> = [
        "-sS",
        "--max-time",
        "10",
        "-D",
        "-",
        "-w",
        "\nversion=%{http_version}",
        "--cacert",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(ca.display().to_string());
    args.push("--resolve".into());
    args.push(format!("{host}:{port}:127.0.0.1"));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(format!("https://{host}:{port}/"));
    run("curl", args).await
}

/// `openssl s_client` arguments for `api.test` at the proxy at `addr`, trusting `ca`,
/// then `extra`.
fn s_client(addr: SocketAddr, ca: &Path, extra: &[&str]) -> Vec<String> {
    let (addr, ca) = (addr.to_string(), ca.display().to_string());
    let common = [
        "s_client",
        "-connect",
        &addr,
        "-servername",
        "api.test",
        "-CAfile",
        &ca,
    ];
    common.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// The subject of the certificate the proxy shows for `server_name` (`None`: no SNI).
async fn served_subject(ca: &Path, proxy: SocketAddr, server_name: Option<&str>) -> String {
    let mut args = vec![
        "s_client".to_string(),
        "-connect".into(),
        proxy.to_string(),
        "-CAfile".into(),
        ca.display().to_string(),
    ];
    match server_name {
        Some(name) => args.extend(["-servername".to_string(), name.to_string()]),
        None => args.push("-noservername".into()),
    }
    let (_, out, err) = run("openssl", args).await;
    out.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_else(|| panic!("no subject in s_client's output: {out}{err}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_over_http1_and_http2_and_a_certificate_by_server_name() {
    let dir = common::temp_dir("tls-sni");
    let ca = Ca::new(&dir, "test");
    let default = ca.leaf(
        &dir,
        "default",
        "default-cert",
        &["default.test", "127.0.0.1"],
    );
    let wildcard = ca.leaf(&dir, "wildcard", "wildcard-cert", &["*.example.test"]);
    let backend = backend::named("a", Duration::ZERO).await;
    let tls = format!(
        "cert = {:?}\nkey = {:?}\ncertificates = [{{ server_names = [\"*.example.test\"], cert = {:?}, key = {:?} }}]",
        default.cert, default.key, wildcard.cert, wildcard.key
    );
    let proxy = common::proxy(&tls_config(backend.addr, &tls, ""));
    let addr = proxy.listener_addr("edge").unwrap();

    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        for host in ["api.example.test", "default.test"] {
            let (ok, out, err) = curl(&ca.file, addr, host, &[flag]).await;
            assert!(ok, "curl {flag} https://{host}: {err}");
            assert!(
                out.ends_with(&format!("\na\nversion={version}"))
                    || out.contains(&format!("a\nversion={version}")),
                "{out}"
            );
            let head = out.to_ascii_lowercase();
            assert!(head.contains("x-backend: a"), "{out}");
            assert!(
                head.contains("proto=https"),
                "the endpoint hears it came over TLS: {out}"
            );
        }
    }
    assert!(
        served_subject(&ca.file, addr, Some("api.example.test"))
            .await
            .contains("wildcard-cert")
    );
    assert!(
        served_subject(&ca.file, addr, Some("other.test"))
            .await
            .contains("default-cert")
    );
    assert!(
        served_subject(&ca.file, addr, None)
            .await
            .contains("default-cert")
    );
    common::stop(proxy).await;
}

/// The `X-Forwarded-Client-Cert` the endpoint saw for curl's request with `args`.
async fn seen_client_cert(ca: &Path, proxy: SocketAddr, args: &[&str]) -> String {
    let (ok, out, err) = curl(ca, proxy, "api.test", args).await;
    assert!(ok, "{args:?}: {err}");
    let seen = out
        .lines()
        .find_map(|l| l.strip_prefix("x-seen-client-cert: "))
        .unwrap_or_else(|| panic!("{args:?}: the endpoint saw no client cert: {out}"));
    seen.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_and_reach_the_endpoint_as_its_identity() {
    let dir = common::temp_dir("tls-mutual");
    let pki = Pki::new(&dir, &["api.test"]);
    let ca = &pki.servers;
    let client = pki
        .clients
        .leaf_with(&dir, "team-a", "team-a", &["client.test"], |p| {
            p.subject_alt_names.push(uri("spiffe://example.org/team-a"));
        });
    let stranger = pki
        .strangers
        .leaf(&dir, "stranger", "stranger", &["client.test"]);
    let backend = backend::named("a", Duration::ZERO).await;
    let tls = mutual(&pki, &pki.clients.file);
    let proxy = common::proxy(&tls_config(backend.addr, &tls, ""));
    let addr = proxy.listener_addr("edge").unwrap();
    let admin = proxy.admin_addr().unwrap();

    let (ok, _, err) = curl(&ca.file, addr, "api.test", &[]).await;
    assert!(!ok, "a client without a certificate is refused ({err})");
    let with = |leaf: &Leaf| {
        [
            "--cert".to_string(),
            leaf.cert.display().to_string(),
            "--key".to_string(),
            leaf.key.display().to_string(),
        ]
    };
    let stranger_args = with(&stranger);
    let args: Vec<&str> = stranger_args.iter().map(String::as_str).collect();
    let (ok, _, err) = curl(&ca.file, addr, "api.test", &args).await;
    assert!(!ok, "a certificate from another CA is refused ({err})");

    let client_args = with(&client);
    for version in ["--http1.1", "--http2"] {
        let mut args: Vec<&str> = client_args.iter().map(String::as_str).collect();
        args.extend([
            version,
            "-H",
            "X-Forwarded-Client-Cert: Hash=forged;URI=spiffe://forged",
        ]);
        if version == "--http1.1" {
            // Naming it in Connection does not remove what the proxy vouches for.
            args.extend(["-H", "Connection: keep-alive, x-forwarded-client-cert"]);
        }
        let seen = seen_client_cert(&ca.file, addr, &args).await;
        assert!(seen.starts_with("Hash="), "{seen}");
        assert!(seen.contains("Subject=\"CN=team-a\""), "{seen}");
        assert!(seen.contains(";URI=spiffe://example.org/team-a"), "{seen}");
        assert!(
            !seen.contains("forged"),
            "what the client sent is removed: {seen}"
        );
    }

    // A client that speaks cleartext to the TLS port.
    let plain = common::client::raw_request(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(!plain.starts_with("HTTP/1.1 200"), "{plain}");

    let status = common::client::json(admin, "/tls").await;
    let failures = &status["listeners"][0]["handshake_failures"];
    assert!(
        failures["no_client_certificate"].as_u64() >= Some(1),
        "{status}"
    );
    assert!(
        failures["bad_client_certificate"].as_u64() >= Some(1),
        "{status}"
    );
    assert!(failures["malformed"].as_u64() >= Some(1), "{status}");
    let certificate = &status["listeners"][0]["certificates"][0];
    assert_eq!(
        certificate["names"],
        serde_json::json!(["api.test"]),
        "{status}"
    );
    assert!(
        certificate["expires_in_seconds"].as_i64() > Some(86_400),
        "{status}"
    );
    let (scrape, text) = common::scrape::scrape(admin).await;
    let refused = [("listener", "edge"), ("reason", "no_client_certificate")];
    let counted = common::scrape::value(&scrape, "switchyard_tls_handshake_errors_total", &refused);
    assert!(counted >= 1.0, "{text}");
    let expiry = common::scrape::total(
        &scrape,
        "switchyard_tls_certificate_expiry_seconds",
        &[("listener", "edge")],
    );
    assert!(expiry > 86_400.0, "{text}");
    common::stop(proxy).await;

    // append_forward: the client's own element first, the proxy's last, in one field,
    // over HTTP/1.1 (hyper's path) and HTTP/2.
    let extra = "forward_client_cert = \"append_forward\"";
    let proxy = common::proxy(&tls_config(backend.addr, &tls, extra));
    let addr = proxy.listener_addr("edge").unwrap();
    for version in ["--http1.1", "--http2"] {
        let mut args: Vec<&str> = client_args.iter().map(String::as_str).collect();
        args.extend([version, "-H", "X-Forwarded-Client-Cert: Hash=upstream"]);
        let seen = seen_client_cert(&ca.file, addr, &args).await;
        assert!(seen.starts_with("Hash=upstream,Hash="), "{version}: {seen}");
        assert!(seen.contains("Subject=\"CN=team-a\""), "{version}: {seen}");
    }
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume_whichever_worker_accepts_the_connection() {
    let dir = common::temp_dir("tls-resume");
    let ca = Ca::new(&dir, "test");
    let server = ca.leaf(&dir, "server", "server", &["api.test"]);
    let backend = backend::named("a", Duration::ZERO).await;
    let tls = format!("cert = {:?}\nkey = {:?}", server.cert, server.key);
    let proxy = common::proxy(&tls_config(backend.addr, &tls, ""));
    let addr = proxy.listener_addr("edge").unwrap();
    // The first connection saves its session; six more resume it, each a process of
    // its own (a port of its own): the two workers share the listening port, and each
    // connection goes to either.
    let request = "GET / HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n";
    for version in ["-tls1_2", "-tls1_3"] {
        let session = dir.join(format!("session{version}"));
        let s_client = |resume: &str| {
            let session = session.display().to_string();
            s_client(addr, &ca.file, &[version, "-ign_eof", resume, &session])
        };
        let (_, out, err) = run_with_input("openssl", s_client("-sess_out"), request).await;
        assert!(
            out.contains("\nNew, "),
            "{version}: a first, full handshake\n{out}{err}"
        );
        for _ in 0..6 {
            let (_, out, err) = run_with_input("openssl", s_client("-sess_in"), request).await;
            assert!(out.contains("\nReused, "), "{version}: resumed\n{out}{err}");
            assert!(
                out.contains("x-backend: a"),
                "{version}: and answered\n{out}{err}"
            );
        }
    }
    common::stop(proxy).await;
}

#[test]
fn unusable_files_are_named_with_their_key_and_reason() {
    let dir = common::temp_dir("tls-errors");
    let ca = Ca::new(&dir, "test");
    let good = ca.leaf(&dir, "good", "good", &["api.test"]);
    let other = ca.leaf(&dir, "other", "other", &["api.test"]);
    let expired = ca.leaf_with(&dir, "expired", "expired", &["api.test"], |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.join("missing.pem");
    let cases = [
        (
            format!("cert = {:?}\nkey = {:?}", missing, good.key),
            "listeners[0].tls.cert",
            format!("{}: cannot read", missing.display()),
        ),
        (
            format!("cert = {:?}\nkey = {:?}", good.cert, other.key),
            "listeners[0].tls.key",
            format!(
                "{}: does not match the certificate in {}",
                other.key.display(),
                good.cert.display()
            ),
        ),
        (
            format!("cert = {:?}\nkey = {:?}", expired.cert, expired.key),
            "listeners[0].tls.cert",
            format!("{}: expired at 2021-01-01", expired.cert.display()),
        ),
        (
            format!(
                "cert = {:?}\nkey = {:?}\nclient_ca = {:?}",
                good.cert, good.key, garbage
            ),
            "listeners[0].tls.client_ca",
            format!("{}: no CERTIFICATE block", garbage.display()),
        ),
        (
            format!("cert = {:?}\nkey = {:?}", good.cert, good.cert),
            "listeners[0].tls.key",
            format!("{}: no PRIVATE KEY block", good.cert.display()),
        ),
    ];
    for (tls, key, reason) in cases {
        let file = dir.join("switchyard.toml");
        std::fs::write(&file, tls_config("127.0.0.1:1".parse().unwrap(), &tls, "")).unwrap();
        let (ok, out, err) = common::switchyard(&["check-config", file.to_str().unwrap()]);
        assert!(!ok, "{tls}: {out}");
        let line = err
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("{key} not named: {err}"));
        assert!(line.contains(&reason), "{key}: {line}");
        assert!(
            line.contains(&file.display().to_string()),
            "the config file is named: {line}"
        );
    }
}

/// Waits (5 s at most) until new handshakes see a certificate whose subject has `cn`:
/// how long that took.
async fn until_served(ca: &Path, proxy: SocketAddr, cn: &str) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let subject = served_subject(ca, proxy, Some("api.test")).await;
        if subject.contains(cn) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still {subject} after 5 s, not {cn}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_serves_new_handshakes_and_no_request_fails() {
    let dir = common::temp_dir("tls-renew");
    let ca = Ca::new(&dir, "test");
    let live = ca.leaf(&dir, "live", "first-cert", &["api.test"]);
    let renewed = ca.leaf(&dir, "renewed", "renewed-cert", &["api.test"]);
    let backend = backend::named("a", Duration::ZERO).await;
    let tls = format!("cert = {:?}\nkey = {:?}", live.cert, live.key);
    let proxy = common::proxy(&tls_config(backend.addr, &tls, ""));
    let addr = proxy.listener_addr("edge").unwrap();
    let admin = proxy.admin_addr().unwrap();

    // wrk over TLS, every request on a new connection (a new handshake), while the
    // pair is renewed one file at a time.
    let url = format!("https://127.0.0.1:{}/", addr.port());
    let load = tokio::spawn(run(
        "wrk",
        ["-t1", "-c4", "-d3s", "-H", "Connection: close", &url]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    ));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    replace_pair(&renewed, &live, Duration::from_millis(300)).await;
    let took = until_served(&ca.file, addr, "renewed-cert").await;
    println!("renewed pair served by new handshakes {took:?} after its key was written");
    let (ok, out, err) = load.await.unwrap();
    assert!(ok, "wrk: {err}");
    let requests: u64 = out
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in")
                .map(|(n, _)| n.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("wrk's output: {out}"));
    assert!(requests > 50, "{out}");
    assert!(
        !out.contains("Socket errors") && !out.contains("Non-2xx"),
        "no failed request: {out}"
    );
    let status = common::client::json(admin, "/tls").await;
    assert_eq!(
        status["listeners"][0]["last_error"],
        serde_json::Value::Null,
        "{status}"
    );

    // A broken certificate is refused with its file and reason; the renewed one serves.
    std::fs::write(
        &live.cert,
        "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let error = loop {
        let status = common::client::json(admin, "/tls").await;
        if let Some(error) = status["listeners"][0]["last_error"].as_str() {
            break error.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not refused: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(error.starts_with("listeners[0].tls.cert: "), "{error}");
    assert!(error.contains(&live.cert.display().to_string()), "{error}");
    assert!(
        served_subject(&ca.file, addr, Some("api.test"))
            .await
            .contains("renewed-cert")
    );
    let (ok, _, err) = curl(&ca.file, addr, "api.test", &[]).await;
    assert!(ok, "still serving: {err}");
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_mount_swapped_by_symlink_is_reloaded() {
    // Kubernetes' layout: tls.crt -> ..data/tls.crt, ..data -> ..VERSION/.
    let dir = common::temp_dir("tls-symlink");
    let ca = Ca::new(&dir, "test");
    let mount = dir.join("mount");
    let version = |name: &str, cn: &str| {
        let at = mount.join(name);
        std::fs::create_dir_all(&at).unwrap();
        let leaf = ca.leaf(&at, "tls", cn, &["api.test"]);
        std::fs::rename(&leaf.cert, at.join("tls.crt")).unwrap();
        std::fs::rename(&leaf.key, at.join("tls.key")).unwrap();
    };
    version("..v1", "first-cert");
    std::os::unix::fs::symlink("..v1", mount.join("..data")).unwrap();
    for file in ["tls.crt", "tls.key"] {
        std::os::unix::fs::symlink(format!("..data/{file}"), mount.join(file)).unwrap();
    }
    let backend = backend::named("a", Duration::ZERO).await;
    let tls = format!(
        "cert = {:?}\nkey = {:?}",
        mount.join("tls.crt"),
        mount.join("tls.key")
    );
    let proxy = common::proxy(&tls_config(backend.addr, &tls, ""));
    let addr = proxy.listener_addr("edge").unwrap();
    until_served(&ca.file, addr, "first-cert").await;

    version("..v2", "second-cert");
    std::os::unix::fs::symlink("..v2", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join("..v1")).unwrap();
    let took = until_served(&ca.file, addr, "second-cert").await;
    println!("swapped secret served by new handshakes after {took:?}");
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_routes_by_the_verified_client_identity() {
    let dir = common::temp_dir("tls-identity");
    let pki = Pki::new(&dir, &["api.test"]);
    let (ca, clients) = (&pki.servers, &pki.clients);
    let backends = [
        backend::named("a", Duration::ZERO).await,
        backend::named("b", Duration::ZERO).await,
        backend::named("c", Duration::ZERO).await,
    ];
    let endpoints: Vec<String> = backends
        .iter()
        .map(|b| format!("{{ address = \"{}\" }}", b.addr))
        .collect();
    let text = format!(
        "workers = 2\n[[listeners]]\nname = \"edge\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [listeners.tls]\n{}\n\
         [[clusters]]\nname = \"api\"\npolicy = \"ring-hash\"\n\
         policy_config = {{ hash_on = \"header:x-forwarded-client-cert\" }}\nendpoints = [{}]\n",
        mutual(&pki, &clients.file),
        endpoints.join(", ")
    );
    let proxy = common::proxy(&text);
    let addr = proxy.listener_addr("edge").unwrap();
    // Each identity always lands on one backend; all claim the same in the header, so
    // only the identity the proxy sets can spread them. The certificates are new every
    // run, so their hashes land anywhere: with 12 identities, all on one of the three
    // backends by chance is 3 in 3^12 (6 in a million); with 6 it was 1 in 243.
    let mut chosen = std::collections::BTreeMap::new();
    for i in 0..12 {
        let leaf = clients.leaf(&dir, &format!("client{i}"), &format!("client-{i}"), &[]);
        let args = [
            "--cert".to_string(),
            leaf.cert.display().to_string(),
            "--key".to_string(),
            leaf.key.display().to_string(),
            "-H".to_string(),
            "X-Forwarded-Client-Cert: Hash=forged".to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3 {
            let (ok, out, err) = curl(&ca.file, addr, "api.test", &args).await;
            assert!(ok, "{err}");
            let backend = out
                .lines()
                .find_map(|l| l.strip_prefix("x-backend: "))
                .unwrap();
            seen.insert(backend.to_string());
        }
        assert_eq!(seen.len(), 1, "client-{i} stays on one backend: {seen:?}");
        chosen.insert(i, seen.into_iter().next().unwrap());
    }
    let spread: std::collections::BTreeSet<_> = chosen.values().collect();
    assert!(
        spread.len() > 1,
        "identities spread over the backends: {chosen:?}"
    );
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_session_is_verified_again_against_the_client_ca_in_use() {
    let dir = common::temp_dir("tls-resume-ca");
    let pki = Pki::new(&dir, &["api.test"]);
    let (ca, client, others) = (&pki.servers, &pki.client, &pki.strangers);
    let client_ca = dir.join("client-ca.pem");
    std::fs::copy(&pki.clients.file, &client_ca).unwrap();
    let backend = backend::named("a", Duration::ZERO).await;
    let tls = mutual(&pki, &client_ca);
    let proxy = common::proxy(&tls_config(backend.addr, &tls, ""));
    let addr = proxy.listener_addr("edge").unwrap();
    let admin = proxy.admin_addr().unwrap();
    let session = dir.join("session");
    let (cert, key) = (client.cert.display(), client.key.display());
    let (cert, key, session) = (
        cert.to_string(),
        key.to_string(),
        session.display().to_string(),
    );
    let s_client = |resume: &str| {
        let extra = [
            "-cert", &cert, "-key", &key, "-tls1_3", "-ign_eof", resume, &session,
        ];
        s_client(addr, &ca.file, &extra)
    };
    let request = "GET / HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n";
    let (_, out, err) = run_with_input("openssl", s_client("-sess_out"), request).await;
    assert!(
        out.contains("x-backend: a"),
        "first connection served\n{out}{err}"
    );
    let (_, out, err) = run_with_input("openssl", s_client("-sess_in"), request).await;
    assert!(
        out.contains("\nReused, ") && out.contains("x-backend: a"),
        "resumed\n{out}{err}"
    );

    // The clients' CA is replaced: a session that began under it no longer vouches.
    let loaded = |status: &serde_json::Value| status["listeners"][0]["loaded_at"].clone();
    let before = loaded(&common::client::json(admin, "/tls").await);
    std::fs::copy(&others.file, &client_ca).unwrap();
    let started = std::time::Instant::now();
    loop {
        let status = common::client::json(admin, "/tls").await;
        if loaded(&status) != before {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not reloaded: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, out, err) = run_with_input("openssl", s_client("-sess_in"), request).await;
    assert!(
        !out.contains("x-backend: a"),
        "a resumed session is checked again\n{out}{err}"
    );
    let status = common::client::json(admin, "/tls").await;
    let refused = &status["listeners"][0]["handshake_failures"]["bad_client_certificate"];
    assert!(refused.as_u64() >= Some(1), "{status}");
    common::stop(proxy).await;
}

/// Reads from `stream` until `n` whole answers of backend `a` came (5 s at most).
async fn answers(stream: &mut (impl tokio::io::AsyncRead + Unpin), n: usize) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = async {
        while String::from_utf8_lossy(&got).matches("\r\n\r\na").count() < n {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(k) => got.extend_from_slice(&chunk[..k]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tls_connection_parks_serves_again_and_times_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = common::temp_dir("tls-park");
    let pki = Pki::new(&dir, &["api.test"]);
    let backend = backend::named("a", Duration::ZERO).await;
    let tls = format!("cert = {:?}\nkey = {:?}", pki.server.cert, pki.server.key);
    let proxy = common::proxy(&tls_config(backend.addr, &tls, "idle_timeout = \"1s\""));
    let addr = proxy.listener_addr("edge").unwrap();
    let mut stream = tls_connect(addr, "api.test", &pki.servers.file).await;
    let request = "GET / HTTP/1.1\r\nHost: api.test\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let first = answers(&mut stream, 1).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // Parked by now; three pipelined requests in one record wake it, and all are
    // answered (those the session held back as well).
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream
        .write_all(request.repeat(3).as_bytes())
        .await
        .unwrap();
    let three = answers(&mut stream, 3).await;
    assert_eq!(three.matches("HTTP/1.1 200").count(), 3, "{three}");
    // Idle past the idle timeout: closed.
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "still open after 5 s");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_over_tls_takes_the_fast_path_with_its_exact_framing() {
    use crate::proxy_http1::{framed, relays_pipelined};
    let dir = common::temp_dir("tls-fast");
    let pki = Pki::new(&dir, &["api.test"]);
    let backend = backend::scripted(framed).await;
    let tls = format!("cert = {:?}\nkey = {:?}", pki.server.cert, pki.server.key);
    let proxy = common::proxy(&tls_config(backend.addr, &tls, ""));
    let addr = proxy.listener_addr("edge").unwrap();
    let mut stream = tls_connect(addr, "api.test", &pki.servers.file).await;
    // The interim response and the chunks as the endpoint wrote them: only the fast
    // path relays those (hyper's would re-frame them).
    relays_pipelined(&mut stream).await;
    let requests = backend.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 6);
    for field in [
        "forwarded: for=127.0.0.1;proto=https;host=\"api.test\"\r\n",
        "x-forwarded-proto: https\r\n",
    ] {
        assert!(requests[0].contains(field), "{field} in {}", requests[0]);
    }
    assert_eq!(
        backend
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "one pooled upstream connection carried all six"
    );
    common::stop(proxy).await;
}

/// A response delimited by the close, whose endpoint stalls after a few bytes of body.
fn stalls_mid_body(_: &str, _: usize) -> Option<(Vec<u8>, bool)> {
    Some((b"HTTP/1.1 200 OK\r\n\r\npartial".to_vec(), false))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_the_endpoint_breaks_off_ends_without_close_notify() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = common::temp_dir("tls-cut");
    let pki = Pki::new(&dir, &["api.test"]);
    let backend = backend::scripted(stalls_mid_body).await;
    let tls = format!("cert = {:?}\nkey = {:?}", pki.server.cert, pki.server.key);
    let config =
        tls_config(backend.addr, &tls, "") + "[clusters.timeouts]\nbody_idle = \"300ms\"\n";
    let proxy = common::proxy(&config);
    let addr = proxy.listener_addr("edge").unwrap();
    let mut stream = tls_connect(addr, "api.test", &pki.servers.file).await;
    let request = "GET / HTTP/1.1\r\nHost: api.test\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let read = stream.read_to_end(&mut got);
    let ended = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("closed once the endpoint stalled past body_idle");
    let got = String::from_utf8_lossy(&got);
    assert!(got.ends_with("\r\n\r\npartial"), "{got}");
    // With close_notify the client would take the part for the whole response.
    let error = ended.expect_err("the close is not a clean TLS close");
    assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
    common::stop(proxy).await;
}
