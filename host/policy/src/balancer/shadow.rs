//! Shadow picks: a sampled share of requests is also put to a candidate version, on a
//! background thread of its own, and its first choice compared with the serving
//! version's. Workers only push a copy of the request into a bounded queue (dropped and
//! counted when full) and never wake the thread, which polls; a candidate that faults
//! or runs past its deadline there touches no request.

use crate::balancer::PickSource;
use crate::balancer::cluster_policy::{ClusterPolicy, Preference};
use crate::balancer::request::{RequestInfo, RequestView};
use crate::cluster::{EndpointId, Membership, PickHistogram};
use crate::niceness::lower_priority;
use crate::random::draw;
use crossbeam_queue::ArrayQueue;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests waiting for a shadow pick; more are dropped (and counted).
const QUEUE: usize = 1024;
/// How long the thread sleeps when it finds the queue empty.
const POLL: Duration = Duration::from_millis(2);
/// Most endpoints whose shares are counted (discovery may churn through many).
const MAX_ENDPOINTS: usize = 4096;
/// A request whose copy would be larger than this is not sampled (counted as
/// dropped): the queue holds at most `QUEUE` times this.
const MAX_JOB_BYTES: usize = 8192;

/// A candidate asked beside the serving version; dropping it stops its thread.
pub(crate) struct Shadow {
    queue: Arc<ArrayQueue<Job>>,
    stats: Arc<ShadowStats>,
    /// A request is sampled when a random draw falls below this.
    below: u64,
    stop: Arc<AtomicBool>,
}

/// A request to put to the candidate: a copy of what it reads, and what the serving
/// version answered, from which membership.
struct Job {
    request: RequestInfo,
    serving: Preference,
    membership: Arc<Membership>,
}

/// How the candidate's shadow picks compare with the serving version's answers.
#[derive(Debug, Default)]
struct ShadowStats {
    sampled: AtomicU64,
    dropped: AtomicU64,
    compared: AtomicU64,
    agreed: AtomicU64,
    faults: AtomicU64,
    durations: PickHistogram,
    /// First choices by endpoint address: the serving version's, the candidate's.
    shares: Mutex<BTreeMap<String, [u64; 2]>>,
}

/// The comparison so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShadowReport {
    /// Requests sampled for a shadow pick.
    pub sampled: u64,
    /// Of them, dropped because the queue was full (or the request too large to
    /// copy).
    pub dropped: u64,
    /// Shadow picks made and compared.
    pub compared: u64,
    /// Of them, with the same first choice as the serving version's.
    pub agreed: u64,
    /// Shadow picks the candidate faulted on (the host's fallback answered).
    pub faults: u64,
    /// Median of the candidate's shadow picks.
    pub pick_p50: Option<Duration>,
    /// 99th percentile of the candidate's shadow picks.
    pub pick_p99: Option<Duration>,
    /// Per endpoint address, how many first choices the serving version and the
    /// candidate gave it.
    pub shares: Vec<(String, u64, u64)>,
}

impl Shadow {
    /// Starts the shadow thread of `candidate` for `cluster`, sampling the requests
    /// offered whose random draw falls `below`.
    pub(crate) fn start(cluster: &str, candidate: Arc<ClusterPolicy>, below: u64) -> Self {
        let queue = Arc::new(ArrayQueue::new(QUEUE));
        let stats = Arc::new(ShadowStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (jobs, seen, stopped) = (Arc::clone(&queue), Arc::clone(&stats), Arc::clone(&stop));
        let spawned = std::thread::Builder::new()
            .name(format!("shadow-{cluster}"))
            .spawn(move || {
                lower_priority(false);
                while !stopped.load(Relaxed) {
                    match jobs.pop() {
                        Some(job) => seen.compare(&candidate, job),
                        None => std::thread::sleep(POLL),
                    }
                }
            });
        if let Err(e) = spawned {
            // Sampled requests then only fill the queue and are counted as dropped.
            tracing::error!(cluster, "cannot start the shadow thread: {e}");
        }
        Self {
            queue,
            stats,
            below,
            stop,
        }
    }

    /// Offers a request the serving version answered with `serving` from `membership`:
    /// on a sampled share, a copy of what `candidate` reads of it is queued.
    pub(crate) fn offer(
        &self,
        candidate: &ClusterPolicy,
        request: &impl RequestView,
        serving: &Preference,
        membership: &Arc<Membership>,
    ) {
        if draw() >= self.below {
            return;
        }
        self.stats.sampled.fetch_add(1, Relaxed);
        let (request, size) = RequestInfo::capture(request, candidate.needs());
        let job = Job {
            request,
            serving: *serving,
            membership: Arc::clone(membership),
        };
        if size > MAX_JOB_BYTES || self.queue.push(job).is_err() {
            self.stats.dropped.fetch_add(1, Relaxed);
        }
    }

    /// The comparison so far.
    pub(crate) fn report(&self) -> ShadowReport {
        let stats = &self.stats;
        ShadowReport {
            sampled: stats.sampled.load(Relaxed),
            dropped: stats.dropped.load(Relaxed),
            compared: stats.compared.load(Relaxed),
            agreed: stats.agreed.load(Relaxed),
            faults: stats.faults.load(Relaxed),
            pick_p50: stats.durations.quantile(0.5),
            pick_p99: stats.durations.quantile(0.99),
            shares: stats
                .shares
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|(address, [serving, candidate])| (address.clone(), *serving, *candidate))
                .collect(),
        }
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

impl ShadowStats {
    /// Puts `job` to `candidate` and counts how its answer compares.
    fn compare(&self, candidate: &ClusterPolicy, job: Job) {
        let started = Instant::now();
        let pick = candidate.pick(&job.request);
        self.durations.record(started.elapsed());
        if pick.source != PickSource::Policy {
            if matches!(pick.source, PickSource::Fallback(_)) {
                self.faults.fetch_add(1, Relaxed);
            }
            return;
        }
        let serving = first_address(&job.serving, &job.membership);
        let theirs = first_address(&pick.endpoints, &pick.membership);
        self.compared.fetch_add(1, Relaxed);
        if serving == theirs {
            self.agreed.fetch_add(1, Relaxed);
        }
        let mut shares = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        for (address, side) in [(serving, 0), (theirs, 1)] {
            let Some(address) = address else { continue };
            if let Some(counts) = shares.get_mut(address) {
                counts[side] += 1;
            } else if shares.len() < MAX_ENDPOINTS {
                let mut counts = [0; 2];
                counts[side] = 1;
                shares.insert(address.to_string(), counts);
            }
        }
    }
}

/// The address of the first endpoint of `ids` in `membership`.
fn first_address<'m>(ids: &[EndpointId], membership: &'m Membership) -> Option<&'m str> {
    ids.first()
        .and_then(|id| membership.get(*id))
        .map(|m| m.address.as_str())
}
