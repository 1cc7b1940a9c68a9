//! The seal room's unit tests: real keys, real bundles, bytes changed on the way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_bytes::ByteBuf;

use super::*;
use crate::identity::Identity;
use crate::proto::{GroupId, KeyBundle, MsgId, Timestamp};

const NOW: Timestamp = Timestamp(1_800_000_000_000);

struct Device {
    identity: Identity,
    keys: Keyring,
}

fn device() -> Device {
    let identity = Identity::generate().expect("identity");
    let keys = Keyring::in_memory(&identity, KeyPolicy::default(), NOW).expect("keyring");
    Device { identity, keys }
}

/// Both learn each other's published bundle.
fn introduce(a: &mut Device, b: &mut Device) {
    let ab = a.keys.bundle(NOW).expect("bundle");
    let bb = b.keys.bundle(NOW).expect("bundle");
    b.keys
        .learn(a.keys.me(), &[ab], NOW)
        .expect("a's bundle verifies");
    a.keys
        .learn(b.keys.me(), &[bb], NOW)
        .expect("b's bundle verifies");
}

fn text(s: &str) -> Payload {
    Payload::Text(s.to_owned())
}

fn flip(sealed: &Sealed, at: usize) -> Sealed {
    let mut bytes = sealed.as_bytes().to_vec();
    let at = at % bytes.len();
    bytes[at] ^= 0x01;
    Sealed::from(bytes)
}

#[test]
fn direct_round_trip_opens_for_the_recipient_only() {
    let (mut a, mut b, mut c) = (device(), device(), device());
    introduce(&mut a, &mut b);
    introduce(&mut a, &mut c);
    let id = MsgId(7);
    let sealed = a
        .keys
        .seal_direct(b.keys.me(), id, &text("hi"), NOW)
        .expect("seal");
    assert_eq!(
        b.keys.open_direct(a.keys.me(), id, &sealed, NOW),
        Ok(text("hi"))
    );
    assert_eq!(
        c.keys.open_direct(a.keys.me(), id, &sealed, NOW),
        Err(Problem::NotForMe)
    );
}

#[test]
fn every_flipped_byte_of_a_direct_envelope_is_refused() {
    let (mut a, mut b) = (device(), device());
    introduce(&mut a, &mut b);
    let sealed = a
        .keys
        .seal_direct(b.keys.me(), MsgId(1), &text("hi"), NOW)
        .expect("seal");
    for at in 0..sealed.len() {
        let opened = b
            .keys
            .open_direct(a.keys.me(), MsgId(1), &flip(&sealed, at), NOW);
        assert!(opened.is_err(), "byte {at} changed and it still opened");
    }
    // The ciphertext's last byte (the tag) gives Tampered, not Malformed.
    let last = sealed.len() - 1;
    assert_eq!(
        b.keys
            .open_direct(a.keys.me(), MsgId(1), &flip(&sealed, last), NOW),
        Err(Problem::Tampered)
    );
}

#[test]
fn a_changed_message_id_or_sender_is_refused() {
    let (mut a, mut b, mut c) = (device(), device(), device());
    introduce(&mut a, &mut b);
    introduce(&mut c, &mut b);
    let sealed = a
        .keys
        .seal_direct(b.keys.me(), MsgId(1), &text("hi"), NOW)
        .expect("seal");
    assert_eq!(
        b.keys.open_direct(a.keys.me(), MsgId(2), &sealed, NOW),
        Err(Problem::Tampered)
    );
    // The hub claims c sent it: a's key is none of c's.
    assert_eq!(
        b.keys.open_direct(c.keys.me(), MsgId(1), &sealed, NOW),
        Err(Problem::UnknownSender)
    );
}

#[test]
fn an_unknown_sender_key_is_refused() {
    let (mut a, mut b) = (device(), device());
    let ab = a.keys.bundle(NOW).expect("bundle");
    b.keys.learn(a.keys.me(), &[ab], NOW).expect("verifies");
    // b never learned... a's keyring learned b, but b does not know a: build the other way.
    let mut c = device();
    let bb = b.keys.bundle(NOW).expect("bundle");
    c.keys.learn(b.keys.me(), &[bb], NOW).expect("verifies");
    let sealed = c
        .keys
        .seal_direct(b.keys.me(), MsgId(1), &text("hi"), NOW)
        .expect("seal");
    assert_eq!(
        b.keys.open_direct(c.keys.me(), MsgId(1), &sealed, NOW),
        Err(Problem::UnknownSender)
    );
}

