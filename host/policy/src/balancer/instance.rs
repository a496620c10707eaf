//! One live balancer instance: its exports called under the sandbox's deadlines, in
//! whichever contract version the component was built against.

use crate::balancer::cluster_policy::Preference;
use crate::balancer::component::{BalancerPre, PolicyComponent};
use crate::cluster::Membership;
use crate::cluster::clock::coarse_now_ns;
use crate::engine::sandboxed::Sandboxed;
use crate::engine::world::{
    self, Balancer, Candidate, Candidates, Delivered, Needs, PolicyInfo, Request, Setup, v0_1,
};
use crate::engine::{Fault, PolicyLimits};
use std::sync::Arc;
use switchyard_policy_sdk::Readings;

/// Most endpoints a `watched` pick receives.
pub(crate) const MAX_WATCHED: usize = 8;

/// The exports of either contract version.
pub(crate) enum Guest {
    /// Contract 0.2.0.
    Current(Balancer),
    /// Contract 0.1.0.
    V0_1(v0_1::Balancer),
}

/// What a pick delivers besides the request's attributes, as the policy's needs asked:
/// candidates, and the catalog slots of its declared metrics.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    /// Whether the needs name headers (a 0.1.0 request then has a list, maybe empty).
    pub(crate) headers: bool,
    /// Which candidates come with a pick.
    pub(crate) candidates: Candidates,
    /// Per declared metric, its slot in the cluster's catalog.
    pub(crate) slots: Arc<[usize]>,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            headers: false,
            candidates: Candidates::None,
            slots: Arc::new([]),
        }
    }
}

