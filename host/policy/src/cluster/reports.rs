//! Outcomes of proxied requests, on their way from the workers to the health task.

use super::EndpointId;
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Outcomes held for the health task; beyond this, new ones are dropped and counted.
const CAPACITY: usize = 1 << 14;

/// How a request to an endpoint ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status; from 500 up, a failure.
    Status(u16),
    /// A response with this status whose body the endpoint broke off: a failure.
    Broken(u16),
    /// No response within the request timeout.
    TimedOut,
    /// The exchange failed before a response (reset, malformed head).
    Failed,
    /// No connection could be made (`timed_out`: the connect timeout ran out).
    NoConnection {
        /// The connect timed out, rather than being refused.
        timed_out: bool,
    },
}

impl Outcome {
    /// Whether it counts against the endpoint.
    pub fn failed(self) -> bool {
        !matches!(self, Outcome::Status(status) if status < 500)
    }
}

/// One request's outcome at one endpoint.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// When it ended.
    pub at: Instant,
    /// Time to the response head, or to the failure.
    pub latency: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

/// A bounded lock-free queue of reports of one cluster: workers push, the health task
/// pops.
#[derive(Debug)]
pub struct Reports {
    queue: ArrayQueue<Report>,
    dropped: AtomicU64,
}

impl Default for Reports {
    fn default() -> Self {
        Self {
            queue: ArrayQueue::new(CAPACITY),
            dropped: AtomicU64::new(0),
        }
    }
}

impl Reports {
    /// Adds `report`, or counts it dropped when the queue is full.
    pub fn push(&self, report: Report) {
        if self.queue.push(report).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    /// The oldest report, if any.
    pub fn pop(&self) -> Option<Report> {
        self.queue.pop()
    }

    /// Reports dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}
