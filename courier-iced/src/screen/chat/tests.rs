//! The main window's tests, and helpers the features' tests share.

use super::*;
use courier_core::proto::{Contact, ContactCard, Message as ChatMessage, MsgId, Timestamp};
use iced_test::simulator;

pub(crate) fn contact(n: u8, name: &str) -> Contact {
    Contact {
        id: ClientId([n; 32]),
        profile: ContactCard {
            name: name.into(),
            ..ContactCard::default()
        },
        online: true,
        last_seen: Timestamp(0),
    }
}

pub(crate) fn chat_with(contacts: Vec<Contact>) -> Chat {
    let welcome = Welcome {
        you: ClientId([1; 32]),
        hub: ClientId([9; 32]),
        first_contact: false,
        remembered: false,
        contacts,
        time: Timestamp(0),
    };
    let hub = HubInfo {
        address: "127.0.0.1:8977".into(),
        fingerprint: ClientId([9; 32]),
        join: vec!["127.0.0.1:8977".into()],
        hosted: false,
        advertised: None,
        password: None,
    };
    let boot = Boot {
        focused: true,
        ..Boot::default()
    };
    Chat::boot(None, &welcome, Profile::with_name("Ada"), hub, boot).0
}

/// Runs what `action` asks to run as the runtime would, feeding the messages its tasks
/// produce back to the chat until nothing is left to run; returns the other actions.
pub(crate) fn settle(chat: &mut Chat, settings: &mut Settings, action: Action) -> Vec<Action> {
    use futures::StreamExt as _;
    let task = match action {
        Action::Run(task) => task,
        Action::And(action, task) => {
            let mut rest = settle(chat, settings, *action);
            rest.extend(settle(chat, settings, Action::Run(task)));
            return rest;
        }
        other => return vec![other],
    };
    let Some(stream) = iced_test::runtime::task::into_stream(task) else {
        return Vec::new();
    };
    let messages: Vec<Message> = smol::block_on(
        stream
            .filter_map(|action| async move {
                match action {
                    iced_test::runtime::Action::Output(m) => Some(m),
                    _ => None,
                }
            })
            .collect(),
    );
    let mut actions = Vec::new();
    for m in messages {
        let action = chat.update(m, settings);
        actions.extend(settle(chat, settings, action));
    }
    actions
}

/// Whether the rendered chat shows `text` somewhere.
pub(crate) fn shows(chat: &Chat, settings: &Settings, text: &str) -> bool {
    let mut ui = simulator(chat.view(settings));
    ui.find(text).is_ok()
}

/// Renders the chat, lets `f` use it, and feeds the produced messages back.
pub(crate) fn interact(
    chat: &mut Chat,
    settings: &mut Settings,
    f: impl FnOnce(&mut iced_test::Simulator<'_, Message>),
) -> Vec<Action> {
    let view_settings = settings.clone();
    let mut ui = simulator(chat.view(&view_settings));
    f(&mut ui);
    let messages: Vec<Message> = ui.into_messages().collect();
    messages
        .into_iter()
        .map(|m| chat.update(m, settings))
        .collect()
}

fn message(from: u8, to: Target, text: &str) -> Event {
    Event::Message(ChatMessage {
        id: MsgId(u64::from(from) << 8 | text.len() as u64),
        from: ClientId([from; 32]),
        to,
        text: text.into(),
        time: Timestamp(1_700_000_000_000),
        seq: None,
    })
}

/// The connection check tests the link to the contact whose conversation is open,
/// when they are online; never to everyone, an offline contact or ourselves.
#[test]
fn the_check_tests_the_link_to_the_open_contact_when_online() {
    let mut carol = contact(3, "Carol");
    carol.online = false;
    let mut chat = chat_with(vec![contact(2, "Bob"), carol]);
    assert_eq!(chat.link_test_peer(), None, "everyone is open");
    let _ = chat.update(
        select(Target::Client(ClientId([2; 32]))),
        &mut Settings::default(),
    );
    assert_eq!(chat.link_test_peer(), Some(ClientId([2; 32]).to_hex()));
    let _ = chat.update(
        select(Target::Client(ClientId([3; 32]))),
        &mut Settings::default(),
    );
    assert_eq!(chat.link_test_peer(), None, "Carol is offline");
}

#[test]
fn incoming_message_raises_unread_until_opened() -> Result<(), iced_test::Error> {
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob"), contact(3, "Carol")]);
    let bob = Target::Client(ClientId([2; 32]));
    let me = Target::Client(chat.me());
    let action = chat.session_event(message(2, me, "hi Ada"), &settings);
    assert!(
        matches!(action, Action::None),
        "focused elsewhere: no notification"
    );
    chat.session_event(message(2, me, "are you there?"), &settings);
    assert_eq!(chat.conversations.unread(&bob), 2);
    assert!(shows(&chat, &settings, "2"), "the unread badge shows 2");
    assert!(
        !shows(&chat, &settings, "hi Ada"),
        "another conversation is open"
    );

    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Bob");
    });
    assert_eq!(chat.conversations.selected, bob);
    assert_eq!(
        chat.conversations.unread(&bob),
        0,
        "opening the conversation reads it"
    );
    assert!(shows(&chat, &settings, "hi Ada"));
    assert!(!shows(&chat, &settings, "2"), "the badge is gone");

    // A message to everyone counts on the Everyone entry, and an unfocused window
    // asks for a desktop notification.
    let _ = chat.focus(false);
    let action = chat.session_event(message(3, Target::Everyone, "lunch?"), &settings);
    assert!(
        matches!(&action, Action::Notify { title, body } if title.contains("Carol") && body == "lunch?")
    );
    assert_eq!(chat.conversations.unread(&Target::Everyone), 1);
    settings.notifications = false;
    let action = chat.session_event(message(3, Target::Everyone, "anyone?"), &settings);
    assert!(matches!(action, Action::None), "notifications off");
    Ok(())
}

