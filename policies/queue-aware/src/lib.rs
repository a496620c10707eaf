//! `queue-aware`: power of two choices on what inference servers (vLLM and the like)
//! report about their own queue and memory.
//!
//! Each pick compares two distinct routable endpoints drawn at random, on two metrics
//! the endpoints report (scraped from their Prometheus endpoint, or sent in response
//! headers): the number of requests waiting in their queue (`queue_metric`, vLLM's
//! `vllm:num_requests_waiting` by default) and their memory use (`memory_metric`,
//! vLLM's `vllm:gpu_cache_usage_perc`, the KV-cache use from 0 to 1, by default; an
//! empty name reads none). The preferred one goes first, the other is the fallback:
//!
//! 1. An endpoint whose memory use is at or above `memory_cap` (0.95) is avoided when
//!    the other's is below it: it is about to preempt or refuse work.
//! 2. Then the one with fewer requests waiting wins.
//! 3. On equal queues, the one using less memory.
//! 4. On a tie still, the one with fewer requests in flight from this proxy.
//!
//! A reading is trusted while it is at most `stale_after_ms` (3 s) old. When either
//! candidate's queue reading is missing or older, the queue is not compared for that
//! pick: fewer requests in flight (the proxy's own count) decides instead, and memory
//! breaks the tie. A stale or missing memory reading is not compared (no cap, no tie
//! break from it). A reading that is not a finite number (or a negative queue) counts
//! as missing.
//!
//! The two candidates and their readings come with the pick (the policy asks for
//! [`Candidates::TwoRandom`]), so a pick calls no host import; when none came (an older
//! host, or a test environment) the policy draws the two itself and reads their figures
//! and metrics through the `load` imports, with the same rules. O(1) per pick;
//! `set_members` is O(n).

use std::cmp::Ordering;
use switchyard_policy_sdk::{
    Balancer, Candidates, Choices, Endpoint, EndpointId, Env, Members, MetricId, Needs, PolicyInfo,
    Request, Setup, export_balancer,
};

const QUEUE_METRIC: &str = "queue_metric";
const MEMORY_METRIC: &str = "memory_metric";
const MEMORY_CAP: &str = "memory_cap";
const STALE_AFTER: &str = "stale_after_ms";

const DEFAULT_QUEUE_METRIC: &str = "vllm:num_requests_waiting";
const DEFAULT_MEMORY_METRIC: &str = "vllm:gpu_cache_usage_perc";
const DEFAULT_MEMORY_CAP: f64 = 0.95;
const DEFAULT_STALE_AFTER_MS: u32 = 3_000;

/// The queue metric's [`MetricId`]: first in [`Needs::metrics`].
const QUEUE: MetricId = 0;
/// The memory metric's [`MetricId`], when there is one.
const MEMORY: MetricId = 1;

/// Power of two choices on reported queue length and memory use.
pub struct QueueAware {
    members: Members,
    queue_metric: String,
    /// `None` when `memory_metric` is empty.
    memory_metric: Option<String>,
    memory_cap: f64,
    stale_after_ms: u32,
}

/// What a pick knows of one candidate.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Side {
    id: EndpointId,
    in_flight: u32,
    /// Requests waiting, if reported recently enough.
    queue: Option<f64>,
    /// Memory use, if reported recently enough (and a memory metric is read).
    memory: Option<f64>,
}

impl QueueAware {
    /// The value of `metric` for `id` if it was reported at most `stale_after_ms` ago
    /// and is a finite number.
    fn fresh(&self, env: &impl Env, id: EndpointId, metric: MetricId) -> Option<f64> {
        env.reported(id, metric)
            .filter(|r| r.age_ms <= self.stale_after_ms && r.value.is_finite())
            .map(|r| r.value)
    }

    /// Reads what is known of `id`, with `in_flight` as delivered or read.
    fn side(&self, env: &impl Env, id: EndpointId, in_flight: u32) -> Side {
        Side {
            id,
            in_flight,
            queue: self.fresh(env, id, QUEUE).filter(|q| *q >= 0.0),
            memory: self
                .memory_metric
                .as_ref()
                .and_then(|_| self.fresh(env, id, MEMORY)),
        }
    }

    /// How `a` compares with `b`: `Less` when `a` is preferred.
    fn order(&self, a: &Side, b: &Side) -> Ordering {
        let memory = a.memory.zip(b.memory);
        if let Some((ma, mb)) = memory {
            let (a_full, b_full) = (ma >= self.memory_cap, mb >= self.memory_cap);
            if a_full != b_full {
                return a_full.cmp(&b_full);
            }
        }
        let primary = match (a.queue, b.queue) {
            (Some(qa), Some(qb)) => qa.total_cmp(&qb),
            _ => a.in_flight.cmp(&b.in_flight),
        };
        primary
            .then_with(|| memory.map_or(Ordering::Equal, |(ma, mb)| ma.total_cmp(&mb)))
            .then_with(|| a.in_flight.cmp(&b.in_flight))
    }

