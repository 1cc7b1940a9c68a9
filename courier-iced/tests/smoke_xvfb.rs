//! The real binary in a real X server: starts `courier-app` under Xvfb with the
//! tiny-skia renderer, logs into a hub started here by typing the password, checks the
//! hub sees it, and takes screenshots of the login screen, the chat, and the chat with
//! the side panel open, at 700×500 (a small window), 1100×720 (the default) and
//! 1600×1000, in light and dark (kept in `target/tmp/smoke-shots/` to look at).
//!
//! The window carries the app's icon and its application id (`WM_CLASS` "courier",
//! the desktop entry's name), read back with xprop.
//!
//! Needs Xvfb, xdotool, xprop and ImageMagick (`.ci/run` installs them): without them this
//! test does not run and says so on the terminal, what is missing and what to install;
//! `COURIER_REQUIRE_SYSTEM_TOOLS=1` (CI sets it) makes that a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Peer, TestHub};
use courier_core::identity::PinStore;
use courier_core::proto::Target;
use courier_core::session::Event;
use courier_iced::settings::Settings;
use courier_testkit::process::{ChildGuard, missing, run, wait_for};
use courier_testkit::xvfb::{self, magick, shoot, xdotool};
use courier_testkit::{TempDir, not_run, windows};

const PASSWORD: &str = "smoke test password";
const NAME: &str = "Smoke Test";
/// The window sizes the screenshots are taken at: a small window, the default, a large one.
const SIZES: [(u32, u32); 3] = [(700, 500), (1100, 720), (1600, 1000)];
/// A message with no place to break a word: its bubble must wrap it.
const HASH: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a089f86d081884c7d659a2feaa0c55ad015";

