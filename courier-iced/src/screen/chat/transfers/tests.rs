use super::*;
use crate::screen::chat::tests::{chat_with, contact, interact, shows};
use crate::screen::chat::{self, Message as ChatMessage};
use crate::settings::Settings;
use courier_core::proto::{Manifest, Target};
use courier_core::session::Event;

fn offer(from: u8, id: u8) -> Event {
    Event::Offer(IncomingOffer {
        id: TransferId(u64::from(id)),
        digest: [0; 32],
        from: ClientId([from; 32]),
        manifest: Manifest {
            files: vec![
                FileEntry {
                    path: "photos/beach.jpg".into(),
                    size: 2_500_000,
                },
                FileEntry {
                    path: "notes.txt".into(),
                    size: 1200,
                },
            ],
            folders: vec![],
            test: None,
        },
        addrs: vec![],
        time: None,
    })
}

/// An offer from someone offline (stored at the hub for us) says so, and, once
/// accepted, waits for them by name; from someone online it says neither.
#[test]
fn an_offer_from_someone_offline_says_the_files_come_when_they_are_back() {
    let settings = Settings::default();
    let mut away = contact(2, "Bob");
    away.online = false;
    let mut chat = chat_with(vec![away, contact(3, "Carol")]);
    let mut settings_mut = settings.clone();
    chat.update(
        chat::select(Target::Client(ClientId([2; 32]))),
        &mut settings_mut,
    );
    let mut stored = offer(2, 1);
    if let Event::Offer(o) = &mut stored {
        o.time = Some(courier_core::proto::Timestamp(1_700_000_000_000));
    }
    chat.session_event(stored.clone(), &settings);
    // Handed over again at a reconnect: still one card.
    chat.session_event(stored, &settings);
    assert_eq!(chat.transfers.cards.len(), 1);
    let title = format!(
        "Bob sends 2 files, 2.5 MB · offered {}",
        crate::format::day_and_clock(courier_core::proto::Timestamp(1_700_000_000_000))
    );
    assert!(shows(&chat, &settings, &title), "{title}");
    let offline = "Bob is offline: accept now, and the files come when they are back.";
    assert!(shows(&chat, &settings, offline));
    assert!(
        shows(&chat, &settings, "Accept"),
        "it can be accepted at once"
    );
    let key = *chat.transfers.cards.keys().next().unwrap();
    chat.transfers.cards.get_mut(&key).unwrap().state = FileState::Connecting;
    assert!(shows(&chat, &settings, "Waiting for Bob to come online…"));

    chat.update(
        chat::select(Target::Client(ClientId([3; 32]))),
        &mut settings_mut,
    );
    chat.session_event(offer(3, 2), &settings);
    assert!(!shows(
        &chat,
        &settings,
        "Carol is offline: accept now, and the files come when they are back."
    ));
    let key = *chat.transfers.cards.keys().last().unwrap();
    chat.transfers.cards.get_mut(&key).unwrap().state = FileState::Connecting;
    assert!(shows(&chat, &settings, "Connecting…"));
    // A sender sending to many holds this copy back for a while: the card says so.
    chat.update(
        card(Message::Update(key, transfer::Update::Waiting)),
        &mut settings_mut,
    );
    assert!(shows(
        &chat,
        &settings,
        "Waiting for the sender (it is sending to others first)…"
    ));
}

#[test]
fn a_failed_transfer_offers_the_connection_check_which_the_menu_runs()
-> Result<(), iced_test::Error> {
    use crate::screen::chat::panel::{self, MenuMessage, Tab};
    use courier_core::doctor::Finding;
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    chat.update(
        chat::select(Target::Client(ClientId([2; 32]))),
        &mut settings,
    );
    chat.session_event(offer(2, 1), &settings);
    chat.session_event(offer(2, 2), &settings);
    let ids: Vec<u64> = chat.transfers.cards.keys().copied().collect();
    // One was cancelled (someone's choice: no check offered), one failed.
    chat.transfers.cards.get_mut(&ids[0]).unwrap().state =
        FileState::Cancelled("You cancelled.".into());
    assert!(!shows(&chat, &settings, "Check the connection"));
    chat.transfers.cards.get_mut(&ids[1]).unwrap().state =
        FileState::Failed("The connection to Bob broke.".into());
    assert!(shows(&chat, &settings, "The connection to Bob broke."));
    let actions = interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Check the connection");
    });
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, chat::Action::CheckConnection)),
        "{actions:?}"
    );
    assert_eq!(
        chat.panel.tab,
        Some(Tab::Menu),
        "the Menu opens on the check"
    );
    assert!(shows(&chat, &settings, "Checking…"));
    // A second press while it runs starts nothing more.
    let again = chat.update(
        ChatMessage::Panel(panel::Message::Menu(MenuMessage::CheckConnection)),
        &mut settings,
    );
    assert!(matches!(again, chat::Action::None));

    for (step, ok, text) in [
        ("login", true, "safety code 1234; the password is right"),
        (
            "reachback",
            false,
            "others cannot connect to you directly (TCP 4000: refused)",
        ),
    ] {
        let found = Finding {
            step,
            ok,
            text: text.into(),
        };
        chat.update(
            ChatMessage::Panel(panel::Message::Menu(MenuMessage::Found(found))),
            &mut settings,
        );
    }
    chat.update(
        ChatMessage::Panel(panel::Message::Menu(MenuMessage::Checked)),
        &mut settings,
    );
    assert!(shows(&chat, &settings, "problem · reachback"));
    assert!(shows(
        &chat,
        &settings,
        "others cannot connect to you directly (TCP 4000: refused)"
    ));
    assert!(shows(&chat, &settings, "1 problem found."));
    Ok(())
}

