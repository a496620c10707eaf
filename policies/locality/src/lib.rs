//! `locality`: keep traffic in the proxy's own zone while that zone can take it.
//!
//! Endpoints whose `zone` equals the proxy's (`setup.local_zone`) are *local*, the rest
//! *remote*. While at least `min_local_healthy` of the local endpoints are available,
//! every request stays local. Below that the local zone keeps
//! `healthy_share / min_local_healthy` of the traffic and the rest spills over to the
//! other zones, so a zone losing endpoints sheds load gradually instead of all at once
//! (Envoy's overprovisioning factor of 1.4 is the default 0.7 here).
//!
//! Within the chosen group a pick is least-request by two random choices; the answer
//! ends with an endpoint of the other group, so a retry can leave a failing zone. With
//! no local zone configured, or no endpoint in it, all endpoints form one group.

use switchyard_policy_sdk::{
    Balancer, Candidates, Choices, Endpoint, Env, Health, Members, Needs, PolicyInfo, Request,
    Setup, export_balancer,
};

/// The policy.
#[derive(Default)]
pub struct Locality {
    zone: String,
    min_local_healthy: f64,
    local: Group,
    remote: Group,
    /// Share of requests that go to the local group.
    local_share: f64,
}

/// Endpoints of one side, with their weights as cost divisors.
#[derive(Default)]
struct Group {
    members: Members,
    weights: Vec<f64>,
}

impl Group {
    fn new(endpoints: Vec<Endpoint>) -> Self {
        let members = Members::new(endpoints);
        let weights = members.divisors();
        Self { members, weights }
    }

    /// Least-request by two random choices within the group.
    fn choose(&self, env: &impl Env) -> Choices {
        let weights = &self.weights;
        self.members.two_choices(env, |position, load| {
            f64::from(load.in_flight + 1) / weights[position]
        })
    }
}

impl Locality {
    /// The share of traffic the local zone keeps, given its members.
    fn local_share(&self) -> f64 {
        let local = self.local.members.all();
        if local.is_empty() {
            return 0.0;
        }
        if self.remote.members.all().is_empty() {
            return 1.0;
        }
        let healthy = local
            .iter()
            .filter(|e| e.health != Health::Unavailable)
            .count();
        let healthy_share = healthy as f64 / local.len() as f64;
        (healthy_share / self.min_local_healthy).min(1.0)
    }
}

impl Balancer for Locality {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "locality",
            "prefers endpoints in the proxy's zone, spilling over as that zone's healthy \
             share drops",
        )
        .key(
            "min_local_healthy",
            "share of local endpoints that must be available for all traffic to stay local",
            Some("0.7"),
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        let config = setup.config();
        config.reject_unknown(&["min_local_healthy"])?;
        let min_local_healthy: f64 = config.parse_or("min_local_healthy", 0.7)?;
        if !(min_local_healthy > 0.0 && min_local_healthy <= 1.0) {
            return Err(format!(
                "policy_config.min_local_healthy: must be in (0, 1], not {min_local_healthy}"
            ));
        }
        Ok(Self {
            zone: setup.local_zone.clone(),
            min_local_healthy,
            ..Self::default()
        })
    }

    /// Without a zone every endpoint is in one group, in the cluster's order, so the
    /// host's random pair is a pair of that group: it comes with the pick (no import).
    /// With zones the pair is drawn within the chosen group, and read with an import.
    fn needs(&self) -> Needs {
        let needs = Needs::nothing();
        if self.zone.is_empty() {
            needs.candidates(Candidates::TwoRandom)
        } else {
            needs
        }
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        let (local, remote): (Vec<Endpoint>, Vec<Endpoint>) = if self.zone.is_empty() {
            (Vec::new(), members)
        } else {
            members.into_iter().partition(|e| e.zone == self.zone)
        };
        self.local = Group::new(local);
        self.remote = Group::new(remote);
        self.local_share = self.local_share();
    }

    fn pick(&mut self, _request: &Request, env: &impl Env) -> Choices {
        let (first, other) = if env.uniform() < self.local_share {
            (&self.local, &self.remote)
        } else {
            (&self.remote, &self.local)
        };
        let mut choices = first.choose(env);
        if !other.members.is_empty() {
            let spill = other.members.id_at(env.below(other.members.len()));
            choices.push(spill);
        }
        choices
    }
}

