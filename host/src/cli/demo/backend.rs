//! The demo's backends: HTTP/1.1 and h2c servers on 127.0.0.1 that answer every
//! request with their name after a fixed delay, and can be killed and revived.

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;

/// A running backend: it serves until [`kill`](Self::kill)ed, or for as long as the
/// runtime runs once this handle is dropped.
pub struct Backend {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl Backend {
    /// Starts a backend named `name` on `addr` (port 0: any free port).
    pub async fn start(
        addr: SocketAddr,
        name: &'static str,
        delay: Duration,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve(listener, name, delay, stopped));
        Ok(Self { addr, stop })
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes its listener and every connection it has.
    pub fn kill(self) {
        let _ = self.stop.send(true);
    }
}

/// A backend on 127.0.0.1 that answers every request with its name after `delay`, for
/// as long as the runtime runs. Used by the demo and the benches.
pub async fn backend(name: &'static str, delay: Duration) -> anyhow::Result<SocketAddr> {
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    Ok(Backend::start(any_port, name, delay).await?.addr())
}

/// Accepts and serves connections until `stopped` says so (a sender dropped without a
/// word leaves it serving).
async fn serve(
    listener: tokio::net::TcpListener,
    name: &'static str,
    delay: Duration,
    stopped: watch::Receiver<bool>,
) {
    loop {
        let mut stop = stopped.clone();
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            Ok(()) = stop.changed() => return,
        };
        let service = service_fn(move |_request| async move {
            // Even a zero sleep waits for the timer's next millisecond tick.
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(format!(
                "{name}\n"
            )))))
        });
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                // Killed: the connection is dropped with the task.
                Ok(()) = stop.changed() => {}
            }
        });
    }
}
