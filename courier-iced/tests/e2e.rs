//! The app's logic against a real hub on loopback and a second real client: login with
//! the safety-code check, a message round trip with receipts and reads, typing, files
//! both ways, losing the hub, hosting a hub, refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Driver, Peer, TestHub, chat, in_chat};
use courier_core::proto::{Target, Timestamp, TransferEnd};
use courier_core::session::Event;
use courier_core::transfer;
use courier_iced::app::{Message, Screen};
use courier_iced::screen::chat::conversation::{BubbleState, Item};
use courier_iced::screen::chat::panel::{self, SettingsMessage};
use courier_iced::screen::chat::transfers::FileState;
use courier_iced::screen::chat::{Message as ChatMessage, select};
use courier_iced::screen::login::{Message as LoginMessage, Mode};
use courier_testkit::TempDir;
use futures::StreamExt;

const PASSWORD: &str = "e2e hub password";

fn login(driver: &mut Driver, hub: &str, name: &str, password: &str) {
    for m in [
        LoginMessage::Mode(Mode::Join),
        LoginMessage::Address(hub.into()),
        LoginMessage::Name(name.into()),
        LoginMessage::Password(password.into()),
        LoginMessage::Submit,
    ] {
        driver.send(Message::Login(m));
    }
}

fn my_bubble_state(app: &courier_iced::Courier, target: Target, text: &str) -> Option<BubbleState> {
    let chat = chat(app)?;
    chat.conversations()
        .threads
        .get(&target)?
        .items
        .iter()
        .find_map(|i| match i {
            Item::Message(b) if b.from == chat.me() && b.text == text => Some(b.state.clone()),
            _ => None,
        })
}

fn card_state(app: &courier_iced::Courier, outgoing: bool) -> Option<FileState> {
    chat(app)?
        .transfers()
        .cards
        .values()
        .rev()
        .find(|c| c.outgoing == outgoing)
        .map(|c| c.state.clone())
}

/// Types `text` into the composer and presses Enter, as a user would.
fn write(app: &mut Driver, text: &str) {
    app.interact(|ui| {
        let _ = ui.click(iced::widget::Id::new("composer"));
        ui.typewrite(text);
        ui.tap_key(iced::keyboard::Key::Named(
            iced::keyboard::key::Named::Enter,
        ));
    });
}

/// Bob offers one file to `to` and sends it once accepted.
fn bob_sends(
    bob: &Peer,
    to: courier_core::proto::ClientId,
    path: std::path::PathBuf,
) -> smol::Task<Result<transfer::Summary, String>> {
    run_transfer(transfer::send(
        bob.handle.clone(),
        to,
        vec![path],
        transfer::Options::default(),
    ))
}

/// Polls a transfer stream to its end on the executor; returns its result.
fn run_transfer(mut t: transfer::Transfer) -> smol::Task<Result<transfer::Summary, String>> {
    smol::spawn(async move {
        while let Some(u) = t.next().await {
            if let transfer::Update::Finished(r) = u {
                return r.map_err(|e| e.to_string());
            }
        }
        Err("the transfer stream ended without a result".into())
    })
}

