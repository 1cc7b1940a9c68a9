//! The app with a history of 1 000 000 messages (200 contacts with 5 000 each): how long
//! opening a conversation takes, from the click to the frame drawn (the click loads its
//! newest page from SQLite, then view + layout + draw with an empty widget cache, as a
//! freshly opened conversation has), and typing a search into the contact column (the
//! full-text search, then the frame). Beside, in the same run: the same click on a
//! conversation already in memory (what the history adds is the difference), and the
//! 16 ms budget of a 60 Hz frame. Also the time from login to the chat's first frame
//! with this history: opening the file, loading Everyone's page, drawing.
//!
//! `cargo bench -p courier-iced --bench history` (`COURIER_BENCH_MESSAGES=1000000`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use courier_core::history::History;
use courier_core::proto::{
    ClientId, Contact, ContactCard, Message, MsgId, Presence, Profile, Target, Timestamp,
};
use courier_core::session::Welcome;
use courier_iced::screen::chat::{self, Chat, HubInfo, contacts};
use courier_iced::settings::Settings;
use iced::{Font, Pixels, Size, Theme};
use iced_test::core::{mouse, renderer};
use iced_test::runtime::user_interface::{Cache, UserInterface};

const SIZE: Size = Size::new(1600.0, 1000.0);
const BUDGET: Duration = Duration::from_millis(16);
const CONTACTS: u32 = 200;
const HUB: ClientId = ClientId([9; 32]);
const ME: ClientId = ClientId([1; 32]);
const WORDS: &[&str] = &[
    "lunch", "meeting", "slides", "printer", "coffee", "report", "deadline", "budget", "holiday",
    "server", "backup", "invoice", "client", "review", "draft", "schedule", "café", "naïve",
    "résumé", "garden", "bicycle", "window", "keyboard", "monitor", "network", "folder",
];

fn id(n: u32) -> ClientId {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id[4] = 0xAB;
    ClientId(id)
}

fn contact(n: u32) -> Contact {
    Contact {
        id: id(n),
        profile: ContactCard {
            name: format!("Person {n:04}"),
            presence: Presence::Available,
            status: String::new(),
            avatar: None,
            keys: None,
        },
        online: true,
        last_seen: Timestamp(1_700_000_000_000),
    }
}

fn fill(dir: &std::path::Path, total: u64) {
    let mut history = History::open(dir, &HUB).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let start = Instant::now();
    let mut n = 0u64;
    while n < total {
        let batch = (total - n).min(10_000);
        history
            .batch(|h| {
                for k in n..n + batch {
                    let peer = id((k % u64::from(CONTACTS)) as u32);
                    let words: Vec<&str> = (0..8)
                        .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
                        .collect();
                    let text = format!("{} tag{} #{k}", words.join(" "), next() % 20_000);
                    let time = Timestamp(1_700_000_000_000 + k * 1000);
                    if k % 2 == 0 {
                        let m = Message {
                            id: MsgId(k),
                            from: peer,
                            to: Target::Client(ME),
                            text,
                            time,
                            seq: None,
                        };
                        h.received(&m)?;
                    } else {
                        h.sent(ME, MsgId(k), Target::Client(peer), &text, time)?;
                    }
                }
                Ok(())
            })
            .unwrap();
        n += batch;
    }
    println!(
        "history filled: {total} messages in {:.1} s\n",
        start.elapsed().as_secs_f64()
    );
}

fn new_chat(dir: &std::path::Path) -> Chat {
    let welcome = Welcome {
        you: ME,
        hub: HUB,
        first_contact: false,
        remembered: false,
        contacts: (0..CONTACTS).map(contact).collect(),
        time: Timestamp(0),
    };
    let hub = HubInfo {
        address: "192.168.1.20:8977".into(),
        fingerprint: HUB,
        join: vec!["192.168.1.20:8977".into()],
        hosted: false,
        advertised: None,
        password: None,
    };
    let boot = chat::Boot {
        history: Some(dir.to_path_buf()),
        focused: true,
        offers_to_resume: Vec::new(),
    };
    let (mut chat, task) = Chat::boot(None, &welcome, Profile::with_name("Ada"), hub, boot);
    settle(&mut chat, &mut Settings::default(), chat::Action::Run(task));
    chat
}

/// Runs what the chat asks to run (the history's answers) until nothing is left, as
/// the runtime would, so that a frame drawn after shows what was loaded.
fn settle(chat: &mut Chat, settings: &mut Settings, action: chat::Action) {
    use futures::StreamExt as _;
    let task = match action {
        chat::Action::Run(task) => task,
        chat::Action::And(action, task) => {
            settle(chat, settings, *action);
            task
        }
        _ => return,
    };
    let Some(stream) = iced_test::runtime::task::into_stream(task) else {
        return;
    };
    let messages: Vec<chat::Message> = smol::block_on(
        stream
            .filter_map(|a| async move {
                match a {
                    iced_test::runtime::Action::Output(m) => Some(m),
                    _ => None,
                }
            })
            .collect(),
    );
    for m in messages {
        let action = chat.update(m, settings);
        settle(chat, settings, action);
    }
}

