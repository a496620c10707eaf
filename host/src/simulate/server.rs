//! A simulated endpoint as a server: `capacity` slots serve one request each; more
//! requests wait in a queue, first come first served, for a free slot. From the
//! requests it took, it reports its own load, as a server would in an ORCA report or on
//! its metrics page.

use super::scenario::Series;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The queue and slots of one endpoint, and the requests it took recently.
pub(super) struct Server {
    capacity: Option<u32>,
    kv_cache: f64,
    /// What rates and utilization are averaged over; none when it reports nothing (and
    /// need not remember requests).
    window_ns: Option<u64>,
    /// When each slot is free next (all of them, with a capacity).
    free_at: BinaryHeap<Reverse<u64>>,
    /// Requests taken, in arrival order, until they leave the window of every figure.
    recent: VecDeque<Job>,
}

/// One request an endpoint took.
#[derive(Clone, Copy, Debug)]
struct Job {
    arrival: u64,
    /// When a slot took it; `end` when it never did.
    start: u64,
    /// When it was answered, or dropped from the queue unserved.
    end: u64,
    served: bool,
    /// Answered with a 503.
    failed: bool,
}

/// What an endpoint knows of its own load at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct OwnLoad {
    /// Share of its capacity busy over the window, 0 to 1.
    pub(super) utilization: f64,
    /// Responses per second over the window.
    pub(super) rps: f64,
    /// 503 answers per second over the window.
    pub(super) eps: f64,
    /// Requests waiting for a slot.
    pub(super) waiting: u32,
    /// Requests being served.
    pub(super) running: u32,
    /// Requests held (served or waiting) / its KV cache, at most 1.
    pub(super) kv_cache: f64,
}

impl OwnLoad {
    /// The value of `series`.
    pub(super) fn get(&self, series: Series) -> f64 {
        match series {
            Series::Utilization => self.utilization,
            Series::Rps => self.rps,
            Series::Eps => self.eps,
            Series::Waiting => f64::from(self.waiting),
            Series::Running => f64::from(self.running),
            Series::KvCache => self.kv_cache,
        }
    }
}

impl Server {
    /// A server with `capacity` slots (unlimited when none) whose KV cache holds
    /// `kv_cache` requests (`capacity` when none), reporting figures over `window_ns`
    /// (none: it reports nothing).
    pub(super) fn new(
        capacity: Option<u32>,
        kv_cache: Option<u32>,
        window_ns: Option<u64>,
    ) -> Self {
        let slots = capacity.unwrap_or(0) as usize;
        Self {
            capacity,
            kv_cache: f64::from(kv_cache.or(capacity).unwrap_or(1)),
            window_ns,
            free_at: (0..slots).map(|_| Reverse(0)).collect(),
            recent: VecDeque::new(),
        }
    }

    /// When a request arriving at `now_ns` would be taken by a slot.
    pub(super) fn starts_at(&self, now_ns: u64) -> u64 {
        self.free_at
            .peek()
            .map_or(now_ns, |&Reverse(free)| free.max(now_ns))
    }

    /// Takes a request arriving at `arrival` that a slot serves from `start` (as
    /// [`starts_at`](Self::starts_at) said) until `end`.
    pub(super) fn serve(&mut self, arrival: u64, start: u64, end: u64, failed: bool) {
        if self.capacity.is_some() {
            self.free_at.pop();
            self.free_at.push(Reverse(end));
        }
        self.push(Job {
            arrival,
            start,
            end,
            served: true,
            failed,
        });
    }

    /// Takes a request arriving at `arrival` whose client gives up at `end`, before a
    /// slot takes it: it waits until then and is dropped, using no slot.
    pub(super) fn drop_unserved(&mut self, arrival: u64, end: u64) {
        self.push(Job {
            arrival,
            start: end,
            end,
            served: false,
            failed: false,
        });
    }

    fn push(&mut self, job: Job) {
        if self.window_ns.is_some() {
            self.forget_before(job.arrival);
            self.recent.push_back(job);
        }
    }

    /// Forgets requests that ended a window before `now_ns`: no figure from `now_ns`
    /// on counts them.
    fn forget_before(&mut self, now_ns: u64) {
        let from = now_ns.saturating_sub(self.window_ns.unwrap_or(0));
        while self.recent.front().is_some_and(|j| j.end <= from) {
            self.recent.pop_front();
        }
    }

