//! The rollout judge: about once a second, every staged candidate is judged by its
//! clusters' rules, and promoted or rolled back when they decide (see
//! [`PolicyRegistry::judge_rollouts`]).

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;
use switchyard_policy::PolicyRegistry;
use switchyard_policy::niceness::lower_priority;

/// How often rollouts are judged.
const JUDGE_EVERY: Duration = Duration::from_secs(1);

/// The running judge; dropping it stops its thread.
pub struct RolloutJudge {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RolloutJudge {
    /// Starts judging the rollouts of `registry`.
    pub fn start(registry: Arc<PolicyRegistry>) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("rollout-judge".into())
            .spawn(move || {
                lower_priority(false);
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(JUDGE_EVERY) {
                    registry.judge_rollouts();
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for RolloutJudge {
    fn drop(&mut self) {
        // Dropping the sender ends the thread's wait at once.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