#[test]
fn offer_card_lists_files_and_can_be_declined() -> Result<(), iced_test::Error> {
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    chat.update(
        chat::select(Target::Client(ClientId([2; 32]))),
        &mut settings,
    );
    chat.session_event(offer(2, 1), &settings);
    assert!(shows(&chat, &settings, "Bob sends 2 files, 2.5 MB"));
    assert!(shows(&chat, &settings, "photos/beach.jpg"));
    assert!(shows(&chat, &settings, "1.2 kB"));
    // A long offer lists its first files and every one on request.
    let many: Vec<FileEntry> = (0..20)
        .map(|i| FileEntry {
            path: format!("photos/img{i:02}.jpg"),
            size: 1000,
        })
        .collect();
    chat.session_event(
        Event::Offer(IncomingOffer {
            id: TransferId(77),
            digest: [0; 32],
            from: ClientId([2; 32]),
            manifest: Manifest {
                files: many,
                folders: vec![],
                test: None,
            },
            addrs: vec![],
            time: None,
        }),
        &settings,
    );
    assert!(shows(&chat, &settings, "photos/img05.jpg"));
    assert!(!shows(&chat, &settings, "photos/img19.jpg"));
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Show all 20 files");
    });
    assert!(shows(&chat, &settings, "photos/img19.jpg"));
    let last = chat.transfers.cards.keys().copied().max().unwrap_or(0);
    chat.update(card(Message::Decline(last)), &mut settings);
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Decline");
    });
    let first = chat
        .transfers
        .cards
        .values()
        .next()
        .map(|c| c.state.clone());
    assert_eq!(first, Some(FileState::Declined("You declined.".into())));
    assert!(
        !shows(&chat, &settings, "Accept"),
        "no more buttons once answered"
    );

    // Accepting while the hub is away keeps the offer and says why.
    chat.session_event(offer(2, 2), &settings);
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Accept");
    });
    assert!(
        chat.notice
            .as_deref()
            .is_some_and(|n| n.contains("Not connected"))
    );
    assert!(
        chat.transfers
            .cards
            .values()
            .any(|c| c.state == FileState::Incoming && c.offer.is_some())
    );

    // The sender cancelling an unanswered offer ends the card.
    chat.session_event(
        Event::TransferEnded {
            id: TransferId(2),
            end: TransferEnd::Cancelled {
                by: ClientId([2; 32]),
            },
        },
        &settings,
    );
    assert!(chat.transfers.cards.values().all(|c| c.state.is_over()));
    Ok(())
}

/// SECURITY F7, M13 (issue 10 #10): what others wrote is shown with its hidden
/// characters visible: a file named `invoice<RLO>fdp.exe` does not read as
/// "invoiceexe.pdf" on the card, nor a sender's name or text as something else.
#[test]
fn hidden_characters_in_names_texts_and_file_names_are_shown() {
    let settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob\u{202E}kcilc")]);
    let bob = Target::Client(ClientId([2; 32]));
    chat.update(chat::select(bob), &mut Settings::default());
    chat.session_event(
        Event::Offer(IncomingOffer {
            id: TransferId(5),
            digest: [0; 32],
            from: ClientId([2; 32]),
            manifest: Manifest {
                files: vec![FileEntry {
                    path: "invoice\u{202E}fdp.exe".into(),
                    size: 10,
                }],
                folders: vec![],
                test: None,
            },
            addrs: vec![],
            time: None,
        }),
        &settings,
    );
    chat.session_event(
        Event::Message(courier_core::proto::Message {
            id: courier_core::proto::MsgId(1),
            from: ClientId([2; 32]),
            to: Target::Client(chat.me()),
            text: "pay \u{2067}now\u{2069} please".into(),
            time: courier_core::proto::Timestamp(0),
            seq: None,
        }),
        &settings,
    );
    assert!(shows(&chat, &settings, "invoice⟨U+202E⟩fdp.exe"));
    assert!(!shows(&chat, &settings, "invoice\u{202E}fdp.exe"));
    assert!(shows(&chat, &settings, "Bob⟨U+202E⟩kcilc"));
    assert!(shows(&chat, &settings, "pay ⟨U+2067⟩now⟨U+2069⟩ please"));
}

