//! What an operator ships and installs: `switchyard --version` names the commit (and
//! the build script says `unknown commit` without a checkout), the systemd unit in
//! `examples/deploy/` passes `systemd-analyze verify` (when installed) and holds the
//! limits, capabilities and reload it needs, and the sample configuration beside it
//! passes `check-config`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root: `host/..`.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `git ARGS` in `dir`: its trimmed stdout, or `None` if git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `command`, which must succeed: its stdout.
fn succeed(command: &mut Command) -> String {
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{command:?}: {stdout}{stderr}");
    stdout
}

/// Splits `0.1.0 (3f2a9c1b7d4e-dirty 2026-12-04)` into the version and what the
/// parentheses hold, checking the shape: `HASH[-dirty] DATE` or `unknown commit`.
fn parse_version(line: &str) -> (&str, &str) {
    let (version, rest) = line
        .split_once(" (")
        .unwrap_or_else(|| panic!("no commit in {line:?}"));
    let commit = rest
        .strip_suffix(')')
        .unwrap_or_else(|| panic!("{line:?} does not end with ')'"));
    if commit != "unknown commit" {
        let (hash, date) = commit
            .split_once(' ')
            .unwrap_or_else(|| panic!("no date in {line:?}"));
        let hash = hash.strip_suffix("-dirty").unwrap_or(hash);
        assert!(
            hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "not a 12-digit hash: {line:?}"
        );
        let digits: Vec<&str> = date.split('-').collect();
        assert!(
            digits.len() == 3
                && [4, 2, 2] == [digits[0].len(), digits[1].len(), digits[2].len()]
                && digits.iter().all(|d| d.bytes().all(|b| b.is_ascii_digit())),
            "not a YYYY-MM-DD date: {line:?}"
        );
    }
    (version, commit)
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let (ok, stdout, stderr) = common::switchyard(&["--version"]);
    assert!(ok, "--version failed: {stderr}");
    let line = stdout.trim();
    let rest = line
        .strip_prefix("switchyard ")
        .unwrap_or_else(|| panic!("{line:?}"));
    let (version, commit) = parse_version(rest);
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let Some(head) = git(&root(), &["rev-parse", "--short=12", "HEAD"]) else {
        eprintln!("no git checkout here: {line}");
        return;
    };
    assert_ne!(commit, "unknown commit", "built in a checkout at {head}");
    let built = &commit[..12];
    if built != head {
        // Someone committed after the binary was built: what it names must be an
        // earlier commit on this branch, and HEAD must be newer than the binary.
        let binary = std::fs::metadata(env!("CARGO_BIN_EXE_switchyard"))
            .and_then(|m| m.modified())
            .unwrap();
        let binary = binary.duration_since(std::time::UNIX_EPOCH).unwrap();
        let committed: u64 = git(&root(), &["log", "-1", "--format=%ct", "HEAD"])
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            git(&root(), &["merge-base", "--is-ancestor", built, "HEAD"]).is_some()
                && committed + 1 >= binary.as_secs(),
            "--version names {built}, HEAD is {head} (committed before the binary was built)"
        );
    }
}

/// Compiles `host/build.rs` on its own and runs it as cargo would for a crate whose
/// workspace root is `root`: its `SWITCHYARD_VERSION`, and the files it watches.
struct BuildScript {
    exe: PathBuf,
    /// Where git stops looking for a repository: above the test's directory.
    ceiling: PathBuf,
}

impl BuildScript {
    fn compile(dir: &Path) -> Self {
        let exe = dir.join("build-script");
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        succeed(
            Command::new(rustc)
                .args(["--edition", "2024", "--crate-name", "build_script", "-o"])
                .arg(&exe)
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("build.rs"))
                .current_dir(env!("CARGO_MANIFEST_DIR")),
        );
        let ceiling = dir.parent().unwrap().to_path_buf();
        Self { exe, ceiling }
    }

    /// (`SWITCHYARD_VERSION`, the paths of `rerun-if-changed`).
    fn run(&self, root: &Path) -> (String, Vec<String>) {
        let stdout = succeed(
            Command::new(&self.exe)
                .env("CARGO_MANIFEST_DIR", root.join("host"))
                .env("CARGO_PKG_VERSION", "9.8.7")
                .env("DEP_SWITCHYARD_POLICIES_COMPONENTS", "/components")
                .env("GIT_CEILING_DIRECTORIES", &self.ceiling),
        );
        let version = stdout
            .lines()
            .find_map(|l| l.strip_prefix("cargo::rustc-env=SWITCHYARD_VERSION="))
            .unwrap_or_else(|| panic!("no SWITCHYARD_VERSION in {stdout}"))
            .to_string();
        let watched = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("cargo::rerun-if-changed="))
            .map(String::from)
            .collect();
        (version, watched)
    }
}

