//! Bindings generated from `wit/policy.wit` by `wit-bindgen`.
//!
//! Policy authors rarely need this module: the crate root re-exports the types under
//! friendly names and [`export_balancer!`](crate::export_balancer) writes the exports.

wit_bindgen::generate!({
    path: "../wit",
    world: "switchyard:policy/balancer",
    pub_export_macro: true,
    export_macro_name: "__export_balancer_world",
    default_bindings_module: "switchyard_policy_sdk::bindings",
    runtime_path: "switchyard_policy_sdk::__private::wit_bindgen::rt",
});
