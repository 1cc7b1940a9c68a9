//! The real binary in a real X server: starts `courier-app` under Xvfb with the
//! tiny-skia renderer, logs into a hub started here by typing the password, checks the
//! hub sees it, and takes screenshots at 1024×700 and 1600×1000 in light and dark
//! (kept in `target/tmp/smoke-shots/` to look at).
//!
//! Needs Xvfb, xdotool and ImageMagick (`.ci/run` installs them): without them this
//! test does not run and says so on the terminal, what is missing and what to install;
//! `COURIER_REQUIRE_SYSTEM_TOOLS=1` (CI sets it) makes that a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/xvfb.rs"]
mod xvfb;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Peer, Scratch, TestHub};
use courier_core::identity::PinStore;
use courier_core::proto::Target;
use courier_core::session::Event;
use courier_iced::settings::Settings;

const PASSWORD: &str = "smoke test password";
const NAME: &str = "Smoke Test";

/// The tools this test drives, and those of them this machine lacks.
fn missing_tools() -> Vec<&'static str> {
    ["Xvfb", "xdotool", "import", "convert"]
        .into_iter()
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

/// Says on the terminal (past cargo's output capture) that this test did not run and
/// why; with `COURIER_REQUIRE_SYSTEM_TOOLS=1` (CI sets it) that is a failure instead.
fn not_run(why: &str) {
    use std::io::Write as _;
    let required = std::env::var_os("COURIER_REQUIRE_SYSTEM_TOOLS").is_some_and(|v| v == "1");
    assert!(!required, "{why} (and COURIER_REQUIRE_SYSTEM_TOOLS=1)");
    let _ = writeln!(
        std::io::stderr(),
        "\nNOT RUN: the window smoke test: {why}\n"
    );
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn xdotool(display: &str, args: &[&str]) -> String {
    run(Command::new("xdotool").env("DISPLAY", display).args(args))
}

fn shoot(display: &str, window: &str, path: &Path) {
    run(Command::new("import")
        .env("DISPLAY", display)
        .args(["-window", window])
        .arg(path));
}

fn magick(path: &Path, format: &str) -> String {
    run(Command::new("convert")
        .arg(path)
        .args(["-format", format, "info:"]))
}

/// Starts the app with `settings`, types the password, and waits until `bob` sees it.
fn start_app(display: &str, dir: &Path, settings: &Settings, bob: &Peer) -> (xvfb::Guard, String) {
    settings.save(dir).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_courier-app"))
        .env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .env("ICED_BACKEND", "tiny-skia")
        .env("COURIER_APP_DIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let app = xvfb::Guard(child);
    let mut window = String::new();
    wait_for("the window", Duration::from_secs(60), || {
        let out = Command::new("xdotool")
            .env("DISPLAY", display)
            .args(["search", "--name", "^Courier$"])
            .output()
            .unwrap();
        window = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        !window.is_empty()
    });
    // Address and name are remembered: the cursor waits in the password field.
    std::thread::sleep(Duration::from_millis(500));
    xdotool(display, &["windowfocus", "--sync", &window]);
    xdotool(display, &["type", "--delay", "15", PASSWORD]);
    xdotool(display, &["key", "Return"]);
    bob.expect("the app logged in", |e| match e {
        Event::Contact(c) if c.profile.name == NAME && c.online => Some(()),
        _ => None,
    });
    wait_for("the chat window title", Duration::from_secs(30), || {
        xdotool(display, &["getwindowname", &window]).contains(&format!("Courier — {NAME} on"))
    });
    (app, window)
}

#[test]
fn real_window_logs_in_and_renders_at_two_sizes_in_both_themes() {
    let missing = missing_tools();
    if !missing.is_empty() {
        return not_run(&format!(
            "{} missing: install the Debian packages xvfb xdotool imagemagick (as .ci/run does)",
            missing.join(", ")
        ));
    }
    let scratch = Scratch::new("smoke");
    let hub = TestHub::start(&scratch.path("hub"), PASSWORD, 0);
    let (_x, display) = xvfb::start();
    let bob = Peer::join(&hub.address(), PASSWORD, "Bob");

    let dir = scratch.path("app");
    // The hub was confirmed on an earlier run: the pin is checked silently.
    PinStore::new(&dir)
        .set(&hub.address(), hub.fingerprint)
        .unwrap();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("smoke-shots");
    std::fs::create_dir_all(&shots).unwrap();

    let mut brightness = Vec::new();
    for dark in [false, true] {
        let settings = Settings {
            hub: hub.address(),
            name: NAME.into(),
            dark,
            notifications: false,
            ..Settings::default()
        };
        let (app, window) = start_app(&display, &dir, &settings, &bob);
        smol::block_on(
            bob.handle
                .send_message(Target::Everyone, "Hello from the smoke test"),
        )
        .unwrap();
        for (w, h) in [(1024, 700), (1600, 1000)] {
            xdotool(
                &display,
                &[
                    "windowsize",
                    "--sync",
                    &window,
                    &w.to_string(),
                    &h.to_string(),
                ],
            );
            std::thread::sleep(Duration::from_millis(1500));
            let theme = if dark { "dark" } else { "light" };
            let path = shots.join(format!("main-{w}x{h}-{theme}.png"));
            shoot(&display, &window, &path);
            assert_eq!(
                magick(&path, "%w %h"),
                format!("{w} {h}"),
                "{}",
                path.display()
            );
            let colors: u32 = magick(&path, "%k").parse().unwrap();
            assert!(
                colors > 40,
                "{} looks blank ({colors} colours)",
                path.display()
            );
            let mean: f64 = magick(&path, "%[fx:mean]").parse().unwrap();
            brightness.push((dark, mean));
            eprintln!(
                "screenshot {} ({colors} colours, mean {mean:.2})",
                path.display()
            );
        }
        drop(app);
    }
    for (dark, mean) in &brightness {
        if *dark {
            assert!(*mean < 0.45, "the dark theme is dark (mean {mean:.2})");
        } else {
            assert!(*mean > 0.6, "the light theme is light (mean {mean:.2})");
        }
    }
    hub.stop();
}
