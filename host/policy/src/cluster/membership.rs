//! Immutable membership snapshots.

use super::EndpointLoad;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use switchyard_policy_sdk::index_below;

/// An endpoint's id within its cluster (the WIT `endpoint-id`).
pub type EndpointId = u32;

/// The host's view of an endpoint's health (the WIT `health`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Fit to receive traffic.
    Healthy,
    /// Fit, with a lowered weight factor.
    Degraded,
    /// Not to be chosen while anything else is available.
    Unavailable,
}

impl Health {
    /// Every state, best first.
    pub const ALL: [Health; 3] = [Health::Healthy, Health::Degraded, Health::Unavailable];

    /// `healthy`, `degraded` or `unavailable`, as the admin API shows it.
    pub fn label(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Unavailable => "unavailable",
        }
    }
}

/// One endpoint of a cluster.
#[derive(Clone, Debug)]
pub struct Member {
    /// Stable id within the cluster.
    pub id: EndpointId,
    /// Where to connect.
    pub socket: SocketAddr,
    /// `socket` as text, as policies see it.
    pub address: String,
    /// Configured weight (≥ 1).
    pub weight: u32,
    /// Slow-start / degradation multiplier in (0, 1].
    pub weight_factor: f32,
    /// Locality zone, empty when unknown.
    pub zone: String,
    /// Free-form labels.
    pub metadata: Vec<(String, String)>,
    /// Current health.
    pub health: Health,
    /// Live load figures, shared with the requests that use the endpoint.
    pub load: Arc<EndpointLoad>,
}

impl Member {
    /// A healthy member with weight `weight` and fresh load figures.
    pub fn new(id: EndpointId, socket: SocketAddr, weight: u32) -> Self {
        Self {
            id,
            socket,
            address: socket.to_string(),
            weight: weight.max(1),
            weight_factor: 1.0,
            zone: String::new(),
            metadata: Vec::new(),
            health: Health::Healthy,
            load: Arc::default(),
        }
    }
}

/// Hashes endpoint ids (small integers) with one multiplication.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Ids to positions in a membership: a table by id when the ids are dense (the usual
/// case: the proxy numbers a cluster's endpoints in order, so a lookup reads four
/// bytes), else a hash map.
#[derive(Debug)]
enum IdIndex {
    /// Position by id; `u32::MAX` where no member has the id.
    Dense(Vec<u32>),
    Sparse(HashMap<EndpointId, usize, BuildHasherDefault<IdHasher>>),
}

impl IdIndex {
    fn new(members: &[Member]) -> Self {
        let largest = members.iter().map(|m| m.id as usize).max().unwrap_or(0);
        if largest < 4 * members.len() + 1_024 && members.len() < u32::MAX as usize {
            let mut table = vec![u32::MAX; largest + 1];
            for (i, m) in members.iter().enumerate() {
                table[m.id as usize] = i as u32;
            }
            Self::Dense(table)
        } else {
            Self::Sparse(members.iter().enumerate().map(|(i, m)| (m.id, i)).collect())
        }
    }

    fn get(&self, id: EndpointId) -> Option<usize> {
        match self {
            Self::Dense(table) => match table.get(id as usize) {
                Some(&i) if i != u32::MAX => Some(i as usize),
                _ => None,
            },
            Self::Sparse(map) => map.get(&id).copied(),
        }
    }
}

/// Every membership snapshot gets a distinct generation number.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// A cluster's members at one moment, indexed by id.
#[derive(Debug)]
pub struct Membership {
    generation: u64,
    members: Vec<Member>,
    index: IdIndex,
    routable: Vec<usize>,
    /// The members' loads by index, side by side: what a pick reads of a member
    /// without touching the rest of it.
    loads: Vec<Arc<EndpointLoad>>,
}

impl Membership {
    /// A snapshot of `members` (ids must be distinct).
    pub fn new(members: Vec<Member>) -> Self {
        let index = IdIndex::new(&members);
        let mut routable: Vec<usize> = (0..members.len())
            .filter(|&i| members[i].health != Health::Unavailable)
            .collect();
        if routable.is_empty() {
            routable = (0..members.len()).collect();
        }
        let loads = members.iter().map(|m| Arc::clone(&m.load)).collect();
        Self {
            generation: GENERATION.fetch_add(1, Relaxed),
            members,
            index,
            routable,
            loads,
        }
    }

    /// `n` healthy endpoints of weight 1 on 127.0.0.1, ids `0..n`, for smoke tests.
    pub fn synthetic(n: usize) -> Self {
        Self::new(
            (0..n)
                .map(|i| {
                    let port = 10_000 + (i % 50_000) as u16;
                    Member::new(i as EndpointId, SocketAddr::from(([127, 0, 0, 1], port)), 1)
                })
                .collect(),
        )
    }

