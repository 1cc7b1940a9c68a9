//! Helpers shared by the CLI's test binaries.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;
use std::path::PathBuf;

/// A test's folder; removed when the test ends (transfer tests write gigabytes).
pub(crate) struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn tempdir(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("courier-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

/// Lossy UTF-8 of a process's output.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Each line of `b` as JSON.
pub(crate) fn json_lines(b: &[u8]) -> Vec<serde_json::Value> {
    text(b)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// Reads JSON lines until one matches `pred`.
pub(crate) fn until_line(
    out: &mut impl BufRead,
    mut pred: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "stream ended");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if pred(&v) {
            return v;
        }
    }
}

/// Says on the terminal (past cargo's output capture) that a test did not run and why;
/// with `COURIER_REQUIRE_SYSTEM_TOOLS=1` (CI sets it) that is a failure instead.
pub(crate) fn not_run(test: &str, why: &str) {
    use std::io::Write as _;
    let required = std::env::var_os("COURIER_REQUIRE_SYSTEM_TOOLS").is_some_and(|v| v == "1");
    assert!(
        !required,
        "{test}: {why} (and COURIER_REQUIRE_SYSTEM_TOOLS=1)"
    );
    let _ = writeln!(std::io::stderr(), "\nNOT RUN: {test}: {why}\n");
}