    /// The two candidates: the pair the host drew and sent with the pick when it is
    /// two distinct routable members, else two drawn here (figures read in one call).
    fn candidates(&self, env: &impl Env) -> (Side, Side) {
        let delivered = env.drawn_pair().filter(|(a, b)| {
            a.id != b.id
                && self.members.candidate(a).is_some()
                && self.members.candidate(b).is_some()
        });
        if let Some((a, b)) = delivered {
            return (
                self.side(env, a.id, a.figures.in_flight),
                self.side(env, b.id, b.figures.in_flight),
            );
        }
        let n = self.members.len();
        let a = env.below(n);
        let b = (a + 1 + env.below(n - 1)) % n;
        let (id_a, id_b) = (self.members.id_at(a), self.members.id_at(b));
        let (load_a, load_b) = env.pair(id_a, id_b);
        (
            self.side(env, id_a, load_a.in_flight),
            self.side(env, id_b, load_b.in_flight),
        )
    }
}

impl Balancer for QueueAware {
    fn describe() -> PolicyInfo {
        PolicyInfo::new(
            "queue-aware",
            "power of two choices on reported queue length, then memory use (vLLM-style servers)",
        )
        .key(
            QUEUE_METRIC,
            "reported metric counting the requests an endpoint has waiting",
            Some(DEFAULT_QUEUE_METRIC),
        )
        .key(
            MEMORY_METRIC,
            "reported metric of an endpoint's memory use; breaks ties, enforces memory_cap (empty: none)",
            Some(DEFAULT_MEMORY_METRIC),
        )
        .key(
            MEMORY_CAP,
            "memory use at or above which an endpoint is avoided when the other is below it",
            Some("0.95"),
        )
        .key(
            STALE_AFTER,
            "readings older than this are not trusted: fewer in-flight requests decides instead",
            Some("3000"),
        )
    }

    fn new(setup: &Setup) -> Result<Self, String> {
        let config = setup.config();
        config.reject_unknown(&[QUEUE_METRIC, MEMORY_METRIC, MEMORY_CAP, STALE_AFTER])?;
        let queue_metric = config
            .get(QUEUE_METRIC)
            .unwrap_or(DEFAULT_QUEUE_METRIC)
            .trim()
            .to_string();
        if queue_metric.is_empty() {
            return Err(format!(
                "policy_config.{QUEUE_METRIC}: must name a reported metric (the queue is what this policy compares)"
            ));
        }
        let memory_metric = config
            .get(MEMORY_METRIC)
            .unwrap_or(DEFAULT_MEMORY_METRIC)
            .trim()
            .to_string();
        if memory_metric == queue_metric {
            return Err(format!(
                "policy_config.{MEMORY_METRIC}: must differ from {QUEUE_METRIC} ({queue_metric:?}); leave it empty to read no memory metric"
            ));
        }
        let memory_cap: f64 = config.parse_or(MEMORY_CAP, DEFAULT_MEMORY_CAP)?;
        if !(memory_cap > 0.0 && memory_cap.is_finite()) {
            return Err(format!(
                "policy_config.{MEMORY_CAP}: must be a finite number above 0, not {memory_cap}"
            ));
        }
        let stale_after_ms: u32 = config.parse_or(STALE_AFTER, DEFAULT_STALE_AFTER_MS)?;
        if stale_after_ms == 0 {
            return Err(format!(
                "policy_config.{STALE_AFTER}: must be at least 1 (readings are never younger than 0 ms)"
            ));
        }
        Ok(Self {
            members: Members::default(),
            queue_metric,
            memory_metric: (!memory_metric.is_empty()).then_some(memory_metric),
            memory_cap,
            stale_after_ms,
        })
    }

    /// The pair, its figures and both metrics come with every pick.
    fn needs(&self) -> Needs {
        let mut metrics = vec![self.queue_metric.as_str()];
        metrics.extend(self.memory_metric.as_deref());
        Needs::nothing()
            .metrics(&metrics)
            .candidates(Candidates::TwoRandom)
    }

    fn set_members(&mut self, members: Vec<Endpoint>) {
        self.members = Members::new(members);
    }

    fn pick(&mut self, _request: &Request, env: &impl Env) -> Choices {
        match self.members.len() {
            0 => Choices::none(),
            1 => Choices::one(self.members.id_at(0)),
            _ => {
                let (a, b) = self.candidates(env);
                if self.order(&b, &a) == Ordering::Less {
                    [b.id, a.id].into_iter().collect()
                } else {
                    [a.id, b.id].into_iter().collect()
                }
            }
        }
    }
}

