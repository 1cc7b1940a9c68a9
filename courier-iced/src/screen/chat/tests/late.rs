//! Late answers: a task of a chat the user left (logged out, joined another hub) still
//! delivers; what it brings belongs to that chat, never to the one on screen now.

use super::*;
use courier_core::history::History;

/// A chat of the hub `hub` (its history in `dir`, if given) that offers `resumed`
/// again at boot; with its boot task.
fn boot_on(
    hub: u8,
    dir: Option<&std::path::Path>,
    resumed: Vec<(
        ClientId,
        courier_core::proto::TransferId,
        Vec<std::path::PathBuf>,
    )>,
) -> (Chat, Task<Message>) {
    let welcome = Welcome {
        you: ClientId([1; 32]),
        hub: ClientId([hub; 32]),
        first_contact: false,
        remembered: false,
        contacts: vec![contact(2, "Bob")],
        time: Timestamp(0),
    };
    let info = HubInfo {
        address: format!("10.0.0.{hub}:8977"),
        fingerprint: ClientId([hub; 32]),
        join: vec![format!("10.0.0.{hub}:8977")],
        hosted: false,
        advertised: None,
        password: None,
    };
    let boot = Boot {
        history: dir.map(std::path::Path::to_path_buf),
        focused: true,
        offers_to_resume: resumed,
    };
    Chat::boot(None, &welcome, Profile::with_name("Ada"), info, boot)
}

/// Hub A's history answers, come after the user left A for hub B, are dropped: A's
/// unsent message is not adopted (so never sent on B), A's messages never show in B's
/// conversations.
#[test]
fn a_late_history_answer_of_another_hub_is_dropped() {
    let dir = folder("late-history");
    let me = ClientId([1; 32]);
    {
        let h = History::open(&dir.0, &ClientId([9; 32])).unwrap();
        h.unsent(
            me,
            MsgId(777),
            Target::Everyone,
            "meant for hub A only",
            Timestamp(1_700_000_000_000),
        )
        .unwrap();
        h.received(&ChatMessage {
            id: MsgId(5),
            from: ClientId([2; 32]),
            to: Target::Everyone,
            text: "hub A broadcast".into(),
            time: Timestamp(1_700_000_000_001),
            seq: None,
        })
        .unwrap();
    }
    let mut settings = Settings::default();
    // Chat A boots; its history has not answered when the user leaves it.
    let (chat_a, task_a) = boot_on(9, Some(&dir.0), Vec::new());
    drop(chat_a);
    // Chat B: another hub, no history here.
    let (mut chat_b, _) = boot_on(8, None, Vec::new());
    // A's answers arrive (the runtime hands every chat task's message to the chat on
    // screen).
    settle(&mut chat_b, &mut settings, Action::Run(task_a));
    assert!(
        !shows(&chat_b, &settings, "hub A broadcast"),
        "hub A's history is not shown in hub B's chat"
    );
    assert!(
        !shows(&chat_b, &settings, "meant for hub A only"),
        "nor hub A's unsent message"
    );
    assert!(
        !chat_b.conversations.has_unsent(),
        "hub A's unsent message is not adopted by hub B's chat (it would go to hub B)"
    );
}

/// Hub A's history that could not be opened, said after the user joined hub B, does
/// not turn off B's history.
#[test]
fn a_late_history_failure_of_another_hub_keeps_this_history() {
    let bad = folder("late-bad");
    // A file where the profile folder should be: A's history cannot open.
    let not_a_folder = bad.0.join("not-a-folder");
    std::fs::write(&not_a_folder, b"x").unwrap();
    let good = folder("late-good");
    let mut settings = Settings::default();
    let (chat_a, task_a) = boot_on(9, Some(&not_a_folder), Vec::new());
    drop(chat_a);
    let (mut chat_b, task_b) = boot_on(8, Some(&good.0), Vec::new());
    settle(&mut chat_b, &mut settings, Action::Run(task_b));
    settle(&mut chat_b, &mut settings, Action::Run(task_a));
    assert_eq!(chat_b.notice(), None, "no word of A's history here");
    event(
        &mut chat_b,
        &mut settings,
        message(2, Target::Everyone, "kept on hub B"),
    );
    let kept = History::open(&good.0, &ClientId([8; 32]))
        .and_then(|h| h.len())
        .unwrap();
    assert_eq!(kept, 1, "hub B's history still keeps messages");
}

