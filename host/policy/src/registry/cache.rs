//! Compiled components keyed by the sha256 of their bytes: in memory for the life of
//! the process, and on disk (wasmtime's serialization) so that a restart or the return
//! of a known version skips compilation.
//!
//! A serialized component is native code that wasmtime loads without validating it, so
//! the disk cache is used only in a directory this process created or owns and that no
//! one else can write to.

use crate::engine::LoadError;
use crate::engine::PolicyEngine;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use wasmtime::component::Component;

/// Compiled components kept in memory.
const MEMORY_ENTRIES: usize = 32;

/// The sha256 of a component's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The digest of the file at `path`; none when it cannot be read.
    pub fn of_file(path: &std::path::Path) -> Option<Self> {
        std::fs::read(path).ok().map(|bytes| Self::of(&bytes))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{self}")
    }
}

/// Where a compiled component came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOrigin {
    /// Compiled now.
    Compiled,
    /// Found in memory.
    Memory,
    /// Deserialized from the disk cache.
    Disk,
}

impl CacheOrigin {
    /// A short label for logs and the admin API.
    pub fn label(self) -> &'static str {
        match self {
            CacheOrigin::Compiled => "compiled",
            CacheOrigin::Memory => "memory-cache",
            CacheOrigin::Disk => "disk-cache",
        }
    }
}

/// The cache. Shared by every load of one process.
pub struct ComponentCache {
    disk: Option<PathBuf>,
    memory: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    entries: HashMap<Sha256Digest, Component>,
    order: VecDeque<Sha256Digest>,
}

impl ComponentCache {
    /// A cache that also keeps compiled components in `disk`, created (mode 0700) when
    /// missing. A directory others can write to is refused with a warning and the cache
    /// stays in memory.
    pub fn new(disk: Option<PathBuf>) -> Self {
        let disk = disk.and_then(|dir| match private_dir(&dir) {
            Ok(()) => Some(dir),
            Err(reason) => {
                tracing::warn!(dir = %dir.display(), "compiled-policy cache kept in memory only: {reason}");
                None
            }
        });
        Self {
            disk,
            memory: Mutex::new(Memory::default()),
        }
    }

    /// The compiled form of `bytes` (whose digest is `digest`), and where it came from.
    pub(crate) fn get(
        &self,
        engine: &PolicyEngine,
        digest: Sha256Digest,
        bytes: &[u8],
    ) -> Result<(Component, CacheOrigin), LoadError> {
        if let Some(component) = self.lock().entries.get(&digest) {
            return Ok((component.clone(), CacheOrigin::Memory));
        }
        let file = self
            .disk
            .as_ref()
            .map(|dir| dir.join(file_name(engine, digest)));
        let from_disk = file.as_deref().and_then(|f| deserialize(engine, f));
        let (component, origin) = match from_disk {
            Some(component) => (component, CacheOrigin::Disk),
            None => {
                let component = engine.compile_only(bytes)?;
                if let Some(file) = &file {
                    store(&component, file);
                }
                (component, CacheOrigin::Compiled)
            }
        };
        let mut memory = self.lock();
        if memory.entries.insert(digest, component.clone()).is_none() {
            memory.order.push_back(digest);
        }
        while memory.order.len() > MEMORY_ENTRIES {
            if let Some(old) = memory.order.pop_front() {
                memory.entries.remove(&old);
            }
        }
        Ok((component, origin))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `SHA256-ENGINE.cwasm`: the engine part changes with wasmtime's version and settings,
/// so an upgraded proxy never loads another engine's code.
fn file_name(engine: &PolicyEngine, digest: Sha256Digest) -> String {
    let mut hasher = DefaultHasher::new();
    engine
        .wasmtime()
        .precompile_compatibility_hash()
        .hash(&mut hasher);
    format!("{digest}-{:016x}.cwasm", hasher.finish())
}

fn deserialize(engine: &PolicyEngine, file: &Path) -> Option<Component> {
    if !file.is_file() {
        return None;
    }
    // SAFETY: the file is in a directory only this user can write (checked by
    // `private_dir`), written by `store` from wasmtime's own serialization, and named
    // for the engine that produced it; wasmtime still checks its header and version.
    match unsafe { Component::deserialize_file(engine.wasmtime(), file) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(file = %file.display(), "ignoring a compiled-policy cache entry: {e:#}");
            None
        }
    }
}

/// Writes the serialized component next to its final name, then renames it into place,
/// so a reader never sees half a file. Failures only cost a later recompilation.
fn store(component: &Component, file: &Path) {
    let result = component
        .serialize()
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            static WRITES: AtomicU64 = AtomicU64::new(0);
            let n = WRITES.fetch_add(1, Relaxed);
            let partial = file.with_extension(format!("partial-{}-{n}", std::process::id()));
            std::fs::write(&partial, bytes)
                .and_then(|()| std::fs::rename(&partial, file))
                .map_err(|e| e.to_string())
        });
    if let Err(reason) = result {
        tracing::warn!(file = %file.display(), "cannot write the compiled-policy cache: {reason}");
    }
}

/// Creates `dir` (0700) if needed and checks that it belongs to this user and that no
/// one else may write to it.
fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create it: {e}"))?;
    let meta = std::fs::metadata(dir).map_err(|e| e.to_string())?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "owned by uid {}, not by this user ({me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "group or others may write to it (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// The default disk cache: `$XDG_CACHE_HOME/switchyard/policies`, else
/// `$HOME/.cache/switchyard/policies`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("switchyard").join("policies"))
}
