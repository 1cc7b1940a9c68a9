//! Cold start to the first frame of the real binary under Xvfb (tiny-skia), against
//! starting a process that opens no window (`courier-app --version`-like baseline:
//! `true`). The app prints the time from `main` to its first frame and exits when run
//! with `COURIER_STARTUP_PROBE`. Needs Xvfb (as the smoke test).
//!
//! `cargo bench -p courier-iced --bench startup`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let display = format!(":{}", 700 + std::process::id() % 200);
    let mut xvfb = Command::new("Xvfb")
        .arg(&display)
        .args([
            "-screen",
            "0",
            "1600x1000x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb (apt-get install xvfb)");
    let socket = format!("/tmp/.X11-unix/X{}", &display[1..]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !Path::new(&socket).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = std::env::temp_dir().join(format!("courier-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let mut app = Vec::new();
    let mut inner = Vec::new();
    let mut baseline = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_courier-app"))
            .env("DISPLAY", &display)
            .env_remove("WAYLAND_DISPLAY")
            .env("ICED_BACKEND", "tiny-skia")
            .env("COURIER_APP_DIR", &dir)
            .env("COURIER_STARTUP_PROBE", "1")
            .output()
            .unwrap();
        app.push(start.elapsed());
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(ms) = text
            .trim()
            .strip_prefix("first frame after ")
            .and_then(|s| s.strip_suffix(" ms"))
            .and_then(|s| s.parse::<f64>().ok())
        {
            inner.push(ms);
        } else {
            panic!(
                "the app did not report a first frame: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let start = Instant::now();
        Command::new("true").status().unwrap();
        baseline.push(start.elapsed());
    }
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    let _ = std::fs::remove_dir_all(&dir);
    app.sort();
    baseline.sort();
    inner.sort_by(f64::total_cmp);
    let median = app[app.len() / 2];
    println!(
        "cold start, process start → first frame drawn → exit (median of 7): {:.0} ms \
         (main → first frame: {:.0} ms); bar 500 ms → ratio {:.2}",
        median.as_secs_f64() * 1e3,
        inner[inner.len() / 2],
        median.as_secs_f64() / 0.5
    );
    println!(
        "baseline, spawning a process that opens no window: {:.1} ms",
        baseline[baseline.len() / 2].as_secs_f64() * 1e3
    );
}