#[test]
fn join_chat_and_files_round_trip() {
    let scratch = TempDir::new("iced-e2e");
    let hub = TestHub::start(&scratch.subdir("hub"), PASSWORD, 0);
    let mut app = Driver::new(scratch.subdir("ada"));
    app.app.settings.download_dir = Some(scratch.subdir("ada-downloads"));
    app.app.settings.notifications = false;

    login(&mut app, &hub.address(), "Ada", PASSWORD);
    assert!(
        matches!(&app.app.screen, Screen::Login(l) if l.busy()),
        "connecting shows progress"
    );
    app.until("login", in_chat);
    // First contact: the safety code is shown and must be confirmed.
    assert_eq!(app.app.confirm, Some(hub.fingerprint));
    assert!(app.shows(&hub.fingerprint.safety_code()));
    app.interact(|ui| {
        let _ = ui.click("The code matches");
    });
    assert_eq!(app.app.confirm, None);
    assert_eq!(
        app.app.settings.hub,
        hub.address(),
        "the address is remembered"
    );
    let ada = app.chat().me();

    let bob = Peer::join(&hub.address(), PASSWORD, "Bob");
    app.until("Bob in the contact list", |a| {
        chat(a).is_some_and(|c| c.people().get(&bob.id).is_some_and(|b| b.online))
    });

    // Bob writes; the unread count rises; opening the conversation reads it.
    let bob_target = Target::Client(bob.id);
    smol::block_on(bob.handle.send_message(Target::Client(ada), "hello Ada")).unwrap();
    app.until("unread from Bob", |a| {
        chat(a).is_some_and(|c| c.conversations().unread(&bob_target) == 1)
    });
    app.interact(|ui| {
        let _ = ui.click("Bob");
    });
    assert_eq!(app.chat().conversations().selected, bob_target);
    assert_eq!(app.chat().conversations().unread(&bob_target), 0);
    assert!(app.shows("hello Ada"));
    bob.expect("Ada's read receipt", |e| {
        matches!(e, Event::Read { by, .. } if *by == ada).then_some(())
    });

    // With the conversation open and the window in front, a new message is read at once.
    let second =
        smol::block_on(bob.handle.send_message(Target::Client(ada), "still there?")).unwrap();
    app.until("the second message", |a| {
        chat(a).is_some_and(|c| c.conversations().threads[&bob_target].items.len() == 2)
    });
    assert_eq!(app.chat().conversations().unread(&bob_target), 0);
    bob.expect("read at once", |e| {
        matches!(e, Event::Read { by, id } if *by == ada && *id == second).then_some(())
    });

    // Ada answers through the composer: type, Enter.
    write(&mut app, "hi Bob");
    let got = bob.expect("Ada's message", |e| match e {
        Event::Message(m) if m.text == "hi Bob" => Some(m.clone()),
        _ => None,
    });
    assert_eq!(got.from, ada, "the hub stamps the sender");
    assert!(got.time > Timestamp(0));
    assert_eq!(
        app.chat().conversations().composer.text().trim(),
        "",
        "the composer is cleared"
    );
    app.until("delivered", |a| {
        my_bubble_state(a, bob_target, "hi Bob") == Some(BubbleState::Delivered)
    });
    smol::block_on(bob.handle.mark_read(ada, got.id)).unwrap();
    app.until("read", |a| {
        my_bubble_state(a, bob_target, "hi Bob") == Some(BubbleState::Read)
    });
    assert!(app.shows("hi Bob"));

    // Typing shows in the open conversation.
    bob.handle.typing(Target::Client(ada)).unwrap();
    app.until("typing", |a| {
        chat(a).is_some_and(|c| c.conversations().typing_shown())
    });
    assert!(app.shows("Bob is typing…"));

    // Bob sends a file; the card lists it; Accept; it lands verified in the folder.
    let outbox = scratch.subdir("bob-out");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(outbox.join("report.bin"), &payload).unwrap();
    let sending = bob_sends(&bob, ada, outbox.join("report.bin"));
    app.until("offer card", |a| {
        card_state(a, false) == Some(FileState::Incoming)
    });
    assert!(app.shows("Bob sends 1 file, 300 kB"));
    assert!(app.shows("report.bin"));
    app.interact(|ui| {
        let _ = ui.click("Accept");
    });
    app.until("received", |a| {
        card_state(a, false).is_some_and(|s| s.is_over())
    });
    assert!(
        matches!(card_state(&app.app, false), Some(FileState::Done(_))),
        "{:?}",
        card_state(&app.app, false)
    );
    let sent = smol::block_on(sending).unwrap();
    assert_eq!(sent.bytes, 300_000);
    let saved = scratch.join("ada-downloads").join("report.bin");
    assert_eq!(std::fs::read(&saved).unwrap(), payload);
    assert!(app.shows("Open folder"));

    // Ada sends a file (as a drop on the window); Bob accepts; the card ends "Sent".
    // Two files dropped together make one offer.
    let ada_file = scratch.subdir("ada-out").join("notes.txt");
    std::fs::write(&ada_file, b"meeting notes\n").unwrap();
    let ada_second = scratch.subdir("ada-out").join("agenda.txt");
    std::fs::write(&ada_second, b"1. slides\n").unwrap();
    app.send(Message::Dropped(ada_file));
    app.send(Message::Dropped(ada_second));
    app.until("offered", |a| {
        card_state(a, true) == Some(FileState::Pending)
    });
    let offer = bob.expect("Ada's offer", |e| match e {
        Event::Offer(o) => Some(o.clone()),
        _ => None,
    });
    assert_eq!(offer.from, ada);
    let mut names: Vec<&str> = offer
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["agenda.txt", "notes.txt"],
        "one offer for the whole drop"
    );
    let bob_dir = scratch.subdir("bob-in");
    let receiving = run_transfer(transfer::receive(
        bob.handle.clone(),
        offer,
        None,
        bob_dir.clone(),
        transfer::Options::default(),
    ));
    app.until("sent", |a| card_state(a, true).is_some_and(|s| s.is_over()));
    assert!(
        matches!(card_state(&app.app, true), Some(FileState::Done(ref s)) if s.starts_with("Sent 2 files"))
    );
    smol::block_on(receiving).unwrap();
    assert_eq!(
        std::fs::read(bob_dir.join("notes.txt")).unwrap(),
        b"meeting notes\n"
    );
    assert_eq!(
        std::fs::read(bob_dir.join("agenda.txt")).unwrap(),
        b"1. slides\n"
    );

    // Cancelling an offer Bob has not answered yet: both sides hear of it.
    let draft = scratch.subdir("ada-out").join("draft.txt");
    std::fs::write(&draft, b"not ready").unwrap();
    app.send(Message::Dropped(draft));
    app.until("offered", |a| {
        card_state(a, true) == Some(FileState::Pending)
    });
    let offer = bob.expect("the second offer", |e| match e {
        Event::Offer(o) => Some(o.id),
        _ => None,
    });
    app.interact(|ui| {
        let _ = ui.click("Cancel");
    });
    app.until("cancelled", |a| {
        card_state(a, true).is_some_and(|s| s.is_over())
    });
    assert_eq!(
        card_state(&app.app, true),
        Some(FileState::Cancelled("You cancelled.".into()))
    );
    bob.expect("the cancel", |e| {
        matches!(e, Event::TransferEnded { id, end: TransferEnd::Cancelled { by } } if *id == offer && *by == ada)
            .then_some(())
    });

    // Trusted contacts with auto-accept on: Bob's next file lands without a question.
    app.send(Message::Chat(ChatMessage::Panel(panel::Message::Settings(
        SettingsMessage::AutoAccept(true),
    ))));
    app.interact(|ui| {
        let _ = ui.click("Trusted");
    });
    assert!(app.app.settings.is_trusted(&bob.id));
    assert!(app.app.settings.auto_accepts(&bob.id));
    std::fs::write(outbox.join("auto.bin"), b"auto accepted").unwrap();
    let before = app.chat().transfers().cards.len();
    let sending = bob_sends(&bob, ada, outbox.join("auto.bin"));
    app.until("auto-accepted", |a| {
        chat(a).is_some_and(|c| c.transfers().cards.len() > before)
            && card_state(a, false).is_some_and(|s| s.is_over())
    });
    assert!(matches!(
        card_state(&app.app, false),
        Some(FileState::Done(_))
    ));
    smol::block_on(sending).unwrap();
    assert_eq!(
        std::fs::read(scratch.join("ada-downloads").join("auto.bin")).unwrap(),
        b"auto accepted"
    );
    // The settings were saved: a new start remembers them.
    let saved = courier_iced::settings::Settings::load(&scratch.join("ada"));
    assert!(saved.auto_accepts(&bob.id));
    hub.stop();
}

#[test]
fn losing_the_hub_shows_reconnecting_and_loses_nothing_typed() {
    let scratch = TempDir::new("iced-reconnect");
    let hub_home = scratch.subdir("hub");
    let hub = TestHub::start(&hub_home, PASSWORD, 0);
    let port = hub.addr.port();
    let mut app = Driver::new(scratch.subdir("ada"));
    app.app.settings.notifications = false;
    login(&mut app, &hub.address(), "Ada", PASSWORD);
    app.until("login", in_chat);
    app.send(Message::ConfirmHub(true));
    let ada = app.chat().me();
    let bob = Peer::join(&hub.address(), PASSWORD, "Bob");
    app.until("Bob", |a| {
        chat(a).is_some_and(|c| c.people().get(&bob.id).is_some())
    });
    app.send(Message::Chat(select(Target::Client(bob.id))));

    hub.stop();
    app.until("reconnecting", |a| {
        chat(a).is_some_and(|c| *c.connection() != courier_iced::screen::chat::Connection::Online)
    });
    assert!(app.shows("Reconnecting…"), "the lost hub is visible");

    // Written while the hub is away: it stays in the conversation and goes out later.
    write(&mut app, "written offline");
    let bob_target = Target::Client(bob.id);
    assert_eq!(
        my_bubble_state(&app.app, bob_target, "written offline"),
        Some(BubbleState::Unsent)
    );
    assert!(app.shows("written offline"));

    let hub = TestHub::start(&hub_home, PASSWORD, port);
    app.until("back online", |a| {
        chat(a).is_some_and(|c| *c.connection() == courier_iced::screen::chat::Connection::Online)
    });
    // Sent once the hub is back: it remembers Bob (its database), so it delivers or
    // stores the message for him, whichever he is when it arrives.
    app.until("sent after the hub is back", |a| {
        !matches!(
            my_bubble_state(a, bob_target, "written offline"),
            Some(BubbleState::Unsent)
        )
    });
    let got = bob.expect("the message written offline", |e| match e {
        Event::Message(m) if m.text == "written offline" => Some(m.from),
        _ => None,
    });
    assert_eq!(got, ada);
    app.until("delivered or stored for Bob", |a| {
        matches!(
            my_bubble_state(a, bob_target, "written offline"),
            Some(BubbleState::Delivered | BubbleState::Stored)
        )
    });
    hub.stop();
}

