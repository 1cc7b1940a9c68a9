//! The conversation's tests: receipts, reads, the composer's keys, typing.

use super::*;
use crate::screen::chat::tests::{chat_with, contact};
use crate::screen::chat::{self, Chat};
use crate::settings::Settings;
use courier_core::session::Event;
use iced::keyboard::key::Named;
use iced_test::simulator;

fn send_ours(chat: &mut Chat, bob: Target, n: u64) {
    let me = chat.people.me;
    chat.conversations.sent.insert(MsgId(n), bob);
    chat.conversations
        .thread(bob)
        .items
        .push(Item::Message(Bubble {
            id: MsgId(n),
            from: me,
            text: format!("m{n}"),
            time: Timestamp(0),
            state: BubbleState::Sent,
        }));
}

#[test]
fn receipts_and_reads_update_our_bubbles() {
    let settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    let bob = Target::Client(ClientId([2; 32]));
    for n in 1..=3 {
        send_ours(&mut chat, bob, n);
    }
    let states = |chat: &Chat| -> Vec<BubbleState> {
        chat.conversations.threads[&bob]
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Message(b) => Some(b.state.clone()),
                Item::Transfer(_) | Item::KeptTransfer(_) | Item::Line(_) => None,
            })
            .collect()
    };
    for (n, status) in [
        (1, Delivery::Delivered),
        (3, Delivery::Stored),
        (2, Delivery::Rejected(RejectReason::RateLimited)),
    ] {
        chat.session_event(
            Event::Receipt {
                id: MsgId(n),
                status,
            },
            &settings,
        );
    }
    assert_eq!(
        states(&chat),
        vec![
            BubbleState::Delivered,
            BubbleState::Failed(
                "not delivered: you are sending too fast; try again in a moment".into()
            ),
            BubbleState::Stored
        ]
    );
    chat.session_event(
        Event::Read {
            by: ClientId([2; 32]),
            id: MsgId(3),
        },
        &settings,
    );
    assert_eq!(
        states(&chat),
        vec![
            BubbleState::Read,
            BubbleState::Failed(
                "not delivered: you are sending too fast; try again in a moment".into()
            ),
            BubbleState::Read
        ],
        "a read covers every earlier delivered message, not failed ones"
    );
}

#[test]
fn enter_sends_and_shift_enter_breaks_the_line() {
    use iced::keyboard::{Event as Key, Location, Modifiers};
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![]);
    let press = |modifiers| {
        let key = iced::keyboard::Key::Named(Named::Enter);
        [
            iced::Event::Keyboard(Key::KeyPressed {
                key: key.clone(),
                modified_key: key.clone(),
                physical_key: iced::keyboard::key::Physical::Code(iced::keyboard::key::Code::Enter),
                location: Location::Standard,
                modifiers,
                text: Some("\n".into()),
                repeat: false,
            }),
            iced::Event::Keyboard(Key::KeyReleased {
                key: key.clone(),
                modified_key: key,
                physical_key: iced::keyboard::key::Physical::Code(iced::keyboard::key::Code::Enter),
                location: Location::Standard,
                modifiers,
            }),
        ]
    };
    let sends = |messages: &[chat::Message]| {
        messages
            .iter()
            .filter(|m| matches!(m, chat::Message::Conversation(Message::Send)))
            .count()
    };
    let messages: Vec<chat::Message> = {
        let view_settings = settings.clone();
        let mut ui = simulator(chat.view(&view_settings));
        let _ = ui.click(iced::widget::Id::new("composer"));
        ui.typewrite("line one");
        ui.simulate(press(Modifiers::SHIFT));
        ui.typewrite("line two");
        ui.into_messages().collect()
    };
    assert_eq!(sends(&messages), 0, "Shift+Enter does not send");
    for m in messages {
        chat.update(m, &mut settings);
    }
    assert_eq!(
        chat.conversations.composer.text().trim_end(),
        "line one\nline two"
    );

    let messages: Vec<chat::Message> = {
        let view_settings = settings.clone();
        let mut ui = simulator(chat.view(&view_settings));
        let _ = ui.click(iced::widget::Id::new("composer"));
        ui.simulate(press(Modifiers::empty()));
        ui.into_messages().collect()
    };
    assert_eq!(sends(&messages), 1, "Enter sends");
    assert!(
        !messages
            .iter()
            .any(|m| matches!(m, chat::Message::Conversation(Message::Edit(a)) if a.is_edit())),
        "and adds no line"
    );
}

