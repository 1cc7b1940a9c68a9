//! Cold start to the first frame of the real binary under Xvfb (tiny-skia), against
//! spawning a process that opens no window (`true`), in the same run. The app prints
//! the time from `main` to its first frame and exits when run with
//! `COURIER_STARTUP_PROBE`. As root, each "cold" run first drops the page cache, so the
//! binary and the fonts come from disk as after a reboot. Needs Xvfb.
//!
//! `cargo bench -p courier-iced --bench startup`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use courier_testkit::xvfb;

const RUNS: usize = 7;

fn drop_page_cache() -> bool {
    Command::new("sync").status().is_ok_and(|s| s.success())
        && std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

/// One start: (wall time to exit after the first frame, main → first frame in ms).
fn start_once(display: &str, dir: &Path) -> (Duration, f64) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_courier-app"))
        .env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .env("ICED_BACKEND", "tiny-skia")
        .env("COURIER_APP_DIR", dir)
        .env("COURIER_NO_DISCOVERY", "1")
        .env("COURIER_STARTUP_PROBE", "1")
        .output()
        .unwrap();
    let wall = start.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let inner = text
        .trim()
        .strip_prefix("first frame after ")
        .and_then(|s| s.strip_suffix(" ms"))
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or_else(|| {
            panic!(
                "the app did not report a first frame: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (wall, inner)
}

fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

fn main() {
    let (xvfb, display) = xvfb::start();
    let dir = std::env::temp_dir().join(format!("courier-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let can_drop = drop_page_cache();
    let mut warm = Vec::new();
    let mut cold = Vec::new();
    let mut baseline = Vec::new();
    for _ in 0..RUNS {
        warm.push(start_once(&display, &dir));
        if can_drop {
            drop_page_cache();
            cold.push(start_once(&display, &dir));
        }
        let start = Instant::now();
        Command::new("true").status().unwrap();
        baseline.push(start.elapsed());
    }
    drop(xvfb);
    let _ = std::fs::remove_dir_all(&dir);

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let report = |label: &str, runs: &[(Duration, f64)]| {
        let wall = median(runs.iter().map(|r| r.0).collect());
        let inner = median(runs.iter().map(|r| r.1).collect());
        println!(
            "{label}: process start → first frame → exit {:.0} ms (main → first frame {inner:.0} ms); \
             / 500 ms bar = {:.2}",
            ms(wall),
            ms(wall) / 500.0
        );
    };
    println!("startup under Xvfb, tiny-skia, median of {RUNS}:");
    report("warm page cache", &warm);
    if can_drop {
        report("cold (page cache dropped)", &cold);
    } else {
        println!("cold: not measured (dropping the page cache needs root)");
    }
    println!(
        "baseline, spawning a process that opens no window: {:.1} ms",
        ms(median(baseline))
    );
}
