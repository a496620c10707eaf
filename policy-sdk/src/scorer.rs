//! Health-scoring policies: observations in, verdicts out.

use crate::{Endpoint, EndpointId, Env, PolicyInfo, Setup};

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
                    __SCORER.with(|slot| $crate::__private::with_scorer(slot, |s| s.set_members(members)))
                }
                fn observe(observation: __s::Observation) -> ::core::option::Option<__s::Verdict> {
                    __SCORER.with(|slot| {
                        $crate::__private::with_scorer(slot, |s| s.observe(&observation, &$crate::HostEnv))
                    })
                }
                fn tick(now_ns: u64) -> ::std::vec::Vec<($crate::EndpointId, __s::Verdict)> {
                    __SCORER.with(|slot| {
                        $crate::__private::with_scorer(slot, |s| s.tick(now_ns, &$crate::HostEnv))
                    })
                }
            }

    $crate::bindings::scorer::__export_scorer_world!(__Export with_types_in $crate::bindings::scorer);
        };
    };
}
