//! Bindings generated from `wit/policy.wit` by `wit-bindgen`.
//!
//! Policy authors rarely need this module: the crate root re-exports the types under
//! friendly names and [`export_balancer!`](crate::export_balancer) and
//! [`export_scorer!`](crate::export_scorer) write the exports.
//!
//! The WIT is the crate's own copy, `policy-sdk/wit/policy.wit`, so that the crate
//! builds on its own once published; a test keeps it byte for byte equal to the
//! repository's `wit/policy.wit`.
//!
//! Every generated type is `Clone` and `Debug` and `PartialEq`; those without a float
//! in them are also `Eq` and `Hash` (and the enums `Copy` and `Ord`), so that needs,
//! hash sources and policy descriptions can be compared and used as map keys:
//!
//! ```
//! use std::collections::HashSet;
//! use switchyard_policy_sdk::{HashSource, Needs, parse_hash_source};
//!
//! assert_eq!(parse_hash_source("cookie:sid"), Ok(HashSource::Cookie("sid".into())));
//! let sources: HashSet<HashSource> = [HashSource::Path, HashSource::Path].into();
//! assert_eq!(sources.len(), 1);
//! assert_eq!(Needs::nothing(), Needs::nothing());
//! ```

wit_bindgen::generate!({
    path: "wit/policy.wit",
    world: "switchyard:policy/balancer",
    pub_export_macro: true,
    export_macro_name: "__export_balancer_world",
    default_bindings_module: "switchyard_policy_sdk::bindings",
    runtime_path: "switchyard_policy_sdk::__private::wit_bindgen::rt",
    // Every type: floats are `PartialEq` too.
    additional_derives: [PartialEq],
    // Types without a float: also `Eq` and `Hash` (enums are `Eq` already).
    additional_type_attributes: {
        "switchyard:policy/types@0.2.0/health": [#[derive(Hash)]],
        "switchyard:policy/types@0.2.0/setup": [#[derive(Eq, Hash)]],
        "switchyard:policy/types@0.2.0/config-key": [#[derive(Eq, Hash)]],
        "switchyard:policy/types@0.2.0/policy-info": [#[derive(Eq, Hash)]],
        "switchyard:policy/types@0.2.0/log-level": [#[derive(Hash)]],
        "switchyard:policy/balancing@0.2.0/hash-source": [#[derive(Eq, Hash)]],
        "switchyard:policy/balancing@0.2.0/needs": [#[derive(Eq, Hash)]],
        "switchyard:policy/balancing@0.2.0/candidates": [#[derive(Hash)]],
        "switchyard:policy/balancing@0.2.0/method": [#[derive(Hash)]],
        "switchyard:policy/balancing@0.2.0/preference": [#[derive(Eq, Hash)]],
    },
});

/// Bindings of the `health-scorer` world, sharing the types and imports above.
///
/// ```
/// use switchyard_policy_sdk::Verdict;
/// use switchyard_policy_sdk::bindings::scorer::exports::switchyard::policy::scoring;
///
/// // The crate root re-exports these under the same names.
/// let verdict: scoring::Verdict = Verdict::Degraded(0.5);
/// assert_eq!(verdict, scoring::Verdict::Degraded(0.5));
/// ```
pub mod scorer {
    wit_bindgen::generate!({
        path: "wit/policy.wit",
        world: "switchyard:policy/health-scorer",
        with: {
            "switchyard:policy/types@0.2.0": crate::bindings::switchyard::policy::types,
            "switchyard:policy/host@0.2.0": crate::bindings::switchyard::policy::host,
            "switchyard:policy/load@0.2.0": crate::bindings::switchyard::policy::load,
        },
        pub_export_macro: true,
        export_macro_name: "__export_scorer_world",
        additional_derives: [PartialEq],
        additional_type_attributes: {
            "switchyard:policy/scoring@0.2.0/source": [#[derive(Hash)]],
            "switchyard:policy/scoring@0.2.0/observation": [#[derive(Eq, Hash)]],
        },
        default_bindings_module: "switchyard_policy_sdk::bindings::scorer",
        runtime_path: "switchyard_policy_sdk::__private::wit_bindgen::rt",
    });
}
