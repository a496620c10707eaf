//! Raw TCP listeners with real servers behind them: Redis (`redis-server`, with
//! `redis-cli` and `redis-benchmark` through the proxy), three Redis servers balanced
//! by `maglev` on the client's address, the PROXY protocol both ways checked by HAProxy
//! (`accept-proxy`) and its health probes, TLS passthrough by server name, and which
//! failures count against an endpoint.

use crate::common;

use common::certs::{Ca, acceptor, try_tls_connect};
use common::client::json;
use common::daemon::Daemon;
use common::nginx::free_port;
use common::scrape::{scrape, total, value};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Bounds every wait on a connection.
const WAIT: Duration = Duration::from_secs(10);

/// A redis-server of the test's own (no persistence), stopped when dropped.
struct Redis {
    _daemon: Daemon,
    port: u16,
}

impl Redis {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let log = dir.join(format!("redis-{port}.log"));
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log);
        let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
        Self {
            _daemon: Daemon::start(command, &[port], "apt redis-server", read_log),
            port,
        }
    }

    fn endpoint(&self) -> String {
        format!("{{ address = \"127.0.0.1:{}\" }}", self.port)
    }
}

/// Runs a Redis tool (`redis-cli`, `redis-benchmark`) against `addr`: its output.
fn redis_tool(tool: &str, addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {tool} (apt redis-tools): {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{tool} {args:?}: {stdout}{stderr}");
    stdout.into_owned()
}

/// A connection to `addr` from the source address `from`.
async fn connect_from(from: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .expect("connected in time")
        .unwrap()
}

/// Sends `bytes` and reads until `done` holds for what came back (or the connection
/// closes): the text read.
async fn ask(stream: &mut TcpStream, bytes: &[u8], done: impl Fn(&str) -> bool) -> String {
    stream.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    let reading = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
            if done(&String::from_utf8_lossy(&got)) {
                break;
            }
        }
    };
    tokio::time::timeout(WAIT, reading)
        .await
        .expect("an answer in time");
    String::from_utf8_lossy(&got).into_owned()
}

/// The port of the Redis server `stream` reaches (`CONFIG GET port`).
async fn redis_port(stream: &mut TcpStream) -> String {
    let answer = ask(stream, b"CONFIG GET port\r\n", |text| {
        text.matches("\r\n").count() >= 5
    })
    .await;
    answer.lines().nth(4).unwrap_or_default().to_string()
}

/// The cluster's endpoints from the admin API: (address, field) for each.
async fn endpoints(admin: SocketAddr, cluster: &str) -> Vec<serde_json::Value> {
    let clusters = json(admin, "/clusters").await;
    let clusters = clusters["clusters"].as_array().unwrap();
    let cluster = clusters.iter().find(|c| c["name"] == cluster).unwrap();
    cluster["endpoints"].as_array().unwrap().clone()
}

