//! Look-ups of members' keys go stale: a member without usable keys is fetched again
//! later, not skipped forever, and the sealer is told who could not be reached.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use super::*;
use crate::identity::Identity;
use crate::proto::{GroupId, MsgId, Timestamp};

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const MINUTE: u64 = 60 * 1000;
const DAY: u64 = 24 * 60 * MINUTE;
const ROOM: Target = Target::Group(GroupId(4));

fn keyring() -> Keyring {
    Keyring::in_memory(&Identity::generate().unwrap(), KeyPolicy::default(), NOW).unwrap()
}

fn at(millis: u64) -> Timestamp {
    Timestamp(NOW.0 + millis)
}

fn text() -> Payload {
    Payload::Text("x".into())
}

fn shared_with(out: &RoomSealed) -> Vec<ClientId> {
    out.shares.iter().map(|(id, _)| *id).collect()
}

#[test]
fn a_member_without_keys_is_unreachable_then_fetched_again_and_reached_once_published() {
    let (mut a, mut b, mut c) = (keyring(), keyring(), keyring());
    a.learn(c.me(), &[c.bundle(NOW).unwrap()], NOW).unwrap();
    // The hub had nothing for b.
    assert!(a.learn(b.me(), &[], NOW).is_err());
    let out = a
        .seal_room(ROOM, &[b.me(), c.me()], MsgId(1), &text(), NOW)
        .unwrap();
    assert_eq!(shared_with(&out), vec![c.me()]);
    assert_eq!(
        out.unreachable,
        vec![b.me()],
        "the sealer learns b missed it"
    );
    // Later the look-up is stale: b's keys are asked for again.
    let later = at(LOOKUP_FRESH.as_millis() as u64 + MINUTE);
    match a.seal_room(ROOM, &[b.me(), c.me()], MsgId(2), &text(), later) {
        Err(SealError::NeedKeys(ids)) => assert_eq!(ids, vec![b.me()]),
        other => panic!("expected NeedKeys, got {other:?}"),
    }
    match a.seal_direct(b.me(), MsgId(3), &text(), later) {
        Err(SealError::NeedKeys(ids)) => assert_eq!(ids, vec![b.me()]),
        other => panic!("expected NeedKeys, got {other:?}"),
    }
    // b has published since: the fetch finds it and b gets the session.
    a.learn(b.me(), &[b.bundle(later).unwrap()], later).unwrap();
    let out = a
        .seal_room(ROOM, &[b.me(), c.me()], MsgId(4), &text(), later)
        .unwrap();
    assert_eq!(shared_with(&out), vec![b.me()]);
    assert!(out.unreachable.is_empty());
}

#[test]
fn a_member_whose_bundle_expired_is_fetched_again() {
    let (mut a, mut b) = (keyring(), keyring());
    a.learn(b.me(), &[b.bundle(NOW).unwrap()], NOW).unwrap();
    a.seal_room(ROOM, &[b.me()], MsgId(1), &text(), NOW)
        .unwrap();
    // b's bundle lives rotate_every + keep_after (44 days): after 45 it is no use.
    let later = at(45 * DAY);
    a.set_policy(KeyPolicy {
        keep_after: Duration::from_millis(400 * DAY),
        ..KeyPolicy::default()
    });
    match a.seal_room(ROOM, &[b.me()], MsgId(2), &text(), later) {
        Err(SealError::NeedKeys(ids)) => assert_eq!(ids, vec![b.me()]),
        other => panic!("expected NeedKeys, got {other:?}"),
    }
    match a.seal_direct(b.me(), MsgId(3), &text(), later) {
        Err(SealError::NeedKeys(ids)) => assert_eq!(ids, vec![b.me()]),
        other => panic!("expected NeedKeys, got {other:?}"),
    }
}
