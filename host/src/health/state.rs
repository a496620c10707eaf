//! What the host knows of each endpoint's health, and the membership it makes: verdicts
//! with their expiry, the panic threshold and slow start.

use std::time::{Duration, Instant};
use switchyard_policy::Verdict;
use switchyard_policy::cluster::{Health, Member};

/// The least share of its weight a slow-starting endpoint gets.
const SLOW_START_FLOOR: f32 = 0.1;

/// What led to an endpoint's current verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerdictSource {
    /// Nothing yet: healthy as configured.
    Initial,
    /// A probe result.
    Probe,
    /// A proxied request's outcome (passive detection).
    Passive,
    /// The scorer on its own (a tick), or an ejection running out.
    Scorer,
}

impl VerdictSource {
    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            VerdictSource::Initial => "initial",
            VerdictSource::Probe => "probe",
            VerdictSource::Passive => "passive",
            VerdictSource::Scorer => "scorer",
        }
    }
}

/// One endpoint's health as the host keeps it.
#[derive(Clone, Debug)]
pub struct EndpointState {
    /// The verdict in force.
    pub verdict: Verdict,
    /// What gave it.
    pub source: VerdictSource,
    /// When a timed ejection ends.
    pub ejected_until: Option<Instant>,
    /// Times ejected.
    pub ejections: u32,
    /// When it last came back into rotation; its weight ramps up from then.
    pub back_since: Option<Instant>,
}

impl Default for EndpointState {
    fn default() -> Self {
        Self {
            verdict: Verdict::Healthy,
            source: VerdictSource::Initial,
            ejected_until: None,
            ejections: 0,
            back_since: None,
        }
    }
}

impl EndpointState {
    /// True while ejected.
    pub fn is_out(&self) -> bool {
        matches!(self.verdict, Verdict::Ejected(_))
    }

    /// Takes a new verdict at `now`; true when anything changed.
    pub fn apply(&mut self, verdict: Verdict, source: VerdictSource, now: Instant) -> bool {
        if verdict == self.verdict {
            return false;
        }
        let was_out = self.is_out();
        match verdict {
            Verdict::Ejected(duration) => {
                if !was_out {
                    self.ejections += 1;
                }
                self.ejected_until = duration.map(|d| now + d);
            }
            Verdict::Healthy | Verdict::Degraded(_) => {
                self.ejected_until = None;
                if was_out {
                    self.back_since = Some(now);
                }
            }
        }
        self.verdict = verdict;
        self.source = source;
        true
    }

    /// Ends a timed ejection that has run out by `now`; true when it did.
    pub fn expire(&mut self, now: Instant) -> bool {
        match self.ejected_until {
            Some(until) if until <= now => self.apply(Verdict::Healthy, VerdictSource::Scorer, now),
            _ => false,
        }
    }
}

/// How verdicts become membership.
#[derive(Clone, Copy, Debug)]
pub struct Composition {
    /// Below this share of endpoints in rotation (0 to 1), all of them serve.
    pub panic_threshold: f32,
    /// Weight ramp of an endpoint back in rotation.
    pub slow_start: Duration,
}

/// Members as the balancer is to see them.
pub struct Composed {
    /// The members, in the base's order.
    pub members: Vec<Member>,
    /// Too few endpoints were in rotation: all serve.
    pub panic: bool,
    /// Some endpoint's weight is still ramping up.
    pub ramping: bool,
}

