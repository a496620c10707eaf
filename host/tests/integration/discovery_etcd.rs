//! etcd discovery end to end, against a real etcd started by the test: instances
//! registered with `switchyard register` (and with `etcdctl put`) receive traffic; an
//! instance whose register process and backend die vanishes after its lease's TTL with
//! no client request failing; the proxy keeps serving while etcd is down and follows
//! changes made after it is back; an etcd down when the proxy starts is shown, retried
//! and found once it is up, while the other clusters serve.

use crate::common;

use common::client::{Load, answered_by, get, json, until_answered_by};
use common::etcd::Etcd;
use common::process::BackendProcess;
use common::{backend, proxy};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `switchyard register` process, killed with SIGKILL when dropped.
struct Registered(Child);

impl Registered {
    fn start(etcd: &Etcd, address: SocketAddr, ttl: &str) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["register", "--etcd", &etcd.url(), "--service", "api"])
            .args(["--address", &address.to_string(), "--ttl", ttl])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self(child)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn etcd_config(etcd: &Etcd, extra: &str) -> String {
    format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\npolicy = \"round-robin\"\n\
         discovery = {{ kind = \"etcd\", endpoints = [\"{}\"], prefix = \"/services/api/\" }}\n{extra}",
        etcd.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_drive_membership_through_deaths_and_an_etcd_restart() {
    let mut etcd = Etcd::start();
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let c_addr = backend::dead();
    let c = BackendProcess::start("c", c_addr);
    let d = backend::named("d", Duration::ZERO).await;
    let e = backend::named("e", Duration::ZERO).await;
    let _a = Registered::start(&etcd, a.addr, "10s");
    let _b = Registered::start(&etcd, b.addr, "10s");
    let c_registered = Registered::start(&etcd, c_addr, "2s");
    let proxy = proxy(&etcd_config(&etcd, "[clusters.retries]\nattempts = 3\n"));
    let (web, admin) = (
        proxy.listener_addr("web").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    until_answered_by(web, &["a", "b", "c"], Duration::from_secs(10)).await;

    // A fourth, put by hand as a JSON value.
    let value = format!(
        "{{\"address\": \"{}\", \"weight\": 1, \"zone\": \"z1\"}}",
        d.addr
    );
    etcd.put("/services/api/d", &value);
    let took = until_answered_by(web, &["a", "b", "c", "d"], Duration::from_secs(2)).await;
    eprintln!("an instance put in etcd served within {took:?}");
    // A malformed value is skipped; the rest stays.
    etcd.put("/services/api/broken", "{\"address\": 7}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    until_answered_by(web, &["a", "b", "c", "d"], Duration::ZERO).await;

    // c dies, registration and backend alike, under load with retries on.
    let load = Load::start(web, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Instant::now();
    drop(c_registered);
    drop(c);
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let sent = load.since(killed - Duration::from_millis(200), None);
    drop(load);
    let failed: Vec<_> = sent.iter().filter(|s| s.status != 200).collect();
    assert!(sent.len() > 100, "{}", sent.len());
    assert!(failed.is_empty(), "{failed:?}");
    let clusters = json(admin, "/clusters").await;
    let addresses: Vec<&str> = clusters["clusters"][0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert!(
        !addresses.contains(&c_addr.to_string().as_str()),
        "c is gone after its TTL: {addresses:?}"
    );
    assert_eq!(addresses.len(), 3, "{addresses:?}");

    // etcd goes away: the proxy keeps serving what it knows.
    etcd.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    until_answered_by(web, &["a", "b", "d"], Duration::ZERO).await;
    etcd.resume();
    etcd.put("/services/api/e", &e.addr.to_string());
    let took = until_answered_by(web, &["a", "b", "d", "e"], Duration::from_secs(8)).await;
    eprintln!("after an etcd restart, a new instance served within {took:?}");
    let clusters = json(admin, "/clusters").await;
    let discovery = &clusters["clusters"][0]["discovery"];
    assert!(
        discovery["version"]
            .as_str()
            .unwrap()
            .starts_with("revision "),
        "{discovery}"
    );
    assert!(
        !discovery["last_error"].is_null(),
        "the outage was seen: {discovery}"
    );
    assert_eq!(answered_by(web, 40).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_down_at_start_is_retried_while_the_other_clusters_serve() {
    let mut etcd = Etcd::stopped();
    let a = backend::named("a", Duration::ZERO).await;
    let s = backend::named("s", Duration::ZERO).await;
    let fixed = format!(
        "[[listeners]]\nname = \"fixed\"\nlisten = \"127.0.0.1:0\"\ncluster = \"fixed\"\n\
         [[clusters]]\nname = \"fixed\"\npolicy = \"round-robin\"\n\
         endpoints = [{{ address = \"{}\" }}]\n",
        s.addr
    );
    let proxy = proxy(&etcd_config(&etcd, &fixed));
    let (web, fixed, admin) = (
        proxy.listener_addr("web").unwrap(),
        proxy.listener_addr("fixed").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    until_answered_by(fixed, &["s"], Duration::from_secs(5)).await;
    let (status, _, body) = get(web, "/", false).await;
    assert_eq!(status, 503, "the etcd cluster has no endpoint yet: {body}");
    let started = Instant::now();
    let error = loop {
        let clusters = json(admin, "/clusters").await;
        let discovery = &clusters["clusters"][0]["discovery"];
        if let Some(error) = discovery["last_error"]["error"].as_str() {
            break error.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no discovery error shown: {discovery}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.contains(&etcd.url()), "the error names etcd: {error}");

    // etcd comes up: the retries find it.
    etcd.resume();
    etcd.put("/services/api/a", &a.addr.to_string());
    let took = until_answered_by(web, &["a"], Duration::from_secs(10)).await;
    eprintln!("etcd up after the proxy: its first instance served within {took:?}");
    until_answered_by(fixed, &["s"], Duration::ZERO).await;
}

#[test]
fn register_deregisters_on_sigterm() {
    let etcd = Etcd::start();
    let address: SocketAddr = "127.0.0.1:4321".parse().unwrap();
    let mut registered = Registered::start(&etcd, address, "30s");
    let key = "/services/api/127.0.0.1:4321";
    let registered_within = |want: bool| {
        let started = Instant::now();
        while etcd
            .ctl(&["get", key, "--print-value-only"])
            .1
            .contains("4321")
            != want
        {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{key} present: {}",
                !want
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    registered_within(true);
    let value = etcd.ctl(&["get", key, "--print-value-only"]).1;
    let value: serde_json::Value = serde_json::from_str(value.trim()).unwrap();
    assert_eq!(value["address"], "127.0.0.1:4321");
    assert_eq!(value["weight"], 1);
    unsafe { libc::kill(registered.0.id() as i32, libc::SIGTERM) };
    let status = registered.0.wait().unwrap();
    assert!(status.success(), "{status}");
    // Revoked, not left to its 30 s lease.
    registered_within(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_put_switches_the_policy_of_every_proxy_in_the_fleet() {
    let etcd = Etcd::start();
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let config = common::config("round-robin", &[(a.addr, 1), (b.addr, 1)], "")
        + &format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n[etcd]\nendpoints = [\"{}\"]\n",
            etcd.url()
        );
    let proxies = [proxy(&config), proxy(&config)];
    let webs: Vec<SocketAddr> = proxies
        .iter()
        .map(|p| p.listener_addr("web").unwrap())
        .collect();
    for web in &webs {
        assert_eq!(answered_by(*web, 20).await.len(), 2, "round-robin spreads");
    }
    // ring-hash hashes the client IP by default: every request from here goes to one
    // backend.
    etcd.put("/switchyard/clusters/api/policy", "ring-hash");
    let put = Instant::now();
    for web in &webs {
        let started = Instant::now();
        while answered_by(*web, 20).await.len() != 1 {
            assert!(started.elapsed() < Duration::from_secs(3), "not switched");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    eprintln!(
        "both proxies switched within {:?} of the put",
        put.elapsed()
    );
    for proxy in &proxies {
        let clusters = json(proxy.admin_addr().unwrap(), "/clusters").await;
        assert_eq!(clusters["clusters"][0]["policy"], "ring-hash");
    }
    // An unknown policy changes nothing; removing the key brings the file's back.
    etcd.put("/switchyard/clusters/api/policy", "no-such-policy");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(answered_by(webs[0], 20).await.len(), 1);
    assert!(etcd.ctl(&["del", "/switchyard/clusters/api/policy"]).0);
    for web in &webs {
        until_answered_by(*web, &["a", "b"], Duration::from_secs(3)).await;
    }
}
