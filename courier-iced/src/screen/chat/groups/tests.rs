//! The groups' tests: the list's section, New group, the member page, membership lines
//! in the hub's order, "read by N of M", and the layout of each at three window sizes.

use courier_core::proto::{
    ClientId, Group, GroupChange, GroupEvent, GroupId, GroupMember, GroupOutcome, GroupRefusal,
    Message as ChatMessage, MsgId, Role, Seq, Target, Timestamp,
};
use courier_core::session::Event;

use super::super::conversation::{Bubble, BubbleState, Item};
use super::super::tests::{chat_with, contact, interact, shows};
use super::super::{Chat, Message};
use super::{Message as GroupsMessage, form, members};
use crate::screen::layout::{SIZES, seen, window};
use crate::settings::Settings;

const OPS: GroupId = GroupId(7);

fn id(n: u8) -> ClientId {
    ClientId([n; 32])
}

/// A group of `members` (us, Ada, is 1; Bob 2, Carol 3), the newest entry at `last`.
fn group(gid: GroupId, name: &str, members: &[(u8, Role)], last: Seq) -> Group {
    Group {
        id: gid,
        name: name.into(),
        members: members
            .iter()
            .map(|(n, role)| GroupMember {
                id: id(*n),
                role: *role,
                joined: 1,
                read: 1,
            })
            .collect(),
        last,
    }
}

fn ops(my_role: Role) -> Group {
    // Bob created it, unless we did.
    let bob = if my_role == Role::Creator {
        Role::Member
    } else {
        Role::Creator
    };
    group(OPS, "ops", &[(1, my_role), (2, bob), (3, Role::Member)], 1)
}

fn said(from: u8, seq: Seq, text: &str) -> Event {
    Event::Message(ChatMessage {
        id: MsgId(1000 + seq),
        from: id(from),
        to: Target::Group(OPS),
        text: text.into(),
        time: Timestamp(1_700_000_000_000),
        seq: Some(seq),
    })
}

fn change(by: u8, seq: Seq, change: GroupChange) -> Event {
    Event::GroupEvent(GroupEvent {
        group: OPS,
        seq,
        by: id(by),
        change,
        time: Timestamp(1_700_000_000_000),
    })
}

fn people3() -> Chat {
    chat_with(vec![contact(2, "Bob"), contact(3, "Carol")])
}

/// The list shows each group once by name, sorted as contacts are (by name, case
/// ignored), with its unread count; opening it clears the count.
#[test]
fn groups_are_a_section_of_the_list_with_unread_counts() {
    let mut settings = Settings::default();
    let mut chat = people3();
    chat.session_event(
        Event::Groups(vec![
            group(GroupId(2), "zeta", &[(1, Role::Creator)], 1),
            group(OPS, "Ops", &[(1, Role::Member), (2, Role::Creator)], 1),
        ]),
        &settings,
    );
    let listed: Vec<&str> = chat
        .groups()
        .listed("")
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(listed, ["Ops", "zeta"]);
    assert!(shows(&chat, &settings, "Ops"));
    assert!(shows(&chat, &settings, "New group"));
    chat.session_event(said(2, 2, "standup in 5"), &settings);
    chat.session_event(said(2, 3, "room 4"), &settings);
    assert_eq!(chat.conversations.unread(&Target::Group(OPS)), 2);
    assert!(shows(&chat, &settings, "2"), "the unread count is drawn");
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Ops");
    });
    assert_eq!(chat.conversations.selected, Target::Group(OPS));
    assert_eq!(chat.conversations.unread(&Target::Group(OPS)), 0);
    // Marked read up to the newest position, here as for the others.
    assert_eq!(
        chat.groups()
            .get(&OPS)
            .unwrap()
            .member(&id(1))
            .unwrap()
            .read,
        3
    );
    // The group we are removed from leaves the list; its conversation stays.
    chat.session_event(Event::GroupGone(OPS), &settings);
    assert!(chat.groups().get(&OPS).is_none());
    assert_eq!(chat.groups().label(&OPS), "Ops");
    assert!(chat.conversations.threads.contains_key(&Target::Group(OPS)));
}

