//! The documentation against the code: `docs/configuration.md` names every key the
//! configuration types know and no other ([`config_reference`]), and every relative link
//! in `README.md` and `docs/` leads to a file, and a heading, that exists ([`links`]).
//! A binary of its own: it reads markdown and the config types, and needs none of the
//! proxy the integration tests start.

mod config_reference;
mod links;

use std::path::PathBuf;

/// The checkout's root.
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The markdown that is the project's documentation: `README.md` and `docs/*.md`.
fn documentation() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("docs/ is readable").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The body lines of each fenced code block of `markdown` whose info string is `lang`,
/// with the line number (1-based) of each.
fn code_blocks(markdown: &str, lang: &str) -> Vec<Vec<(usize, String)>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<(usize, String)>> = None;
    let mut in_other = false;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            if let Some(block) = current.take() {
                blocks.push(block);
            } else if in_other {
                in_other = false;
            } else if info.trim() == lang {
                current = Some(Vec::new());
            } else {
                in_other = true;
            }
            continue;
        }
        if let Some(block) = current.as_mut() {
            block.push((index + 1, line.to_string()));
        }
    }
    blocks
}
