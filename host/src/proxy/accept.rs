//! Accepting client connections within the process's means: a listener's
//! `max_connections` (over all workers), a share of the process's file descriptors
//! (the rest is kept for upstream connections and the admin API), and running out of
//! descriptors anyway (EMFILE, ENFILE) without spinning and without giving the
//! listener up.
//!
//! A connection over a limit is accepted and closed at once, and counted: the client
//! learns at once instead of waiting in the backlog.

use crate::proxy::listener::{Listener, Refusal};
use crate::proxy::pool;
use arc_swap::ArcSwap;
use std::fs::File;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// Share of the descriptor limit kept from client connections, in percent.
const RESERVE_PERCENT: usize = 5;
/// First and longest pause of an accept loop that ran out of descriptors.
const BACKOFF_FIRST: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// Accept failures are logged at most this often (with how many there were).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The process's file descriptors as the proxy shares them out.
#[derive(Debug)]
pub struct Descriptors {
    /// The soft limit in force.
    pub limit: u64,
    /// What it was when the process started.
    pub started_with: u64,
    /// How many client connections may be open at once, over every listener.
    pub for_clients: usize,
    /// Client connections open now.
    clients: AtomicUsize,
    /// Let go when descriptors run out, so that a waiting connection can be accepted
    /// and closed.
    spare: Spare,
}

/// One descriptor held in reserve (open on `/dev/null`), let go when the process has
/// none left so that one more socket can be accepted.
#[derive(Debug)]
pub struct Spare(Mutex<Option<File>>);

impl Spare {
    /// Holds one descriptor, if one is free.
    pub fn new() -> Self {
        Self(Mutex::new(File::open("/dev/null").ok()))
    }

    /// Lets the descriptor go: whether it held one.
    pub fn release(&self) -> bool {
        self.0.lock().is_ok_and(|mut spare| spare.take().is_some())
    }

    /// Holds a descriptor again, if one is free and it holds none.
    pub fn restore(&self) {
        if let Ok(mut spare) = self.0.lock()
            && spare.is_none()
        {
            *spare = File::open("/dev/null").ok();
        }
    }
}

impl Default for Spare {
    fn default() -> Self {
        Self::new()
    }
}

impl Descriptors {
    /// The process's descriptors, set up on first use: the soft limit raised to the
    /// hard one (if `raise_limit` has not done it yet), and the client connections'
    /// share computed from what is open now — so the first use belongs after
    /// everything else the proxy opens, before clients are accepted.
    pub fn get() -> &'static Descriptors {
        static DESCRIPTORS: OnceLock<Descriptors> = OnceLock::new();
        DESCRIPTORS.get_or_init(|| {
            let (started_with, limit) = raise_limit();
            let open = open_now();
            let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
            let kept = limit_usize.saturating_mul(RESERVE_PERCENT) / 100;
            Descriptors {
                limit,
                started_with,
                for_clients: limit_usize.saturating_sub(kept).saturating_sub(open),
                clients: AtomicUsize::new(0),
                spare: Spare::new(),
            }
        })
    }

    /// Client connections open now, over every listener.
    pub fn clients(&self) -> usize {
        self.clients.load(Relaxed)
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, once: what it was, and what it
/// is now.
pub(crate) fn raise_limit() -> (u64, u64) {
    static RAISED: OnceLock<(u64, u64)> = OnceLock::new();
    *RAISED.get_or_init(raise)
}

fn raise() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return (1024, 1024);
    }
    let before = limit.rlim_cur;
    if limit.rlim_max > limit.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own; raising the soft limit up to the
        // hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return (before, limit.rlim_max);
        }
    }
    (before, before)
}

/// Descriptors open in this process now (0 where `/proc` cannot tell).
fn open_now() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |entries| entries.count())
}

/// A client connection counted against its listener and the process; uncounted when
/// dropped.
pub(crate) struct Admitted {
    listener: Arc<Listener>,
}

impl Admitted {
    /// What its listener serves.
    pub(crate) fn listener(&self) -> &Arc<Listener> {
        &self.listener
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.listener.stats.open.fetch_sub(1, Relaxed);
        Descriptors::get().clients.fetch_sub(1, Relaxed);
    }
}

