//! Hands the tests the folder of policy components that `switchyard-policy`'s build
//! script built (built-in policies and test fixtures), as `SWITCHYARD_COMPONENTS`.

fn main() {
    // Only this script and the components folder (through `links`) decide its output;
    // without this, cargo would rerun it, and rebuild the crate, on any change in the
    // package, tests included.
    println!("cargo::rerun-if-changed=build.rs");
    let dir = std::env::var("DEP_SWITCHYARD_POLICIES_COMPONENTS")
        .expect("switchyard-policy's build script names its components folder");
    println!("cargo::rustc-env=SWITCHYARD_COMPONENTS={dir}");
}