#[test]
fn hosting_a_hub_in_the_app() {
    let scratch = TempDir::new("iced-host");
    let mut app = Driver::new(scratch.subdir("host"));
    app.app.settings.notifications = false;
    for m in [
        LoginMessage::Mode(Mode::Host),
        LoginMessage::Name("Host".into()),
        LoginMessage::Password("a good hub password".into()),
        LoginMessage::Port("0".into()),
        LoginMessage::Submit,
    ] {
        app.send(Message::Login(m));
    }
    app.until("logged in to our own hub", in_chat);
    assert_eq!(app.app.confirm, None, "our own hub needs no confirmation");
    let port = app.app.hosted.as_ref().unwrap().listen.port();
    let info = app.chat().hub().clone();
    assert!(info.hosted);
    assert!(
        info.join.iter().all(|a| a.ends_with(&format!(":{port}"))),
        "{:?}",
        info.join
    );
    // The side panel opens on the Menu: addresses and safety code to tell the others.
    assert_eq!(
        app.chat().side_panel().tab,
        Some(courier_iced::screen::chat::Tab::Menu)
    );
    assert!(app.shows(&info.join.join("\n")));
    assert!(app.shows(&info.fingerprint.safety_code()));
    // Issue 22: the password set is shown there too, hidden until asked, with Copy.
    assert!(!app.shows("a good hub password"), "hidden at first");
    assert!(app.shows("Copy password"));
    app.interact(|ui| {
        let _ = ui.click("Show password");
    });
    assert!(app.shows("a good hub password"), "shown when asked");

    let guest = Peer::join(&format!("127.0.0.1:{port}"), "a good hub password", "Guest");
    app.until("the guest appears", |a| {
        chat(a).is_some_and(|c| c.people().get(&guest.id).is_some())
    });

    // Stopping the hub disconnects everyone: it is asked first, and Cancel keeps it.
    // (The Menu is taller than the simulator's window now: its messages are sent.)
    let menu = |m| Message::Chat(ChatMessage::Panel(panel::Message::Menu(m)));
    app.send(menu(panel::MenuMessage::LogOut));
    assert!(in_chat(&app.app), "asked first");
    assert!(app.app.hosted.is_some());
    assert!(app.shows("Yes, stop the hub"));
    app.send(menu(panel::MenuMessage::Cancel));
    assert!(
        in_chat(&app.app) && app.app.hosted.is_some(),
        "Cancel keeps it"
    );
    assert!(!app.shows("Yes, stop the hub"));

    // Logging out stops the hub: the guest loses it.
    app.send(menu(panel::MenuMessage::LogOut));
    app.send(menu(panel::MenuMessage::Confirm));
    assert!(matches!(app.app.screen, Screen::Login(_)));
    assert!(app.app.hosted.is_none());
    // It stops off the window's thread: the log out returned at once.
    app.until("the hub has stopped", |a| !a.stopping());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the hub no longer listens"
    );
    // The session's last news (the hub said goodbye) comes after the log out: the
    // login screen does not say it retries the hub it just stopped.
    app.send(Message::Session(courier_iced::session::Feed::Update(
        courier_core::session::Update::Disconnected {
            reason: std::sync::Arc::new(courier_core::session::Error::HubShutdown),
            retry_in: Some(std::time::Duration::from_secs(1)),
        },
    )));
    let Screen::Login(l) = &app.app.screen else {
        unreachable!()
    };
    assert_eq!(l.status, None, "no frozen retry");
    assert!(!app.shows("Retrying"));
}

/// Issue 22: a join that never gets in says which way it failed (nothing answers on
/// the port, no computer by that name), stops after a few tries, and offers the
/// connection check.
#[test]
fn a_join_that_never_gets_in_says_why_and_stops_trying() {
    let scratch = TempDir::new("iced-unreachable");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = closed.local_addr().unwrap().to_string();
    drop(closed);
    let mut app = Driver::new(scratch.subdir("ada"));
    for (hub, says) in [
        (refused.as_str(), "nothing listens at that address and port"),
        ("no-such-hub.invalid:8977", "no computer by that name"),
    ] {
        login(&mut app, hub, "Ada", PASSWORD);
        app.until(
            "it gives up",
            |a| matches!(&a.screen, Screen::Login(l) if l.error.is_some()),
        );
        let Screen::Login(l) = &app.app.screen else {
            unreachable!()
        };
        let error = l.error.clone().unwrap();
        assert!(error.contains(says), "{hub}: {error}");
        assert!(error.contains("Tried 3 times"), "{error}");
        assert!(app.app.server.is_none(), "no more tries");
        assert_eq!(l.address, hub, "the address stays to correct");
        assert!(app.shows("Check the connection"));
    }
}

#[test]
fn wrong_password_and_changed_hub_are_refused_clearly() {
    let scratch = TempDir::new("iced-refuse");
    let hub = TestHub::start(&scratch.subdir("hub-a"), PASSWORD, 0);
    let port = hub.addr.port();
    let mut app = Driver::new(scratch.subdir("ada"));
    login(&mut app, &hub.address(), "Ada", "not the password");
    app.until(
        "refused",
        |a| matches!(&a.screen, Screen::Login(l) if l.error.is_some()),
    );
    let Screen::Login(l) = &app.app.screen else {
        unreachable!()
    };
    assert_eq!(
        l.error.as_deref(),
        Some("Wrong password. Check it and try again.")
    );
    assert!(app.app.server.is_none(), "no retrying a wrong password");

    // Pin hub A, then put another hub on its address: a blocking warning, no login.
    login(&mut app, &hub.address(), "Ada", PASSWORD);
    app.until("login", in_chat);
    app.send(Message::ConfirmHub(true));
    app.send(Message::Chat(ChatMessage::Panel(panel::Message::Menu(
        panel::MenuMessage::LogOut,
    ))));
    hub.stop();
    let impostor = TestHub::start(&scratch.subdir("hub-b"), PASSWORD, port);
    login(&mut app, &impostor.address(), "Ada", PASSWORD);
    app.until("warning", |a| a.warning.is_some());
    assert!(
        app.app
            .warning
            .as_deref()
            .is_some_and(|w| w.contains("identity changed")),
        "{:?}",
        app.app.warning
    );
    assert!(matches!(app.app.screen, Screen::Login(_)));
    assert!(app.shows("Warning: this may not be your hub"));
    impostor.stop();
}

