//! Health-scoring policies: observations in, verdicts out.

use crate::{Config, Endpoint, EndpointId, Env, PolicyInfo, Setup};

pub use crate::bindings::scorer::exports::switchyard::policy::scoring::{
    Observation, Source, Verdict,
};

/// A health-scoring policy: one instance per cluster. The proxy hands it every probe
/// result and request outcome of the cluster's endpoints; its verdicts decide which
/// endpoints the cluster's balancer sees as healthy, degraded (with a weight factor) or
/// unavailable.
///
/// ```
/// use std::collections::HashMap;
/// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
/// use switchyard_policy_sdk::{
///     Endpoint, EndpointId, Env, Observation, PolicyInfo, ProbeStreak, ProbeThresholds, Scorer,
///     Setup, Source, Verdict,
/// };
///
/// /// Out after `unhealthy_threshold` failed probes, back after `healthy_threshold`.
/// pub struct Probes {
///     thresholds: ProbeThresholds,
///     streaks: HashMap<EndpointId, ProbeStreak>,
/// }
///
/// impl Scorer for Probes {
///     fn describe() -> PolicyInfo {
///         PolicyInfo::new("probes", "probe thresholds only")
///     }
///     fn new(setup: &Setup) -> Result<Self, String> {
///         let config = setup.config();
///         config.reject_unknown(&ProbeThresholds::KEYS)?;
///         let thresholds = ProbeThresholds::from_config(&config)?;
///         Ok(Self { thresholds, streaks: HashMap::new() })
///     }
///     fn set_members(&mut self, members: Vec<Endpoint>) {
///         self.streaks.retain(|id, _| members.iter().any(|m| m.id == *id));
///     }
///     fn observe(&mut self, o: &Observation, _env: &impl Env) -> Option<Verdict> {
///         if o.source != Source::Probe {
///             return None;
///         }
///         let streak = self.streaks.entry(o.endpoint).or_default();
///         match streak.record(o.success, self.thresholds)? {
///             true => Some(Verdict::Ejected(60_000)),
///             false => Some(Verdict::Healthy),
///         }
///     }
///     fn tick(&mut self, _now_ns: u64, _env: &impl Env) -> Vec<(EndpointId, Verdict)> {
///         Vec::new()
///     }
/// }
///
/// let mut h = ScorerHarness::<Probes>::new(&[], endpoints(&[1, 1])).unwrap();
/// assert_eq!(h.probe(0, false), None);
/// assert_eq!(h.probe(0, false), None);
/// assert_eq!(h.probe(0, false), Some(Verdict::Ejected(60_000)));
/// assert_eq!(h.probe(0, true), None);
/// assert_eq!(h.probe(0, true), Some(Verdict::Healthy));
/// ```
pub trait Scorer: Sized + 'static {
    /// Name, one-line description and the configuration keys the scorer reads.
    ///
    /// ```
    /// # mod policy {
    /// # use std::collections::HashMap;
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, ProbeStreak,
    /// #     ProbeThresholds, Scorer, Setup, Source, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Probes { thresholds: ProbeThresholds, streaks: HashMap<EndpointId, ProbeStreak> }
    /// # impl Scorer for Probes {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("probes", "probe thresholds only") }
    /// #     fn new(setup: &Setup) -> Result<Self, String> {
    /// #         Ok(Self { thresholds: ProbeThresholds::from_config(&setup.config())?, streaks: HashMap::new() })
    /// #     }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) {
    /// #         self.streaks.retain(|id, _| members.iter().any(|m| m.id == *id));
    /// #     }
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         if o.source != Source::Probe { return None; }
    /// #         match self.streaks.entry(o.endpoint).or_default().record(o.success, self.thresholds)? {
    /// #             true => Some(Verdict::Ejected(60_000)),
    /// #             false => Some(Verdict::Healthy),
    /// #         }
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> { Vec::new() }
    /// # }
    /// # }
    /// # use policy::Probes;
    /// use switchyard_policy_sdk::Scorer;
    ///
    /// assert_eq!(Probes::describe().name, "probes");
    /// ```
    fn describe() -> PolicyInfo;

    /// Creates the instance from its setup (cluster, local zone, `health_config`). An
    /// error is shown to the operator and the scorer is not loaded.
    ///
    /// ```
    /// # mod policy {
    /// # use std::collections::HashMap;
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, ProbeStreak,
    /// #     ProbeThresholds, Scorer, Setup, Source, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Probes { thresholds: ProbeThresholds, streaks: HashMap<EndpointId, ProbeStreak> }
    /// # impl Scorer for Probes {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("probes", "probe thresholds only") }
    /// #     fn new(setup: &Setup) -> Result<Self, String> {
    /// #         Ok(Self { thresholds: ProbeThresholds::from_config(&setup.config())?, streaks: HashMap::new() })
    /// #     }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) {
    /// #         self.streaks.retain(|id, _| members.iter().any(|m| m.id == *id));
    /// #     }
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         if o.source != Source::Probe { return None; }
    /// #         match self.streaks.entry(o.endpoint).or_default().record(o.success, self.thresholds)? {
    /// #             true => Some(Verdict::Ejected(60_000)),
    /// #             false => Some(Verdict::Healthy),
    /// #         }
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> { Vec::new() }
    /// # }
    /// # }
    /// # use policy::Probes;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let refused = ScorerHarness::<Probes>::new(&[("healthy_threshold", "0")], endpoints(&[1]));
    /// assert_eq!(refused.err().as_deref(), Some("healthy_threshold must be at least 1"));
    /// ```
    fn new(setup: &Setup) -> Result<Self, String>;

    /// Receives the cluster's membership, after `new` and on every change.
    ///
    /// ```
    /// # mod policy {
    /// # use std::collections::HashMap;
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, ProbeStreak,
    /// #     ProbeThresholds, Scorer, Setup, Source, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Probes { thresholds: ProbeThresholds, streaks: HashMap<EndpointId, ProbeStreak> }
    /// # impl Scorer for Probes {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("probes", "probe thresholds only") }
    /// #     fn new(setup: &Setup) -> Result<Self, String> {
    /// #         Ok(Self { thresholds: ProbeThresholds::from_config(&setup.config())?, streaks: HashMap::new() })
    /// #     }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) {
    /// #         self.streaks.retain(|id, _| members.iter().any(|m| m.id == *id));
    /// #     }
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         if o.source != Source::Probe { return None; }
    /// #         match self.streaks.entry(o.endpoint).or_default().record(o.success, self.thresholds)? {
    /// #             true => Some(Verdict::Ejected(60_000)),
    /// #             false => Some(Verdict::Healthy),
    /// #         }
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> { Vec::new() }
    /// # }
    /// # }
    /// # use policy::Probes;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Probes>::new(&[], endpoints(&[1, 1])).unwrap();
    /// h.set_members(endpoints(&[1])); // calls `Scorer::set_members`
    /// ```
    fn set_members(&mut self, members: Vec<Endpoint>);

    /// Takes one observation; answers a verdict for its endpoint when it changes.
    ///
    /// ```
    /// # mod policy {
    /// # use std::collections::HashMap;
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, ProbeStreak,
    /// #     ProbeThresholds, Scorer, Setup, Source, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Probes { thresholds: ProbeThresholds, streaks: HashMap<EndpointId, ProbeStreak> }
    /// # impl Scorer for Probes {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("probes", "probe thresholds only") }
    /// #     fn new(setup: &Setup) -> Result<Self, String> {
    /// #         Ok(Self { thresholds: ProbeThresholds::from_config(&setup.config())?, streaks: HashMap::new() })
    /// #     }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) {
    /// #         self.streaks.retain(|id, _| members.iter().any(|m| m.id == *id));
    /// #     }
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         if o.source != Source::Probe { return None; }
    /// #         match self.streaks.entry(o.endpoint).or_default().record(o.success, self.thresholds)? {
    /// #             true => Some(Verdict::Ejected(60_000)),
    /// #             false => Some(Verdict::Healthy),
    /// #         }
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> { Vec::new() }
    /// # }
    /// # }
    /// # use policy::Probes;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Probes>::new(&[], endpoints(&[1])).unwrap();
    /// assert_eq!(h.request(0, Some(503)), None, "this scorer only counts probes");
    /// ```
    fn observe(&mut self, observation: &Observation, env: &impl Env) -> Option<Verdict>;

    /// Called about once a second: verdicts that changed without an observation (an
    /// ejection that ran out, a cluster-wide comparison).
    ///
    /// ```
    /// # mod policy {
    /// # use std::collections::HashMap;
    /// # use switchyard_policy_sdk::{Endpoint, EndpointId, Env, Observation, PolicyInfo, ProbeStreak,
    /// #     ProbeThresholds, Scorer, Setup, Source, Verdict};
    /// # #[derive(Debug)]
    /// # pub struct Probes { thresholds: ProbeThresholds, streaks: HashMap<EndpointId, ProbeStreak> }
    /// # impl Scorer for Probes {
    /// #     fn describe() -> PolicyInfo { PolicyInfo::new("probes", "probe thresholds only") }
    /// #     fn new(setup: &Setup) -> Result<Self, String> {
    /// #         Ok(Self { thresholds: ProbeThresholds::from_config(&setup.config())?, streaks: HashMap::new() })
    /// #     }
    /// #     fn set_members(&mut self, members: Vec<Endpoint>) {
    /// #         self.streaks.retain(|id, _| members.iter().any(|m| m.id == *id));
    /// #     }
    /// #     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
    /// #         if o.source != Source::Probe { return None; }
    /// #         match self.streaks.entry(o.endpoint).or_default().record(o.success, self.thresholds)? {
    /// #             true => Some(Verdict::Ejected(60_000)),
    /// #             false => Some(Verdict::Healthy),
    /// #         }
    /// #     }
    /// #     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> { Vec::new() }
    /// # }
    /// # }
    /// # use policy::Probes;
    /// use switchyard_policy_sdk::testing::{ScorerHarness, endpoints};
    ///
    /// let mut h = ScorerHarness::<Probes>::new(&[], endpoints(&[1])).unwrap();
    /// h.advance_ms(1_000);
    /// assert!(h.tick().is_empty());
    /// ```
    fn tick(&mut self, now_ns: u64, env: &impl Env) -> Vec<(EndpointId, Verdict)>;
}