export_balancer!(QueueAware);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_policy_sdk::testing::{Harness, endpoints};
    use switchyard_policy_sdk::{Candidate, Figures, PickEnv, Reading};

    fn harness(config: &[(&str, &str)], n: usize) -> Harness<QueueAware> {
        Harness::<QueueAware>::new(config, endpoints(&vec![1; n])).unwrap()
    }

    /// Sets fresh queue and memory readings.
    fn report(h: &mut Harness<QueueAware>, id: EndpointId, queue: f64, memory: f64) {
        h.env_mut()
            .set_reported(id, QUEUE, queue, 100)
            .set_reported(id, MEMORY, memory, 100);
    }

    #[test]
    fn fewest_waiting_wins() {
        let mut h = harness(&[], 2);
        report(&mut h, 0, 5.0, 0.1);
        report(&mut h, 1, 1.0, 0.9);
        // Fewer in flight on 0 does not matter while queues are known.
        h.env_mut().set_in_flight(1, 10);
        assert_eq!(h.distribution(200)[&1], 200);
        assert_eq!(h.pick(&Request::empty()), [1, 0]);

        // Among 4, the longest queue never wins a pair; the shortest always does.
        let mut h = harness(&[], 4);
        for id in 0..4 {
            report(&mut h, id, f64::from(id), 0.5);
        }
        let counts = h.distribution(12_000);
        assert_eq!(counts.get(&3), None, "{counts:?}");
        // Endpoint 0 wins every pair it is in: 3 of the 6 pairs.
        assert!(counts[&0].abs_diff(6_000) < 300, "{counts:?}");
    }

    #[test]
    fn equal_queues_go_to_less_memory_then_fewer_in_flight() {
        let mut h = harness(&[], 2);
        report(&mut h, 0, 3.0, 0.6);
        report(&mut h, 1, 3.0, 0.3);
        h.env_mut().set_in_flight(1, 5);
        assert_eq!(h.distribution(200)[&1], 200);
        // Equal memory too: fewer in flight.
        report(&mut h, 1, 3.0, 0.6);
        assert_eq!(h.distribution(200)[&0], 200);
        // No memory metric: equal queues go to fewer in flight.
        let mut h = harness(&[(MEMORY_METRIC, "")], 2);
        h.env_mut()
            .set_reported(0, QUEUE, 2.0, 0)
            .set_reported(1, QUEUE, 2.0, 0)
            .set_in_flight(0, 4)
            .set_in_flight(1, 1);
        assert_eq!(h.distribution(200)[&1], 200);
    }

    #[test]
    fn memory_cap_is_avoided_when_the_other_is_below() {
        let mut h = harness(&[], 2);
        report(&mut h, 0, 0.0, 0.95);
        report(&mut h, 1, 10.0, 0.5);
        assert_eq!(h.distribution(200)[&1], 200, "at the cap: avoided");
        // Both at or above the cap: the queue decides.
        report(&mut h, 1, 10.0, 0.99);
        assert_eq!(h.distribution(200)[&0], 200);
        // A cap of its own.
        let mut h = harness(&[(MEMORY_CAP, "0.8")], 2);
        report(&mut h, 0, 0.0, 0.85);
        report(&mut h, 1, 10.0, 0.5);
        assert_eq!(h.distribution(200)[&1], 200);
        report(&mut h, 0, 0.0, 0.75);
        assert_eq!(h.distribution(200)[&0], 200);
        // A stale memory reading is not compared: the queue decides.
        h.env_mut().set_reported(0, MEMORY, 0.99, 3_001);
        assert_eq!(h.distribution(200)[&0], 200);
    }

    #[test]
    fn stale_or_missing_queues_fall_back_to_fewest_in_flight() {
        let mut h = harness(&[], 2);
        report(&mut h, 0, 0.0, 0.5);
        report(&mut h, 1, 9.0, 0.5);
        h.env_mut().set_in_flight(0, 7).set_in_flight(1, 2);
        assert_eq!(h.distribution(100)[&0], 100, "fresh: the queue decides");
        // 3000 ms old is still fresh; 3001 ms is not.
        h.env_mut().set_reported(0, QUEUE, 0.0, 3_000);
        assert_eq!(h.distribution(100)[&0], 100);
        h.env_mut().set_reported(0, QUEUE, 0.0, 3_001);
        assert_eq!(h.distribution(100)[&1], 100, "stale: in-flight decides");
        // Missing on one side.
        h.env_mut().clear_reported(0, QUEUE);
        assert_eq!(h.distribution(100)[&1], 100);
        // Not a number counts as missing.
        h.env_mut().set_reported(0, QUEUE, f64::NAN, 0);
        assert_eq!(h.distribution(100)[&1], 100);
        // A longer threshold trusts the older reading.
        let mut h = harness(&[(STALE_AFTER, "10000")], 2);
        h.env_mut()
            .set_reported(0, QUEUE, 0.0, 5_000)
            .set_reported(1, QUEUE, 9.0, 0)
            .set_in_flight(0, 7);
        assert_eq!(h.distribution(100)[&0], 100);
        // Never reported anywhere: least in-flight, and the other as fallback.
        let mut h = harness(&[], 2);
        h.env_mut().set_in_flight(0, 3);
        assert_eq!(h.pick(&Request::empty()), [1, 0]);
    }

    #[test]
    fn small_clusters() {
        let mut h = harness(&[], 1);
        assert_eq!(h.pick(&Request::empty()), [0]);
        h.set_members(Vec::new());
        assert!(h.pick(&Request::empty()).is_empty());
        let mut members = endpoints(&[1, 1]);
        members[0].health = switchyard_policy_sdk::Health::Unavailable;
        h.set_members(members);
        assert_eq!(h.distribution(50)[&1], 50);
    }

    /// The pair the host sends with the pick is used, with its readings: no import is
    /// called (natively, one would panic).
    #[test]
    fn the_delivered_pair_is_compared_without_host_calls() {
        let mut policy = QueueAware::new(&Setup {
            cluster: "test".into(),
            local_zone: String::new(),
            config: Vec::new(),
        })
        .unwrap();
        policy.set_members(endpoints(&[1, 1, 1]));
        let candidate = |id: u32, in_flight| Candidate {
            id,
            index: id,
            figures: Figures {
                in_flight,
                latency_ewma_us: 0,
                error_rate: 0.0,
            },
        };
        let reading = |value, age_ms| Some(Reading { value, age_ms });
        let request = Request {
            pair: Some((candidate(2, 0), candidate(1, 9))),
            // Queue, memory of 2; queue, memory of 1.
            readings: Some(
                [reading(4.0, 10), reading(0.2, 10), reading(1.0, 10), None]
                    .into_iter()
                    .collect(),
            ),
            ..Request::empty()
        };
        let choices = policy.pick(&request, &PickEnv::new(&request));
        assert_eq!(choices.as_slice(), &[1, 2]);
        // Stale queue on 1: fewer in flight, endpoint 2.
        let request = Request {
            readings: Some(
                [reading(4.0, 10), None, reading(1.0, 5_000), None]
                    .into_iter()
                    .collect(),
            ),
            ..request
        };
        let choices = policy.pick(&request, &PickEnv::new(&request));
        assert_eq!(choices.as_slice(), &[2, 1]);
    }

    #[test]
    fn config_is_checked() {
        let keys: Vec<String> = QueueAware::describe()
            .config_keys
            .into_iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(keys, [QUEUE_METRIC, MEMORY_METRIC, MEMORY_CAP, STALE_AFTER]);
        for (config, needle) in [
            (&[(QUEUE_METRIC, " ")][..], "queue_metric: must name"),
            (
                &[(MEMORY_METRIC, DEFAULT_QUEUE_METRIC)],
                "memory_metric: must differ",
            ),
            (&[(MEMORY_CAP, "0")], "memory_cap: must be"),
            (&[(MEMORY_CAP, "-0.5")], "memory_cap: must be"),
            (&[(MEMORY_CAP, "NaN")], "memory_cap: must be"),
            (&[(MEMORY_CAP, "high")], "memory_cap: expected"),
            (&[(STALE_AFTER, "0")], "stale_after_ms: must be at least 1"),
            (&[(STALE_AFTER, "3s")], "stale_after_ms: expected"),
            (&[("queue", "x")], "unknown key"),
        ] {
            let err = Harness::<QueueAware>::new(config, endpoints(&[1]))
                .err()
                .unwrap_or_else(|| panic!("{config:?} accepted"));
            assert!(err.contains(needle), "{config:?}: {err}");
        }
        let needs = harness(&[], 1).policy().needs();
        assert_eq!(needs.metrics, [DEFAULT_QUEUE_METRIC, DEFAULT_MEMORY_METRIC]);
        assert_eq!(needs.candidates, Candidates::TwoRandom);
        let needs = harness(&[(QUEUE_METRIC, "x-queue"), (MEMORY_METRIC, "")], 1)
            .policy()
            .needs();
        assert_eq!(needs.metrics, ["x-queue"]);
    }
}
