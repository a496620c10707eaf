//! Checks a candidate component's shape before anything runs: that it is a component,
//! which world it implements, and that it imports nothing the sandbox does not serve.

use crate::engine::LoadError;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The contract's package and version.
const PACKAGE: &str = "switchyard:policy/";
const VERSION: &str = "@0.1.0";
/// WASI 0.2 packages the capability-free WASI serves.
const WASI_PACKAGES: &[&str] = &[
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

/// Which world a component implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum World {
    /// Exports `balancing`.
    Balancer,
    /// Exports `scoring`.
    HealthScorer,
}

impl World {
    /// The world's name in the WIT.
    pub fn name(self) -> &'static str {
        match self {
            World::Balancer => "balancer",
            World::HealthScorer => "health-scorer",
        }
    }
}

/// Tells a file that is not a component apart from one, by its header.
pub(crate) fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        let head = &bytes[..bytes.len().min(8)];
        let found = if head.is_empty() {
            "nothing: the file is empty".to_string()
        } else if head.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            format!("the text {:?}", String::from_utf8_lossy(head))
        } else {
            format!("bytes {head:02x?}")
        };
        return Err(LoadError::NotWasm { found });
    }
    // Bytes 4..8: version 1 and layer 0 for a core module; layer 1 for a component.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

/// Checks imports by name and finds the world from the exports.
pub(crate) fn check_interface(engine: &Engine, component: &Component) -> Result<World, LoadError> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        check_import(name)?;
    }
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    for (interface, world) in [
        ("balancing", World::Balancer),
        ("scoring", World::HealthScorer),
    ] {
        let wanted = format!("{PACKAGE}{interface}");
        if exports.iter().any(|e| *e == format!("{wanted}{VERSION}")) {
            return Ok(world);
        }
        if let Some(other) = exports
            .iter()
            .find(|e| e.starts_with(&format!("{wanted}@")))
        {
            return Err(LoadError::WrongVersion {
                found: other.to_string(),
            });
        }
    }
    Err(LoadError::WrongWorld {
        found: if exports.is_empty() {
            "none".into()
        } else {
            exports.join(", ")
        },
    })
}

fn check_import(name: &str) -> Result<(), LoadError> {
    if let Some(rest) = name.strip_prefix(PACKAGE) {
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        if !matches!(interface, "types" | "host" | "load") {
            return Err(LoadError::UnknownImport { name: name.into() });
        }
        if format!("@{version}") != VERSION {
            return Err(LoadError::WrongVersion { found: name.into() });
        }
        return Ok(());
    }
    let wasi_02 = WASI_PACKAGES.iter().any(|p| name.starts_with(p))
        && name
            .split_once('@')
            .is_some_and(|(_, v)| v.starts_with("0.2."));
    if wasi_02 {
        Ok(())
    } else {
        Err(LoadError::UnknownImport { name: name.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert!(matches!(check_header(b""), Err(LoadError::NotWasm { .. })));
        let err = check_header(b"#!/bin/sh\necho").unwrap_err().to_string();
        assert!(err.contains("the text \"#!/bin/s\""), "{err}");
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0"),
            Err(LoadError::CoreModule)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn imports_by_name() {
        assert!(check_import("switchyard:policy/load@0.1.0").is_ok());
        assert!(check_import("wasi:io/streams@0.2.3").is_ok());
        assert!(matches!(
            check_import("switchyard:policy/load@0.2.0"),
            Err(LoadError::WrongVersion { .. })
        ));
        for bad in [
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:io/streams@0.3.0",
            "evil:net/raw",
        ] {
            assert!(
                matches!(check_import(bad), Err(LoadError::UnknownImport { .. })),
                "{bad}"
            );
        }
    }
}
