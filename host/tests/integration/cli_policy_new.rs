//! `switchyard policy new`: each language's project, exactly as generated, passes its
//! own native test, builds with its own `build.sh` and passes `policy check`; the Rust
//! one also runs its scenario in `policy simulate`. Python and JavaScript install their
//! tool on first use, into the same directory as the examples' (`target/tools`).

use crate::common::temp_dir;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The checkout's `target/`: the Rust projects' shared target directory (the SDK is
/// compiled once, not once per run) and the tools the examples install.
fn target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// Runs `command` and answers its stdout and stderr together; a failure panics with them.
fn run(command: &mut Command, limit: Duration) -> String {
    let (ok, output) = finish(command, limit);
    assert!(ok, "{command:?} failed:\n{output}");
    output
}

/// Runs `command` in a process group of its own, within `limit`: whether it succeeded,
/// and its stdout and stderr together. A run past `limit` (the group is killed) panics
/// with its output.
fn finish(command: &mut Command, limit: Duration) -> (bool, String) {
    let what = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            // SAFETY: signals the group this test started (its id is the child's pid).
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = format!("{}{}", stdout.join().unwrap(), stderr.join().unwrap());
    match status {
        Some(status) => (status.success(), output),
        None => panic!("{what}: still running after {limit:?}, killed\n{output}"),
    }
}

/// The `switchyard` binary with `args`.
fn switchyard(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command.args(args).env("RUST_LOG", "off");
    command
}

/// `policy new NAME --lang LANG` in a fresh directory: the project's directory.
fn generate(name: &str, lang: &str) -> PathBuf {
    let parent = temp_dir(&format!("policy-new-{lang}"));
    let dir = parent.to_str().unwrap();
    let said = run(
        &mut switchyard(&["policy", "new", name, "--lang", lang, "--dir", dir]),
        Duration::from_secs(30),
    );
    let project = parent.join(name);
    assert!(
        said.contains(&format!("created {}", project.display())),
        "{said}"
    );
    project
}

/// `command` run in `project`, with the shared target directory and without the outer
/// build's flags and wrappers.
fn in_project<'a>(command: &'a mut Command, project: &Path) -> &'a mut Command {
    command
        .current_dir(project)
        .env("CARGO_TARGET_DIR", target().join("policy-new-test"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
}

/// `build.sh` in `project`, with the examples' tools directory: the component it wrote.
fn build(project: &Path, name: &str, limit: Duration) -> PathBuf {
    run(
        in_project(Command::new("bash").arg(project.join("build.sh")), project)
            .env("SWITCHYARD_TOOLS", target().join("tools")),
        limit,
    );
    let wasm = project.join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "{} was not written", wasm.display());
    wasm
}

/// `policy check` on `wasm`: its report, which must name the policy and end in `ok`.
fn check(wasm: &Path, name: &str) -> String {
    let report = run(
        &mut switchyard(&["policy", "check", wasm.to_str().unwrap()]),
        Duration::from_secs(120),
    );
    assert!(
        report.contains(&format!("policy:      {name} — fewest requests in flight")),
        "{report}"
    );
    assert!(report.contains("  window: "), "{report}");
    assert!(report.trim_end().ends_with("ok"), "{report}");
    report
}

#[test]
fn rust_project_tests_builds_checks_and_simulates() {
    let name = "least-busy";
    let project = generate(name, "rust");
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("\n[workspace]\n"), "{manifest}");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tests = run(
        in_project(Command::new(cargo).arg("test"), &project),
        Duration::from_secs(900),
    );
    assert!(tests.contains("test result: ok. 4 passed"), "{tests}");

    let wasm = build(&project, name, Duration::from_secs(900));
    check(&wasm, name);
    let report = run(
        switchyard(&["policy", "simulate", wasm.to_str().unwrap()])
            .arg("--scenario")
            .arg(project.join("scenario.toml")),
        Duration::from_secs(120),
    );
    // After `b` slows, requests pile up on it and the policy sends it far less than a third.
    let share = report
        .lines()
        .rfind(|line| line.starts_with("  b "))
        .and_then(|line| line.split_whitespace().nth(2))
        .and_then(|share| share.strip_suffix('%')?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no share for b in:\n{report}"));
    assert!(share < 20.0, "{report}");
}

/// A project in `lang`, whose tool embeds an interpreter: its native test (`native`,
/// whose output must hold every one of `passed`), its build, and `policy check`, whose
/// report must name the `language`.
fn interpreted(lang: &str, native: &[&str], passed: &[&str], language: &str) {
    let name = format!("{lang}-busy");
    let project = generate(&name, lang);
    let tests = run(
        Command::new(native[0])
            .args(&native[1..])
            .current_dir(&project),
        Duration::from_secs(60),
    );
    assert!(passed.iter().all(|p| tests.contains(p)), "{tests}");
    let wasm = build(&project, &name, Duration::from_secs(600));
    let report = check(&wasm, &name);
    assert!(report.contains(&format!("({language})")), "{report}");
}

#[test]
fn python_project_tests_builds_and_checks() {
    interpreted(
        "python",
        &["python3", "-m", "unittest", "discover", "-s", "src"],
        &["Ran 3 tests", "OK"],
        "Python",
    );
}

#[test]
fn javascript_project_tests_builds_and_checks() {
    interpreted(
        "js",
        &["node", "--test"],
        &["# pass 3", "# fail 0"],
        "JavaScript",
    );
}

#[test]
fn refuses_an_existing_directory_a_bad_name_and_a_missing_sdk() {
    let parent = temp_dir("policy-new-refusals");
    let dir = parent.to_str().unwrap();
    std::fs::create_dir(parent.join("taken")).unwrap();
    for (args, expected) in [
        (
            vec!["taken", "--dir", dir],
            format!("{dir}/taken: already exists; choose another NAME or --dir"),
        ),
        (
            vec!["My.Policy", "--dir", dir],
            "policy name \"My.Policy\": lower-case letters, digits, '-' and '_' only".into(),
        ),
        (
            vec!["fine", "--dir", dir, "--sdk", "/nonexistent/policy-sdk"],
            "--sdk /nonexistent/policy-sdk: not the switchyard-policy-sdk crate".into(),
        ),
    ] {
        let (ok, said) = finish(
            &mut switchyard(&[&["policy", "new"], &args[..]].concat()),
            Duration::from_secs(30),
        );
        assert!(!ok, "{args:?}: {said}");
        assert!(said.contains(&expected), "{args:?}: {said}");
    }
    // Nothing was written: only the directory that was there.
    let left: Vec<_> = std::fs::read_dir(&parent).unwrap().collect();
    assert_eq!(left.len(), 1);
    assert_eq!(std::fs::read_dir(parent.join("taken")).unwrap().count(), 0);
}