#[test]
fn side_panel_opens_switches_and_closes() -> Result<(), iced_test::Error> {
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![]);
    assert_eq!(chat.panel.tab, None);
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Settings & profile");
    });
    assert_eq!(chat.panel.tab, Some(Tab::Settings));
    assert!(shows(&chat, &settings, "Download folder"));

    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Menu");
    });
    assert_eq!(chat.panel.tab, Some(Tab::Menu));
    assert!(
        shows(&chat, &settings, &ClientId([9; 32]).safety_code()),
        "the hub's safety code is shown"
    );
    assert!(
        shows(&chat, &settings, &panel::menu::version()),
        "About names the version and the protocol"
    );

    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Close panel");
    });
    assert_eq!(chat.panel.tab, None);
    assert!(!shows(&chat, &settings, "Download folder"));
    Ok(())
}

#[test]
fn only_a_hub_hosted_here_can_change_its_password_from_the_menu() -> Result<(), iced_test::Error> {
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![]);
    chat.panel.tab = Some(Tab::Menu);
    assert!(
        !shows(&chat, &settings, "Change the hub password"),
        "a joined hub"
    );

    chat.hub.hosted = true;
    assert!(shows(&chat, &settings, "Change the hub password"));
    let actions = interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click(iced::widget::Id::new(panel::menu::NEW_PASSWORD));
        ui.typewrite("short");
        let _ = ui.click("Change the hub password");
    });
    assert!(actions.iter().all(|a| matches!(a, Action::None)));
    assert!(shows(
        &chat,
        &settings,
        "Choose a password of at least 8 characters, or press Generate."
    ));

    let actions = interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Generate");
        let _ = ui.click("Change the hub password");
    });
    // Issue 22: it disconnects everyone, so it is asked first (Cancel would keep all).
    assert!(actions.iter().all(|a| matches!(a, Action::None)));
    assert!(shows(&chat, &settings, "Yes, change the password"));
    let actions = interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Yes, change the password");
    });
    let changed: Vec<&String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::ChangeHubPassword(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(changed.len(), 1, "one change asked");
    assert!(changed[0].chars().count() >= 8);
    assert!(
        chat.panel.menu.new_password.is_empty(),
        "the field is cleared"
    );
    Ok(())
}

