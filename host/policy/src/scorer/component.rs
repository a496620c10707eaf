//! Health scorers: components of the `health-scorer` world, turned into checked
//! verdicts. One instance serves a cluster, called from the health thread only.

use crate::cluster::{EndpointId, Membership};
use crate::engine::clock;
use crate::engine::log::PolicyLog;
use crate::engine::sandboxed::Sandboxed;
use crate::engine::store::StoreState;
use crate::engine::ticker::Ticker;
use crate::engine::world::scorer::{self as wit, HealthScorer, HealthScorerPre};
use crate::engine::world::{PolicyInfo, Setup, v0_1};
use crate::engine::{Contract, Fault, LoadError, PolicyLimits};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest ejection a scorer can name: it means "until a later verdict".
const UNTIL_RECOVERED_MS: u32 = u32::MAX;

/// A health scorer linked in the contract version it was built against.
pub(crate) enum ScorerPre {
    /// Contract 0.2.0.
    Current(HealthScorerPre<StoreState>),
    /// Contract 0.1.0.
    V0_1(v0_1::scorer::HealthScorerPre<StoreState>),
}

/// The exports of either contract version.
enum Guest {
    Current(HealthScorer),
    V0_1(v0_1::scorer::HealthScorer),
}

/// Calls export `$call` of the `scoring` interface with `$args`, whichever the version;
/// `$answer` turns a 0.1.0 answer into the current one.
macro_rules! scoring {
    ($guest:expr, $store:expr, $call:ident($($arg:expr),*)) => {
        scoring!($guest, $store, $call($($arg),*), |answer| answer)
    };
    ($guest:expr, $store:expr, $call:ident($($arg:expr),*), $answer:expr) => {
        match $guest {
            Guest::Current(p) => p.switchyard_policy_scoring().$call($store $(, $arg)*),
            Guest::V0_1(p) => p.switchyard_policy_scoring().$call($store $(, $arg)*).map($answer),
        }
    };
}

/// A compiled, linked health scorer.
pub struct ScorerComponent {
    name: String,
    pub(crate) pre: ScorerPre,
    pub(crate) log: Arc<PolicyLog>,
    /// Keeps the epoch advancing while the scorer's calls run.
    pub(crate) ticker: Arc<Ticker>,
}

impl ScorerComponent {
    pub(crate) fn new(name: &str, pre: ScorerPre, ticker: Arc<Ticker>) -> Self {
        Self {
            name: name.to_string(),
            pre,
            log: Arc::new(PolicyLog::new(name)),
            ticker,
        }
    }

    /// The scorer's name (built-in name or file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The contract version it was built against.
    pub fn contract(&self) -> Contract {
        match self.pre {
            ScorerPre::Current(_) => Contract::V0_2,
            ScorerPre::V0_1(_) => Contract::V0_1,
        }
    }
}

/// Where an observation came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObservationSource {
    /// An active probe.
    Probe,
    /// A proxied request.
    Request,
}

/// One thing the host saw happen to an endpoint.
#[derive(Clone, Copy, Debug)]
pub struct Observation {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// Probe or request.
    pub source: ObservationSource,
    /// A probe that met its expectations, a request answered below 500.
    pub success: bool,
    /// HTTP status (gRPC status for gRPC probes), when a response came.
    pub status: Option<u16>,
    /// Time to the response or the failure.
    pub latency: Duration,
    /// The connection could not be made.
    pub connect_error: bool,
    /// The probe or request ran out of time.
    pub timed_out: bool,
    /// When it happened.
    pub at: Instant,
}

/// A scorer's judgement of an endpoint, checked by the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Full weight.
    Healthy,
    /// Serving with its weight multiplied by this factor in (0, 1].
    Degraded(f32),
    /// Out of rotation for this long; `None`: until a later verdict.
    Ejected(Option<Duration>),
}

impl TryFrom<wit::Verdict> for Verdict {
    type Error = Fault;

    fn try_from(verdict: wit::Verdict) -> Result<Self, Fault> {
        Ok(match verdict {
            wit::Verdict::Healthy => Verdict::Healthy,
            wit::Verdict::Degraded(f) if f.is_finite() && f > 0.0 && f <= 1.0 => {
                Verdict::Degraded(f)
            }
            wit::Verdict::Degraded(f) => {
                return Err(Fault::InvalidAnswer(format!(
                    "degraded with weight factor {f}; it must be in (0, 1]"
                )));
            }
            wit::Verdict::Ejected(UNTIL_RECOVERED_MS) => Verdict::Ejected(None),
            wit::Verdict::Ejected(ms) => {
                Verdict::Ejected(Some(Duration::from_millis(u64::from(ms))))
            }
        })
    }
}

