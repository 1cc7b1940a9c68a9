//! keys.db: shared by two processes of a profile, rotated keys erased from the file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::identity::Identity;
use crate::proto::{GroupId, MsgId, Timestamp};

const DAY: u64 = 24 * 60 * 60 * 1000;
const T0: Timestamp = Timestamp(1_800_000_000_000);

/// A scratch profile folder, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!(
            "courier-keys-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn policy() -> KeyPolicy {
    KeyPolicy {
        rotate_every: Duration::from_millis(DAY),
        keep_after: Duration::from_millis(2 * DAY),
        room_messages: 10_000,
    }
}

fn peer() -> Keyring {
    Keyring::in_memory(&Identity::generate().unwrap(), policy(), T0).unwrap()
}

#[test]
fn two_keyrings_on_one_profile_share_keys_bundles_and_room_sessions() {
    let dir = Dir::new("shared");
    let me = Identity::generate().unwrap();
    let mut listen = Keyring::open(&dir.0, &me, policy(), T0).unwrap();
    let mut say = Keyring::open(&dir.0, &me, policy(), T0).unwrap();
    // One device: the same published keys.
    assert_eq!(listen.bundle(T0).unwrap(), say.bundle(T0).unwrap());

    let mut bob = peer();
    bob.learn(me.id(), &[listen.bundle(T0).unwrap()], T0)
        .unwrap();
    // `listen` learns bob's keys; `say` seals to him without fetching.
    listen
        .learn(bob.me(), &[bob.bundle(T0).unwrap()], T0)
        .unwrap();
    let sealed = say
        .seal_direct(bob.me(), MsgId(1), &Payload::Text("hi".into()), T0)
        .unwrap();
    assert_eq!(
        bob.open_direct(me.id(), MsgId(1), &sealed, T0),
        Ok(Payload::Text("hi".into()))
    );

    // bob shares a room session with the device; `listen` takes it, `say` opens with it.
    let room = Target::Group(GroupId(3));
    let out = bob
        .seal_room(
            room,
            &[me.id()],
            MsgId(2),
            &Payload::Text("room".into()),
            T0,
        )
        .unwrap();
    let (to, share) = out.shares.into_iter().next().unwrap();
    let share = bob.seal_direct(to, MsgId(3), &share, T0).unwrap();
    let Ok(Payload::RoomKey(key)) = listen.open_direct(bob.me(), MsgId(3), &share, T0) else {
        panic!("share")
    };
    listen.accept_room_key(bob.me(), key, T0).unwrap();
    let opened = say
        .open_room(bob.me(), room, MsgId(2), &out.sealed, T0)
        .unwrap();
    assert_eq!(opened.payload, Payload::Text("room".into()));
    // Both processes open the same message (normal double delivery: the session dedups
    // by message id); each refuses its own second opening as a replay.
    assert!(
        listen
            .open_room(bob.me(), room, MsgId(2), &out.sealed, T0)
            .is_ok()
    );
    assert_eq!(
        listen.open_room(bob.me(), room, MsgId(2), &out.sealed, T0),
        Err(Problem::Replayed)
    );

    // Both seal to one room: one session, indices never repeat.
    let first = listen
        .seal_room(room, &[bob.me()], MsgId(4), &Payload::Text("a".into()), T0)
        .unwrap();
    let second = say
        .seal_room(room, &[bob.me()], MsgId(5), &Payload::Text("b".into()), T0)
        .unwrap();
    assert_eq!(first.shares.len(), 1);
    assert!(second.shares.is_empty(), "the session was shared already");
    for (to, share) in first.shares {
        let sealed = listen.seal_direct(to, MsgId(6), &share, T0).unwrap();
        let Ok(Payload::RoomKey(key)) = bob.open_direct(me.id(), MsgId(6), &sealed, T0) else {
            panic!("share")
        };
        bob.accept_room_key(me.id(), key, T0).unwrap();
    }
    assert_eq!(
        bob.open_room(me.id(), room, MsgId(4), &first.sealed, T0)
            .map(|o| o.index),
        Ok(0)
    );
    assert_eq!(
        bob.open_room(me.id(), room, MsgId(5), &second.sealed, T0)
            .map(|o| o.index),
        Ok(1)
    );
}

