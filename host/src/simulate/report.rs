//! What a simulation found: per phase, each endpoint's share, latency and errors, and
//! how shares (and keys) moved since the phase before. Printed as a table or JSON.

use super::run::{Phase, Tally};
use super::scenario::Scenario;
use serde::Serialize;
use std::fmt;
use switchyard_policy::PolicyStats;

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The scenario's description.
    pub description: String,
    /// Requests simulated.
    pub requests: u64,
    /// Simulated seconds.
    pub seconds: f64,
    /// Picks the policy answered.
    pub policy_picks: u64,
    /// Picks the host's fallback answered (policy faults, quarantine).
    pub fallback_picks: u64,
    /// Faults of the policy: traps, deadlines, memory, invalid answers.
    pub faults: u64,
    /// Whether requests carried keys (and `keys_moved` means anything).
    pub keyed: bool,
    /// Median latency over the whole run, ms.
    pub p50_ms: f64,
    /// 99th percentile over the whole run, ms.
    pub p99_ms: f64,
    /// One entry per phase.
    pub phases: Vec<PhaseReport>,
}

/// One phase: from the start or a change until the next change.
#[derive(Debug, Serialize)]
pub struct PhaseReport {
    /// What changed at its start.
    pub label: String,
    /// Simulated second it starts at.
    pub from_s: f64,
    /// Simulated second it ends at.
    pub to_s: f64,
    /// Requests in it.
    pub requests: u64,
    /// Requests answered by the fallback.
    pub fallbacks: u64,
    /// Requests that found no endpoint.
    pub unrouted: u64,
    /// Median latency over all requests, ms.
    pub p50_ms: f64,
    /// 99th percentile over all requests, ms.
    pub p99_ms: f64,
    /// Share of keys seen before that went to a different endpoint than last time.
    pub keys_moved: Option<f64>,
    /// Per endpoint, in scenario order.
    pub endpoints: Vec<EndpointRow>,
}

/// One endpoint in one phase.
#[derive(Debug, Serialize)]
pub struct EndpointRow {
    /// Its name.
    pub name: String,
    /// Requests it got.
    pub requests: u64,
    /// Its share of the phase's requests.
    pub share: f64,
    /// Share now minus share in the phase before (absent in the first).
    pub share_change: Option<f64>,
    /// Median latency, ms (absent without requests).
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
    /// Refused connections, timeouts and 503 answers.
    pub errors: u64,
}

impl Report {
    pub(super) fn new(
        scenario: &Scenario,
        phases: &[Phase],
        end_ns: u64,
        stats: PolicyStats,
        keyed: bool,
    ) -> Self {
        let mut rows: Vec<PhaseReport> = Vec::new();
        let mut run = Tally::default();
        for (i, phase) in phases.iter().enumerate() {
            let to_ns = phases.get(i + 1).map_or(end_ns, |next| next.start_ns);
            let previous = rows.last();
            let total = phase.requests.max(1) as f64;
            let endpoints = phase
                .endpoints
                .iter()
                .zip(&scenario.endpoints)
                .enumerate()
                .map(|(j, (tally, spec))| {
                    let share = tally.requests as f64 / total;
                    let (p50_ms, p99_ms) = percentiles(tally);
                    EndpointRow {
                        name: spec.name.clone(),
                        requests: tally.requests,
                        share,
                        share_change: previous.map(|p| share - p.endpoints[j].share),
                        p50_ms,
                        p99_ms,
                        errors: tally.errors,
                    }
                })
                .collect();
            let mut all = Tally::default();
            for tally in &phase.endpoints {
                all.latencies_us.extend_from_slice(&tally.latencies_us);
            }
            let (p50, p99) = percentiles(&all);
            run.latencies_us.extend_from_slice(&all.latencies_us);
            rows.push(PhaseReport {
                label: phase.label.clone(),
                from_s: phase.start_ns as f64 / 1e9,
                to_s: to_ns as f64 / 1e9,
                requests: phase.requests,
                fallbacks: phase.fallbacks,
                unrouted: phase.unrouted,
                p50_ms: p50.unwrap_or(0.0),
                p99_ms: p99.unwrap_or(0.0),
                keys_moved: (keyed && phase.keys_compared > 0)
                    .then(|| phase.keys_moved as f64 / phase.keys_compared as f64),
                endpoints,
            });
        }
        let (p50, p99) = percentiles(&run);
        Self {
            description: scenario.description.clone(),
            requests: phases.iter().map(|p| p.requests).sum(),
            seconds: end_ns as f64 / 1e9,
            policy_picks: stats.picks,
            fallback_picks: stats.fallbacks,
            faults: stats.faults(),
            keyed,
            p50_ms: p50.unwrap_or(0.0),
            p99_ms: p99.unwrap_or(0.0),
            phases: rows,
        }
    }
}

/// Median and 99th percentile of a tally's latencies, in ms.
fn percentiles(tally: &Tally) -> (Option<f64>, Option<f64>) {
    if tally.latencies_us.is_empty() {
        return (None, None);
    }
    let mut sorted = tally.latencies_us.clone();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize] / 1e3;
    (Some(at(0.5)), Some(at(0.99)))
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.1}ms"))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.description.is_empty() {
            writeln!(f, "{}", self.description)?;
        }
        writeln!(
            f,
            "{} requests over {:.1} simulated s · p50 {:.1}ms p99 {:.1}ms; policy answered {}, \
             fallback {}, faults {}",
            self.requests,
            self.seconds,
            self.p50_ms,
            self.p99_ms,
            self.policy_picks,
            self.fallback_picks,
            self.faults
        )?;
        for (i, phase) in self.phases.iter().enumerate() {
            writeln!(f)?;
            writeln!(
                f,
                "phase {} · {:.1}s–{:.1}s · {} · {} requests · p50 {:.1}ms p99 {:.1}ms",
                i + 1,
                phase.from_s,
                phase.to_s,
                phase.label,
                phase.requests,
                phase.p50_ms,
                phase.p99_ms
            )?;
            let mut notes = Vec::new();
            if let Some(moved) = phase.keys_moved {
                notes.push(format!("keys moved {:.1}%", moved * 100.0));
            }
            if phase.fallbacks > 0 {
                notes.push(format!("fallback picks {}", phase.fallbacks));
            }
            if phase.unrouted > 0 {
                notes.push(format!("no endpoint {}", phase.unrouted));
            }
            if !notes.is_empty() {
                writeln!(f, "  {}", notes.join(" · "))?;
            }
            writeln!(
                f,
                "  {:<14} {:>8} {:>7} {:>8} {:>9} {:>9} {:>7}",
                "endpoint", "requests", "share", "change", "p50", "p99", "errors"
            )?;
            for row in &phase.endpoints {
                let change = row
                    .share_change
                    .map_or_else(String::new, |c| format!("{:+.1}pp", c * 100.0));
                writeln!(
                    f,
                    "  {:<14} {:>8} {:>6.1}% {:>8} {:>9} {:>9} {:>7}",
                    row.name,
                    row.requests,
                    row.share * 100.0,
                    change,
                    ms(row.p50_ms),
                    ms(row.p99_ms),
                    row.errors
                )?;
            }
        }
        Ok(())
    }
}
