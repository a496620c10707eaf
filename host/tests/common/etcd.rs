//! A real etcd server for the discovery tests: started with a temporary data
//! directory on free loopback ports, stopped (and restarted on the same data) at will,
//! written to with `etcdctl`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) etcd; killed when dropped.
pub struct Etcd {
    child: Option<Child>,
    dir: std::path::PathBuf,
    client: u16,
    peer: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd is installed (apt-get install etcd-server; scripts/test.sh does)");
        self.child = Some(child);
        let started = Instant::now();
        while !self.ctl(&["endpoint", "health"]).0 {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "etcd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
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
    }
}