/// Issue 11: the app opens where it was left. Joined once with the password, a new
/// launch joins the same hub by itself (the hub remembers this computer), showing the
/// login screen with Cancel meanwhile; the hub's owner forgets the computer and the app
/// says so and asks for the password, which lets it in again.
#[test]
fn a_relaunch_rejoins_without_a_password_until_the_hub_forgets_this_computer() {
    let scratch = TempDir::new("iced-relaunch");
    let hub = TestHub::start(&scratch.subdir("hub"), PASSWORD, 0);
    let dir = scratch.subdir("ada");
    let mut first = Driver::new(dir.clone());
    first.app.settings.notifications = false;
    login(&mut first, &hub.address(), "Ada", PASSWORD);
    first.until("asked to confirm the new hub", |a| a.confirm.is_some());
    first.send(Message::ConfirmHub(true));
    first.until("logged in", in_chat);
    let me = first.chat().me();
    first.app.shut_down();
    drop(first);

    let mut again = Driver::launch(dir.clone());
    match &again.app.screen {
        Screen::Login(login) => {
            assert!(login.busy(), "connecting at once, with Cancel");
            assert!(login.password.is_empty(), "no password typed");
        }
        Screen::Chat(_) => panic!("the chat cannot show before the hub answers"),
    }
    again.until("rejoined by itself", in_chat);
    assert_eq!(again.chat().me(), me);
    assert_eq!(again.app.confirm, None, "a known hub needs no confirmation");

    // The owner forgets this computer: the hub disconnects it; the app asks for the
    // password (a reconnect without one is refused).
    assert!(hub.db.forget_device(&me).unwrap());
    again.until(
        "back on the login screen",
        |a| matches!(&a.screen, Screen::Login(l) if l.error.is_some()),
    );
    let Screen::Login(screen) = &again.app.screen else {
        unreachable!()
    };
    assert_eq!(
        screen.error.as_deref(),
        Some("This hub no longer remembers this device: enter the password.")
    );
    login(&mut again, &hub.address(), "Ada", PASSWORD);
    again.until("in again with the password", in_chat);

    // Logging out on purpose: the next launch waits on the login screen.
    again.interact(|ui| {
        let _ = ui.click("Settings & profile");
    });
    again.send(Message::Chat(ChatMessage::Panel(panel::Message::Open(
        courier_iced::screen::chat::Tab::Menu,
    ))));
    again.interact(|ui| {
        let _ = ui.click("Log out");
    });
    assert!(matches!(again.app.screen, Screen::Login(_)));
    // The settings are written in the background, as the app does.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while courier_iced::settings::Settings::load(&dir).resume
        != courier_iced::settings::Resume::Nothing
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the log out was not saved"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(again);
    let idle = Driver::launch(dir);
    assert!(
        matches!(&idle.app.screen, Screen::Login(l) if !l.busy()),
        "after a log out the app does not join by itself"
    );
}

/// Issue 11: a host's relaunch starts the same hub again (same identity, so the same
/// safety code; same password record; same port) with no password typed, and joins
/// it; the host form never changes the password, the Menu does.
#[test]
fn a_host_s_relaunch_starts_the_same_hub_and_the_menu_changes_its_password() {
    let scratch = TempDir::new("iced-rehost");
    let dir = scratch.subdir("host");
    let mut first = Driver::new(dir.clone());
    first.app.settings.notifications = false;
    for m in [
        LoginMessage::Mode(Mode::Host),
        LoginMessage::Name("Host".into()),
        LoginMessage::Password("the first hub password".into()),
        LoginMessage::Port("0".into()),
        LoginMessage::Submit,
    ] {
        first.send(Message::Login(m));
    }
    first.until("hosting", in_chat);
    let safety = first.chat().hub().fingerprint;
    let port = first.app.hosted.as_ref().unwrap().listen.port();
    let guest = Peer::join(
        &format!("127.0.0.1:{port}"),
        "the first hub password",
        "Guest",
    );
    first.app.shut_down();
    drop(first);
    drop(guest);

    let mut again = Driver::launch(dir.clone());
    again.until("hosting again", in_chat);
    assert_eq!(again.chat().hub().fingerprint, safety, "the same hub");
    assert_eq!(again.app.hosted.as_ref().unwrap().listen.port(), port);
    // The password is the one set the first time.
    let guest = Peer::join(
        &format!("127.0.0.1:{port}"),
        "the first hub password",
        "Guest",
    );
    again.until("the guest is back", |a| {
        chat(a).is_some_and(|c| c.people().get(&guest.id).is_some_and(|p| p.online))
    });

    // The Menu sets a new one: the hub restarts with it and this app logs in again.
    again.send(Message::Chat(ChatMessage::Panel(panel::Message::Open(
        courier_iced::screen::chat::Tab::Menu,
    ))));
    again.send(Message::Chat(ChatMessage::Panel(panel::Message::Menu(
        panel::MenuMessage::NewPassword("the second hub password".into()),
    ))));
    again.send(Message::Chat(ChatMessage::Panel(panel::Message::Menu(
        panel::MenuMessage::ChangePassword,
    ))));
    // It disconnects everyone: asked first.
    assert!(again.shows("Yes, change the password"));
    assert!(again.app.hosted.is_some(), "nothing restarted yet");
    assert!(
        again.chat().hub().password.is_none(),
        "a relaunch does not know the password"
    );
    again.send(Message::Chat(ChatMessage::Panel(panel::Message::Menu(
        panel::MenuMessage::Confirm,
    ))));
    again.until("back in after the restart", |a| {
        chat(a).is_some_and(|c| {
            c.notice()
                .is_some_and(|n| n.contains("restarted with the new password"))
        }) && a.hosted.is_some()
    });
    again.until("logged in again", |a| {
        chat(a).is_some_and(|c| *c.connection() == courier_iced::screen::chat::Connection::Online)
    });
    assert_eq!(again.chat().hub().fingerprint, safety, "still the same hub");
    assert_eq!(
        again.chat().hub().password.as_deref(),
        Some("the second hub password"),
        "the Menu can show the new password"
    );
    let refused = Peer::try_join(&format!("127.0.0.1:{port}"), "the first hub password");
    assert!(refused.is_err(), "the old password no longer works");
    let _new = Peer::join(
        &format!("127.0.0.1:{port}"),
        "the second hub password",
        "Newcomer",
    );
    again.app.shut_down();
}

fn bubbles_with(app: &courier_iced::Courier, target: Target, text: &str) -> usize {
    chat(app)
        .and_then(|c| c.conversations().threads.get(&target))
        .map_or(0, |c| {
            c.items
                .iter()
                .filter(|i| matches!(i, Item::Message(b) if b.text == text))
                .count()
        })
}

