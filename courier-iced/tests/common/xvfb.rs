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

/// Runs `cmd`, fails the test if it fails, and returns its trimmed standard output.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `f` every 100 ms until it holds; fails the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn xdotool(display: &str, args: &[&str]) -> String {
    run(Command::new("xdotool").env("DISPLAY", display).args(args))
}

/// Screenshots one window (ImageMagick's `import`).
pub fn shoot(display: &str, window: &str, path: &Path) {
    run(Command::new("import")
        .env("DISPLAY", display)
        .args(["-window", window])
        .arg(path));
}

/// ImageMagick's `-format` of a picture (size, colours, brightness…).
pub fn magick(path: &Path, format: &str) -> String {
    run(Command::new("convert")
        .arg(path)
        .args(["-format", format, "info:"]))
}

/// The tools a window test drives, from `tools`, that this machine lacks.
pub fn missing(tools: &[&'static str]) -> Vec<&'static str> {
    tools
        .iter()
        .copied()
        .filter(|tool| {
            !Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect()
}

/// Says on the terminal (past cargo's output capture) that `test` did not run and why;
/// with `COURIER_REQUIRE_SYSTEM_TOOLS=1` (CI sets it) that is a failure instead.
pub fn not_run(test: &str, why: &str) {
    use std::io::Write as _;
    let required = std::env::var_os("COURIER_REQUIRE_SYSTEM_TOOLS").is_some_and(|v| v == "1");
    assert!(
        !required,
        "{test}: {why} (and COURIER_REQUIRE_SYSTEM_TOOLS=1)"
    );
    let _ = writeln!(std::io::stderr(), "\nNOT RUN: {test}: {why}\n");
}

/// Starts the app (`app`: the program, its arguments and environment) on `display` with
/// the tiny-skia renderer, and waits up to `limit` for its window; returns the process
/// (killed when dropped) and the window's id.
pub fn launch(mut app: Command, display: &str, limit: Duration) -> (Guard, String) {
    let child = app
        .env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .env("ICED_BACKEND", "tiny-skia")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the app starts");
    let app = Guard(child);
    let mut window = String::new();
    wait_for("the window", limit, || {
        let out = Command::new("xdotool")
            .env("DISPLAY", display)
            .args(["search", "--name", "^Courier$"])
            .output()
            .expect("xdotool runs");
        window = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        !window.is_empty()
    });
    (app, window)
}