    /// Its load at `now_ns` (no earlier than any request it took, or any previous
    /// call), rates and utilization over the last window (or since the start, when
    /// shorter).
    pub(super) fn load_at(&mut self, now_ns: u64) -> OwnLoad {
        self.forget_before(now_ns);
        let from = now_ns.saturating_sub(self.window_ns.unwrap_or(0));
        let span = now_ns - from;
        let (mut held, mut running, mut answered, mut failed) = (0u32, 0u32, 0u32, 0u32);
        let mut busy_ns = 0u64;
        for job in self.recent.iter().take_while(|j| j.arrival <= now_ns) {
            if job.end > now_ns {
                held += 1;
                running += u32::from(job.served && job.start <= now_ns);
            }
            if job.served {
                busy_ns += job.end.min(now_ns).saturating_sub(job.start.max(from));
                if job.end > from && job.end <= now_ns {
                    answered += 1;
                    failed += u32::from(job.failed);
                }
            }
        }
        if span == 0 {
            return OwnLoad {
                waiting: held - running,
                running,
                kv_cache: (f64::from(held) / self.kv_cache).min(1.0),
                ..OwnLoad::default()
            };
        }
        let seconds = span as f64 / 1e9;
        let slots = self.capacity.map_or(f64::from(running.max(1)), f64::from);
        OwnLoad {
            utilization: (busy_ns as f64 / (slots * span as f64)).min(1.0),
            rps: f64::from(answered) / seconds,
            eps: f64::from(failed) / seconds,
            waiting: held - running,
            running,
            kv_cache: (f64::from(held) / self.kv_cache).min(1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const SECOND: u64 = 1_000 * MS;

    /// Sends a request at `at` that takes `service` once served; its start.
    fn send(server: &mut Server, at: u64, service: u64, failed: bool) -> u64 {
        let start = server.starts_at(at);
        server.serve(at, start, start + service, failed);
        start
    }

    #[test]
    fn requests_beyond_capacity_wait_their_turn() {
        let mut server = Server::new(Some(2), None, Some(SECOND));
        assert_eq!(send(&mut server, 0, 10 * MS, false), 0);
        assert_eq!(send(&mut server, MS, 10 * MS, false), MS);
        // Both slots busy: the third waits for the first to finish, the fourth for the
        // second.
        assert_eq!(send(&mut server, 2 * MS, 10 * MS, false), 10 * MS);
        assert_eq!(send(&mut server, 3 * MS, 10 * MS, false), 11 * MS);
        let load = server.load_at(5 * MS);
        assert_eq!((load.running, load.waiting), (2, 2));
        assert_eq!(load.kv_cache, 1.0, "4 held by a cache of 2");
        let load = server.load_at(10 * MS);
        assert_eq!((load.running, load.waiting), (2, 1), "the third started");
        let mut unlimited = Server::new(None, None, Some(SECOND));
        assert_eq!(send(&mut unlimited, 0, 10 * MS, false), 0);
        assert_eq!(send(&mut unlimited, MS, 10 * MS, false), MS);
    }

    #[test]
    fn a_request_dropped_unserved_takes_no_slot() {
        let mut server = Server::new(Some(1), Some(4), Some(SECOND));
        send(&mut server, 0, 100 * MS, false);
        assert_eq!(server.starts_at(MS), 100 * MS);
        server.drop_unserved(MS, 51 * MS);
        assert_eq!(server.starts_at(2 * MS), 100 * MS, "still the first's slot");
        let load = server.load_at(50 * MS);
        assert_eq!((load.running, load.waiting, load.kv_cache), (1, 1, 0.5));
        let load = server.load_at(60 * MS);
        assert_eq!((load.running, load.waiting, load.kv_cache), (1, 0, 0.25));
    }

    #[test]
    fn utilization_and_rates_cover_the_window() {
        let mut server = Server::new(Some(4), None, Some(SECOND));
        // 100 requests of 20 ms over one second, one every 10 ms, 1 in 10 failing: two
        // slots of four busy on average.
        for i in 0..100 {
            send(&mut server, i * 10 * MS, 20 * MS, i % 10 == 0);
        }
        let load = server.load_at(1_010 * MS);
        assert!((load.utilization - 0.5).abs() < 0.01, "{load:?}");
        assert!((load.rps - 100.0).abs() < 1.5, "{load:?}");
        assert!((load.eps - 10.0).abs() < 1.5, "{load:?}");
        assert_eq!((load.running, load.waiting), (0, 0));
        // A second later nothing was answered within the window.
        let idle = server.load_at(2_100 * MS);
        assert_eq!((idle.utilization, idle.rps, idle.eps), (0.0, 0.0, 0.0));
        assert!(server.recent.is_empty(), "forgotten");
        // Early on the window is as long as the run so far.
        let mut fresh = Server::new(Some(1), None, Some(SECOND));
        send(&mut fresh, 0, 50 * MS, false);
        let load = fresh.load_at(100 * MS);
        assert!((load.utilization - 0.5).abs() < 1e-9, "{load:?}");
        assert!((load.rps - 10.0).abs() < 1e-9, "{load:?}");
        assert_eq!(Server::new(Some(1), None, Some(SECOND)).load_at(0).rps, 0.0);
        // A server that reports nothing remembers nothing.
        let mut silent = Server::new(Some(1), None, None);
        send(&mut silent, 0, 50 * MS, false);
        assert!(silent.recent.is_empty());
    }

    #[test]
    fn a_saturated_server_reports_full_utilization_and_its_queue() {
        let mut server = Server::new(Some(4), Some(8), Some(SECOND));
        // Five requests of 10 ms every 10 ms for a second, with four slots: the queue
        // grows by one each round.
        for i in 0..100 {
            for _ in 0..5 {
                send(&mut server, i * 10 * MS, 10 * MS, false);
            }
        }
        let load = server.load_at(1_000 * MS);
        assert!(load.utilization > 0.99, "{load:?}");
        assert!((load.rps - 400.0).abs() < 5.0, "{load:?}");
        assert_eq!(load.running, 4);
        assert!(load.waiting >= 95, "{load:?}");
        assert_eq!(load.kv_cache, 1.0);
        assert_eq!(load.get(Series::Waiting), f64::from(load.waiting));
        assert_eq!(load.get(Series::Utilization), load.utilization);
    }
}