/// A profile folder for one test.
pub(crate) struct Folder(pub(crate) std::path::PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn folder(tag: &str) -> Folder {
    let dir = std::env::temp_dir().join(format!(
        "courier-iced-{tag}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    Folder(dir)
}

/// A chat whose history is kept in `dir`, once what it holds is shown.
pub(crate) fn with_history(dir: &std::path::Path, settings: &mut Settings) -> Chat {
    let (mut chat, task) = chat_booted(Some(dir));
    settle(&mut chat, settings, Action::Run(task));
    chat
}

fn chat_booted(dir: Option<&std::path::Path>) -> (Chat, Task<Message>) {
    let chat = chat_with(vec![contact(2, "Bob")]);
    let welcome = Welcome {
        you: chat.me(),
        hub: chat.hub.fingerprint,
        first_contact: false,
        remembered: false,
        contacts: vec![contact(2, "Bob")],
        time: Timestamp(0),
    };
    let boot = Boot {
        history: dir.map(std::path::Path::to_path_buf),
        focused: true,
        offers_to_resume: Vec::new(),
    };
    Chat::boot(None, &welcome, chat.profile.clone(), chat.hub.clone(), boot)
}

/// Hands `event` to the chat and runs what it asks to, as the runtime would.
pub(crate) fn event(chat: &mut Chat, settings: &mut Settings, event: Event) -> Vec<Action> {
    let action = chat.session_event(event, settings);
    settle(chat, settings, action)
}

#[test]
fn history_survives_a_relaunch_drops_repeats_and_clears_on_confirmation()
-> Result<(), iced_test::Error> {
    let dir = folder("history");
    let mut settings = Settings::default();
    let bob = Target::Client(ClientId([2; 32]));
    let me = Target::Client(ClientId([1; 32]));
    let mut chat = with_history(&dir.0, &mut settings);
    event(&mut chat, &mut settings, message(2, me, "hi Ada"));
    event(
        &mut chat,
        &mut settings,
        message(2, Target::Everyone, "lunch today?"),
    );
    // The hub hands the same message over again (after a crash): shown once.
    event(&mut chat, &mut settings, message(2, me, "hi Ada"));
    assert_eq!(chat.conversations.threads[&bob].items.len(), 1);
    drop(chat);

    let mut chat = with_history(&dir.0, &mut settings);
    assert!(
        shows(&chat, &settings, "lunch today?"),
        "Everyone's, from the history"
    );
    let action = chat.update(select(bob), &mut settings);
    settle(&mut chat, &mut settings, action);
    assert!(shows(&chat, &settings, "hi Ada"), "Bob's, from the history");
    let _ = chat.focus(false);
    let actions = event(&mut chat, &mut settings, message(2, me, "hi Ada"));
    assert!(
        actions.iter().all(|a| matches!(a, Action::None)),
        "a repeat from an earlier run is dropped without a notification"
    );
    assert_eq!(chat.conversations.threads[&bob].items.len(), 1);

    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Settings & profile");
    });
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Clear this conversation");
    });
    assert!(
        shows(&chat, &settings, "hi Ada"),
        "not before it is confirmed"
    );
    for action in interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Clear");
    }) {
        settle(&mut chat, &mut settings, action);
    }
    assert!(!shows(&chat, &settings, "hi Ada"));
    assert_eq!(
        chat.notice.as_deref(),
        Some("Cleared 1 message from the conversation with Bob.")
    );
    drop(chat);
    let chat = with_history(&dir.0, &mut settings);
    assert!(
        shows(&chat, &settings, "lunch today?"),
        "the other conversation is kept"
    );
    drop(chat);
    let kept = courier_core::history::History::open(&dir.0, &ClientId([9; 32]))
        .and_then(|h| h.len())
        .unwrap_or(0);
    assert_eq!(kept, 1, "Bob's message is gone from the file");
    Ok(())
}

/// Typing in the search field does not wait on the history: `update` hands back a task,
/// and the messages found arrive as a message.
#[test]
fn a_search_runs_off_the_window_and_its_result_arrives_as_a_message() {
    let dir = folder("search");
    let mut settings = Settings::default();
    let mut chat = with_history(&dir.0, &mut settings);
    let me = Target::Client(ClientId([1; 32]));
    event(&mut chat, &mut settings, message(2, me, "the blue kettle"));
    let action = chat.update(
        Message::Contacts(contacts::Message::Search("kett".into())),
        &mut settings,
    );
    assert!(matches!(action, Action::Run(_)), "a task, not an answer");
    assert!(chat.conversations.found.is_empty(), "nothing found yet");
    assert!(chat.history_busy());
    settle(&mut chat, &mut settings, action);
    assert_eq!(chat.conversations.found.len(), 1);
    assert_eq!(chat.conversations.found[0].text, "the blue kettle");
    assert!(!chat.history_busy());
}

