//! How long one frame's `view` + layout (+ draw) takes for a big state: 1 000 contacts
//! and a conversation of 10 000 messages. Compared in the same run with a nearly empty
//! window (the floor) and with the same state built without paging or virtualising
//! (the naive way), against the 16 ms budget of a 60 Hz frame.
//!
//! `cargo bench -p courier-iced --bench view`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use courier_core::proto::{
    ClientId, Contact, ContactCard, MsgId, Presence, Profile, Target, Timestamp,
};
use courier_core::session::Welcome;
use courier_iced::screen::chat::conversation::{Bubble, BubbleState, Item};
use courier_iced::screen::chat::{Chat, HubInfo};
use courier_iced::settings::Settings;
use iced::{Font, Pixels, Size, Theme};
use iced_test::core::{mouse, renderer};
use iced_test::runtime::user_interface::{Cache, UserInterface};

const SIZE: Size = Size::new(1600.0, 1000.0);
const BUDGET: Duration = Duration::from_millis(16);

fn contact(n: u32) -> Contact {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id[4] = 0xAB;
    Contact {
        id: ClientId(id),
        profile: ContactCard {
            name: format!("Person {n:04}"),
            presence: [Presence::Available, Presence::Away, Presence::Busy][n as usize % 3],
            status: if n.is_multiple_of(4) {
                "in a meeting until three".into()
            } else {
                String::new()
            },
            avatar: None,
            keys: None,
        },
        online: !n.is_multiple_of(5),
        last_seen: Timestamp(1_700_000_000_000),
    }
}

fn state(contacts: u32, messages: usize) -> Chat {
    let list: Vec<Contact> = (0..contacts).map(contact).collect();
    let peer = list.first().map(|c| c.id).unwrap_or(ClientId([2; 32]));
    let welcome = Welcome {
        you: ClientId([1; 32]),
        hub: ClientId([9; 32]),
        first_contact: false,
        remembered: false,
        contacts: list,
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
    let boot = courier_iced::screen::chat::Boot {
        focused: true,
        ..Default::default()
    };
    let (mut chat, _) = Chat::boot(None, &welcome, Profile::with_name("Ada"), hub, boot);
    let me = chat.me();
    let target = Target::Client(peer);
    let conversation = chat.conversations_mut().thread(target);
    for i in 0..messages {
        let mine = i % 3 == 0;
        conversation.items.push(Item::Message(Bubble {
            id: MsgId(i as u64),
            from: if mine { me } else { peer },
            text: format!(
                "Message number {i}: {}",
                if i % 7 == 0 {
                    "a longer one that wraps over more than one line in the bubble, as real \
                     conversations often have, with some more words to be sure it wraps"
                } else {
                    "short"
                }
            ),
            time: Timestamp(1_700_000_000_000 + i as u64 * 1000),
            state: if mine {
                BubbleState::Read
            } else {
                BubbleState::Received
            },
        }));
    }
    chat.conversations_mut().open(target);
    chat
}

struct Frame {
    layout: Duration,
    draw: Duration,
}

fn frame(
    chat: &Chat,
    settings: &Settings,
    renderer: &mut iced::Renderer,
    cache: &mut Cache,
) -> Frame {
    let start = Instant::now();
    let element = chat.view(settings);
    let mut ui = UserInterface::build(element, SIZE, std::mem::take(cache), renderer);
    let layout = start.elapsed();
    let theme = Theme::Light;
    ui.draw(
        renderer,
        &theme,
        &renderer::Style::default(),
        mouse::Cursor::Unavailable,
    );
    let draw = start.elapsed();
    *cache = ui.into_cache();
    Frame { layout, draw }
}

/// Median of `runs` frames after 3 unmeasured ones. `cold`: every frame starts from an
/// empty widget cache (as when a conversation is opened: every text is shaped anew);
/// otherwise the cache is kept (as when a message arrives in the open conversation).
fn measure(
    label: &str,
    chat: &Chat,
    renderer: &mut iced::Renderer,
    runs: usize,
    cold: bool,
) -> (Duration, Duration) {
    let settings = Settings::default();
    let mut cache = Cache::default();
    for _ in 0..3 {
        frame(chat, &settings, renderer, &mut cache);
    }
    let mut layouts = Vec::new();
    let mut draws = Vec::new();
    for _ in 0..runs {
        if cold {
            cache = Cache::default();
        }
        let f = frame(chat, &settings, renderer, &mut cache);
        layouts.push(f.layout);
        draws.push(f.draw);
    }
    layouts.sort();
    draws.sort();
    let (l, d) = (layouts[runs / 2], draws[runs / 2]);
    println!(
        "{label:<46} view+layout {:>7.2} ms   +draw {:>7.2} ms   (max {:.2} ms)",
        l.as_secs_f64() * 1e3,
        d.as_secs_f64() * 1e3,
        draws[runs - 1].as_secs_f64() * 1e3
    );
    (l, d)
}

fn main() {
    // The software renderer the app uses without a GPU (iced's tiny-skia backend).
    let mut renderer = iced::Renderer::new(Font::with_name("Fira Sans"), Pixels(16.0));

    let floor = state(1, 1);
    let big = state(1000, 10_000);
    let mut naive = state(1000, 10_000);
    naive.unpaged();

    println!("one frame at {}×{} (median):", SIZE.width, SIZE.height);
    let r = &mut renderer;
    let (f_l, _) = measure("floor: 1 contact, 1 message", &floor, r, 31, false);
    let (b_l, b_d) = measure(
        "Courier: 1 000 contacts, 10 000 messages",
        &big,
        r,
        31,
        false,
    );
    let (c_l, c_d) = measure(
        "  same, cold cache (conversation opened)",
        &big,
        r,
        31,
        true,
    );
    let (n_l, n_d) = measure("naive: no paging/virtualising", &naive, r, 5, false);
    let (nc_l, _) = measure("  naive, cold cache", &naive, r, 3, true);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let budget = ms(BUDGET);
    println!();
    println!(
        "Courier / 16 ms budget: view+layout {:.3} (cold {:.2}); with draw {:.3} (cold {:.2}); \
         ≤ 1 is within budget",
        ms(b_l) / budget,
        ms(c_l) / budget,
        ms(b_d) / budget,
        ms(c_d) / budget
    );
    println!(
        "Courier / floor: {:.1}×   naive / Courier: {:.0}× warm, {:.0}× cold ({:.2} of the budget)",
        ms(b_l) / ms(f_l),
        ms(n_l) / ms(b_l),
        ms(nc_l) / ms(c_l),
        ms(nc_l) / budget
    );
    let _ = n_d;
}