#[test]
fn typing_indicator_shows_and_expires() {
    let settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    chat.session_event(
        Event::Typing {
            from: ClientId([2; 32]),
            to: Target::Everyone,
        },
        &settings,
    );
    assert!(chat.conversations.typing_shown());
    assert!(chat::tests::shows(&chat, &settings, "Bob is typing…"));
    chat.tick(Instant::now() + TYPING_SHOWN + Duration::from_millis(1));
    assert!(!chat.conversations.typing_shown());
}

/// A receipt for a message not loaded yet waits for its page, but only for a message
/// of ours: someone else's message with the same id keeps its state.
#[test]
fn an_early_receipt_applies_only_to_our_message() {
    use crate::screen::chat::tests::{event, folder, settle, with_history};
    let dir = folder("receipt-mine");
    let mut settings = Settings::default();
    let bob = Target::Client(ClientId([2; 32]));
    {
        let h = courier_core::history::History::open(&dir.0, &ClientId([9; 32])).unwrap();
        h.received(&ChatMessage {
            id: MsgId(5),
            from: ClientId([2; 32]),
            to: Target::Client(ClientId([1; 32])),
            text: "Bob's own".into(),
            time: Timestamp(1_700_000_000_000),
            seq: None,
        })
        .unwrap();
    }
    let mut chat = with_history(&dir.0, &mut settings);
    let receipt = Event::Receipt {
        id: MsgId(5),
        status: Delivery::Delivered,
    };
    event(&mut chat, &mut settings, receipt);
    let page = chat.update(chat::select(bob), &mut settings);
    settle(&mut chat, &mut settings, page);
    let states: Vec<BubbleState> = chat.conversations.threads[&bob]
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Message(b) => Some(b.state.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(states, [BubbleState::Received], "Bob's message is not ours");
}

/// Early receipts are kept for messages we sent whose bubble is not loaded, at most
/// 4096 (the oldest go first), and a clear forgets them.
#[test]
fn early_receipts_are_bounded_and_cleared() {
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    let me = chat.people.me;
    let bob = Target::Client(ClientId([2; 32]));
    // Someone else's ids, or ids never sent here, are not kept.
    chat.conversations
        .receipt(me, MsgId(1), Delivery::Delivered);
    assert!(
        chat.conversations.receipts.is_empty(),
        "not a message we sent"
    );
    for n in 10..10_010 {
        // Sent (an unsent message of an earlier run) with its conversation not loaded.
        chat.conversations.sent.insert(MsgId(n), bob);
        chat.conversations.receipt(me, MsgId(n), Delivery::Stored);
    }
    assert_eq!(chat.conversations.receipts.len(), 4096);
    let has = |chat: &Chat, n: u64| {
        chat.conversations
            .receipts
            .iter()
            .any(|(id, _)| *id == MsgId(n))
    };
    assert!(has(&chat, 10_009), "the newest is kept");
    assert!(!has(&chat, 10), "the oldest went");
    let _ = chat.conversations.clear_history(None);
    assert!(
        chat.conversations.receipts.is_empty(),
        "a clear forgets them"
    );
}

/// A stored message turns delivered when its recipient takes it; a late `stored` (heard
/// by another program of this profile first) never takes that back.
#[test]
fn a_late_stored_does_not_take_delivered_back() {
    let settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    let bob = Target::Client(ClientId([2; 32]));
    send_ours(&mut chat, bob, 1);
    for status in [Delivery::Stored, Delivery::Delivered, Delivery::Stored] {
        let receipt = Event::Receipt {
            id: MsgId(1),
            status,
        };
        chat.session_event(receipt, &settings);
    }
    assert!(matches!(
        &chat.conversations.threads[&bob].items[..],
        [Item::Message(b)] if b.state == BubbleState::Delivered
    ));
}
