//! One live balancer instance: its exports called under the sandbox's deadlines.

use crate::balancer::cluster_policy::Preference;
use crate::balancer::component::PolicyComponent;
use crate::cluster::Membership;
use crate::engine::sandboxed::Sandboxed;
use crate::engine::world::{Balancer, Needs, PolicyInfo, Request, Setup};
use crate::engine::{Fault, PolicyLimits};
use std::sync::Arc;

/// A balancer instance. Not shared: one caller at a time owns it.
pub(crate) struct Instance {
    guest: Sandboxed<Balancer>,
}

impl Instance {
    /// Instantiates `component` under `limits`; `membership` answers the load imports
    /// until the first `sync`.
    pub(crate) fn start(
        component: &PolicyComponent,
        limits: &PolicyLimits,
        membership: Arc<Membership>,
    ) -> Result<Self, Fault> {
        let pre = &component.pre;
        let guest = Sandboxed::start(
            pre.engine(),
            &component.ticker,
            &component.log,
            limits,
            membership,
            |store| pre.instantiate(store),
        )?;
        Ok(Self { guest })
    }

    /// Calls `describe`.
    pub(crate) fn describe(&mut self) -> Result<PolicyInfo, Fault> {
        let deadline = self.guest.limits().setup_deadline;
        self.guest.call(deadline, |p, s| {
            p.switchyard_policy_balancing().call_describe(s)
        })
    }

    /// Calls `init`; the inner error is the policy's refusal of its configuration.
    pub(crate) fn init(&mut self, setup: &Setup) -> Result<Result<Needs, String>, Fault> {
        let deadline = self.guest.limits().setup_deadline;
        self.guest.call(deadline, |p, s| {
            p.switchyard_policy_balancing().call_init(s, setup)
        })
    }

    /// Pushes `membership` unless this instance has it already.
    pub(crate) fn sync(&mut self, membership: &Arc<Membership>) -> Result<(), Fault> {
        self.guest.sync(membership, |p, s, endpoints| {
            p.switchyard_policy_balancing()
                .call_set_members(s, endpoints)
        })
    }

    /// The membership last pushed: the one this instance's answers refer to.
    pub(crate) fn membership(&self) -> &Arc<Membership> {
        self.guest.membership()
    }

    /// Calls `save-state`: what this instance hands its successor.
    pub(crate) fn save_state(&mut self) -> Result<Vec<u8>, Fault> {
        let deadline = self.guest.limits().setup_deadline;
        self.guest.call(deadline, |p, s| {
            p.switchyard_policy_balancing().call_save_state(s)
        })
    }

    /// Calls `restore-state` with what a predecessor saved.
    pub(crate) fn restore_state(&mut self, state: &[u8]) -> Result<(), Fault> {
        let deadline = self.guest.limits().setup_deadline;
        self.guest.call(deadline, |p, s| {
            p.switchyard_policy_balancing().call_restore_state(s, state)
        })
    }

    /// Calls `pick` under the pick deadline; the answer's ids in order.
    pub(crate) fn pick(&mut self, request: &Request) -> Result<Preference, Fault> {
        let deadline = self.guest.limits().pick_deadline;
        let answer = self.guest.call(deadline, |p, s| {
            p.switchyard_policy_balancing().call_pick(s, request)
        })?;
        let (a, b, c, d) = answer.ids;
        match usize::from(answer.len) {
            len @ 0..=4 => Ok(Preference::new([a, b, c, d].into_iter().take(len))),
            len => Err(Fault::InvalidAnswer(format!(
                "a preference of length {len}; at most 4 fit"
            ))),
        }
    }
}
