//! `switchyard policy new`: scaffolds a policy project in a new directory, outside any
//! checkout, that builds to a component and passes `policy check` as generated.
//!
//! Every language gets the same small policy (the fewest requests in flight among the
//! next `window` endpoints in turn), a native test, a `build.sh` writing `NAME.wasm`, a
//! simulator scenario, a README and a `.gitignore`. The templates are the files beside
//! this one; `{{name}}` and the like are replaced as they are written.

use anyhow::{Context, bail};
use std::fs;
use std::path::{Path, PathBuf};

/// `policy new` arguments.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The policy's name: lower-case letters, digits, `-` and `_`, starting with a letter.
    /// It names the project directory and the component `NAME.wasm`, the name a
    /// cluster's `policy =` uses.
    pub name: String,
    /// The language to write the policy in.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
    /// The directory to create the project in, as `PARENT/NAME`.
    #[arg(long, value_name = "PARENT", default_value = ".")]
    pub dir: PathBuf,
    /// Rust only: the `policy-sdk` directory of a Switchyard checkout, which the project
    /// depends on by path until the SDK is published. Default: that of the checkout
    /// this binary was built from, while it exists.
    #[arg(long, value_name = "PATH")]
    pub sdk: Option<PathBuf>,
}

/// A language `policy new` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A cargo project depending on `switchyard-policy-sdk`.
    Rust,
    /// componentize-py 0.25.1 (from PyPI), installed by `build.sh` on first use.
    Python,
    /// componentize-js 0.23.0 (from npm), installed by `build.sh` on first use.
    Js,
}

/// The SDK of the checkout this binary was built from.
const BUILT_FROM_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policy-sdk");

/// The current contract, which Python and JavaScript projects build against.
const WIT: &str = include_str!("../../../../wit/policy.wit");

/// A file to write: its path in the project, its contents, whether it is a script.
type File = (&'static str, String, bool);

/// Creates the project `args` describe and says what to run next.
pub fn run(args: &NewArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    if args.sdk.is_some() && args.lang != Lang::Rust {
        bail!("--sdk is for --lang rust; Python and JavaScript projects carry their WIT files");
    }
    let dir = args.dir.join(&args.name);
    if dir.exists() {
        bail!(
            "{}: already exists; choose another NAME or --dir (nothing was written)",
            dir.display()
        );
    }
    let files = project(&args.name, args.lang, args.sdk.as_deref())?;
    fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (path, text, script) in files {
        write(&dir.join(path), &text, script)?;
    }
    println!(
        "created {dir}: policy {name}\n\nnext:\n  cd {dir}\n  {test}\n  ./build.sh\n  \
         switchyard policy check {name}.wasm\n  \
         switchyard policy simulate {name}.wasm --scenario scenario.toml",
        dir = dir.display(),
        name = args.name,
        test = args.lang.test(),
    );
    Ok(())
}

/// Refuses a name that cannot be a policy file's stem, a crate and a directory all at
/// once.
fn check_name(name: &str) -> anyhow::Result<()> {
    let fine = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !fine {
        bail!(
            "policy name {name:?}: lower-case letters, digits, '-' and '_' only, starting \
             with a letter, at most 64 (it names the directory, the crate and NAME.wasm)"
        );
    }
    Ok(())
}

/// The SDK directory to depend on: `given`, or the one this binary was built from.
fn sdk_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = given.unwrap_or(Path::new(BUILT_FROM_SDK));
    let is_sdk = fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|manifest| manifest.contains("name = \"switchyard-policy-sdk\""));
    match (is_sdk, given) {
        (true, _) => dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display())),
        (false, Some(_)) => bail!(
            "--sdk {}: not the switchyard-policy-sdk crate (no Cargo.toml naming it); pass \
             the policy-sdk directory of a Switchyard checkout",
            dir.display()
        ),
        (false, None) => bail!(
            "the policy SDK this binary was built from ({}) is gone; pass --sdk PATH, the \
             policy-sdk directory of a Switchyard checkout",
            dir.display()
        ),
    }
}

/// A language's own files: path in the project, template.
type Sources = &'static [(&'static str, &'static str)];