/// Issue 11: the app keeps its history. After a relaunch the conversation is there
/// (newest page first, older pages on "Show earlier"), a message stored by the hub
/// meanwhile arrives once, and a search result opens the conversation at the message.
#[test]
fn history_is_there_after_a_relaunch_and_search_opens_the_message_found() {
    let scratch = TempDir::new("iced-history");
    let hub = TestHub::start(&scratch.subdir("hub"), PASSWORD, 0);
    let dir = scratch.subdir("ada");
    let mut first = Driver::new(dir.clone());
    first.app.settings.notifications = false;
    login(&mut first, &hub.address(), "Ada", PASSWORD);
    first.until("asked to confirm the new hub", |a| a.confirm.is_some());
    first.send(Message::ConfirmHub(true));
    first.until("logged in", in_chat);
    let ada = first.chat().me();
    let bob = Peer::join(&hub.address(), PASSWORD, "Bob");
    let with_bob = Target::Client(bob.id);
    first.until("Bob listed", |a| {
        chat(a).is_some_and(|c| c.people().get(&bob.id).is_some())
    });
    smol::block_on(
        bob.handle
            .send_message(Target::Client(ada), "the blue kettle is in the shed"),
    )
    .unwrap();
    for n in 0..80 {
        if n >= 40 {
            // Under the hub's message rate once the burst is spent.
            std::thread::sleep(std::time::Duration::from_millis(60));
        }
        smol::block_on(
            bob.handle
                .send_message(Target::Client(ada), format!("filler {n}")),
        )
        .unwrap();
    }
    first.until("Bob's messages shown", |a| {
        bubbles_with(a, with_bob, "filler 79") == 1
    });
    first.send(Message::Chat(select(with_bob)));
    write(&mut first, "thanks Bob");
    first.until("the reply delivered", |a| {
        my_bubble_state(a, with_bob, "thanks Bob") == Some(BubbleState::Delivered)
    });
    // A file from Bob, accepted: its card is kept with its outcome and folder.
    first.app.settings.download_dir = Some(scratch.subdir("ada-downloads"));
    let outbox = scratch.subdir("bob-out");
    std::fs::write(outbox.join("minutes.txt"), b"we met").unwrap();
    let sending = bob_sends(&bob, ada, outbox.join("minutes.txt"));
    first.until("offer card", |a| {
        card_state(a, false) == Some(FileState::Incoming)
    });
    first.interact(|ui| {
        let _ = ui.click("Accept");
    });
    first.until("received", |a| {
        matches!(card_state(a, false), Some(FileState::Done(_)))
    });
    smol::block_on(sending).unwrap();
    first.app.shut_down();
    drop(first);

    // While Ada is away the hub stores a message for her.
    smol::block_on(
        bob.handle
            .send_message(Target::Client(ada), "while you were away"),
    )
    .unwrap();

    let mut again = Driver::launch(dir.clone());
    again.until("rejoined by itself", in_chat);
    again.until("the stored message arrived", |a| {
        bubbles_with(a, with_bob, "while you were away") == 1
    });
    again.send(Message::Chat(select(with_bob)));
    assert!(again.shows("thanks Bob"), "our reply, from the history");
    assert_eq!(
        my_bubble_state(&again.app, with_bob, "thanks Bob"),
        Some(BubbleState::Delivered),
        "with its final state"
    );
    assert!(again.shows("filler 79"));
    assert_eq!(bubbles_with(&again.app, with_bob, "filler 79"), 1, "once");
    assert!(
        again.shows("Files from Bob"),
        "the file card, from the history"
    );
    assert!(again.shows("minutes.txt (6 B)"));
    assert!(again.shows("Open folder"), "where it was saved");
    let kept = again.chat().conversations().threads[&with_bob]
        .items
        .iter()
        .find_map(|i| match i {
            Item::KeptTransfer(card) => Some(card.clone()),
            _ => None,
        })
        .expect("a kept card");
    assert!(
        kept.outcome.starts_with("Received 1 file"),
        "{}",
        kept.outcome
    );
    assert_eq!(kept.saved_in, Some(scratch.subdir("ada-downloads")));
    assert!(
        !again.shows("the blue kettle is in the shed"),
        "the oldest is not loaded yet"
    );
    // Paging back from the newest reaches the oldest.
    for _ in 0..5 {
        if again.shows("the blue kettle is in the shed") {
            break;
        }
        // The button at the top of the list (scrolled to, as a user would).
        again.send(Message::Chat(ChatMessage::Conversation(
            courier_iced::screen::chat::conversation::Message::ShowEarlier,
        )));
    }
    assert!(again.shows("the blue kettle is in the shed"));
    assert_eq!(bubbles_with(&again.app, with_bob, "filler 0"), 1);

    // Search across conversations, as typed, with another conversation open.
    again.send(Message::Chat(select(Target::Everyone)));
    again.interact(|ui| {
        let _ = ui.click(iced::widget::Id::new("contact-search"));
        ui.typewrite("KETT");
    });
    assert_eq!(again.chat().conversations().found.len(), 1);
    assert!(again.shows("Bob: the blue kettle is in the shed"));
    again.interact(|ui| {
        let _ = ui.click("Bob: the blue kettle is in the shed");
    });
    let chat = again.chat();
    assert_eq!(chat.conversations().selected, with_bob);
    let jump = chat.conversations().threads[&with_bob]
        .jump
        .as_ref()
        .expect("opened at the message");
    let found = jump
        .items
        .iter()
        .find(|b| (b.from, b.id) == jump.found)
        .expect("the message found is shown");
    assert_eq!(found.text, "the blue kettle is in the shed");
    assert!(again.shows("An earlier part of this conversation"));
    again.interact(|ui| {
        let _ = ui.click("Back to the latest");
    });
    assert!(again.shows("while you were away"));
    assert!(!again.shows("An earlier part of this conversation"));
}