/// A transfer task of hub A's chat (its files read) reports to hub B's chat: the card
/// with the same key there is not touched.
#[test]
fn a_late_transfer_report_of_another_hub_is_dropped() {
    let files = folder("late-transfer");
    let there = files.0.join("notes.txt");
    std::fs::write(&there, b"hello").unwrap();
    let bob = ClientId([2; 32]);
    let id = courier_core::proto::TransferId(1);
    let mut settings = Settings::default();
    // A offers again a file that is gone: its task says so for A's card 0.
    let (chat_a, task_a) = boot_on(9, None, vec![(bob, id, vec![files.0.join("gone.txt")])]);
    drop(chat_a);
    // B offers again its own file: its card 0 is reading it.
    let (mut chat_b, _) = boot_on(8, None, vec![(bob, id, vec![there])]);
    let key = *chat_b.transfers.cards.keys().next().unwrap();
    settle(&mut chat_b, &mut settings, Action::Run(task_a));
    assert_eq!(
        chat_b.transfers.cards[&key].state,
        transfers::FileState::Preparing,
        "hub B's card is still reading its own files"
    );
}

/// A page asked for before its conversation was cleared comes back after the clear:
/// the cleared messages stay gone, on screen as in the file.
#[test]
fn a_page_answer_after_a_clear_is_dropped() {
    let dir = folder("late-clear");
    let mut settings = Settings::default();
    let bob = Target::Client(ClientId([2; 32]));
    let me = Target::Client(ClientId([1; 32]));
    let mut chat = with_history(&dir.0, &mut settings);
    event(&mut chat, &mut settings, message(2, me, "hi Ada"));
    drop(chat);
    let mut chat = with_history(&dir.0, &mut settings);
    let page = chat.update(select(bob), &mut settings);
    let _ = chat.conversations.clear_history(Some(bob));
    let clear = chat.conversations.take_tasks().map(Message::Conversation);
    settle(&mut chat, &mut settings, page);
    settle(&mut chat, &mut settings, Action::Run(clear));
    let kept = History::open(&dir.0, &ClientId([9; 32]))
        .and_then(|h| h.len())
        .unwrap();
    assert_eq!(kept, 0, "gone from the file");
    assert!(!shows(&chat, &settings, "hi Ada"), "and from the screen");
    assert!(!chat.history_busy());
}

/// A search asked for before a clear finds what the clear forgets: its answer is
/// dropped, the results stay empty.
#[test]
fn a_search_answer_after_a_clear_is_dropped() {
    let dir = folder("late-search");
    let mut settings = Settings::default();
    let me = Target::Client(ClientId([1; 32]));
    let mut chat = with_history(&dir.0, &mut settings);
    event(&mut chat, &mut settings, message(2, me, "the blue kettle"));
    let search = chat.update(
        Message::Contacts(contacts::Message::Search("kettle".into())),
        &mut settings,
    );
    let _ = chat.conversations.clear_history(None);
    let clear = chat.conversations.take_tasks().map(Message::Conversation);
    settle(&mut chat, &mut settings, search);
    settle(&mut chat, &mut settings, Action::Run(clear));
    assert!(
        chat.conversations.found.is_empty(),
        "nothing cleared is found"
    );
}

/// A search result opened before a clear comes back after it: the earlier part it
/// shows is not opened.
#[test]
fn a_jump_answer_after_a_clear_is_dropped() {
    let dir = folder("late-jump");
    let mut settings = Settings::default();
    let bob = Target::Client(ClientId([2; 32]));
    let me = Target::Client(ClientId([1; 32]));
    let mut chat = with_history(&dir.0, &mut settings);
    event(&mut chat, &mut settings, message(2, me, "the blue kettle"));
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
    let _ = chat.conversations.clear_history(Some(bob));
    let clear = chat.conversations.take_tasks().map(Message::Conversation);
    settle(&mut chat, &mut settings, open);
    settle(&mut chat, &mut settings, Action::Run(clear));
    assert!(chat.conversations.threads[&bob].jump.is_none());
    assert!(!shows(&chat, &settings, "the blue kettle"));
}
