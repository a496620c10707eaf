//! `default-health`: the built-in health scorer.
//!
//! - **Active probes**: `unhealthy_threshold` consecutive failed probes take an
//!   endpoint out until `healthy_threshold` consecutive probes succeed (which also ends
//!   a passive ejection). The host hands both thresholds over from
//!   `[clusters.health_check]`.
//! - **Passive outlier detection** (Envoy's): `consecutive_errors` failed requests in a
//!   row (5xx, connect error, timeout), or an error rate of at least `error_rate` over
//!   `error_rate_window_ms` with at least `error_rate_min_requests` requests, eject an
//!   endpoint for `base_ejection_ms` × the number of times it was ejected (at most
//!   `max_ejection_ms`); the count decays by one for each `base_ejection_ms` spent back
//!   in rotation. Passive ejections never take out more than `max_ejection_percent` of
//!   the cluster (failed probes are not capped: the proxy's panic threshold is).

use std::collections::HashMap;
use switchyard_policy_sdk::{
    Endpoint, EndpointId, Env, Observation, PolicyInfo, ProbeStreak, ProbeThresholds, Scorer,
    Setup, Source, Verdict, export_scorer,
};

/// An ejection that only a scorer verdict ends (probes failing): the longest the
/// contract can say.
const UNTIL_RECOVERED_MS: u32 = u32::MAX;
const MS: u64 = 1_000_000;

/// Configuration, from `health_config`.
#[derive(Clone, Copy, Debug)]
struct Settings {
    probes: ProbeThresholds,
    consecutive_errors: u32,
    error_rate: f32,
    error_rate_min_requests: u32,
    error_rate_window_ns: u64,
    base_ejection_ms: u32,
    max_ejection_ms: u32,
    max_ejection_percent: u32,
}

/// What the scorer knows of one endpoint.
#[derive(Clone, Debug, Default)]
struct Record {
    /// Out while its probes are down.
    probes: ProbeStreak,
    request_errors: u32,
    window_start_ns: u64,
    window_requests: u32,
    window_errors: u32,
    /// Out for outlier behaviour until then.
    ejected_until_ns: Option<u64>,
    /// Ejections counted against the next ejection's length.
    ejections: u32,
    /// When `ejections` last decayed, or the last ejection ended.
    decay_from_ns: u64,
}

impl Record {
    fn out(&self) -> bool {
        self.probes.is_down() || self.ejected_until_ns.is_some()
    }
}

/// The built-in scorer.
pub struct DefaultHealth {
    settings: Settings,
    records: HashMap<EndpointId, Record>,
}

impl Scorer for DefaultHealth {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "default-health",
            "probe thresholds and Envoy-style passive outlier ejection",
        )
        .key(
            "healthy_threshold",
            "consecutive good probes to return",
            Some("2"),
        )
        .key(
            "unhealthy_threshold",
            "consecutive failed probes to take out",
            Some("3"),
        )
        .key(
            "consecutive_errors",
            "failed requests in a row that eject",
            Some("5"),
        )
        .key(
            "error_rate",
            "error rate over the window that ejects, 0 to 1",
            Some("0.5"),
        )
        .key(
            "error_rate_min_requests",
            "requests in the window before the rate counts",
            Some("20"),
        )
        .key(
            "error_rate_window_ms",
            "length of the error-rate window",
            Some("10000"),
        )
        .key(
            "base_ejection_ms",
            "first ejection's length; later ones multiply it",
            Some("30000"),
        )
        .key("max_ejection_ms", "longest ejection", Some("300000"))
        .key(
            "max_ejection_percent",
            "most of the cluster passive ejection takes out",
            Some("50"),
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        let config = setup.config();
        config.reject_unknown(&[
            "healthy_threshold",
            "unhealthy_threshold",
            "consecutive_errors",
            "error_rate",
            "error_rate_min_requests",
            "error_rate_window_ms",
            "base_ejection_ms",
            "max_ejection_ms",
            "max_ejection_percent",
        ])?;
        let positive = |key: &str, default: u32| -> Result<u32, String> {
            match config.parse_or(key, default)? {
                0 => Err(format!("{key} must be at least 1")),
                n => Ok(n),
            }
        };
        let error_rate: f32 = config.parse_or("error_rate", 0.5)?;
        if !(error_rate > 0.0 && error_rate <= 1.0) {
            return Err(format!("error_rate must be in (0, 1], not {error_rate}"));
        }
        let max_ejection_percent = config.parse_or("max_ejection_percent", 50u32)?;
        if max_ejection_percent > 100 {
            return Err(format!(
                "max_ejection_percent must be at most 100, not {max_ejection_percent}"
            ));
        }
        let base_ejection_ms = positive("base_ejection_ms", 30_000)?;
        let max_ejection_ms = positive("max_ejection_ms", 300_000)?;
        if max_ejection_ms < base_ejection_ms {
            return Err("max_ejection_ms must be at least base_ejection_ms".into());
        }
        Ok(Self {
            settings: Settings {
                probes: ProbeThresholds::from_config(&config)?,
                consecutive_errors: positive("consecutive_errors", 5)?,
                error_rate,
                error_rate_min_requests: positive("error_rate_min_requests", 20)?,
                error_rate_window_ns: u64::from(positive("error_rate_window_ms", 10_000)?) * MS,
                base_ejection_ms,
                max_ejection_ms,
                max_ejection_percent,
            },
            records: HashMap::new(),
        })
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        // Endpoints that stay keep their record; new ones start healthy.
        let mut records = HashMap::with_capacity(members.len());
        for member in members {
            let record = self.records.remove(&member.id).unwrap_or_default();
            records.insert(member.id, record);
        }
        self.records = records;
    }

    fn observe(&mut self, observation: &Observation, _env: &impl Env) -> Option<Verdict> {
        match observation.source {
            Source::Probe => self.probe(observation),
            Source::Request => self.request(observation),
        }
    }

    fn tick(&mut self, now_ns: u64, _env: &impl Env) -> Vec<(EndpointId, Verdict)> {
        let base_ns = u64::from(self.settings.base_ejection_ms) * MS;
        let mut changed = Vec::new();
        for (&id, record) in &mut self.records {
            match record.ejected_until_ns {
                Some(until) if now_ns >= until => {
                    record.ejected_until_ns = None;
                    record.decay_from_ns = now_ns;
                    if !record.probes.is_down() {
                        changed.push((id, Verdict::Healthy));
                    }
                }
                None if record.ejections > 0 && now_ns >= record.decay_from_ns + base_ns => {
                    record.ejections -= 1;
                    record.decay_from_ns = now_ns;
                }
                _ => {}
            }
        }
        changed.sort_by_key(|(id, _)| *id);
        changed
    }
}

