//! Builds every policy crate under `policies/` (and the test fixtures under
//! `host/fixtures/`) into a WebAssembly component for `wasm32-wasip2`, with a nested
//! `cargo build` into a target directory of its own under `OUT_DIR`, and writes
//! `builtin_policies.rs`, which embeds the built-in ones in the binary. The folder of
//! built components goes to dependents' build scripts as `DEP_SWITCHYARD_POLICIES_COMPONENTS`
//! (the crate `links` to `switchyard_policies` for that), so their tests load the same ones.
//!
//! The toolchain file lists the target, but rustup does not install it on its own
//! where `RUSTUP_AUTO_INSTALL=0`; this script adds it when it is missing.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.ancestors().nth(2).unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());

    for watched in [
        "wit",
        "policy-sdk",
        "policies",
        "host/fixtures",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let builtins = crates_in(&root.join("policies"));
    let fixtures = crates_in(&root.join("host/fixtures"));
    ensure_target();
    let wasm_dir = build_components(&out_dir, builtins.iter().chain(&fixtures));

    let policies_dir = out_dir.join("policies");
    fs::create_dir_all(&policies_dir).unwrap();
    for name in builtins.iter().chain(&fixtures) {
        let built = wasm_dir.join(format!("{}.wasm", name.replace('-', "_")));
        let dest = policies_dir.join(format!("{name}.wasm"));
        fs::copy(&built, &dest)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", built.display(), dest.display()));
    }
    println!("cargo::metadata=components={}", policies_dir.display());
    println!(
        "cargo::rustc-env=SWITCHYARD_COMPONENTS={}",
        policies_dir.display()
    );

    let policies_src = root.join("policies");
    let (scorers, balancers): (Vec<&String>, Vec<&String>) = builtins
        .iter()
        .partition(|n| is_scorer(&policies_src.join(n)));
    let mut table = String::new();
    for (constant, what, names) in [
        ("BUILTIN", "Built-in balancers", balancers),
        ("BUILTIN_SCORERS", "Built-in health scorers", scorers),
    ] {
        writeln!(
            table,
            "/// {what} embedded in the binary: (name, component bytes).\n\
             pub const {constant}: &[(&str, &[u8])] = &["
        )
        .unwrap();
        for name in names {
            writeln!(
                table,
                "    ({name:?}, include_bytes!(concat!(env!(\"OUT_DIR\"), \"/policies/{name}.wasm\"))),"
            )
            .unwrap();
        }
        table.push_str("];\n");
    }
    fs::write(out_dir.join("builtin_policies.rs"), table).unwrap();
}

/// Whether the crate in `dir` is a health scorer (`[package.metadata.switchyard]`
/// `world = "health-scorer"`): built like the balancers, but not one of them.
fn is_scorer(dir: &Path) -> bool {
    fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|manifest| manifest.contains("world = \"health-scorer\""))
}

/// Names of the crates (folders with a `Cargo.toml`) directly under `dir`, sorted.
fn crates_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Adds the wasm target through rustup when the active toolchain lacks it.
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("running rustc --print sysroot");
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .is_dir()
    {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (needed to build policies)");
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        rustup.args(["--toolchain", &toolchain]);
    }
    let status = rustup.status().unwrap_or_else(|e| {
        panic!("the {TARGET} target is missing and rustup could not be run ({e}); install it with `rustup target add {TARGET}`")
    });
    assert!(
        status.success(),
        "`rustup target add {TARGET}` failed; install the target by hand and build again"
    );
}

/// Runs the nested cargo build and returns the folder holding the `.wasm` files.
fn build_components<'a>(out_dir: &Path, crates: impl Iterator<Item = &'a String>) -> PathBuf {
    let target_dir = out_dir.join("wasm-target");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    for name in crates {
        cmd.args(["-p", name]);
    }
    // The outer build's flags and wrappers (clippy, coverage) are not for the policies.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    // Small, fast components: no debug info, whole-program optimisation.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
    let status = cmd
        .status()
        .expect("running the nested cargo build of policies");
    assert!(
        status.success(),
        "building the policy components failed (see above)"
    );
    target_dir.join(TARGET).join("release")
}
