//! `orca-wrr`: weighted round-robin with weights from the endpoints' own load
//! reports (ORCA), as gRPC's `weighted_round_robin` balancer.
//!
//! # Weights
//!
//! Each endpoint's weight is computed from its latest ORCA report:
//!
//! ```text
//! weight = qps / (utilization + error_utilization_penalty × eps / qps)
//! ```
//!
//! with `qps` = `rps_fractional`, `eps` = `eps`, and `utilization` =
//! `application_utilization` when it is above 0, else `cpu_utilization`. A report
//! without a positive `qps` and a positive utilization gives no weight and changes
//! nothing (the previous weight stays, and so does its age), as in gRPC.
//!
//! The host keeps each metric's latest value with the time it was received, and
//! stores only the fields a report carries (a protobuf report leaves out fields that
//! are 0). So the *latest report* is the one of the most recently received field, and
//! a field received earlier than that was absent from it: it counts as 0, as gRPC
//! reads a report (an `application_utilization` the latest report left out does not
//! hide its `cpu_utilization`; an `eps` it left out is no error). `mem_utilization` is
//! read for that purpose only: a report that carries nothing else is a report with
//! `qps` 0.
//!
//! An endpoint's weight is used by the schedule only when
//!
//! - its latest non-zero weight came from a report received less than
//!   `weight_expiration_period_ms` ago (3 minutes): older, the weight has expired;
//! - and it has reported non-zero weights for at least `blackout_period_ms` (10 s,
//!   0 for none), counted from the receipt of the first report of the current run;
//!   after an expiry, or while the endpoint is unavailable and so not routable, the
//!   run ends and the blackout starts again with the next report.
//!
//! An endpoint without a usable weight gets the mean of those with one; when none has
//! one, all are equal (round-robin). The configured endpoint weights are not used: the
//! reports are the weights, as in gRPC.
//!
//! # Picks and their cost
//!
//! A [`StrideScheduler`] (gRPC's static stride scheduler) over the routable members
//! chooses; each instance starts at a random place of its sequence so that workers do
//! not pick in lockstep. The next two members after the choice are the fallbacks.
//!
//! Weights are refreshed incrementally, with no timer and no O(n) work in a pick: the
//! policy asks for [`Candidates::Watched`], and an answer watches the next routable
//! members of a rolling cursor. The next pick of the instance receives their readings
//! with the request (no host call), computes their weights and hands the changed ones
//! to the scheduler with [`StrideScheduler::set_weight`]. As gRPC recomputes every
//! weight once per `weight_update_period` (1 s), so does each instance here, but
//! spread over its picks: a pick `t` after the previous one watches `n × t / period`
//! of the `n` routable members (what is owed carries over; at most 8 per pick, the
//! contract's limit; a new membership is owed a whole round at once). So most picks
//! under load watch nothing and cost what a weighted round-robin pick costs, and a
//! weight expires or leaves its blackout at its endpoint's next refresh, within about
//! one period.
//!
//! A pick is O(1): at most 8 candidates of 5 readings, at most 8 weight updates, and a
//! scheduler pick of `max weight / mean weight` tries on average. A weight update is
//! O(1) unless it moves the largest weight (a weight above it, or the only endpoint at
//! it lowered): then the scheduler rescales in O(n). With weights refreshed in turn
//! that happens a few times per update period, a small constant per
//! pick amortised (a weight that did not change is not handed over at all).
//! Unlike gRPC, weights are not capped at 10 × the mean (nor raised to 1/100 of it):
//! shares follow the formula however skewed (see [`StrideScheduler`]).
//! `set_members` is O(n); what was learned of an endpoint that stays is kept.

use std::collections::HashMap;
use switchyard_policy_sdk::{
    Balancer, Candidates, Choices, Endpoint, EndpointId, Env, Members, MetricId, Needs, PolicyInfo,
    Reading, Request, Setup, StrideScheduler, export_balancer,
};

/// Fallbacks offered after the first choice.
const FALLBACKS: usize = 2;

/// The ORCA fields read, in the order declared in [`Needs::metrics`]: a field's
/// [`MetricId`] is its position.
pub const METRICS: [&str; 5] = [
    "cpu_utilization",
    "mem_utilization",
    "application_utilization",
    "rps_fractional",
    "eps",
];
const CPU: usize = 0;
const APP: usize = 2;
const QPS: usize = 3;
const EPS: usize = 4;