#[test]
fn a_bundle_the_hub_swapped_is_not_learned() {
    let (mut a, b, mut mallory) = (device(), device(), device());
    let real = device_bundle(&b);
    let fake = mallory.keys.bundle(NOW).expect("bundle");
    // Signed by another certificate: fingerprint is not b's.
    assert_eq!(
        a.keys.learn(b.keys.me(), std::slice::from_ref(&fake), NOW),
        Err(BundleError::FingerprintMismatch)
    );
    // b's certificate, mallory's keys and signature.
    let mut forged = fake.clone();
    forged.cert = real.cert.clone();
    assert_eq!(
        a.keys.learn(b.keys.me(), &[forged], NOW),
        Err(BundleError::BadSignature)
    );
    // b's bundle with the sealing key altered.
    let mut altered = real.clone();
    altered.sealing = fake.sealing;
    assert_eq!(
        a.keys.learn(b.keys.me(), &[altered], NOW),
        Err(BundleError::BadSignature)
    );
    // Unknown version, and nothing at all.
    let mut v2 = real.clone();
    v2.version = 2;
    assert_eq!(
        a.keys.learn(b.keys.me(), &[v2], NOW),
        Err(BundleError::UnknownVersion(2))
    );
    assert_eq!(
        a.keys.learn(b.keys.me(), &[], NOW),
        Err(BundleError::Missing)
    );
    assert!(!a.keys.can_seal_to(b.keys.me(), NOW));
    assert!(matches!(
        a.keys.seal_direct(b.keys.me(), MsgId(1), &text("x"), NOW),
        Err(SealError::NoKeys(_))
    ));
    // The real one verifies.
    a.keys
        .learn(b.keys.me(), std::slice::from_ref(&real), NOW)
        .expect("b's own bundle");
    assert!(a.keys.can_seal_to(b.keys.me(), NOW));
    assert!(a.keys.knows_key(b.keys.me(), real.key_id()));
}

fn device_bundle(d: &Device) -> KeyBundle {
    super::bundle::sign(
        &d.identity,
        [1; 32],
        [2; 32],
        NOW,
        Timestamp(NOW.0 + 1_000_000),
    )
    .expect("sign")
}

#[test]
fn an_expired_bundle_is_not_sealed_to() {
    let (mut a, b) = (device(), device());
    let old = super::bundle::sign(&b.identity, [1; 32], [2; 32], Timestamp(0), Timestamp(10))
        .expect("sign");
    assert_eq!(
        a.keys.learn(b.keys.me(), &[old], NOW),
        Err(BundleError::Expired)
    );
    assert!(!a.keys.can_seal_to(b.keys.me(), NOW));
}

#[test]
fn sealing_to_an_unfetched_device_asks_for_its_keys() {
    let (mut a, b) = (device(), device());
    match a.keys.seal_direct(b.keys.me(), MsgId(1), &text("x"), NOW) {
        Err(SealError::NeedKeys(ids)) => assert_eq!(ids, vec![b.keys.me()]),
        other => panic!("expected NeedKeys, got {other:?}"),
    }
}

const ROOM: Target = Target::Group(GroupId(9));

/// a seals to the room; the shares are delivered through direct envelopes.
fn seal_and_share(a: &mut Device, members: &mut [&mut Device], id: MsgId, body: &str) -> Sealed {
    let ids: Vec<ClientId> = members.iter().map(|m| m.keys.me()).collect();
    let out = a
        .keys
        .seal_room(ROOM, &ids, id, &text(body), NOW)
        .expect("seal_room");
    for (to, share) in out.shares {
        let sealed = a
            .keys
            .seal_direct(to, MsgId(id.0 + 1000), &share, NOW)
            .expect("share");
        let m = members
            .iter_mut()
            .find(|m| m.keys.me() == to)
            .expect("member");
        let Ok(Payload::RoomKey(key)) =
            m.keys
                .open_direct(a.keys.me(), MsgId(id.0 + 1000), &sealed, NOW)
        else {
            panic!("share does not open");
        };
        m.keys
            .accept_room_key(a.keys.me(), key, NOW)
            .expect("accepted");
    }
    out.sealed
}

