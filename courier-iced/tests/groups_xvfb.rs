//! Groups in the real window: `courier-app` under Xvfb creates a group with Bob (a
//! plain courier-core session) by clicking New group, typing its name, ticking Bob and
//! pressing Create; writes in it; shows Bob's answer; opens the member page (screenshot
//! in `target/tmp/group-shots/`, to look at); and leaves the group after confirming.
//!
//! Where to click is read from the app's own layout: a copy of the chat screen, fed the
//! same contacts and group, is laid out by iced_test at the window's size with the
//! app's font, and the real window is clicked at the middle of each widget found.
//!
//! Needs Xvfb, xdotool, xprop and ImageMagick, as the window smoke test does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Peer, TestHub};
use courier_core::identity::PinStore;
use courier_core::proto::{
    ClientId, Contact, ContactCard, GroupChange, Profile, Target, Timestamp,
};
use courier_core::session::{Event, Welcome};
use courier_iced::screen::chat::{self, Boot, Chat, HubInfo, contacts, groups};
use courier_iced::settings::Settings;
use courier_testkit::process::{missing, wait_for};
use courier_testkit::xvfb::{self, magick, shoot, xdotool};
use courier_testkit::{TempDir, not_run};
use iced::{Rectangle, Size};
use iced_test::selector::Candidate;

const PASSWORD: &str = "group window password";
const NAME: &str = "Ada Window";
const SIZE: Size = Size::new(1100.0, 720.0);

/// The chat screen as the app draws it, to find where things are.
struct Mirror {
    chat: Chat,
    settings: Settings,
}

impl Mirror {
    fn new(me: ClientId, bob: ClientId) -> Self {
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

    /// The bounds of the text `label` (the first one right of `min_x`), or of the
    /// widget with the id `label`.
    fn find(&self, label: &'static str, min_x: f32) -> Rectangle {
        let settings = iced::Settings {
            default_font: iced::Font::with_name("Fira Sans"),
            ..iced::Settings::default()
        };
        let mut ui =
            iced_test::Simulator::with_size(settings, SIZE, self.chat.view(&self.settings));
        if let Ok(found) = ui.find(iced::widget::Id::new(label)) {
            return iced_test::selector::Bounded::bounds(&found);
        }
        let wanted = label.to_owned();
        ui.find(move |c: Candidate<'_>| match c {
            Candidate::Text {
                content, bounds, ..
            } if content == wanted && bounds.x >= min_x => Some(bounds),
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

fn type_text(display: &str, window: &str, text: &str) {
    xdotool(display, &["windowfocus", "--sync", window]);
    xdotool(display, &["type", "--delay", "20", text]);
    std::thread::sleep(Duration::from_millis(400));
}

#[test]
fn the_window_creates_a_group_writes_in_it_shows_its_members_and_leaves_it() {
    let missing = missing(&xvfb::TOOLS);
    if !missing.is_empty() {
        return not_run(
            "the group window test",
            &format!(
                "{} missing: install the Debian packages xvfb xdotool x11-utils imagemagick",
                missing.join(", ")
            ),
        );
    }
    let scratch = TempDir::new("iced-group-window");
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
    type_text(&display, &window, PASSWORD);
    xdotool(&display, &["key", "Return"]);
    let ada = bob.expect("the app logged in", |e| match e {
        Event::Contact(c) if c.profile.name == NAME && c.online => Some(c.id),
        _ => None,
    });
    wait_for("the chat window title", Duration::from_secs(30), || {
        xdotool(&display, &["getwindowname", &window]).contains(&format!("Courier — {NAME} on"))
    });
    std::thread::sleep(Duration::from_millis(1000));
    let mut mirror = Mirror::new(ada, bob.id);

    // New group: the name, Bob ticked, Create.
    click(&display, &window, mirror.find("New group", 0.0));
    mirror.update(chat::Message::Contacts(contacts::Message::NewGroup));
    click(&display, &window, mirror.find("group-name", 0.0));
    type_text(&display, &window, "ops");
    mirror.update(chat::Message::Groups(groups::Message::Form(
        groups::form::Message::Name("ops".into()),
    )));
    click(&display, &window, mirror.find("Bob", 281.0));
    mirror.update(chat::Message::Groups(groups::Message::Form(
        groups::form::Message::Pick(bob.id, true),
    )));
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("group-shots");
    std::fs::create_dir_all(&shots).unwrap();
    shoot(&display, &window, &shots.join("group-new-1100x720.png"));
    click(&display, &window, mirror.find("Create", 281.0));
    let ops = bob.expect("Bob is in the new group", |e| match e {
        Event::Group(g) if g.name == "ops" => Some(g.clone()),
        _ => None,
    });
    assert_eq!(ops.members.len(), 2);
    let _ = mirror
        .chat
        .session_event(Event::Group(ops.clone()), &mirror.settings);
    mirror.update(chat::select(Target::Group(ops.id)));
    std::thread::sleep(Duration::from_millis(800));

    // Ada writes in it; Bob answers.
    click(&display, &window, mirror.find("composer", 0.0));
    type_text(&display, &window, "hello ops");
    xdotool(&display, &["key", "Return"]);
    let got = bob.expect("Ada's message in the group", |e| match e {
        Event::Message(m) if m.text == "hello ops" => Some(m.clone()),
        _ => None,
    });
    assert_eq!(got.to, Target::Group(ops.id));
    smol::block_on(
        bob.handle
            .send_message(Target::Group(ops.id), "hi Ada, got it"),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));

    // The member page, photographed.
    click(&display, &window, mirror.find("Members", 281.0));
    mirror.update(chat::Message::Groups(groups::Message::ShowMembers));
    std::thread::sleep(Duration::from_millis(800));
    let path = shots.join("group-members-1100x720.png");
    shoot(&display, &window, &path);
    assert_eq!(magick(&path, "%w %h"), "1100 720");
    let colors: u32 = magick(&path, "%k").parse().unwrap();
    assert!(
        colors > 40,
        "{} looks blank ({colors} colours)",
        path.display()
    );
    eprintln!("screenshot {}", path.display());

    // Leave, confirmed.
    click(&display, &window, mirror.find("Leave group", 281.0));
    mirror.update(chat::Message::Groups(groups::Message::Members(
        groups::members::Message::Leave,
    )));
    click(&display, &window, mirror.find("Leave", 281.0));
    bob.expect("Ada left", |e| match e {
        Event::GroupEvent(ev) if ev.group == ops.id => {
            (ev.by == ada && ev.change == GroupChange::Left).then_some(())
        }
        _ => None,
    });
    std::thread::sleep(Duration::from_millis(800));
    shoot(&display, &window, &shots.join("group-left-1100x720.png"));

    // Bob's answer was shown: the app kept it in its history.
    drop(app);
    let history = courier_core::history::History::open(&dir, &hub.fingerprint).unwrap();
    assert_eq!(history.search("got it", 10).unwrap().len(), 1);
    hub.stop();
}