/// New group: a name, contacts ticked, Create asks the hub for that group with them.
#[test]
fn the_new_group_form_asks_for_the_name_and_the_members_ticked() {
    let mut settings = Settings::default();
    let mut chat = people3();
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("New group");
    });
    assert!(chat.group_form().is_some(), "New group opens the form");
    // Drive the form on its own, to see what it asks the window for.
    let mut f = chat.group_form().unwrap().clone();
    let messages: Vec<form::Message> = {
        let mut ui = iced_test::simulator(f.view(&chat.people));
        let _ = ui.click(iced::widget::Id::new("group-name"));
        ui.typewrite(" #ops ");
        let _ = ui.click("Carol");
        let _ = ui.click("Create");
        ui.into_messages().collect()
    };
    let actions: Vec<form::Action> = messages.into_iter().map(|m| f.update(m)).collect();
    assert_eq!(
        actions.last(),
        Some(&form::Action::Create {
            name: "ops".into(),
            members: vec![id(3)],
        })
    );
    assert!(f.waiting);
    // A name the hub would refuse is refused here, in words.
    let mut bad = form::Form::default();
    let _ = bad.update(form::Message::Name("  ".into()));
    assert_eq!(bad.update(form::Message::Create), form::Action::None);
    assert_eq!(
        bad.error.as_deref(),
        Some("That name cannot be used: the name is empty.")
    );
}

/// The hub's refusal of a creation shows in the form as a sentence (also when the
/// answer overtakes the tag); its acceptance opens the new group.
#[test]
fn a_refused_creation_shows_its_sentence_and_an_accepted_one_opens_the_group() {
    let mut settings = Settings::default();
    let mut chat = people3();
    let waiting = || form::Form {
        name: "ops".into(),
        waiting: true,
        ..form::Form::default()
    };
    chat.groups.form = Some(waiting());
    chat.update(
        Message::Groups(GroupsMessage::Asked {
            tag: 7,
            what: super::Asked::Create(Vec::new()),
        }),
        &mut settings,
    );
    chat.session_event(
        Event::GroupAnswer {
            tag: 7,
            outcome: GroupOutcome::Refused(GroupRefusal::TooManyCreated),
        },
        &settings,
    );
    let sentence = "Could not create the group: you created as many groups as the hub allows.";
    assert_eq!(chat.group_form().unwrap().error.as_deref(), Some(sentence));
    assert!(
        !chat.group_form().unwrap().waiting,
        "the user may try again"
    );
    assert!(shows(&chat, &settings, sentence));
    // The answer first, the tag after.
    chat.groups.form = Some(waiting());
    chat.session_event(
        Event::GroupAnswer {
            tag: 8,
            outcome: GroupOutcome::Done(OPS),
        },
        &settings,
    );
    chat.session_event(Event::Group(ops(Role::Creator)), &settings);
    chat.update(
        Message::Groups(GroupsMessage::Asked {
            tag: 8,
            what: super::Asked::Create(Vec::new()),
        }),
        &mut settings,
    );
    assert!(chat.group_form().is_none());
    assert_eq!(chat.conversations.selected, Target::Group(OPS));
}

/// The hub skips someone already in as many groups as it allows (not the whole
/// creation): the group opens with the others, and a notice names who was not added.
#[test]
fn someone_the_hub_skipped_is_named_after_a_creation() {
    let mut settings = Settings::default();
    let mut chat = people3();
    chat.groups.form = Some(form::Form {
        name: "ops".into(),
        waiting: true,
        ..form::Form::default()
    });
    chat.update(
        Message::Groups(GroupsMessage::Asked {
            tag: 9,
            what: super::Asked::Create(vec![id(2), id(3)]),
        }),
        &mut settings,
    );
    // Carol was skipped: the group as the hub made it, then its answer.
    let made = group(OPS, "ops", &[(1, Role::Creator), (2, Role::Member)], 2);
    chat.session_event(Event::Group(made), &settings);
    chat.session_event(
        Event::GroupAnswer {
            tag: 9,
            outcome: GroupOutcome::Done(OPS),
        },
        &settings,
    );
    assert_eq!(chat.conversations.selected, Target::Group(OPS));
    let notice = "Not added: Carol (in as many groups as the hub allows; they can leave one).";
    assert!(shows(&chat, &settings, notice));
}