const BLACKOUT: &str = "blackout_period_ms";
const EXPIRATION: &str = "weight_expiration_period_ms";
const PENALTY: &str = "error_utilization_penalty";
const UPDATE_PERIOD: &str = "weight_update_period_ms";

/// gRPC's defaults.
const DEFAULT_BLACKOUT_MS: u64 = 10_000;
const DEFAULT_EXPIRATION_MS: u64 = 180_000;
const DEFAULT_PENALTY: f64 = 1.0;
const DEFAULT_UPDATE_PERIOD_MS: u64 = 1_000;

/// An endpoint's weight as gRPC's `weighted_round_robin` computes it from one load
/// report: `qps / (utilization + penalty × eps / qps)`, where `utilization` is
/// `application_utilization` when above 0, else `cpu_utilization`; 0 (no weight)
/// unless `qps` and the utilization are positive. The error term counts only when
/// `eps` and `penalty` are positive.
///
/// ```
/// // 100 rps at 50% CPU, 5 errors per second, penalty 1: 100 / (0.5 + 0.05).
/// let w = orca_wrr::report_weight(100.0, 5.0, 0.5, 0.0, 1.0);
/// assert!((w - 100.0 / 0.55).abs() < 1e-9);
/// // Application utilization, when reported, wins over CPU.
/// assert_eq!(orca_wrr::report_weight(100.0, 0.0, 0.5, 0.25, 1.0), 400.0);
/// assert_eq!(orca_wrr::report_weight(0.0, 0.0, 0.5, 0.0, 1.0), 0.0);
/// ```
pub fn report_weight(qps: f64, eps: f64, cpu: f64, application: f64, penalty: f64) -> f64 {
    let utilization = if application > 0.0 { application } else { cpu };
    if !(qps > 0.0 && utilization > 0.0) {
        return 0.0;
    }
    let error_term = if eps > 0.0 && penalty > 0.0 {
        eps / qps * penalty
    } else {
        0.0
    };
    let weight = qps / (utilization + error_term);
    if weight.is_finite() { weight } else { 0.0 }
}

/// The policy's configuration, in nanoseconds where it is a duration.
#[derive(Clone, Copy, Debug)]
struct Settings {
    blackout_ns: i64,
    expiration_ns: i64,
    penalty: f64,
    update_period_ns: i64,
}

/// Paces weight refreshes: each routable member once per update period, spread over
/// the picks of that period, at most [`Choices::MAX_WATCH`] per pick.
#[derive(Clone, Copy, Debug, Default)]
struct Pacer {
    /// Refreshes owed, at most one round of the membership.
    owed: f64,
    /// The time of the previous pick; `None` before the first.
    last_ns: Option<i64>,
}

impl Pacer {
    /// A new membership of `n`: every weight is refreshed as soon as picks allow.
    fn owe_all(&mut self, n: usize) {
        self.owed = n as f64;
    }

    /// How many members the answer at `now_ns` watches, of `n` routable ones.
    fn due(&mut self, now_ns: i64, n: usize, period_ns: i64) -> usize {
        if let Some(last) = self.last_ns {
            let elapsed = now_ns.saturating_sub(last).max(0) as f64;
            self.owed = (self.owed + elapsed * n as f64 / period_ns as f64).min(n as f64);
        }
        self.last_ns = Some(now_ns);
        let due = (self.owed as usize).min(Choices::MAX_WATCH).min(n);
        self.owed -= due as f64;
        due
    }
}

/// What the policy knows of one routable endpoint's reports.
#[derive(Clone, Copy, Debug, Default)]
struct EndpointWeight {
    /// The latest non-zero weight computed from a report; 0 before the first.
    weight: f64,
    /// When the report behind `weight` was received (pick clock, ns).
    updated_ns: i64,
    /// When the current run of non-zero weights began; `None` outside a run (never
    /// reported, or expired).
    non_empty_since_ns: Option<i64>,
    /// The weight the scheduler has: `weight` when usable, else 0 (unknown: the mean).
    usable: f64,
}