#[test]
fn build_script_says_unknown_commit_without_a_checkout_and_dirty_for_changed_sources() {
    let dir = common::temp_dir("build-script");
    let script = BuildScript::compile(&dir);
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("host/src")).unwrap();
    std::fs::create_dir_all(tree.join("docs")).unwrap();
    std::fs::write(tree.join("host/src/lib.rs"), "// one\n").unwrap();
    std::fs::write(tree.join("docs/notes.md"), "one\n").unwrap();

    // A source tarball: no .git.
    let (version, watched) = script.run(&tree);
    assert_eq!(version, "9.8.7 (unknown commit)");
    assert_eq!(
        watched,
        ["build.rs"],
        "without git, only build.rs is watched"
    );

    if git(&dir, &["--version"]).is_none() {
        eprintln!("git is not installed: only the no-checkout case was checked");
        return;
    }
    // Unpacked inside another repository: still not a checkout of this workspace.
    git(&dir, &["init", "-q"]).unwrap();
    let (version, _) = script.run(&tree);
    assert_eq!(
        version, "9.8.7 (unknown commit)",
        "the outer repository's commit"
    );
    std::fs::remove_dir_all(dir.join(".git")).unwrap();

    git(&tree, &["init", "-q", "-b", "main"]).unwrap();
    git(&tree, &["add", "."]).unwrap();
    git(&tree, &["commit", "-q", "-m", "one"]).unwrap();
    let head = git(&tree, &["rev-parse", "--short=12", "HEAD"]).unwrap();
    let date = git(
        &tree,
        &["log", "-1", "--date=format-local:%Y-%m-%d", "--format=%cd"],
    )
    .unwrap();
    let (version, watched) = script.run(&tree);
    assert_eq!(version, format!("9.8.7 ({head} {date})"));
    assert_eq!(parse_version(&version).1, format!("{head} {date}"));
    let watches = |suffix: &str| watched.iter().any(|w| w.ends_with(suffix));
    assert!(
        watches(".git/HEAD") && watches(".git/refs/heads/main") && watches("host/src"),
        "HEAD, the branch and the sources: {watched:?}"
    );
    assert!(
        !watches("docs"),
        "docs do not go into the binary: {watched:?}"
    );

    // A change outside the binary's sources is not a dirty build.
    std::fs::write(tree.join("docs/notes.md"), "two\n").unwrap();
    assert_eq!(script.run(&tree).0, format!("9.8.7 ({head} {date})"));
    // A change to them is.
    std::fs::write(tree.join("host/src/lib.rs"), "// two\n").unwrap();
    assert_eq!(script.run(&tree).0, format!("9.8.7 ({head}-dirty {date})"));
    // Committed, it is the new commit, clean.
    git(&tree, &["commit", "-q", "-a", "-m", "two"]).unwrap();
    let next = git(&tree, &["rev-parse", "--short=12", "HEAD"]).unwrap();
    assert_ne!(next, head);
    let date = git(
        &tree,
        &["log", "-1", "--date=format-local:%Y-%m-%d", "--format=%cd"],
    )
    .unwrap();
    assert_eq!(script.run(&tree).0, format!("9.8.7 ({next} {date})"));

    // With the branch packed, its folder is watched: the next commit writes a file there.
    git(&tree, &["pack-refs", "--all"]).unwrap();
    let (_, watched) = script.run(&tree);
    let watches = |suffix: &str| watched.iter().any(|w| w.ends_with(suffix));
    assert!(
        watches(".git/refs/heads") && watches(".git/packed-refs") && watches(".git/logs/HEAD"),
        "{watched:?}"
    );
}

const UNIT: &str = include_str!("../../../examples/deploy/switchyard.service");
const SAMPLE: &str = include_str!("../../../examples/deploy/switchyard.toml");
const INSTALLED_BINARY: &str = "/usr/local/bin/switchyard";

/// The unit's `key=value` lines as (section, key, value), in order.
fn unit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line:?}"));
        entries.push((section.clone(), key.trim().into(), value.trim().into()));
    }
    entries
}

/// Every value of `key` in [Service].
fn service<'a>(entries: &'a [(String, String, String)], key: &str) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|(s, k, _)| s == "Service" && k == key)
        .map(|(_, _, v)| v.as_str())
        .collect()
}

