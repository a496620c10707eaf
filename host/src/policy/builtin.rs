//! Built-in policies, compiled from `policies/` by the build script and embedded.

include!(concat!(env!("OUT_DIR"), "/builtin_policies.rs"));

/// The policy used when a cluster names none, and the last resort for faults.
pub const DEFAULT_POLICY: &str = "round-robin";

/// The component bytes of built-in policy `name`.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Names of the built-in policies.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}