impl EndpointWeight {
    /// Takes a weight computed from a report received at `received_ns`, unless it is
    /// no weight (0) or not newer than the one held.
    fn update(&mut self, weight: f64, received_ns: i64) {
        if weight > 0.0 && (self.weight == 0.0 || received_ns > self.updated_ns) {
            self.weight = weight;
            self.updated_ns = received_ns;
            self.non_empty_since_ns.get_or_insert(received_ns);
        }
    }

    /// The weight to use at `now_ns`: 0 (unknown) when there is none, when it has
    /// expired (which ends the run, so that the blackout applies again) or while the
    /// run is younger than the blackout period.
    fn usable_at(&mut self, now_ns: i64, settings: &Settings) -> f64 {
        if self.weight == 0.0 {
            return 0.0;
        }
        if now_ns - self.updated_ns >= settings.expiration_ns {
            self.non_empty_since_ns = None;
            return 0.0;
        }
        match self.non_empty_since_ns {
            Some(since) if now_ns - since >= settings.blackout_ns => self.weight,
            _ => 0.0,
        }
    }
}

/// The weight an endpoint's latest report gives, with the time it was received; `None`
/// when the endpoint has reported none of [`METRICS`].
fn latest_report(env: &impl Env, id: EndpointId, now_ns: i64, penalty: f64) -> Option<(f64, i64)> {
    let readings: [Option<Reading>; METRICS.len()] =
        std::array::from_fn(|m| env.reported(id, m as MetricId));
    let age_ms = readings.iter().flatten().map(|r| r.age_ms).min()?;
    // Fields received before the latest one were absent from the latest report: 0.
    let value = |m: usize| {
        readings[m]
            .filter(|r| r.age_ms == age_ms && r.value.is_finite())
            .map_or(0.0, |r| r.value)
    };
    let weight = report_weight(value(QPS), value(EPS), value(CPU), value(APP), penalty);
    Some((weight, now_ns - i64::from(age_ms) * 1_000_000))
}

/// Weighted round-robin over the routable members, weighted by their ORCA reports.
pub struct OrcaWrr {
    settings: Settings,
    members: Members,
    /// Per routable member, by position.
    weights: Vec<EndpointWeight>,
    schedule: StrideScheduler,
    /// The routable position the next answer starts watching at.
    cursor: usize,
    pacer: Pacer,
    /// The schedule was rebuilt and has not picked yet: start it at a random place.
    fresh: bool,
}

impl OrcaWrr {
    /// Refreshes the weight of the routable member at `position` from its readings.
    fn refresh(&mut self, position: usize, id: EndpointId, now_ns: i64, env: &impl Env) {
        let state = &mut self.weights[position];
        if let Some((weight, received_ns)) = latest_report(env, id, now_ns, self.settings.penalty) {
            state.update(weight, received_ns);
        }
        let usable = state.usable_at(now_ns, &self.settings);
        if usable != state.usable {
            state.usable = usable;
            self.schedule.set_weight(position, usable);
        }
    }

    /// The weight the schedule uses for endpoint `id` (0: unknown, the mean), if it is
    /// routable.
    pub fn usable_weight(&self, id: EndpointId) -> Option<f64> {
        let position = self.members.iter().position(|e| e.id == id)?;
        Some(self.weights[position].usable)
    }
}

/// Reads a duration in milliseconds, as nanoseconds.
fn duration_ns(
    config: &switchyard_policy_sdk::Config<'_>,
    key: &str,
    default: u64,
) -> Result<i64, String> {
    let ms: u64 = config.parse_or(key, default)?;
    Ok(i64::try_from(ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX))
}

