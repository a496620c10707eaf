//! The state each policy instance's store carries, and the limits it runs under.

use crate::cluster::Membership;
use crate::engine::log::PolicyLog;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Limits every call into a policy runs under, and when its faults quarantine it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyLimits {
    /// Deadline of one pick.
    pub pick_deadline: Duration,
    /// Deadline of instantiation, `init`, `set-members` and state hand-off, which may
    /// rebuild tables.
    pub setup_deadline: Duration,
    /// Cap on each instance's linear memory, in bytes.
    pub memory_bytes: usize,
    /// This many faults within `fault_window` quarantine the policy version.
    pub quarantine_after: u32,
    /// The window over which faults are counted.
    pub fault_window: Duration,
}

impl Default for PolicyLimits {
    fn default() -> Self {
        Self {
            pick_deadline: Duration::from_millis(1),
            setup_deadline: Duration::from_millis(100),
            memory_bytes: 16 << 20,
            quarantine_after: 5,
            fault_window: Duration::from_secs(10),
        }
    }
}

/// Caps an instance's memory, remembering whether the cap was hit so that the trap it
/// causes is reported as a memory fault.
pub(crate) struct MemoryCap {
    limit: usize,
    pub(crate) exceeded: bool,
}

impl MemoryCap {
    /// The cap in bytes.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            wasmtime::bail!(
                "policy memory cap of {} bytes exceeded (asked for {desired})",
                self.limit
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Turns the epoch deadline, which counts wall-clock time, into a CPU-time deadline, so
/// that a call descheduled by a busy machine is not taken for a runaway.
///
/// When a call's epoch deadline passes, the first check notes the thread's CPU time
/// and lets the call go on; later checks (every tick) interrupt it once it has used
/// `budget` more CPU. A runaway is stopped after about twice its deadline; a call that
/// was merely waiting for a core finishes.
pub(crate) struct CpuDeadline {
    budget: Duration,
    cpu_at_deadline: Option<Duration>,
}

impl CpuDeadline {
    /// Arms the deadline for a new call.
    pub(crate) fn arm(&mut self, budget: Duration) {
        self.budget = budget;
        self.cpu_at_deadline = None;
    }

    /// Called when the epoch deadline passes: true when the call must stop.
    pub(crate) fn expired(&mut self) -> bool {
        let now = thread_cpu_time();
        match self.cpu_at_deadline {
            None => {
                self.cpu_at_deadline = Some(now);
                false
            }
            Some(start) => now.saturating_sub(start) >= self.budget,
        }
    }
}

/// CPU time used by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; the clock id is valid on
    // every Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::MAX;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Everything a policy instance's host functions can reach: no file, no socket.
pub(crate) struct StoreState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryCap,
    /// The membership last pushed to this instance; `load` imports read it.
    pub(crate) membership: Arc<Membership>,
    pub(crate) log: Arc<PolicyLog>,
    pub(crate) deadline: CpuDeadline,
    /// Per metric the policy declared, its slot in the cluster's catalog: what the
    /// `reported` import reads.
    pub(crate) metric_slots: Arc<[usize]>,
    rng: u64,
}

impl StoreState {
    pub(crate) fn new(
        log: Arc<PolicyLog>,
        membership: Arc<Membership>,
        limits: &PolicyLimits,
    ) -> Self {
        Self {
            wasi: crate::engine::wasi::capability_free_ctx(&log),
            table: ResourceTable::new(),
            memory: MemoryCap {
                limit: limits.memory_bytes,
                exceeded: false,
            },
            membership,
            log,
            deadline: CpuDeadline {
                budget: limits.pick_deadline,
                cpu_at_deadline: None,
            },
            metric_slots: Arc::new([]),
            rng: seed(),
        }
    }

    /// wyrand: fast, good enough for balancing decisions.
    pub(crate) fn next_random(&mut self) -> u64 {
        let (state, value) = switchyard_policy_sdk::wyrand(self.rng);
        self.rng = state;
        value
    }
}

/// A distinct seed for every store (replayable when simulating).
fn seed() -> u64 {
    if let Some(seed) = crate::engine::clock::simulated_seed() {
        return seed;
    }
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    switchyard_policy_sdk::mix64(nanos ^ COUNTER.fetch_add(1, Relaxed).rotate_left(32))
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
