//! `latency-outlier`: a health scorer that degrades endpoints whose latency runs far
//! above the rest of the cluster's.
//!
//! Each endpoint's request latency is tracked as a time-decayed average. Once a second,
//! an endpoint with at least `min_requests` samples whose average exceeds `factor` ×
//! the cluster median (and `min_latency_us`) is degraded to `degraded_weight` of its
//! weight; it is healthy again once its average falls below 80% of that bar. Probe
//! thresholds take endpoints out and bring them back as `default-health` does.

use std::collections::HashMap;
use switchyard_policy_sdk::{
    Endpoint, EndpointId, Env, Ewma, Observation, PolicyInfo, ProbeStreak, ProbeThresholds, Scorer,
    Setup, Source, Verdict, export_scorer,
};

/// An ejection that only a later verdict ends.
const UNTIL_RECOVERED_MS: u32 = u32::MAX;
/// Share of the bar an outlier's average must fall under to be healthy again.
const RECOVERY: f64 = 0.8;

#[derive(Clone, Copy, Debug)]
struct Settings {
    factor: f64,
    degraded_weight: f32,
    min_requests: u32,
    min_latency_us: f64,
    tau_ns: u64,
    probes: ProbeThresholds,
}

#[derive(Clone, Debug)]
struct Record {
    latency: Ewma,
    samples: u32,
    degraded: bool,
    probes: ProbeStreak,
}

/// The scorer.
pub struct LatencyOutlier {
    settings: Settings,
    records: HashMap<EndpointId, Record>,
}

impl LatencyOutlier {
    fn record(&self) -> Record {
        Record {
            latency: Ewma::new(self.settings.tau_ns),
            samples: 0,
            degraded: false,
            probes: ProbeStreak::default(),
        }
    }
}

impl Scorer for LatencyOutlier {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "latency-outlier",
            "degrades endpoints whose latency average is far above the cluster median",
        )
        .key(
            "factor",
            "how many times the median latency makes an outlier",
            Some("3"),
        )
        .key(
            "degraded_weight",
            "share of its weight an outlier keeps, in (0, 1]",
            Some("0.1"),
        )
        .key(
            "min_requests",
            "samples an endpoint needs before it is judged",
            Some("20"),
        )
        .key(
            "min_latency_us",
            "averages below this are never outliers",
            Some("1000"),
        )
        .key(
            "tau_ms",
            "time constant of the latency average",
            Some("2000"),
        )
        .key(
            "healthy_threshold",
            "consecutive good probes to return (from health_check)",
            Some("2"),
        )
        .key(
            "unhealthy_threshold",
            "consecutive failed probes to take out (from health_check)",
            Some("3"),
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        let config = setup.config();
        let mut known = vec![
            "factor",
            "degraded_weight",
            "min_requests",
            "min_latency_us",
            "tau_ms",
        ];
        known.extend(ProbeThresholds::KEYS);
        config.reject_unknown(&known)?;
        let factor: f64 = config.parse_or("factor", 3.0)?;
        if !(factor > 1.0 && factor.is_finite()) {
            return Err(format!("factor must be above 1, not {factor}"));
        }
        let degraded_weight: f32 = config.parse_or("degraded_weight", 0.1)?;
        if !(degraded_weight > 0.0 && degraded_weight <= 1.0) {
            return Err(format!(
                "degraded_weight must be in (0, 1], not {degraded_weight}"
            ));
        }
        let tau_ms: u64 = config.parse_or("tau_ms", 2_000)?;
        if tau_ms == 0 {
            return Err("tau_ms must be at least 1".into());
        }
        Ok(Self {
            settings: Settings {
                factor,
                degraded_weight,
                min_requests: config.parse_or("min_requests", 20)?,
                min_latency_us: config.parse_or("min_latency_us", 1_000.0)?,
                tau_ns: tau_ms * 1_000_000,
                probes: ProbeThresholds::from_config(&config)?,
            },
            records: HashMap::new(),
        })
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        let mut records = HashMap::with_capacity(members.len());
        for member in members {
            let record = self
                .records
                .remove(&member.id)
                .unwrap_or_else(|| self.record());
            records.insert(member.id, record);
        }
        self.records = records;
    }

    fn observe(&mut self, observation: &Observation, _env: &impl Env) -> Option<Verdict> {
        let thresholds = self.settings.probes;
        let record = self.records.get_mut(&observation.endpoint)?;
        match observation.source {
            Source::Probe => match record.probes.record(observation.success, thresholds)? {
                true => Some(Verdict::Ejected(UNTIL_RECOVERED_MS)),
                false if record.degraded => Some(Verdict::Degraded(self.settings.degraded_weight)),
                false => Some(Verdict::Healthy),
            },
            Source::Request => {
                if observation.success {
                    let sample = f64::from(observation.latency_us);
                    record.latency.observe(sample, observation.at_ns);
                    record.samples = record.samples.saturating_add(1);
                }
                None
            }
        }
    }

    fn tick(&mut self, _now_ns: u64, _env: &impl Env) -> Vec<(EndpointId, Verdict)> {
        let settings = self.settings;
        let mut averages: Vec<f64> = self
            .records
            .values()
            .filter(|r| r.samples >= settings.min_requests && !r.probes.is_down())
            .map(|r| r.latency.value())
            .collect();
        if averages.len() < 2 {
            return Vec::new();
        }
        averages.sort_by(f64::total_cmp);
        let median = averages[(averages.len() - 1) / 2];
        let bar = (median * settings.factor).max(settings.min_latency_us);
        let mut changed = Vec::new();
        for (&id, record) in &mut self.records {
            if record.samples < settings.min_requests || record.probes.is_down() {
                continue;
            }
            let average = record.latency.value();
            let verdict = if !record.degraded && average > bar {
                record.degraded = true;
                Verdict::Degraded(settings.degraded_weight)
            } else if record.degraded && average < bar * RECOVERY {
                record.degraded = false;
                Verdict::Healthy
            } else {
                continue;
            };
            changed.push((id, verdict));
        }
        changed.sort_by_key(|(id, _)| *id);
        changed
    }
}