impl Balancer for OrcaWrr {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "orca-wrr",
            "weighted round-robin on ORCA load reports (gRPC weighted_round_robin): \
             weight = qps / (utilization + penalty × eps / qps)",
        )
        .key(
            BLACKOUT,
            "an endpoint's weight is used only once it has reported for this long (0: at once)",
            Some("10000"),
        )
        .key(
            EXPIRATION,
            "a weight from a report older than this has expired: the endpoint gets the mean",
            Some("180000"),
        )
        .key(
            PENALTY,
            "how much errors per second count against an endpoint's weight (0: not at all)",
            Some("1.0"),
        )
        .key(
            UPDATE_PERIOD,
            "every endpoint's weight is recomputed from its latest report this often",
            Some("1000"),
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        let config = setup.config();
        config.reject_unknown(&[BLACKOUT, EXPIRATION, PENALTY, UPDATE_PERIOD])?;
        let blackout_ns = duration_ns(&config, BLACKOUT, DEFAULT_BLACKOUT_MS)?;
        let expiration_ns = duration_ns(&config, EXPIRATION, DEFAULT_EXPIRATION_MS)?;
        if expiration_ns == 0 {
            return Err(format!(
                "policy_config.{EXPIRATION}: must be at least 1 (a weight that expires at once is never used)"
            ));
        }
        let update_period_ns = duration_ns(&config, UPDATE_PERIOD, DEFAULT_UPDATE_PERIOD_MS)?;
        if update_period_ns == 0 {
            return Err(format!(
                "policy_config.{UPDATE_PERIOD}: must be at least 1 (weights are recomputed at most every pick)"
            ));
        }
        let penalty: f64 = config.parse_or(PENALTY, DEFAULT_PENALTY)?;
        if !(penalty >= 0.0 && penalty.is_finite()) {
            return Err(format!(
                "policy_config.{PENALTY}: must be a finite number, 0 or more, not {penalty}"
            ));
        }
        Ok(Self {
            settings: Settings {
                blackout_ns,
                expiration_ns,
                penalty,
                update_period_ns,
            },
            members: Members::default(),
            weights: Vec::new(),
            schedule: StrideScheduler::default(),
            cursor: 0,
            pacer: Pacer::default(),
            fresh: true,
        })
    }

    /// The ORCA fields of the watched endpoints come with every pick.
    fn needs(&self) -> Needs {
        Needs::nothing()
            .metrics(&METRICS)
            .candidates(Candidates::Watched)
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        // Endpoints that stay routable keep what was learned of them.
        let old: HashMap<EndpointId, EndpointWeight> = self
            .members
            .iter()
            .map(|e| e.id)
            .zip(self.weights.drain(..))
            .collect();
        self.members = Members::new(members);
        self.weights = self
            .members
            .iter()
            .map(|e| old.get(&e.id).copied().unwrap_or_default())
            .collect();
        let usable: Vec<f64> = self.weights.iter().map(|w| w.usable).collect();
        self.schedule = StrideScheduler::new(&usable);
        self.cursor %= self.members.len().max(1);
        self.pacer.owe_all(self.members.len());
        self.fresh = true;
    }

    fn pick(&mut self, _request: &Request, env: &impl Env) -> Choices {
        let n = self.members.len();
        if n == 0 {
            return Choices::none();
        }
        if self.fresh {
            self.fresh = false;
            self.schedule = std::mem::take(&mut self.schedule).with_offset(env.random());
        }
        let now_ns = i64::try_from(env.now_ns()).unwrap_or(i64::MAX);
        for candidate in env.delivered() {
            if let Some(position) = self.members.candidate(candidate) {
                self.refresh(position, candidate.id, now_ns, env);
            }
        }
        let first = self.schedule.pick().unwrap_or(0);
        let mut choices = self.members.preference(first, 1 + FALLBACKS);
        let watching = self.pacer.due(now_ns, n, self.settings.update_period_ns);
        for k in 0..watching {
            choices.watch(self.members.id_at((self.cursor + k) % n));
        }
        self.cursor = (self.cursor + watching) % n;
        choices
    }
}

