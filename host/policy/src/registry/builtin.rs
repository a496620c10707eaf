//! Built-in policies, compiled from `policies/` by the build script and embedded.

include!(concat!(env!("OUT_DIR"), "/builtin_policies.rs"));

/// The policy used when a cluster names none, and the last resort for faults.
pub const DEFAULT_POLICY: &str = "round-robin";

/// The health scorer used when a cluster checks health and names none.
pub const DEFAULT_HEALTH_POLICY: &str = "default-health";

/// The component bytes of built-in balancer or health scorer `name`.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    BUILTIN
        .iter()
        .chain(BUILTIN_SCORERS)
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
}

/// Names of the built-in balancers.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}

/// Names of the built-in health scorers.
pub fn builtin_scorer_names() -> impl Iterator<Item = &'static str> {
    BUILTIN_SCORERS.iter().map(|(n, _)| *n)
}
