//! Host bindings of the `balancer` world and the host side of its imports.

use crate::cluster::Health;
use crate::policy::log::Level;
use crate::policy::sandbox::StoreState;
use std::sync::OnceLock;
use std::time::Instant;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "switchyard:policy/balancer",
});

pub(crate) use exports::switchyard::policy::balancing::{HashSource, Needs, Request};
pub(crate) use switchyard::policy::types::{Endpoint, PolicyInfo, Setup};
use switchyard::policy::{host, load, types};

impl types::Host for StoreState {}

impl host::Host for StoreState {
    fn now_ns(&mut self) -> u64 {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    fn random(&mut self) -> u64 {
        self.next_random()
    }

    fn log(&mut self, level: types::LogLevel, message: String) {
        let level = match level {
            types::LogLevel::Debug => Level::Debug,
            types::LogLevel::Info => Level::Info,
            types::LogLevel::Warn => Level::Warn,
            types::LogLevel::Error => Level::Error,
        };
        self.log.line(level, &message);
    }
}

impl load::Host for StoreState {
    fn in_flight(&mut self, id: u32) -> u32 {
        self.membership.get(id).map_or(0, |m| m.load.in_flight())
    }

    fn latency_ewma_us(&mut self, id: u32) -> u32 {
        self.membership.get(id).map_or(0, |m| m.load.latency_ewma_us())
    }

    fn error_rate(&mut self, id: u32) -> f32 {
        self.membership.get(id).map_or(0.0, |m| m.load.error_rate())
    }
}

impl From<Health> for types::Health {
    fn from(health: Health) -> Self {
        match health {
            Health::Healthy => types::Health::Healthy,
            Health::Degraded => types::Health::Degraded,
            Health::Unavailable => types::Health::Unavailable,
        }
    }
}

/// The membership as the WIT `list<endpoint>`.
pub(crate) fn endpoints(membership: &crate::cluster::Membership) -> Vec<Endpoint> {
    membership
        .members()
        .iter()
        .map(|m| Endpoint {
            id: m.id,
            address: m.address.clone(),
            weight: m.weight,
            weight_factor: m.weight_factor,
            zone: m.zone.clone(),
            metadata: m.metadata.clone(),
            health: m.health.into(),
        })
        .collect()
}
