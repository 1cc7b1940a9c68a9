//! The session seals and opens, on the simulator with real identities and in-memory
//! keyrings: what the hub carries holds no text or file name, and the recipients read
//! everything they should and nothing they should not.

use super::*;
use crate::identity::Identity;
use crate::proto::{
    Delivery, FileEntry, GroupId, GroupOutcome, Manifest, Message, RejectReason, SealedMessage,
};
use crate::seal::Problem;
use crate::testing::Sim;

const PW: &str = "correct horse";

fn people(sim: &mut Sim, names: &[&str]) -> Vec<(usize, ClientId)> {
    names
        .iter()
        .map(|name| {
            let identity = Identity::generate().unwrap();
            let i = sim.login_sealed(&identity, name);
            (i, identity.id())
        })
        .collect()
}

fn send(sim: &mut Sim, i: usize, id: u64, to: Target, text: &str) {
    let now = sim.now;
    sim.clients[i]
        .session
        .send_message(MsgId(id), to, text.into(), now)
        .unwrap();
    sim.run();
}

fn texts(sim: &Sim, i: usize) -> Vec<String> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            Event::Message(Message { text, .. }) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn receipts(sim: &Sim, i: usize) -> Vec<(MsgId, Delivery)> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            Event::Receipt { id, status } => Some((*id, status.clone())),
            _ => None,
        })
        .collect()
}

fn unreadable(sim: &Sim, i: usize) -> Vec<(MsgId, Problem)> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            Event::Unreadable { id, problem, .. } => Some((*id, *problem)),
            _ => None,
        })
        .collect()
}

/// The sealed messages the hub handed client `i`.
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn create(sim: &mut Sim, i: usize, name: &str, members: &[ClientId]) -> GroupId {
    let now = sim.now;
    let request = GroupRequest::Create {
        name: name.into(),
        members: members.to_vec(),
    };
    sim.clients[i]
        .session
        .change_group(77, request, now)
        .unwrap();
    sim.run();
    let outcome = sim.events(i).iter().find_map(|e| match e {
        Event::GroupAnswer { tag: 77, outcome } => Some(*outcome),
        _ => None,
    });
    let Some(GroupOutcome::Done(g)) = outcome else {
        unreachable!("not created: {outcome:?}");
    };
    g
}

fn change(sim: &mut Sim, i: usize, request: GroupRequest) {
    let now = sim.now;
    sim.clients[i]
        .session
        .change_group(78, request, now)
        .unwrap();
    sim.run();
}