/// A balancer instance. Not shared: one caller at a time owns it.
pub(crate) struct Instance {
    guest: Sandboxed<Guest>,
    delivery: Delivery,
    /// What the previous answer asked to watch: the first `watching`.
    watch: [u32; MAX_WATCHED],
    watching: usize,
    /// The readings list of the previous pick, kept for the next (no allocation).
    readings: Vec<f64>,
    /// The random draws of the next two picks' pairs, drawn ahead so that what those
    /// picks read of their endpoints can be fetched into cache before they run.
    ahead: [[u64; 2]; 2],
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
        let mut guest = Sandboxed::start(
            pre.engine(),
            &component.ticker,
            &component.log,
            limits,
            membership,
            |store| match pre {
                BalancerPre::Current(pre) => pre.instantiate(store).map(Guest::Current),
                BalancerPre::V0_1(pre) => pre.instantiate(store).map(Guest::V0_1),
            },
        )?;
        let state = guest.state_mut();
        let ahead = [0; 2].map(|_| [state.next_random(), state.next_random()]);
        Ok(Self {
            guest,
            delivery: Delivery::default(),
            watch: [0; MAX_WATCHED],
            watching: 0,
            readings: Vec::new(),
            ahead,
        })
    }

    /// Calls `describe`.
    pub(crate) fn describe(&mut self) -> Result<PolicyInfo, Fault> {
        let deadline = self.guest.limits().setup_deadline;
        self.guest.call(deadline, |guest, s| match guest {
            Guest::Current(p) => p.switchyard_policy_balancing().call_describe(s),
            Guest::V0_1(p) => p.switchyard_policy_balancing().call_describe(s),
        })
    }

    /// Calls `init`; the inner error is the policy's refusal of its configuration.
    pub(crate) fn init(&mut self, setup: &Setup) -> Result<Result<Needs, String>, Fault> {
        let deadline = self.guest.limits().setup_deadline;
        self.guest.call(deadline, |guest, s| match guest {
            Guest::Current(p) => p.switchyard_policy_balancing().call_init(s, setup),
            Guest::V0_1(p) => Ok(p
                .switchyard_policy_balancing()
                .call_init(s, setup)?
                .map(Needs::from)),
        })
    }

    /// Sets what every pick delivers, and what the `reported` import reads.
    pub(crate) fn deliver(&mut self, delivery: &Delivery) {
        self.guest.state_mut().metric_slots = Arc::clone(&delivery.slots);
        self.delivery = delivery.clone();
    }

    /// Pushes `membership` unless this instance has it already.
    pub(crate) fn sync(&mut self, membership: &Arc<Membership>) -> Result<(), Fault> {
        self.guest
            .sync(membership, |guest, s, endpoints| match guest {
                Guest::Current(p) => p
                    .switchyard_policy_balancing()
                    .call_set_members(s, endpoints),
                Guest::V0_1(p) => p
                    .switchyard_policy_balancing()
                    .call_set_members(s, endpoints),
            })
    }

    /// The membership last pushed: the one this instance's answers refer to.
    pub(crate) fn membership(&self) -> &Arc<Membership> {
        self.guest.membership()
    }

    /// Calls `save-state`: what this instance hands its successor.
    pub(crate) fn save_state(&mut self) -> Result<Vec<u8>, Fault> {
        let deadline = self.guest.limits().setup_deadline;
        self.guest.call(deadline, |guest, s| match guest {
            Guest::Current(p) => p.switchyard_policy_balancing().call_save_state(s),
            Guest::V0_1(p) => p.switchyard_policy_balancing().call_save_state(s),
        })
    }

    /// Calls `restore-state` with what a predecessor saved.
    pub(crate) fn restore_state(&mut self, state: &[u8]) -> Result<(), Fault> {
        let deadline = self.guest.limits().setup_deadline;
        self.guest.call(deadline, |guest, s| match guest {
            Guest::Current(p) => p.switchyard_policy_balancing().call_restore_state(s, state),
            Guest::V0_1(p) => p.switchyard_policy_balancing().call_restore_state(s, state),
        })
    }

    /// Calls `pick` under the pick deadline, with the candidates the policy asked for
    /// added to `request`; the answer's ids in order.
    pub(crate) fn pick(&mut self, request: &mut Request) -> Result<Preference, Fault> {
        if !matches!(self.delivery.candidates, Candidates::None) {
            self.add_candidates(request);
        }
        let deadline = self.guest.limits().pick_deadline;
        let answer = self.guest.call(deadline, |guest, s| match guest {
            Guest::Current(p) => p.switchyard_policy_balancing().call_pick(s, request),
            Guest::V0_1(p) => Ok(v0_1::preference(
                p.switchyard_policy_balancing()
                    .call_pick(s, &v0_1::request(request, self.delivery.headers))?,
            )),
        });
        if let Delivered::PairRead((_, _, readings)) | Delivered::Watched((_, readings)) =
            &mut request.delivered
        {
            self.readings = std::mem::take(readings);
        }
        let answer = answer?;
        let watching = usize::from(answer.watch_len);
        if watching > MAX_WATCHED {
            return Err(Fault::InvalidAnswer(format!(
                "a watch list of {watching} endpoints; at most {MAX_WATCHED} are allowed"
            )));
        }
        if matches!(self.delivery.candidates, Candidates::Watched) {
            let (w0, w1, w2, w3, w4, w5, w6, w7) = answer.watch;
            self.watch = [w0, w1, w2, w3, w4, w5, w6, w7];
            self.watching = watching;
        }
        let (a, b, c, d) = answer.ids;
        match usize::from(answer.len) {
            len @ 0..=4 => Ok(Preference::new([a, b, c, d].into_iter().take(len))),
            len => Err(Fault::InvalidAnswer(format!(
                "a preference of length {len}; at most 4 fit"
            ))),
        }
    }

    /// Fills `request.delivered` from the membership this instance has: the pair
    /// drawn, or the endpoints watched, with their declared metrics' readings.
    fn add_candidates(&mut self, request: &mut Request) {
        let state = self.guest.state_mut();
        // A pair's draws are made two picks ahead of it.
        let draws = self.ahead[0];
        if matches!(self.delivery.candidates, Candidates::TwoRandom) {
            self.ahead = [self.ahead[1], [state.next_random(), state.next_random()]];
        }
        let membership = &*state.membership;
        let slots = &self.delivery.slots;
        let mut chosen: [usize; MAX_WATCHED] = [0; MAX_WATCHED];
        let count = match self.delivery.candidates {
            Candidates::None => 0,
            Candidates::TwoRandom => {
                prefetch_pairs(membership, self.ahead, slots);
                match membership.pair(draws) {
                    Some(pair) => {
                        chosen[..2].copy_from_slice(&pair);
                        2
                    }
                    None => 0,
                }
            }
            Candidates::Watched => {
                let mut count = 0;
                for id in &self.watch[..self.watching] {
                    if let Some(index) = membership.index_of(*id) {
                        chosen[count] = index;
                        count += 1;
                    }
                }
                count
            }
        };
        if count == 0 {
            return;
        }
        let now = coarse_now_ns();
        let candidate = |index: usize| Candidate {
            index: index as u32,
            figures: world::figures_at(membership.load_at(index), now),
        };
        let chosen = &chosen[..count];
        let mut readings = std::mem::take(&mut self.readings);
        readings.clear();
        for &i in chosen {
            let load = membership.load_at(i);
            for &slot in slots.iter() {
                let reading = world::reading_of(load, slot, now).map(|r| (r.value, r.age_ms));
                Readings::encode(&mut readings, reading);
            }
        }
        request.delivered = match self.delivery.candidates {
            Candidates::TwoRandom if slots.is_empty() => {
                Delivered::Pair((candidate(chosen[0]), candidate(chosen[1])))
            }
            Candidates::TwoRandom => {
                Delivered::PairRead((candidate(chosen[0]), candidate(chosen[1]), readings))
            }
            Candidates::None | Candidates::Watched => {
                Delivered::Watched((chosen.iter().map(|&i| candidate(i)).collect(), readings))
            }
        };
    }
}

/// Hints the CPU to fetch what the coming picks will read: the figures of the pair
/// drawn for the pick after next, and the readings of the next pick's pair (whose
/// figures, fetched a pick ago, say where its readings are).
fn prefetch_pairs(membership: &Membership, ahead: [[u64; 2]; 2], slots: &[usize]) {
    for i in membership.pair(ahead[1]).into_iter().flatten() {
        membership.load_at(i).prefetch_figures();
    }
    if slots.is_empty() {
        return;
    }
    for i in membership.pair(ahead[0]).into_iter().flatten() {
        membership.load_at(i).prefetch_readings(slots);
    }
}
