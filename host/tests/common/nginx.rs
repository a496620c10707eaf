//! A real nginx, started by a test with a configuration of its own, stopped when
//! dropped.

use super::daemon::Daemon;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running nginx.
pub struct Nginx {
    _daemon: Daemon,
    dir: PathBuf,
}

/// A free port on 127.0.0.1 (bound and let go: another may take it before nginx).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Nginx {
    /// Starts nginx in `dir` with `servers` (`server { ... }` blocks) in its `http`
    /// block, and waits (10 s at most) until each of `ports` accepts connections.
    pub fn start(dir: &Path, servers: &str, ports: &[u16]) -> Self {
        let d = dir.display();
        let conf = format!(
            "worker_processes 1;\nerror_log {d}/nginx-error.log;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d};\n proxy_temp_path {d};\n\
             fastcgi_temp_path {d};\n uwsgi_temp_path {d};\n scgi_temp_path {d};\n{servers}\n}}\n"
        );
        let file = dir.join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let mut command = Command::new(nginx_binary());
        command
            .args(["-p", &d.to_string(), "-c", &file.display().to_string()])
            .args(["-g", "daemon off;"]);
        let log = || std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default();
        Self {
            _daemon: Daemon::start(command, ports, "apt nginx-light", log),
            dir: dir.to_path_buf(),
        }
    }

    /// Its error log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nginx-error.log")).unwrap_or_default()
    }
}

/// nginx on the PATH, or where Debian puts it.
fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}
