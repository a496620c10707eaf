//! The crate builds its bindings from its own copy of the contract,
//! `policy-sdk/wit/policy.wit`, so that it builds once published; in the repository
//! that copy must stay byte for byte the contract in `wit/policy.wit`.

use std::path::Path;

#[test]
fn vendored_wit_is_the_repository_contract() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let vendored = crate_dir.join("wit/policy.wit");
    let contract = crate_dir.join("../wit/policy.wit");
    let vendored_bytes =
        std::fs::read(&vendored).unwrap_or_else(|e| panic!("reading {}: {e}", vendored.display()));
    if !contract.exists() && !crate_dir.join("../Cargo.toml").exists() {
        // The published crate, outside the repository: nothing to compare with.
        eprintln!("{} is absent: not in the repository", contract.display());
        return;
    }
    let contract_bytes =
        std::fs::read(&contract).unwrap_or_else(|e| panic!("reading {}: {e}", contract.display()));
    assert!(
        vendored_bytes == contract_bytes,
        "{} differs from {}: copy it over (cp wit/policy.wit policy-sdk/wit/policy.wit)",
        vendored.display(),
        contract.display()
    );
}

#[test]
fn vendored_wit_is_the_version_the_bindings_name() {
    let wit = include_str!("../wit/policy.wit");
    assert!(
        wit.contains("package switchyard:policy@0.2.0;"),
        "bindings.rs names switchyard:policy@0.2.0; update both together"
    );
}
