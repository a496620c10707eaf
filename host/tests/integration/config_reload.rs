//! Live configuration reload: a new file applied while real clients keep sending,
//! with nothing dropped; invalid files changing nothing; what a reload keeps.

use crate::common;

use bytes::Bytes;
use common::backend;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Writes `text` to `path` the way deployment tools do: elsewhere, then renamed over.
fn replace(path: &Path, text: &str) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

/// The test's proxy, started from a file.
fn start(path: &Path) -> switchyard::app::App {
    switchyard::app::App::start_from_file(path, common::engine()).expect("proxy starts")
}

/// A configuration where `/moving` goes to cluster `moving_to`, everything else to
/// `a`; `pool` has the endpoints `pool`; `extra` is appended.
fn config(
    backends: &[(&str, SocketAddr)],
    moving_to: &str,
    pool: &[SocketAddr],
    extra: &str,
) -> String {
    let mut text = String::from(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
    );
    text += &format!(
        "[[listeners.routes]]\nname = \"moving\"\nmatch = {{ path = \"/moving\" }}\ncluster = \"{moving_to}\"\n\
         [[listeners.routes]]\nname = \"pool\"\nmatch = {{ path = \"/pool\" }}\ncluster = \"pool\"\n\
         [[listeners.routes]]\nname = \"rest\"\ncluster = \"a\"\n"
    );
    for (name, addr) in backends {
        text +=
            &format!("[[clusters]]\nname = \"{name}\"\nendpoints = [{{ address = \"{addr}\" }}]\n");
    }
    let pool: Vec<String> = pool
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    text += &format!(
        "[[clusters]]\nname = \"pool\"\nendpoints = [{}]\n",
        pool.join(", ")
    );
    text + extra
}

/// One request's fate: when it was sent and answered, its path, and who answered (or
/// the failure).
#[derive(Clone, Debug)]
struct Outcome {
    /// Over h2c (else HTTP/1.1).
    http2: bool,
    sent: Instant,
    /// When its answer had come whole.
    received: Instant,
    path: &'static str,
    answer: Result<String, String>,
}

/// Clients sending `/moving` and `/pool` in turn on kept-alive connections (HTTP/1.1
/// and h2c) until stopped; every outcome is kept.
struct Clients {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Clients {
    async fn start(addr: SocketAddr, http1: usize, http2: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..http1 + http2 {
            let (stop, outcomes) = (Arc::clone(&stop), Arc::clone(&outcomes));
            let http2 = i >= http1;
            tasks.push(tokio::spawn(async move {
                let mut h1 = None;
                let mut h2 = None;
                if http2 {
                    h2 = Some(common::client::h2c::<Empty<Bytes>>(addr).await);
                } else {
                    h1 = Some(common::client::keep_alive(addr).await);
                }
                let mut n = 0usize;
                while !stop.load(Relaxed) {
                    let path = if n.is_multiple_of(2) {
                        "/moving"
                    } else {
                        "/pool"
                    };
                    n += 1;
                    let uri = if http2 {
                        format!("http://reload.test{path}")
                    } else {
                        path.to_string()
                    };
                    let request = Request::get(uri)
                        .header(http::header::HOST, "reload.test")
                        .body(Empty::new())
                        .unwrap();
                    let sent = Instant::now();
                    let response = match (&mut h1, &mut h2) {
                        (Some(h1), _) => match h1.ready().await {
                            Ok(()) => h1.send_request(request).await,
                            Err(e) => Err(e),
                        },
                        (_, Some(h2)) => h2.send_request(request).await,
                        _ => unreachable!(),
                    };
                    let answer = match response {
                        Ok(response) if response.status() == StatusCode::OK => {
                            match response.into_body().collect().await {
                                Ok(body) => {
                                    Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
                                }
                                Err(e) => Err(format!("body: {e}")),
                            }
                        }
                        Ok(response) => Err(format!("status {}", response.status())),
                        Err(e) => Err(format!("connection: {e}")),
                    };
                    let failed = answer.is_err();
                    outcomes.lock().unwrap().push(Outcome {
                        http2,
                        sent,
                        received: Instant::now(),
                        path,
                        answer,
                    });
                    if failed {
                        // A dropped connection is not reopened: it stays counted.
                        return;
                    }
                }
            }));
        }
        Self {
            stop,
            outcomes,
            tasks,
        }
    }

