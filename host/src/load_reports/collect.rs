//! Collection of the load reports that come with responses: ORCA reports and the
//! configured report headers, in a response's head or trailers, stored in the
//! reporting endpoint's figures for the cluster's policy.

use crate::load_reports::orca::{self, Field};
use http::{HeaderMap, HeaderName};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use switchyard_policy::cluster::clock::coarse_now_ns;
use switchyard_policy::cluster::{EndpointLoad, MetricCatalog, ReportedMetrics};

/// The ORCA headers as header names, made once: a lookup by name then neither parses
/// nor validates it.
static ORCA_BIN: HeaderName = HeaderName::from_static(orca::BIN_HEADER);
static ORCA_TEXT: HeaderName = HeaderName::from_static(orca::TEXT_HEADER);

/// What a cluster collects from its responses, and counts of what it saw.
#[derive(Debug)]
pub struct Collector {
    catalog: Arc<MetricCatalog>,
    /// Report headers and their slots.
    headers: Vec<(HeaderName, usize)>,
    /// The first bytes (lower case) of every header name collected: a line of a raw
    /// head starting otherwise is passed over at once.
    first_bytes: [bool; 256],
    counts: Counts,
}

/// Reports seen on responses.
#[derive(Debug, Default)]
struct Counts {
    accepted: AtomicU64,
    malformed: AtomicU64,
    scraped: AtomicU64,
    scrape_failures: AtomicU64,
}

/// Totals of the reports a cluster received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportCounts {
    /// Reports stored (an ORCA report, or one report header's value).
    pub accepted: u64,
    /// Reports ignored because they could not be read; requests are never failed
    /// for them.
    pub malformed: u64,
    /// Scrapes of an endpoint's metrics that were read.
    pub scraped: u64,
    /// Scrapes that failed (no connection, no answer in time, not status 200, not
    /// text).
    pub scrape_failures: u64,
}

impl Collector {
    /// Collects ORCA reports (when `catalog` reads them) and the values of the report
    /// headers `headers` (lower-case names, each in `catalog`).
    pub fn new(catalog: Arc<MetricCatalog>, headers: &[String]) -> Self {
        let headers = headers
            .iter()
            .filter_map(|name| {
                let slot = catalog.slot(name)?;
                Some((HeaderName::from_bytes(name.as_bytes()).ok()?, slot))
            })
            .collect::<Vec<(HeaderName, usize)>>();
        let mut first_bytes = [false; 256];
        let orca = [orca::BIN_HEADER, orca::TEXT_HEADER];
        let names = orca
            .iter()
            .filter(|_| catalog.orca())
            .copied()
            .chain(headers.iter().map(|(name, _)| name.as_str()));
        for name in names {
            if let Some(&first) = name.as_bytes().first() {
                first_bytes[usize::from(first.to_ascii_lowercase())] = true;
            }
        }
        Self {
            catalog,
            headers,
            first_bytes,
            counts: Counts::default(),
        }
    }

    /// The metrics this cluster collects.
    pub fn catalog(&self) -> &Arc<MetricCatalog> {
        &self.catalog
    }

    /// Stores what `fields` (a response's headers or trailers) report into `load`.
    /// A report that cannot be read is counted and ignored as a whole.
    pub fn record(&self, fields: &HeaderMap, load: &EndpointLoad) {
        let Some(store) = load.reported() else {
            return;
        };
        let now = coarse_now_ns();
        if self.catalog.orca() {
            for name in [&ORCA_BIN, &ORCA_TEXT] {
                if let Some(value) = fields.get(name) {
                    self.field(name.as_str().as_bytes(), value.as_bytes(), store, now);
                }
            }
        }
        for (name, _) in &self.headers {
            if let Some(value) = fields.get(name) {
                self.field(name.as_str().as_bytes(), value.as_bytes(), store, now);
            }
        }
    }

