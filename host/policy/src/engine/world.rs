//! Host bindings of the `balancer` world and the host side of its imports.

use crate::cluster::Health;
use crate::engine::log::Level;
use crate::engine::store::StoreState;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "switchyard:policy/balancer",
});

pub use self::exports::switchyard::policy::balancing::HashSource;
pub use self::exports::switchyard::policy::balancing::Needs;
pub(crate) use self::exports::switchyard::policy::balancing::{Method, Request};
pub(crate) use self::switchyard::policy::types::{Endpoint, PolicyInfo, Setup};
use self::switchyard::policy::{host, load, types};

impl types::Host for StoreState {}

impl host::Host for StoreState {
    fn now_ns(&mut self) -> u64 {
        crate::engine::clock::now_ns()
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

impl StoreState {
    fn figures_of(&self, id: u32) -> load::Figures {
        match self.membership.get(id) {
            Some(m) => {
                let (latency_ewma_us, error_rate) = m.load.figures();
                load::Figures {
                    in_flight: m.load.in_flight(),
                    latency_ewma_us,
                    error_rate,
                }
            }
            None => load::Figures {
                in_flight: 0,
                latency_ewma_us: 0,
                error_rate: 0.0,
            },
        }
    }
}

impl load::Host for StoreState {
    fn get(&mut self, id: u32) -> load::Figures {
        self.figures_of(id)
    }

    fn pair(&mut self, a: u32, b: u32) -> (load::Figures, load::Figures) {
        (self.figures_of(a), self.figures_of(b))
    }

    fn in_flight(&mut self, id: u32) -> u32 {
        self.membership.get(id).map_or(0, |m| m.load.in_flight())
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

/// Host bindings of the `health-scorer` world. Its imports are the balancer world's,
/// so one linker serves both.
pub(crate) mod scorer {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "switchyard:policy/health-scorer",
        with: {
            "switchyard:policy/types@0.1.0": super::switchyard::policy::types,
            "switchyard:policy/host@0.1.0": super::switchyard::policy::host,
            "switchyard:policy/load@0.1.0": super::switchyard::policy::load,
        },
    });

    pub(crate) use self::exports::switchyard::policy::scoring::{Observation, Source, Verdict};
}
