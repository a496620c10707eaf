//! `switchyard policy check` on real component files.

use crate::common;

use common::switchyard;

fn built(name: &str) -> String {
    format!("{}/{name}.wasm", env!("SWITCHYARD_COMPONENTS"))
}

#[test]
fn check_reports_world_keys_and_smoke_picks() {
    let file = built("least-request");
    let (ok, stdout, stderr) = switchyard(&["policy", "check", &file]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("world:       balancer"), "{stdout}");
    assert!(stdout.contains("policy:      least-request"), "{stdout}");
    assert!(
        stdout.contains("  active_request_bias: ") && stdout.contains("(default 1.0)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("smoke:       3 endpoints, 1000 picks"),
        "{stdout}"
    );
    assert!(
        stdout.contains("smoke:       1000 endpoints, 1000 picks"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
}

#[test]
fn check_fails_with_one_clear_line() {
    let dir = std::env::temp_dir().join(format!("switchyard-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_wasm = dir.join("notes.wasm");
    std::fs::write(&not_wasm, "just text").unwrap();
    let (ok, _, stderr) = switchyard(&["policy", "check", not_wasm.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("notes.wasm: not a WebAssembly file"),
        "{stderr}"
    );

    let (ok, _, stderr) = switchyard(&["policy", "check", &built("alien-import")]);
    assert!(!ok);
    assert!(
        stderr.contains("imports `switchyard-test:alien/exfil`"),
        "{stderr}"
    );

    let (ok, _, stderr) = switchyard(&[
        "policy",
        "check",
        &built("hostile"),
        "--config",
        "mode=trap",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("failed its smoke test: trapped"),
        "{stderr}"
    );

    let (ok, _, stderr) = switchyard(&["policy", "check", &built("round-robin"), "--config", "x"]);
    assert!(!ok);
    assert!(
        stderr.contains("--config \"x\": expected KEY=VALUE"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_reports_the_contract_version() {
    let (ok, stdout, stderr) = switchyard(&["policy", "check", &built("round-robin")]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("\ncontract:    switchyard:policy@0.2.0\n"),
        "{stdout}"
    );
    let frozen = format!(
        "{}/fixtures/contract-0.1.0/round-robin.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    let (ok, stdout, stderr) = switchyard(&["policy", "check", &frozen]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("\ncontract:    switchyard:policy@0.1.0\n"),
        "{stdout}"
    );
}

/// The `  keyed:` lines of a report: where each cluster size sent the request.
fn keyed_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("  keyed:"))
        .collect()
}

#[test]
fn keyed_picks_show_where_a_key_goes_and_that_it_stays() {
    let ring = built("ring-hash");
    let args = |extra: &[&'static str]| {
        let mut args = vec!["policy", "check", ring.as_str()];
        args.extend_from_slice(extra);
        switchyard(&args)
    };

    let (ok, stdout, stderr) = args(&[
        "--config",
        "hash_on=header:x-user",
        "--header",
        "X-User=ann",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("request:     GET /check with x-user: ann"),
        "{stdout}"
    );
    let key = switchyard_policy_sdk::hash_key(b"ann");
    assert!(
        stdout.contains(&format!("hash key:    {key:#018x}, from header:x-user")),
        "{stdout}"
    );
    let by_header = keyed_lines(&stdout);
    assert_eq!(by_header.len(), 2, "one per cluster size: {stdout}");
    for line in &by_header {
        assert!(
            line.contains("in 1000 of 1000 picks") && line.ends_with("; stable for this key"),
            "{stdout}"
        );
    }

    // The cookie is read out of the cookie header as the proxy reads it: the same
    // value in another header is the same key, so the same endpoints.
    let (ok, first, stderr) = args(&[
        "--config",
        "hash_on=cookie:sid",
        "--header",
        "cookie=a=1; sid=ann; z=2",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        first.contains(&format!("hash key:    {key:#018x}, from cookie:sid")),
        "{first}"
    );
    let (ok, second, stderr) = args(&[
        "--config",
        "hash_on=cookie:sid",
        "--header",
        "cookie=sid=ann",
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(keyed_lines(&first), keyed_lines(&second));
    assert_eq!(
        keyed_lines(&first),
        by_header,
        "the same bytes, the same key"
    );

    // The path is hashed without its query.
    let (ok, with_query, stderr) = args(&["--config", "hash_on=path", "--path", "/users/42?tab=2"]);
    assert!(ok, "{stderr}");
    assert!(
        with_query.contains("request:     GET /users/42?tab=2\n"),
        "{with_query}"
    );
    let (ok, without, stderr) = args(&["--config", "hash_on=path", "--path", "/users/42"]);
    assert!(ok, "{stderr}");
    assert_eq!(keyed_lines(&with_query), keyed_lines(&without));

    // A request without the attribute the policy hashes on gets no key: a warning.
    let (ok, stdout, stderr) = args(&["--config", "hash_on=cookie:sid", "--header", "x-user=ann"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("hash key:    none: the request has no cookie:sid"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning:     the policy hashes on cookie:sid, which the request given"),
        "{stdout}"
    );

    // A policy that does not hash spreads the same request over endpoints.
    let (ok, stdout, stderr) = switchyard(&[
        "policy",
        "check",
        &built("least-request"),
        "--header",
        "x-user=ann",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("hash key:    none (the policy's needs have no hash_on)"),
        "{stdout}"
    );
    assert!(
        keyed_lines(&stdout)
            .iter()
            .all(|l| l.ends_with("NOT stable for this key (the policy does not hash requests)")),
        "{stdout}"
    );

    let (ok, _, stderr) = args(&["--header", "x-user"]);
    assert!(!ok);
    assert!(
        stderr.contains("--header \"x-user\": expected NAME=VALUE"),
        "{stderr}"
    );
}

#[test]
fn a_large_cluster_warns_where_defaults_stop_scaling() {
    let check = |policy: &str, extra: &[&str]| {
        let file = built(policy);
        let mut args = vec!["policy", "check", file.as_str(), "--endpoints"];
        args.extend_from_slice(extra);
        switchyard(&args)
    };

    // ring-hash's default 256 points per endpoint outgrow the default memory cap: the
    // check fails, after saying why and what to set.
    let (ok, _, stderr) = check("ring-hash", &["10000"]);
    assert!(!ok);
    assert!(
        stderr.contains("warning: ring-hash: points_per_weight is left at its default (256)")
            && stderr.contains("set points_per_weight = 16"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: the default memory limit (16 MiB) is likely too small for 10,000 endpoints"
        ) && stderr.contains("memory_mib = 64"),
        "{stderr}"
    );
    assert!(stderr.contains("exceeded its memory cap"), "{stderr}");
    let (ok, stdout, stderr) = check(
        "ring-hash",
        &[
            "10000",
            "--config",
            "points_per_weight=16",
            "--memory-mib",
            "64",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("smoke:       10000 endpoints, 1000 picks"),
        "{stdout}"
    );
    assert!(!stdout.contains("warning"), "{stdout}");

    // maglev's default table serves 10,000 endpoints, unevenly.
    let (ok, stdout, stderr) = check("maglev", &["10000"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("warning:     maglev: table_size is left at its default, 65,537")
            && stdout.contains("set table_size = 1000003"),
        "{stdout}"
    );
    assert!(stdout.contains("memory_mib = 64"), "{stdout}");
    let (ok, stdout, stderr) = check(
        "maglev",
        &[
            "10000",
            "--config",
            "table_size=1000003",
            "--memory-mib",
            "64",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("warning"), "{stdout}");

    // Any policy: the membership of 10,000 endpoints leaves 16 MiB little room.
    let (ok, stdout, stderr) = check("round-robin", &["10000"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.matches("warning:").count(), 1, "{stdout}");
    assert!(stdout.contains("memory_mib = 64"), "{stdout}");

    // Up to a thousand endpoints, no warning; the size given is smoke-tested too.
    let (ok, stdout, stderr) = check("ring-hash", &["500"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("smoke:       500 endpoints"), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");
    let (ok, _, _) = check("ring-hash", &["0"]);
    assert!(!ok, "a cluster of no endpoint is refused");
}

#[test]
fn demo_runs_once_and_exits() {
    let (ok, stdout, stderr) = switchyard(&[
        "demo",
        "--once",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--requests",
        "300",
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    for backend in ["alpha", "bravo", "charlie"] {
        assert!(stdout.contains(backend), "{stdout}");
    }
    assert!(stdout.contains("300 requests in"), "{stdout}");
    assert!(stdout.contains(", 0 failed"), "{stdout}");
    assert!(stdout.contains("console  http://127.0.0.1:"), "{stdout}");
    // Each phase's last line: after the swap the fast backend takes more than the
    // slow one; while it is dead, almost nothing.
    let last_share = |phase: &str, backend: &str| -> f64 {
        let from = stdout
            .find(phase)
            .unwrap_or_else(|| panic!("no {phase:?}: {stdout}"));
        let line = stdout[from..]
            .lines()
            .take_while(|l| !l.is_empty())
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .last()
            .unwrap_or_else(|| panic!("no table after {phase:?}: {stdout}"));
        let after = &line[line.find(backend).expect("backend in line") + backend.len()..];
        after
            .trim_start()
            .split('%')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let swapped = "2. hot swap to `peak-ewma`";
    assert!(
        last_share(swapped, "alpha") > last_share(swapped, "charlie"),
        "{stdout}"
    );
    assert!(last_share("3. alpha dies", "alpha") < 5.0, "{stdout}");
    assert!(
        stdout.contains("\n0 of the requests sent while swapping"),
        "{stdout}"
    );
}