/// The answer to a query typed over since is dropped: the results shown are always
/// those of what the field holds.
#[test]
fn a_stale_search_result_is_ignored() {
    let dir = folder("stale");
    let mut settings = Settings::default();
    let mut chat = with_history(&dir.0, &mut settings);
    let me = Target::Client(ClientId([1; 32]));
    event(&mut chat, &mut settings, message(2, me, "the blue kettle"));
    event(&mut chat, &mut settings, message(2, me, "a kite"));
    let search = |text: &str| Message::Contacts(contacts::Message::Search(text.into()));
    let first = chat.update(search("ki"), &mut settings);
    let second = chat.update(search("kettle"), &mut settings);
    // The newer query's answer comes first, then the older one's, late.
    settle(&mut chat, &mut settings, second);
    settle(&mut chat, &mut settings, first);
    let found: Vec<&str> = chat
        .conversations
        .found
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(found, ["the blue kettle"]);
    // An answer for an older query, delivered by hand, changes nothing either.
    let late = crate::history::Found {
        query: "ki".into(),
        entries: Some(Ok(Vec::new())),
    };
    let action = chat.update(
        Message::Conversation(conversation::Message::Loaded(conversation::Loaded::Found {
            epoch: 0,
            found: late,
        })),
        &mut settings,
    );
    settle(&mut chat, &mut settings, action);
    assert_eq!(chat.conversations.found.len(), 1);
}

#[test]
fn notices_expire_counted_from_the_first_tick_that_saw_them() {
    let mut chat = chat_with(vec![]);
    chat.notice = Some("Profile saved.".into());
    let t0 = Instant::now();
    chat.tick(t0);
    chat.tick(t0 + NOTICE_SHOWN / 2);
    assert!(chat.notice.is_some());
    chat.tick(t0 + NOTICE_SHOWN);
    assert!(chat.notice.is_none());
}

mod late;
mod layout;

/// Issue 22: a search result opens its part of the conversation with the file cards
/// kept between its messages, in their place.
#[test]
fn a_search_result_s_part_of_the_conversation_shows_its_file_cards() {
    use courier_core::history::{History, KeptTransfer};
    let dir = folder("jump-cards");
    let mut settings = Settings::default();
    let bob = ClientId([2; 32]);
    let at = |s: u64| Timestamp(1_700_000_000_000 + s * 1000);
    {
        let h = History::open(&dir.0, &ClientId([9; 32])).unwrap();
        for (id, text, time) in [(1, "the blue kettle?", at(1)), (2, "got it", at(3))] {
            h.received(&ChatMessage {
                id: MsgId(id),
                from: bob,
                to: Target::Client(ClientId([1; 32])),
                text: text.into(),
                time,
                seq: None,
            })
            .unwrap();
        }
        h.keep_transfer(&KeptTransfer {
            seq: 0,
            peer: bob,
            outgoing: false,
            files: vec![("kettle.jpg".into(), 5)],
            count: 1,
            bytes: 5,
            time: at(2),
            outcome: "Received 1 file, kettle in hand".into(),
            saved_in: None,
        })
        .unwrap();
    }
    let mut chat = with_history(&dir.0, &mut settings);
    let search = chat.update(
        Message::Contacts(contacts::Message::Search("kettle".into())),
        &mut settings,
    );
    settle(&mut chat, &mut settings, search);
    assert_eq!(chat.conversations.found.len(), 1);
    let open = chat.update(
        Message::Contacts(contacts::Message::OpenFound(0)),
        &mut settings,
    );
    settle(&mut chat, &mut settings, open);
    let jump = chat.conversations.threads[&Target::Client(bob)]
        .jump
        .as_ref()
        .unwrap();
    assert_eq!(jump.items.len(), 2);
    assert_eq!(jump.cards.len(), 1, "the card between them");
    assert!(shows(
        &chat,
        &settings,
        "An earlier part of this conversation"
    ));
    assert!(shows(&chat, &settings, "Received 1 file, kettle in hand"));
}