/// The member page lists names and roles; Remove shows to the creator and admins only,
/// never beside the creator or ourselves; Make admin to the creator only; Leave asks
/// first.
#[test]
fn remove_is_shown_to_admins_only_and_leave_is_confirmed() {
    let mut settings = Settings::default();
    for (role, removable, promotable) in [
        (Role::Member, 0, 0),
        (Role::Admin, 1, 0),
        (Role::Creator, 2, 2),
    ] {
        let mut chat = people3();
        chat.session_event(Event::Groups(vec![ops(role)]), &settings);
        chat.update(super::super::select(Target::Group(OPS)), &mut settings);
        chat.update(Message::Groups(GroupsMessage::ShowMembers), &mut settings);
        let (page, g) = chat.open_group_page().expect("the page is open");
        let mut ui = iced_test::simulator(page.view(g, &chat.people));
        assert!(ui.find("Bob").is_ok() && ui.find("Carol").is_ok());
        assert!(ui.find("creator").is_ok(), "roles are shown");
        let (mut removes, mut promotes) = (0, 0);
        let _ = ui.find(|c: iced_test::selector::Candidate<'_>| {
            if let iced_test::selector::Candidate::Text { content, .. } = c {
                removes += usize::from(content == "Remove");
                promotes += usize::from(content == "Make admin");
            }
            None::<()>
        });
        assert_eq!(removes, removable, "Remove buttons for a {role:?}");
        assert_eq!(promotes, promotable, "Make admin buttons for a {role:?}");
        let mut p = page.clone();
        assert_eq!(p.update(members::Message::Leave), members::Action::None);
        assert!(p.confirm_leave, "Leave asks first");
        assert_eq!(
            p.update(members::Message::ConfirmLeave),
            members::Action::Leave
        );
    }
}

/// Membership changes are lines among the messages in the group's order, even when
/// a message is shown late (the history is asked first).
#[test]
fn membership_lines_sit_in_the_hubs_order() {
    let settings = Settings::default();
    let mut chat = people3();
    chat.session_event(Event::Groups(vec![ops(Role::Member)]), &settings);
    chat.session_event(change(2, 2, GroupChange::Added(id(3))), &settings);
    chat.session_event(said(2, 3, "welcome Carol"), &settings);
    chat.session_event(change(3, 4, GroupChange::Left), &settings);
    // A message shown late (its history answer came after the next line).
    let late = chat
        .conversations
        .thread(Target::Group(OPS))
        .items
        .remove(1);
    assert!(matches!(late, Item::Message(_)));
    chat.session_event(said(2, 3, "welcome Carol"), &settings);
    // The same line again (a page handed over twice) shows once.
    chat.session_event(change(3, 4, GroupChange::Left), &settings);
    let order: Vec<String> = chat.conversations.threads[&Target::Group(OPS)]
        .items
        .iter()
        .map(|i| match i {
            Item::Message(b) => b.text.clone(),
            Item::Line(e) => super::sentence(e, &chat.people, "ops"),
            _ => String::new(),
        })
        .collect();
    assert_eq!(
        order,
        ["Bob added Carol to ops", "welcome Carol", "Carol left ops"]
    );
    chat.update(
        super::super::select(Target::Group(OPS)),
        &mut Settings::default(),
    );
    assert!(shows(&chat, &settings, "Bob added Carol to ops"));
    assert!(
        shows(&chat, &settings, "Bob"),
        "the writer's name is above the bubble"
    );
}