    /// Distinct for every snapshot, and larger for a later one; lets a policy
    /// instance see that it is stale.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// All members, in order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The load of the member at `index` (panics past the end, as `members()[index]`).
    pub fn load_at(&self, index: usize) -> &EndpointLoad {
        &self.loads[index]
    }

    /// The member with `id`, if any.
    pub fn get(&self, id: EndpointId) -> Option<&Member> {
        self.index.get(id).map(|i| &self.members[i])
    }

    /// The position of the member with `id` in [`members`](Self::members), if any.
    pub fn index_of(&self, id: EndpointId) -> Option<usize> {
        self.index.get(id)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Positions of the members fit for traffic (all of them when none is).
    pub fn routable(&self) -> &[usize] {
        &self.routable
    }

    /// Two routable members (their indices) chosen uniformly from two random draws:
    /// distinct when there are two or more; none when there are no members.
    pub fn pair(&self, draws: [u64; 2]) -> Option<[usize; 2]> {
        let n = self.routable.len();
        let a = index_below(draws[0], n.checked_sub(1)? + 1);
        // `a` plus 1 to n - 1 (wrapping), which is never `a`: a subtraction, not a
        // division.
        let b = match n {
            1 => a,
            _ => match a + 1 + index_below(draws[1], n - 1) {
                b if b >= n => b - n,
                b => b,
            },
        };
        Some([self.routable[a], self.routable[b]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_by_id_and_routes_around_unavailable() {
        let a = "127.0.0.1:1".parse().unwrap();
        let b = "127.0.0.1:2".parse().unwrap();
        let mut members = vec![Member::new(7, a, 1), Member::new(42, b, 2)];
        members[0].health = Health::Unavailable;
        let m = Membership::new(members);
        assert_eq!(m.get(42).unwrap().address, "127.0.0.1:2");
        assert!(m.get(8).is_none());
        assert_eq!(m.routable(), &[1]);
        assert_ne!(m.generation(), Membership::synthetic(1).generation());
    }

    #[test]
    fn dense_and_sparse_ids_are_both_found() {
        let at = |id, port| Member::new(id, SocketAddr::from(([127, 0, 0, 1], port)), 1);
        let dense = Membership::new(vec![at(3, 1), at(0, 2), at(5, 3)]);
        assert!(matches!(dense.index, IdIndex::Dense(_)));
        let sparse = Membership::new(vec![at(3, 1), at(0, 2), at(4_000_000_000, 3)]);
        assert!(matches!(sparse.index, IdIndex::Sparse(_)));
        for m in [dense, sparse] {
            assert_eq!(m.index_of(3), Some(0));
            assert_eq!(m.index_of(0), Some(1));
            assert_eq!(m.index_of(1), None);
            assert_eq!(m.index_of(u32::MAX), None);
            assert_eq!(m.load_at(1) as *const _, &*m.members()[1].load as *const _);
        }
        assert_eq!(Membership::new(Vec::new()).index_of(0), None);
    }

    #[test]
    fn pairs_are_distinct_routable_and_uniform() {
        let at = |id, port| Member::new(id, SocketAddr::from(([127, 0, 0, 1], port)), 1);
        let mut members: Vec<Member> = (0..5).map(|i| at(i, 1 + i as u16)).collect();
        members[2].health = Health::Unavailable;
        let m = Membership::new(members);
        let mut counts = [[0u32; 5]; 5];
        let mut state = 1;
        for _ in 0..40_000 {
            let mut draw = || {
                let (next, value) = switchyard_policy_sdk::wyrand(state);
                state = next;
                value
            };
            let [a, b] = m.pair([draw(), draw()]).unwrap();
            assert_ne!(a, b);
            counts[a][b] += 1;
        }
        // Each of the 12 ordered pairs of the 4 routable members: 1/12 of the draws.
        for (a, row) in counts.iter().enumerate() {
            for (b, &count) in row.iter().enumerate() {
                if a == 2 || b == 2 || a == b {
                    assert_eq!(count, 0, "{a} {b}");
                } else {
                    assert!((count as i32 - 40_000 / 12).abs() < 300, "{a} {b}: {count}");
                }
            }
        }
        // The extremes of the draws stay in range.
        assert_eq!(m.pair([u64::MAX, u64::MAX]), Some([4, 3]));
        assert_eq!(m.pair([0, 0]), Some([0, 1]));
        let one = Membership::new(vec![at(9, 1)]);
        assert_eq!(one.pair([7, 7]), Some([0, 0]));
        assert_eq!(Membership::new(Vec::new()).pair([1, 2]), None);
    }
}
