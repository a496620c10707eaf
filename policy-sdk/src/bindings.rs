//! Bindings generated from `wit/policy.wit` by `wit-bindgen`.
//!
//! Policy authors rarely need this module: the crate root re-exports the types under
//! friendly names and [`export_balancer!`](crate::export_balancer) and
//! [`export_scorer!`](crate::export_scorer) write the exports.

wit_bindgen::generate!({
    path: "../wit",
    world: "switchyard:policy/balancer",
    pub_export_macro: true,
    export_macro_name: "__export_balancer_world",
    default_bindings_module: "switchyard_policy_sdk::bindings",
    runtime_path: "switchyard_policy_sdk::__private::wit_bindgen::rt",
});

/// Bindings of the `health-scorer` world, sharing the types and imports above.
pub mod scorer {
    wit_bindgen::generate!({
        path: "../wit",
        world: "switchyard:policy/health-scorer",
        with: {
            "switchyard:policy/types@0.1.0": crate::bindings::switchyard::policy::types,
            "switchyard:policy/host@0.1.0": crate::bindings::switchyard::policy::host,
            "switchyard:policy/load@0.1.0": crate::bindings::switchyard::policy::load,
        },
        pub_export_macro: true,
        export_macro_name: "__export_scorer_world",
        additional_derives: [PartialEq],
        default_bindings_module: "switchyard_policy_sdk::bindings::scorer",
        runtime_path: "switchyard_policy_sdk::__private::wit_bindgen::rt",
    });
}