    async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Relaxed);
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("clients stop in time")
                .unwrap();
        }
        Arc::try_unwrap(self.outcomes)
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

/// `POST /config/reload` on `admin`: status and body.
async fn post_reload(admin: SocketAddr) -> (StatusCode, serde_json::Value) {
    let request = Request::post("/config/reload")
        .header(http::header::HOST, "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = common::client::send(admin, request, false).await;
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

/// Under continuous load from HTTP/1.1 and h2c clients on kept-alive connections, 50
/// reloads alternate between two configurations that move `/moving` between clusters
/// (and change `pool`'s endpoint list); then five invalid files are refused. No
/// request fails, no connection drops, every request sent after a reload answered
/// goes by its mapping, and the invalid files change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_reloads_under_load_fail_no_request_and_drop_no_connection() {
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let backends = [("a", a.addr), ("b", b.addr)];
    let dir = common::temp_dir("config-reload");
    let path = dir.join("switchyard.toml");
    let to_a = config(&backends, "a", &[a.addr], "");
    let to_b = config(&backends, "b", &[a.addr, b.addr], "");
    replace(&path, &to_a);
    let proxy = start(&path);
    let web = proxy.listener_addr("web").unwrap();
    let admin = proxy.admin_addr().unwrap();
    let clients = Clients::start(web, 4, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // (asked at, answered at, where /moving goes then)
    let mut reloads: Vec<(Instant, Instant, &str)> = Vec::new();
    let mut durations = Vec::new();
    for i in 0..50u32 {
        let (text, to) = if i.is_multiple_of(2) {
            (&to_b, "b")
        } else {
            (&to_a, "a")
        };
        replace(&path, text);
        let asked = Instant::now();
        let (status, body) = post_reload(admin).await;
        assert_eq!(status, StatusCode::OK, "reload {i}: {body}");
        let answered = Instant::now();
        durations.push(answered - asked);
        reloads.push((asked, answered, to));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let last = reloads.last().unwrap().2;

    // Invalid files: each refused with its reason, none changing anything.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage = dir.join("broken.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let current = if last == "a" { &to_a } else { &to_b };
    let invalid = [
        (current.replace("workers = 2", "workers = 2\nwrokers = 3"), "unknown field `wrokers`"),
        (current.replace("cluster = \"pool\"\n[[listeners.routes]]", "cluster = \"nope\"\n[[listeners.routes]]"), "no cluster named \"nope\""),
        (
            format!(
                "{current}[[listeners]]\nname = \"secure\"\nlisten = \"127.0.0.1:0\"\ncluster = \"a\"\n\
                 [listeners.tls]\ncert = \"{0}\"\nkey = \"{0}\"\n",
                garbage.display()
            ),
            "listeners[1].tls",
        ),
        (
            current.replace(
                "name = \"b\"\nendpoints",
                "name = \"b\"\npolicy = \"weighted-round-robin\"\npolicy_config = { speed = 9 }\nendpoints",
            ),
            "policy_config.speed: unknown key",
        ),
        (
            format!(
                "{current}[[listeners]]\nname = \"taken\"\nlisten = \"{}\"\ncluster = \"a\"\n",
                held.local_addr().unwrap()
            ),
            "listener \"taken\": binding",
        ),
    ];
    for (text, reason) in &invalid {
        replace(&path, text);
        let (status, body) = post_reload(admin).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reason}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(reason), "{reason}: {error}");
        assert!(error.contains("switchyard.toml"), "names the file: {error}");
    }
    let (_, config) = (StatusCode::OK, common::client::json(admin, "/config").await);
    assert_eq!(config["reloads"], 50, "{config}");
    let failure = config["last_failure"]["reason"].as_str().unwrap();
    assert!(failure.contains("listener \"taken\""), "{config}");
    assert_eq!(proxy.listeners().len(), 1, "no listener was added");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let outcomes = clients.stop().await;

    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.answer.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        outcomes.len(),
        &failed[..failed.len().min(5)]
    );
    // Each request to /moving sent after a reload answered, and answered before the
    // next was asked for, went where that reload said (one still in flight when the
    // next reload is asked for may meet either); those sent after the invalid files
    // went where the last valid one said.
    let mut checked = 0;
    for outcome in outcomes.iter().filter(|o| o.path == "/moving") {
        let Some(i) = reloads
            .iter()
            .rposition(|(_, answered, _)| *answered <= outcome.sent)
        else {
            continue;
        };
        if reloads
            .get(i + 1)
            .is_some_and(|(asked, _, _)| *asked <= outcome.received)
        {
            continue;
        }
        let expected = reloads[i].2;
        assert_eq!(
            outcome.answer.as_deref(),
            Ok(expected),
            "sent {:?} after reload {i} answered (h2c: {})",
            outcome.sent - reloads[i].1,
            outcome.http2
        );
        checked += 1;
    }
    assert!(checked > 200, "only {checked} requests checked");
    let mut sorted = durations.clone();
    sorted.sort();
    eprintln!(
        "{} requests over 50 reloads; reload answered in {:?} (median), {:?} (max)",
        outcomes.len(),
        sorted[sorted.len() / 2],
        sorted.last().unwrap()
    );
    drop(held);
    common::stop(proxy).await;
}