#[test]
fn room_round_trip_replay_and_tamper() {
    let (mut a, mut b, mut c) = (device(), device(), device());
    introduce(&mut a, &mut b);
    introduce(&mut a, &mut c);
    let sealed = seal_and_share(&mut a, &mut [&mut b, &mut c], MsgId(1), "hello room");
    let me = a.keys.me();
    let opened = b
        .keys
        .open_room(me, ROOM, MsgId(1), &sealed, NOW)
        .expect("b opens");
    assert_eq!(opened.payload, text("hello room"));
    assert_eq!(opened.index, 0);
    assert_eq!(
        c.keys
            .open_room(me, ROOM, MsgId(1), &sealed, NOW)
            .map(|o| o.payload),
        Ok(text("hello room"))
    );
    // The sender opens its own message too.
    assert!(a.keys.open_room(me, ROOM, MsgId(1), &sealed, NOW).is_ok());
    assert_eq!(
        b.keys.open_room(me, ROOM, MsgId(1), &sealed, NOW),
        Err(Problem::Replayed)
    );
    let second = seal_and_share(&mut a, &mut [&mut b, &mut c], MsgId(2), "again");
    assert_eq!(
        b.keys.open_room(me, ROOM, MsgId(3), &second, NOW),
        Err(Problem::BadSignature)
    );
    assert_eq!(
        b.keys
            .open_room(me, Target::Everyone, MsgId(2), &second, NOW),
        Err(Problem::Tampered)
    );
    let last = second.len() - 1;
    assert_eq!(
        b.keys
            .open_room(me, ROOM, MsgId(2), &flip(&second, last), NOW),
        Err(Problem::BadSignature)
    );
    assert_eq!(
        b.keys
            .open_room(me, ROOM, MsgId(2), &second, NOW)
            .map(|o| o.index),
        Ok(1)
    );
}

#[test]
fn a_wrong_room_key_from_another_sender_is_refused() {
    let (mut a, mut b, mut c) = (device(), device(), device());
    introduce(&mut a, &mut b);
    introduce(&mut c, &mut b);
    let out = a
        .keys
        .seal_room(ROOM, &[b.keys.me()], MsgId(1), &text("x"), NOW)
        .expect("seal");
    let Payload::RoomKey(key) = out.shares[0].1.clone() else {
        panic!("share")
    };
    // c forwards a's session as its own: its signing key is not c's.
    assert_eq!(
        b.keys.accept_room_key(c.keys.me(), key, NOW),
        Err(Problem::UnknownSender)
    );
}

#[test]
fn a_member_added_later_cannot_open_earlier_messages() {
    let (mut a, mut b, mut late) = (device(), device(), device());
    introduce(&mut a, &mut b);
    introduce(&mut a, &mut late);
    let early = seal_and_share(&mut a, &mut [&mut b], MsgId(1), "before");
    a.keys.end_room(ROOM);
    let after = seal_and_share(&mut a, &mut [&mut b, &mut late], MsgId(2), "after");
    let me = a.keys.me();
    assert_eq!(
        late.keys.open_room(me, ROOM, MsgId(1), &early, NOW),
        Err(Problem::NoRoomKey)
    );
    assert!(late.keys.open_room(me, ROOM, MsgId(2), &after, NOW).is_ok());
    // Even without end_room, a share made later starts at the later index.
    let mut later = device();
    introduce(&mut a, &mut later);
    let third = seal_and_share(
        &mut a,
        &mut [&mut b, &mut late, &mut later],
        MsgId(3),
        "third",
    );
    assert_eq!(
        later.keys.open_room(me, ROOM, MsgId(2), &after, NOW),
        Err(Problem::NoRoomKey)
    );
    assert!(
        later
            .keys
            .open_room(me, ROOM, MsgId(3), &third, NOW)
            .is_ok()
    );
}

