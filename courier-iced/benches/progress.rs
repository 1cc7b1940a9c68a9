//! Whether the app keeps up while a fast transfer reports: a chat with a running transfer
//! card in the open conversation gets the updates the core gives a front end, and each
//! frame (16 ms at 60 Hz) runs `update` for that frame's updates, then `view`, layout and
//! draw with the tiny-skia renderer. Printed per scenario: the updates a frame carries,
//! the time `update` took for them and the frame's whole time (median, p99, max),
//! against the 16 ms budget. No figure is asserted: read them.
//!
//! Scenarios, at the rates the core can give (issue 25):
//! * a 10 GiB file at 2 GB/s: `Progress` paced by the core (at most 10 a second);
//! * a folder of 10 000 files of 100 KiB at 10 000 files/s: a `FileDone` per file and
//!   paced `Progress`;
//! * without the core's pacing (for comparison): a `Progress` per 256 KiB chunk at
//!   2 GB/s.
//!
//! `cargo bench -p courier-iced --bench progress`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use courier_core::proto::{
    ClientId, Contact, ContactCard, FileEntry, IncomingOffer, Manifest, Presence, Profile, Target,
    Timestamp, TransferId,
};
use courier_core::session::{Event, Welcome};
use courier_core::transfer::{Progress, Route, Update};
use courier_iced::screen::chat::{self, Chat, HubInfo, transfers};
use courier_iced::settings::Settings;
use iced::{Font, Pixels, Size, Theme};
use iced_test::core::{mouse, renderer};
use iced_test::runtime::user_interface::{Cache, UserInterface};

const SIZE: Size = Size::new(1100.0, 720.0);
const FRAME: Duration = Duration::from_micros(16_667);
/// Frames measured per scenario (10 s of a 60 Hz window).
const FRAMES: usize = 600;
const PEER: ClientId = ClientId([2; 32]);

fn person(n: u8, name: &str) -> Contact {
    Contact {
        id: ClientId([n; 32]),
        profile: ContactCard {
            name: name.into(),
            presence: Presence::Available,
            status: String::new(),
            avatar: None,
            keys: None,
        },
        online: true,
        last_seen: Timestamp(1_700_000_000_000),
    }
}

/// A chat with the peer's conversation open and an offer of `files` from it, accepted
/// and connected: its card shows progress. Returns the chat and the card's key.
fn chat_with_card(files: Vec<FileEntry>, settings: &mut Settings) -> (Chat, u64) {
    let welcome = Welcome {
        you: ClientId([1; 32]),
        hub: ClientId([9; 32]),
        first_contact: false,
        remembered: false,
        contacts: vec![person(2, "Bob"), person(3, "Carol")],
        time: Timestamp(0),
    };
    let hub = HubInfo {
        address: "192.168.1.20:8977".into(),
        fingerprint: ClientId([9; 32]),
        join: vec!["192.168.1.20:8977".into()],
        hosted: false,
        advertised: None,
        password: None,
    };
    let boot = chat::Boot {
        focused: true,
        ..Default::default()
    };
    let (mut chat, _) = Chat::boot(None, &welcome, Profile::with_name("Ada"), hub, boot);
    chat.update(chat::select(Target::Client(PEER)), settings);
    let offer = IncomingOffer {
        id: TransferId(7),
        digest: [0; 32],
        from: PEER,
        manifest: Manifest {
            files,
            folders: vec![],
            test: None,
        },
        addrs: vec![],
        time: None,
    };
    chat.session_event(Event::Offer(offer), settings);
    let key = *chat
        .transfers()
        .cards
        .keys()
        .next()
        .expect("the offer's card");
    let connected = Update::Connected {
        route: Route::Direct,
    };
    chat.update(transfer(key, connected), settings);
    (chat, key)
}

fn transfer(key: u64, u: Update) -> chat::Message {
    chat::Message::Transfer(transfers::Message::Update(key, u))
}

fn progress(bytes: u64, total: u64, rate: f64) -> Update {
    Update::Progress(Progress {
        file: Some(0),
        file_bytes: bytes,
        file_size: total,
        bytes,
        total,
        rate,
        eta: Some(Duration::from_secs_f64((total - bytes) as f64 / rate)),
    })
}

/// One scenario's updates, frame by frame: `per_frame(i)` gives frame `i`'s.
struct Scenario<'a> {
    name: &'a str,
    files: Vec<FileEntry>,
    per_frame: Box<dyn Fn(usize, u64) -> Vec<Update> + 'a>,
}

