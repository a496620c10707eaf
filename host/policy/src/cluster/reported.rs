//! What endpoints report about their own load (ORCA reports, response headers, scraped
//! metrics), stored per endpoint without locks: writers are the requests and scrapes
//! that bring a value, readers are policies, by a slot resolved once at their init.

use super::clock::coarse_now_ns;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The most metrics one cluster collects.
pub const MAX_METRICS: usize = 32;

/// The fields of an ORCA load report a cluster collects when it reads ORCA reports, in
/// their slot order.
pub const ORCA_FIELDS: [&str; 5] = [
    "cpu_utilization",
    "mem_utilization",
    "application_utilization",
    "rps_fractional",
    "eps",
];

/// ORCA named metrics read as `named_metrics.NAME`.
pub const ORCA_NAMED_PREFIX: &str = "named_metrics.";

/// The metrics a cluster collects, by name: a name's position is its slot in every
/// endpoint's [`ReportedMetrics`].
///
/// Names from configuration come first; with ORCA on, `named_metrics.NAME` entries
/// are added when a policy asks for them (they are stored from then on), up to
/// [`MAX_METRICS`] in all.
#[derive(Debug)]
pub struct MetricCatalog {
    orca: bool,
    /// Takes any name: for smoke tests of a policy outside any cluster.
    open: bool,
    names: arc_swap::ArcSwap<Vec<String>>,
    /// Serialises additions.
    adding: Mutex<()>,
}

impl MetricCatalog {
    /// A catalog of the ORCA fields (when `orca`), then `others` (header names, scraped
    /// series), in that order. Fails when there are more than [`MAX_METRICS`] or a name
    /// repeats.
    pub fn new(orca: bool, others: &[String]) -> Result<Arc<Self>, String> {
        let mut names: Vec<String> = Vec::new();
        if orca {
            names.extend(ORCA_FIELDS.iter().map(|f| f.to_string()));
        }
        for name in others {
            if names.contains(name) {
                return Err(format!("metric {name:?} is named twice"));
            }
            names.push(name.clone());
        }
        if names.len() > MAX_METRICS {
            return Err(format!(
                "{} metrics collected; at most {MAX_METRICS} fit",
                names.len()
            ));
        }
        Ok(Arc::new(Self {
            orca,
            open: false,
            names: arc_swap::ArcSwap::from_pointee(names),
            adding: Mutex::new(()),
        }))
    }

    /// A catalog that collects any name a policy asks for: what a smoke test of a
    /// policy outside any cluster resolves its metrics with.
    pub fn open() -> Arc<Self> {
        Arc::new(Self {
            orca: true,
            open: true,
            names: arc_swap::ArcSwap::from_pointee(Vec::new()),
            adding: Mutex::new(()),
        })
    }

    /// Whether ORCA reports are read.
    pub fn orca(&self) -> bool {
        self.orca
    }

