//! DNS discovery end to end against a real DNS server (dnsmasq) on loopback: a
//! cluster follows a name's SRV records (targets on 127.0.0.1, one port per backend)
//! within the refresh bound; while the name does not resolve, the last membership
//! stays. A records serve with the configured port (tests use 127.0.0.1 only, so one
//! address).

use crate::common;

use common::client::{json, until_answered_by};
use common::{backend, proxy};
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// dnsmasq serving the `.test` zone with `records` (dnsmasq options), TTL 1 s.
/// Killed when dropped.
struct Dns(Child);

/// `_api._tcp.test` SRV records, one per port in `ports`, all with target `a.test`
/// (127.0.0.1).
fn srv(ports: &[u16]) -> Vec<String> {
    let mut records = vec!["--host-record=a.test,127.0.0.1".to_string()];
    records.extend(
        ports
            .iter()
            .map(|p| format!("--srv-host=_api._tcp.test,a.test,{p},0,1")),
    );
    records
}

impl Dns {
    /// Starts dnsmasq on `port` and waits (up to 10 s) until it answers a query, so a
    /// proxy's first lookup is not sent into the void (a lost UDP query costs the
    /// resolver's whole timeout, 5 s).
    fn start(port: u16, records: &[String]) -> Self {
        let binary = ["/usr/sbin/dnsmasq", "dnsmasq"]
            .into_iter()
            .find(|b| Command::new(b).arg("--version").output().is_ok())
            .expect("dnsmasq is installed (apt-get install dnsmasq-base; scripts/test.sh does)");
        let mut command = Command::new(binary);
        command.args([
            "--no-daemon",
            "--conf-file=/dev/null",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--local=/test/",
            "--local-ttl=1",
        ]);
        let child = command
            .args(records)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting dnsmasq");
        let mut dns = Self(child);
        dns.wait_until_answering(port);
        dns
    }

    /// Asks dnsmasq for `a.test` until an answer comes; panics with its exit status
    /// and what it printed if none comes within 10 s.
    fn wait_until_answering(&mut self, port: u16) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let started = Instant::now();
        let mut answer = [0u8; 512];
        while started.elapsed() < Duration::from_secs(10) {
            let _ = socket.send_to(&QUERY_A_TEST, ("127.0.0.1", port));
            if let Ok((n, _)) = socket.recv_from(&mut answer)
                && n >= 2
                && answer[..2] == QUERY_A_TEST[..2]
            {
                return;
            }
        }
        let _ = self.0.kill();
        let status = self.0.wait().unwrap();
        let mut printed = String::new();
        if let Some(mut stderr) = self.0.stderr.take() {
            let _ = stderr.read_to_string(&mut printed);
        }
        panic!("dnsmasq on port {port} did not answer within 10 s ({status}): {printed}");
    }
}

/// A DNS query (id 0x5359, recursion desired) for the A records of `a.test`.
const QUERY_A_TEST: [u8; 24] = [
    0x53, 0x59, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, // header: one question
    1, b'a', 4, b't', b'e', b's', b't', 0, // a.test
    0, 1, 0, 1, // type A, class IN
];

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free now for both UDP and TCP (dnsmasq binds both), below the kernel's
/// ephemeral range (32768 and up unless changed): no outgoing connection of a test
/// running alongside can take it between here, dnsmasq's start and a restart on it.
fn free_dns_port() -> u16 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let seed = u64::from(std::process::id()) * 7_919 + CALLS.fetch_add(1, Relaxed) * 1_009;
    (0..2_000u64)
        .map(|i| 20_000 + ((seed + i * 13) % 12_000) as u16)
        .find(|&port| {
            TcpListener::bind(("127.0.0.1", port)).is_ok()
                && UdpSocket::bind(("127.0.0.1", port)).is_ok()
        })
        .expect("a port from 20000 to 31999 free for UDP and TCP")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_follows_srv_records_and_survives_a_name_that_does_not_resolve() {
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let c = backend::named("c", Duration::ZERO).await;
    let port = free_dns_port();
    let mut dns = Dns::start(port, &srv(&[a.addr.port(), b.addr.port()]));
    let config = format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\npolicy = \"round-robin\"\n\
         discovery = {{ kind = \"dns\", name = \"_api._tcp.test\", record = \"srv\", \
         nameserver = \"127.0.0.1:{port}\", min_refresh = \"100ms\", max_refresh = \"1s\" }}\n"
    );
    let proxy = proxy(&config);
    let (web, admin) = (
        proxy.listener_addr("web").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    until_answered_by(web, &["a", "b"], Duration::from_secs(5)).await;

    // Records rewritten (dnsmasq reads SRV records only at start): the cluster follows
    // within the refresh bound (TTL 1 s, max_refresh 1 s), plus the restart. A query
    // sent while dnsmasq restarts is lost and costs the resolver's timeout (5 s, two
    // attempts), so the bound allows for that.
    drop(dns);
    dns = Dns::start(port, &srv(&[a.addr.port(), b.addr.port(), c.addr.port()]));
    let took = until_answered_by(web, &["a", "b", "c"], Duration::from_secs(12)).await;
    eprintln!("a new SRV record served within {took:?}");
    let clusters = json(admin, "/clusters").await;
    let discovery = &clusters["clusters"][0]["discovery"];
    assert_eq!(discovery["endpoints_found"], 3, "{discovery}");
    assert!(
        discovery["source"]
            .as_str()
            .unwrap()
            .contains("_api._tcp.test")
    );

    // The name stops resolving (NXDOMAIN): the last membership stays.
    drop(dns);
    let _dns = Dns::start(port, &[]);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    until_answered_by(web, &["a", "b", "c"], Duration::ZERO).await;
    let clusters = json(admin, "/clusters").await;
    let error = clusters["clusters"][0]["discovery"]["last_error"]["error"].to_string();
    assert!(error.contains("_api._tcp.test"), "{clusters}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_records_with_the_configured_port_serve() {
    let backend = backend::named("a", Duration::ZERO).await;
    let dns_port = free_dns_port();
    let _dns = Dns::start(dns_port, &["--host-record=api.test,127.0.0.1".to_string()]);
    let config = format!(
        "workers = 2\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\npolicy = \"round-robin\"\n\
         discovery = {{ kind = \"dns\", name = \"api.test\", record = \"a\", port = {}, \
         nameserver = \"127.0.0.1:{dns_port}\", min_refresh = \"100ms\", max_refresh = \"1s\" }}\n",
        backend.addr.port()
    );
    let proxy = proxy(&config);
    let web = proxy.listener_addr("web").unwrap();
    until_answered_by(web, &["a"], Duration::from_secs(5)).await;
}
