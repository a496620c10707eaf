//! The process signals the long-running commands answer to, installed before anything
//! starts serving so that a signal sent as soon as the proxy is reachable is never lost
//! to its default action (which would kill the process).

use tokio::signal::unix::{Signal, SignalKind, signal};

/// What a signal asks for.
pub(crate) enum Asked {
    /// SIGINT or SIGTERM: drain and exit.
    Stop,
    /// SIGHUP: rescan the policy directory.
    Rescan,
}

/// Handlers for SIGINT, SIGTERM and SIGHUP.
pub(crate) struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    /// Installs the handlers; call inside a tokio runtime context.
    pub(crate) fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal received.
    pub(crate) async fn next(&mut self) -> Asked {
        tokio::select! {
            _ = self.interrupt.recv() => Asked::Stop,
            _ = self.terminate.recv() => Asked::Stop,
            _ = self.hangup.recv() => Asked::Rescan,
        }
    }

    /// The next SIGINT or SIGTERM; SIGHUPs before it are ignored.
    pub(crate) async fn stop(&mut self) {
        while let Asked::Rescan = self.next().await {}
    }
}
