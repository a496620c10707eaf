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
fn demo_runs_once_and_exits() {
    let (ok, stdout, stderr) = switchyard(&[
        "demo",
        "--once",
        "--listen",
        "127.0.0.1:0",
        "--requests",
        "300",
    ]);
    assert!(ok, "{stderr}");
    for backend in ["alpha", "bravo", "charlie"] {
        assert!(stdout.contains(backend), "{stdout}");
    }
    assert!(stdout.contains("300 requests in"), "{stdout}");
    assert!(stdout.contains(", 0 failed"), "{stdout}");
}