export_balancer!(OrcaWrr);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use switchyard_policy_sdk::Health;
    use switchyard_policy_sdk::testing::{Harness, endpoints};

    const SECOND: u64 = 1_000_000_000;

    /// One ORCA report's fields; absent ones are not sent.
    #[derive(Clone, Copy, Default)]
    struct Report {
        qps: f64,
        eps: Option<f64>,
        cpu: Option<f64>,
        app: Option<f64>,
    }

    fn report(qps: f64, cpu: f64) -> Report {
        Report {
            qps,
            cpu: Some(cpu),
            ..Report::default()
        }
    }

    /// Stores `r` as `id`'s report received `age_ms` ago (every field sent, with the
    /// same age; fields not sent are forgotten).
    fn send(h: &mut Harness<OrcaWrr>, id: EndpointId, r: Report, age_ms: u32) {
        let env = h.env_mut();
        for m in 0..METRICS.len() {
            env.clear_reported(id, m as MetricId);
        }
        env.set_reported(id, QPS as MetricId, r.qps, age_ms);
        for (m, v) in [(EPS, r.eps), (CPU, r.cpu), (APP, r.app)] {
            if let Some(v) = v {
                env.set_reported(id, m as MetricId, v, age_ms);
            }
        }
    }

    /// A harness whose weights are recomputed every millisecond, unless `config` says
    /// otherwise (so that [`refresh`] brings every reading in).
    fn harness(config: &[(&str, &str)], members: Vec<Endpoint>) -> Harness<OrcaWrr> {
        let mut config = config.to_vec();
        if !config.iter().any(|(k, _)| *k == UPDATE_PERIOD) {
            config.push((UPDATE_PERIOD, "1"));
        }
        Harness::<OrcaWrr>::new(&config, members).unwrap()
    }

    /// A millisecond passes, and enough picks carry every endpoint's readings in.
    fn refresh(h: &mut Harness<OrcaWrr>) {
        h.env_mut().advance_ns(1_000_000);
        h.sequence(h.policy().members.len().div_ceil(Choices::MAX_WATCH) + 1);
    }

    /// Every endpoint reports as given, fresh, and the readings are brought in.
    fn all_send(h: &mut Harness<OrcaWrr>, reports: &[Report]) {
        for (id, r) in reports.iter().enumerate() {
            send(h, id as EndpointId, *r, 0);
        }
        refresh(h);
    }

    fn shares(counts: &BTreeMap<EndpointId, usize>, n: usize) -> Vec<f64> {
        let total = counts.values().sum::<usize>() as f64;
        (0..n as EndpointId)
            .map(|id| counts.get(&id).copied().unwrap_or(0) as f64 / total)
            .collect()
    }

    fn assert_shares(actual: &[f64], expected: &[f64]) {
        for (a, e) in actual.iter().zip(expected) {
            assert!(
                (a - e).abs() < 0.01,
                "shares {actual:?}, expected {expected:?}"
            );
        }
    }

    /// A harness whose endpoints have reported `reports` for longer than the blackout.
    fn warmed(config: &[(&str, &str)], reports: &[Report]) -> Harness<OrcaWrr> {
        let mut h = harness(config, endpoints(&vec![1; reports.len()]));
        all_send(&mut h, reports);
        h.env_mut().advance_ns(11 * SECOND);
        all_send(&mut h, reports);
        h
    }

    #[test]
    fn shares_follow_the_formula_computed_explicitly() {
        // qps, eps, cpu per endpoint; penalty 1.0.
        let raw = [(120.0, 0.0, 0.3), (80.0, 4.0, 0.5), (100.0, 10.0, 0.9)];
        let reports: Vec<Report> = raw
            .iter()
            .map(|&(qps, eps, cpu)| Report {
                qps,
                eps: Some(eps),
                cpu: Some(cpu),
                app: None,
            })
            .collect();
        // weight = qps / (utilization + eps / qps): 400, 145.45…, 100.
        let weights: Vec<f64> = raw
            .iter()
            .map(|&(qps, eps, cpu)| qps / (cpu + 1.0 * eps / qps))
            .collect();
        let total: f64 = weights.iter().sum();
        let expected: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let mut h = warmed(&[], &reports);
        assert_shares(&shares(&h.distribution(20_000), 3), &expected);
    }

    #[test]
    fn shares_follow_utilization() {
        // Same qps: shares are inverse to utilization, 1/0.2 : 1/0.4 : 1/0.8 = 4 : 2 : 1.
        let reports = [report(100.0, 0.2), report(100.0, 0.4), report(100.0, 0.8)];
        let mut h = warmed(&[], &reports);
        let counts = h.distribution(7_000);
        assert_eq!(
            counts.values().copied().collect::<Vec<_>>(),
            [4_000, 2_000, 1_000]
        );
    }

    #[test]
    fn blackout_is_honoured() {
        let reports = [report(100.0, 0.2), report(100.0, 0.4), report(100.0, 0.8)];
        let mut h = harness(&[], endpoints(&[1, 1, 1]));
        all_send(&mut h, &reports);
        // Reporting for 9.9 s: weights not used yet, round-robin.
        h.env_mut().advance_ns(9_900_000_000);
        all_send(&mut h, &reports);
        assert_eq!(
            h.distribution(3_000).values().copied().collect::<Vec<_>>(),
            [1_000; 3]
        );
        assert_eq!(h.policy().usable_weight(0), Some(0.0));
        h.env_mut().advance_ns(100_000_000);
        all_send(&mut h, &reports);
        assert_eq!(h.policy().usable_weight(0), Some(500.0));
        assert_shares(
            &shares(&h.distribution(7_000), 3),
            &[4.0 / 7.0, 2.0 / 7.0, 1.0 / 7.0],
        );

        // No blackout: weights are used at once.
        let mut h = harness(&[(BLACKOUT, "0")], endpoints(&[1, 1, 1]));
        all_send(&mut h, &reports);
        assert_shares(
            &shares(&h.distribution(7_000), 3),
            &[4.0 / 7.0, 2.0 / 7.0, 1.0 / 7.0],
        );
    }

    #[test]
    fn blackout_counts_from_the_first_report_received() {
        // The first report seen was received 8 s ago: 2 s of blackout are left.
        let mut h = harness(&[], endpoints(&[1, 1]));
        h.env_mut().advance_ns(100 * SECOND);
        send(&mut h, 0, report(100.0, 0.5), 8_000);
        send(&mut h, 1, report(100.0, 0.5), 8_000);
        refresh(&mut h);
        assert_eq!(h.policy().usable_weight(0), Some(0.0));
        h.env_mut().advance_ns(2 * SECOND);
        send(&mut h, 0, report(100.0, 0.5), 0);
        refresh(&mut h);
        assert_eq!(h.policy().usable_weight(0), Some(200.0));
    }

    #[test]
    fn expired_weights_return_to_the_mean_and_blackout_restarts() {
        let reports = [report(100.0, 0.2), report(100.0, 0.4), report(100.0, 0.8)];
        let mut h = warmed(&[], &reports);
        assert_eq!(h.policy().usable_weight(0), Some(500.0));
        // Endpoint 0 stops reporting; 3 minutes later its weight has expired.
        h.env_mut().advance_ns(179 * SECOND);
        send(&mut h, 0, reports[0], 179_000);
        send(&mut h, 1, reports[1], 0);
        send(&mut h, 2, reports[2], 0);
        refresh(&mut h);
        assert_eq!(h.policy().usable_weight(0), Some(500.0), "not yet expired");
        h.env_mut().advance_ns(SECOND);
        send(&mut h, 0, reports[0], 180_000);
        send(&mut h, 1, reports[1], 0);
        send(&mut h, 2, reports[2], 0);
        refresh(&mut h);
        assert_eq!(h.policy().usable_weight(0), Some(0.0), "expired");
        // It gets the mean of the others' weights, (250 + 125) / 2 = 187.5.
        let mean = 187.5;
        let total = mean + 250.0 + 125.0;
        assert_shares(
            &shares(&h.distribution(10_000), 3),
            &[mean / total, 250.0 / total, 125.0 / total],
        );
        // Reports resume: the blackout applies again.
        all_send(&mut h, &reports);
        assert_eq!(h.policy().usable_weight(0), Some(0.0), "blackout again");
        h.env_mut().advance_ns(9 * SECOND);
        all_send(&mut h, &reports);
        assert_eq!(h.policy().usable_weight(0), Some(0.0), "blackout again");
        h.env_mut().advance_ns(SECOND);
        all_send(&mut h, &reports);
        assert_eq!(h.policy().usable_weight(0), Some(500.0));
    }

    #[test]
    fn no_reports_at_all_is_round_robin_and_unknown_endpoints_get_the_mean() {
        let mut h = harness(&[(BLACKOUT, "0")], endpoints(&[1, 1, 1]));
        assert_eq!(
            h.distribution(3_000).values().copied().collect::<Vec<_>>(),
            [1_000; 3]
        );
        // Only endpoints 0 and 1 report (weights 300 and 100): 2 gets their mean, 200.
        send(&mut h, 0, report(150.0, 0.5), 0);
        send(&mut h, 1, report(50.0, 0.5), 0);
        refresh(&mut h);
        assert_eq!(
            h.distribution(6_000).values().copied().collect::<Vec<_>>(),
            [3_000, 1_000, 2_000]
        );
    }

    #[test]
    fn errors_count_against_the_weight() {
        // Equal qps and CPU; endpoint 1 fails 50 of its 100 rps: 100 / (0.5 + 0.5).
        let reports = [
            report(100.0, 0.5),
            Report {
                eps: Some(50.0),
                ..report(100.0, 0.5)
            },
        ];
        let mut h = warmed(&[], &reports);
        assert_eq!(h.policy().usable_weight(1), Some(100.0));
        assert_shares(&shares(&h.distribution(3_000), 2), &[2.0 / 3.0, 1.0 / 3.0]);
        // Penalty 2: 100 / (0.5 + 1.0).
        let mut h = warmed(&[(PENALTY, "2")], &reports);
        assert_shares(&shares(&h.distribution(4_000), 2), &[0.75, 0.25]);
        // Penalty 0: errors do not count.
        let mut h = warmed(&[(PENALTY, "0")], &reports);
        assert_shares(&shares(&h.distribution(4_000), 2), &[0.5, 0.5]);
    }

    #[test]
    fn application_utilization_wins_over_cpu() {
        let reports = [
            // Application utilization 0.25 counts, not the CPU's 0.5: weight 400.
            Report {
                app: Some(0.25),
                ..report(100.0, 0.5)
            },
            // Application utilization 0: the CPU's 0.5 counts, weight 200.
            Report {
                app: Some(0.0),
                ..report(100.0, 0.5)
            },
        ];
        let mut h = warmed(&[], &reports);
        assert_eq!(h.policy().usable_weight(0), Some(400.0));
        assert_eq!(h.policy().usable_weight(1), Some(200.0));
        assert_shares(&shares(&h.distribution(3_000), 2), &[2.0 / 3.0, 1.0 / 3.0]);

        // A later report leaves out application utilization (it is 0 there): the
        // earlier value no longer counts, the CPU of the later report does.
        h.env_mut().advance_ns(SECOND);
        send(&mut h, 0, report(100.0, 0.8), 0);
        h.env_mut()
            .set_reported(0, APP as MetricId, 0.25, 1_000)
            .set_reported(0, EPS as MetricId, 99.0, 1_000);
        refresh(&mut h);
        assert_eq!(h.policy().usable_weight(0), Some(125.0));
    }

    #[test]
    fn a_report_without_qps_keeps_the_previous_weight() {
        let mut h = warmed(&[], &[report(100.0, 0.5), report(100.0, 0.5)]);
        h.env_mut().advance_ns(SECOND);
        // qps 0: no weight, nothing changes.
        send(&mut h, 0, report(0.0, 0.9), 0);
        refresh(&mut h);
        assert_eq!(h.policy().usable_weight(0), Some(200.0));
        // A report of memory only: its qps is 0 too.
        send(&mut h, 0, report(100.0, 0.1), 500);
        h.env_mut().set_reported(0, 1, 0.7, 0);
        refresh(&mut h);
        assert_eq!(h.policy().usable_weight(0), Some(200.0));
    }

    #[test]
    fn every_weight_is_refreshed_once_per_update_period_spread_over_the_picks() {
        let n = 40;
        let mut h = harness(
            &[(BLACKOUT, "0"), (UPDATE_PERIOD, "1000")],
            endpoints(&vec![1; n]),
        );
        for id in 0..n as EndpointId {
            send(&mut h, id, report(100.0 + f64::from(id), 0.5), 0);
        }
        // A new membership is owed a whole round: 8 per pick, read by the next pick.
        h.sequence(n / Choices::MAX_WATCH);
        assert!((0..n as EndpointId).any(|id| h.policy().usable_weight(id) == Some(0.0)));
        h.sequence(1);
        for id in 0..n as EndpointId {
            let expected = (100.0 + f64::from(id)) / 0.5;
            assert_eq!(
                h.policy().usable_weight(id),
                Some(expected),
                "endpoint {id}"
            );
        }
        // Then picks at one instant refresh nothing; a tenth of the period later one
        // pick watches a tenth of the members (the next four of the cursor: 0 to 3).
        send(&mut h, 0, report(50.0, 0.5), 0);
        send(&mut h, 4, report(50.0, 0.5), 0);
        h.sequence(5);
        assert_eq!(
            h.policy().usable_weight(0),
            Some(200.0),
            "not refreshed yet"
        );
        h.env_mut().advance_ns(SECOND / 10);
        h.sequence(2);
        assert_eq!(h.policy().usable_weight(0), Some(100.0));
        assert_eq!(h.policy().usable_weight(4), Some(208.0), "not owed yet");
    }

    #[test]
    fn membership_changes_keep_weights_and_unavailable_endpoints_restart() {
        let reports = [report(100.0, 0.2), report(100.0, 0.4), report(100.0, 0.8)];
        let mut h = warmed(&[], &reports);
        let mut members = endpoints(&[1, 1, 1, 1]);
        members[2].health = Health::Unavailable;
        h.set_members(members.clone());
        assert_eq!(h.policy().usable_weight(0), Some(500.0));
        assert_eq!(h.policy().usable_weight(2), None);
        let counts = h.distribution(1_000);
        assert_eq!(counts.get(&2), None);
        // Endpoint 2 back: its run starts again, with a blackout.
        members[2].health = Health::Healthy;
        h.set_members(members);
        all_send(&mut h, &reports);
        assert_eq!(h.policy().usable_weight(1), Some(250.0));
        assert_eq!(h.policy().usable_weight(2), Some(0.0));
        h.set_members(Vec::new());
        assert!(h.pick(&Request::empty()).is_empty());
    }

    #[test]
    fn answers_offer_fallbacks_and_watch_the_rolling_window() {
        let mut h = Harness::<OrcaWrr>::new(&[], endpoints(&[1; 10])).unwrap();
        let answer = h.pick(&Request::empty());
        assert_eq!(answer.len(), 3);
        assert_eq!(answer[1], (answer[0] + 1) % 10);
        let env = switchyard_policy_sdk::testing::FakeEnv::default();
        let mut policy = OrcaWrr::new(&Setup {
            cluster: "test".into(),
            local_zone: String::new(),
            config: Vec::new(),
        })
        .unwrap();
        policy.set_members(endpoints(&[1; 10]));
        // Ten members owed at first: 8 watched, then 2, then none at the same instant.
        let first = policy.pick(&Request::empty(), &env);
        assert_eq!(first.watched(), &[0, 1, 2, 3, 4, 5, 6, 7]);
        let second = policy.pick(&Request::empty(), &env);
        assert_eq!(second.watched(), &[8, 9]);
        assert!(policy.pick(&Request::empty(), &env).watched().is_empty());
    }

    #[test]
    fn config_is_checked() {
        let info = OrcaWrr::describe();
        let keys: Vec<&str> = info.config_keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(keys, [BLACKOUT, EXPIRATION, PENALTY, UPDATE_PERIOD]);
        for (config, needle) in [
            (&[(PENALTY, "-1")][..], "error_utilization_penalty: must be"),
            (&[(PENALTY, "NaN")], "error_utilization_penalty: must be"),
            (&[(PENALTY, "inf")], "error_utilization_penalty: must be"),
            (&[(PENALTY, "x")], "error_utilization_penalty: expected"),
            (&[(BLACKOUT, "-1")], "blackout_period_ms: expected"),
            (&[(BLACKOUT, "10s")], "blackout_period_ms: expected"),
            (
                &[(EXPIRATION, "0")],
                "weight_expiration_period_ms: must be at least 1",
            ),
            (
                &[(UPDATE_PERIOD, "0")],
                "weight_update_period_ms: must be at least 1",
            ),
            (&[("blackoutPeriod", "1")], "unknown key"),
        ] {
            let err = Harness::<OrcaWrr>::new(config, endpoints(&[1]))
                .err()
                .unwrap_or_else(|| panic!("{config:?} accepted"));
            assert!(err.contains(needle), "{config:?}: {err}");
        }
        let ok = [(BLACKOUT, "0"), (EXPIRATION, "1000"), (PENALTY, "0.5")];
        assert!(Harness::<OrcaWrr>::new(&ok, endpoints(&[1])).is_ok());
        let needs = Harness::<OrcaWrr>::new(&[], endpoints(&[1]))
            .unwrap()
            .policy()
            .needs();
        assert_eq!(needs.metrics, METRICS);
        assert_eq!(needs.candidates, Candidates::Watched);
    }
}