impl DefaultHealth {
    /// Whether one more passive ejection stays within `max_ejection_percent`. Counted
    /// only when an endpoint is about to be ejected, not on every observation.
    fn may_eject_one_more(&self) -> bool {
        let ejected = self
            .records
            .values()
            .filter(|r| r.ejected_until_ns.is_some())
            .count();
        (ejected + 1) * 100 <= self.records.len() * self.settings.max_ejection_percent as usize
    }

    fn probe(&mut self, observation: &Observation) -> Option<Verdict> {
        let thresholds = self.settings.probes;
        let record = self.records.get_mut(&observation.endpoint)?;
        match record.probes.record(observation.success, thresholds)? {
            true => Some(Verdict::Ejected(UNTIL_RECOVERED_MS)),
            // Back: probes that saw it down and up again also end a passive ejection
            // (the failures behind it were most likely the same outage).
            false => {
                if record.ejected_until_ns.take().is_some() {
                    record.decay_from_ns = observation.at_ns;
                }
                Some(Verdict::Healthy)
            }
        }
    }

    fn request(&mut self, observation: &Observation) -> Option<Verdict> {
        let settings = self.settings;
        let at = observation.at_ns;
        let record = self.records.get_mut(&observation.endpoint)?;
        if record.out() {
            return None;
        }
        if at >= record.window_start_ns + settings.error_rate_window_ns {
            record.window_start_ns = at;
            record.window_requests = 0;
            record.window_errors = 0;
        }
        record.window_requests += 1;
        if observation.success {
            record.request_errors = 0;
        } else {
            record.request_errors += 1;
            record.window_errors += 1;
        }
        let rate_exceeded = record.window_requests >= settings.error_rate_min_requests
            && record.window_errors as f32 >= settings.error_rate * record.window_requests as f32;
        if !(record.request_errors >= settings.consecutive_errors || rate_exceeded)
            || !self.may_eject_one_more()
        {
            return None;
        }
        let record = self.records.get_mut(&observation.endpoint)?;
        record.ejections += 1;
        let ms = u64::from(settings.base_ejection_ms) * u64::from(record.ejections);
        let ms = ms.min(u64::from(settings.max_ejection_ms)) as u32;
        record.ejected_until_ns = Some(at + u64::from(ms) * MS);
        record.request_errors = 0;
        record.window_start_ns = at;
        record.window_requests = 0;
        record.window_errors = 0;
        Some(Verdict::Ejected(ms))
    }
}

