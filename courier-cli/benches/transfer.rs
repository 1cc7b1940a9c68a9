//! Transfers measured through the CLI, end to end: the real `courier` binary as a hub
//! (its own data folder, loopback, no mDNS, password from a file), a receiver (`courier
//! receive --yes --json --count 1`) and a sender (`courier send --json`), each its own
//! process and profile. Beside Courier, in the same run and on the same bytes, the
//! baselines: a plain TCP copy of the file and `tar c | TCP | tar x` of the folder.
//!
//! Per round: the wall time from starting `send` to both sides' `result` lines (the
//! receiver's comes once every file is verified, synced and named); the CPU seconds of
//! each process over its whole life (login included), read at its exit; each one's peak
//! RSS (VmHWM); for the relayed case the hub's CPU time over the round. Rounds alternate
//! which of Courier and the baseline goes first; the medians count.
//!
//! Run: `cargo bench -p courier-cli --bench transfer`
//! Environment: `COURIER_BENCH_MIB=1024` (the file), `COURIER_BENCH_FILES=1000` and
//! `COURIER_BENCH_FILE_KIB=100` (the folder), `COURIER_BENCH_ROUNDS=3`,
//! `COURIER_BENCH_DIR` (scratch space, default the system temp dir),
//! `COURIER_BENCH_ONLY=large,small,relayed` (a comma-separated subset).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    missing_docs
)]

// Each process's CPU and peak memory come from /proc: Linux only.
#[cfg(target_os = "linux")]
#[path = "transfer/linux.rs"]
mod linux;

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("this benchmark reads /proc: it runs on Linux only");
}
