//! The safety number page, the verified mark in the list, and the blocking warning when
//! a verified name turns up on another device, driven through the rendered window.

use courier_core::proto::ClientId;
use courier_core::safety::SafetyNumber;
use courier_core::session::Event;
use iced::widget::text_editor;

use super::super::tests::{chat_with, contact, event, folder, interact, shows, with_history};
use super::super::{Chat, Message as ChatMessage, select};
use super::*;
use crate::settings::Settings;

const BOB: ClientId = ClientId([2; 32]);
const IMPOSTOR: ClientId = ClientId([3; 32]);

/// Bob's conversation open, with his safety number page.
fn bob_page(chat: &mut Chat, settings: &mut Settings) {
    chat.update(select(Target::Client(BOB)), settings);
    interact(chat, settings, |ui| {
        let _ = ui.click("Safety number");
    });
}

fn contact_line(chat: &Chat, id: ClientId) -> String {
    let c = chat.people.get(&id).unwrap();
    super::super::people::presence_word(c).to_owned()
}

/// Writes `text` in the composer and presses Send; the notice it leaves.
fn send(chat: &mut Chat, settings: &mut Settings, text: &str) -> Option<String> {
    chat.notice = None;
    chat.conversations.composer = text_editor::Content::with_text(text);
    chat.update(
        ChatMessage::Conversation(conversation::Message::Send),
        settings,
    );
    chat.notice.clone()
}

/// Proves the contact's page shows the safety number (both sides' digits, in 3 lines of 4
/// groups) and a QR code of it, that "Mark as verified" marks the contact (the list then
/// says "Verified") and "Remove verification" takes the mark away.
#[test]
fn safety_page_shows_the_number_and_marks_the_contact_verified() {
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    bob_page(&mut chat, &mut settings);
    let number = SafetyNumber::between(chat.people.me, BOB);
    assert_eq!(number, SafetyNumber::between(BOB, chat.people.me));
    for line in number.lines() {
        assert!(shows(&chat, &settings, &line), "the page shows {line}");
    }
    let qr = chat
        .people
        .trust
        .page
        .as_ref()
        .and_then(|(_, qr)| qr.clone());
    assert!(qr.is_some(), "the page has a QR code");
    assert!(shows(&chat, &settings, "Not verified."));
    let verified_line = format!("Verified · {}", contact_line(&chat, BOB));
    assert!(!shows(&chat, &settings, &verified_line));

    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Mark as verified");
    });
    assert!(chat.people.trust.is_verified(&BOB));
    assert!(shows(&chat, &settings, "Remove verification"));
    assert!(
        shows(&chat, &settings, &verified_line),
        "the list marks Bob verified"
    );

    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Remove verification");
    });
    assert!(!chat.people.trust.is_verified(&BOB));
    assert!(!shows(&chat, &settings, &verified_line));
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Close");
    });
    assert!(
        !shows(&chat, &settings, "Mark as verified"),
        "the page closed"
    );
}

/// Proves the mark is kept in the profile folder: a chat started again on the same folder
/// shows Bob verified.
#[test]
fn a_verified_mark_survives_a_restart() {
    let dir = folder("verified");
    let mut settings = Settings::default();
    let mut chat = with_history(&dir.0, &mut settings);
    bob_page(&mut chat, &mut settings);
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Mark as verified");
    });
    let again = with_history(&dir.0, &mut settings);
    assert!(again.people.trust.is_verified(&BOB));
    let verified_line = format!("Verified · {}", contact_line(&again, BOB));
    assert!(shows(&again, &settings, &verified_line));
}

/// Proves the key-change warning: once a second device calls itself Bob, a blocking
/// warning says so with "Compare safety numbers" and "Not now"; after "Not now" sending
/// to that device is still refused (the text stays), and after comparing and marking it
/// verified, sending goes through to the conversation (here: "not connected", as the
/// test has no hub).
#[test]
fn a_verified_name_on_another_device_blocks_until_the_user_decides() {
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    bob_page(&mut chat, &mut settings);
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Mark as verified");
        let _ = ui.click("Close");
    });
    assert!(!shows(&chat, &settings, "Bob is on a different device"));

    event(&mut chat, &mut settings, Event::Contact(contact(3, "Bob")));
    assert!(shows(&chat, &settings, "Bob is on a different device"));
    assert!(shows(&chat, &settings, "Compare safety numbers"));
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Not now");
    });
    assert!(!shows(&chat, &settings, "Bob is on a different device"));

    chat.update(select(Target::Client(IMPOSTOR)), &mut settings);
    let refused = send(&mut chat, &mut settings, "secret plans").unwrap_or_default();
    assert!(
        refused.starts_with("Not sent: this is not the device you verified"),
        "{refused}"
    );
    assert_eq!(
        chat.conversations.composer.text().trim_end(),
        "secret plans"
    );
    chat.notice = None;
    chat.update(ChatMessage::Files(vec!["plans.pdf".into()]), &mut settings);
    let refused = chat.notice.clone().unwrap_or_default();
    assert!(
        refused.starts_with("Not sent: this is not the device"),
        "files too: {refused}"
    );
    // The verified Bob is not blocked.
    chat.update(select(Target::Client(BOB)), &mut settings);
    assert_eq!(
        send(&mut chat, &mut settings, "hi").as_deref(),
        Some("Not connected to the hub.")
    );

    // The warning again (a new conflict is not put off), then compare and mark.
    chat.people.trust.put_off.clear();
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Compare safety numbers");
    });
    assert_eq!(chat.people.trust.page(), Some(IMPOSTOR));
    assert!(shows(
        &chat,
        &settings,
        &SafetyNumber::between(chat.people.me, IMPOSTOR).lines()[0]
    ));
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Mark as verified");
    });
    assert!(chat.people.trust.conflict(&IMPOSTOR).is_none());
    chat.update(select(Target::Client(IMPOSTOR)), &mut settings);
    assert_eq!(
        send(&mut chat, &mut settings, "now").as_deref(),
        Some("Not connected to the hub.")
    );
}

