//! Helpers shared by the policy engine tests (and, through a `#[path]` module, by the
//! proxy's end-to-end tests): the engine, the built components, bound clusters.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use switchyard_policy::cluster::{Member, Membership};
use switchyard_policy::{ClusterPolicy, PolicyComponent, PolicyEngine, PolicyLimits};

/// One engine per test binary (it owns an epoch thread).
pub fn engine() -> &'static PolicyEngine {
    static ENGINE: OnceLock<PolicyEngine> = OnceLock::new();
    ENGINE.get_or_init(|| PolicyEngine::new().expect("engine"))
}

/// A component built by the build script: a built-in policy or a test fixture.
pub fn component_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/{name}.wasm", env!("SWITCHYARD_COMPONENTS"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Which build of a built-in policy a test loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// Built now, against the current contract.
    Current,
    /// Built against contract 0.1.0 and kept as a fixture (`host/fixtures/contract-0.1.0`).
    V0_1,
}

impl Build {
    /// Both.
    pub const ALL: [Build; 2] = [Build::Current, Build::V0_1];

    /// The bytes of built-in `name` in this build.
    pub fn bytes(self, name: &str) -> Vec<u8> {
        match self {
            Build::Current => component_bytes(name),
            Build::V0_1 => {
                let path = format!(
                    "{}/../fixtures/contract-0.1.0/{name}.wasm",
                    env!("CARGO_MANIFEST_DIR")
                );
                std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
            }
        }
    }
}

/// Compiles a built component.
pub fn compile(name: &str) -> Arc<PolicyComponent> {
    compile_built(Build::Current, name)
}

/// Compiles built-in `name` of `build`.
pub fn compile_built(build: Build, name: &str) -> Arc<PolicyComponent> {
    engine()
        .compile(name, &build.bytes(name))
        .unwrap_or_else(|e| panic!("{name} ({build:?}): {e}"))
}

/// Members with ids `0..`, the given weights.
pub fn membership(weights: &[u32]) -> Arc<Membership> {
    Arc::new(Membership::new(
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let socket = std::net::SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16));
                Member::new(i as u32, socket, *w)
            })
            .collect(),
    ))
}

/// `name` bound to a cluster with `config` and `membership`.
pub fn bind(
    name: &str,
    config: &[(&str, &str)],
    membership: Arc<Membership>,
) -> Result<ClusterPolicy, switchyard_policy::LoadError> {
    bind_with(name, config, membership, PolicyLimits::default())
}

/// As [`bind`], with `build` of built-in `name`.
pub fn bind_built(
    build: Build,
    name: &str,
    config: &[(&str, &str)],
    membership: Arc<Membership>,
) -> Result<ClusterPolicy, switchyard_policy::LoadError> {
    let config: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ClusterPolicy::new(
        compile_built(build, name),
        "test",
        &config,
        "",
        PolicyLimits::default(),
        membership,
        None,
    )
}

/// As [`bind`], with explicit limits.
pub fn bind_with(
    name: &str,
    config: &[(&str, &str)],
    membership: Arc<Membership>,
    limits: PolicyLimits,
) -> Result<ClusterPolicy, switchyard_policy::LoadError> {
    let config: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ClusterPolicy::new(compile(name), "test", &config, "", limits, membership, None)
}

/// `component` with a custom section holding `tag` appended: the same policy, other
/// bytes (another sha256, as a rebuilt version would have). `tag` is under 100 bytes.
pub fn with_custom_section(component: &[u8], tag: &str) -> Vec<u8> {
    let payload = [&[1, b't'], tag.as_bytes()].concat();
    [component, &[0, payload.len() as u8], &payload].concat()
}