export_scorer!(DefaultHealth);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};

    fn harness(config: &[(&str, &str)], n: usize) -> ScorerHarness<DefaultHealth> {
        ScorerHarness::new(config, endpoints(&vec![1; n])).unwrap()
    }

    #[test]
    fn failed_probes_take_an_endpoint_out_until_probes_succeed_again() {
        let mut h = harness(&[], 3);
        assert_eq!(h.probe(1, false), None);
        assert_eq!(h.probe(1, false), None);
        assert_eq!(h.probe(1, false), Some(Verdict::Ejected(u32::MAX)));
        assert_eq!(h.probe(1, false), None, "said once");
        assert_eq!(h.probe(1, true), None);
        assert_eq!(h.probe(1, true), Some(Verdict::Healthy));
        assert_eq!(h.probe(0, true), None, "a healthy endpoint stays quiet");
    }

    #[test]
    fn consecutive_errors_eject_for_growing_then_decaying_times() {
        let mut h = harness(&[("base_ejection_ms", "1000")], 4);
        let eject = |h: &mut ScorerHarness<DefaultHealth>| {
            (0..4).for_each(|_| assert_eq!(h.request(2, Some(503)), None));
            h.request(2, None)
        };
        assert_eq!(eject(&mut h), Some(Verdict::Ejected(1_000)));
        assert_eq!(h.request(2, Some(503)), None, "no news while out");
        h.advance_ms(999);
        assert!(h.tick().is_empty());
        h.advance_ms(1);
        assert_eq!(h.tick(), vec![(2, Verdict::Healthy)]);
        assert_eq!(
            eject(&mut h),
            Some(Verdict::Ejected(2_000)),
            "the second is longer"
        );
        h.advance_ms(2_000);
        assert_eq!(h.tick(), vec![(2, Verdict::Healthy)]);
        // Two quiet base periods bring the multiplier back to zero.
        h.advance_ms(1_000);
        h.tick();
        h.advance_ms(1_000);
        h.tick();
        assert_eq!(eject(&mut h), Some(Verdict::Ejected(1_000)));
    }

    #[test]
    fn a_success_resets_the_run_of_errors() {
        // 80% errors, but never five in a row; the rate alone would eject at 100% only.
        let mut h = harness(&[("error_rate", "1")], 2);
        for _ in 0..20 {
            for _ in 0..4 {
                assert_eq!(h.request(0, Some(500)), None);
            }
            assert_eq!(h.request(0, Some(200)), None);
            h.advance_ms(1_000);
        }
    }

    #[test]
    fn a_high_error_rate_ejects() {
        let mut h = harness(
            &[("error_rate", "0.5"), ("error_rate_min_requests", "10")],
            4,
        );
        let mut verdict = None;
        for i in 0..10 {
            verdict = h.request(3, Some(if i % 2 == 0 { 502 } else { 200 }));
        }
        assert_eq!(verdict, Some(Verdict::Ejected(30_000)));
    }

    #[test]
    fn passive_ejection_never_takes_out_more_than_the_cap() {
        let mut h = harness(
            &[("max_ejection_percent", "50"), ("consecutive_errors", "1")],
            4,
        );
        assert_eq!(h.request(0, None), Some(Verdict::Ejected(30_000)));
        assert_eq!(h.request(1, None), Some(Verdict::Ejected(30_000)));
        assert_eq!(h.request(2, None), None, "a third would be 75%");
        // Failed probes are not capped.
        for _ in 0..3 {
            h.probe(2, false);
        }
        assert_eq!(h.probe(3, false), None);
    }

    #[test]
    fn membership_changes_keep_the_records_of_endpoints_that_stay() {
        let mut h = harness(&[], 3);
        for _ in 0..3 {
            h.probe(0, false);
        }
        h.set_members(endpoints(&[1, 1]));
        assert_eq!(h.probe(0, true), None);
        assert_eq!(
            h.probe(0, true),
            Some(Verdict::Healthy),
            "still out after the change"
        );
    }

    #[test]
    fn probes_coming_back_also_end_a_passive_ejection() {
        let mut h = harness(&[("healthy_threshold", "1")], 4);
        (0..4).for_each(|_| assert_eq!(h.request(1, None), None));
        assert_eq!(h.request(1, None), Some(Verdict::Ejected(30_000)));
        for _ in 0..2 {
            assert_eq!(h.probe(1, false), None);
        }
        assert_eq!(h.probe(1, false), Some(Verdict::Ejected(u32::MAX)));
        assert_eq!(h.probe(1, true), Some(Verdict::Healthy));
        h.advance_ms(30_000);
        assert!(h.tick().is_empty(), "nothing left to end");
    }

    #[test]
    fn bad_configuration_is_refused() {
        for config in [
            &[("healthy_threshold", "0")][..],
            &[("error_rate", "1.5")],
            &[("max_ejection_percent", "101")],
            &[("base_ejection_ms", "10"), ("max_ejection_ms", "5")],
            &[("unknown", "1")],
        ] {
            assert!(
                ScorerHarness::<DefaultHealth>::new(config, endpoints(&[1])).is_err(),
                "{config:?}"
            );
        }
    }
}