/// Issue 12: the connection check runs from the app, on the real hub. Offered under a
/// failed join (it names the wrong password and says the rest works), and in the Menu
/// once joined (the login works, the hub sees this computer and reaches back to it), and
/// running it does not disturb the app's own session.
#[test]
fn the_connection_check_is_offered_when_joining_fails_and_runs_from_the_menu() {
    use courier_core::doctor::Finding;
    fn step<'a>(findings: &'a [Finding], name: &str) -> &'a Finding {
        findings
            .iter()
            .find(|f| f.step == name)
            .unwrap_or_else(|| panic!("no step {name}: {findings:?}"))
    }
    let scratch = TempDir::new("iced-check");
    let hub = TestHub::start(&scratch.subdir("hub"), PASSWORD, 0);
    let mut app = Driver::new(scratch.subdir("ada"));
    assert!(!app.shows("Check the connection"), "nothing failed yet");
    login(&mut app, &hub.address(), "Ada", "not the password");
    app.until(
        "refused",
        |a| matches!(&a.screen, Screen::Login(l) if l.error.is_some()),
    );
    app.interact(|ui| {
        let _ = ui.click("Check the connection");
    });
    app.until(
        "the check on the login screen",
        |a| matches!(&a.screen, Screen::Login(l) if l.check.as_ref().is_some_and(|c| !c.running)),
    );
    let Screen::Login(l) = &app.app.screen else {
        unreachable!()
    };
    let findings = &l.check.as_ref().unwrap().findings;
    assert!(step(findings, "connect").ok, "{findings:?}");
    let login_step = step(findings, "login");
    assert!(
        !login_step.ok && login_step.text.contains("refused the password"),
        "{findings:?}"
    );
    assert!(
        findings.iter().all(|f| f.step != "discovery"),
        "no mDNS in tests"
    );
    assert!(app.shows("problem · login"));
    assert!(app.shows("the hub refused the password: ask its owner for the right one"));

    // Joined: the Menu runs it too.
    login(&mut app, &hub.address(), "Ada", PASSWORD);
    app.until("login", in_chat);
    app.send(Message::ConfirmHub(true));
    app.send(Message::Chat(ChatMessage::Panel(panel::Message::Open(
        panel::Tab::Menu,
    ))));
    app.interact(|ui| {
        let _ = ui.click("Check the connection");
    });
    app.until("the check in the Menu", |a| {
        chat(a).is_some_and(|c| {
            c.side_panel()
                .menu
                .check
                .as_ref()
                .is_some_and(|c| !c.running)
        })
    });
    let findings = app
        .chat()
        .side_panel()
        .menu
        .check
        .as_ref()
        .unwrap()
        .findings
        .clone();
    assert!(findings.iter().all(|f| f.ok), "{findings:?}");
    assert!(
        step(&findings, "login")
            .text
            .contains("the password is right")
    );
    assert!(
        step(&findings, "seen").text.contains("127.0.0.1"),
        "{findings:?}"
    );
    assert!(
        step(&findings, "reachback").text.contains("directly"),
        "{findings:?}"
    );
    assert!(app.shows("Everything checked works."));
    // The app's own session carried on, under its own name.
    assert!(in_chat(&app.app));
    let bob = Peer::join(&hub.address(), PASSWORD, "Bob");
    let ada: Vec<_> = bob.contacts.iter().filter(|c| c.online).collect();
    assert_eq!(ada.len(), 1, "{ada:?}");
    assert_eq!(
        ada[0].profile.name, "Ada",
        "the check logged in under the app's name"
    );
    bob.handle
        .try_send_message(Target::Client(app.chat().me()), "still there?")
        .unwrap();
    app.until("Bob's message", |a| {
        bubbles_with(a, Target::Client(bob.id), "still there?") == 1
    });
    hub.stop();
}

/// Issue 11: a message written while the hub is away is kept in the history at once
/// (under the id it will be sent with). The app stopped without shutting down (as a
/// kill) before the hub came back sends it at its next start: it arrives, once, and
/// the history holds it once, sent.
#[test]
fn a_message_written_while_the_hub_is_away_survives_the_app_stopping() {
    let scratch = TempDir::new("iced-outbox");
    let hub_home = scratch.subdir("hub");
    let hub = TestHub::start(&hub_home, PASSWORD, 0);
    let port = hub.addr.port();
    let dir = scratch.subdir("ada");
    let mut first = Driver::new(dir.clone());
    first.app.settings.notifications = false;
    login(&mut first, &hub.address(), "Ada", PASSWORD);
    first.until("asked to confirm the new hub", |a| a.confirm.is_some());
    first.send(Message::ConfirmHub(true));
    first.until("logged in", in_chat);
    let ada = first.chat().me();
    let bob = Peer::join(&hub.address(), PASSWORD, "Bob");
    first.until("Bob", |a| {
        chat(a).is_some_and(|c| c.people().get(&bob.id).is_some())
    });
    let bob_target = Target::Client(bob.id);
    first.send(Message::Chat(select(bob_target)));

    hub.stop();
    first.until("reconnecting", |a| {
        chat(a).is_some_and(|c| *c.connection() != courier_iced::screen::chat::Connection::Online)
    });
    write(&mut first, "kept while away");
    assert_eq!(
        my_bubble_state(&first.app, bob_target, "kept while away"),
        Some(BubbleState::Unsent)
    );
    drop(first);

    let hub = TestHub::start(&hub_home, PASSWORD, port);
    let dir_again = dir.clone();
    let mut again = Driver::launch(dir);
    again.until("rejoined by itself", in_chat);
    let got = bob.expect("the message written before the app stopped", |e| match e {
        Event::Message(m) if m.text == "kept while away" => Some(m.from),
        _ => None,
    });
    assert_eq!(got, ada);
    again.send(Message::Chat(select(bob_target)));
    again.until("delivered or stored for Bob, after the relaunch", |a| {
        matches!(
            my_bubble_state(a, bob_target, "kept while away"),
            Some(BubbleState::Delivered | BubbleState::Stored)
        )
    });
    assert_eq!(bubbles_with(&again.app, bob_target, "kept while away"), 1);
    again.until("the history answered", |a| {
        chat(a).is_some_and(|c| !c.history_busy())
    });
    let fingerprint = again.chat().hub().fingerprint;
    let history = courier_core::history::History::open(&dir_again, &fingerprint).unwrap();
    assert!(
        history.unsent_messages().unwrap().is_empty(),
        "nothing waits any more"
    );
    let kept = history.search("kept while away", 10).unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    // Nothing arrives a second time.
    bob.handle
        .try_send_message(Target::Client(ada), "got it")
        .unwrap();
    again.until("Bob's answer", |a| {
        bubbles_with(a, Target::Client(bob.id), "got it") == 1
    });
    let repeats = bob.count(|e| matches!(e, Event::Message(m) if m.text == "kept while away"));
    assert_eq!(repeats, 0, "sent once");
    hub.stop();
}

/// Ada in the app (profile folder `dir`) on `hub`, with Bob's conversation open: Bob
/// came once and is offline now. Returns the app and Bob's identity (to come back as).
fn ada_with_bob_away(
    dir: &std::path::Path,
    hub: &TestHub,
) -> (Driver, courier_core::identity::Identity) {
    let mut app = Driver::new(dir.to_owned());
    app.app.settings.notifications = false;
    login(&mut app, &hub.address(), "Ada", PASSWORD);
    app.until("asked to confirm the new hub", |a| a.confirm.is_some());
    app.send(Message::ConfirmHub(true));
    app.until("logged in", in_chat);
    let bob_identity = courier_core::identity::Identity::generate().unwrap();
    let bob = Peer::join_as(&hub.address(), PASSWORD, "Bob", bob_identity.clone());
    let bob_id = bob.id;
    app.until("Bob online", |a| {
        chat(a).is_some_and(|c| c.people().get(&bob_id).is_some_and(|b| b.online))
    });
    drop(bob);
    app.until("Bob offline", |a| {
        chat(a).is_some_and(|c| c.people().get(&bob_id).is_some_and(|b| !b.online))
    });
    app.send(Message::Chat(select(Target::Client(bob_id))));
    (app, bob_identity)
}

