//! Groups in the app against a real hub on loopback and a second real client (Bob, a
//! plain courier-core session): Ada creates a group with Bob from New group, both write
//! in it, the member page lists them, "read by" counts Bob's read mark, Ada leaves, and
//! what the group held stays in her history.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Driver, Peer, TestHub, chat, in_chat};
use courier_core::proto::{GroupChange, Target};
use courier_core::session::Event;
use courier_iced::app::Message;
use courier_iced::screen::chat::conversation::Item;
use courier_iced::screen::chat::{groups, select};
use courier_iced::screen::login::{Message as LoginMessage, Mode};
use courier_testkit::TempDir;
use iced_test::selector::{self, Candidate};

const PASSWORD: &str = "groups hub password";

fn login(driver: &mut Driver, hub: &str, name: &str) {
    for m in [
        LoginMessage::Mode(Mode::Join),
        LoginMessage::Address(hub.into()),
        LoginMessage::Name(name.into()),
        LoginMessage::Password(PASSWORD.into()),
        LoginMessage::Submit,
    ] {
        driver.send(Message::Login(m));
    }
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

/// The text `label` right of the contact list (which is 280 px wide).
fn right_of_list(label: &'static str) -> impl Fn(Candidate<'_>) -> Option<selector::Target> {
    move |c| match c {
        Candidate::Text {
            content, bounds, ..
        } if content == label && bounds.x > 280.0 => Some(selector::Target::from(c)),
        _ => None,
    }
}

#[test]
fn a_group_made_in_the_app_carries_messages_both_ways_and_can_be_left() {
    let scratch = TempDir::new("iced-groups");
    let hub = TestHub::start(&scratch.subdir("hub"), PASSWORD, 0);
    let dir = scratch.subdir("ada");
    let mut app = Driver::new(dir.clone());
    app.app.settings.notifications = false;
    login(&mut app, &hub.address(), "Ada");
    app.until("login", in_chat);
    app.interact(|ui| {
        let _ = ui.click("The code matches");
    });
    let ada = app.chat().me();
    let bob = Peer::join(&hub.address(), PASSWORD, "Bob");
    app.until("Bob in the contact list", |a| {
        chat(a).is_some_and(|c| c.people().get(&bob.id).is_some())
    });

    // New group: the name, Bob ticked, Create.
    app.interact(|ui| {
        let _ = ui.click("New group");
    });
    app.interact(|ui| {
        let _ = ui.click(iced::widget::Id::new("group-name"));
        ui.typewrite("ops");
        // The Bob of the form (the contact list, left of it, has one too).
        let _ = ui.click(right_of_list("Bob"));
        let _ = ui.click("Create");
    });
    app.until("the group, open", |a| {
        chat(a).is_some_and(|c| {
            c.group_form().is_none()
                && matches!(c.conversations().selected, Target::Group(g) if c.groups().get(&g).is_some())
        })
    });
    let Target::Group(ops) = app.chat().conversations().selected else {
        unreachable!()
    };
    assert_eq!(app.chat().groups().get(&ops).unwrap().members.len(), 2);
    assert!(app.shows("ops"), "the list and the header name it");
    bob.expect("Bob is in it", |e| match e {
        Event::Group(g) if g.id == ops => Some(()),
        Event::Groups(gs) if gs.iter().any(|g| g.id == ops) => Some(()),
        _ => None,
    });

    // Ada writes; Bob gets it as a message to the group, with its position.
    write(&mut app, "hello ops");
    let got = bob.expect("Ada's message in the group", |e| match e {
        Event::Message(m) if m.text == "hello ops" => Some(m.clone()),
        _ => None,
    });
    assert_eq!(got.to, Target::Group(ops));
    assert_eq!(got.from, ada);
    let ada_seq = got.seq.expect("a group message has its position");

    // Bob answers; the app shows it with his name above, in the group's conversation.
    smol::block_on(bob.handle.send_message(Target::Group(ops), "hi Ada")).unwrap();
    app.until("Bob's message in the group", |a| {
        chat(a).is_some_and(|c| {
            c.conversations().threads[&Target::Group(ops)]
                .items
                .iter()
                .any(|i| matches!(i, Item::Message(b) if b.from == bob.id && b.text == "hi Ada"))
        })
    });
    assert!(app.shows("hi Ada"));
    assert!(app.shows("Bob"), "the writer's name is above the bubble");
    assert!(app.shows("You created ops") && app.shows("You added Bob to ops"));

    // Bob reads up to Ada's message: "read by 1 of 1".
    smol::block_on(bob.handle.mark_group_read(ops, ada_seq)).unwrap();
    app.until("read by Bob", |a| {
        chat(a).is_some_and(|c| {
            c.groups()
                .read_by(&ops, got.id, &ada)
                .is_some_and(|(read, of)| read == vec![bob.id] && of == 1)
        })
    });
    assert!(app.shows("read by 1 of 1"));

    // A file dropped on the group goes to every other member: one card, Bob's line.
    let outbox = scratch.subdir("ada-out");
    std::fs::write(outbox.join("plan.txt"), b"the plan").unwrap();
    app.send(Message::Chat(courier_iced::screen::chat::Message::Files(
        vec![outbox.join("plan.txt")],
    )));
    let offer = bob.expect("the file offered to Bob", |e| match e {
        Event::Offer(o) => Some(o.clone()),
        _ => None,
    });
    let bob_dir = scratch.subdir("bob-in");
    let receiving = run_transfer(courier_core::transfer::receive(
        bob.handle.clone(),
        offer,
        None,
        bob_dir.clone(),
        courier_core::transfer::Options::default(),
    ));
    app.until("the group's file verified", |a| {
        chat(a).is_some_and(|c| c.sends().cards.iter().any(|card| card.over.is_some()))
    });
    smol::block_on(receiving).unwrap();
    assert_eq!(
        std::fs::read(bob_dir.join("plan.txt")).unwrap(),
        b"the plan"
    );
    assert!(app.shows("1 of 1 verified"));

    // The member page lists both; Ada (the creator) may remove Bob; she leaves.
    app.interact(|ui| {
        let _ = ui.click("Members");
    });
    assert!(app.chat().group_page().is_some());
    assert!(app.shows("creator") && app.shows("Remove"));
    app.interact(|ui| {
        let _ = ui.click("Leave group");
    });
    app.interact(|ui| {
        let _ = ui.click("Leave");
    });
    app.until("the group gone from the list, Everyone open", |a| {
        chat(a).is_some_and(|c| {
            c.groups().get(&ops).is_none() && c.conversations().selected == Target::Everyone
        })
    });
    assert_eq!(
        app.chat().notice(),
        Some("You left ops. What it holds stays in your history (the search finds it).")
    );
    bob.expect("Ada left", |e| match e {
        Event::GroupEvent(ev) if ev.group == ops => {
            (ev.by == ada && ev.change == GroupChange::Left).then_some(())
        }
        _ => None,
    });
    // What the group held stays in Ada's history, membership lines in their places, and
    // is read back after a relaunch under the group's name.
    app.settle();
    app.app.shut_down();
    drop(app);
    let mut again = Driver::launch(dir.clone());
    again.until("rejoined by itself", in_chat);
    again.until("the group's name, from the history", |a| {
        chat(a).is_some_and(|c| c.groups().label(&ops) == "ops")
    });
    again.send(Message::Chat(select(Target::Group(ops))));
    let c = again.chat();
    let lines: Vec<String> = c.conversations().threads[&Target::Group(ops)]
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Message(b) => Some(b.text.clone()),
            Item::Line(e) => Some(groups::sentence(e, c.people(), "ops")),
            _ => None,
        })
        .collect();
    assert_eq!(
        lines[..4],
        [
            "You created ops",
            "You added Bob to ops",
            "hello ops",
            "hi Ada"
        ],
        "{lines:?}"
    );
    assert!(again.shows("You are no longer in this group."));
    hub.stop();
}

