//! A private X server for tests and benchmarks that open the app's real window.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::expect_used,
    clippy::panic
)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child process when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Xvfb (1600×1000, no TCP, no reset between clients) on a free display number;
/// returns it with its `DISPLAY` value.
pub fn start() -> (Guard, String) {
    for n in 0..50 {
        let display = 150 + (std::process::id() as usize + n) % 800;
        let socket = format!("/tmp/.X11-unix/X{display}");
        if Path::new(&socket).exists() {
            continue;
        }
        let child = Command::new("Xvfb")
            .arg(format!(":{display}"))
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
            .expect("Xvfb starts (Debian package xvfb)");
        let guard = Guard(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Path::new(&socket).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if Path::new(&socket).exists() {
            return (guard, format!(":{display}"));
        }
    }
    panic!("no free X display");
}
