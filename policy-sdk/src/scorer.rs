//! Health-scoring policies: observations in, verdicts out.

use crate::{Config, Endpoint, EndpointId, Env, PolicyInfo, Setup};

pub use crate::bindings::scorer::exports::switchyard::policy::scoring::{
    Observation, Source, Verdict,
};

/// A health-scoring policy: one instance per cluster. The proxy hands it every probe
/// result and request outcome of the cluster's endpoints; its verdicts decide which
/// endpoints the cluster's balancer sees as healthy, degraded (with a weight factor) or
/// unavailable.
pub trait Scorer: Sized + 'static {
    /// Name, one-line description and the configuration keys the scorer reads.
    fn describe() -> PolicyInfo;

    /// Creates the instance from its setup (cluster, local zone, `health_config`). An
    /// error is shown to the operator and the scorer is not loaded.
    fn new(setup: &Setup) -> Result<Self, String>;

    /// Receives the cluster's membership, after `new` and on every change.
    fn set_members(&mut self, members: Vec<Endpoint>);

    /// Takes one observation; answers a verdict for its endpoint when it changes.
    fn observe(&mut self, observation: &Observation, env: &impl Env) -> Option<Verdict>;

    /// Called about once a second: verdicts that changed without an observation (an
    /// ejection that ran out, a cluster-wide comparison).
    fn tick(&mut self, now_ns: u64, env: &impl Env) -> Vec<(EndpointId, Verdict)>;
}

/// Consecutive-probe thresholds: `unhealthy` failed probes in a row take an endpoint
/// out, `healthy` passing ones bring it back. The host hands them over from the
/// cluster's `[clusters.health_check]` as the keys in [`KEYS`](Self::KEYS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeThresholds {
    /// Passing probes in a row that bring an endpoint back.
    pub healthy: u32,
    /// Failed probes in a row that take an endpoint out.
    pub unhealthy: u32,
}

impl ProbeThresholds {
    /// The configuration keys the thresholds come in.
    pub const KEYS: [&'static str; 2] = ["healthy_threshold", "unhealthy_threshold"];

    /// Reads the thresholds (2 and 3 when absent); each must be at least 1.
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
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbeStreak {
    failures: u32,
    successes: u32,
    down: bool,
}

impl ProbeStreak {
    /// Counts one probe: `Some(true)` when the endpoint has just gone down,
    /// `Some(false)` when it has just come back, else `None`.
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
    pub fn is_down(&self) -> bool {
        self.down
    }
}

/// Exports a [`Scorer`] implementation as the component's `scoring` interface.
///
/// Invoke it once, at the crate root of a `cdylib` scorer crate. On targets other
/// than wasm32 it expands to nothing, so the crate also builds natively for tests.
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