/// Resizes the window, waits for it to redraw, shoots it to `path` and checks the picture
/// has that size and is not blank; returns its mean brightness.
fn shoot_at(display: &str, window: &str, (w, h): (u32, u32), path: &std::path::Path) -> f64 {
    xdotool(
        display,
        &[
            "windowsize",
            "--sync",
            window,
            &w.to_string(),
            &h.to_string(),
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    shoot(display, window, path);
    assert_eq!(
        magick(path, "%w %h"),
        format!("{w} {h}"),
        "{}",
        path.display()
    );
    let colors: u32 = magick(path, "%k").parse().unwrap();
    assert!(
        colors > 40,
        "{} looks blank ({colors} colours)",
        path.display()
    );
    let mean: f64 = magick(path, "%[fx:mean]").parse().unwrap();
    eprintln!(
        "screenshot {} ({colors} colours, mean {mean:.2})",
        path.display()
    );
    mean
}

/// Clicks the window at (x, y) and waits for it to redraw.
fn click(display: &str, window: &str, x: u32, y: u32) {
    xdotool(
        display,
        &[
            "mousemove",
            "--window",
            window,
            &x.to_string(),
            &y.to_string(),
            "click",
            "1",
        ],
    );
    std::thread::sleep(Duration::from_millis(800));
}

/// Starts `app` (whose settings name the hub, with its pin confirmed) and logs it in by
/// typing the password into its real window; returns once the hub has it online and its
/// title names the user. `at_login` runs first, on the login screen.
fn start_app(
    app: Command,
    display: &str,
    bob: &Peer,
    at_login: impl FnOnce(&str),
) -> (ChildGuard, String) {
    // Generous: under Wine the first start also creates the Wine prefix.
    let (app, window) = xvfb::launch(app, display, Duration::from_secs(120));
    at_login(&window);
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
fn real_window_logs_in_and_renders_at_three_sizes_in_both_themes() {
    let missing = missing(&xvfb::TOOLS);
    if !missing.is_empty() {
        return not_run(
            "the window smoke test",
            &format!(
                "{} missing: install the Debian packages xvfb xdotool x11-utils imagemagick (as .ci/run does)",
                missing.join(", ")
            ),
        );
    }
    let scratch = TempDir::new("iced-smoke");
    let hub = TestHub::start(&scratch.subdir("hub"), PASSWORD, 0);
    let (_x, display) = xvfb::start();
    let bob = Peer::join(&hub.address(), PASSWORD, "Bob");

    let dir = scratch.subdir("app");
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
        settings.save(&dir).unwrap();
        let mut program = Command::new(env!("CARGO_BIN_EXE_courier-app"));
        program.env("COURIER_APP_DIR", &dir);
        // Tests touch no network but their own: no mDNS on this machine's interfaces.
        program.env("COURIER_NO_DISCOVERY", "1");
        let theme = if dark { "dark" } else { "light" };
        let (app, window) = start_app(program, &display, &bob, |window| {
            for size in SIZES {
                let (w, h) = size;
                let path = shots.join(format!("login-{w}x{h}-{theme}.png"));
                shoot_at(&display, window, size, &path);
            }
        });
        let props = run(Command::new("xprop").env("DISPLAY", &display).args([
            "-id",
            &window,
            "WM_CLASS",
            "_NET_WM_ICON",
        ]));
        assert!(
            props.contains(r#"WM_CLASS(STRING) = "courier", "courier""#),
            "the window's class names the desktop entry: {}",
            props.lines().next().unwrap_or("")
        );
        assert!(
            props.contains("Icon (128 x 128)") || props.contains("= 128, 128,"),
            "the window carries the 128 px icon: {}",
            props.chars().take(200).collect::<String>()
        );
        smol::block_on(
            bob.handle
                .send_message(Target::Everyone, "Hello from the smoke test"),
        )
        .unwrap();
        smol::block_on(bob.handle.send_message(Target::Everyone, HASH)).unwrap();
        for size in SIZES {
            let (w, h) = size;
            let path = shots.join(format!("main-{w}x{h}-{theme}.png"));
            brightness.push((dark, shoot_at(&display, &window, size, &path)));
            // "Settings & profile" at the header's right end opens the panel; its own
            // Close, at the panel's top right, closes it (over the conversation in a
            // narrow window, where the header's button is covered).
            click(&display, &window, w - 80, 26);
            let path = shots.join(format!("panel-{w}x{h}-{theme}.png"));
            shoot_at(&display, &window, size, &path);
            click(&display, &window, w - 30, 24);
        }
        // SIGKILL, with the message on screen: the history has it all the same.
        drop(app);
        let history = courier_core::history::History::open(&dir, &hub.fingerprint).unwrap();
        let kept = history
            .search("Hello from the smoke test", 10)
            .unwrap()
            .len();
        assert_eq!(
            kept,
            if dark { 2 } else { 1 },
            "what the killed app showed is in its history"
        );
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

/// The Windows build of the app, run for real under Wine in the same X server: it starts,
/// draws its login screen, logs into a Linux hub with the typed password, shows a
/// message from Bob, and carries its icon (Wine turns the window's Windows icon into
/// `_NET_WM_ICON`). Screenshot in `target/tmp/smoke-shots/windows-wine.png`.
#[test]
fn windows_build_under_wine_logs_in_and_renders() {
    const TEST: &str = "the Windows app under Wine";
    let missing = missing(&xvfb::TOOLS);
    if !missing.is_empty() {
        return not_run(
            TEST,
            &format!(
                "{} missing: install the Debian packages xvfb xdotool x11-utils imagemagick (as .ci/run does)",
                missing.join(", ")
            ),
        );
    }
    let program = match windows::build("courier-iced", "courier-app") {
        Ok(program) => program,
        Err(why) => return not_run(TEST, &why),
    };
    let scratch = TempDir::new("iced-wine-app");
    let hub = TestHub::start(&scratch.subdir("hub"), PASSWORD, 0);
    let (_x, display) = xvfb::start();
    let bob = Peer::join(&hub.address(), PASSWORD, "Bob");
    let dir = scratch.subdir("app");
    PinStore::new(&dir)
        .set(&hub.address(), hub.fingerprint)
        .unwrap();
    Settings {
        hub: hub.address(),
        name: NAME.into(),
        notifications: false,
        ..Settings::default()
    }
    .save(&dir)
    .unwrap();

    let mut app = program.command();
    app.env("COURIER_APP_DIR", windows::win(&dir));
    app.env("COURIER_NO_DISCOVERY", "1");
    let (_app, window) = start_app(app, &display, &bob, |_| {});
    smol::block_on(bob.handle.send_message(Target::Everyone, "Hello, Windows")).unwrap();
    std::thread::sleep(Duration::from_millis(2000));

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("smoke-shots");
    std::fs::create_dir_all(&shots).unwrap();
    let path = shots.join("windows-wine.png");
    shoot(&display, &window, &path);
    let colors: u32 = magick(&path, "%k").parse().unwrap();
    assert!(
        colors > 40,
        "{} looks blank ({colors} colours)",
        path.display()
    );
    eprintln!("screenshot {} ({colors} colours)", path.display());
    let icon =
        run(Command::new("xprop")
            .env("DISPLAY", &display)
            .args(["-id", &window, "_NET_WM_ICON"]));
    assert!(
        icon.contains("Icon (") || icon.contains("= "),
        "the Windows window carries an icon: {}",
        icon.chars().take(200).collect::<String>()
    );
    hub.stop();
}
