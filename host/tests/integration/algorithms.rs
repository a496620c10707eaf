//! The algorithm library end to end through the proxy: `peak-ewma` starves a backend
//! ten times slower than the others; `maglev` and `ring-hash` send each key to one
//! backend, spread keys over all, and keep them there when another backend leaves.
//! Each also with the build of the policy frozen at contract 0.1.0
//! (`host/fixtures/contract-0.1.0`), served from a policy directory.

use crate::common;

use common::client::share;
use common::{backend, config, load_with_a_slow_backend, proxy};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchyard_policy::Contract;
use switchyard_policy::cluster::Membership;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_times_slower_backend_gets_a_small_share() {
    slower_backend_share("peak-ewma", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_times_slower_backend_gets_a_small_share_from_the_0_1_0_build() {
    slower_backend_share("peak-ewma-v0-1", &v0_1_builds(&["peak-ewma"])).await;
}

/// A policy directory holding the contract 0.1.0 builds of the built-ins `names`, each
/// as `NAME-v0-1.wasm`: the configuration table that serves them.
fn v0_1_builds(names: &[&str]) -> String {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/contract-0.1.0");
    let dir = common::temp_dir("contract-0.1.0");
    for name in names {
        let from = fixtures.join(format!("{name}.wasm"));
        std::fs::copy(&from, dir.join(format!("{name}-v0-1.wasm")))
            .unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
    format!("[policies]\ndir = \"{}\"\nwatch = false\n", dir.display())
}

/// `policy` (with `extra` configuration) starves a backend 10× slower than three others.
async fn slower_backend_share(policy: &str, extra: &str) {
    let slow = Duration::from_millis(20);
    let sent = load_with_a_slow_backend(policy, extra, &["a", "b", "c"], slow, 8).await;
    let slow_share = share(&sent, "slow");
    eprintln!(
        "{policy}: the 10× slower backend served {slow_share:.3} of {} requests",
        sent.len()
    );
    assert!(sent.len() > 500 && sent.iter().all(|s| s.status == 200));
    assert!(slow_share < 0.08, "{slow_share}");
}

/// The backend that answers a request with `x-user: user`.
async fn owner(
    sender: &mut hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    user: usize,
) -> String {
    let mut request = common::client::get_root("maglev.test");
    request
        .headers_mut()
        .insert("x-user", user.to_string().parse().unwrap());
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hashing_keeps_each_key_on_its_backend() {
    for policy in ["maglev", "ring-hash"] {
        keys_stay(policy, "", Contract::V0_2).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hashing_keeps_each_key_on_its_backend_with_the_0_1_0_builds() {
    let policies = v0_1_builds(&["maglev", "ring-hash"]);
    for policy in ["maglev-v0-1", "ring-hash-v0-1"] {
        keys_stay(policy, &policies, Contract::V0_1).await;
    }
}

/// 400 users hashed by `policy` (built against `contract`, with `extra` configuration
/// after its own) on a header: each sticks to one backend, every backend gets users,
/// and when a backend leaves, (almost) only its users move.
async fn keys_stay(policy: &str, extra: &str, contract: Contract) {
    let mut endpoints = Vec::new();
    for name in ["a", "b", "c", "d"] {
        endpoints.push((backend::named(name, Duration::ZERO).await.addr, 1));
    }
    let extra = format!("policy_config = {{ hash_on = \"header:x-user\" }}\n{extra}");
    let proxy = proxy(&config(policy, &endpoints, &extra));
    let serving = proxy
        .upstream("api")
        .unwrap()
        .policy()
        .component()
        .contract();
    assert_eq!(serving, contract, "{policy}");
    let mut sender = common::client::keep_alive(proxy.listener_addr("web").unwrap()).await;
    let mut first = HashMap::new();
    for user in 0..400 {
        first.insert(user, owner(&mut sender, user).await);
    }
    for user in 0..400 {
        assert_eq!(
            owner(&mut sender, user).await,
            first[&user],
            "user {user} moved"
        );
    }
    let mut per_backend: HashMap<&str, usize> = HashMap::new();
    for name in first.values() {
        *per_backend.entry(name.as_str()).or_default() += 1;
    }
    assert!(
        per_backend.len() == 4 && per_backend.values().all(|&n| n > 50),
        "{per_backend:?}"
    );

    // Backend d leaves: its users move; of the others, none on the ring, a few at most
    // with Maglev (which trades a little disruption for an even spread).
    let upstream = proxy.upstream("api").unwrap();
    let staying: Vec<_> = upstream.membership().members()[..3].to_vec();
    upstream
        .policy()
        .set_membership(Arc::new(Membership::new(staying)));
    let mut moved = 0;
    for user in 0..400 {
        let now = owner(&mut sender, user).await;
        if first[&user] == "d" {
            assert_ne!(now, "d");
        } else if now != first[&user] {
            moved += 1;
        }
    }
    let stayed = 400 - per_backend["d"];
    assert!(
        moved * 20 <= stayed,
        "{moved} of {stayed} users moved though their backend stayed"
    );
}