/// Runs `FRAMES` frames of a scenario; prints the figures.
fn run(s: &Scenario<'_>, renderer: &mut iced::Renderer) {
    let mut settings = Settings::default();
    let (mut chat, key) = chat_with_card(s.files.clone(), &mut settings);
    let mut cache = Cache::default();
    let (mut updates, mut frames, mut count) = (Vec::new(), Vec::new(), 0);
    for i in 0..FRAMES + 10 {
        let batch = (s.per_frame)(i, key);
        let n = batch.len();
        let start = Instant::now();
        for u in batch {
            chat.update(transfer(key, u), &mut settings);
        }
        let updated = start.elapsed();
        let element = chat.view(&settings);
        let mut ui = UserInterface::build(element, SIZE, std::mem::take(&mut cache), renderer);
        ui.draw(
            renderer,
            &Theme::Light,
            &renderer::Style::default(),
            mouse::Cursor::Unavailable,
        );
        cache = ui.into_cache();
        // The first frames shape every text once: not what a running transfer costs.
        if i >= 10 {
            updates.push(updated);
            frames.push(start.elapsed());
            count += n;
        }
    }
    updates.sort();
    frames.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q) as usize];
    println!(
        "{:<52} {:>6.1} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>7.3}",
        s.name,
        count as f64 / FRAMES as f64,
        ms(p(&updates, 0.5)),
        ms(p(&frames, 0.5)),
        ms(p(&frames, 0.99)),
        ms(frames[frames.len() - 1]),
        ms(p(&frames, 0.99)) / ms(FRAME),
    );
}

fn main() {
    let mut renderer = iced::Renderer::new(Font::with_name("Fira Sans"), Pixels(16.0));
    let big = 10u64 << 30;
    let rate = 2e9;
    // Bytes a frame moves at 2 GB/s; the core's pace: a report every 112 ms.
    let per_frame = (rate * FRAME.as_secs_f64()) as u64;
    let paced_every = 7; // frames: 7 × 16.7 ms ≥ 112 ms
    let one_file = vec![FileEntry {
        path: "disk-image.iso".into(),
        size: big,
    }];
    let small = 100u64 << 10;
    let folder: Vec<FileEntry> = (0..10_000)
        .map(|i| FileEntry {
            path: format!("photos/img{i:05}.jpg"),
            size: small,
        })
        .collect();
    let folder_total = small * 10_000;
    let files_per_frame = (10_000.0 * FRAME.as_secs_f64()).round() as usize;
    let scenarios = [
        Scenario {
            name: "10 GiB file at 2 GB/s, paced Progress",
            files: one_file.clone(),
            per_frame: Box::new(move |i, _| {
                let done = (per_frame * i as u64).min(big);
                if i % paced_every == 0 {
                    vec![progress(done, big, rate)]
                } else {
                    Vec::new()
                }
            }),
        },
        Scenario {
            name: "10 000 files at 10 000 files/s: FileDone + paced",
            files: folder,
            per_frame: Box::new(move |i, _| {
                let first = (i * files_per_frame) % 10_000;
                let mut v: Vec<Update> = (first..first + files_per_frame)
                    .map(|f| Update::FileDone {
                        index: f as u32,
                        path: Some(format!("/home/ada/Downloads/photos/img{f:05}.jpg").into()),
                    })
                    .collect();
                if i % paced_every == 0 {
                    let done = (small * first as u64).min(folder_total);
                    v.push(progress(done, folder_total, rate));
                }
                v
            }),
        },
        Scenario {
            name: "unpaced: a Progress per 256 KiB at 2 GB/s",
            files: one_file,
            per_frame: Box::new(move |i, _| {
                let chunk = 256u64 << 10;
                let n = per_frame / chunk;
                (0..n)
                    .map(|k| {
                        let done = (per_frame * i as u64 + k * chunk).min(big);
                        progress(done, big, rate)
                    })
                    .collect()
            }),
        },
    ];
    println!(
        "a chat at {}×{} with a running transfer card; {FRAMES} frames each (times in ms):",
        SIZE.width, SIZE.height
    );
    println!(
        "{:<52} {:>6} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "scenario", "upd/fr", "update", "frame", "p99", "max", "p99/16"
    );
    for s in &scenarios {
        run(s, &mut renderer);
    }
    // Before issue 25 every transfer update asked for the download folder, and the
    // default one is read from the XDG configuration: what that cost per update.
    let settings = Settings::default();
    let start = Instant::now();
    for _ in 0..1000 {
        std::hint::black_box(settings.downloads());
    }
    println!(
        "what each update paid before issue 25 (the default download folder looked up): {:.1} µs",
        start.elapsed().as_secs_f64() * 1e3
    );
}
