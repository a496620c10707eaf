//! Checks a candidate component's shape before anything runs: that it is a component,
//! which world it implements, and that it imports nothing the sandbox does not serve.

use crate::engine::LoadError;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The contract's package.
const PACKAGE: &str = "switchyard:policy/";
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

/// A version of the contract the host serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Contract {
    /// `switchyard:policy@0.1.0`.
    V0_1,
    /// `switchyard:policy@0.2.0`: reported metrics and candidates delivered with a pick.
    V0_2,
}

impl Contract {
    /// Every version served, oldest first.
    pub const ALL: [Contract; 2] = [Contract::V0_1, Contract::V0_2];

    /// The version as written in the WIT, such as `0.2.0`.
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }

    fn of(version: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.version() == version)
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "switchyard:policy@{}", self.version())
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

/// Finds the world and contract version from the exports, and checks imports by name:
/// the contract's must be of the same version.
pub(crate) fn check_interface(
    engine: &Engine,
    component: &Component,
) -> Result<(World, Contract), LoadError> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let found = exports_world(&exports)?;
    for (name, _) in ty.imports(engine) {
        check_import(name, found.1)?;
    }
    Ok(found)
}

fn exports_world(exports: &[&str]) -> Result<(World, Contract), LoadError> {
    for (interface, world) in [
        ("balancing", World::Balancer),
        ("scoring", World::HealthScorer),
    ] {
        let wanted = format!("{PACKAGE}{interface}@");
        if let Some(export) = exports.iter().find(|e| e.starts_with(&wanted)) {
            return match Contract::of(&export[wanted.len()..]) {
                Some(contract) => Ok((world, contract)),
                None => Err(LoadError::WrongVersion {
                    found: export.to_string(),
                }),
            };
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

fn check_import(name: &str, contract: Contract) -> Result<(), LoadError> {
    if let Some(rest) = name.strip_prefix(PACKAGE) {
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        if !matches!(interface, "types" | "host" | "load") {
            return Err(LoadError::UnknownImport { name: name.into() });
        }
        if version != contract.version() {
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
    fn world_and_version_from_the_exports() {
        let found = exports_world(&["switchyard:policy/balancing@0.1.0"]).unwrap();
        assert_eq!(found, (World::Balancer, Contract::V0_1));
        let found = exports_world(&["switchyard:policy/scoring@0.2.0"]).unwrap();
        assert_eq!(found, (World::HealthScorer, Contract::V0_2));
        assert!(matches!(
            exports_world(&["switchyard:policy/balancing@0.3.0"]),
            Err(LoadError::WrongVersion { .. })
        ));
        assert!(matches!(
            exports_world(&["wasi:cli/run@0.2.0"]),
            Err(LoadError::WrongWorld { .. })
        ));
    }

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
        let v1 = Contract::V0_1;
        assert!(check_import("switchyard:policy/load@0.1.0", v1).is_ok());
        assert!(check_import("switchyard:policy/load@0.2.0", Contract::V0_2).is_ok());
        assert!(check_import("wasi:io/streams@0.2.3", v1).is_ok());
        assert!(matches!(
            check_import("switchyard:policy/load@0.2.0", v1),
            Err(LoadError::WrongVersion { .. })
        ));
        for bad in [
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:io/streams@0.3.0",
            "evil:net/raw",
        ] {
            assert!(
                matches!(check_import(bad, v1), Err(LoadError::UnknownImport { .. })),
                "{bad}"
            );
        }
    }
}
