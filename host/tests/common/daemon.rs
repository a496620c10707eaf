//! A real server program (nginx, redis-server, HAProxy) started by a test, stopped
//! when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct Daemon {
    child: Child,
    name: String,
}

impl Daemon {
    /// Runs `command` (its output discarded), and waits (10 s at most) until each of
    /// `ports` on 127.0.0.1 accepts connections; a failure says `hint` (where the
    /// program comes from) and, from `log`, what it wrote.
    pub fn start(
        mut command: Command,
        ports: &[u16],
        hint: &str,
        log: impl Fn() -> String,
    ) -> Self {
        let name = command.get_program().to_string_lossy().into_owned();
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("running {name} ({hint}): {e}"));
        let mut daemon = Self { child, name };
        let started = Instant::now();
        for port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                let exited = daemon.child.try_wait().ok().flatten();
                assert!(
                    exited.is_none() && started.elapsed() < Duration::from_secs(10),
                    "{} did not listen on {port} (exit: {exited:?}): {}",
                    daemon.name,
                    log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        daemon
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
