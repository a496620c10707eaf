//! The layering drawn in docs/architecture.md holds: in `switchyard` and in
//! `switchyard-policy`, each module imports only from modules in rows below its own.

/// Rows of `switchyard`'s modules in docs/architecture.md, lowest first.
const PROXY_ROWS: &[&[&str]] = &[
    &["config"],
    &["net", "etcd", "simulate", "tls", "load_reports"],
    &["proxy", "health", "discovery"],
    &["membership", "fleet", "reload"],
    &["admin"],
    &["app"],
    &["cli"],
];

/// Rows of `switchyard-policy`'s modules, lowest first.
const POLICY_ROWS: &[&[&str]] = &[
    &["cluster", "niceness", "ip_text", "random", "text"],
    &["engine"],
    &["balancer", "scorer"],
    &["registry"],
];

fn row_of(rows: &[&[&str]], module: &str) -> Option<usize> {
    rows.iter().position(|row| row.contains(&module))
}

/// The `crate::NAME` paths in `text` (code and doc links alike).
fn imports(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(at, prefix)| {
            text[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect()
        })
        .collect()
}

fn sources(path: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            sources(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

#[test]
fn every_module_imports_only_from_rows_below() {
    let host = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    check(&host.join("src"), PROXY_ROWS);
    check(&host.join("policy/src"), POLICY_ROWS);
}

/// Checks the crate whose sources are in `src` against `rows`.
fn check(src: &std::path::Path, rows: &[&[&str]]) {
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let module = relative.iter().next().unwrap().to_string_lossy();
        let module = module.trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue;
        }
        let row = row_of(rows, module)
            .unwrap_or_else(|| panic!("{module} ({}) is in no row", file.display()));
        let text = std::fs::read_to_string(&file).unwrap();
        for used in imports(&text) {
            if used == module {
                continue;
            }
            checked += 1;
            match row_of(rows, &used) {
                Some(below) if below < row => {}
                _ => wrong.push(format!("{} uses crate::{used}", file.display())),
            }
        }
    }
    assert!(
        checked > 20,
        "{}: only {checked} imports found",
        src.display()
    );
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}
