//! Connection limits: a listener's `max_connections` over all its workers, and a
//! process that runs short of file descriptors — it sheds new connections at once,
//! keeps descriptors for its upstream connections and the admin API, never spins, and
//! serves again as soon as descriptors are free.

use crate::common::backend;
use crate::common::client::raw_response;
use crate::common::proxy;
use crate::common::scrape::{scrape, total, value};
use crate::setup;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Whether the proxy closes `stream` within a second without a byte.
async fn closed_at_once(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_holds_over_all_workers() {
    let a = backend::named("a", Duration::ZERO).await;
    let proxy = proxy(&setup("max_connections = 6", "", &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    let mut held = Vec::new();
    for _ in 0..6 {
        let mut stream = TcpStream::connect(web).await.unwrap();
        assert!(
            raw_response(&mut stream, GET)
                .await
                .starts_with("HTTP/1.1 200")
        );
        held.push(stream);
    }
    for _ in 0..3 {
        let mut extra = TcpStream::connect(web).await.unwrap();
        assert!(closed_at_once(&mut extra).await, "over the limit");
    }
    held.pop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = TcpStream::connect(web).await.unwrap();
    assert!(
        raw_response(&mut again, GET)
            .await
            .starts_with("HTTP/1.1 200")
    );
    let (scrape, text) = scrape(proxy.admin_addr().unwrap()).await;
    let labels = [("listener", "web"), ("reason", "max_connections")];
    let refused = value(
        &scrape,
        "switchyard_listener_connections_refused_total",
        &labels,
    );
    assert_eq!(refused, 3.0, "{text}");
    let open = value(
        &scrape,
        "switchyard_listener_connections",
        &[("listener", "web")],
    );
    assert_eq!(open, 6.0, "{text}");
}

/// The fast path lets go of the cluster's `max_requests` slot at the response head, as
/// the general path does: a client reading a long body slowly does not hold it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_does_not_hold_the_clusters_request_slot() {
    let a = backend::named("a", Duration::ZERO).await;
    let cluster = "[clusters.limits]\nmax_requests = 1";
    let proxy = proxy(&setup("", cluster, &[a.addr]));
    let web = proxy.listener_addr("web").unwrap();
    let mut slow = TcpStream::connect(web).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut slow, b"GET /download/64 HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut other = TcpStream::connect(web).await.unwrap();
    let answer = raw_response(&mut other, GET).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    drop(slow);
}

/// CPU time (user + system) `pid` has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// `switchyard run` under `ulimit -n 64`: it raises its soft limit to the hard one and
/// says so; with far more connections than descriptors it sheds the excess at once
/// without spinning, the admin API still answers, and once the connections close it
/// serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_neither_spins_nor_stops_the_listener() {
    let a = backend::named("a", Duration::from_millis(300)).await;
    let dir = crate::common::temp_dir("descriptors");
    let file = dir.join("switchyard.toml");
    let config = format!(
        "workers = 1\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\nendpoints = [{{ address = \"{}\" }}]\n",
        a.addr
    );
    std::fs::write(&file, config).unwrap();
    let command = format!(
        "ulimit -Sn 32 && ulimit -Hn 64 && exec {} run --config {}",
        env!("CARGO_BIN_EXE_switchyard"),
        file.display()
    );
    let mut child = KillOnDrop(
        Command::new("sh")
            .args(["-c", &command])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let (mut web, mut admin, mut raised) = (None, None, false);
    while web.is_none() || admin.is_none() {
        let line = lines.next().expect("it logs").unwrap();
        raised |= line.contains("limit=64") && line.contains("raised_from=32");
        let addr = || -> Option<SocketAddr> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix("addr="))?
                .parse()
                .ok()
        };
        if line.contains("admin") {
            admin = admin.or_else(addr);
        } else {
            web = web.or_else(addr);
        }
    }
    std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .for_each(|l| eprintln!("proxy: {l}"))
    });
    assert!(raised, "the descriptor limit is raised and logged");
    let (web, admin) = (web.unwrap(), admin.unwrap());

    // Three times the descriptors in connections, each asking for a slow answer.
    let mut clients = Vec::new();
    for _ in 0..200 {
        let Ok(mut stream) = TcpStream::connect(web).await else {
            continue;
        };
        let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, GET).await;
        clients.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let ticks = cpu_ticks(child.0.id());
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_second = (cpu_ticks(child.0.id()) - ticks) as f64 / started.elapsed().as_secs_f64();
    assert!(per_second < 20.0, "it spins: {per_second} ticks a second");

    let (scrape, text) = scrape(admin).await;
    let refused = total(
        &scrape,
        "switchyard_listener_connections_refused_total",
        &[],
    );
    assert!(refused > 0.0, "{text}");
    let errors = total(
        &scrape,
        "switchyard_upstream_requests_total",
        &[("class", "error")],
    );
    assert_eq!(
        errors, 0.0,
        "running short is not the endpoint's failure: {text}"
    );

    drop(clients);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = TcpStream::connect(web).await.unwrap();
    let answer = raw_response(&mut again, GET).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "serving again: {answer:?}"
    );
}

/// Kills a process (and waits for it) when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
