//! Property tests: whatever bytes the hub (or anyone) hands over, opening and learning
//! never panic and answer with a [`Problem`] or a [`BundleError`].

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_bytes::ByteBuf;

use super::envelope::{Direct, Kind, Room, cbor};
use super::*;
use crate::identity::Identity;
use crate::proto::{GroupId, KeyBundle, KeyId, MsgId, Timestamp};

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const ROOM: Target = Target::Group(GroupId(1));

/// `me` knows `them` and holds a room session `them` shared; also one of each envelope.
struct Fixture {
    me: Keyring,
    them: ClientId,
    direct: Sealed,
    room: Sealed,
}

fn fixture() -> Fixture {
    let mut me =
        Keyring::in_memory(&Identity::generate().unwrap(), KeyPolicy::default(), NOW).unwrap();
    let mut them =
        Keyring::in_memory(&Identity::generate().unwrap(), KeyPolicy::default(), NOW).unwrap();
    me.learn(them.me(), &[them.bundle(NOW).unwrap()], NOW)
        .unwrap();
    them.learn(me.me(), &[me.bundle(NOW).unwrap()], NOW)
        .unwrap();
    let direct = them
        .seal_direct(me.me(), MsgId(1), &Payload::Text("x".into()), NOW)
        .unwrap();
    let out = them
        .seal_room(ROOM, &[me.me()], MsgId(2), &Payload::Text("y".into()), NOW)
        .unwrap();
    let Payload::RoomKey(key) = out.shares[0].1.clone() else {
        panic!("share")
    };
    me.accept_room_key(them.me(), key, NOW).unwrap();
    Fixture {
        them: them.me(),
        me,
        direct,
        room: out.sealed,
    }
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Arbitrary bytes as a direct or a room envelope: a Problem, never a panic.
    #[test]
    fn arbitrary_bytes_never_open(bytes in arb_bytes(600), id in any::<u64>()) {
        let mut f = fixture();
        let sealed = Sealed::from(bytes);
        prop_assert!(f.me.open_direct(f.them, MsgId(id), &sealed, NOW).is_err());
        prop_assert!(f.me.open_room(f.them, ROOM, MsgId(id), &sealed, NOW).is_err());
    }

    /// Well-formed envelopes with arbitrary fields: a Problem, never a panic.
    #[test]
    fn arbitrary_envelope_fields_never_open(
        from_key in any::<[u8; 32]>(), to_key in any::<[u8; 8]>(), nonce in any::<[u8; 24]>(),
        ct in arb_bytes(200), session in any::<[u8; 16]>(), index in any::<u32>(),
        real_to_key in any::<bool>(),
    ) {
        let mut f = fixture();
        let to_key = if real_to_key { f.me.own[0].id } else { KeyId(to_key) };
        let direct = Sealed::from(cbor(&Direct {
            v: 1, kind: Kind::Direct, from_key, to_key, nonce, ct: ByteBuf::from(ct.clone()),
        }));
        prop_assert!(f.me.open_direct(f.them, MsgId(1), &direct, NOW).is_err());
        let room = Sealed::from(cbor(&Room {
            v: 1, kind: Kind::Room, session, index, nonce, ct: ByteBuf::from(ct), sig: [0; 64],
        }));
        prop_assert!(f.me.open_room(f.them, ROOM, MsgId(2), &room, NOW).is_err());
    }

    /// A real envelope with bytes changed, cut or added never opens.
    #[test]
    fn edited_envelopes_never_open(at in any::<usize>(), xor in 1u8.., cut in any::<bool>()) {
        let mut f = fixture();
        for (sealed, room) in [(f.direct.clone(), false), (f.room.clone(), true)] {
            let mut bytes = sealed.as_bytes().to_vec();
            let at = at % bytes.len();
            if cut { bytes.truncate(at) } else { bytes[at] ^= xor }
            let edited = Sealed::from(bytes);
            let opened = if room {
                f.me.open_room(f.them, ROOM, MsgId(2), &edited, NOW).map(|o| o.payload)
            } else {
                f.me.open_direct(f.them, MsgId(1), &edited, NOW)
            };
            prop_assert!(opened.is_err(), "an edited envelope opened");
        }
    }

    /// Arbitrary CBOR as a bundle, and bundles with arbitrary fields around a real
    /// certificate: learn errs, and nothing can be sealed to the owner.
    #[test]
    fn arbitrary_bundles_are_not_learned(
        bytes in arb_bytes(600), signing in any::<[u8; 32]>(), sealing in any::<[u8; 32]>(),
        created in any::<u64>(), expires in any::<u64>(), signature in arb_bytes(100),
        version in any::<u8>(),
    ) {
        let owner_identity = Identity::generate().unwrap();
        let owner = owner_identity.id();
        let mut me = Keyring::in_memory(&Identity::generate().unwrap(), KeyPolicy::default(), NOW).unwrap();
        if let Ok(bundle) = ciborium::from_reader::<KeyBundle, _>(bytes.as_slice()) {
            prop_assert!(me.learn(owner, &[bundle], NOW).is_err());
        }
        let forged = KeyBundle {
            version, cert: ByteBuf::from(owner_identity.cert().to_vec()), signing, sealing,
            created: Timestamp(created), expires: Timestamp(expires), signature: ByteBuf::from(signature),
        };
        prop_assert!(me.learn(owner, &[forged], NOW).is_err());
        prop_assert!(!me.can_seal_to(owner, NOW));
    }
}
