//! Hands the tests the folder of policy components that `switchyard-policy`'s build
//! script built (built-in policies and test fixtures), as `SWITCHYARD_COMPONENTS`, and
//! the binary its `--version` line, as `SWITCHYARD_VERSION`: the package version and the
//! git commit it was built from, e.g. `0.1.0 (3f2a9c1b7d4e 2026-12-04)`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What goes into the binary, relative to the workspace root: a change under any of
/// these already rebuilds the crate (its own sources, or `switchyard-policy`, whose
/// build script watches the policy sources), so rerunning this script on it costs
/// nothing more. `-dirty` is about these paths only.
const SOURCES: &[&str] = &[
    "host/src",
    "host/build.rs",
    "host/Cargo.toml",
    "host/policy/src",
    "host/policy/build.rs",
    "host/policy/Cargo.toml",
    "wit",
    "policy-sdk",
    "policies",
    "host/fixtures",
    "Cargo.lock",
];

fn main() {
    // Only this script, the components folder (through `links`) and the git state below
    // decide its output; without this, cargo would rerun it, and rebuild the crate, on
    // any change in the package, tests included.
    println!("cargo::rerun-if-changed=build.rs");
    let dir = std::env::var("DEP_SWITCHYARD_POLICIES_COMPONENTS")
        .expect("switchyard-policy's build script names its components folder");
    println!("cargo::rustc-env=SWITCHYARD_COMPONENTS={dir}");

    let version = std::env::var("CARGO_PKG_VERSION").unwrap();
    let commit = commit().unwrap_or_else(|| "unknown commit".into());
    println!("cargo::rustc-env=SWITCHYARD_VERSION={version} ({commit})");
}

/// `HASH[-dirty] DATE` for the checkout this crate sits in, or `None` without git or
/// without a checkout (a source tarball, or one unpacked inside another repository).
///
/// The script reruns when HEAD moves (a commit, a checkout, a reset: `HEAD`, the branch
/// it names, `packed-refs`) and when anything under [`SOURCES`] changes, never on edits
/// elsewhere (tests, docs, benches), which do not change the binary.
fn commit() -> Option<String> {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let root = manifest.parent()?;
    let top = git(root, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    // HEAD, its reflog, the branch it names (a packed one has no file of its own until
    // its next commit writes one: then its folder), and where packed refs are kept.
    let mut watched = vec!["HEAD".to_string(), "logs/HEAD".into()];
    if let Some(branch) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    watched.extend(["packed-refs".into(), "reftable/tables.list".into()]);
    for name in &watched {
        let Some(path) = git(root, &["rev-parse", "--git-path", name]) else {
            continue;
        };
        // A watched path that does not exist would rerun the script on every build.
        let path = root.join(path);
        let existing = if name.starts_with("refs/") {
            path.ancestors().find(|p| p.exists())
        } else {
            Some(path.as_path()).filter(|p| p.exists())
        };
        if let Some(existing) = existing {
            println!("cargo::rerun-if-changed={}", existing.display());
        }
    }
    for source in SOURCES {
        if root.join(source).exists() {
            println!("cargo::rerun-if-changed={}", root.join(source).display());
        }
    }

    let hash = git(root, &["rev-parse", "--short=12", "HEAD"])?;
    let date = git(
        root,
        &[
            "log",
            "-1",
            "--date=format-local:%Y-%m-%d",
            "--format=%cd",
            "HEAD",
        ],
    )?;
    let mut status = vec!["--no-optional-locks", "status", "--porcelain", "--"];
    status.extend(SOURCES);
    let dirty = match git(root, &status) {
        Some(changes) if changes.is_empty() => "",
        Some(_) => "-dirty",
        None => return None,
    };
    Some(format!("{hash}{dirty} {date}"))
}

/// `git ARGS` run in `dir` with the commit date in UTC: its trimmed standard output, or
/// `None` when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        // Set when cargo runs from a git hook; they would point git elsewhere.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}