fn run_transfer(
    mut t: courier_core::transfer::Transfer,
) -> smol::Task<Result<courier_core::transfer::Summary, String>> {
    use futures::StreamExt;
    smol::spawn(async move {
        while let Some(u) = t.next().await {
            if let courier_core::transfer::Update::Finished(r) = u {
                return r.map_err(|e| e.to_string());
            }
        }
        Err("the transfer stream ended without a result".into())
    })
}

/// Contacts picked in the list ("Send to several") get the same file dropped on the
/// window, one offer each through the coordinator: Bob accepts and has it verified,
/// Carol declines; the one card says so for each, and how it ended.
#[test]
fn a_file_dropped_while_contacts_are_picked_goes_to_each_of_them() {
    use courier_core::proto::Declined;
    use courier_core::transfer;
    use courier_core::transfer::many::Status;
    use courier_iced::screen::chat::Message as ChatMessage;
    use courier_iced::screen::chat::groups::many::Line;

    let scratch = TempDir::new("iced-many");
    let hub = TestHub::start(&scratch.subdir("hub"), PASSWORD, 0);
    let mut app = Driver::new(scratch.subdir("ada"));
    app.app.settings.notifications = false;
    login(&mut app, &hub.address(), "Ada");
    app.until("login", in_chat);
    app.interact(|ui| {
        let _ = ui.click("The code matches");
    });
    let bob = Peer::join(&hub.address(), PASSWORD, "Bob");
    let carol = Peer::join(&hub.address(), PASSWORD, "Carol");
    app.until("Bob and Carol listed", |a| {
        chat(a).is_some_and(|c| {
            c.people().get(&bob.id).is_some() && c.people().get(&carol.id).is_some()
        })
    });
    app.interact(|ui| {
        let _ = ui.click("Send to several");
    });
    app.interact(|ui| {
        let _ = ui.click("Bob");
        let _ = ui.click("Carol");
    });
    assert!(app.shows("2 picked"));
    let outbox = scratch.subdir("ada-out");
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(outbox.join("handout.bin"), &payload).unwrap();
    // A drop on the window, as the runtime reports it.
    app.send(Message::Chat(ChatMessage::Files(vec![
        outbox.join("handout.bin"),
    ])));
    assert_eq!(app.chat().sends().cards.len(), 1, "one card for the send");

    let offer = bob.expect("Bob's offer", |e| match e {
        Event::Offer(o) => Some(o.clone()),
        _ => None,
    });
    let bob_dir = scratch.subdir("bob-in");
    let receiving = run_transfer(transfer::receive(
        bob.handle.clone(),
        offer,
        None,
        bob_dir.clone(),
        transfer::Options::default(),
    ));
    let to_carol = carol.expect("Carol's offer", |e| match e {
        Event::Offer(o) => Some(o.id),
        _ => None,
    });
    smol::block_on(carol.handle.decline(to_carol, Declined::ByUser)).unwrap();
    app.until("the send over", |a| {
        chat(a).is_some_and(|c| c.sends().cards.iter().all(|card| card.over.is_some()))
    });
    smol::block_on(receiving).unwrap();
    assert_eq!(std::fs::read(bob_dir.join("handout.bin")).unwrap(), payload);
    let card = &app.chat().sends().cards[0];
    let line = |id| {
        card.lines
            .iter()
            .find(|(to, _)| *to == id)
            .map(|(_, l)| l.clone())
    };
    assert_eq!(line(bob.id), Some(Line::Settled(Status::Verified)));
    assert_eq!(line(carol.id), Some(Line::Settled(Status::Declined)));
    assert!(app.shows("1 of 2 verified"));
    assert!(app.shows("Every copy accepted arrived, verified."));
    hub.stop();
}
