//! Trust in the real window: `courier-app` under Xvfb logs in to a hub where "Bob" (a
//! plain courier-core session) is not the device this profile verified as Bob. The app
//! shows the blocking warning at once; "Compare safety numbers" opens Bob's safety number
//! page (the 60 digits and the QR code); "Mark as verified" writes Bob's device into the
//! profile folder's verified marks. Screenshots of the warning and of the page are left in
//! `target/tmp/trust-shots/`, to look at.
//!
//! Where to click is read from the app's own layout, as in `groups_xvfb.rs`: a copy of the
//! chat screen, fed the same contacts and marks, laid out by iced_test at the window's size.
//!
//! Needs Xvfb, xdotool, xprop and ImageMagick, as the window smoke test does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Peer, TestHub};
use courier_core::contacts::Verified;
use courier_core::identity::PinStore;
use courier_core::proto::{ClientId, Contact, ContactCard, Profile, Timestamp};
use courier_core::session::{Event, Welcome};
use courier_iced::screen::chat::{self, Boot, Chat, HubInfo, safety};
use courier_iced::settings::Settings;
use courier_testkit::process::{missing, wait_for};
use courier_testkit::xvfb::{self, magick, shoot, xdotool};
use courier_testkit::{TempDir, not_run};
use iced::{Rectangle, Size};
use iced_test::selector::Candidate;

const PASSWORD: &str = "trust window password";
const NAME: &str = "Ada Window";
const SIZE: Size = Size::new(1100.0, 720.0);

/// The chat screen as the app draws it, to find where things are.
struct Mirror {
    chat: Chat,
    settings: Settings,
}

impl Mirror {
    /// The chat of `me` with Bob, whose marks are those in `marks_dir`.
    fn new(me: ClientId, bob: ClientId, marks_dir: &Path) -> Self {
        let welcome = Welcome {
            you: me,
            hub: ClientId([9; 32]),
            first_contact: false,
            remembered: false,
            contacts: vec![Contact {
                id: bob,
                profile: ContactCard {
                    name: "Bob".into(),
                    ..ContactCard::default()
                },
                online: true,
                last_seen: Timestamp(0),
            }],
            time: Timestamp(0),
        };
        let hub = HubInfo {
            address: String::new(),
            fingerprint: ClientId([9; 32]),
            join: Vec::new(),
            hosted: false,
            advertised: None,
            password: None,
        };
        let boot = Boot {
            history: Some(marks_dir.to_owned()),
            focused: true,
            ..Boot::default()
        };
        let (chat, _) = Chat::boot(None, &welcome, Profile::with_name(NAME), hub, boot);
        Self {
            chat,
            settings: Settings::default(),
        }
    }

    fn update(&mut self, m: chat::Message) {
        let _ = self.chat.update(m, &mut self.settings);
    }

    /// The bounds of the text `label`.
    fn find(&self, label: &'static str) -> Rectangle {
        let settings = iced::Settings {
            default_font: iced::Font::with_name("Fira Sans"),
            ..iced::Settings::default()
        };
        let mut ui =
            iced_test::Simulator::with_size(settings, SIZE, self.chat.view(&self.settings));
        let wanted = label.to_owned();
        ui.find(move |c: Candidate<'_>| match c {
            Candidate::Text {
                content, bounds, ..
            } if content == wanted => Some(bounds),
            _ => None,
        })
        .unwrap_or_else(|e| panic!("{label} is not drawn: {e}"))
    }
}

/// Clicks the middle of `at` in the real window, and waits for it to redraw.
fn click(display: &str, window: &str, at: Rectangle) {
    let (x, y) = (at.x + at.width / 2.0, at.y + at.height / 2.0);
    xdotool(
        display,
        &[
            "mousemove",
            "--window",
            window,
            &format!("{}", x as u32),
            &format!("{}", y as u32),
            "click",
            "1",
        ],
    );
    std::thread::sleep(Duration::from_millis(700));
}

/// `path` is a 1100×720 picture with more than a few colours (not blank).
fn looked_at(path: &Path) {
    assert_eq!(magick(path, "%w %h"), "1100 720");
    let colors: u32 = magick(path, "%k").parse().unwrap();
    assert!(
        colors > 40,
        "{} looks blank ({colors} colours)",
        path.display()
    );
    eprintln!("screenshot {}", path.display());
}

#[test]
fn the_window_warns_of_a_new_device_shows_its_safety_number_and_marks_it_verified() {
    let missing = missing(&xvfb::TOOLS);
    if !missing.is_empty() {
        return not_run(
            "the trust window test",
            &format!(
                "{} missing: install the Debian packages xvfb xdotool x11-utils imagemagick",
                missing.join(", ")
            ),
        );
    }
    let scratch = TempDir::new("iced-trust-window");
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
    // This profile verified another device as Bob before.
    let old_bob = ClientId([7; 32]);
    Verified::new(&dir)
        .mark(old_bob, "Bob", Timestamp(1_700_000_000_000))
        .unwrap();
    let marks = scratch.subdir("mirror");
    Verified::new(&marks)
        .mark(old_bob, "Bob", Timestamp(1_700_000_000_000))
        .unwrap();

    let mut program = Command::new(env!("CARGO_BIN_EXE_courier-app"));
    program.env("COURIER_APP_DIR", &dir);
    program.env("COURIER_NO_DISCOVERY", "1");
    let (app, window) = xvfb::launch(program, &display, Duration::from_secs(60));
    xdotool(
        &display,
        &[
            "windowsize",
            "--sync",
            &window,
            &SIZE.width.to_string(),
            &SIZE.height.to_string(),
        ],
    );
    std::thread::sleep(Duration::from_millis(800));
    xdotool(&display, &["windowfocus", "--sync", &window]);
    xdotool(&display, &["type", "--delay", "20", PASSWORD]);
    xdotool(&display, &["key", "Return"]);
    let ada = bob.expect("the app logged in", |e| match e {
        Event::Contact(c) if c.profile.name == NAME && c.online => Some(c.id),
        _ => None,
    });
    wait_for("the chat window title", Duration::from_secs(30), || {
        xdotool(&display, &["getwindowname", &window]).contains(&format!("Courier — {NAME} on"))
    });
    // The chat screen, with the warning over it, drawn after the title changed.
    std::thread::sleep(Duration::from_millis(3000));
    let mut mirror = Mirror::new(ada, bob.id, &marks);

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("trust-shots");
    std::fs::create_dir_all(&shots).unwrap();
    // The warning is up at once: Bob is not the device verified as Bob.
    let warning = shots.join("trust-warning-1100x720.png");
    shoot(&display, &window, &warning);
    looked_at(&warning);

    click(&display, &window, mirror.find("Compare safety numbers"));
    mirror.update(chat::Message::Safety(safety::Message::Open(bob.id)));
    std::thread::sleep(Duration::from_millis(800));
    let page = shots.join("trust-safety-number-1100x720.png");
    shoot(&display, &window, &page);
    looked_at(&page);

    click(&display, &window, mirror.find("Mark as verified"));
    wait_for(
        "Bob's device marked verified",
        Duration::from_secs(10),
        || Verified::new(&dir).is_verified(&bob.id).unwrap_or(false),
    );
    std::thread::sleep(Duration::from_millis(500));
    shoot(
        &display,
        &window,
        &shots.join("trust-verified-1100x720.png"),
    );
    drop(app);
    hub.stop();
}
