//! Hands the tests the folder of policy components that `switchyard-policy`'s build
//! script built (built-in policies and test fixtures), as `SWITCHYARD_COMPONENTS`.

fn main() {
    let dir = std::env::var("DEP_SWITCHYARD_POLICIES_COMPONENTS")
        .expect("switchyard-policy's build script names its components folder");
    println!("cargo::rustc-env=SWITCHYARD_COMPONENTS={dir}");
}
