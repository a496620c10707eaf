//! The epoch ticker: advances the engine's epoch, which is what stops a policy call at
//! its deadline, while calls may be running; when none has been for a while, it sleeps
//! until a call wakes it, so an idle proxy is not woken a thousand times a second.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;
use wasmtime::{Engine, EngineWeak};

/// How often the epoch advances while calls may run. A deadline's first check comes
/// one to two ticks after it (see `CpuDeadline`).
pub(crate) const TICK: Duration = Duration::from_millis(1);
/// Ticks past the last deadline of the calls started so far before the ticker sleeps.
const IDLE_AFTER: u64 = 100;
/// Longest sleep when idle: the ticker then checks that its engine still exists.
const IDLE_SLEEP: Duration = Duration::from_secs(1);

/// When the ticker may sleep; shared by the ticker thread and every policy instance.
pub(crate) struct Ticker {
    /// Ticks so far; only the ticker thread writes it.
    ticks: AtomicU64,
    /// The tick by which every call started so far is past its deadline.
    busy_until: AtomicU64,
    /// Whether the ticker sleeps until a call wakes it.
    idle: AtomicBool,
    /// The ticker thread, to wake.
    thread: OnceLock<Thread>,
    /// Longest sleep when idle.
    idle_sleep: Duration,
}

impl Ticker {
    /// Starts ticking `engine`'s epoch on a thread of its own, until the engine is
    /// dropped.
    pub(crate) fn start(engine: &Engine) -> Arc<Self> {
        Self::sleeping_at_most(engine, IDLE_SLEEP)
    }

    /// As [`start`](Self::start), sleeping at most `idle_sleep` when idle.
    fn sleeping_at_most(engine: &Engine, idle_sleep: Duration) -> Arc<Self> {
        let ticker = Arc::new(Self {
            ticks: AtomicU64::new(0),
            busy_until: AtomicU64::new(0),
            idle: AtomicBool::new(false),
            thread: OnceLock::new(),
            idle_sleep,
        });
        let weak = engine.weak();
        let running = Arc::clone(&ticker);
        std::thread::Builder::new()
            .name("policy-epoch".into())
            .spawn(move || running.run(&weak))
            .expect("spawning the policy epoch thread");
        ticker
    }

    /// Before a call that may run for `ticks` ticks: keeps the epoch advancing until
    /// then, waking the ticker if it sleeps. Costs two loads when another call already
    /// keeps it going that long.
    pub(crate) fn busy(&self, ticks: u64) {
        let until = self.ticks.load(Relaxed) + ticks;
        if self.busy_until.load(Relaxed) >= until {
            return;
        }
        self.busy_until.fetch_max(until, SeqCst);
        // Read after the write above, as the ticker writes `idle` before it reads
        // `busy_until`: either it sees this call, or this call sees it idle.
        if self.idle.load(SeqCst)
            && let Some(thread) = self.thread.get()
        {
            thread.unpark();
        }
    }

    fn run(&self, engine: &EngineWeak) {
        let _ = self.thread.set(std::thread::current());
        while let Some(engine) = engine.upgrade() {
            engine.increment_epoch();
            drop(engine);
            let tick = self.ticks.fetch_add(1, Relaxed) + 1;
            let quiet = || tick > self.busy_until.load(SeqCst).saturating_add(IDLE_AFTER);
            if !quiet() {
                std::thread::sleep(TICK);
                continue;
            }
            self.idle.store(true, SeqCst);
            if quiet() {
                std::thread::park_timeout(self.idle_sleep);
            }
            self.idle.store(false, SeqCst);
        }
    }

    /// Whether the ticker sleeps until a call wakes it.
    #[cfg(test)]
    fn is_idle(&self) -> bool {
        self.idle.load(SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn until(what: &str, done: impl Fn() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(10), "never {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn sleeps_when_no_call_runs_and_ticks_again_for_one() {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).unwrap();
        // Asleep, it would stay so for a minute unless the call below wakes it.
        let ticker = Ticker::sleeping_at_most(&engine, Duration::from_secs(60));
        until("idle", || ticker.is_idle());
        let asleep = ticker.ticks.load(SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            ticker.ticks.load(SeqCst) <= asleep + 1,
            "an idle ticker does not tick every {TICK:?}"
        );
        ticker.busy(50);
        until("ticking again", || ticker.ticks.load(SeqCst) >= asleep + 50);
        until("idle again", || ticker.is_idle());
    }
}
