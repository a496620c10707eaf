//! File discovery end to end: the proxy follows a watched file of endpoints — an
//! endpoint added receives traffic, one removed none; a broken file changes nothing
//! (the error shows in `/clusters`); an empty file is held back for the grace period.

use crate::common;

use common::client::{answered_by, json, until_answered_by};
use common::{backend, proxy, temp_dir};
use std::net::SocketAddr;
use std::time::Duration;

fn endpoints_file(addresses: &[SocketAddr]) -> String {
    let list: Vec<String> = addresses
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    format!("endpoints = [{}]\n", list.join(", "))
}

/// Writes `text` to `path` as an editor would: a new file renamed into place.
fn replace(path: &std::path::Path, text: &str) {
    let fresh = path.with_extension("new");
    std::fs::write(&fresh, text).unwrap();
    std::fs::rename(&fresh, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_follows_the_file_and_a_broken_file_changes_nothing() {
    let a = backend::named("a", Duration::ZERO).await;
    let b = backend::named("b", Duration::ZERO).await;
    let c = backend::named("c", Duration::ZERO).await;
    let dir = temp_dir("discovery-file");
    let path = dir.join("endpoints.toml");
    std::fs::write(&path, endpoints_file(&[a.addr, b.addr])).unwrap();
    let config = format!(
        "workers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"api\"\n\
         [[clusters]]\nname = \"api\"\npolicy = \"round-robin\"\n\
         discovery = {{ kind = \"file\", path = {path:?}, empty_grace = \"600ms\" }}\n"
    );
    let proxy = proxy(&config);
    let (web, admin) = (
        proxy.listener_addr("web").unwrap(),
        proxy.admin_addr().unwrap(),
    );
    until_answered_by(web, &["a", "b"], Duration::from_secs(3)).await;
    let ids = |clusters: &serde_json::Value| -> Vec<(String, u64)> {
        clusters["clusters"][0]["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["address"].as_str().unwrap().to_string(),
                    e["id"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let before = ids(&json(admin, "/clusters").await);

    replace(&path, &endpoints_file(&[a.addr, b.addr, c.addr]));
    let took = until_answered_by(web, &["a", "b", "c"], Duration::from_secs(3)).await;
    eprintln!("an endpoint added to the file served within {took:?}");
    let after = json(admin, "/clusters").await;
    let kept: Vec<_> = ids(&after)
        .into_iter()
        .filter(|e| before.contains(e))
        .collect();
    assert_eq!(kept.len(), 2, "a and b keep their ids: {before:?} {after}");
    let discovery = &after["clusters"][0]["discovery"];
    assert_eq!(discovery["endpoints_found"], 3, "{discovery}");
    assert!(discovery["source"].as_str().unwrap().starts_with("file "));

    replace(&path, &endpoints_file(&[b.addr, c.addr]));
    until_answered_by(web, &["b", "c"], Duration::from_secs(3)).await;
    let a_hits = a.hits.load(std::sync::atomic::Ordering::Relaxed);

    // Broken: the last good membership stays, the error is shown.
    replace(&path, "endpoints = [{ address = \"nowhere\" }]\n");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(answered_by(web, 30).await.len(), 2);
    let error = json(admin, "/clusters").await["clusters"][0]["discovery"]["last_error"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("endpoints.toml") && error.contains("invalid socket address"),
        "{error}"
    );

    // Empty: held back for the grace period, then the cluster is empty.
    replace(&path, "endpoints = []\n");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held = json(admin, "/clusters").await;
    assert_eq!(
        held["clusters"][0]["discovery"]["holding_empty"], true,
        "{held}"
    );
    assert_eq!(
        answered_by(web, 10).await.keys().collect::<Vec<_>>(),
        ["b", "c"]
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        answered_by(web, 10).await.keys().collect::<Vec<_>>(),
        ["503"]
    );
    assert_eq!(
        a.hits.load(std::sync::atomic::Ordering::Relaxed),
        a_hits,
        "nothing reached the removed endpoint"
    );
}
