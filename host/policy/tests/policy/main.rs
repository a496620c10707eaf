//! The policy engine on its own: the built-in policies through the real engine, and
//! hostile or broken components contained by the sandbox. One binary, a module each.

mod builtins;
mod sandbox;
mod support;