/// A direct message reaches the hub sealed (its text is in no frame) and opens on the
/// recipient's side; the sender's receipt is the hub's as before.
#[test]
fn a_direct_message_is_sealed_on_the_wire_and_opened_by_its_recipient() {
    let mut sim = Sim::new(PW);
    let [(a, _), (b, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    sim.clear();
    send(&mut sim, a, 1, Target::Client(bob), "canary-direct");
    assert_eq!(texts(&sim, b), ["canary-direct"]);
    assert_eq!(receipts(&sim, a), [(MsgId(1), Delivery::Delivered)]);
    let wire = carried(&sim, b);
    assert_eq!(wire.len(), 1);
    assert!(!contains(wire[0].sealed.as_bytes(), b"canary-direct"));
}

/// A message for a contact who is offline is stored sealed and opens at their login.
#[test]
fn a_message_stored_for_an_offline_contact_opens_at_their_login() {
    let mut sim = Sim::new(PW);
    let alice = Identity::generate().unwrap();
    let bob = Identity::generate().unwrap();
    let a = sim.login_sealed(&alice, "alice");
    let b = sim.login_sealed(&bob, "bob");
    sim.disconnect(b);
    sim.clear();
    send(
        &mut sim,
        a,
        5,
        Target::Client(bob.id()),
        "while you were out",
    );
    assert_eq!(receipts(&sim, a), [(MsgId(5), Delivery::Stored)]);
    let b2 = sim.relogin_sealed(b, "bob");
    assert_eq!(texts(&sim, b2), ["while you were out"]);
}

/// A contact that never published keys cannot be written to: the session says so in
/// the message's receipt, and nothing goes out.
#[test]
fn a_contact_without_keys_gets_nothing_and_the_sender_hears_why() {
    let mut sim = Sim::new(PW);
    let [(a, _)] = people(&mut sim, &["alice"])[..] else {
        unreachable!()
    };
    // An old client: no keyring, so it published nothing.
    let b = sim.login(2, "bob");
    sim.clear();
    send(&mut sim, a, 3, Target::Client(ClientId([2; 32])), "hello");
    assert_eq!(
        receipts(&sim, a),
        [(MsgId(3), Delivery::Rejected(RejectReason::NoKeys))]
    );
    assert!(carried(&sim, b).is_empty());
}

/// Keys the hub hands out that bob's device did not sign are never sealed to: the
/// message fails with that reason.
#[test]
fn a_key_the_contacts_device_did_not_sign_is_refused() {
    let mut sim = Sim::new(PW);
    let [(a, _), (_, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    // The hub's answer, forged: a bundle of another device, handed out as bob's.
    let other = Identity::generate().unwrap();
    let mut ring = crate::seal::Keyring::in_memory(
        &other,
        crate::seal::KeyPolicy::default(),
        crate::proto::Timestamp::now(),
    )
    .unwrap();
    let forged = ring.bundle(crate::proto::Timestamp::now()).unwrap();
    sim.clear();
    let now = sim.now;
    let session = &mut sim.clients[a].session;
    session
        .send_message(MsgId(9), Target::Client(bob), "secret".into(), now)
        .unwrap();
    session
        .handle_frame(
            ServerFrame::Keys {
                id: bob,
                bundles: vec![forged],
            },
            now,
        )
        .unwrap();
    sim.run();
    assert_eq!(
        receipts(&sim, a),
        [(MsgId(9), Delivery::Rejected(RejectReason::UnsignedKeys))]
    );
}

/// A group message opens for every member; a member added later cannot read what was
/// written before they joined, and reads what comes after; a removed member cannot read
/// what is written after, even if a hostile hub hands it to them.
#[test]
fn group_members_read_it_a_later_member_reads_on_and_a_removed_one_cannot() {
    let mut sim = Sim::new(PW);
    let p = people(&mut sim, &["alice", "bob", "carol", "dave"]);
    let [(a, _), (b, bob), (c, carol), (d, dave)] = p[..] else {
        unreachable!()
    };
    let g = create(&mut sim, a, "ops", &[bob, carol]);
    sim.clear();
    send(&mut sim, a, 1, Target::Group(g), "canary-group before");
    assert_eq!(texts(&sim, b), ["canary-group before"]);
    assert_eq!(texts(&sim, c), ["canary-group before"]);
    assert!(
        carried(&sim, b)
            .iter()
            .all(|m| !contains(m.sealed.as_bytes(), b"canary-group"))
    );
    // The hub never learns the earlier message's key for dave: he cannot open it.
    let before = carried(&sim, b)
        .into_iter()
        .find(|m| m.id == MsgId(1))
        .unwrap();
    change(
        &mut sim,
        a,
        GroupRequest::Add {
            group: g,
            members: vec![dave],
        },
    );
    change(
        &mut sim,
        a,
        GroupRequest::Remove {
            group: g,
            member: carol,
        },
    );
    sim.clear();
    send(&mut sim, a, 2, Target::Group(g), "after");
    assert_eq!(texts(&sim, b), ["after"]);
    assert_eq!(texts(&sim, d), ["after"]);
    assert!(texts(&sim, c).is_empty());
    // A hostile hub hands carol the message after her removal, and dave the one
    // before his joining: neither opens (held for a key that never comes, then shown).
    let after = carried(&sim, b)
        .into_iter()
        .find(|m| m.id == MsgId(2))
        .unwrap();
    let now = sim.now;
    sim.clients[c]
        .session
        .handle_frame(ServerFrame::Message(after), now)
        .unwrap();
    sim.clients[d]
        .session
        .handle_frame(ServerFrame::Message(before), now)
        .unwrap();
    sim.run();
    let later = now + unopened::UNOPENED_WITHIN;
    for i in [c, d] {
        sim.clients[i].session.handle_timeout(later).unwrap();
    }
    sim.run();
    assert_eq!(unreadable(&sim, c), [(MsgId(2), Problem::NoRoomKey)]);
    assert_eq!(unreadable(&sim, d), [(MsgId(1), Problem::NoRoomKey)]);
    assert!(texts(&sim, c).is_empty() && texts(&sim, d) == ["after"]);
}

/// A message to everyone opens for everyone online; its key shares never show as
/// messages or receipts.
#[test]
fn a_message_to_everyone_opens_for_everyone_and_its_shares_stay_internal() {
    let mut sim = Sim::new(PW);
    let p = people(&mut sim, &["alice", "bob", "carol"]);
    let [(a, _), (b, _), (c, _)] = p[..] else {
        unreachable!()
    };
    sim.clear();
    send(&mut sim, a, 1, Target::Everyone, "hello all");
    send(&mut sim, a, 2, Target::Everyone, "again");
    for i in [b, c] {
        assert_eq!(texts(&sim, i), ["hello all", "again"]);
        assert!(unreadable(&sim, i).is_empty());
    }
    assert_eq!(
        receipts(&sim, a),
        [
            (MsgId(1), Delivery::Delivered),
            (MsgId(2), Delivery::Delivered)
        ]
    );
}

/// An envelope changed on the way is shown as unreadable (tampered), not dropped.
#[test]
fn a_tampered_envelope_is_reported_not_dropped() {
    let mut sim = Sim::new(PW);
    let [(a, _), (b, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    sim.clear();
    send(&mut sim, a, 1, Target::Client(bob), "hi");
    let mut m = carried(&sim, b).pop().unwrap();
    m.id = MsgId(2);
    let now = sim.now;
    sim.clients[b]
        .session
        .handle_frame(ServerFrame::Message(m), now)
        .unwrap();
    sim.run();
    assert_eq!(unreadable(&sim, b).len(), 1);
    assert_eq!(texts(&sim, b), ["hi"]);
}

/// A text sealed under a share id (what a `Shares` frame carries, on its own allowance)
/// is not shown as a message: only room keys travel there, so the frame cannot carry
/// chat past the chat allowance.
#[test]
fn a_text_under_a_share_id_is_not_shown() {
    let mut sim = Sim::new(PW);
    let [(a, _), (b, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    sim.clear();
    send(&mut sim, a, 1, Target::Client(bob), "hi");
    let mut m = carried(&sim, b).pop().unwrap();
    let now = sim.now;
    let alice = &mut sim.clients[a].session;
    let wall = alice.keys.wall(now);
    m.id = MsgId(MsgId::SHARE_BIT | 7);
    m.sealed = alice
        .keys
        .keyring
        .as_mut()
        .unwrap()
        .seal_direct(bob, m.id, &crate::seal::Payload::Text("spam".into()), wall)
        .unwrap();
    sim.clients[b]
        .session
        .handle_frame(ServerFrame::Message(m), now)
        .unwrap();
    sim.run();
    assert_eq!(unreadable(&sim, b).len(), 1);
    assert_eq!(texts(&sim, b), ["hi"]);
}

/// A file offer's names reach the hub sealed and open on the other side into the
/// manifest that was offered.
#[test]
fn an_offers_file_names_are_sealed_and_opened_on_the_other_side() {
    let mut sim = Sim::new(PW);
    let [(a, _), (b, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    sim.clear();
    let manifest = Manifest {
        files: vec![FileEntry {
            path: "canary-offer.txt".into(),
            size: 12,
        }],
        ..Manifest::default()
    };
    let now = sim.now;
    sim.clients[a]
        .session
        .offer(1, bob, manifest.clone(), Vec::new(), false, now)
        .unwrap();
    sim.run();
    let offered = sim.events(b).iter().find_map(|e| match e {
        Event::Offer(o) => Some(o.manifest.clone()),
        _ => None,
    });
    assert_eq!(offered, Some(manifest));
    let wire = sim.clients[b].frames.iter().find_map(|f| match f {
        ServerFrame::Offer(o) => Some(o.sealed.clone()),
        _ => None,
    });
    assert!(!contains(wire.unwrap().as_bytes(), b"canary-offer"));
}

/// A session that learns its groups from the list at login (not from a change it saw)
/// seals to their members: a one-shot `say` to a group is read.
#[test]
fn a_group_known_only_from_the_login_list_is_sealed_to_its_members() {
    let mut sim = Sim::new(PW);
    let p = people(&mut sim, &["alice", "bob"]);
    let [(a, _), (b, bob)] = p[..] else {
        unreachable!()
    };
    let g = create(&mut sim, a, "ops", &[bob]);
    sim.disconnect(a);
    let a2 = sim.relogin_sealed(a, "alice");
    assert!(
        sim.events(a2)
            .iter()
            .any(|e| matches!(e, Event::Groups(all) if all.iter().any(|x| x.id == g)))
    );
    sim.clear();
    send(&mut sim, a2, 1, Target::Group(g), "from the list");
    assert_eq!(texts(&sim, b), ["from the list"]);
}

/// An empty text or one over the longest is refused by the session with the reason the
/// hub gave before it could no longer see texts; nothing goes out.
#[test]
fn an_empty_or_too_long_text_is_refused_before_sealing() {
    let mut sim = Sim::new(PW);
    let [(a, _), (b, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    sim.clear();
    send(&mut sim, a, 1, Target::Client(bob), "");
    let long = "x".repeat(crate::limits::MAX_TEXT + 1);
    send(&mut sim, a, 2, Target::Client(bob), &long);
    assert_eq!(
        receipts(&sim, a),
        [
            (MsgId(1), Delivery::Rejected(RejectReason::BadText)),
            (MsgId(2), Delivery::Rejected(RejectReason::BadText))
        ]
    );
    assert!(carried(&sim, b).is_empty());
}

/// A message to everyone with more unknown contacts than [`keys::MAX_FETCHES`] asks the
/// hub for at most that many keys at once (the rest wait their turn), and still reaches
/// every contact.
#[test]
fn key_requests_are_paced_and_everyone_still_reads() {
    let mut sim = Sim::new(PW);
    let names: Vec<String> = (0..keys::MAX_FETCHES + 8)
        .map(|i| format!("p{i}"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut all = people(&mut sim, &["alice"]);
    all.extend(people(&mut sim, &names));
    let a = all[0].0;
    sim.clear();
    let now = sim.now;
    sim.clients[a]
        .session
        .send_message(MsgId(1), Target::Everyone, "to all".into(), now)
        .unwrap();
    let mut asked = 0;
    while let Some(frame) = sim.clients[a].session.poll_transmit() {
        if matches!(frame, ClientFrame::GetKeys { .. }) {
            asked += 1;
        }
    }
    assert_eq!(asked, keys::MAX_FETCHES);
    // The frames drained above never reached the hub: ask again, through the hub.
    sim.clients[a].session.keys.fetching.clear();
    sim.clients[a].session.keys.queued.clear();
    sim.clients[a].session.keys.waiting.clear();
    send(&mut sim, a, 2, Target::Everyone, "to all again");
    for &(i, _) in &all[1..] {
        assert_eq!(texts(&sim, i), ["to all again"], "client {i}");
    }
    assert!(sim.is_online(a));
}

/// Keys answers nobody asked for are dropped: an empty one cannot mark a contact
/// keyless (their verified keys still seal), and made-up ids do not grow the session's
/// maps; an empty answer to a question we asked does not discard verified keys either.
#[test]
fn keys_answers_nobody_asked_for_change_nothing() {
    let mut sim = Sim::new(PW);
    let [(a, _), (b, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    send(&mut sim, a, 1, Target::Client(bob), "first");
    sim.clear();
    let now = sim.now;
    let session = &mut sim.clients[a].session;
    let empty = |id| ServerFrame::Keys {
        id,
        bundles: Vec::new(),
    };
    session.handle_frame(empty(bob), now).unwrap();
    for n in 0..100u8 {
        session.handle_frame(empty(ClientId([n; 32])), now).unwrap();
    }
    assert!(session.keys.keyless.is_empty());
    assert!(session.keys.fetching.is_empty());
    // Asked (bob's card named a new key), answered empty: the old keys still seal.
    session.keys.stale.insert(bob);
    session
        .send_message(MsgId(2), Target::Client(bob), "second".into(), now)
        .unwrap();
    session.handle_frame(empty(bob), now).unwrap();
    sim.run();
    assert_eq!(texts(&sim, b), ["second"]);
    assert_eq!(receipts(&sim, a), [(MsgId(2), Delivery::Delivered)]);
}

/// Everyone is never kept for members offline, so a gap in a sender's messages to
/// everyone is normal: no "never arrived" report. (In a group it is reported.)
#[test]
fn a_gap_in_messages_to_everyone_is_not_reported_missing() {
    let mut sim = Sim::new(PW);
    let [(a, _), (b, _)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    send(&mut sim, a, 1, Target::Everyone, "one");
    sim.mute(b);
    send(&mut sim, a, 2, Target::Everyone, "two");
    sim.clients[b].muted = false;
    // Bob's copy of "two" was lost on the way; "three" comes one index later.
    let now = sim.now;
    sim.clients[a]
        .session
        .send_message(MsgId(3), Target::Everyone, "three".into(), now)
        .unwrap();
    sim.run();
    assert_eq!(texts(&sim, b), ["one", "three"]);
    assert!(
        !sim.events(b)
            .iter()
            .any(|e| matches!(e, Event::Missing { .. })),
        "{:?}",
        sim.events(b)
    );
}

/// An offer that cannot be opened only because the sender's keys are not known (the hub
/// has none) is reported and left pending, not declined; a malformed one is declined.
#[test]
fn an_offer_is_declined_only_when_it_can_never_open() {
    let mut sim = Sim::new(PW);
    let [(b, bob)] = people(&mut sim, &["bob"])[..] else {
        unreachable!()
    };
    let wall = crate::proto::Timestamp::now();
    let mallory = Identity::generate().unwrap();
    let mut ring =
        crate::seal::Keyring::in_memory(&mallory, crate::seal::KeyPolicy::default(), wall).unwrap();
    let session = &mut sim.clients[b].session;
    let bobs = session.keys.keyring.as_mut().unwrap().bundle(wall).unwrap();
    ring.learn(bob, &[bobs], wall).unwrap();
    let payload = crate::seal::Payload::Files(Manifest {
        files: vec![FileEntry {
            path: "a.txt".into(),
            size: 1,
        }],
        ..Manifest::default()
    });
    let sealed = ring
        .seal_direct(bob, sealing::OFFER_ID, &payload, wall)
        .unwrap();
    let offer = |id: u64, sealed: crate::proto::Sealed| {
        ServerFrame::Offer(crate::proto::SealedOffer {
            id: TransferId(id),
            from: mallory.id(),
            sealed,
            test: None,
            addrs: Vec::new(),
            time: None,
        })
    };
    let now = sim.now;
    session.handle_frame(offer(1, sealed), now).unwrap();
    session
        .handle_frame(
            ServerFrame::Keys {
                id: mallory.id(),
                bundles: Vec::new(),
            },
            now,
        )
        .unwrap();
    let garbled = crate::proto::Sealed::from(b"not an envelope".to_vec());
    session.handle_frame(offer(2, garbled), now).unwrap();
    let mut declined = Vec::new();
    while let Some(frame) = session.poll_transmit() {
        if let ClientFrame::Decline { id, .. } = frame {
            declined.push(id);
        }
    }
    let reported: Vec<_> = std::iter::from_fn(|| session.poll_event())
        .filter_map(|e| match e {
            Event::UnreadableOffer { id, problem, .. } => Some((id, problem)),
            _ => None,
        })
        .collect();
    assert!(reported.contains(&(TransferId(1), Problem::UnknownSender)));
    assert_eq!(declined, [TransferId(2)]);
}

/// A room key share stored for an offline member is answered "stored" now and
/// "delivered" at their login, maybe on a later connection of ours: those receipts never
/// reach the person (share ids come from a reserved space), and a person's message id
/// cannot be from it.
#[test]
fn receipts_for_key_shares_never_show_even_on_a_later_connection() {
    let mut sim = Sim::new(PW);
    let [(a, _), (b, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    let g = create(&mut sim, a, "g", &[bob]);
    sim.disconnect(b);
    sim.clear();
    send(&mut sim, a, 1, Target::Group(g), "while you were away");
    sim.disconnect(a);
    let a = sim.relogin_sealed(a, "alice");
    let b = sim.relogin_sealed(b, "bob");
    sim.run();
    assert_eq!(texts(&sim, b), ["while you were away"]);
    for (id, status) in receipts(&sim, a) {
        assert_eq!(id, MsgId(1), "a receipt for a key share showed: {status:?}");
    }
    let now = sim.now;
    let reserved = MsgId(MsgId::SHARE_BIT | 5);
    assert!(matches!(
        sim.clients[a]
            .session
            .send_message(reserved, Target::Client(bob), "x".into(), now),
        Err(Error::ReservedId)
    ));
    assert!(!MsgId::random().is_share());
}

/// When the connection ends, a message waiting for its recipient's keys fails with a
/// receipt that says so, and a received message still waiting for its sender's keys is
/// reported unreadable: nothing is lost without a word.
#[test]
fn what_waits_for_keys_is_reported_when_the_connection_ends() {
    let mut sim = Sim::new(PW);
    let [(a, _), (_, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    let wall = crate::proto::Timestamp::now();
    let mallory = Identity::generate().unwrap();
    let mut ring =
        crate::seal::Keyring::in_memory(&mallory, crate::seal::KeyPolicy::default(), wall).unwrap();
    let now = sim.now;
    let session = &mut sim.clients[a].session;
    let alices = session.keys.keyring.as_mut().unwrap().bundle(wall).unwrap();
    let me = session.me.unwrap();
    ring.learn(me, &[alices], wall).unwrap();
    let payload = crate::seal::Payload::Text("held".into());
    let sealed = ring.seal_direct(me, MsgId(5), &payload, wall).unwrap();
    session
        .handle_frame(
            ServerFrame::Message(SealedMessage {
                id: MsgId(5),
                from: mallory.id(),
                to: Target::Client(me),
                sealed,
                time: wall,
                seq: None,
            }),
            now,
        )
        .unwrap();
    session
        .send_message(MsgId(1), Target::Client(bob), "waiting".into(), now)
        .unwrap();
    while session.poll_event().is_some() {}
    session.handle_closed(now);
    let events: Vec<Event> = std::iter::from_fn(|| session.poll_event()).collect();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Receipt {
                id: MsgId(1),
                status: Delivery::Rejected(RejectReason::Unsent)
            }
        )),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Unreadable {
                id: MsgId(5),
                problem: Problem::UnknownSender,
                ..
            }
        )),
        "{events:?}"
    );
}

/// With a colluding hub, someone who is not a member of a group cannot write in it: their
/// key share for the group is refused and their message is shown unreadable ("not a
/// member"), never as theirs in the group.
#[test]
fn a_non_member_cannot_write_in_a_group_even_through_a_colluding_hub() {
    let mut sim = Sim::new(PW);
    let [(a, _), (b, bob), (e, eve)] = people(&mut sim, &["alice", "bob", "eve"])[..] else {
        unreachable!()
    };
    let g = create(&mut sim, a, "g", &[bob]);
    let wall = crate::proto::Timestamp::now();
    let bobs = sim.clients[b]
        .session
        .keys
        .keyring
        .as_mut()
        .unwrap()
        .bundle(wall)
        .unwrap();
    let ring = sim.clients[e].session.keys.keyring.as_mut().unwrap();
    ring.learn(bob, &[bobs], wall).unwrap();
    let text = crate::seal::Payload::Text("intruder".into());
    let room = ring
        .seal_room(Target::Group(g), &[bob], MsgId(50), &text, wall)
        .unwrap();
    let mut frames = Vec::new();
    for (n, (to, payload)) in room.shares.into_iter().enumerate() {
        let id = MsgId(60 + n as u64);
        let sealed = ring.seal_direct(to, id, &payload, wall).unwrap();
        frames.push(SealedMessage {
            id,
            from: eve,
            to: Target::Client(bob),
            sealed,
            time: wall,
            seq: None,
        });
    }
    frames.push(SealedMessage {
        id: MsgId(50),
        from: eve,
        to: Target::Group(g),
        sealed: room.sealed,
        time: wall,
        seq: None,
    });
    sim.clear();
    let now = sim.now;
    for m in frames {
        sim.clients[b]
            .session
            .handle_frame(ServerFrame::Message(m), now)
            .unwrap();
    }
    sim.run();
    assert!(texts(&sim, b).is_empty(), "{:?}", texts(&sim, b));
    assert_eq!(unreadable(&sim, b), [(MsgId(50), Problem::NotAMember)]);
}

/// A room key share the hub refused (over its limit, a full mailbox) does not count as
/// shared: the next message to the room shares the key with that member again.
#[test]
fn a_refused_key_share_is_shared_again_with_the_next_message() {
    let mut sim = Sim::new(PW);
    let [(a, _), (b, bob)] = people(&mut sim, &["alice", "bob"])[..] else {
        unreachable!()
    };
    let g = create(&mut sim, a, "g", &[bob]);
    let shares_to_bob = |sim: &Sim| carried(sim, b).iter().filter(|m| m.id.is_share()).count();
    send(&mut sim, a, 9, Target::Client(bob), "keys known now");
    let now = sim.now;
    let session = &mut sim.clients[a].session;
    session
        .send_message(MsgId(1), Target::Group(g), "one".into(), now)
        .unwrap();
    let share = *session.keys.internal.keys().next().unwrap();
    // As if the hub had refused it (its real answer comes later and is swallowed).
    session
        .handle_frame(
            ServerFrame::Receipt {
                id: share,
                status: Delivery::Rejected(RejectReason::RateLimited),
            },
            now,
        )
        .unwrap();
    sim.run();
    assert_eq!(shares_to_bob(&sim), 1);
    send(&mut sim, a, 2, Target::Group(g), "two");
    assert_eq!(shares_to_bob(&sim), 2);
    send(&mut sim, a, 3, Target::Group(g), "three");
    assert_eq!(shares_to_bob(&sim), 2);
    assert_eq!(texts(&sim, b), ["keys known now", "one", "two", "three"]);
}