const CAROL: ClientId = ClientId([4; 32]);

/// #ops with us, the device that now calls itself Bob (not the verified one) and Carol.
fn ops_with_impostor() -> courier_core::proto::Group {
    use courier_core::proto::{Group, GroupId, GroupMember, Role};
    let member = |id, role| GroupMember {
        id,
        role,
        joined: 1,
        read: 1,
    };
    Group {
        id: GroupId(7),
        name: "ops".into(),
        members: vec![
            member(ClientId([1; 32]), Role::Creator),
            member(IMPOSTOR, Role::Member),
            member(CAROL, Role::Member),
        ],
        last: 1,
    }
}

/// Proves sending to many is checked like sending by name: with a device that took the
/// verified name "Bob" in #ops, a message to #ops, files to #ops and files to contacts
/// picked together with it are all held back with a notice naming it (and the warning
/// comes back); once that device is marked verified, the group is sent to again.
#[test]
fn a_group_or_picked_contacts_holding_an_impostor_are_blocked() {
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob"), contact(4, "Carol")]);
    bob_page(&mut chat, &mut settings);
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Mark as verified");
        let _ = ui.click("Close");
    });
    event(&mut chat, &mut settings, Event::Contact(contact(3, "Bob")));
    event(
        &mut chat,
        &mut settings,
        Event::Groups(vec![ops_with_impostor()]),
    );
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Not now");
    });
    let group = Target::Group(courier_core::proto::GroupId(7));
    chat.update(select(group), &mut settings);
    let refused = send(&mut chat, &mut settings, "group plans").unwrap_or_default();
    let short = IMPOSTOR.short();
    assert!(
        refused.starts_with("Not sent: Bob (") && refused.contains(&short),
        "{refused}"
    );
    assert_eq!(chat.conversations.composer.text().trim_end(), "group plans");
    assert!(
        shows(&chat, &settings, "Bob is on a different device"),
        "the warning is back"
    );

    chat.notice = None;
    chat.update(ChatMessage::Files(vec!["plans.pdf".into()]), &mut settings);
    let refused = chat.notice.clone().unwrap_or_default();
    assert!(refused.contains(&short), "files to the group: {refused}");

    chat.notice = None;
    chat.update(select(Target::Client(CAROL)), &mut settings);
    let picked = super::super::groups::many::Message::Chosen(
        vec![CAROL, IMPOSTOR],
        vec!["plans.pdf".into()],
    );
    chat.update(
        ChatMessage::Groups(super::super::groups::Message::Many(picked)),
        &mut settings,
    );
    let refused = chat.notice.clone().unwrap_or_default();
    assert!(
        refused.contains(&short),
        "files to picked contacts: {refused}"
    );
    assert!(chat.groups.sends.cards.is_empty(), "nothing was started");

    chat.update(ChatMessage::Safety(Message::Mark(IMPOSTOR)), &mut settings);
    chat.update(select(group), &mut settings);
    let sent = send(&mut chat, &mut settings, "now").unwrap_or_default();
    assert!(!sent.starts_with("Not sent"), "{sent}");
}

/// Proves a verified mark follows its device's rename: Bob's verified device renames to
/// "Robert"; another device then calling itself "Robert" is a conflict (and so is one
/// calling itself "Bob" still).
#[test]
fn a_verified_device_renamed_keeps_its_name_verified() {
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    chat.update(ChatMessage::Safety(Message::Mark(BOB)), &mut settings);
    event(
        &mut chat,
        &mut settings,
        Event::Contact(contact(2, "Robert")),
    );
    assert!(chat.people.trust.conflict(&BOB).is_none());
    event(
        &mut chat,
        &mut settings,
        Event::Contact(contact(3, "Robert")),
    );
    let c = chat.people.trust.conflict(&IMPOSTOR).expect("a conflict");
    assert_eq!(c.verified.id, BOB);
    assert!(shows(&chat, &settings, "Robert is on a different device"));
    event(&mut chat, &mut settings, Event::Contact(contact(4, "Bob")));
    assert!(chat.people.trust.conflict(&CAROL).is_some());
}