/// Issue 22: paging back through a search result's part of the conversation brings the
/// file cards of the earlier messages too.
#[test]
fn earlier_messages_of_a_search_result_bring_their_file_cards() {
    use courier_core::history::{History, KeptTransfer};
    let dir = folder("jump-earlier-cards");
    let mut settings = Settings::default();
    let bob = ClientId([2; 32]);
    let at = |s: u64| Timestamp(1_700_000_000_000 + s * 1000);
    {
        let h = History::open(&dir.0, &ClientId([9; 32])).unwrap();
        h.keep_transfer(&KeptTransfer {
            seq: 0,
            peer: bob,
            outgoing: false,
            files: vec![("first.jpg".into(), 5)],
            count: 1,
            bytes: 5,
            time: at(1),
            outcome: "Received the very first file".into(),
            saved_in: None,
        })
        .unwrap();
        for n in 0..80u64 {
            let text = if n == 79 {
                "the blue kettle".to_owned()
            } else {
                format!("line {n}")
            };
            h.received(&ChatMessage {
                id: MsgId(100 + n),
                from: bob,
                to: Target::Client(ClientId([1; 32])),
                text,
                time: at(10 + n),
                seq: None,
            })
            .unwrap();
        }
    }
    let mut chat = with_history(&dir.0, &mut settings);
    let search = chat.update(
        Message::Contacts(contacts::Message::Search("kettle".into())),
        &mut settings,
    );
    settle(&mut chat, &mut settings, search);
    let open = chat.update(
        Message::Contacts(contacts::Message::OpenFound(0)),
        &mut settings,
    );
    settle(&mut chat, &mut settings, open);
    let thread = |chat: &Chat| {
        chat.conversations.threads[&Target::Client(bob)]
            .jump
            .as_ref()
            .map(|j| j.cards.len())
    };
    assert_eq!(
        thread(&chat),
        Some(0),
        "the card is older than the part shown"
    );
    let earlier = chat.update(
        Message::Conversation(conversation::Message::ShowEarlier),
        &mut settings,
    );
    settle(&mut chat, &mut settings, earlier);
    let tasks = chat.conversations.take_tasks().map(Message::Conversation);
    settle(&mut chat, &mut settings, Action::Run(tasks));
    assert_eq!(thread(&chat), Some(1), "the earlier page brings it");
}

/// Issue 22 review: the hub refuses a new picture (too soon, no room) as rate limited,
/// taking the rest of the profile; while one is pending, that puts the previous picture
/// back (in the window, the panel and the settings) as an invalid profile does.
#[test]
fn a_picture_refused_as_rate_limited_puts_the_previous_profile_back() {
    use crate::screen::chat::panel::ProfileMessage;
    use courier_core::proto::ErrorCode;
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![]);
    let profile = |m| Message::Panel(panel::Message::Profile(m));
    chat.update(profile(ProfileMessage::Builtin(3)), &mut settings);
    let action = chat.update(profile(ProfileMessage::Save), &mut settings);
    assert!(matches!(action, Action::SaveSettings));
    assert!(!chat.profile().avatar.is_empty());

    let refused = Event::HubError {
        code: ErrorCode::RateLimited,
        detail: "no room for more pictures".into(),
    };
    let action = chat.session_event(refused.clone(), &settings);
    assert!(
        matches!(action, Action::SaveSettings),
        "the old one is saved"
    );
    assert!(chat.profile().avatar.is_empty(), "the old profile is back");
    assert!(
        chat.people.avatar(&chat.me()).is_none(),
        "not shown as ours"
    );
    assert!(chat.panel.profile.avatar.is_empty());
    assert!(chat.notice().is_some_and(|n| n.contains("refused")));

    // The hub takes the rest of a profile whose picture it refuses: the name stays.
    chat.update(profile(ProfileMessage::Name("Ada L".into())), &mut settings);
    chat.update(profile(ProfileMessage::Builtin(4)), &mut settings);
    chat.update(profile(ProfileMessage::Save), &mut settings);
    let action = chat.session_event(refused.clone(), &settings);
    assert!(matches!(action, Action::SaveSettings));
    assert!(chat.profile().avatar.is_empty(), "the picture is put back");
    assert_eq!(chat.profile().name, "Ada L", "the name the hub took stays");
    assert_eq!(chat.panel.profile.name, "Ada L");

    // A name change (no new picture) is not undone by some other rate limit.
    chat.update(profile(ProfileMessage::Name("Ada M".into())), &mut settings);
    chat.update(profile(ProfileMessage::Save), &mut settings);
    let action = chat.session_event(refused, &settings);
    assert!(matches!(action, Action::None));
    assert_eq!(chat.profile().name, "Ada M");
}
