//! A hostile hub (issue 24): the real hub machine, with a hand on what it sends one
//! client (`Sim::tamper`, `Sim::inject`). Each attack a modified hub could make is
//! either detected or harmless, and each test asserts what the user is shown: the
//! session's events, which the CLI and the app print as they are.
use std::cell::RefCell;
use std::rc::Rc;

use super::*;
use crate::identity::Identity;
use crate::proto::{GroupId, GroupOutcome, KeyBundle, SealedMessage};
use crate::seal::{KeyPolicy, Keyring, Problem};
use crate::session::GroupRequest;

/// Logs in each of `names` with a real identity and keys; their indexes and ids.
fn people(sim: &mut Sim, names: &[&str]) -> Vec<(usize, ClientId)> {
    names
        .iter()
        .map(|name| {
            let identity = Identity::generate().unwrap();
            (sim.login_sealed(&identity, name), identity.id())
        })
        .collect()
}

fn texts(sim: &Sim, i: usize) -> Vec<String> {
    messages(sim, i).into_iter().map(|m| m.text).collect()
}

fn unreadable(sim: &Sim, i: usize) -> Vec<(MsgId, Problem)> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::Unreadable { id, problem, .. } => Some((*id, *problem)),
            _ => None,
        })
        .collect()
}

/// The `Missing` events client `i` was given: (sender, room, how many).
fn missing(sim: &Sim, i: usize) -> Vec<(ClientId, Target, u32)> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::Missing { from, to, count } => Some((*from, *to, *count)),
            _ => None,
        })
        .collect()
}