fn card(m: Message) -> ChatMessage {
    ChatMessage::Transfer(m)
}

#[test]
fn files_need_a_contact_and_a_connection() {
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    let action = chat.update(
        ChatMessage::Files(vec![PathBuf::from("/etc/hostname")]),
        &mut settings,
    );
    assert!(matches!(action, chat::Action::None));
    assert!(
        chat.notice
            .as_deref()
            .is_some_and(|n| n.contains("pick a contact"))
    );
    chat.update(
        chat::select(Target::Client(ClientId([2; 32]))),
        &mut settings,
    );
    chat.update(
        ChatMessage::Files(vec![PathBuf::from("/etc/hostname")]),
        &mut settings,
    );
    assert!(
        chat.notice
            .as_deref()
            .is_some_and(|n| n.contains("Not connected"))
    );
    assert!(chat.transfers.cards.is_empty());
}

/// An offer that ends before it is answered says core's sentence for the reason (the
/// CLI says the same), except who cancelled: the card knows it is the sender.
#[test]
fn an_offer_that_ends_says_core_s_sentence_for_why() {
    let settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    let ends = [
        (TransferEnd::PeerGone, "The other side went offline."),
        (
            TransferEnd::NoLongerStored,
            "The hub no longer has the offer (answered, withdrawn or expired meanwhile).",
        ),
        (
            TransferEnd::Declined(Declined::ByUser),
            "Declined by the receiver.",
        ),
        (
            TransferEnd::Cancelled {
                by: ClientId([2; 32]),
            },
            "The sender cancelled.",
        ),
    ];
    for (n, (end, said)) in (1u8..).zip(ends) {
        chat.session_event(offer(2, n), &settings);
        chat.session_event(
            Event::TransferEnded {
                id: TransferId(u64::from(n)),
                end,
            },
            &settings,
        );
        let state = chat
            .transfers
            .cards
            .values()
            .find(|c| c.id == Some(TransferId(u64::from(n))))
            .map(|c| c.state.clone());
        let text = match state {
            Some(FileState::Failed(t) | FileState::Declined(t) | FileState::Cancelled(t)) => t,
            other => format!("not ended: {other:?}"),
        };
        assert_eq!(text, said);
    }
}

/// Issue 22: a finished card says where the files went, and under which name a file
/// was saved when a file of its name was there already.
#[test]
fn a_finished_card_says_where_the_files_went_and_their_final_names() {
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    chat.update(
        chat::select(Target::Client(ClientId([2; 32]))),
        &mut settings,
    );
    chat.session_event(offer(2, 1), &settings);
    let key = *chat.transfers.cards.keys().next().unwrap();
    let dir = std::env::temp_dir().join("courier-downloads");
    let summary = Summary {
        id: TransferId(1),
        route: Route::Direct,
        files: 2,
        bytes: 2_501_200,
        moved: 2_501_200,
        resumed: 0,
        elapsed: std::time::Duration::from_secs(1),
        saved: vec![dir.join("photos/beach (1).jpg"), dir.join("notes.txt")],
    };
    let done = transfer::Update::Finished(Ok(summary));
    chat.update(card(Message::Update(key, done)), &mut settings);
    let note = format!(
        "Saved in {} (saved beach.jpg as beach (1).jpg)",
        dir.join("photos").display()
    );
    assert!(shows(&chat, &settings, &note), "{note}");
    assert!(shows(&chat, &settings, "Open folder"));
}

/// Issue 22: "Open folder" on a desktop with no opener says so, and where the files
/// are (it did nothing visible).
#[cfg(unix)]
#[test]
fn open_folder_says_when_nothing_can_open_it() {
    let dir = std::env::temp_dir();
    let missing = crate::system::open_folder_with("courier-no-such-opener", &dir);
    let why = missing.unwrap_err();
    assert!(why.starts_with("Cannot open the folder"), "{why}");
    assert!(why.contains(&dir.display().to_string()), "{why}");
    let failing = crate::system::open_folder_with("false", &dir).unwrap_err();
    assert!(failing.contains("found no file manager"), "{failing}");
    assert_eq!(crate::system::open_folder_with("true", &dir), Ok(()));
}

/// Issue 22: a card counts its files and empty folders in words, singular when one.
#[test]
fn a_card_counts_files_and_empty_folders_in_words() {
    assert_eq!(super::what(0, 0), "files");
    assert_eq!(super::what(1, 0), "1 file");
    assert_eq!(super::what(3, 0), "3 files");
    assert_eq!(super::what(1, 1), "1 file and 1 empty folder");
    assert_eq!(super::what(2, 3), "2 files and 3 empty folders");
    assert_eq!(super::what(0, 1), "1 empty folder");
}
