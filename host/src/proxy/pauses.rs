//! A limit on pauses in a stream of frames: the timer is made at the first pause and
//! pushed back only when a pause follows a frame, so that a body that keeps moving
//! costs a reset per pause, not per frame.

use std::pin::Pin;
use std::task::Context;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Watches the pauses of one stream.
pub(crate) struct Pauses {
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// A frame came since the timer was last set.
    moved: bool,
}

impl Pauses {
    /// Pauses of up to `limit` are allowed.
    pub(crate) fn new(limit: Duration) -> Self {
        Self {
            limit,
            timer: None,
            moved: false,
        }
    }

    /// The longest pause allowed.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }

    /// A frame came.
    pub(crate) fn moved(&mut self) {
        self.moved = true;
    }

    /// The stream is waiting (`poll` answered pending): whether it has waited longer
    /// than allowed. Otherwise `cx` is woken when it has.
    pub(crate) fn exceeded(&mut self, cx: &mut Context<'_>) -> bool {
        let limit = self.limit;
        let timer = match &mut self.timer {
            Some(timer) => {
                if self.moved {
                    timer.as_mut().reset(Instant::now() + limit);
                }
                timer
            }
            None => self.timer.insert(Box::pin(tokio::time::sleep(limit))),
        };
        self.moved = false;
        timer.as_mut().poll(cx).is_ready()
    }
}