fn frame(chat: &Chat, settings: &Settings, renderer: &mut iced::Renderer) {
    let element = chat.view(settings);
    let mut ui = UserInterface::build(element, SIZE, Cache::default(), renderer);
    ui.draw(
        renderer,
        &Theme::Light,
        &renderer::Style::default(),
        mouse::Cursor::Unavailable,
    );
}

fn percentiles(label: &str, mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p50 = ms(v[v.len() / 2]);
    let p99 = ms(v[(v.len() * 99 / 100).min(v.len() - 1)]);
    println!(
        "{label:<58} p50 {p50:>6.2} ms   p99 {p99:>6.2} ms   max {:>6.2} ms",
        ms(v[v.len() - 1])
    );
    (p50, p99)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let total: u64 = std::env::var("COURIER_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir =
        std::env::temp_dir().join(format!("courier-bench-app-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    println!("# The app with {total} messages of history, {CONTACTS} conversations\n");
    fill(&dir, total);

    let mut renderer = iced::Renderer::new(Font::with_name("Fira Sans"), Pixels(16.0));
    let mut settings = Settings::default();
    // Warm the fonts and the file's pages as a running app has them.
    let mut chat = new_chat(&dir);
    frame(&chat, &settings, &mut renderer);

    // Login to the chat's first frame: open the history, load Everyone's page, draw.
    let mut firsts = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        let fresh = new_chat(&dir);
        frame(&fresh, &settings, &mut renderer);
        firsts.push(start.elapsed());
    }

    // Opening conversations never opened before (each loads from the file), and
    // opening them again (in memory).
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let order: Vec<u32> = (0..CONTACTS).map(|n| (n * 37) % CONTACTS).collect();
    for pass in 0..2 {
        for &n in &order {
            let start = Instant::now();
            let action = chat.update(chat::select(Target::Client(id(n))), &mut settings);
            settle(&mut chat, &mut settings, action);
            frame(&chat, &settings, &mut renderer);
            if pass == 0 { &mut cold } else { &mut warm }.push(start.elapsed());
        }
    }
    assert_eq!(
        chat.conversations().threads[&Target::Client(id(order[0]))]
            .items
            .len(),
        courier_iced::screen::chat::conversation::PAGE,
        "a page was loaded"
    );

    // Typing a search, a letter at a time, then picking the first result.
    let mut typing = Vec::new();
    let mut picking = Vec::new();
    for (i, word) in WORDS.iter().cycle().take(60).enumerate() {
        let query = format!("{word} tag{}", 1000 + i * 7);
        for end in 1..=query.chars().count() {
            let partial: String = query.chars().take(end).collect();
            let start = Instant::now();
            let action = chat.update(
                chat::Message::Contacts(contacts::Message::Search(partial)),
                &mut settings,
            );
            settle(&mut chat, &mut settings, action);
            frame(&chat, &settings, &mut renderer);
            typing.push(start.elapsed());
        }
        if !chat.conversations().found.is_empty() {
            let start = Instant::now();
            let action = chat.update(
                chat::Message::Contacts(contacts::Message::OpenFound(0)),
                &mut settings,
            );
            settle(&mut chat, &mut settings, action);
            frame(&chat, &settings, &mut renderer);
            picking.push(start.elapsed());
        }
    }

    println!(
        "frames at {}×{}, tiny-skia, empty widget cache:",
        SIZE.width, SIZE.height
    );
    let (_, first_p99) = percentiles("login → chat's first frame (open history + draw)", firsts);
    let (_, cold_p99) = percentiles("open a conversation, page loaded from SQLite", cold);
    let (_, warm_p99) = percentiles("baseline: open it again, already in memory", warm);
    let (_, typing_p99) = percentiles("type a search letter (full-text search + frame)", typing);
    let (_, pick_p99) = percentiles("pick a search result (page around it + frame)", picking);
    let budget = BUDGET.as_secs_f64() * 1e3;
    println!();
    println!(
        "p99 / 16 ms budget: open {:.2}, search letter {:.2}, open a result {:.2} (≤ 1 is within budget); \
         the history adds {:.2} ms to opening; chat's first frame {:.1} ms",
        cold_p99 / budget,
        typing_p99 / budget,
        pick_p99 / budget,
        cold_p99 - warm_p99,
        first_p99
    );
    let _ = std::fs::remove_dir_all(&dir);
}