/// Counts a new connection in, or says why it must be closed.
fn admit(listener: &Arc<Listener>) -> Result<Admitted, Refusal> {
    let descriptors = Descriptors::get();
    let open = listener.stats.open.fetch_add(1, Relaxed);
    let clients = descriptors.clients.fetch_add(1, Relaxed);
    let refusal = if listener
        .limits
        .max_connections
        .is_some_and(|max| open >= max)
    {
        Some(Refusal::MaxConnections)
    } else if clients >= descriptors.for_clients {
        Some(Refusal::Descriptors)
    } else {
        None
    };
    let admitted = Admitted {
        listener: Arc::clone(listener),
    };
    match refusal {
        Some(reason) => Err(reason),
        None => Ok(admitted),
    }
}

/// Whether an accept failed for want of descriptors (or memory for one).
pub fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Accepts on `socket` until `stop` completes, handing each connection admitted by the
/// listener serving then (a reload may replace it) to `serve`.
pub(crate) async fn accept_loop(
    socket: TcpListener,
    listener: &ArcSwap<Listener>,
    stop: impl Future<Output = ()>,
    mut serve: impl FnMut(TcpStream, SocketAddr, Admitted),
) {
    tokio::pin!(stop);
    let mut backoff = Backoff::default();
    let mut failures = Failures::default();
    loop {
        let accepted = tokio::select! {
            accepted = socket.accept() => accepted,
            () = stop.as_mut() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Backoff::default();
                let current = listener.load_full();
                match admit(&current) {
                    Ok(admitted) => serve(stream, peer, admitted),
                    // Dropped: closed at once, the client told so.
                    Err(reason) => current.stats.refuse(reason),
                }
            }
            Err(e) => {
                let short = out_of_descriptors(&e);
                // Idle upstream connections hold descriptors clients need: with them
                // closed, accept again at once.
                if short && pool::close_idle() > 0 {
                    continue;
                }
                let shed = short && shed_one(&socket, &listener.load());
                failures.note(&e, shed);
                // The backlog keeps the listener readable: without a pause this would
                // spin. The pause grows while the shortage lasts.
                tokio::select! {
                    () = tokio::time::sleep(backoff.pause()) => {}
                    () = stop.as_mut() => return,
                }
            }
        }
    }
}

/// Out of descriptors: lets go of the spare one to accept the oldest waiting
/// connection and close it at once, then takes the spare again. Whether one was shed.
fn shed_one(socket: &TcpListener, listener: &Listener) -> bool {
    let spare = &Descriptors::get().spare;
    if !spare.release() {
        spare.restore();
        return false;
    }
    // One try, without waiting: the listener was just found readable.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let shed = matches!(socket.poll_accept(&mut cx), std::task::Poll::Ready(Ok(_)));
    if shed {
        listener.stats.refuse(Refusal::Descriptors);
    }
    spare.restore();
    shed
}

/// Pauses between failed accepts: doubling while the failures last.
#[derive(Debug)]
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(BACKOFF_FIRST)
    }
}

impl Backoff {
    /// The next pause.
    pub fn pause(&mut self) -> Duration {
        let pause = self.0;
        self.0 = (pause * 2).min(BACKOFF_MAX);
        pause
    }
}

/// Accept failures since they were last logged.
#[derive(Default)]
pub struct Failures {
    count: u64,
    shed: u64,
    logged: Option<Instant>,
}

impl Failures {
    /// Notes one failure and logs, at most every 10 s, how many there were.
    pub fn note(&mut self, e: &std::io::Error, shed: bool) {
        self.count += 1;
        self.shed += u64::from(shed);
        if self.logged.is_some_and(|at| at.elapsed() < LOG_EVERY) {
            return;
        }
        tracing::warn!(
            failures = self.count,
            closed_at_once = self.shed,
            "accepting a connection failed, backing off: {e}"
        );
        *self = Failures {
            logged: Some(Instant::now()),
            ..Failures::default()
        };
    }
}
