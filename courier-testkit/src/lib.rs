//! Helpers shared by Courier's integration tests, and only by them: every crate takes this
//! one as a dev-dependency, and it is never published.
//!
//! It depends on none of Courier's own crates (courier-core's tests use it too, so that
//! would be a cycle): programs come in as arguments, e.g.
//! `HubProcess::spawn(Command::new(env!("CARGO_BIN_EXE_courier")), "127.0.0.1:0", &dir, &[])`.
//! Helpers that need courier-core's types (in-process hubs, sessions, the app's driver)
//! stay in the `tests/common/mod.rs` of the one crate that uses them.
//!
//! A helper fails the test the way a test does: it panics, with a message saying what
//! went wrong.
//!
//! # Layout
//!
//! * [`TempDir`]: a test's own folder, removed when dropped.
//! * [`bench`]: what the transfer benchmarks share: scratch files, a settled page cache,
//!   the plain-TCP and tar baselines, a child's CPU time and memory.
//! * [`json`]: a process's output as text and as JSON lines.
//! * [`not_run`]: the one way a test says it cannot run on this machine.
//! * [`process`]: child processes: kill on drop, Ctrl-C, tools on `PATH`, polling.
//! * [`hub`]: a `courier hub --json` process and its startup line.
//! * [`memory`] (Linux): another process's memory searched for byte strings while it runs.
//! * [`netns`] (Linux): network namespaces joined by veth pairs (needs root and `ip`).
//! * [`tmpfs`]: a small tmpfs mounted for a test (needs root and Linux).
//! * [`windows`]: Courier's Windows build (MinGW) under Wine.
//! * [`xvfb`]: a private X server, and the X tools that drive and photograph windows.

// A test helper fails its test by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod bench;
pub mod hub;
pub mod json;
#[cfg(target_os = "linux")]
pub mod memory;
#[cfg(target_os = "linux")]
pub mod netns;
pub mod process;
mod temp;
pub mod tmpfs;
pub mod windows;
pub mod xvfb;

pub use hub::HubProcess;
pub use temp::TempDir;

/// The environment variable that makes a missing system tool a failure: `.ci/run` sets
/// it to `1`, because CI has every tool, and there a skipped test would hide a fault.
pub const REQUIRE_SYSTEM_TOOLS: &str = "COURIER_REQUIRE_SYSTEM_TOOLS";

/// Says that `test` cannot run on this machine and why: one line,
/// `NOT RUN: <test>: <why>`, on the terminal (stderr, which cargo does not capture), so
/// that the test's `ok` does not hide that it checked nothing. The caller returns right
/// after. With `COURIER_REQUIRE_SYSTEM_TOOLS=1` (CI) this fails the test instead.
pub fn not_run(test: &str, why: &str) {
    use std::io::Write as _;
    let required = std::env::var_os(REQUIRE_SYSTEM_TOOLS).is_some_and(|v| v == "1");
    assert!(!required, "{test}: {why} (and {REQUIRE_SYSTEM_TOOLS}=1)");
    let _ = writeln!(std::io::stderr(), "\nNOT RUN: {test}: {why}\n");
}