/// The sealed messages the hub handed client `i` (live and in pages).
fn carried(sim: &Sim, i: usize) -> Vec<SealedMessage> {
    sim.clients[i]
        .frames
        .iter()
        .flat_map(|f| match f {
            ServerFrame::Message(m) => vec![m.clone()],
            ServerFrame::MailboxPage(page) => page.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn create(sim: &mut Sim, i: usize, members: &[ClientId]) -> GroupId {
    let now = sim.now;
    let request = GroupRequest::Create {
        name: "ops".into(),
        members: members.to_vec(),
    };
    sim.clients[i]
        .session
        .change_group(1, request, now)
        .unwrap();
    sim.run();
    let outcome = sim.events(i).iter().find_map(|e| match e {
        SEvent::GroupAnswer { tag: 1, outcome } => Some(*outcome),
        _ => None,
    });
    let Some(GroupOutcome::Done(g)) = outcome else {
        unreachable!("not created: {outcome:?}");
    };
    g
}

/// A bundle made by a device other than the one it is handed out for.
fn someone_elses_bundle() -> KeyBundle {
    let other = Identity::generate().unwrap();
    let now = Timestamp::now();
    Keyring::in_memory(&other, KeyPolicy::default(), now)
        .unwrap()
        .bundle(now)
        .unwrap()
}

/// The double itself: a frame it holds back never reaches the client's session, and
/// the same frame handed over later does, as if the hub had sent it.
#[test]
fn the_double_holds_back_and_hands_over_frames() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let held: Rc<RefCell<Vec<ServerFrame>>> = Rc::default();
    let keep = held.clone();
    sim.tamper(b, move |f| match f {
        ServerFrame::Message(_) => {
            keep.borrow_mut().push(f);
            Vec::new()
        }
        other => vec![other],
    });
    send(&mut sim, a, 1, Target::Client(id(2)), "held back");
    assert!(
        messages(&sim, b).is_empty(),
        "a held-back frame reached bob"
    );
    assert_eq!(held.borrow().len(), 1);
    sim.honest(b);
    let frame = held.borrow()[0].clone();
    sim.inject(b, &frame);
    assert_eq!(texts(&sim, b), ["held back"]);
}

/// What a hostile hub makes of the bundles it hands out.
type Forge = dyn Fn(Vec<KeyBundle>) -> Vec<KeyBundle>;

/// Alice sends bob a message while the hub answers her request for bob's keys with
/// `forge(bob's real bundles)`; what alice is told, and what bob got.
fn send_through_forged_keys(
    forge: impl Fn(Vec<KeyBundle>) -> Vec<KeyBundle> + 'static,
) -> (Vec<(MsgId, Delivery)>, Vec<String>, usize) {
    let mut sim = Sim::new(PW);
    let [(a, _)] = people(&mut sim, &["alice"])[..] else {
        unreachable!()
    };
    // Before bob exists: every Keys answer alice ever gets about him is forged.
    sim.tamper(a, move |f| match f {
        ServerFrame::Keys { id, bundles } => vec![ServerFrame::Keys {
            id,
            bundles: forge(bundles),
        }],
        other => vec![other],
    });
    let [(b, bob)] = people(&mut sim, &["bob"])[..] else {
        unreachable!()
    };
    sim.clear();
    send(&mut sim, a, 1, Target::Client(bob), "for bob only");
    (receipts(&sim, a), texts(&sim, b), carried(&sim, b).len())
}

/// (a) The hub swaps bob's encryption key: another device's bundle, bob's bundle with
/// its sealing key replaced, or bob's certificate with another device's keys and
/// signature. Nothing is sealed to it (bob's device is handed nothing) and alice's
/// message fails with the reason her Courier shows ("the hub handed out a key bob's
/// device did not sign").
#[test]
fn a_swapped_key_gets_nothing_sealed_and_the_sender_sees_why() {
    let swaps: [(&str, Box<Forge>); 3] = [
        (
            "another device's bundle",
            Box::new(|_| vec![someone_elses_bundle()]),
        ),
        (
            "bob's bundle, sealing key replaced",
            Box::new(|bundles| {
                bundles
                    .into_iter()
                    .map(|mut b| {
                        b.sealing = someone_elses_bundle().sealing;
                        b
                    })
                    .collect()
            }),
        ),
        (
            "bob's certificate, another device's keys and signature",
            Box::new(|bundles| {
                bundles
                    .into_iter()
                    .map(|b| KeyBundle {
                        cert: b.cert,
                        ..someone_elses_bundle()
                    })
                    .collect()
            }),
        ),
    ];
    for (what, forge) in swaps {
        let (receipts, read, handed) = send_through_forged_keys(forge);
        assert_eq!(
            receipts,
            [(MsgId(1), Delivery::Rejected(RejectReason::UnsignedKeys))],
            "{what}"
        );
        assert!(
            read.is_empty() && handed == 0,
            "{what}: bob was handed something"
        );
    }
}

/// (a, harmless) A forged bundle handed out beside bob's real one is ignored: the
/// message is sealed to bob's own key, and he reads it.
#[test]
fn a_forged_key_beside_the_real_one_is_ignored() {
    let (receipts, read, _) = send_through_forged_keys(|mut bundles| {
        bundles.insert(0, someone_elses_bundle());
        bundles
    });
    assert_eq!(receipts, [(MsgId(1), Delivery::Delivered)]);
    assert_eq!(read, ["for bob only"]);
}

/// (b) The hub replays an envelope bob already read: under a new id it is flagged as
/// unreadable (the envelope binds its id), never shown as a new message; under its own
/// id, a group message is flagged as a replay, and a direct one comes back only as the
/// message bob already has (same sender and id, which Courier shows once).
#[test]
fn a_replayed_envelope_is_flagged_or_the_same_message_never_a_new_one() {
    let mut sim = Sim::new(PW);
    let [(a, _), (b, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    let g = create(&mut sim, a, &[bob]);
    sim.clear();
    send(&mut sim, a, 1, Target::Client(bob), "direct once");
    send(&mut sim, a, 2, Target::Group(g), "group once");
    assert_eq!(texts(&sim, b), ["direct once", "group once"]);
    let old = carried(&sim, b);
    let direct = old.iter().find(|m| m.id == MsgId(1)).unwrap().clone();
    let group = old.iter().find(|m| m.id == MsgId(2)).unwrap().clone();

    for (m, new_id) in [(&direct, 101), (&group, 102)] {
        let mut replay = m.clone();
        replay.id = MsgId(new_id);
        sim.inject(b, &ServerFrame::Message(replay));
    }
    sim.inject(b, &ServerFrame::Message(group.clone()));
    sim.inject(b, &ServerFrame::Message(direct.clone()));

    assert_eq!(
        unreadable(&sim, b),
        [
            (MsgId(101), Problem::Tampered),
            // The sender's signature covers the message id.
            (MsgId(102), Problem::BadSignature),
            (MsgId(2), Problem::Replayed)
        ]
    );
    let shown = messages(&sim, b);
    assert!(
        shown
            .iter()
            .all(|m| (m.id == MsgId(1) && m.text == "direct once")
                || (m.id == MsgId(2) && m.text == "group once")),
        "a replay showed as something new: {shown:?}"
    );
    assert_eq!(
        shown.iter().filter(|m| m.id == MsgId(2)).count(),
        1,
        "the group message showed twice"
    );
    // A direct envelope carries no replay mark: under its own id it opens again, as the
    // very same message (sender, id, time), which the session driver's recent list and
    // the history show once.
    let first = shown.iter().find(|m| m.id == MsgId(1)).unwrap();
    assert!(
        shown
            .iter()
            .filter(|m| m.id == MsgId(1))
            .all(|m| m == first)
    );
}

/// Alice writes `n` messages to a group with bob while the hub holds every one of bob's
/// copies back; returns the simulator, bob's index, alice's id, the group and the
/// held copies in the hub's order.
fn held_group_messages(n: u64) -> (Sim, usize, ClientId, GroupId, Vec<SealedMessage>) {
    let mut sim = Sim::new(PW);
    let [(a, alice), (b, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    let g = create(&mut sim, a, &[bob]);
    let held: Rc<RefCell<Vec<SealedMessage>>> = Rc::default();
    let keep = held.clone();
    sim.tamper(b, move |f| match f {
        ServerFrame::Message(m) if m.to == Target::Group(g) => {
            keep.borrow_mut().push(m);
            Vec::new()
        }
        other => vec![other],
    });
    sim.clear();
    for k in 1..=n {
        send(&mut sim, a, k, Target::Group(g), &format!("m{k}"));
    }
    assert!(texts(&sim, b).is_empty(), "bob got a held-back message");
    let held = held.borrow().clone();
    assert_eq!(held.len() as u64, n);
    sim.honest(b);
    (sim, b, alice, g, held)
}

/// (c) The hub truncates a group's messages (hands bob 1, 2 and 5 of alice's 5): bob is
/// told 2 of alice's messages to the group never reached him, and reads the others.
#[test]
fn a_truncated_group_log_is_surfaced_as_missing_messages() {
    let (mut sim, b, alice, g, held) = held_group_messages(5);
    for k in [0, 1, 4] {
        sim.inject(b, &ServerFrame::Message(held[k].clone()));
    }
    assert_eq!(texts(&sim, b), ["m1", "m2", "m5"]);
    assert_eq!(missing(&sim, b), [(alice, Target::Group(g), 2)]);
    // The missing event comes before the message after the gap.
    let at = |pred: &dyn Fn(&SEvent) -> bool| sim.events(b).iter().position(pred).unwrap();
    let gap = at(&|e| matches!(e, SEvent::Missing { .. }));
    let m5 = at(&|e| matches!(e, SEvent::Message(m) if m.text == "m5"));
    assert!(gap < m5);
}

/// (c) The hub reorders a group's messages (3 before 1 and 2): bob is told, at 3, that
/// two earlier messages had not reached him; when they come they show as what they are,
/// each once, and nothing is flagged that was not wrong.
#[test]
fn a_reordered_group_log_is_surfaced_and_each_message_shows_once() {
    let (mut sim, b, alice, g, held) = held_group_messages(3);
    for k in [2, 0, 1] {
        sim.inject(b, &ServerFrame::Message(held[k].clone()));
    }
    assert_eq!(missing(&sim, b), [(alice, Target::Group(g), 2)]);
    let mut read = texts(&sim, b);
    assert_eq!(read[0], "m3", "the first one shown is the one handed first");
    read.sort();
    assert_eq!(read, ["m1", "m2", "m3"]);
    assert!(unreadable(&sim, b).is_empty());
}

/// (d) The hub keeps delivering to carol after she was removed from the group: what is
/// written after her removal (and the key share sealed to bob for it) reaches her client,
/// which shows "could not be opened", never the text.
#[test]
fn a_removed_member_handed_later_messages_cannot_open_them() {
    let mut sim = Sim::new(PW);
    let p = people(&mut sim, &["alice", "bob", "carol"]);
    let [(a, _), (b, bob), (c, carol)] = p[..] else {
        unreachable!()
    };
    let g = create(&mut sim, a, &[bob, carol]);
    send(&mut sim, a, 1, Target::Group(g), "before");
    assert_eq!(texts(&sim, c), ["before"]);
    let now = sim.now;
    sim.clients[a]
        .session
        .change_group(
            2,
            GroupRequest::Remove {
                group: g,
                member: carol,
            },
            now,
        )
        .unwrap();
    sim.run();
    sim.clear();
    send(&mut sim, a, 2, Target::Group(g), "after carol left");
    assert_eq!(texts(&sim, b), ["after carol left"]);
    // Everything bob was handed since (the new session's share, sealed to him, and the
    // message) is handed to carol too.
    for m in carried(&sim, b) {
        sim.inject(c, &ServerFrame::Message(m));
    }
    // Held for a key that never comes, then shown as unreadable.
    let later = sim.now + Duration::from_secs(25);
    sim.clients[c].session.handle_timeout(later).unwrap();
    sim.run();
    assert!(texts(&sim, c).is_empty(), "carol read {:?}", texts(&sim, c));
    let flagged = unreadable(&sim, c);
    assert!(
        flagged.contains(&(MsgId(2), Problem::NoRoomKey)),
        "carol's client did not show the message as unreadable: {flagged:?}"
    );
}