/// Files offered to someone offline: the hub stores the offer, the card says they are
/// offline and keeps waiting; when they come online the offer is there, and once they
/// accept the files go and the card ends "Sent".
#[test]
fn a_file_offered_to_someone_offline_waits_at_the_hub_and_goes_when_they_come() {
    let scratch = TempDir::new("iced-stored-offer");
    let hub = TestHub::start(&scratch.subdir("hub"), PASSWORD, 0);
    let (mut app, bob_identity) = ada_with_bob_away(&scratch.subdir("ada"), &hub);
    let ada = app.chat().me();
    let file = scratch.subdir("ada-out").join("minutes.txt");
    std::fs::write(&file, b"minutes of the meeting\n").unwrap();
    app.send(Message::Dropped(file));
    app.until("stored for Bob", |a| {
        card_state(a, true) == Some(FileState::Stored)
    });
    assert!(app.shows(
        "Bob is offline: the hub stores the offer and hands it over when they come \
         online; the files go once they accept (while Courier runs)."
    ));

    // Bob is back: the offer waits for him, from Ada; he takes it.
    let offer = bob_takes_the_stored_offer(&mut app, &hub, bob_identity, &scratch, ada);
    assert_eq!(offer.manifest.files[0].path, "minutes.txt");
    assert!(offer.time.is_some(), "stamped when it was offered");
    assert_eq!(
        std::fs::read(scratch.join("bob-in").join("minutes.txt")).unwrap(),
        b"minutes of the meeting\n"
    );
    hub.stop();
}

/// Bob comes back (as `bob`), finds Ada's stored offer, takes it into `bob-in`, and the
/// app's card ends "Sent". Returns the offer as Bob saw it.
fn bob_takes_the_stored_offer(
    app: &mut Driver,
    hub: &TestHub,
    bob: courier_core::identity::Identity,
    scratch: &TempDir,
    ada: courier_core::proto::ClientId,
) -> courier_core::proto::IncomingOffer {
    let bob = Peer::join_as(&hub.address(), PASSWORD, "Bob", bob);
    let offer = bob.expect("the stored offer", |e| match e {
        Event::Offer(o) => Some(o.clone()),
        _ => None,
    });
    assert_eq!(offer.from, ada);
    let receiving = run_transfer(transfer::receive(
        bob.handle.clone(),
        offer.clone(),
        None,
        scratch.subdir("bob-in"),
        transfer::Options::default(),
    ));
    app.until("sent", |a| card_state(a, true).is_some_and(|s| s.is_over()));
    assert!(
        matches!(card_state(&app.app, true), Some(FileState::Done(ref s)) if s.starts_with("Sent")),
        "{:?}",
        card_state(&app.app, true)
    );
    smol::block_on(receiving).unwrap();
    offer
}

/// The app stops while an offer waits for someone offline: relaunched, it offers the
/// same files again (the hub stored the offer), and they go once that person accepts.
#[test]
fn an_offer_stored_for_someone_offline_is_offered_again_after_the_app_restarts() {
    let scratch = TempDir::new("iced-stored-offer-restart");
    let hub = TestHub::start(&scratch.subdir("hub"), PASSWORD, 0);
    let dir = scratch.subdir("ada");
    let (mut first, bob_identity) = ada_with_bob_away(&dir, &hub);
    let ada = first.chat().me();
    let file = scratch.subdir("ada-out").join("budget.csv");
    std::fs::write(&file, b"rent,100\nfood,50\n").unwrap();
    first.send(Message::Dropped(file.clone()));
    first.until("stored for Bob", |a| {
        card_state(a, true) == Some(FileState::Stored)
    });
    assert_eq!(first.app.settings.offers_to_resume.len(), 1, "remembered");
    assert_eq!(first.app.settings.offers_to_resume[0].paths, [file]);
    first.until("saved", |_| {
        courier_iced::settings::Settings::load(&dir)
            .offers_to_resume
            .len()
            == 1
    });
    drop(first);

    // Relaunched: it rejoins and offers the same files again, waiting for Bob.
    let mut again = Driver::launch(dir.clone());
    again.until("rejoined by itself", in_chat);
    again.until("the offer waits again", |a| {
        card_state(a, true) == Some(FileState::Pending)
    });
    bob_takes_the_stored_offer(&mut again, &hub, bob_identity, &scratch, ada);
    assert_eq!(
        std::fs::read(scratch.join("bob-in").join("budget.csv")).unwrap(),
        b"rent,100\nfood,50\n"
    );
    assert!(
        again.app.settings.offers_to_resume.is_empty(),
        "no longer to resume"
    );
    hub.stop();
}

/// Issue 22 item 3: a message stored for someone offline goes from "stored" to
/// "delivered" when they come and take it: at once while the app runs, and, for one
/// taken while the app was closed, at its next launch (the hub kept the receipt), the
/// history saying so too.
#[test]
fn a_stored_message_turns_delivered_when_its_recipient_takes_it() {
    let scratch = TempDir::new("iced-stored-delivered");
    let hub = TestHub::start(&scratch.subdir("hub"), PASSWORD, 0);
    let dir = scratch.subdir("ada");
    let (mut app, bob_identity) = ada_with_bob_away(&dir, &hub);
    let bob_id = bob_identity.id();
    let bob_target = Target::Client(bob_id);
    write(&mut app, "see you tomorrow");
    app.until("stored for Bob", |a| {
        my_bubble_state(a, bob_target, "see you tomorrow") == Some(BubbleState::Stored)
    });
    let bob = Peer::join_as(&hub.address(), PASSWORD, "Bob", bob_identity.clone());
    bob.expect("the stored message", |e| match e {
        Event::Message(m) if m.text == "see you tomorrow" => Some(()),
        _ => None,
    });
    app.until("delivered to Bob", |a| {
        my_bubble_state(a, bob_target, "see you tomorrow") == Some(BubbleState::Delivered)
    });
    drop(bob);
    app.until("Bob offline", |a| {
        chat(a).is_some_and(|c| c.people().get(&bob_id).is_some_and(|b| !b.online))
    });
    write(&mut app, "one more thing");
    app.until("stored for Bob", |a| {
        my_bubble_state(a, bob_target, "one more thing") == Some(BubbleState::Stored)
    });
    let fingerprint = app.chat().hub().fingerprint;
    drop(app);

    // Bob takes it while the app is closed; it hears so at its next launch.
    let bob = Peer::join_as(&hub.address(), PASSWORD, "Bob", bob_identity);
    bob.expect("the second stored message", |e| match e {
        Event::Message(m) if m.text == "one more thing" => Some(()),
        _ => None,
    });
    drop(bob);
    let mut again = Driver::launch(dir.clone());
    again.until("rejoined by itself", in_chat);
    again.send(Message::Chat(select(bob_target)));
    again.until("delivered to Bob, after the relaunch", |a| {
        my_bubble_state(a, bob_target, "one more thing") == Some(BubbleState::Delivered)
    });
    again.until("the history answered", |a| {
        chat(a).is_some_and(|c| !c.history_busy())
    });
    let history = courier_core::history::History::open(&dir, &fingerprint).unwrap();
    let kept = history.search("one more thing", 10).unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].state, courier_core::history::State::Delivered);
    hub.stop();
}