/// Consecutive-probe thresholds: `unhealthy` failed probes in a row take an endpoint
/// out, `healthy` passing ones bring it back. The host hands them over from the
/// cluster's `[clusters.health_check]` as the keys in [`KEYS`](Self::KEYS).
///
/// ```
/// use switchyard_policy_sdk::{Config, ProbeThresholds};
///
/// let pairs = vec![("unhealthy_threshold".to_string(), "5".to_string())];
/// let t = ProbeThresholds::from_config(&Config::new(&pairs)).unwrap();
/// assert_eq!(t, ProbeThresholds { healthy: 2, unhealthy: 5 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProbeThresholds {
    /// Passing probes in a row that bring an endpoint back.
    pub healthy: u32,
    /// Failed probes in a row that take an endpoint out.
    pub unhealthy: u32,
}

impl ProbeThresholds {
    /// The configuration keys the thresholds come in.
    ///
    /// ```
    /// use switchyard_policy_sdk::{Config, ProbeThresholds};
    ///
    /// // A scorer accepts them besides its own keys.
    /// let pairs = vec![("healthy_threshold".to_string(), "1".to_string())];
    /// let mut known = vec!["consecutive_errors"];
    /// known.extend(ProbeThresholds::KEYS);
    /// assert!(Config::new(&pairs).reject_unknown(&known).is_ok());
    /// ```
    pub const KEYS: [&'static str; 2] = ["healthy_threshold", "unhealthy_threshold"];

    /// Reads the thresholds (2 and 3 when absent); each must be at least 1.
    ///
    /// ```
    /// use switchyard_policy_sdk::{Config, ProbeThresholds};
    ///
    /// let t = ProbeThresholds::from_config(&Config::default()).unwrap();
    /// assert_eq!((t.healthy, t.unhealthy), (2, 3));
    /// let zero = vec![("unhealthy_threshold".to_string(), "0".to_string())];
    /// assert!(ProbeThresholds::from_config(&Config::new(&zero)).is_err());
    /// ```
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let read = |key: &str, default: u32| match config.parse_or(key, default)? {
            0 => Err(format!("{key} must be at least 1")),
            n => Ok(n),
        };
        Ok(Self {
            healthy: read(Self::KEYS[0], 2)?,
            unhealthy: read(Self::KEYS[1], 3)?,
        })
    }
}