const RUST: Sources = &[
    ("Cargo.toml", include_str!("rust/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("rust/lib.rs.tmpl")),
    ("build.sh", include_str!("rust/build.sh.tmpl")),
];

const PYTHON: Sources = &[
    ("src/app.py", include_str!("python/app.py.tmpl")),
    ("src/logic.py", include_str!("python/logic.py.tmpl")),
    (
        "src/test_logic.py",
        include_str!("python/test_logic.py.tmpl"),
    ),
    ("build.sh", include_str!("python/build.sh.tmpl")),
];

const JS: Sources = &[
    ("policy.js", include_str!("js/policy.js.tmpl")),
    ("logic.js", include_str!("js/logic.js.tmpl")),
    ("logic.test.js", include_str!("js/logic.test.js.tmpl")),
    ("package.json", include_str!("js/package.json.tmpl")),
    ("build.sh", include_str!("js/build.sh.tmpl")),
];

const README: &str = include_str!("README.md.tmpl");
const SCENARIO: &str = include_str!("scenario.toml.tmpl");
const GITIGNORE: &str = include_str!("gitignore.tmpl");

/// What a cluster needs for a component that carries an interpreter.
const INTERPRETER_LIMITS: &str = ",\n\
     and `policy_limits = { memory_mib = 64 }`: the interpreter inside the component needs\n\
     more than the default 16 MiB";

impl Lang {
    /// The command that runs the project's native test.
    fn test(self) -> &'static str {
        match self {
            Lang::Rust => "cargo test",
            Lang::Python => "python3 -m unittest discover -s src",
            Lang::Js => "node --test",
        }
    }
}

/// The files of project `name` in `lang`; a Rust project depends on the SDK at `sdk`
/// (see [`sdk_dir`]).
fn project(name: &str, lang: Lang, sdk: Option<&Path>) -> anyhow::Result<Vec<File>> {
    let crate_name = name.replace('-', "_");
    let mut vars = vec![("{{name}}", name.to_string())];
    let (language, sources, layout, build, limits) = match lang {
        Lang::Rust => {
            let sdk = sdk_dir(sdk)?;
            let Some(sdk) = sdk.to_str() else {
                bail!("{}: the SDK's path is not valid UTF-8", sdk.display());
            };
            vars.extend([
                ("{{crate}}", crate_name.clone()),
                ("{{sdk_version}}", env!("CARGO_PKG_VERSION").to_string()),
                ("{{sdk_path}}", toml::Value::from(sdk).to_string()),
            ]);
            (
                "Rust",
                RUST,
                "`src/lib.rs` is the policy and its native tests, written with the\n\
                 `switchyard-policy-sdk` crate. `Cargo.toml` depends on the SDK by path until it\n\
                 is published; then only that line changes.",
                format!(
                    "`build.sh` runs `cargo build --release --target wasm32-wasip2` (adding the\n\
                     target with rustup when it is missing) and copies\n\
                     `target/wasm32-wasip2/release/{crate_name}.wasm` to `{name}.wasm`."
                ),
                "",
            )
        }
        Lang::Python => (
            "Python",
            PYTHON,
            "`src/logic.py` is the policy's logic as plain functions, tested by\n\
             `src/test_logic.py`; `src/app.py` connects it to the proxy through the WIT\n\
             bindings componentize-py generates from `wit/policy.wit` (the contract).",
            "`build.sh` installs componentize-py on first use (under `$SWITCHYARD_TOOLS`\n\
             when set, else `.tools/`), then builds the component."
                .to_string(),
            INTERPRETER_LIMITS,
        ),
        Lang::Js => (
            "JavaScript",
            JS,
            "`logic.js` is the policy's logic as plain functions, tested by `logic.test.js`;\n\
             `policy.js` connects it to the proxy through the WIT imports and exports of\n\
             `wit/policy.wit` (the contract).",
            "`build.sh` installs componentize-js on first use (under `$SWITCHYARD_TOOLS`\n\
             when set, else `.tools/`), then builds the component."
                .to_string(),
            INTERPRETER_LIMITS,
        ),
    };
    let mut files: Vec<File> = sources
        .iter()
        .map(|&(path, template)| (path, fill(template, &vars), path.ends_with(".sh")))
        .collect();
    if lang != Lang::Rust {
        files.push(("wit/policy.wit", WIT.to_string(), false));
    }
    vars.extend([
        ("{{language}}", language.to_string()),
        ("{{layout}}", layout.to_string()),
        ("{{test}}", lang.test().to_string()),
        ("{{build}}", build),
        ("{{limits}}", limits.to_string()),
    ]);
    files.extend([
        ("README.md", fill(README, &vars), false),
        ("scenario.toml", fill(SCENARIO, &vars), false),
        (".gitignore", GITIGNORE.to_string(), false),
    ]);
    Ok(files)
}

/// `template` with each `{{key}}` of `vars` replaced by its value.
fn fill(template: &str, vars: &[(&str, String)]) -> String {
    vars.iter()
        .fold(template.to_string(), |text, (key, value)| {
            text.replace(key, value)
        })
}

/// Writes `text` to `path`, creating its directory; a script is made executable.
fn write(path: &Path, text: &str, script: bool) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    if script {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} executable", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_suit_a_file_a_crate_and_a_directory() {
        for good in ["fastest", "least-busy", "p2c_v2", "a"] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "Fastest",
            "2fast",
            "-x",
            "a.canary",
            "../x",
            "a b",
            &"x".repeat(65),
        ] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.starts_with("policy name"), "{bad}: {err}");
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            for (path, text, _) in project("my-policy", lang, None).unwrap() {
                assert!(!text.contains("{{"), "{lang:?} {path}: {text}");
            }
        }
    }

    #[test]
    fn the_rust_project_depends_on_the_sdk_by_path_and_version() {
        let files = project("my-policy", Lang::Rust, None).unwrap();
        let manifest = &files.iter().find(|f| f.0 == "Cargo.toml").unwrap().1;
        let version = env!("CARGO_PKG_VERSION");
        let sdk = Path::new(BUILT_FROM_SDK).canonicalize().unwrap();
        let sdk = sdk.display();
        assert!(
            manifest.contains(&format!(
                "switchyard-policy-sdk = {{ version = \"{version}\", path = \"{sdk}\" }}"
            )),
            "{manifest}"
        );
        let build = &files.iter().find(|f| f.0 == "build.sh").unwrap().1;
        assert!(
            build.contains("release/my_policy.wasm\" \"$out\""),
            "{build}"
        );
        assert!(build.contains("$here/my-policy.wasm"), "{build}");
    }

    #[test]
    fn a_missing_sdk_is_named() {
        let err = sdk_dir(Some(Path::new("/nonexistent/policy-sdk")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--sdk /nonexistent/policy-sdk: not the switchyard-policy-sdk"));
        sdk_dir(None).unwrap();
    }
}