#[cfg(unix)]
#[test]
fn keys_db_is_the_owners_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = Dir::new("mode");
    let me = Identity::generate().unwrap();
    let _keys = Keyring::open(&dir.0, &me, policy(), T0).unwrap();
    let mode = std::fs::metadata(dir.0.join("keys.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "keys.db is open to others: {mode:o}");
}

/// Whether `needle` is in the database file, its write-ahead log or its journal.
fn in_files(file: &std::path::Path, needle: &[u8]) -> bool {
    ["", "-wal", "-journal"].iter().any(|suffix| {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        std::fs::read(PathBuf::from(name))
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
    })
}

#[test]
fn a_rotated_key_opens_until_keep_after_then_is_gone_from_the_file() {
    let dir = Dir::new("rotate");
    let me = Identity::generate().unwrap();
    let mut keys = Keyring::open(&dir.0, &me, policy(), T0).unwrap();
    let old_bundle = keys.bundle(T0).unwrap();
    let old_secret = keys.own[0].secret.to_bytes();
    let file = dir.0.join("keys.db");
    assert!(
        in_files(&file, &old_secret),
        "the test reads the right bytes"
    );

    // bob seals to the old key while the device is offline.
    let mut bob = peer();
    bob.learn(me.id(), std::slice::from_ref(&old_bundle), T0)
        .unwrap();
    keys.learn(bob.me(), &[bob.bundle(T0).unwrap()], T0)
        .unwrap();
    let sealed = bob
        .seal_direct(me.id(), MsgId(1), &Payload::Text("late".into()), T0)
        .unwrap();

    // A day later the device rotates; the old key is retired, not erased.
    let t1 = Timestamp(T0.0 + DAY);
    let new_bundle = keys.bundle(t1).unwrap();
    assert_ne!(new_bundle.sealing, old_bundle.sealing);
    let before_end = Timestamp(t1.0 + 2 * DAY - 1);
    let mut again = Keyring::open(&dir.0, &me, policy(), before_end).unwrap();
    assert_eq!(
        again.open_direct(bob.me(), MsgId(1), &sealed, before_end),
        Ok(Payload::Text("late".into()))
    );
    drop(again);

    // keep_after after the retirement, it is erased: from memory and from the files.
    let after_end = Timestamp(t1.0 + 2 * DAY);
    keys.bundle(after_end).unwrap();
    assert_eq!(
        keys.open_direct(bob.me(), MsgId(1), &sealed, after_end),
        Err(Problem::NotForMe)
    );
    assert!(
        !in_files(&file, &old_secret),
        "the old key is still in keys.db or its log"
    );
    let reopened = Keyring::open(&dir.0, &me, policy(), after_end).unwrap();
    assert!(
        reopened
            .own
            .iter()
            .all(|key| key.public != old_bundle.sealing)
    );
}

#[test]
fn idle_room_sessions_in_and_out_are_erased_after_keep_after() {
    let dir = Dir::new("rooms");
    let me = Identity::generate().unwrap();
    let mut keys = Keyring::open(&dir.0, &me, policy(), T0).unwrap();
    let mut bob = peer();
    bob.learn(me.id(), &[keys.bundle(T0).unwrap()], T0).unwrap();
    keys.learn(bob.me(), &[bob.bundle(T0).unwrap()], T0)
        .unwrap();
    let room = Target::Everyone;
    let first = bob
        .seal_room(room, &[me.id()], MsgId(1), &Payload::Text("1".into()), T0)
        .unwrap();
    let second = bob
        .seal_room(room, &[me.id()], MsgId(2), &Payload::Text("2".into()), T0)
        .unwrap();
    let (to, share) = first.shares.into_iter().next().unwrap();
    let share = bob.seal_direct(to, MsgId(3), &share, T0).unwrap();
    let Ok(Payload::RoomKey(key)) = keys.open_direct(bob.me(), MsgId(3), &share, T0) else {
        panic!("share")
    };
    keys.accept_room_key(bob.me(), key, T0).unwrap();
    assert!(
        keys.open_room(bob.me(), room, MsgId(1), &first.sealed, T0)
            .is_ok()
    );
    keys.seal_room(room, &[bob.me()], MsgId(4), &Payload::Text("3".into()), T0)
        .unwrap();
    let later = Timestamp(T0.0 + 2 * DAY);
    let mut reopened = Keyring::open(&dir.0, &me, policy(), later).unwrap();
    let outbound_rows: i64 = rusqlite::Connection::open(dir.0.join("keys.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM outbound", [], |r| r.get(0))
        .unwrap();
    assert_eq!(outbound_rows, 0);
    assert_eq!(
        reopened.open_room(bob.me(), room, MsgId(2), &second.sealed, later),
        Err(Problem::NoRoomKey)
    );
}

#[test]
fn two_keyrings_rotating_at_once_leave_one_unretired_key() {
    // Rotation is decided and written in one transaction (finding 6): whichever process
    // rotates second sees the first's key and makes none. (The interleaving itself is
    // not reproducible in one thread; this guards the sequential case.)
    let dir = Dir::new("rotate");
    let me = Identity::generate().unwrap();
    let mut listen = Keyring::open(&dir.0, &me, policy(), T0).unwrap();
    let mut say = Keyring::open(&dir.0, &me, policy(), T0).unwrap();
    let t1 = Timestamp(T0.0 + DAY + 1);
    let first = listen.bundle(t1).unwrap();
    assert_eq!(say.bundle(t1).unwrap(), first);
    let conn = rusqlite::Connection::open(dir.0.join("keys.db")).unwrap();
    let unretired: i64 = conn
        .query_row(
            "SELECT count(*) FROM sealing WHERE retired IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unretired, 1);
}

#[test]
fn a_checkpoint_a_reader_blocked_after_an_erasure_is_retried_at_the_next_open() {
    // Finding 6: erased secrets must not stay in the write-ahead log because a reader
    // held it at the time; the next open empties it.
    let dir = Dir::new("checkpoint");
    let me = Identity::generate().unwrap();
    let mut keys = Keyring::open(&dir.0, &me, policy(), T0).unwrap();
    let mut bob = peer();
    keys.learn(bob.me(), &[bob.bundle(T0).unwrap()], T0)
        .unwrap();
    let room = Target::Group(GroupId(5));
    keys.seal_room(room, &[bob.me()], MsgId(1), &Payload::Text("x".into()), T0)
        .unwrap();
    let db = dir.0.join("keys.db");
    let reader = rusqlite::Connection::open(&db).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM outbound;")
        .unwrap();
    keys.end_room(room);
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    let pending = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM chores", [], |r| r.get(0))
            .unwrap()
    };
    let look = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(pending(&look), 1, "the blocked checkpoint is remembered");
    drop(look);
    drop(keys);
    let _again = Keyring::open(&dir.0, &me, policy(), T0).unwrap();
    let wal = std::fs::metadata(dir.0.join("keys.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the log was emptied at open");
    let look = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(pending(&look), 0);
}