/// Waits (at most 5 s) until `check` holds for the cluster's endpoints.
async fn until_endpoints(
    admin: SocketAddr,
    cluster: &str,
    what: &str,
    check: impl Fn(&[serde_json::Value]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = endpoints(admin, cluster).await;
        if check(&now) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: endpoints of {cluster} are {now:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_clients_and_benchmarks_pass_through_a_tcp_listener() {
    let dir = common::temp_dir("tcp-redis");
    let redis = Redis::start(&dir);
    let proxy = common::proxy(&format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"redis\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ncluster = \"redis\"\n\
         [[clusters]]\nname = \"redis\"\npolicy = \"least-request\"\nendpoints = [{}]\n",
        redis.endpoint()
    ));
    let (addr, admin) = (
        proxy.listener_addr("redis").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    assert_eq!(
        redis_tool("redis-cli", addr, &["SET", "greeting", "hello"]).trim(),
        "OK"
    );
    assert_eq!(
        redis_tool("redis-cli", addr, &["GET", "greeting"]).trim(),
        "hello"
    );
    for pipeline in ["1", "16"] {
        let report = redis_tool(
            "redis-benchmark",
            addr,
            &[
                "-n", "5000", "-c", "8", "-P", pipeline, "-t", "set,get", "-q",
            ],
        );
        for test in ["SET", "GET"] {
            assert!(
                report.contains(&format!("{test}: ")) && report.contains("requests per second"),
                "pipeline {pipeline}: {report}"
            );
        }
    }
    // An open connection is in flight at its endpoint for as long as it lasts.
    let mut client = TcpStream::connect(addr).await.unwrap();
    let pong = ask(&mut client, b"PING\r\n", |t| t.ends_with("\r\n")).await;
    assert_eq!(pong, "+PONG\r\n");
    until_endpoints(admin, "redis", "one connection open", |e| {
        e[0]["in_flight"] == 1
    })
    .await;
    drop(client);
    until_endpoints(admin, "redis", "no connection open", |e| {
        e[0]["in_flight"] == 0 && e[0]["failures"] == 0
    })
    .await;
    let (scraped, text) = scrape(admin).await;
    let closed = total(
        &scraped,
        "switchyard_listener_tunnels_closed_total",
        &[("listener", "redis")],
    );
    assert!(closed >= 19.0, "{closed} closed connections: {text}");
    for direction in ["up", "down"] {
        let bytes = value(
            &scraped,
            "switchyard_listener_tunnel_bytes_total",
            &[("listener", "redis"), ("direction", direction)],
        );
        assert!(bytes > 10_000.0, "{direction}: {bytes} bytes");
    }
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maglev_on_the_client_address_keeps_each_client_on_one_redis() {
    let dir = common::temp_dir("tcp-maglev");
    let servers = [Redis::start(&dir), Redis::start(&dir), Redis::start(&dir)];
    let endpoints: Vec<String> = servers.iter().map(Redis::endpoint).collect();
    let proxy = common::proxy(&format!(
        "workers = 2\n\
         [[listeners]]\nname = \"redis\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ncluster = \"redis\"\n\
         [[clusters]]\nname = \"redis\"\npolicy = \"maglev\"\npolicy_config = {{ hash_on = \"client-ip\" }}\n\
         endpoints = [{}]\n",
        endpoints.join(", ")
    ));
    let addr = proxy.listener_addr("redis").unwrap();
    let mut reached = std::collections::BTreeMap::new();
    for host in 2..=13u8 {
        let from = Ipv4Addr::new(127, 0, 0, host);
        let mut ports = std::collections::BTreeSet::new();
        for _ in 0..4 {
            let mut stream = connect_from(from, addr).await;
            ports.insert(redis_port(&mut stream).await);
        }
        assert_eq!(ports.len(), 1, "{from} reached {ports:?}");
        reached.insert(from, ports.pop_first().unwrap());
    }
    let servers_used: std::collections::BTreeSet<_> = reached.values().collect();
    assert!(
        servers_used.len() >= 2,
        "twelve addresses all went to one server: {reached:?}"
    );
    common::stop(proxy).await;
}

/// HAProxy answering each HTTP request on `port` with the client and destination
/// addresses the PROXY header of its connection gave (`accept-proxy`: a connection
/// without one is refused), `src:port dst:port`.
fn haproxy_seeing_proxy_headers(dir: &Path, port: u16) -> Daemon {
    let config = dir.join("haproxy.cfg");
    std::fs::write(
        &config,
        format!(
            "global\n    nbthread 1\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
             frontend seen\n    bind 127.0.0.1:{port} accept-proxy\n    \
             http-request return status 200 content-type text/plain lf-string \"%[src]:%[src_port] %[dst]:%[dst_port]\"\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(haproxy_binary());
    command.arg("-f").arg(&config).arg("-db");
    Daemon::start(command, &[port], "apt haproxy", String::new)
}

/// HAProxy on the PATH, or where Debian puts it.
fn haproxy_binary() -> &'static str {
    if Path::new("/usr/sbin/haproxy").exists() {
        "/usr/sbin/haproxy"
    } else {
        "haproxy"
    }
}

/// What HAProxy says it saw of one `GET /` sent after `header` on a connection to
/// `addr` from `from`.
async fn seen_through(from: Ipv4Addr, addr: SocketAddr, header: &[u8]) -> String {
    let mut stream = connect_from(from, addr).await;
    let mut request = header.to_vec();
    request.extend_from_slice(b"GET / HTTP/1.0\r\n\r\n");
    let answer = ask(&mut stream, &request, |_| false).await;
    answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// A PROXY protocol v2 header for a TCP/IPv4 connection from `src` to `dst`, written
/// byte by byte as the specification lays it out.
fn v2_header(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else {
        unreachable!("IPv4 only")
    };
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.extend_from_slice(&[0x21, 0x11, 0, 12]);
    header.extend_from_slice(&src.ip().octets());
    header.extend_from_slice(&dst.ip().octets());
    header.extend_from_slice(&src.port().to_be_bytes());
    header.extend_from_slice(&dst.port().to_be_bytes());
    header
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_protocol_names_the_client_both_ways_and_to_health_probes() {
    let dir = common::temp_dir("tcp-proxy-protocol");
    let seen_port = free_port();
    let _haproxy = haproxy_seeing_proxy_headers(&dir, seen_port);
    let endpoint = format!("{{ address = \"127.0.0.1:{seen_port}\" }}");
    let probe = "health_check = { kind = \"http\", path = \"/\", interval = \"100ms\", \
                 healthy_threshold = 1, unhealthy_threshold = 1 }";
    let proxy = common::proxy(&format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"v2\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ncluster = \"v2\"\n\
         accept_proxy_from = [\"127.0.0.1\"]\n\
         [[listeners]]\nname = \"v1\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ncluster = \"v1\"\n\
         [[listeners]]\nname = \"plain\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ncluster = \"plain\"\n\
         [[clusters]]\nname = \"v2\"\nsend_proxy_protocol = \"v2\"\nendpoints = [{endpoint}]\n{probe}\n\
         [[clusters]]\nname = \"v1\"\nsend_proxy_protocol = \"v1\"\nendpoints = [{endpoint}]\n{probe}\n\
         [[clusters]]\nname = \"plain\"\nendpoints = [{endpoint}]\n{probe}\n"
    ));
    let admin = proxy.admin_addr().unwrap();
    let [v2, v1] = ["v2", "v1"].map(|name| proxy.listener_addr(name).unwrap());
    let client = Ipv4Addr::new(127, 0, 0, 5);
    // Untrusted peers: their own address, as the proxy saw it.
    let seen = seen_through(client, v2, b"").await;
    assert!(seen.starts_with("127.0.0.5:"), "{seen}");
    assert!(
        seen.ends_with(&format!(" 127.0.0.1:{}", v2.port())),
        "{seen}"
    );
    let seen = seen_through(client, v1, b"").await;
    assert!(seen.starts_with("127.0.0.5:"), "v1: {seen}");
    // A trusted peer's header names the client, in v1 and v2 alike.
    let trusted = Ipv4Addr::LOCALHOST;
    let v1_header = b"PROXY TCP4 127.0.0.77 127.0.0.88 5555 6666\r\n";
    assert_eq!(
        seen_through(trusted, v2, v1_header).await,
        "127.0.0.77:5555 127.0.0.88:6666"
    );
    let named = v2_header(
        "127.0.0.66:4444".parse().unwrap(),
        "127.0.0.99:80".parse().unwrap(),
    );
    assert_eq!(
        seen_through(trusted, v2, &named).await,
        "127.0.0.66:4444 127.0.0.99:80"
    );
    // A trusted peer without a header is refused, counted as its fault.
    assert_eq!(seen_through(trusted, v2, b"").await, "");
    let (scraped, _) = scrape(admin).await;
    let malformed = value(
        &scraped,
        "switchyard_downstream_errors_total",
        &[("listener", "v2"), ("kind", "malformed")],
    );
    assert_eq!(malformed, 1.0);
    // Probes of a PROXY-protocol endpoint send a header of their own; without one,
    // HAProxy refuses them.
    for cluster in ["v2", "v1"] {
        until_endpoints(admin, cluster, "probes pass", |e| {
            e[0]["last_probe"]["success"] == true
        })
        .await;
    }
    until_endpoints(admin, "plain", "probes fail", |e| {
        e[0]["last_probe"]["success"] == false
    })
    .await;
    assert!(
        endpoints(admin, "v2").await[0]["failures"] == 0,
        "a client's bad header is not the endpoint's failure"
    );
    common::stop(proxy).await;
}

/// A TLS server for `name` that writes its name to each client once the handshake is
/// done.
async fn tls_server(ca: &Ca, dir: &Path, name: &'static str) -> SocketAddr {
    let leaf = ca.leaf(dir, name, name, &[name]);
    let tls = acceptor(&leaf);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                if let Ok(mut stream) = tls.accept(stream).await {
                    let _ = stream.write_all(name.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_passthrough_sends_each_server_name_to_its_own_backend() {
    let dir = common::temp_dir("tcp-passthrough");
    let ca = Ca::new(&dir, "passthrough");
    let a = tls_server(&ca, &dir, "a.test").await;
    let b = tls_server(&ca, &dir, "b.test").await;
    let proxy = common::proxy(&format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ntls_passthrough = true\n\
         [[listeners.routes]]\nmatch = {{ host = \"a.test\" }}\ncluster = \"a\"\n\
         [[listeners.routes]]\nmatch = {{ host = \"b.test\" }}\ncluster = \"b\"\n\
         [[clusters]]\nname = \"a\"\nendpoints = [{{ address = \"{a}\" }}]\n\
         [[clusters]]\nname = \"b\"\nendpoints = [{{ address = \"{b}\" }}]\n"
    ));
    let (addr, admin) = (
        proxy.listener_addr("tls").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    for name in ["a.test", "b.test", "B.TEST", "a.test"] {
        let mut stream = try_tls_connect(addr, name, &ca.file).await.unwrap();
        let mut said = String::new();
        let read = stream.read_to_string(&mut said);
        tokio::time::timeout(WAIT, read).await.unwrap().unwrap();
        assert_eq!(said, name.to_ascii_lowercase(), "asked for {name}");
    }
    // A name no route has, and bytes that are not TLS, are closed unrelayed.
    let ca_file = &ca.file;
    let unknown = tokio::time::timeout(WAIT, try_tls_connect(addr, "c.test", ca_file)).await;
    assert!(unknown.unwrap().is_err(), "c.test has no route");
    let mut plain = TcpStream::connect(addr).await.unwrap();
    let answer = ask(
        &mut plain,
        b"GET / HTTP/1.1\r\nhost: a.test\r\n\r\n",
        |_| false,
    )
    .await;
    assert_eq!(answer, "");
    let (scraped, _) = scrape(admin).await;
    let faults = [("tls", "malformed")].map(|(listener, kind)| {
        value(
            &scraped,
            "switchyard_downstream_errors_total",
            &[("listener", listener), ("kind", kind)],
        )
    });
    assert_eq!(faults, [1.0]);
    let unrouted = value(
        &scraped,
        "switchyard_listener_unrouted_requests_total",
        &[("listener", "tls")],
    );
    assert_eq!(unrouted, 1.0);
    common::stop(proxy).await;
}

/// An echo server: echoes what each connection sends, and resets the connection (as
/// a crashing server would) when a read holds `reset`.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if buf[..n].windows(5).any(|w| w == b"reset") {
                        let _ = stream.set_zero_linger();
                        return;
                    }
                    if stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_failures_fall_through_and_only_the_endpoints_own_failures_count() {
    let echo = echo_server().await;
    let dead = free_port();
    let proxy = common::proxy(&format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"tcp\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ncluster = \"echo\"\n\
         [[clusters]]\nname = \"echo\"\npolicy = \"round-robin\"\n\
         endpoints = [{{ address = \"127.0.0.1:{dead}\" }}, {{ address = \"{echo}\" }}]\n"
    ));
    let (addr, admin) = (
        proxy.listener_addr("tcp").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    for i in 0..10 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let message = format!("hello {i}");
        let echoed = ask(&mut stream, message.as_bytes(), |t| {
            t.len() >= message.len()
        })
        .await;
        assert_eq!(
            echoed, message,
            "connection {i} fell through to the live endpoint"
        );
    }
    let failures = |e: &[serde_json::Value]| -> Vec<u64> {
        e.iter().map(|e| e["failures"].as_u64().unwrap()).collect()
    };
    let now = endpoints(admin, "echo").await;
    assert!(
        failures(&now)[0] >= 3,
        "the dead endpoint's refusals: {now:#?}"
    );
    // A client that resets its connection is not the endpoint's failure.
    for _ in 0..3 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        ask(&mut stream, b"ping", |t| t.len() >= 4).await;
        stream.set_zero_linger().unwrap();
        drop(stream);
    }
    until_endpoints(admin, "echo", "client resets are not the endpoint's", |e| {
        e[1]["in_flight"] == 0 && failures(e)[1] == 0
    })
    .await;
    // An endpoint that resets a connection its client still uses is.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    ask(&mut stream, b"ping", |t| t.len() >= 4).await;
    let after = ask(&mut stream, b"reset", |_| false).await;
    assert_eq!(after, "", "the client's side is closed");
    until_endpoints(admin, "echo", "the endpoint's reset counts", |e| {
        e[1]["in_flight"] == 0 && failures(e)[1] == 1
    })
    .await;
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_go_on_while_the_proxy_drains() {
    let echo = echo_server().await;
    let proxy = common::proxy(&format!(
        "workers = 1\ndrain_timeout = \"8s\"\n\
         [[listeners]]\nname = \"tcp\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ncluster = \"echo\"\n\
         [[clusters]]\nname = \"echo\"\nendpoints = [{{ address = \"{echo}\" }}]\n"
    ));
    let addr = proxy.listener_addr("tcp").unwrap();
    let mut open = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ask(&mut open, b"before", |t| t.len() >= 6).await, "before");
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(common::stop(proxy));
    // Once the listener has stopped accepting, new connections are refused...
    let deadline = tokio::time::Instant::now() + WAIT;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still accepting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...while the open one still relays, and the proxy stops as soon as it closes.
    assert_eq!(ask(&mut open, b"during", |t| t.len() >= 6).await, "during");
    assert!(
        !stopping.is_finished(),
        "the stop waits for the open connection"
    );
    drop(open);
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "stopped when the connection closed, not at the drain timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tunnels_caps_a_tcp_listeners_connections() {
    let echo = echo_server().await;
    let proxy = common::proxy(&format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"tcp\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ncluster = \"echo\"\nmax_tunnels = 2\n\
         [[clusters]]\nname = \"echo\"\nendpoints = [{{ address = \"{echo}\" }}]\n"
    ));
    let (addr, admin) = (
        proxy.listener_addr("tcp").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    let mut held = Vec::new();
    for i in 0..2 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert_eq!(
            ask(&mut stream, b"hold", |t| t.len() >= 4).await,
            "hold",
            "{i}"
        );
        held.push(stream);
    }
    let mut over = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        ask(&mut over, b"more", |_| false).await,
        "",
        "closed at once"
    );
    let (scraped, _) = scrape(admin).await;
    let refused = value(
        &scraped,
        "switchyard_listener_connections_refused_total",
        &[("listener", "tcp"), ("reason", "max_tunnels")],
    );
    assert_eq!(refused, 1.0);
    drop(held);
    common::stop(proxy).await;
}