/// One endpoint's run of probe results against [`ProbeThresholds`].
///
/// ```
/// use switchyard_policy_sdk::{ProbeStreak, ProbeThresholds};
///
/// let thresholds = ProbeThresholds { healthy: 1, unhealthy: 2 };
/// let mut streak = ProbeStreak::default();
/// assert_eq!(streak.record(false, thresholds), None);
/// assert_eq!(streak.record(false, thresholds), Some(true), "down");
/// assert_eq!(streak.record(true, thresholds), Some(false), "back");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProbeStreak {
    failures: u32,
    successes: u32,
    down: bool,
}

impl ProbeStreak {
    /// Counts one probe: `Some(true)` when the endpoint has just gone down,
    /// `Some(false)` when it has just come back, else `None`.
    ///
    /// ```
    /// use switchyard_policy_sdk::{ProbeStreak, ProbeThresholds};
    ///
    /// let thresholds = ProbeThresholds { healthy: 2, unhealthy: 1 };
    /// let mut streak = ProbeStreak::default();
    /// assert_eq!(streak.record(true, thresholds), None, "already up");
    /// assert_eq!(streak.record(false, thresholds), Some(true));
    /// assert_eq!(streak.record(true, thresholds), None, "one of two");
    /// assert_eq!(streak.record(true, thresholds), Some(false));
    /// ```
    pub fn record(&mut self, success: bool, thresholds: ProbeThresholds) -> Option<bool> {
        if success {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            if self.down && self.successes >= thresholds.healthy {
                self.down = false;
                return Some(false);
            }
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            if !self.down && self.failures >= thresholds.unhealthy {
                self.down = true;
                return Some(true);
            }
        }
        None
    }