/// Issue 22: a profile changed in the Profile panel is the one the app logs in with
/// when it reconnects by itself after the hub restarts (it went back to the name and
/// status of the login).
#[test]
fn a_profile_changed_in_the_panel_survives_the_hub_restarting() {
    use courier_iced::screen::chat::Connection;
    use panel::ProfileMessage;
    let scratch = TempDir::new("iced-profile-restart");
    let hub_home = scratch.subdir("hub");
    let hub = TestHub::start(&hub_home, PASSWORD, 0);
    let port = hub.addr.port();
    let mut app = Driver::new(scratch.subdir("cy"));
    app.app.settings.notifications = false;
    login(&mut app, &hub.address(), "Cy", PASSWORD);
    app.until("login", in_chat);
    app.send(Message::ConfirmHub(true));
    let cy = app.chat().me();
    let bob = Peer::join(&hub.address(), PASSWORD, "Bob");
    app.until("Bob", |a| {
        chat(a).is_some_and(|c| c.people().get(&bob.id).is_some())
    });

    // A new name and status, typed in the Profile panel and saved.
    app.send(Message::Chat(ChatMessage::Panel(panel::Message::Open(
        courier_iced::screen::chat::Tab::Profile,
    ))));
    for m in [
        ProfileMessage::Name("Cy Two".into()),
        ProfileMessage::Status("moved desks".into()),
    ] {
        app.send(Message::Chat(ChatMessage::Panel(panel::Message::Profile(
            m,
        ))));
    }
    app.interact(|ui| {
        let _ = ui.click("Save profile");
    });
    app.until("the hub took the new profile", |a| {
        chat(a).is_some_and(|c| c.profile().name == "Cy Two")
    });
    bob.expect("Cy's new profile", |e| match e {
        Event::Contact(c) if c.id == cy && c.profile.name == "Cy Two" => Some(()),
        _ => None,
    });

    // The hub restarts on the same address, with the same identity and database.
    hub.stop();
    app.until("reconnecting", |a| {
        chat(a).is_some_and(|c| *c.connection() != Connection::Online)
    });
    bob.expect_disconnected();
    let hub = TestHub::start(&hub_home, PASSWORD, port);
    app.until("back online", |a| {
        chat(a).is_some_and(|c| *c.connection() == Connection::Online)
    });

    // Both came back by themselves: what Bob sees of Cy online is the new profile.
    let seen = bob.expect_contact("Cy back online", |c| c.id == cy && c.online);
    assert_eq!(
        (seen.profile.name.as_str(), seen.profile.status.as_str()),
        ("Cy Two", "moved desks"),
        "Bob sees the profile Cy set, not the one Cy logged in with"
    );
    let chat = app.chat();
    assert_eq!(
        (chat.profile().name.as_str(), chat.profile().status.as_str()),
        ("Cy Two", "moved desks")
    );
    let page = &chat.side_panel().profile;
    assert_eq!(
        (page.name.as_str(), page.status.as_str()),
        ("Cy Two", "moved desks"),
        "the app's own panel still shows the new profile"
    );
    hub.stop();
}

/// Issue 22 review: changing the hub's password from the Menu logs in again with the
/// profile saved in the Profile panel, not the one the app first logged in with.
#[test]
fn changing_the_hub_password_keeps_the_profile_saved_meanwhile() {
    use courier_iced::screen::chat::Connection;
    use panel::ProfileMessage;
    let scratch = TempDir::new("iced-password-profile");
    let mut app = Driver::new(scratch.subdir("host"));
    app.app.settings.notifications = false;
    for m in [
        LoginMessage::Mode(Mode::Host),
        LoginMessage::Name("Host".into()),
        LoginMessage::Password("the first hub password".into()),
        LoginMessage::Port("0".into()),
        LoginMessage::Submit,
    ] {
        app.send(Message::Login(m));
    }
    app.until("hosting", in_chat);
    let me = app.chat().me();
    let hub = format!(
        "127.0.0.1:{}",
        app.app.hosted.as_ref().unwrap().listen.port()
    );

    app.send(Message::Chat(ChatMessage::Panel(panel::Message::Open(
        courier_iced::screen::chat::Tab::Profile,
    ))));
    for m in [
        ProfileMessage::Name("Host Two".into()),
        ProfileMessage::Status("at the desk".into()),
    ] {
        app.send(Message::Chat(ChatMessage::Panel(panel::Message::Profile(
            m,
        ))));
    }
    app.interact(|ui| {
        let _ = ui.click("Save profile");
    });
    app.until("the hub took the new profile", |a| {
        chat(a).is_some_and(|c| c.profile().name == "Host Two")
    });

    for m in [
        panel::MenuMessage::NewPassword("the second hub password".into()),
        panel::MenuMessage::ChangePassword,
        panel::MenuMessage::Confirm,
    ] {
        app.send(Message::Chat(ChatMessage::Panel(panel::Message::Menu(m))));
    }
    app.until("back in after the restart", |a| {
        chat(a).is_some_and(|c| {
            c.notice()
                .is_some_and(|n| n.contains("restarted with the new password"))
                && *c.connection() == Connection::Online
        }) && a.hosted.is_some()
    });
    let guest = Peer::join(&hub, "the second hub password", "Guest");
    // After a restart the hub shows the host online from its record while the host's
    // app logs in again (a restart is no news), so the guest's list at login may hold
    // the card from before; what the guest ends up with, and keeps, is the profile
    // saved.
    let saved =
        |c: &courier_core::proto::Contact| c.id == me && c.online && c.profile.name == "Host Two";
    let seen = match guest.contacts.iter().find(|c| saved(c)) {
        Some(c) => c.clone(),
        None => guest.expect_contact("the host online with the saved profile", saved),
    };
    let later = guest.contacts_within(std::time::Duration::from_secs(1));
    assert!(
        later.iter().filter(|c| c.id == me).all(saved),
        "nothing takes the saved profile back: {later:?}"
    );
    assert_eq!(
        (seen.profile.name.as_str(), seen.profile.status.as_str()),
        ("Host Two", "at the desk"),
        "the guest sees the profile saved, not the one of the first login"
    );
    let chat = app.chat();
    assert_eq!(chat.profile().name, "Host Two");
    app.app.shut_down();
}