/// What a reload keeps: an unchanged cluster keeps its upstream (endpoints, figures,
/// policy instances); one whose only change is its endpoints keeps those that stay
/// (same ids, same figures); a changed one is built anew. A new listener serves, a
/// removed one stops accepting while its open connection finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_what_did_not_change() {
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let backends = [("a", a.addr), ("b", b.addr)];
    let dir = common::temp_dir("config-reload-keeps");
    let path = dir.join("switchyard.toml");
    let second = "[[listeners]]\nname = \"second\"\nlisten = \"127.0.0.1:0\"\ncluster = \"b\"\n";
    replace(&path, &config(&backends, "a", &[a.addr], second));
    let proxy = start(&path);
    let web = proxy.listener_addr("web").unwrap();
    let second_addr = proxy.listener_addr("second").unwrap();
    let before_a = proxy.upstream("a").unwrap();
    let before_b = proxy.upstream("b").unwrap();
    let pool = proxy.upstream("pool").unwrap();
    let kept_member = Arc::clone(&pool.membership().members()[0].load);
    // A kept-alive connection on the listener about to go.
    let mut leaving = common::client::keep_alive(second_addr).await;

    let changed_b = config(&backends, "b", &[b.addr, a.addr], "").replace(
        "name = \"b\"\nendpoints",
        "name = \"b\"\ntimeouts = { request = \"5s\" }\nendpoints",
    ) + "[[listeners]]\nname = \"third\"\nlisten = \"127.0.0.1:0\"\ncluster = \"a\"\n";
    replace(&path, &changed_b);
    let status = proxy.reload().expect("reloaded");
    assert_eq!(status.reloads, 1);
    assert!(
        Arc::ptr_eq(&before_a, &proxy.upstream("a").unwrap()),
        "a is unchanged"
    );
    assert!(
        !Arc::ptr_eq(&before_b, &proxy.upstream("b").unwrap()),
        "b is rebuilt"
    );
    let pool_after = proxy.upstream("pool").unwrap();
    assert!(
        Arc::ptr_eq(&pool, &pool_after),
        "pool is updated, not rebuilt"
    );
    let members = pool_after.membership();
    let ids: Vec<(u32, SocketAddr)> = members.members().iter().map(|m| (m.id, m.socket)).collect();
    assert_eq!(
        ids,
        [(1, b.addr), (0, a.addr)],
        "a keeps its id, b gets a new one"
    );
    assert!(
        Arc::ptr_eq(&kept_member, &members.members()[1].load),
        "a keeps its figures"
    );
    assert_eq!(common::client::get(web, "/moving", false).await.2, "b");
    let third = proxy
        .listener_addr("third")
        .expect("the new listener serves");
    assert_eq!(common::client::get(third, "/", true).await.2, "a");
    // The removed listener accepts no more; its open connection is answered, then
    // closed.
    assert!(proxy.listener_addr("second").is_none());
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if tokio::net::TcpStream::connect(second_addr).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    refused.await.expect("the removed listener stops accepting");
    if leaving.ready().await.is_ok() {
        let answered = leaving.send_request(common::client::get_root("t")).await;
        if let Ok(response) = answered {
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    common::stop(proxy).await;
}

/// With `[config] watch = true`, a file renamed into place is applied without being
/// asked; a broken one is refused and the good one keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_file_is_applied_when_it_changes() {
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let backends = [("a", a.addr), ("b", b.addr)];
    let dir = common::temp_dir("config-reload-watch");
    let path: PathBuf = dir.join("switchyard.toml");
    let watch = "[config]\nwatch = true\n";
    replace(&path, &config(&backends, "a", &[a.addr], watch));
    let proxy = start(&path);
    let web = proxy.listener_addr("web").unwrap();
    assert_eq!(common::client::get(web, "/moving", false).await.2, "a");
    let written = Instant::now();
    replace(&path, &config(&backends, "b", &[a.addr], watch));
    let mut moved = false;
    while written.elapsed() < Duration::from_secs(5) {
        if common::client::get(web, "/moving", false).await.2 == "b" {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(moved, "the change was applied");
    eprintln!(
        "file renamed → new mapping serving: {:?}",
        written.elapsed()
    );
    replace(&path, "this is not toml [");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        proxy.config_status().last_failure.is_some(),
        "the broken file is refused"
    );
    assert_eq!(common::client::get(web, "/moving", false).await.2, "b");
    // A file that turns the watch off is applied by the watch itself, which stops.
    replace(&path, &config(&backends, "a", &[a.addr], ""));
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.config_status().reloads < 2 {
        assert!(
            Instant::now() < deadline,
            "the last watched change was applied"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(common::client::get(web, "/moving", false).await.2, "a");
    replace(&path, &config(&backends, "b", &[a.addr], ""));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(proxy.config_status().reloads, 2, "no longer watched");
    assert_eq!(common::client::get(web, "/moving", false).await.2, "a");
    common::stop(proxy).await;
}

/// A listener that keeps its name and moves to another address serves there; the old
/// address stops accepting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_moved_to_another_port_serves_there() {
    let a = backend::named("a", Duration::ZERO).await;
    let dir = common::temp_dir("config-reload-move");
    let path = dir.join("switchyard.toml");
    let (first, second) = (common::nginx::free_port(), common::nginx::free_port());
    let on = |port: u16| {
        format!(
            "workers = 2\n[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:{port}\"\ncluster = \"a\"\n\
             [[clusters]]\nname = \"a\"\nendpoints = [{{ address = \"{}\" }}]\n",
            a.addr
        )
    };
    replace(&path, &on(first));
    let proxy = start(&path);
    let old: SocketAddr = format!("127.0.0.1:{first}").parse().unwrap();
    assert_eq!(common::client::get(old, "/", false).await.2, "a");
    replace(&path, &on(second));
    proxy.reload().expect("reloaded");
    let new: SocketAddr = format!("127.0.0.1:{second}").parse().unwrap();
    assert_eq!(proxy.listener_addr("web"), Some(new));
    assert_eq!(common::client::get(new, "/", false).await.2, "a");
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(old).await.is_ok() {
        assert!(Instant::now() < deadline, "the old port still accepts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    common::stop(proxy).await;
}
