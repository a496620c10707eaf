//! Backends in processes of their own, to be killed with SIGKILL: the test binary runs
//! itself with one test selected (`backend_process` at the root of the test binary,
//! whose body is `common::process::serve_if_asked()`) and an address to serve on.

use super::backend;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BACKEND_ENV: &str = "SWITCHYARD_TEST_BACKEND";

/// With `SWITCHYARD_TEST_BACKEND=name@addr` set, serves a named backend there until
/// killed; without it, returns at once.
pub fn serve_if_asked() {
    let Ok(spec) = std::env::var(BACKEND_ENV) else {
        return;
    };
    let (name, addr) = spec.split_once('@').expect("name@addr");
    let name: &'static str = Box::leak(name.to_string().into_boxed_str());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        backend::named_on(name, listener).await;
        std::future::pending::<()>().await;
    });
}

/// A backend in a process of its own, killed with SIGKILL when dropped.
pub struct BackendProcess(std::process::Child);

impl BackendProcess {
    /// Starts backend `name` on `addr` and waits until it accepts connections.
    pub fn start(name: &str, addr: SocketAddr) -> Self {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "backend_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(BACKEND_ENV, format!("{name}@{addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "backend process did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self(child)
    }
}

impl Drop for BackendProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