export_balancer!(Locality);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::testing::{Harness, endpoints};

    /// Endpoints 0–2 in zone `a`, 3–5 in zone `b`.
    fn two_zones() -> Vec<Endpoint> {
        let mut all = endpoints(&[1; 6]);
        for e in &mut all {
            e.zone = if e.id < 3 { "a" } else { "b" }.to_string();
        }
        all
    }

    fn harness(
        zone: &str,
        config: &[(&str, &str)],
        members: Vec<Endpoint>,
    ) -> Result<Harness<Locality>, String> {
        let setup = Setup {
            cluster: "test".into(),
            local_zone: zone.into(),
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        Harness::with_setup(&setup, members)
    }

    fn local_share(h: &mut Harness<Locality>) -> f64 {
        let counts = h.distribution(100_000);
        (0..3)
            .map(|id| counts.get(&id).copied().unwrap_or(0))
            .sum::<usize>() as f64
            / 1e5
    }

    #[test]
    fn stays_local_then_spills_as_the_zone_fails() {
        let mut h = harness("a", &[], two_zones()).unwrap();
        assert_eq!(local_share(&mut h), 1.0);
        let answer = h.pick(&Request::empty());
        assert!(
            answer.len() == 3 && answer[2] >= 3,
            "ends with a remote: {answer:?}"
        );

        // One of three local endpoints down: 2/3 healthy < 0.7 keeps 0.667 / 0.7.
        let mut members = two_zones();
        members[0].health = Health::Unavailable;
        h.set_members(members.clone());
        let share = local_share(&mut h);
        assert!((share - 0.952).abs() < 0.01, "{share}");
        assert_eq!(
            h.distribution(10_000).get(&0),
            None,
            "the dead one gets nothing"
        );

        // Two down: a third healthy keeps 0.476 local.
        members[1].health = Health::Unavailable;
        h.set_members(members.clone());
        let share = local_share(&mut h);
        assert!((share - 0.476).abs() < 0.01, "{share}");

        // All local down: everything spills.
        members[2].health = Health::Unavailable;
        h.set_members(members);
        assert_eq!(local_share(&mut h), 0.0);
    }

    #[test]
    fn threshold_is_configurable_and_checked() {
        let mut members = two_zones();
        members[0].health = Health::Unavailable;
        let config = [("min_local_healthy", "0.5")];
        let mut h = harness("a", &config, members).unwrap();
        assert_eq!(local_share(&mut h), 1.0, "2/3 healthy is above 0.5");
        let config = [("min_local_healthy", "0")];
        let err = harness("a", &config, two_zones()).err().unwrap();
        assert!(err.contains("min_local_healthy"), "{err}");
    }

    /// Without a zone the host's pair comes with the pick (the engine tests run the
    /// component, which uses it); with one, the pair is drawn within a group.
    #[test]
    fn asks_for_the_hosts_pair_only_without_a_zone() {
        let plain = harness("", &[], two_zones()).unwrap();
        assert_eq!(plain.policy().needs().candidates, Candidates::TwoRandom);
        let zoned = harness("a", &[], two_zones()).unwrap();
        assert_eq!(zoned.policy().needs().candidates, Candidates::None);
    }

    #[test]
    fn without_a_local_zone_all_endpoints_share() {
        for zone in ["", "c"] {
            let mut h = harness(zone, &[], two_zones()).unwrap();
            let counts = h.distribution(60_000);
            for c in counts.values() {
                assert!(
                    (*c as f64 / 60_000.0 - 1.0 / 6.0).abs() < 0.01,
                    "{counts:?}"
                );
            }
        }
    }
}