/// "read by N of M" under our newest message counts the others whose read mark reached
/// it (its position, as the hub placed it), and lists them.
#[test]
fn read_by_counts_the_others_who_read_our_newest_message() {
    let mut settings = Settings::default();
    let mut chat = people3();
    chat.session_event(Event::Groups(vec![ops(Role::Member)]), &settings);
    chat.update(super::super::select(Target::Group(OPS)), &mut settings);
    // Ours went out (position 2 when the hub took it); Bob wrote after it (3).
    let ours = MsgId(42);
    let me = chat.me();
    chat.conversations
        .thread(Target::Group(OPS))
        .items
        .push(Item::Message(Bubble {
            id: ours,
            from: me,
            text: "who has the key?".into(),
            time: Timestamp(0),
            state: BubbleState::Delivered,
        }));
    chat.session_event(
        Event::Placed {
            group: OPS,
            id: ours,
            seq: 2,
        },
        &settings,
    );
    chat.session_event(said(2, 3, "not me"), &settings);
    assert_eq!(
        chat.groups().read_by(&OPS, ours, &chat.me()),
        Some((vec![], 2))
    );
    assert!(shows(&chat, &settings, "read by 0 of 2"));
    // Carol read up to ours; Bob only before it.
    for (by, upto) in [(3, 2), (2, 1)] {
        chat.session_event(
            Event::GroupRead {
                group: OPS,
                by: id(by),
                upto,
            },
            &settings,
        );
    }
    assert!(shows(&chat, &settings, "read by 1 of 2"));
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("read by 1 of 2");
    });
    assert!(shows(&chat, &settings, "Read by Carol."));
}

/// A member who joined after our message was placed did not get it: it counts neither
/// as a reader nor among the others ("read by N of M").
#[test]
fn read_by_leaves_out_members_who_joined_after_the_message() {
    let mut groups = super::Groups::default();
    let me = id(1);
    let mut g = group(OPS, "ops", &[(1, Role::Creator), (2, Role::Member)], 4);
    groups.apply(me, &Event::Groups(vec![g.clone()]));
    let ours = MsgId(42);
    groups.apply(
        me,
        &Event::Placed {
            group: OPS,
            id: ours,
            seq: 5,
        },
    );
    g.members.push(GroupMember {
        id: id(3),
        role: Role::Member,
        joined: 8,
        read: 8,
    });
    g.last = 8;
    groups.apply(me, &Event::Group(g));
    assert_eq!(groups.read_by(&OPS, ours, &me), Some((vec![], 1)));
}

/// A notification for a group's message leads with the group, `#ops`: a contact's name
/// cannot start with `#`, so no direct message can pass for one from a group.
#[test]
fn a_group_notification_names_the_group_first() {
    let settings = Settings::default();
    let mut chat = people3();
    chat.session_event(Event::Groups(vec![ops(Role::Member)]), &settings);
    let _ = chat.focus(false);
    let action = chat.session_event(said(2, 2, "deploy?"), &settings);
    assert!(
        matches!(
            &action,
            super::super::Action::Notify { title, body } if title == "#ops · Bob" && body == "deploy?"
        ),
        "{action:?}"
    );
}

/// Two groups whose names look the same ("ops", and "оps" with a Cyrillic о) are told
/// apart wherever the app names them: their labels differ.
#[test]
fn groups_named_alike_are_labelled_apart() {
    let mut groups = super::Groups::default();
    let alike = [
        group(GroupId(12), "ops", &[(1, Role::Member)], 1),
        group(GroupId(13), "\u{43e}ps", &[(1, Role::Member)], 1),
        group(GroupId(14), "dev", &[(1, Role::Member)], 1),
    ];
    groups.apply(id(1), &Event::Groups(alike.to_vec()));
    let (a, b) = (groups.label(&GroupId(12)), groups.label(&GroupId(13)));
    assert_ne!(a, b);
    assert!(a.contains("12") && b.contains("13"), "{a} / {b}");
    assert_eq!(groups.label(&GroupId(14)), "dev");
}

