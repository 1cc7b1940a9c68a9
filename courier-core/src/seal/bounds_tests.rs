//! Room sessions shared with this device are bounded: per sender and room, per sender,
//! and in all, so that a flood of shares (a hostile member or hub) cannot grow the
//! keyring or keys.db without end. The least recently used go first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::room::{MAX_INBOUND, PER_ROOM, PER_SENDER};
use super::*;
use crate::identity::Identity;
use crate::proto::{GroupId, Timestamp};

const T0: Timestamp = Timestamp(1_800_000_000_000);

fn keyring() -> Keyring {
    Keyring::in_memory(&Identity::generate().unwrap(), KeyPolicy::default(), T0).unwrap()
}

/// A share for `room` with a fresh session, signed by the sender's `signing` key.
fn share(signing: [u8; 32], room: Target) -> RoomKey {
    RoomKey {
        room,
        session: rand::random(),
        index: 0,
        chain: rand::random(),
        signing,
    }
}

fn sessions_of(me: &Keyring, sender: ClientId) -> usize {
    me.inbound
        .keys()
        .filter(|(from, _)| *from == sender)
        .count()
}

#[test]
fn ten_thousand_shares_from_one_member_keep_a_bounded_number_of_sessions() {
    let (mut me, mut bob) = (keyring(), keyring());
    let bundle = bob.bundle(T0).unwrap();
    me.learn(bob.me(), std::slice::from_ref(&bundle), T0)
        .unwrap();
    let room = Target::Group(GroupId(1));
    let mut kept = None;
    for i in 0..10_000u64 {
        let to = if i % 2 == 0 {
            room
        } else {
            Target::Group(GroupId(100 + i))
        };
        let key = share(bundle.signing, to);
        if i == 9_998 {
            kept = Some(key.session);
        }
        me.accept_room_key(bob.me(), key, Timestamp(T0.0 + i))
            .unwrap();
    }
    assert_eq!(sessions_of(&me, bob.me()), PER_SENDER);
    let in_room = me
        .inbound
        .iter()
        .filter(|((from, _), s)| *from == bob.me() && s.room == room)
        .count();
    assert_eq!(in_room, PER_ROOM);
    // The newest is kept.
    assert!(me.inbound.contains_key(&(bob.me(), kept.unwrap())));
}

#[test]
fn shares_from_many_members_keep_at_most_the_total_bound() {
    let mut me = keyring();
    let senders = MAX_INBOUND / PER_SENDER + 2;
    let mut t = T0.0;
    for _ in 0..senders {
        let mut sender = keyring();
        let bundle = sender.bundle(T0).unwrap();
        me.learn(sender.me(), std::slice::from_ref(&bundle), T0)
            .unwrap();
        for g in 0..PER_SENDER as u64 {
            t += 1;
            let key = share(bundle.signing, Target::Group(GroupId(g)));
            me.accept_room_key(sender.me(), key, Timestamp(t)).unwrap();
        }
    }
    assert_eq!(me.inbound.len(), MAX_INBOUND);
}

#[test]
fn keys_db_keeps_a_bounded_number_of_sessions_per_sender_and_room() {
    let dir = std::env::temp_dir().join(format!(
        "courier-keys-bounds-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let identity = Identity::generate().unwrap();
    let mut me = Keyring::open(&dir, &identity, KeyPolicy::default(), T0).unwrap();
    let mut bob = keyring();
    let bundle = bob.bundle(T0).unwrap();
    me.learn(bob.me(), std::slice::from_ref(&bundle), T0)
        .unwrap();
    let room = Target::Group(GroupId(1));
    for i in 0..(PER_ROOM as u64 + 20) {
        let key = share(bundle.signing, room);
        me.accept_room_key(bob.me(), key, Timestamp(T0.0 + i))
            .unwrap();
    }
    let conn = rusqlite::Connection::open(dir.join("keys.db")).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM inbound", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, PER_ROOM as i64);
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
}
