//! The docs a newcomer walks stay true to the tree: every repository path that README.md
//! or a page of docs/ names exists, the README stays short (at most 300 lines), and it
//! starts with the two commands CI relies on.
//!
//! A path is anything in backticks (or a word in a fenced code block) that starts with an
//! entry of the repository's root (`courier-core/src/hub/serve.rs`, `docs/CLI.md`,
//! `.ci/run`), any other backticked `dir/file` or `*.rs` name (which must then be written
//! from the root), and the target of a relative Markdown link (from the page's folder).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The longest the README may be.
const README_MAX_LINES: usize = 300;

/// The README's first two commands, exactly: CI runs the second one ("the README's test
/// command"), and the first is what Courier is for.
const FIRST_COMMANDS: [&str; 2] = [
    "cargo run --release -p courier-iced    # open the desktop app: host or join a hub (Courier's main job)",
    "cargo test --workspace                 # pass the tests",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("courier-core lives in the workspace")
        .to_path_buf()
}

/// README.md and every page of docs/, sorted.
fn pages(repo: &Path) -> Vec<PathBuf> {
    let mut pages = vec![repo.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("docs/ is readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The names at the repository's root a path may start with (build output aside).
fn roots(repo: &Path) -> BTreeSet<String> {
    std::fs::read_dir(repo)
        .expect("the repository is readable")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n != "target" && n != ".git")
        .collect()
}

/// How a name found in a page is resolved.
#[derive(Debug, PartialEq)]
enum Found {
    /// From the repository's root (backticks, code blocks).
    FromRoot(String),
    /// From the page's own folder (a Markdown link).
    FromPage(String),
}

/// Every path-like name on a page, with its line number.
fn names(text: &str, roots: &BTreeSet<String>) -> Vec<(usize, Found)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            for word in line.split_whitespace() {
                if starts_at_root(word, roots) {
                    out.push((n, Found::FromRoot(word.to_owned())));
                }
            }
            continue;
        }
        for (k, span) in line.split('`').enumerate() {
            if k % 2 == 1 && looks_like_path(span, roots) {
                out.push((n, Found::FromRoot(span.to_owned())));
            }
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            rest = &rest[end..];
            let target = target.split('#').next().unwrap_or_default();
            if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
                out.push((n, Found::FromPage(target.to_owned())));
            }
        }
    }
    out
}

/// `word` names something at the repository's root (`courier-cli/src/args.rs`, `.ci/run`,
/// `Cargo.toml`).
fn starts_at_root(word: &str, roots: &BTreeSet<String>) -> bool {
    let first = word.split('/').next().unwrap_or_default();
    roots.contains(first) && (word.contains('/') || word == first)
}

/// A backticked span that is meant as a file of this repository.
fn looks_like_path(span: &str, roots: &BTreeSet<String>) -> bool {
    if span.is_empty() || span.contains(char::is_whitespace) || span.contains("::") {
        return false;
    }
    if starts_at_root(span, roots) {
        return true;
    }
    // Absolute, home, URL-like, placeholder or glob names are not files of the tree.
    let foreign = ['/', '~', '$', '<', '%', '-', '"', '{', '['];
    // Build output (`target/…`) is made, not kept in the tree.
    if span.starts_with(foreign)
        || span.starts_with("target/")
        || span.contains("://")
        || span.contains('*')
    {
        return false;
    }
    span.ends_with(".rs") || (span.contains('/') && !span.contains(':'))
}

fn check(repo: &Path, page: &Path, roots: &BTreeSet<String>) -> Vec<String> {
    let text = std::fs::read_to_string(page).expect("the page is readable");
    let shown = page
        .strip_prefix(repo)
        .unwrap_or(page)
        .display()
        .to_string();
    let mut wrong = Vec::new();
    for (line, found) in names(&text, roots) {
        let (name, path) = match &found {
            Found::FromRoot(name) => (name, repo.join(name)),
            Found::FromPage(name) => (name, page.parent().unwrap_or(repo).join(name)),
        };
        if name.contains(['*', '{', '<']) {
            wrong.push(format!(
                "{shown}:{line}: `{name}`: write each path out (no globs)"
            ));
        } else if !path.exists() {
            wrong.push(format!(
                "{shown}:{line}: `{name}` does not exist (paths in backticks are from the \
                 repository's root; links from the page's folder)"
            ));
        }
    }
    wrong
}

#[test]
fn every_path_the_docs_name_exists() {
    let repo = repo();
    let roots = roots(&repo);
    let wrong: Vec<String> = pages(&repo)
        .iter()
        .flat_map(|page| check(&repo, page, &roots))
        .collect();
    assert!(
        wrong.is_empty(),
        "the docs name paths that are not in the repository:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_readme_is_short_and_starts_with_the_two_commands() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let lines: Vec<&str> = readme.lines().collect();
    assert!(
        lines.len() <= README_MAX_LINES,
        "README.md has {} lines; at most {README_MAX_LINES} (move the rest to docs/)",
        lines.len()
    );
    let fence = lines
        .iter()
        .position(|l| l.starts_with("```"))
        .expect("README.md has a code block");
    let before: Vec<&&str> = lines[..fence]
        .iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        before,
        [&"# Courier"],
        "only the title comes before the two commands"
    );
    assert_eq!(
        lines.get(fence + 1..fence + 3),
        Some(&FIRST_COMMANDS[..]),
        "README.md starts with the two commands, exactly"
    );
}

#[test]
fn the_scanner_finds_what_the_docs_write() {
    let roots: BTreeSet<String> = ["courier-core", "docs", ".ci", "README.md"]
        .into_iter()
        .map(String::from)
        .collect();
    let page = "See `courier-core/src/hub/serve.rs`, [the CLI](CLI.md#json), `.ci/run` and \
                `transfer/sender.rs`;\nnot `courier hub`, `hub.db`, `/usr/bin/courier`, \
                `session::Handle`, `~/.config/courier` or [a site](https://example.org).\n\
                ```sh\ncargo bench -p courier-core --bench routing  # README.md\n```\n";
    assert_eq!(
        names(page, &roots),
        [
            (1, Found::FromRoot("courier-core/src/hub/serve.rs".into())),
            (1, Found::FromRoot(".ci/run".into())),
            (1, Found::FromRoot("transfer/sender.rs".into())),
            (1, Found::FromPage("CLI.md".into())),
            (4, Found::FromRoot("courier-core".into())),
            (4, Found::FromRoot("README.md".into())),
        ]
    );
}
