//! Arbitrary bytes as a direct and as a room envelope, against a keyring that knows
//! the claimed sender and holds a room session from it: never a panic, never opened.
#![no_main]

use std::cell::RefCell;

use courier_core::identity::Identity;
use courier_core::proto::{ClientId, GroupId, MsgId, Sealed, Target, Timestamp};
use courier_core::seal::{KeyPolicy, Keyring, Payload};
use libfuzzer_sys::fuzz_target;

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const ROOM: Target = Target::Group(GroupId(1));

fn fixture() -> (Keyring, ClientId) {
    let new =
        || Keyring::in_memory(&Identity::generate().unwrap(), KeyPolicy::default(), NOW).unwrap();
    let (mut me, mut them) = (new(), new());
    me.learn(them.me(), &[them.bundle(NOW).unwrap()], NOW)
        .unwrap();
    them.learn(me.me(), &[me.bundle(NOW).unwrap()], NOW)
        .unwrap();
    let out = them
        .seal_room(ROOM, &[me.me()], MsgId(1), &Payload::Text("x".into()), NOW)
        .unwrap();
    for (_, share) in out.shares {
        if let Payload::RoomKey(key) = share {
            me.accept_room_key(them.me(), key, NOW).unwrap();
        }
    }
    let sender = them.me();
    (me, sender)
}

thread_local! {
    static KEYS: RefCell<(Keyring, ClientId)> = RefCell::new(fixture());
}

fuzz_target!(|data: &[u8]| {
    KEYS.with(|keys| {
        let (me, them) = &mut *keys.borrow_mut();
        let sealed = Sealed::from(data.to_vec());
        assert!(me.open_direct(*them, MsgId(2), &sealed, NOW).is_err());
        assert!(me.open_room(*them, ROOM, MsgId(2), &sealed, NOW).is_err());
    });
});