    /// True while probes hold the endpoint out.
    ///
    /// ```
    /// use switchyard_policy_sdk::{ProbeStreak, ProbeThresholds};
    ///
    /// let mut streak = ProbeStreak::default();
    /// streak.record(false, ProbeThresholds { healthy: 1, unhealthy: 1 });
    /// assert!(streak.is_down());
    /// ```
    pub fn is_down(&self) -> bool {
        self.down
    }
}

/// Exports a [`Scorer`] implementation as the component's `scoring` interface.
///
/// Invoke it once, at the crate root of a `cdylib` scorer crate (whose manifest says
/// `[package.metadata.switchyard] world = "health-scorer"`). On targets other than
/// wasm32 it expands to nothing, so the crate also builds natively for tests.
///
/// ```
/// use switchyard_policy_sdk::{
///     Endpoint, EndpointId, Env, Observation, PolicyInfo, Scorer, Setup, Verdict, export_scorer,
/// };
///
/// /// Ejects an endpoint for a second on every connect error.
/// pub struct ConnectErrors;
///
/// impl Scorer for ConnectErrors {
///     fn describe() -> PolicyInfo {
///         PolicyInfo::new("connect-errors", "a connect error ejects for a second")
///     }
///     fn new(_: &Setup) -> Result<Self, String> {
///         Ok(ConnectErrors)
///     }
///     fn set_members(&mut self, _: Vec<Endpoint>) {}
///     fn observe(&mut self, o: &Observation, _: &impl Env) -> Option<Verdict> {
///         o.connect_error.then_some(Verdict::Ejected(1_000))
///     }
///     fn tick(&mut self, _: u64, _: &impl Env) -> Vec<(EndpointId, Verdict)> {
///         Vec::new()
///     }
/// }
///
/// export_scorer!(ConnectErrors);
/// ```
#[macro_export]
macro_rules! export_scorer {
    ($scorer:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::scorer::exports::switchyard::policy::scoring as __s;

            ::std::thread_local! {
                static __SCORER: ::core::cell::RefCell<::core::option::Option<$scorer>> =
                    const { ::core::cell::RefCell::new(None) };
            }

            struct __Export;

            impl __s::Guest for __Export {
                fn describe() -> $crate::PolicyInfo {
                    <$scorer as $crate::Scorer>::describe()
                }
                fn init(setup: $crate::Setup) -> ::core::result::Result<(), String> {
                    let scorer = <$scorer as $crate::Scorer>::new(&setup)?;
                    __SCORER.with(|slot| *slot.borrow_mut() = Some(scorer));
                    Ok(())
                }
                fn set_members(members: ::std::vec::Vec<$crate::Endpoint>) {
                    __SCORER.with(|slot| $crate::__private::with_scorer(slot, |s| <$scorer as $crate::Scorer>::set_members(s, members)))
                }
                fn observe(observation: __s::Observation) -> ::core::option::Option<__s::Verdict> {
                    __SCORER.with(|slot| {
                        $crate::__private::with_scorer(slot, |s| {
                            <$scorer as $crate::Scorer>::observe(s, &observation, &$crate::HostEnv)
                        })
                    })
                }
                fn tick(now_ns: u64) -> ::std::vec::Vec<($crate::EndpointId, __s::Verdict)> {
                    __SCORER.with(|slot| {
                        $crate::__private::with_scorer(slot, |s| {
                            <$scorer as $crate::Scorer>::tick(s, now_ns, &$crate::HostEnv)
                        })
                    })
                }
            }

    $crate::bindings::scorer::__export_scorer_world!(__Export with_types_in $crate::bindings::scorer);
        };
    };
}
