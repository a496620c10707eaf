//! Host bindings of both worlds, in every contract version the host serves, and the
//! host side of their imports. The current version (0.2.0) is bound here; 0.1.0 in
//! [`v0_1`], sharing the types that did not change.

pub(crate) mod v0_1;

use crate::cluster::clock::coarse_now_ns;
use crate::cluster::{EndpointLoad, Health};
use crate::engine::log::Level;
use crate::engine::store::StoreState;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "switchyard:policy/balancer",
});

pub(crate) use self::exports::switchyard::policy::balancing::{
    Asked, Attribute, Candidate, Delivered, Method, Preference, Request,
};
pub use self::exports::switchyard::policy::balancing::{Candidates, HashSource, Needs};
pub(crate) use self::switchyard::policy::load::{Figures, Reading};
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

/// The figures of an endpoint's `load` as of `now` on the coarse clock.
pub(crate) fn figures_at(load: &EndpointLoad, now: u64) -> Figures {
    let (latency_ewma_us, error_rate) = load.figures_at(now);
    Figures {
        in_flight: load.in_flight(),
        latency_ewma_us,
        error_rate,
    }
}

/// An endpoint's latest reading of its cluster's metric in `slot`, from its `load`,
/// aged as of `now_ns` (the coarse clock).
pub(crate) fn reading_of(load: &EndpointLoad, slot: usize, now_ns: u64) -> Option<Reading> {
    let reading = load.reported()?.reading(slot, now_ns)?;
    Some(Reading {
        value: reading.value,
        age_ms: reading.age_ms,
    })
}

impl StoreState {
    /// The load of member `id`, read without touching the rest of the member.
    fn load_of(&self, id: u32) -> Option<&EndpointLoad> {
        Some(self.membership.load_at(self.membership.index_of(id)?))
    }

    /// The figures of member `id` as of `now`, or zeros for a non-member.
    fn figures_of(&self, id: u32, now: u64) -> Figures {
        match self.load_of(id) {
            Some(load) => figures_at(load, now),
            None => Figures {
                in_flight: 0,
                latency_ewma_us: 0,
                error_rate: 0.0,
            },
        }
    }
}

impl load::Host for StoreState {
    fn get(&mut self, id: u32) -> load::Figures {
        self.figures_of(id, coarse_now_ns())
    }

    fn pair(&mut self, a: u32, b: u32) -> (load::Figures, load::Figures) {
        let now = coarse_now_ns();
        (self.figures_of(a, now), self.figures_of(b, now))
    }

    fn in_flight(&mut self, id: u32) -> u32 {
        self.load_of(id).map_or(0, EndpointLoad::in_flight)
    }

    fn reported(&mut self, id: u32, metric: u32) -> Option<Reading> {
        let slot = *self.metric_slots.get(metric as usize)?;
        reading_of(self.load_of(id)?, slot, coarse_now_ns())
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
            "switchyard:policy/types@0.2.0": super::switchyard::policy::types,
            "switchyard:policy/host@0.2.0": super::switchyard::policy::host,
            "switchyard:policy/load@0.2.0": super::switchyard::policy::load,
        },
    });

    pub(crate) use self::exports::switchyard::policy::scoring::{Observation, Source, Verdict};
}