    /// The slot of `name`, if it is collected now.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.names.load().iter().position(|n| n == name)
    }

    /// The slot of ORCA named metric `name` (without the `named_metrics.` prefix), if
    /// a policy asked for it; allocates nothing, for the response path.
    pub fn named_slot(&self, name: &str) -> Option<usize> {
        self.names
            .load()
            .iter()
            .position(|n| n.strip_prefix(ORCA_NAMED_PREFIX) == Some(name))
    }

    /// Every name collected now, in slot order.
    pub fn names(&self) -> Vec<String> {
        self.names.load().as_ref().clone()
    }

    /// The slot of each of `names` (as a policy declares them), named metrics added as
    /// [`resolve`](Self::resolve) does; the whole list is checked first (at most
    /// [`MAX_METRICS`], no repeats, every name collectable), so that a list refused
    /// takes no slot.
    pub fn resolve_all(&self, names: &[String]) -> Result<Vec<usize>, String> {
        if names.len() > MAX_METRICS {
            return Err(format!(
                "{} reported metrics declared; at most {MAX_METRICS}",
                names.len()
            ));
        }
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(format!("reported metric {name:?} is declared twice"));
            }
        }
        let new_named = names.iter().filter(|n| self.slot(n).is_none()).count();
        if self.names.load().len() + new_named > MAX_METRICS {
            return Err(format!(
                "cannot collect {new_named} more metrics: a cluster collects at most \
                 {MAX_METRICS}"
            ));
        }
        for name in names {
            self.check(name)?;
        }
        names.iter().map(|name| self.resolve(name)).collect()
    }

    /// Whether `name` is collected or may be added (an ORCA named metric with a valid
    /// name), else an error saying what the cluster collects.
    fn check(&self, name: &str) -> Result<(), String> {
        if self.slot(name).is_some() {
            return Ok(());
        }
        let named = name.strip_prefix(ORCA_NAMED_PREFIX).is_some_and(|rest| {
            !rest.is_empty() && rest.len() <= 128 && !rest.chars().any(char::is_control)
        });
        if self.open || self.orca && named {
            return Ok(());
        }
        let collected = self.names.load();
        let list = if collected.is_empty() {
            "nothing (add a [clusters.load_reports] table)".to_string()
        } else {
            collected.join(", ")
        };
        Err(format!(
            "reported metric {name:?} is not collected by this cluster; it collects {list}"
        ))
    }

    /// The slot of `name`, added when it is an ORCA named metric not collected yet;
    /// otherwise an error saying what the cluster collects.
    pub fn resolve(&self, name: &str) -> Result<usize, String> {
        if let Some(slot) = self.slot(name) {
            return Ok(slot);
        }
        self.check(name)?;
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.names.load_full();
        if let Some(slot) = current.iter().position(|n| n == name) {
            return Ok(slot);
        }
        if current.len() >= MAX_METRICS {
            return Err(format!(
                "cannot collect {name:?}: the cluster already collects {MAX_METRICS} metrics"
            ));
        }
        let mut grown = current.as_ref().clone();
        grown.push(name.to_string());
        self.names.store(Arc::new(grown));
        Ok(current.len())
    }
}

/// A metric's latest value and its age.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    /// The value as reported.
    pub value: f64,
    /// Milliseconds since it was received (saturating).
    pub age_ms: u32,
}

/// One endpoint's latest readings, one slot per metric of its cluster's catalog.
#[derive(Debug)]
pub struct ReportedMetrics {
    slots: Box<[Slot]>,
}

#[derive(Debug, Default)]
struct Slot {
    value: AtomicU64,
    /// When the value was received, on the coarse clock; 0: never.
    at_ns: AtomicU64,
}

impl Default for ReportedMetrics {
    fn default() -> Self {
        Self {
            slots: (0..MAX_METRICS).map(|_| Slot::default()).collect(),
        }
    }
}

impl ReportedMetrics {
    /// Hints the CPU to bring the readings in `slots` into cache.
    pub fn prefetch(&self, slots: &[usize]) {
        let (Some(&low), Some(&high)) = (slots.iter().min(), slots.iter().max()) else {
            return;
        };
        let Some(span) = self.slots.get(low..=high) else {
            return;
        };
        super::prefetch::prefetch(span.as_ptr().cast(), std::mem::size_of_val(span));
    }

    /// Stores `value` in `slot` as received now. Slots past [`MAX_METRICS`] are ignored.
    pub fn record(&self, slot: usize, value: f64) {
        self.record_at(slot, value, coarse_now_ns());
    }

    /// Stores `value` in `slot` as received at `now_ns` (the coarse clock), so that a
    /// report of several metrics reads the clock once. A value that is not finite
    /// (NaN, an infinite sum) is dropped: policies only ever read finite numbers.
    pub fn record_at(&self, slot: usize, value: f64, now_ns: u64) {
        if !value.is_finite() {
            return;
        }
        if let Some(slot) = self.slots.get(slot) {
            slot.value.store(value.to_bits(), Ordering::Relaxed);
            slot.at_ns.store(now_ns.max(1), Ordering::Release);
        }
    }