/// A running scorer. Not shared: the health thread owns it.
pub struct ScorerInstance {
    guest: Sandboxed<Guest>,
}

impl ScorerInstance {
    /// Starts `component` for `cluster` with its `config`, pushes `membership` and
    /// smoke-tests a tick. A refusal of the configuration or any fault is a
    /// [`LoadError`] and nothing is left running.
    pub fn start(
        component: &ScorerComponent,
        cluster: &str,
        config: &[(String, String)],
        limits: &PolicyLimits,
        membership: &Arc<Membership>,
    ) -> Result<Self, LoadError> {
        let engine = match &component.pre {
            ScorerPre::Current(pre) => pre.engine(),
            ScorerPre::V0_1(pre) => pre.engine(),
        };
        let guest = Sandboxed::start(
            engine,
            &component.ticker,
            &component.log,
            limits,
            Arc::clone(membership),
            |store| match &component.pre {
                ScorerPre::Current(pre) => pre.instantiate(store).map(Guest::Current),
                ScorerPre::V0_1(pre) => pre.instantiate(store).map(Guest::V0_1),
            },
        )
        .map_err(LoadError::Smoke)?;
        let mut instance = Self { guest };
        let setup = Setup {
            cluster: cluster.to_string(),
            local_zone: String::new(),
            config: config.to_vec(),
        };
        let deadline = limits.setup_deadline;
        instance
            .guest
            .call(deadline, |g, s| scoring!(g, s, call_init(&setup)))
            .map_err(LoadError::Smoke)?
            .map_err(LoadError::Config)?;
        instance.sync(membership).map_err(LoadError::Smoke)?;
        instance
            .tick(Instant::now(), membership)
            .map_err(LoadError::Smoke)?;
        Ok(instance)
    }

    /// Calls `describe`.
    pub fn describe(&mut self) -> Result<PolicyInfo, Fault> {
        let deadline = self.guest.limits().setup_deadline;
        self.guest
            .call(deadline, |g, s| scoring!(g, s, call_describe()))
    }

    /// Pushes `membership` unless this instance has it already.
    pub fn sync(&mut self, membership: &Arc<Membership>) -> Result<(), Fault> {
        self.guest.sync(membership, |g, s, endpoints| {
            scoring!(g, s, call_set_members(endpoints))
        })
    }

    /// Hands over one observation; a new verdict for its endpoint if it changed.
    pub fn observe(&mut self, observation: &Observation) -> Result<Option<Verdict>, Fault> {
        let o = wit::Observation {
            endpoint: observation.endpoint,
            source: match observation.source {
                ObservationSource::Probe => wit::Source::Probe,
                ObservationSource::Request => wit::Source::Request,
            },
            success: observation.success,
            status: observation.status,
            latency_us: observation.latency.as_micros().min(u128::from(u32::MAX)) as u32,
            connect_error: observation.connect_error,
            timed_out: observation.timed_out,
            at_ns: clock::clock_ns(observation.at),
        };
        let deadline = self.guest.limits().pick_deadline;
        let verdict = self.guest.call(deadline, |g, s| match g {
            Guest::Current(p) => p.switchyard_policy_scoring().call_observe(s, o),
            Guest::V0_1(p) => Ok(p
                .switchyard_policy_scoring()
                .call_observe(s, v0_1::scorer::observation(&o))?
                .map(v0_1::scorer::verdict)),
        })?;
        verdict.map(Verdict::try_from).transpose()
    }

    /// The periodic call: verdicts that changed without an observation. Ids that are not
    /// members of `membership` make the answer invalid.
    pub fn tick(
        &mut self,
        now: Instant,
        membership: &Membership,
    ) -> Result<Vec<(EndpointId, Verdict)>, Fault> {
        let deadline = self.guest.limits().setup_deadline;
        let now_ns = clock::clock_ns(now);
        let answer = self.guest.call(deadline, |g, s| {
            scoring!(g, s, call_tick(now_ns), |verdicts: Vec<_>| verdicts
                .into_iter()
                .map(|(id, v)| (id, v0_1::scorer::verdict(v)))
                .collect())
        })?;
        answer
            .into_iter()
            .map(|(id, verdict)| match membership.get(id) {
                Some(_) => Ok((id, Verdict::try_from(verdict)?)),
                None => Err(Fault::InvalidAnswer(format!(
                    "a verdict for endpoint id {id}, which is not a member"
                ))),
            })
            .collect()
    }
}