#[test]
fn a_removed_member_cannot_open_the_next_session() {
    let (mut a, mut b, mut gone) = (device(), device(), device());
    introduce(&mut a, &mut b);
    introduce(&mut a, &mut gone);
    let first = seal_and_share(&mut a, &mut [&mut b, &mut gone], MsgId(1), "all");
    let me = a.keys.me();
    assert!(gone.keys.open_room(me, ROOM, MsgId(1), &first, NOW).is_ok());
    a.keys.end_room(ROOM);
    let next = seal_and_share(&mut a, &mut [&mut b], MsgId(2), "without gone");
    assert_eq!(
        gone.keys.open_room(me, ROOM, MsgId(2), &next, NOW),
        Err(Problem::NoRoomKey)
    );
    assert!(b.keys.open_room(me, ROOM, MsgId(2), &next, NOW).is_ok());
}

#[test]
fn gaps_are_reported_and_jumps_over_the_limit_refused() {
    let (mut a, mut b) = (device(), device());
    introduce(&mut a, &mut b);
    let me = a.keys.me();
    let first = seal_and_share(&mut a, &mut [&mut b], MsgId(1), "0");
    let skipped = seal_and_share(&mut a, &mut [&mut b], MsgId(2), "1");
    let third = seal_and_share(&mut a, &mut [&mut b], MsgId(3), "2");
    assert_eq!(
        b.keys
            .open_room(me, ROOM, MsgId(1), &first, NOW)
            .map(|o| o.gap),
        Ok(None)
    );
    assert_eq!(
        b.keys
            .open_room(me, ROOM, MsgId(3), &third, NOW)
            .map(|o| o.gap),
        Ok(Some(1))
    );
    assert_eq!(
        b.keys
            .open_room(me, ROOM, MsgId(2), &skipped, NOW)
            .map(|o| o.index),
        Ok(1)
    );
    // Make a's session jump: its index moves far ahead without b seeing anything.
    a.keys.set_policy(KeyPolicy {
        room_messages: u32::MAX,
        ..KeyPolicy::default()
    });
    a.keys.outbound.get_mut(&ROOM).expect("session").index = 3 + MAX_JUMP + 1;
    let far = seal_and_share(&mut a, &mut [&mut b], MsgId(4), "far");
    assert_eq!(
        b.keys.open_room(me, ROOM, MsgId(4), &far, NOW),
        Err(Problem::TooFarAhead)
    );
}

#[test]
fn a_room_message_without_a_share_has_no_key() {
    let (mut a, mut b) = (device(), device());
    introduce(&mut a, &mut b);
    let out = a
        .keys
        .seal_room(ROOM, &[b.keys.me()], MsgId(1), &text("x"), NOW)
        .expect("seal");
    assert_eq!(
        b.keys
            .open_room(a.keys.me(), ROOM, MsgId(1), &out.sealed, NOW),
        Err(Problem::NoRoomKey)
    );
}

#[test]
fn room_members_never_fetched_are_asked_for() {
    let (mut a, b, mut c) = (device(), device(), device());
    introduce(&mut a, &mut c);
    match a
        .keys
        .seal_room(ROOM, &[b.keys.me(), c.keys.me()], MsgId(1), &text("x"), NOW)
    {
        Err(SealError::NeedKeys(ids)) => assert_eq!(ids, vec![b.keys.me()]),
        other => panic!("expected NeedKeys, got {other:?}"),
    }
    // Fetched, but the hub has none: b is skipped, c gets the share.
    let _ = a.keys.learn(b.keys.me(), &[], NOW);
    let out = a
        .keys
        .seal_room(ROOM, &[b.keys.me(), c.keys.me()], MsgId(1), &text("x"), NOW)
        .expect("seal");
    assert_eq!(
        out.shares.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![c.keys.me()]
    );
}

