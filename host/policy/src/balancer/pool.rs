//! The idle instances of one cluster policy, and the hand-over of a new membership to
//! them off the request path.
//!
//! A hand-over pushes the membership into one idle instance at a time (for 10,000
//! endpoints each push takes milliseconds). While it runs, a pick that takes an
//! instance not reached yet answers from the membership that instance has, rather than
//! waiting for the push; the hand-over keeps going until every live instance has it.
//!
//! Picks take the instance returned last (a stack), so a caller alone keeps using one
//! warm instance, and a round-robin on one worker stays in order; the hand-over takes
//! its instances from the other end.

use crate::balancer::instance::Instance;
use crate::cluster::Membership;
use crate::engine::Fault;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Longest a hand-over waits for instances in use to come back; one still out after
/// this syncs itself on its next pick.
const HANDOVER_LIMIT: Duration = Duration::from_secs(1);
/// Pause of a hand-over that finds no instance left to reach idle.
const WAIT_FOR_RETURN: Duration = Duration::from_micros(20);

/// A pool of idle instances; it counts every instance it made, idle or in use.
/// Instances are boxed so that taking and returning one moves a pointer; the lock is
/// held for just that.
pub(crate) struct InstancePool {
    idle: Mutex<VecDeque<Box<Pooled>>>,
    capacity: usize,
    census: Arc<Census>,
    handovers: AtomicUsize,
}

/// The pool's instances, idle or in use, and how many of them the running hand-over
/// has reached; kept right when instances are dropped anywhere.
#[derive(Default)]
struct Census {
    live: AtomicUsize,
    /// Generation of the membership being handed over.
    generation: AtomicU64,
    /// Live instances that hand-over has reached.
    reached: AtomicUsize,
}

/// An instance of the pool, idle or taken.
pub(crate) struct Pooled {
    /// The instance.
    pub(crate) instance: Instance,
    /// Generation of the membership whose hand-over last reached it.
    reached: u64,
    census: Arc<Census>,
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if self.reached == self.census.generation.load(SeqCst) {
            // Never below zero: before any hand-over both generations are 0, and a new
            // hand-over may reset the count between the load above and this.
            let _ = self
                .census
                .reached
                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        }
        self.census.live.fetch_sub(1, SeqCst);
    }
}

/// While held, picks may answer from an instance's older membership.
pub(crate) struct HandingOver<'a>(&'a AtomicUsize);

impl Drop for HandingOver<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

impl InstancePool {
    /// An empty pool keeping at most `capacity` idle instances.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            idle: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            census: Arc::default(),
            handovers: AtomicUsize::new(0),
        }
    }

    /// Counts `instance` as one of the pool's.
    pub(crate) fn adopt(&self, instance: Instance) -> Box<Pooled> {
        self.census.live.fetch_add(1, SeqCst);
        Box::new(Pooled {
            instance,
            reached: 0,
            census: Arc::clone(&self.census),
        })
    }

    /// The idle instance returned last, if there is one.
    pub(crate) fn take(&self) -> Option<Box<Pooled>> {
        self.lock().pop_back()
    }

    /// Returns `pooled` to the idle ones, to be taken next; false (and it is dropped)
    /// when the pool is full.
    pub(crate) fn put(&self, pooled: Box<Pooled>) -> bool {
        self.insert(pooled, VecDeque::push_back)
    }

    /// Adds `pooled` as a spare, taken after every other idle instance; false (and it
    /// is dropped) when the pool is full.
    pub(crate) fn put_spare(&self, pooled: Box<Pooled>) -> bool {
        self.insert(pooled, VecDeque::push_front)
    }

    fn insert(&self, pooled: Box<Pooled>, at: fn(&mut VecDeque<Box<Pooled>>, Box<Pooled>)) -> bool {
        let rejected = {
            let mut idle = self.lock();
            if idle.len() < self.capacity {
                at(&mut idle, pooled);
                None
            } else {
                Some(pooled)
            }
        };
        // Dropped, if at all, outside the lock: a store takes a while to free.
        rejected.is_none()
    }

    /// Idle instances now.
    pub(crate) fn idle(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Box<Pooled>>> {
        // Nothing panics while holding it; a poisoned pool is still a sound pool.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while a hand-over runs: an instance may still have an older membership.
    pub(crate) fn is_handing_over(&self) -> bool {
        self.handovers.load(SeqCst) > 0
    }

    /// Marks a hand-over as begun; take it before publishing the new membership.
    pub(crate) fn begin_handover(&self) -> HandingOver<'_> {
        self.handovers.fetch_add(1, SeqCst);
        HandingOver(&self.handovers)
    }

    /// Pushes `membership` into every instance, one idle one at a time, waiting (up to
    /// [`HANDOVER_LIMIT`]) for those in use to come back. An instance that faults is
    /// dropped and its fault given to `faulted`.
    pub(crate) fn hand_over(&self, membership: &Arc<Membership>, mut faulted: impl FnMut(Fault)) {
        let generation = membership.generation();
        let census = &self.census;
        if census.generation.swap(generation, SeqCst) == generation {
            return; // handed over already
        }
        census.reached.store(0, SeqCst);
        let until = Instant::now() + HANDOVER_LIMIT;
        while census.reached.load(SeqCst) < census.live.load(SeqCst) && Instant::now() < until {
            let next = {
                let mut idle = self.lock();
                let position = idle.iter().position(|p| p.reached != generation);
                position.and_then(|i| idle.remove(i))
            };
            let Some(mut pooled) = next else {
                std::thread::sleep(WAIT_FOR_RETURN);
                continue;
            };
            match pooled.instance.sync(membership) {
                Ok(()) => {
                    pooled.reached = generation;
                    census.reached.fetch_add(1, SeqCst);
                    self.put_spare(pooled);
                }
                Err(fault) => faulted(fault),
            }
        }
    }
}
