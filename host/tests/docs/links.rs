//! Every relative link of `README.md` and `docs/*.md` leads to a file that exists, and
//! a link to a heading (`file.md#heading`, `#heading`) to a heading that exists.

use std::collections::BTreeSet;
use std::path::Path;

/// The link targets of `markdown` (`[text](target)`, `![alt](target)`,
/// `[label]: target`), outside code blocks and code spans, with their line numbers.
fn link_targets(markdown: &str) -> Vec<(usize, String)> {
    let mut targets = Vec::new();
    let mut in_code = false;
    for (index, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let prose = without_code_spans(line);
        let trimmed = prose.trim_start();
        if trimmed.starts_with('[')
            && let Some((label, target)) = trimmed.split_once("]: ")
            && !label.contains(']')
        {
            targets.push((index + 1, target.trim().to_string()));
            continue;
        }
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            targets.push((index + 1, target.to_string()));
            rest = &after[end..];
        }
    }
    targets
}

/// `line` with its code spans (`` `...` ``) blanked.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut in_span = false;
    for c in line.chars() {
        if c == '`' {
            in_span = !in_span;
            out.push(' ');
        } else if in_span {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// The anchors GitHub makes of `markdown`'s headings: lower case, punctuation dropped,
/// spaces as `-`, a repeated one with `-1`, `-2`, ...
pub(crate) fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while anchors.contains(&anchor) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
        anchors.insert(anchor);
    }
    anchors
}

/// What is wrong with the relative links of the file at `path`.
fn broken_links(path: &Path) -> Vec<String> {
    let markdown = std::fs::read_to_string(path).expect("readable");
    let dir = path.parent().expect("a file in a directory");
    let name = path
        .strip_prefix(super::repo_root())
        .unwrap_or(path)
        .display()
        .to_string();
    let mut broken = Vec::new();
    for (line, target) in link_targets(&markdown) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = match target.split_once('#') {
            Some((file, anchor)) => (file, Some(anchor)),
            None => (target.as_str(), None),
        };
        let linked = if file.is_empty() {
            path.to_path_buf()
        } else {
            dir.join(file)
        };
        if !linked.exists() {
            broken.push(format!("{name}:{line}: {target}: no such file"));
            continue;
        }
        if let Some(anchor) = anchor {
            let is_markdown = linked.extension().is_some_and(|ext| ext == "md");
            let text = std::fs::read_to_string(&linked).unwrap_or_default();
            if is_markdown && !anchors(&text).contains(anchor) {
                broken.push(format!("{name}:{line}: {target}: no such heading"));
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_of_the_documentation_leads_somewhere() {
    let broken: Vec<String> = super::documentation()
        .iter()
        .flat_map(|path| broken_links(path))
        .collect();
    assert!(
        broken.is_empty(),
        "broken links:\n  {}",
        broken.join("\n  ")
    );
}

#[test]
fn links_and_anchors_are_read_as_github_reads_them() {
    let markdown = "# Write a policy\n\
        ## Three names: crate, file, policy\n\
        ## `GET /tls` and more\n\
        ## Write a policy\n\
        See [a](docs/a.md), ![b](b.png) and `[c](not-a-link.md)`,\n\
        [d](https://example.com) [e](#write-a-policy-1)\n\
        ```\n[f](in-code.md)\n```\n\
        [g]: docs/g.md\n";
    let targets: Vec<String> = link_targets(markdown).into_iter().map(|t| t.1).collect();
    assert_eq!(
        targets,
        [
            "docs/a.md",
            "b.png",
            "https://example.com",
            "#write-a-policy-1",
            "docs/g.md"
        ]
    );
    let anchors = anchors(markdown);
    for anchor in [
        "write-a-policy",
        "three-names-crate-file-policy",
        "get-tls-and-more",
        "write-a-policy-1",
    ] {
        assert!(anchors.contains(anchor), "{anchor} not in {anchors:?}");
    }
}