/// Applies `states` (in `base`'s order) to `base` at `now`; an endpoint whose circuit
/// breaker is open and cooling down is unavailable whatever its verdict.
pub fn compose(
    base: &[Member],
    states: &[EndpointState],
    rules: Composition,
    now: Instant,
) -> Composed {
    let mut ramping = false;
    let mut members: Vec<Member> = base
        .iter()
        .zip(states)
        .map(|(member, state)| {
            let mut member = member.clone();
            let (health, factor) = match state.verdict {
                _ if member.load.circuit_cooling() => (Health::Unavailable, 1.0),
                Verdict::Healthy => (Health::Healthy, 1.0),
                Verdict::Degraded(f) => (Health::Degraded, f),
                Verdict::Ejected(_) => (Health::Unavailable, 1.0),
            };
            let ramp = state
                .back_since
                .map(|since| now.saturating_duration_since(since))
                .filter(|back| *back < rules.slow_start && health != Health::Unavailable)
                .map(|back| {
                    let share = back.as_secs_f32() / rules.slow_start.as_secs_f32();
                    share.max(SLOW_START_FLOOR)
                });
            ramping |= ramp.is_some();
            member.health = health;
            member.weight_factor = factor * ramp.unwrap_or(1.0);
            member
        })
        .collect();
    let serving = members
        .iter()
        .filter(|m| m.health != Health::Unavailable)
        .count();
    let panic =
        !members.is_empty() && (serving as f32) < rules.panic_threshold * members.len() as f32;
    if panic {
        for member in &mut members {
            if member.health == Health::Unavailable {
                member.health = Health::Degraded;
            }
        }
    }
    Composed {
        members,
        panic,
        ramping,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy::cluster::Member;

    fn base(n: u32) -> Vec<Member> {
        (0..n)
            .map(|i| Member::new(i, ([127, 0, 0, 1], 9000 + i as u16).into(), 1))
            .collect()
    }

    const RULES: Composition = Composition {
        panic_threshold: 0.5,
        slow_start: Duration::from_secs(10),
    };

    #[test]
    fn ejections_count_expire_and_ramp_back() {
        let t0 = Instant::now();
        let mut state = EndpointState::default();
        let eject = Verdict::Ejected(Some(Duration::from_secs(30)));
        assert!(state.apply(eject, VerdictSource::Passive, t0));
        assert!(
            !state.apply(eject, VerdictSource::Passive, t0),
            "same verdict"
        );
        assert_eq!((state.ejections, state.is_out()), (1, true));
        assert!(!state.expire(t0 + Duration::from_secs(29)));
        assert!(state.expire(t0 + Duration::from_secs(30)));
        assert_eq!(state.verdict, Verdict::Healthy);
        assert_eq!(state.source, VerdictSource::Scorer);

        let mut states = vec![EndpointState::default(); 4];
        states[0] = state;
        let at = |secs: u64| t0 + Duration::from_secs(30 + secs);
        let composed = compose(&base(4), &states, RULES, at(0));
        assert!(composed.ramping);
        assert_eq!(composed.members[0].weight_factor, SLOW_START_FLOOR);
        let composed = compose(&base(4), &states, RULES, at(5));
        assert!((composed.members[0].weight_factor - 0.5).abs() < 1e-6);
        let composed = compose(&base(4), &states, RULES, at(10));
        assert!(!composed.ramping);
        assert_eq!(composed.members[0].weight_factor, 1.0);
    }

    #[test]
    fn degraded_lowers_weight_and_panic_serves_everyone() {
        let now = Instant::now();
        let mut states = vec![EndpointState::default(); 4];
        states[1].apply(Verdict::Degraded(0.25), VerdictSource::Scorer, now);
        states[2].apply(Verdict::Ejected(None), VerdictSource::Probe, now);
        let composed = compose(&base(4), &states, RULES, now);
        assert!(!composed.panic, "3 of 4 serve");
        let health: Vec<_> = composed.members.iter().map(|m| m.health).collect();
        assert_eq!(
            health,
            [
                Health::Healthy,
                Health::Degraded,
                Health::Unavailable,
                Health::Healthy
            ]
        );
        assert_eq!(composed.members[1].weight_factor, 0.25);

        states[3].apply(Verdict::Ejected(None), VerdictSource::Probe, now);
        let composed = compose(&base(4), &states, RULES, now);
        assert!(!composed.panic, "2 of 4 is not below 50%");
        states[0].apply(Verdict::Ejected(None), VerdictSource::Probe, now);
        let composed = compose(&base(4), &states, RULES, now);
        assert!(composed.panic, "1 of 4 is");
        assert!(
            composed
                .members
                .iter()
                .all(|m| m.health != Health::Unavailable)
        );
    }
}
