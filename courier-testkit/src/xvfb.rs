//! A private X server for tests (and benchmarks) that open the app's real window, and
//! the X tools that drive and photograph it: xdotool, ImageMagick's `import` and
//! `convert` (Debian: xvfb xdotool x11-utils imagemagick).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{ChildGuard, run, wait_for};

/// The tools a window test drives (Debian: xvfb xdotool x11-utils imagemagick).
pub const TOOLS: [&str; 5] = ["Xvfb", "xdotool", "xprop", "import", "convert"];

/// Starts Xvfb (1600×1000, no TCP, no reset between clients) on a free display number;
/// returns it (stopped when dropped) with its `DISPLAY` value.
pub fn start() -> (ChildGuard, String) {
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
        let guard = ChildGuard(child);
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

/// Runs `xdotool ARGS` on `display`; returns its output, trimmed (fails the test if it
/// fails).
pub fn xdotool(display: &str, args: &[&str]) -> String {
    run(Command::new("xdotool").env("DISPLAY", display).args(args))
}

/// Screenshots one window (ImageMagick's `import`) into `path`.
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

/// Starts the app (`app`: the program, its arguments and environment) on `display` with
/// the tiny-skia renderer, and waits up to `limit` for its window (titled `Courier`);
/// returns the process (killed when dropped) and the window's id.
pub fn launch(mut app: Command, display: &str, limit: Duration) -> (ChildGuard, String) {
    let child = app
        .env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .env("ICED_BACKEND", "tiny-skia")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the app starts");
    let app = ChildGuard(child);
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
