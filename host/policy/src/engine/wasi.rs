//! The capability-free WASI that policies get.
//!
//! Toolchains add WASI 0.2 imports on their own (Rust's `wasm32-wasip2` std,
//! componentize-py, componentize-js), so the host serves them from `wasmtime-wasi` with
//! nothing behind them: no preopened directory, no socket, no environment variable, no
//! argument, stdin closed; clocks can be read and randomness works (timers never fire:
//! waiting on one traps); stdout and stderr become lines in the proxy's log,
//! rate-limited.
//!
//! `wasmtime-wasi`'s synchronous bindings run their blocking operations with
//! `block_on` on the ambient Tokio runtime, which panics on a runtime worker thread —
//! exactly where picks run. So every blocking WASI operation is replaced here by one
//! that polls once and, when the operation is not ready at once, traps: a policy must
//! answer without waiting. Socket creation is refused outright.

use crate::engine::log::{Level, PolicyLog};
use crate::engine::store::StoreState;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, ResourceTable, ResourceType, Val};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};
use wasmtime_wasi_io::bindings::wasi::io::poll::{Host as _, HostPollable};
use wasmtime_wasi_io::bindings::wasi::io::streams::{
    self as wit_streams, Host as _, HostInputStream, HostOutputStream,
};
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

/// The WASI 0.2 version `wasmtime-wasi` registers; imports of older 0.2 versions are
/// matched to it by semver.
const WASI_VERSION: &str = "0.2.12";

/// Longest partial line kept before it is logged anyway.
const MAX_PENDING: usize = 1024;

/// A WASI context with no capability, whose stdout/stderr go to `log`.
pub(crate) fn capability_free_ctx(log: &Arc<PolicyLog>) -> WasiCtx {
    WasiCtxBuilder::new()
        .stdout(PolicyOutput::new(log, Level::Info))
        .stderr(PolicyOutput::new(log, Level::Warn))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .max_random_size(64 << 10)
        .build()
}

/// Adds WASI 0.2 to `linker`, with the blocking operations made non-blocking.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    replace_stream_operations(linker)?;
    replace_poll(linker)?;
    refuse_sockets(linker)?;
    linker.allow_shadowing(false);
    Ok(())
}

fn replace_stream_operations(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    let mut streams = linker.instance(&format!("wasi:io/streams@{WASI_VERSION}"))?;
    streams.resource(
        "output-stream",
        ResourceType::host::<DynOutputStream>(),
        |mut cx, rep| {
            let table = &mut cx.data_mut().table;
            once(HostOutputStream::drop(table, Resource::new_own(rep)))?
        },
    )?;
    streams.resource(
        "input-stream",
        ResourceType::host::<DynInputStream>(),
        |mut cx, rep| {
            let table = &mut cx.data_mut().table;
            once(HostInputStream::drop(table, Resource::new_own(rep)))?
        },
    )?;
    streams.func_wrap(
        "[method]output-stream.blocking-write-and-flush",
        |mut cx: StoreContextMut<'_, StoreState>,
         (stream, bytes): (Resource<DynOutputStream>, Vec<u8>)| {
            let table = &mut cx.data_mut().table;
            let result = once(HostOutputStream::blocking_write_and_flush(
                table, stream, bytes,
            ))?;
            Ok((stream_result(table, result)?,))
        },
    )?;
    streams.func_wrap(
        "[method]output-stream.blocking-write-zeroes-and-flush",
        |mut cx: StoreContextMut<'_, StoreState>,
         (stream, len): (Resource<DynOutputStream>, u64)| {
            let table = &mut cx.data_mut().table;
            let result = once(HostOutputStream::blocking_write_zeroes_and_flush(
                table, stream, len,
            ))?;
            Ok((stream_result(table, result)?,))
        },
    )?;
    streams.func_wrap(
        "[method]output-stream.blocking-flush",
        |mut cx: StoreContextMut<'_, StoreState>, (stream,): (Resource<DynOutputStream>,)| {
            let table = &mut cx.data_mut().table;
            let result = once(HostOutputStream::blocking_flush(table, stream))?;
            Ok((stream_result(table, result)?,))
        },
    )?;
    streams.func_wrap(
        "[method]output-stream.blocking-splice",
        |mut cx: StoreContextMut<'_, StoreState>,
         (dst, src, len): (Resource<DynOutputStream>, Resource<DynInputStream>, u64)| {
            let table = &mut cx.data_mut().table;
            let result = once(HostOutputStream::blocking_splice(table, dst, src, len))?;
            Ok((stream_result(table, result)?,))
        },
    )?;
    streams.func_wrap(
        "[method]input-stream.blocking-read",
        |mut cx: StoreContextMut<'_, StoreState>,
         (stream, len): (Resource<DynInputStream>, u64)| {
            let table = &mut cx.data_mut().table;
            let result = once(HostInputStream::blocking_read(table, stream, len))?;
            Ok((stream_result(table, result)?,))
        },
    )?;
    streams.func_wrap(
        "[method]input-stream.blocking-skip",
        |mut cx: StoreContextMut<'_, StoreState>,
         (stream, len): (Resource<DynInputStream>, u64)| {
            let table = &mut cx.data_mut().table;
            let result = once(HostInputStream::blocking_skip(table, stream, len))?;
            Ok((stream_result(table, result)?,))
        },
    )?;
    Ok(())
}