export_scorer!(LatencyOutlier);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};

    fn load(h: &mut ScorerHarness<LatencyOutlier>, latencies_us: &[u32]) {
        for _ in 0..30 {
            for (id, &us) in latencies_us.iter().enumerate() {
                assert_eq!(h.request_taking(id as u32, us), None);
            }
            h.advance_ms(10);
        }
    }

    #[test]
    fn a_slow_endpoint_is_degraded_and_recovers() {
        let mut h = ScorerHarness::<LatencyOutlier>::new(&[], endpoints(&[1, 1, 1])).unwrap();
        load(&mut h, &[2_000, 2_500, 40_000]);
        assert_eq!(h.tick(), vec![(2, Verdict::Degraded(0.1))]);
        assert!(h.tick().is_empty(), "said once");
        // It speeds up again; the average follows within a few time constants.
        h.advance_ms(10_000);
        load(&mut h, &[2_000, 2_500, 2_200]);
        assert_eq!(h.tick(), vec![(2, Verdict::Healthy)]);
    }

    #[test]
    fn fast_clusters_and_thin_samples_are_left_alone() {
        let mut h = ScorerHarness::<LatencyOutlier>::new(&[], endpoints(&[1, 1, 1])).unwrap();
        load(&mut h, &[50, 60, 900]);
        assert!(h.tick().is_empty(), "under min_latency_us");
        let mut h =
            ScorerHarness::<LatencyOutlier>::new(&[("min_requests", "100")], endpoints(&[1, 1, 1]))
                .unwrap();
        load(&mut h, &[2_000, 2_000, 40_000]);
        assert!(h.tick().is_empty(), "too few samples");
    }

    #[test]
    fn probes_take_out_and_bring_back_keeping_degradation() {
        let config = [("unhealthy_threshold", "2"), ("healthy_threshold", "1")];
        let mut h = ScorerHarness::<LatencyOutlier>::new(&config, endpoints(&[1, 1, 1])).unwrap();
        load(&mut h, &[2_000, 2_500, 40_000]);
        h.tick();
        assert_eq!(h.probe(2, false), None);
        assert_eq!(h.probe(2, false), Some(Verdict::Ejected(u32::MAX)));
        assert_eq!(h.probe(2, true), Some(Verdict::Degraded(0.1)));
    }

    #[test]
    fn bad_configuration_is_refused() {
        for config in [
            &[("factor", "1")][..],
            &[("degraded_weight", "0")],
            &[("tau_ms", "0")],
            &[("unhealthy_threshold", "0")],
            &[("speed", "1")],
        ] {
            assert!(
                ScorerHarness::<LatencyOutlier>::new(config, endpoints(&[1])).is_err(),
                "{config:?}"
            );
        }
    }
}