#[test]
fn garbage_and_other_versions_are_refused() {
    let mut a = device();
    let me = a.keys.me();
    let empty = Sealed::default();
    assert_eq!(
        a.keys.open_direct(me, MsgId(1), &empty, NOW),
        Err(Problem::Malformed)
    );
    let junk = Sealed(ByteBuf::from(vec![0xff; 40]));
    assert_eq!(
        a.keys.open_direct(me, MsgId(1), &junk, NOW),
        Err(Problem::Malformed)
    );
    let v2 = Sealed::from(super::envelope::cbor(&serde_v(2)));
    assert_eq!(
        a.keys.open_direct(me, MsgId(1), &v2, NOW),
        Err(Problem::UnknownVersion)
    );
    assert_eq!(
        a.keys.open_room(me, ROOM, MsgId(1), &v2, NOW),
        Err(Problem::UnknownVersion)
    );
}

fn serde_v(v: u8) -> std::collections::BTreeMap<&'static str, u8> {
    [("v", v), ("kind", 0)].into_iter().collect()
}

#[test]
fn secrets_are_not_in_debug_output() {
    let key = RoomKey {
        room: ROOM,
        session: [3; 16],
        index: 0,
        chain: [0xab; 32],
        signing: [4; 32],
    };
    let shown = format!("{:?}", Payload::RoomKey(key));
    assert!(!shown.contains("171"), "{shown}");
    let a = device();
    assert!(!format!("{:?}", a.keys).contains("secret"));
}

#[test]
fn a_member_dropped_without_end_room_cannot_open_what_follows() {
    // Finding 1: a session shared with someone no longer in the group is stale.
    let (mut a, mut bob, mut carol) = (device(), device(), device());
    introduce(&mut a, &mut bob);
    introduce(&mut a, &mut carol);
    let me = a.keys.me();
    let first = seal_and_share(&mut a, &mut [&mut bob, &mut carol], MsgId(1), "all");
    assert!(
        carol
            .keys
            .open_room(me, ROOM, MsgId(1), &first, NOW)
            .is_ok()
    );
    let out = a
        .keys
        .seal_room(ROOM, &[bob.keys.me()], MsgId(2), &text("bob only"), NOW)
        .expect("seal");
    assert_eq!(
        out.shares.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![bob.keys.me()],
        "bob gets a fresh session"
    );
    assert_eq!(
        carol.keys.open_room(me, ROOM, MsgId(2), &out.sealed, NOW),
        Err(Problem::NoRoomKey)
    );
}

#[test]
fn indices_and_shares_past_a_sessions_life_are_refused_so_walks_stay_short() {
    // Finding 4: jumps under MAX_JUMP must not accumulate past what a session can
    // reach (room_messages + slack), so that opening a lower index later walks at most
    // that far from the first index.
    let (mut a, mut b) = (device(), device());
    introduce(&mut a, &mut b);
    let me = a.keys.me();
    let bound = KeyPolicy::default().room_messages + 1_024;
    let first = seal_and_share(&mut a, &mut [&mut b], MsgId(1), "0");
    a.keys.set_policy(KeyPolicy {
        room_messages: u32::MAX,
        ..KeyPolicy::default()
    });
    let session = a.keys.outbound.get_mut(&ROOM).expect("session");
    session.chain = super::room::advance(&session.chain, bound - session.index);
    session.index = bound;
    let at_bound = seal_and_share(&mut a, &mut [&mut b], MsgId(2), "at the bound");
    let past = seal_and_share(&mut a, &mut [&mut b], MsgId(3), "past the bound");
    assert_eq!(
        b.keys
            .open_room(me, ROOM, MsgId(2), &at_bound, NOW)
            .map(|o| o.index),
        Ok(bound)
    );
    assert_eq!(
        b.keys.open_room(me, ROOM, MsgId(3), &past, NOW),
        Err(Problem::TooFarAhead)
    );
    // A lower index still opens (its walk is bounded by the span).
    assert!(b.keys.open_room(me, ROOM, MsgId(1), &first, NOW).is_ok());
    // A share that starts past the bound is refused.
    let mut key = match a
        .keys
        .seal_room(Target::Everyone, &[b.keys.me()], MsgId(4), &text("x"), NOW)
        .expect("seal")
        .shares
        .pop()
    {
        Some((_, Payload::RoomKey(key))) => key,
        other => panic!("share expected, got {other:?}"),
    };
    key.index = bound + 1;
    assert_eq!(
        b.keys.accept_room_key(me, key, NOW),
        Err(Problem::TooFarAhead)
    );
}