    /// As [`record`](Self::record), from a response head as it came on the wire (the
    /// status line, then `name: value` lines): for the HTTP/1.1 fast path, which does
    /// not build a header map.
    pub fn record_head(&self, head: &[u8], load: &EndpointLoad) {
        let Some(store) = load.reported() else {
            return;
        };
        let now = coarse_now_ns();
        // Line ends are found with SIMD; a line is looked at only when its first byte
        // can start a collected name.
        let mut starts = memchr::memchr_iter(b'\n', head).map(|end| end + 1);
        let mut next = starts.next();
        while let Some(start) = next {
            next = starts.next();
            let line = &head[start..next.map_or(head.len(), |end| end - 1)];
            let wanted = |&first: &u8| self.first_bytes[usize::from(first.to_ascii_lowercase())];
            if !line.first().is_some_and(wanted) {
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            self.field(name, value, store, now);
        }
    }

    /// Stores the field `name: value` if it is a report this cluster collects (`name`
    /// in any case).
    fn field(&self, name: &[u8], value: &[u8], store: &ReportedMetrics, now: u64) {
        if self.catalog.orca() {
            if name.eq_ignore_ascii_case(orca::BIN_HEADER.as_bytes()) {
                let parsed = orca::parse_bin(value, |f, v| self.store_orca(store, f, v, now));
                return self.count(parsed);
            }
            if name.eq_ignore_ascii_case(orca::TEXT_HEADER.as_bytes()) {
                let parsed = orca::parse_text(value, |f, v| self.store_orca(store, f, v, now));
                return self.count(parsed);
            }
        }
        let wanted = self
            .headers
            .iter()
            .find(|(header, _)| name.eq_ignore_ascii_case(header.as_str().as_bytes()));
        if let Some((_, slot)) = wanted {
            let number = header_number(value);
            if let Some(number) = number {
                store.record_at(*slot, number, now);
            }
            self.count(number.ok_or(()));
        }
    }

    /// Counts of the reports received so far.
    pub fn counts(&self) -> ReportCounts {
        ReportCounts {
            accepted: self.counts.accepted.load(Relaxed),
            malformed: self.counts.malformed.load(Relaxed),
            scraped: self.counts.scraped.load(Relaxed),
            scrape_failures: self.counts.scrape_failures.load(Relaxed),
        }
    }

    /// Counts one scrape of an endpoint, read (`ok`) or failed.
    pub fn count_scrape(&self, ok: bool) {
        let counter = match ok {
            true => &self.counts.scraped,
            false => &self.counts.scrape_failures,
        };
        counter.fetch_add(1, Relaxed);
    }

    fn count<T, E>(&self, parsed: Result<T, E>) {
        let counter = match parsed {
            Ok(_) => &self.counts.accepted,
            Err(_) => &self.counts.malformed,
        };
        counter.fetch_add(1, Relaxed);
    }

    fn store_orca(&self, store: &ReportedMetrics, field: Field<'_>, value: f64, now: u64) {
        let slot = match field {
            Field::CpuUtilization => Some(0),
            Field::MemUtilization => Some(1),
            Field::ApplicationUtilization => Some(2),
            Field::RpsFractional => Some(3),
            Field::Eps => Some(4),
            Field::Named(name) => self.catalog.named_slot(name),
        };
        if let Some(slot) = slot {
            store.record_at(slot, value, now);
        }
    }
}

/// A report header's value as a number: finite, digits as Rust reads a float, with
/// surrounding blanks allowed.
fn header_number(value: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.len() > 64 {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use switchyard_policy::cluster::{LoadDecay, LoadSetup};

    fn endpoint(catalog: &Arc<MetricCatalog>) -> EndpointLoad {
        let load = EndpointLoad::default();
        LoadSetup {
            decay: LoadDecay::new(std::time::Duration::from_secs(10)),
            breaker: None,
            reported: Some(Arc::clone(catalog)),
        }
        .apply(&load);
        load
    }

    fn value(load: &EndpointLoad, catalog: &MetricCatalog, name: &str) -> Option<f64> {
        let slot = catalog.slot(name)?;
        Some(load.reported()?.reading(slot, coarse_now_ns())?.value)
    }

    #[test]
    fn orca_text_and_report_headers_are_stored_and_bad_ones_counted() {
        let catalog = MetricCatalog::new(true, &["x-queue-depth".into()]).unwrap();
        catalog.resolve("named_metrics.kv").unwrap();
        let collector = Collector::new(Arc::clone(&catalog), &["x-queue-depth".into()]);
        let load = endpoint(&catalog);
        let mut fields = HeaderMap::new();
        fields.insert(
            orca::TEXT_HEADER,
            HeaderValue::from_static("TEXT cpu_utilization=0.5, named_metrics.kv=0.25, eps=2"),
        );
        fields.insert("x-queue-depth", HeaderValue::from_static(" 7 "));
        collector.record(&fields, &load);
        assert_eq!(value(&load, &catalog, "cpu_utilization"), Some(0.5));
        assert_eq!(value(&load, &catalog, "eps"), Some(2.0));
        assert_eq!(value(&load, &catalog, "named_metrics.kv"), Some(0.25));
        assert_eq!(value(&load, &catalog, "x-queue-depth"), Some(7.0));
        let counts = |accepted, malformed| ReportCounts {
            accepted,
            malformed,
            ..ReportCounts::default()
        };
        assert_eq!(collector.counts(), counts(2, 0));

        let mut bad = HeaderMap::new();
        bad.insert(
            orca::TEXT_HEADER,
            HeaderValue::from_static("TEXT cpu_utilization=0.9, eps=oops"),
        );
        bad.insert("x-queue-depth", HeaderValue::from_static("NaN"));
        collector.record(&bad, &load);
        assert_eq!(
            value(&load, &catalog, "cpu_utilization"),
            Some(0.5),
            "a malformed report is ignored as a whole"
        );
        assert_eq!(value(&load, &catalog, "x-queue-depth"), Some(7.0));
        assert_eq!(collector.counts(), counts(2, 2));
    }

    #[test]
    fn a_raw_response_head_is_read_as_a_header_map_is() {
        let catalog = MetricCatalog::new(true, &["x-queue-depth".into()]).unwrap();
        let collector = Collector::new(Arc::clone(&catalog), &["x-queue-depth".into()]);
        let load = endpoint(&catalog);
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\
            Endpoint-Load-Metrics: TEXT cpu_utilization=0.25, rps_fractional=40\r\n\
            X-Queue-Depth:3\r\nx-other: 9\r\n\r\n";
        collector.record_head(head, &load);
        assert_eq!(value(&load, &catalog, "cpu_utilization"), Some(0.25));
        assert_eq!(value(&load, &catalog, "rps_fractional"), Some(40.0));
        assert_eq!(value(&load, &catalog, "x-queue-depth"), Some(3.0));
        assert_eq!(collector.counts().accepted, 2);
        collector.record_head(b"HTTP/1.1 200 OK\r\nx-queue-depth: lots\r\n\r\n", &load);
        assert_eq!(collector.counts().malformed, 1);
    }

    #[test]
    fn an_endpoint_of_a_cluster_without_reports_stores_nothing() {
        let catalog = MetricCatalog::new(true, &[]).unwrap();
        let collector = Collector::new(catalog, &[]);
        let mut fields = HeaderMap::new();
        fields.insert(orca::TEXT_HEADER, HeaderValue::from_static("TEXT eps=1"));
        collector.record(&fields, &EndpointLoad::default());
        assert_eq!(collector.counts(), ReportCounts::default());
    }
}
