//! `switchyard policy simulate` on the shipped scenarios: what each algorithm is for
//! shows in the numbers, runs are reproducible, and bad input gets a clear error.

use crate::common;

use common::switchyard;

use serde_json::Value;

fn scenario(name: &str) -> String {
    format!(
        "{}/../examples/scenarios/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The JSON report of `policy` on `scenario_file` (a shipped scenario's name, or a
/// path), with extra arguments.
fn simulate(policy: &str, scenario_file: &str, extra: &[&str]) -> Value {
    let file = match scenario_file.contains('/') {
        true => scenario_file.to_string(),
        false => scenario(scenario_file),
    };
    let mut args = vec!["policy", "simulate", policy, "--scenario", &file, "--json"];
    args.extend_from_slice(extra);
    let (ok, stdout, stderr) = switchyard(&args);
    assert!(ok, "{policy} on {scenario_file}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Share of endpoint `index` in phase `phase`.
fn share(report: &Value, phase: usize, index: usize) -> f64 {
    report["phases"][phase]["endpoints"][index]["share"]
        .as_f64()
        .unwrap()
}

/// A copy of `scenario_file` whose picks may take 100 ms of CPU: the deadline is real
/// CPU time, which a test machine busy with other tests can exceed on a pick (a fault
/// that says nothing of how the policy balances). Its path.
fn unhurried(scenario_file: &str) -> String {
    let text = std::fs::read_to_string(scenario(scenario_file)).unwrap();
    let copy = common::temp_dir("unhurried").join(scenario_file);
    std::fs::write(&copy, text + "\n[policy]\npick_deadline = \"100ms\"\n").unwrap();
    copy.display().to_string()
}

#[test]
fn latency_aware_policies_avoid_the_slow_endpoint_and_round_robin_does_not() {
    let file = unhurried("slow-then-dead.toml");
    let rr = simulate("round-robin", &file, &[]);
    let ewma = simulate("peak-ewma", &file, &[]);
    let lr = simulate("least-request", &file, &[]);
    let slow = |r: &Value| share(r, 1, 1);
    eprintln!(
        "slow endpoint's share: round-robin {:.3}, least-request {:.3}, peak-ewma {:.3}",
        slow(&rr),
        slow(&lr),
        slow(&ewma)
    );
    assert!((slow(&rr) - 1.0 / 3.0).abs() < 0.02);
    assert!(slow(&ewma) < 0.1 && slow(&lr) < slow(&rr));
    for report in [&rr, &ewma, &lr] {
        assert_eq!(report["requests"], 32_000);
        assert_eq!(report["phases"].as_array().unwrap().len(), 4);
        assert_eq!(report["faults"], 0);
        // Dead from 8 s: after detection nothing more reaches it, so its errors are
        // bounded by the 500 ms detection window.
        let dead = &report["phases"][2]["endpoints"][2];
        assert_eq!(dead["errors"], dead["requests"]);
        assert!(dead["requests"].as_u64().unwrap() < 1_000, "{dead}");
        assert!(share(report, 3, 2) > 0.2, "it returns");
    }
}

/// A policy that stops sending an endpoint anything cannot learn that it recovered:
/// only the endpoint's figures fading (toward the cluster's median latency, with
/// `load_decay`) bring it back.
#[test]
fn an_avoided_endpoint_regains_its_share_as_its_figures_fade() {
    let report = simulate("peak-ewma", "avoided-then-recovers.toml", &[]);
    let (avoided, recovered) = (share(&report, 1, 1), share(&report, 2, 1));
    eprintln!("b's share while slow {avoided:.3}, after it recovers {recovered:.3}");
    assert!(avoided < 0.02 && recovered > 0.15, "{avoided} {recovered}");

    let text = std::fs::read_to_string(scenario("avoided-then-recovers.toml")).unwrap();
    let dir = std::env::temp_dir().join(format!("switchyard-decay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("no-decay.toml");
    std::fs::write(
        &file,
        text.replace("load_decay = \"2s\"", "load_decay = \"1h\""),
    )
    .unwrap();
    let args = ["policy", "simulate", "peak-ewma", "--json", "--scenario"];
    let (ok, stdout, stderr) = switchyard(&[&args[..], &[file.to_str().unwrap()]].concat());
    assert!(ok, "{stderr}");
    let stuck: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        share(&stuck, 2, 1) < 0.01,
        "without fading it never comes back"
    );
}

#[test]
fn consistent_hashing_moves_about_a_tenth_of_the_keys() {
    for policy in ["maglev", "ring-hash"] {
        let report = simulate(policy, "hash-membership.toml", &[]);
        let moved = report["phases"][1]["keys_moved"].as_f64().unwrap();
        eprintln!("{policy}: one of ten endpoints leaving moved {moved:.3} of the keys");
        assert!((0.05..0.15).contains(&moved), "{policy}: {moved}");
        assert_eq!(
            share(&report, 1, 7),
            0.0,
            "{policy}: the leaver gets nothing"
        );
    }
    let report = simulate("round-robin", "hash-membership.toml", &[]);
    let moved = report["phases"][1]["keys_moved"].as_f64().unwrap();
    assert!(moved > 0.5, "round-robin ignores keys: {moved}");
}

#[test]
fn locality_spills_over_as_its_zone_fails() {
    let report = simulate("locality", "zone-outage.toml", &[]);
    let zone_b = |phase| (3..6).map(|i| share(&report, phase, i)).sum::<f64>();
    let (before, one_down, two_down) = (zone_b(0), zone_b(1), zone_b(2));
    eprintln!("zone b's share: {before:.3}, {one_down:.3}, {two_down:.3}");
    assert_eq!(before, 0.0);
    assert!(one_down < 0.1 && two_down > 0.3, "{one_down} {two_down}");
    let stricter = simulate(
        "locality",
        "zone-outage.toml",
        &["--config", "min_local_healthy=0.3"],
    );
    let two_down = (3..6).map(|i| share(&stricter, 2, i)).sum::<f64>();
    assert!(
        two_down < 0.05,
        "a third healthy is enough at 0.3: {two_down}"
    );
}

/// Endpoints as fast as each other but of capacity 4, 8 and 16, loaded to 86% of their
/// total: least-request gives the small one as many requests in flight as the others,
/// and they queue there; policies that read what the endpoints report (utilization and
/// rate for orca-wrr, queue length for queue-aware) load each by its capacity.
#[test]
fn reported_load_beats_in_flight_counts_on_uneven_capacity() {
    let file = unhurried("uneven-capacity.toml");
    let lr = simulate("least-request", &file, &[]);
    let orca = simulate("orca-wrr", &file, &[]);
    // Fed by the ORCA report on every response, rather than by the 50 ms scrapes.
    let queue = simulate(
        "queue-aware",
        &file,
        &[
            "--config",
            "queue_metric=named_metrics.num_requests_waiting",
            "--config",
            "memory_metric=named_metrics.kv_cache_usage_perc",
        ],
    );
    // Under the full load, after orca-wrr's 10 s blackout.
    let p99 = |r: &Value| r["phases"][1]["p99_ms"].as_f64().unwrap();
    eprintln!(
        "p99 at 86% load: least-request {:.1} ms, orca-wrr {:.1} ms, queue-aware {:.1} ms",
        p99(&lr),
        p99(&orca),
        p99(&queue)
    );
    assert!(p99(&orca) < 0.8 * p99(&lr), "{} {}", p99(&orca), p99(&lr));
    assert!(p99(&queue) < 0.8 * p99(&lr), "{} {}", p99(&queue), p99(&lr));
    for report in [&lr, &orca, &queue] {
        assert_eq!(report["requests"], 42_000);
        assert_eq!(report["phases"].as_array().unwrap().len(), 2);
        assert_eq!(report["faults"], 0);
        assert_eq!(report["phases"][1]["label"], "rate 1150/s");
        // The small endpoint gets about its capacity's share (4 of 28) either way:
        // what differs is how many requests it holds at once.
        let small = share(report, 1, 0);
        assert!((0.1..0.2).contains(&small), "{small}");
    }
    // The same scenario replays the same run.
    assert_eq!(simulate("orca-wrr", &file, &[]), orca);
}

#[test]
fn the_same_seed_gives_the_same_run_and_the_table_reads() {
    let a = simulate("random", "slow-then-dead.toml", &[]);
    let b = simulate("random", "slow-then-dead.toml", &[]);
    assert_eq!(a, b);
    let (ok, stdout, stderr) = switchyard(&["policy", "simulate", "peak-ewma"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("phase 2 · 4.0s–8.0s · b: latency 50ms"),
        "{stdout}"
    );
    assert!(
        stdout.contains("endpoint       requests   share   change"),
        "{stdout}"
    );
}

#[test]
fn bad_input_is_named() {
    let dir = std::env::temp_dir().join(format!("switchyard-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("broken.toml");
    std::fs::write(
        &file,
        "[[endpoints]]\nname = \"a\"\nlatency = \"5ms\"\n[[changes]]\nat = \"1s\"\nendpoint = \"z\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (ok, _, stderr) = switchyard(&["policy", "simulate", "round-robin", "--scenario", path]);
    assert!(!ok);
    assert!(
        stderr.contains("broken.toml: changes[0].endpoint: no endpoint is named \"z\""),
        "{stderr}"
    );
    let (ok, _, stderr) = switchyard(&["policy", "simulate", "maglev", "--config", "hash_on=nose"]);
    assert!(!ok);
    assert!(stderr.contains("hash_on"), "{stderr}");
    // A policy reading reported metrics, on a scenario whose endpoints report none.
    let (ok, _, stderr) = switchyard(&["policy", "simulate", "orca-wrr"]);
    assert!(!ok);
    assert!(
        stderr.contains("\"cpu_utilization\" is not collected")
            && stderr.contains("add a [load_reports] table"),
        "{stderr}"
    );
}

#[test]
fn recorded_keys_replay_from_a_file_beside_the_scenario() {
    let dir = std::env::temp_dir().join(format!("switchyard-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys: Vec<String> = (0..200).map(|i| format!("user-{i}\n")).collect();
    std::fs::write(dir.join("keys.txt"), keys.concat()).unwrap();
    let endpoints: String = (0..4)
        .map(|i| format!("[[endpoints]]\nname = \"e{i}\"\nlatency = \"1ms\"\n"))
        .collect();
    std::fs::write(
        dir.join("recorded.toml"),
        format!(
            "[workload]\nrequests = 2000\nkeys_file = \"keys.txt\"\n{endpoints}\
             [[changes]]\nat = \"500ms\"\nendpoint = \"e3\"\nmember = false\n"
        ),
    )
    .unwrap();
    let path = dir.join("recorded.toml");
    let (ok, stdout, stderr) = switchyard(&[
        "policy",
        "simulate",
        "ring-hash",
        "--scenario",
        path.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["keyed"], true);
    let moved = report["phases"][1]["keys_moved"].as_f64().unwrap();
    assert!(
        (0.1..0.45).contains(&moved),
        "about e3's quarter moves: {moved}"
    );
}