/// The one value of `key` in [Service].
fn one<'a>(entries: &'a [(String, String, String)], key: &str) -> &'a str {
    match service(entries, key)[..] {
        [value] => value,
        ref values => panic!("[Service] {key}: expected one value, found {values:?}"),
    }
}

#[test]
fn systemd_unit_runs_the_proxy_with_the_limits_and_rights_it_needs() {
    let entries = unit_entries(UNIT);
    assert_eq!(
        one(&entries, "ExecStart"),
        format!("{INSTALLED_BINARY} run --config /etc/switchyard/switchyard.toml")
    );
    // SIGHUP reloads the configuration (cli/run.rs), and the process does not notify.
    assert_eq!(one(&entries, "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert!(matches!(one(&entries, "Type"), "exec" | "simple"));
    assert_eq!(one(&entries, "Restart"), "on-failure");
    assert_eq!(one(&entries, "AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
    assert_eq!(
        one(&entries, "CapabilityBoundingSet"),
        "CAP_NET_BIND_SERVICE"
    );
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
    ] {
        assert_eq!(one(&entries, key), value, "{key}");
    }
    // wasmtime compiles policies to machine code at run time: W^X would stop it.
    assert!(service(&entries, "MemoryDenyWriteExecute").is_empty());

    // Two descriptors per client connection at the sample's max_connections, within
    // the 95% of the limit that clients may use.
    let sample: toml::Table = SAMPLE.parse().unwrap();
    let max_connections = sample["listeners"][0]["max_connections"]
        .as_integer()
        .unwrap();
    let nofile: i64 = one(&entries, "LimitNOFILE").parse().unwrap();
    assert!(
        nofile * 95 / 100 >= 2 * max_connections,
        "LimitNOFILE={nofile} for {max_connections} connections"
    );

    // The policy directory is the service's own state directory (writable: rollouts
    // rename files in it), and the compiled-policy cache its cache directory.
    let dir = sample["policies"]["dir"].as_str().unwrap();
    let state = one(&entries, "StateDirectory");
    assert_eq!(format!("/var/lib/{state}"), dir);
    assert!(!one(&entries, "CacheDirectory").is_empty());
    assert!(service(&entries, "Environment").contains(&"XDG_CACHE_HOME=%C"));
}

/// `systemd-analyze verify` on `unit` (a copy whose binary is this build's): its
/// complaints about the unit, or `None` when it is not installed.
fn systemd_verify(dir: &Path, name: &str, unit: &str) -> Option<Result<(), String>> {
    let file = dir.join(name);
    std::fs::write(&file, unit).unwrap();
    let out = match Command::new("systemd-analyze")
        .args(["verify", "--man=no", "--generators=no"])
        .arg(&file)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("systemd-analyze: {e}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Lines about other units (a container's own) are not this test's business.
    let about_it: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
    Some(if out.status.success() && about_it.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", out.status, about_it.join("\n")))
    })
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let dir = common::temp_dir("unit");
    // verify checks that the commands exist: run this build's binary.
    let unit = UNIT.replace(INSTALLED_BINARY, env!("CARGO_BIN_EXE_switchyard"));
    let Some(verdict) = systemd_verify(&dir, "switchyard.service", &unit) else {
        eprintln!("systemd-analyze is not installed: the unit was only parsed");
        return;
    };
    verdict.expect("systemd-analyze verify");
    // The check can fail: a binary that is not there, and a misspelt key.
    let missing = unit.replace(env!("CARGO_BIN_EXE_switchyard"), "/nonexistent/switchyard");
    let misspelt = unit.replace("LimitNOFILE=", "LimitNOFILES=");
    for (name, broken) in [("missing.service", missing), ("misspelt.service", misspelt)] {
        let verdict = systemd_verify(&dir, name, &broken).unwrap();
        eprintln!("{name}: {verdict:?}");
        assert!(verdict.is_err(), "{name} passed verify");
    }
}

#[test]
fn sample_configuration_passes_check_config() {
    let dir = common::temp_dir("deploy-config");
    let policies = dir.join("policies");
    std::fs::create_dir(&policies).unwrap();
    let file = dir.join("switchyard.toml");
    let text = SAMPLE.replace("/var/lib/switchyard/policies", policies.to_str().unwrap());
    assert_ne!(
        text, SAMPLE,
        "the sample names /var/lib/switchyard/policies"
    );
    std::fs::write(&file, text).unwrap();
    let stdout = succeed(
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["check-config", file.to_str().unwrap()])
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env("RUST_LOG", "off"),
    );
    assert!(
        stdout.contains("ok (1 listeners, 1 clusters)") && !stdout.contains("warning"),
        "{stdout}"
    );
}