    /// The latest reading of `slot`, aged as of `now_ns`; `None` when never received.
    pub fn reading(&self, slot: usize, now_ns: u64) -> Option<Reading> {
        let slot = self.slots.get(slot)?;
        let at = slot.at_ns.load(Ordering::Acquire);
        if at == 0 {
            return None;
        }
        let age_ms = now_ns.saturating_sub(at) / 1_000_000;
        Some(Reading {
            value: f64::from_bits(slot.value.load(Ordering::Relaxed)),
            age_ms: u32::try_from(age_ms).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_resolves_configured_and_orca_named_metrics() {
        let catalog = MetricCatalog::new(true, &["x-queue-depth".into()]).unwrap();
        assert_eq!(catalog.resolve("cpu_utilization"), Ok(0));
        assert_eq!(catalog.resolve("x-queue-depth"), Ok(5));
        assert_eq!(catalog.resolve("named_metrics.kv"), Ok(6));
        assert_eq!(catalog.resolve("named_metrics.kv"), Ok(6), "added once");
        let err = catalog.resolve("x-other").unwrap_err();
        assert!(err.contains("x-queue-depth"), "{err}");
        assert!(catalog.resolve("named_metrics.").is_err());

        let plain = MetricCatalog::new(false, &[]).unwrap();
        let err = plain.resolve("cpu_utilization").unwrap_err();
        assert!(err.contains("[clusters.load_reports]"), "{err}");
        assert!(MetricCatalog::new(false, &["a".into(), "a".into()]).is_err());
        let many: Vec<String> = (0..MAX_METRICS).map(|i| format!("m{i}")).collect();
        assert!(MetricCatalog::new(true, &many).is_err());
    }

    #[test]
    fn catalog_stops_growing_at_the_cap() {
        let names: Vec<String> = (0..MAX_METRICS - ORCA_FIELDS.len())
            .map(|i| format!("m{i}"))
            .collect();
        let catalog = MetricCatalog::new(true, &names).unwrap();
        let err = catalog.resolve("named_metrics.one_more").unwrap_err();
        assert!(err.contains("already collects"), "{err}");
    }

    #[test]
    fn a_refused_list_takes_no_slot() {
        let catalog = MetricCatalog::new(true, &[]).unwrap();
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let refused = names(&["named_metrics.a", "named_metrics.b", "bogus"]);
        assert!(
            catalog
                .resolve_all(&refused)
                .unwrap_err()
                .contains("\"bogus\"")
        );
        assert_eq!(catalog.names().len(), ORCA_FIELDS.len(), "nothing added");
        let twice = names(&["eps", "eps"]);
        assert!(catalog.resolve_all(&twice).unwrap_err().contains("twice"));
        let many: Vec<String> = (0..=MAX_METRICS)
            .map(|i| format!("named_metrics.m{i}"))
            .collect();
        assert!(catalog.resolve_all(&many).unwrap_err().contains("at most"));
        let long = names(&[&format!("named_metrics.{}", "x".repeat(129))]);
        assert!(catalog.resolve_all(&long).is_err());
        let ok = names(&["eps", "named_metrics.queue"]);
        assert_eq!(catalog.resolve_all(&ok), Ok(vec![4, 5]));
    }

    #[test]
    fn readings_age_and_start_empty() {
        let metrics = ReportedMetrics::default();
        assert_eq!(metrics.reading(3, 10), None);
        metrics.record_at(3, 0.75, 1_000_000_000);
        let reading = metrics.reading(3, 3_500_000_000).unwrap();
        assert_eq!((reading.value, reading.age_ms), (0.75, 2_500));
        metrics.record_at(MAX_METRICS, 1.0, 1);
        assert_eq!(metrics.reading(MAX_METRICS, 1), None);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            metrics.record_at(3, bad, 2_000_000_000);
        }
        assert_eq!(metrics.reading(3, 3_500_000_000).unwrap().value, 0.75);
    }
}
