//! A real etcd server for the discovery tests: started with a temporary data
//! directory on free loopback ports, stopped (and restarted on the same data) at will,
//! written to with `etcdctl`.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A running (or stopped) etcd; killed when dropped.
pub struct Etcd {
    child: Option<Child>,
    dir: std::path::PathBuf,
    client: u16,
    peer: u16,
}

/// A loopback port nothing listens on, chosen below Linux's ephemeral range (32768
/// and up): etcd binds it later, maybe seconds later, and a port from that range could
/// meanwhile become the local end of one of the many connections the tests make.
fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(7_919) % SPAN;
    loop {
        let port = (FIRST + (offset + NEXT.fetch_add(1, Relaxed)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Etcd {
    /// Starts a fresh etcd and waits until it answers.
    pub fn start() -> Self {
        let mut etcd = Self::stopped();
        etcd.resume();
        etcd
    }

    /// One not started yet: its ports are chosen, nothing listens on them until
    /// [`resume`](Self::resume).
    pub fn stopped() -> Self {
        Self {
            child: None,
            dir: super::temp_dir("etcd"),
            client: free_port(),
            peer: free_port(),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }

    /// Starts it again on the same data and ports, and waits until it answers.
    pub fn resume(&mut self) {
        assert!(self.child.is_none());
        let peer = format!("http://127.0.0.1:{}", self.peer);
        let child = Command::new("etcd")
            .args([
                "--name",
                "test",
                "--data-dir",
                self.dir.to_str().unwrap(),
                "--listen-client-urls",
                &self.url(),
                "--advertise-client-urls",
                &self.url(),
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--initial-cluster",
                &format!("test={peer}"),
                "--log-level",
                "error",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.log()).unwrap())
            .spawn()
            .expect("etcd is installed (apt-get install etcd-server; scripts/test.sh does)");
        self.child = Some(child);
        let started = Instant::now();
        while !self.ctl(&["endpoint", "health"]).0 {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "etcd did not start on {} (peer port {}): {}",
                self.url(),
                self.peer,
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where etcd's errors go: beside its data directory.
    fn log(&self) -> std::path::PathBuf {
        self.dir.with_extension("log")
    }

    /// Kills it (SIGKILL); its data stays for [`resume`](Self::resume).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `etcdctl` against it: success and stdout.
    pub fn ctl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(self.url())
            .arg("--dial-timeout=1s")
            .args(args)
            .output()
            .expect("etcdctl is installed (apt-get install etcd-client; scripts/test.sh does)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// `etcdctl put KEY VALUE`, which must succeed.
    pub fn put(&self, key: &str, value: &str) {
        let (ok, out) = self.ctl(&["put", key, value]);
        assert!(ok, "etcdctl put {key}: {out}");
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.log());
    }
}