fn replace_poll(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    let mut poll = linker.instance(&format!("wasi:io/poll@{WASI_VERSION}"))?;
    poll.func_wrap(
        "poll",
        |mut cx: StoreContextMut<'_, StoreState>, (list,): (Vec<Resource<DynPollable>>,)| {
            let table = &mut cx.data_mut().table;
            Ok((once(table.poll(list))??,))
        },
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |mut cx: StoreContextMut<'_, StoreState>, (p,): (Resource<DynPollable>,)| {
            let table = &mut cx.data_mut().table;
            once(HostPollable::block(table, p))?
        },
    )?;
    poll.func_wrap(
        "[method]pollable.ready",
        |mut cx: StoreContextMut<'_, StoreState>, (p,): (Resource<DynPollable>,)| {
            let table = &mut cx.data_mut().table;
            Ok((once(HostPollable::ready(table, p))??,))
        },
    )?;
    Ok(())
}

/// Socket creation answers `access-denied`: a policy has no network.
fn refuse_sockets(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    for (interface, func) in [
        ("tcp-create-socket", "create-tcp-socket"),
        ("udp-create-socket", "create-udp-socket"),
        ("ip-name-lookup", "resolve-addresses"),
    ] {
        linker
            .instance(&format!("wasi:sockets/{interface}@{WASI_VERSION}"))?
            .func_new(func, |_cx, _ty, _params, results| {
                results[0] = Val::Result(Err(Some(Box::new(Val::Enum("access-denied".into())))));
                Ok(())
            })?;
    }
    Ok(())
}

/// Converts a host stream result into the WIT one (errors become `error` resources).
fn stream_result<T>(
    table: &mut ResourceTable,
    result: StreamResult<T>,
) -> wasmtime::Result<Result<T, wit_streams::StreamError>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(e) => Ok(Err(table.convert_stream_error(e)?)),
    }
}

/// Polls `future` once. Not ready means the policy wanted to wait, which traps.
fn once<F: Future>(future: F) -> wasmtime::Result<F::Output> {
    static TIMERS: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    // Clock pollables create Tokio timers; give them a runtime to register with even on
    // threads that have none. Entering a handle (unlike `block_on`) is allowed anywhere.
    let timers = TIMERS.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("building the policy timer runtime")
    });
    let _entered = timers.enter();
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => wasmtime::bail!(
            "policy tried to wait on WASI I/O (a sleep, a poll, a blocking read); policies must answer without waiting"
        ),
    }
}

/// Stdout or stderr of a policy: complete lines go to the policy's log.
struct PolicyOutput {
    log: Arc<PolicyLog>,
    level: Level,
}

impl PolicyOutput {
    fn new(log: &Arc<PolicyLog>, level: Level) -> Self {
        Self {
            log: Arc::clone(log),
            level,
        }
    }

    fn writer(&self) -> LineWriter {
        LineWriter {
            log: Arc::clone(&self.log),
            level: self.level,
            pending: Vec::new(),
        }
    }
}

impl IsTerminal for PolicyOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PolicyOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }
}

/// Splits written bytes into lines for the log; always ready, never blocks.
struct LineWriter {
    log: Arc<PolicyLog>,
    level: Level,
    pending: Vec<u8>,
}

impl LineWriter {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' || self.pending.len() >= MAX_PENDING {
                self.emit();
            }
            if b != b'\n' {
                self.pending.push(b);
            }
        }
    }

    fn emit(&mut self) {
        self.log
            .line(self.level, &String::from_utf8_lossy(&self.pending));
        self.pending.clear();
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

#[async_trait::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