/// The group's conversation with the member page open, and New group, fit the window
/// at every size: composer, Send, the page's buttons and Create can be seen.
#[test]
fn the_group_views_fit_at_every_size() -> Result<(), String> {
    let mut settings = Settings::default();
    let mut chat = people3();
    chat.session_event(Event::Groups(vec![ops(Role::Creator)]), &settings);
    chat.update(super::super::select(Target::Group(OPS)), &mut settings);
    chat.session_event(said(2, 2, "hello"), &settings);
    chat.update(Message::Groups(GroupsMessage::ShowMembers), &mut settings);
    assert!(chat.group_page().is_some());
    for size in SIZES {
        let mut ui = window(size, chat.view(&settings));
        for label in [
            "Add people",
            "Leave group",
            "Remove",
            "Make admin",
            "Close",
            "New group",
        ] {
            seen(&mut ui, label, size)?;
        }
        if size.width >= super::super::view::THREE_PANES_WIDTH {
            seen(&mut ui, "Send", size)?;
            seen(&mut ui, "Members", size)?;
        }
    }
    chat.update(Message::Groups(GroupsMessage::ShowMembers), &mut settings);
    chat.open_group_form();
    for size in SIZES {
        let mut ui = window(size, chat.view(&settings));
        for label in ["Create", "Cancel", "Bob", "Carol"] {
            seen(&mut ui, label, size)?;
        }
    }
    Ok(())
}

/// In a group, everyone typing is named; one who writes stops being listed.
#[test]
fn typing_in_a_group_names_who_types() {
    let mut settings = Settings::default();
    let mut chat = people3();
    chat.session_event(Event::Groups(vec![ops(Role::Member)]), &settings);
    chat.update(super::super::select(Target::Group(OPS)), &mut settings);
    for from in [2, 3] {
        chat.session_event(
            Event::Typing {
                from: id(from),
                to: Target::Group(OPS),
            },
            &settings,
        );
    }
    assert!(shows(&chat, &settings, "Bob and Carol are typing…"));
    chat.session_event(said(2, 2, "done"), &settings);
    assert!(shows(&chat, &settings, "Carol is typing…"));
}

/// "Send to several": the contacts' rows pick instead of opening, the bar counts them,
/// and files chosen or dropped then go to the people picked (here: no hub, so said).
#[test]
fn contacts_are_picked_to_send_files_to_several() {
    let mut settings = Settings::default();
    let mut chat = people3();
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Send to several");
    });
    interact(&mut chat, &mut settings, |ui| {
        let _ = ui.click("Bob");
        let _ = ui.click("Carol");
    });
    assert_eq!(
        chat.conversations.selected,
        Target::Everyone,
        "nothing opened"
    );
    assert_eq!(
        chat.people.picked.as_ref().map(|p| p.len()),
        Some(2),
        "both picked"
    );
    assert!(shows(&chat, &settings, "2 picked"));
    assert!(shows(&chat, &settings, "Stop picking"));
    chat.update(
        Message::Files(vec![std::path::PathBuf::from("/tmp/handout.pdf")]),
        &mut settings,
    );
    assert_eq!(chat.notice(), Some("Not connected to the hub."));
    assert!(chat.people.picked.is_none(), "the picking is over");
    assert!(shows(&chat, &settings, "Send to several"));
}

/// Picking, and a send to a class of thirty, leave the composer, Send and the picking
/// bar in the window at every size (the send's card scrolls within a bounded height).
#[test]
fn picking_and_a_send_to_thirty_fit_at_every_size() -> Result<(), String> {
    let mut settings = Settings::default();
    let class: Vec<_> = (10..40)
        .map(|n| contact(n, &format!("Pupil {n}")))
        .collect();
    let mut chat = chat_with(class);
    let to: Vec<ClientId> = (10..40).map(id).collect();
    chat.groups
        .sends
        .show(to, vec![std::path::PathBuf::from("/tmp/handout.pdf")]);
    chat.update(
        Message::Contacts(super::super::contacts::Message::StartPicking),
        &mut settings,
    );
    for size in SIZES {
        let mut ui = window(size, chat.view(&settings));
        for label in [
            "Send",
            "Send files…",
            "Stop picking",
            "handout.pdf to 30 people",
        ] {
            seen(&mut ui, label, size)?;
        }
    }
    Ok(())
}
