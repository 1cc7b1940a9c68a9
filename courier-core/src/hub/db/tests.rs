//! The hub's database on real SQLite files: what it keeps comes back, and every file it
//! cannot use is refused with its own error and left byte for byte as it was.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rusqlite::params;
use serde_bytes::ByteBuf;

use super::schema::APPLICATION_ID;
use super::*;
use crate::proto::{Sealed, Target};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!(
            "courier-db-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }
    fn file(&self) -> PathBuf {
        self.0.join("hub.db")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn member(n: u8, name: &str) -> Member {
    Member {
        id: ClientId([n; 32]),
        profile: Profile {
            status: format!("status of {name}"),
            avatar: ByteBuf::from(vec![n; 100]),
            ..Profile::with_name(name)
        },
        first_seen: Some(Timestamp(1_600_000_000_000)),
        last_seen: Timestamp(1_700_000_000_000 + u64::from(n)),
        logins: u32::from(n),
        avatar_changed: n.is_multiple_of(2).then_some(Timestamp(1_700_000_000_000)),
        remembered_since: n.is_multiple_of(3).then_some(Timestamp(1_650_000_000_000)),
        card_mark: Default::default(),
    }
}

fn sorted(mut m: Vec<Member>) -> Vec<Member> {
    m.sort_by_key(|m| m.id);
    m
}

#[test]
fn members_written_come_back_after_reopening_and_forgotten_ones_do_not() {
    let dir = Dir::new("roundtrip");
    let db = Db::open(&dir.file()).unwrap();
    assert!(db.members().unwrap().is_empty());
    db.write(&[
        Record::Member(member(1, "Ada")),
        Record::Member(member(2, "Bob")),
        Record::Member(member(3, "Cy")),
    ])
    .unwrap();
    // A later write of the same member replaces it; a forgotten one is gone.
    let mut ada = member(1, "Ada");
    ada.profile.status = "back later".into();
    ada.logins = 9;
    db.write(&[
        Record::Member(ada.clone()),
        Record::Forget(ClientId([3; 32])),
    ])
    .unwrap();
    drop(db);

    let db = Db::open(&dir.file()).unwrap();
    assert_eq!(sorted(db.members().unwrap()), vec![ada, member(2, "Bob")]);
    assert_eq!(db.member_count().unwrap(), 2);
    assert!(db.has_member(&ClientId([2; 32])).unwrap());
    assert!(!db.has_member(&ClientId([3; 32])).unwrap());
}

#[test]
fn a_new_file_is_marked_as_courier_s_with_the_current_schema() {
    let dir = Dir::new("marked");
    drop(Db::open(&dir.file()).unwrap());
    let raw = Connection::open(dir.file()).unwrap();
    let app: i32 = raw
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    let version: u32 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let journal: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        (app, version, journal.as_str()),
        (APPLICATION_ID, SCHEMA_VERSION, "wal")
    );
}

#[test]
fn an_empty_sqlite_file_is_adopted() {
    let dir = Dir::new("empty");
    drop(Connection::open(dir.file()).unwrap());
    let db = Db::open(&dir.file()).unwrap();
    db.write(&[Record::Member(member(4, "Dee"))]).unwrap();
    assert_eq!(db.members().unwrap(), vec![member(4, "Dee")]);
}

/// Opens `file`, expects `check` of the error, and that the file is unchanged.
fn refused(file: &Path, check: impl Fn(&Error) -> bool) -> String {
    let before = std::fs::read(file).unwrap();
    let err = Db::open(file).expect_err("the file is refused");
    assert!(check(&err), "unexpected error: {err:?}");
    assert_eq!(
        std::fs::read(file).unwrap(),
        before,
        "the file was left as it is"
    );
    let text = err.to_string();
    assert!(
        text.contains(&file.display().to_string()),
        "names the file: {text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");
    text
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let dir = Dir::new("notdb");
    std::fs::write(dir.file(), b"name,password\nada,hunter2\n".repeat(200)).unwrap();
    let text = refused(&dir.file(), |e| matches!(e, Error::Corrupt { .. }));
    assert!(text.contains("damaged or not a database"), "{text}");
}

#[test]
fn a_damaged_database_is_refused_and_left_alone() {
    let dir = Dir::new("damaged");
    let db = Db::open(&dir.file()).unwrap();
    db.write(&[Record::Member(member(1, "Ada"))]).unwrap();
    drop(db);
    // Folded into the main file by closing; now scribble over its pages past the header.
    let mut bytes = std::fs::read(dir.file()).unwrap();
    assert!(bytes.len() > 1024, "a real database file");
    for b in bytes.iter_mut().skip(100) {
        *b = 0xA5;
    }
    std::fs::write(dir.file(), &bytes).unwrap();
    refused(&dir.file(), |e| matches!(e, Error::Corrupt { .. }));
}

#[test]
fn another_program_s_database_is_refused_and_left_alone() {
    let dir = Dir::new("foreign");
    let raw = Connection::open(dir.file()).unwrap();
    raw.execute_batch("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('bread');")
        .unwrap();
    drop(raw);
    let text = refused(&dir.file(), |e| matches!(e, Error::Foreign { .. }));
    assert!(text.contains("another program"), "{text}");
}

#[test]
fn a_newer_courier_s_database_is_refused_and_left_alone() {
    let dir = Dir::new("newer");
    drop(Db::open(&dir.file()).unwrap());
    let raw = Connection::open(dir.file()).unwrap();
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    // Fold the WAL in so the file alone says it all.
    raw.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(raw);
    let text = refused(&dir.file(), |e| {
        matches!(e, Error::Newer { found, supported, .. }
            if *found == SCHEMA_VERSION + 1 && *supported == SCHEMA_VERSION)
    });
    assert!(text.contains("update Courier"), "{text}");
}

#[test]
fn rows_that_no_longer_read_as_profiles_are_skipped_not_fatal() {
    let dir = Dir::new("badrow");
    let db = Db::open(&dir.file()).unwrap();
    db.write(&[Record::Member(member(1, "Ada"))]).unwrap();
    drop(db);
    let raw = Connection::open(dir.file()).unwrap();
    raw.execute(
        "INSERT INTO members (id, profile, last_seen, logins) VALUES (?1, ?2, 0, 1)",
        params![&[9u8; 32][..], &b"\xff\xff not cbor"[..]],
    )
    .unwrap();
    // A profile over today's limits (an empty name) is left out too.
    let mut blank = Vec::new();
    ciborium::into_writer(&Profile::default(), &mut blank).unwrap();
    raw.execute(
        "INSERT INTO members (id, profile, last_seen, logins) VALUES (?1, ?2, 0, 1)",
        params![&[8u8; 32][..], &blank],
    )
    .unwrap();
    drop(raw);
    let db = Db::open(&dir.file()).unwrap();
    assert_eq!(db.members().unwrap(), vec![member(1, "Ada")]);
}

/// Hardening N8: a member kept with a name that reads as an id (allowed before hubs
/// refused those) is still a member; its next login must pick another name.
#[test]
fn a_member_named_like_an_id_before_it_was_refused_is_kept() {
    let dir = Dir::new("idname");
    let db = Db::open(&dir.file()).unwrap();
    let old = member(2, "deadbeefcafe0123");
    db.write(&[Record::Member(old.clone())]).unwrap();
    drop(db);
    let db = Db::open(&dir.file()).unwrap();
    assert_eq!(db.members().unwrap(), vec![old]);
}

/// Likewise a member kept with a name that reads as a group ("#ops", refused since
/// groups): still a member, who must pick another name at its next login.
#[test]
fn a_member_named_like_a_group_before_it_was_refused_is_kept() {
    let dir = Dir::new("groupname");
    let db = Db::open(&dir.file()).unwrap();
    let old = member(2, "#ops");
    db.write(&[Record::Member(old.clone())]).unwrap();
    drop(db);
    let db = Db::open(&dir.file()).unwrap();
    assert_eq!(db.members().unwrap(), vec![old]);
}

#[cfg(unix)]
#[test]
fn a_read_only_database_is_refused() {
    let dir = Dir::new("readonly");
    drop(Db::open(&dir.file()).unwrap());
    let ro = crate::sqlite::testing::ReadOnly::new(&dir.file());
    let text = refused(&ro.file, |e| matches!(e, Error::ReadOnly { .. }));
    assert!(text.contains("read-only"), "{text}");
}

fn stored(to: u8, from: u8, id: u64, text: &str, time: u64) -> Record {
    Record::Message {
        to: ClientId([to; 32]),
        message: std::sync::Arc::new(SealedMessage {
            id: MsgId(id),
            from: ClientId([from; 32]),
            to: Target::Client(ClientId([to; 32])),
            sealed: Sealed::from(text.as_bytes().to_vec()),
            time: Timestamp(time),
            seq: None,
        }),
    }
}

#[test]
fn the_backlog_s_counts_follow_every_write_and_pages_come_oldest_first() {
    let dir = Dir::new("backlog");
    let db = Db::open(&dir.file()).unwrap();
    db.write(&[
        stored(2, 1, 1, "one", 10),
        stored(2, 1, 2, "two!", 20),
        stored(3, 1, 3, "for carol", 30),
        stored(2, 1, 4, "three", 40),
    ])
    .unwrap();
    let mut backlogs = db.backlogs().unwrap();
    backlogs.sort_by_key(|w| w.to);
    assert_eq!(
        backlogs,
        vec![
            Backlog {
                to: ClientId([2; 32]),
                from: ClientId([1; 32]),
                count: 3,
                bytes: 12
            },
            Backlog {
                to: ClientId([3; 32]),
                from: ClientId([1; 32]),
                count: 1,
                bytes: 9
            },
        ]
    );
    // A page, read after the same write's delivery: oldest first, the delivered gone.
    let written = db
        .write(&[
            Record::Fetch {
                to: ClientId([2; 32]),
                limit: 1,
            },
            Record::Delivered {
                to: ClientId([2; 32]),
                messages: vec![(ClientId([1; 32]), MsgId(1))],
            },
        ])
        .unwrap();
    assert_eq!(written.loaded.len(), 1);
    let page = &written.loaded[0];
    assert_eq!(
        page.messages
            .iter()
            .map(|m| m.sealed.as_bytes())
            .collect::<Vec<_>>(),
        [b"two!"]
    );
    assert_eq!(page.remaining, 1);
    assert_eq!(page.messages[0].time, Timestamp(20), "with its time");
    // Past their age: forgotten, and said.
    let written = db
        .write(&[Record::Expire {
            before: Timestamp(35),
        }])
        .unwrap();
    let mut expired = written.expired;
    expired.sort_by_key(|w| w.to);
    assert_eq!(
        expired,
        vec![
            Backlog {
                to: ClientId([2; 32]),
                from: ClientId([1; 32]),
                count: 1,
                bytes: 4
            },
            Backlog {
                to: ClientId([3; 32]),
                from: ClientId([1; 32]),
                count: 1,
                bytes: 9
            },
        ]
    );
    assert_eq!(
        db.backlogs().unwrap(),
        vec![Backlog {
            to: ClientId([2; 32]),
            from: ClientId([1; 32]),
            count: 1,
            bytes: 5
        }],
        "Carol's row is gone once nothing waits for her"
    );
}

/// N13: bans are kept, the owner's requests wait for a hub (or are settled on the
/// file when none takes them), and what each sender left is counted per sender.
#[test]
fn bans_requests_and_what_each_sender_left() {
    let dir = Dir::new("bans");
    let db = Db::open(&dir.file()).unwrap();
    let (mallory, alice, bob) = (ClientId([1; 32]), ClientId([3; 32]), ClientId([2; 32]));
    let message = |from: ClientId, id: u64, text: &str| Record::Message {
        to: bob,
        message: Arc::new(SealedMessage {
            id: MsgId(id),
            from,
            to: Target::Client(bob),
            sealed: Sealed::from(text.as_bytes().to_vec()),
            time: Timestamp(1_700_000_000_000),
            seq: None,
        }),
    };
    db.write(&[
        message(mallory, 1, "one"),
        message(mallory, 2, "two"),
        message(alice, 3, "three"),
        Record::Offer(StoredOffer {
            id: TransferId(9),
            from: mallory,
            to: bob,
            sealed: Arc::new(Sealed::from(vec![1; 40])),
            created: Timestamp(1),
        }),
    ])
    .unwrap();
    let left = db.left_by_senders().unwrap();
    let of = |who: ClientId| *left.iter().find(|l| l.from == who).unwrap();
    assert_eq!(
        (
            of(mallory).messages,
            of(mallory).bytes,
            of(mallory).recipients,
            of(mallory).offers
        ),
        (2, 6, 1, 1)
    );
    assert_eq!((of(alice).messages, of(alice).offers), (1, 0));

    // A drop no hub took is carried out on the file; a second settle finds nothing.
    db.request_drop(&mallory).unwrap();
    assert!(db.is_requested(&mallory, Request::Drop).unwrap());
    assert_eq!(db.settle(&mallory, Request::Drop).unwrap(), Some((2, 1)));
    assert_eq!(db.settle(&mallory, Request::Drop).unwrap(), None);
    assert!(
        db.left_by_senders()
            .unwrap()
            .iter()
            .all(|l| l.from != mallory)
    );

    // A ban is kept; a hub takes it as a request; an unban after it is an unban.
    assert!(db.ban(&mallory, Timestamp(5)).unwrap());
    assert!(!db.ban(&mallory, Timestamp(6)).unwrap(), "already banned");
    db.request_drop(&alice).unwrap();
    let taken = db.take_owner_requests().unwrap();
    assert_eq!((taken.bans, taken.drops), (vec![mallory], vec![alice]));
    assert!(db.take_owner_requests().unwrap().is_empty());
    assert_eq!(db.bans().unwrap(), [(mallory, Timestamp(5))]);
    assert!(db.unban(&mallory).unwrap());
    assert_eq!(db.take_owner_requests().unwrap().unbans, [mallory]);
    assert!(db.bans().unwrap().is_empty());
}

/// Whether `needle` occurs in the database file or its write-ahead log.
fn on_disk(file: &Path, needle: &[u8]) -> bool {
    let mut wal = file.as_os_str().to_owned();
    wal.push("-wal");
    [file.to_owned(), PathBuf::from(wal)].iter().any(|f| {
        std::fs::read(f)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
    })
}

/// A hub.db of schema 9 (before end-to-end encryption) at `file`, holding a message for an
/// offline member, a group message and a kept offer in the clear (each with a canary).
fn plain_hub_db(file: &Path) {
    let before = crate::sqlite::Schema {
        application_id: APPLICATION_ID,
        migrations: &super::schema::MIGRATIONS[..9],
    };
    let conn = crate::sqlite::open(file, &before).unwrap();
    let (alice, bob) = (ClientId([1; 32]), ClientId([2; 32]));
    let manifest = crate::proto::Manifest {
        files: vec![crate::proto::FileEntry {
            path: "CANARY-file-name.pdf".into(),
            size: 10,
        }],
        ..crate::proto::Manifest::default()
    };
    let created = crate::proto::encode(&crate::proto::GroupChange::Created { name: "ops".into() });
    let profile = crate::proto::encode(&Profile::with_name("alice"));
    let (a, b) = (&alice.0[..], &bob.0[..]);
    conn.execute(
        "INSERT INTO members (id, profile, last_seen, logins) VALUES (?1, ?2, 1, 2)",
        params![a, profile],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO stored (recipient, sender, id, text, time)
         VALUES (?1, ?2, 1, 'CANARY-stored-text', 1)",
        params![b, a],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO groups (id, name, created_by, last) VALUES (7, 'ops', ?1, 2)",
        params![a],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO group_members (grp, member, role, joined, got, read) VALUES (7, ?1, 2, 1, 0, 0)",
        params![a],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO group_entries (grp, seq, sender, id, text, change, time)
         VALUES (7, 1, ?1, 0, '', ?2, 1), (7, 2, ?1, 5, 'CANARY-group-text', NULL, 2)",
        params![a, created],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO offers (id, sender, recipient, manifest, created) VALUES (9, ?1, ?2, ?3, 1)",
        params![a, b, crate::proto::encode(&manifest)],
    )
    .unwrap();
    drop(conn);
}

/// Schema 10 (end-to-end encryption): a hub.db from before, holding a message for an
/// offline member, a group message and a kept offer in the clear, comes out with none of
/// their bytes left in the file or its log; the members and the group's membership
/// changes stay, and sealed rows are written from then on.
#[test]
fn the_step_to_sealed_envelopes_leaves_no_plain_text_on_the_disk() {
    let dir = Dir::new("sealing");
    let file = dir.file();
    plain_hub_db(&file);
    assert!(
        on_disk(&file, b"CANARY-stored-text"),
        "the canaries are there before"
    );

    let db = Db::open(&file).unwrap();
    for canary in [
        "CANARY-stored-text",
        "CANARY-group-text",
        "CANARY-file-name",
    ] {
        assert!(
            !on_disk(&file, canary.as_bytes()),
            "{canary} is gone from the disk"
        );
    }
    assert_eq!(db.members().unwrap().len(), 1, "members stay");
    assert_eq!(db.backlogs().unwrap(), vec![]);
    assert_eq!(db.offers().unwrap(), vec![]);
    let (groups, _) = db.groups().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].entries.len(), 1, "the membership change stays");
    // Sealed from now on.
    db.write(&[stored(2, 1, 3, "sealed bytes", 5)]).unwrap();
    assert_eq!(db.backlogs().unwrap()[0].bytes, "sealed bytes".len());
    drop(db);
    // Done once: opening again changes nothing.
    let again = Db::open(&file).unwrap();
    assert_eq!(again.backlogs().unwrap()[0].count, 1);
}

/// Proves the rebuild after the step to schema 10 is retried until it is done: while
/// another connection holds a read transaction open the write-ahead log cannot be
/// emptied, so the marker stays (the hub still opens); the next open, with the reader
/// gone, rebuilds the file, empties the log and drops the marker, leaving no canary.
#[test]
fn a_rebuild_that_could_not_finish_is_done_at_the_next_open() {
    let dir = Dir::new("sealing-retry");
    let file = dir.file();
    plain_hub_db(&file);
    let reader = rusqlite::Connection::open(&file).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM stored", [], |r| r.get(0))
        .unwrap();
    let marker = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'sealed_migration'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let db = Db::open(&file).unwrap();
    drop(db);
    reader.execute_batch("COMMIT").unwrap();
    assert_eq!(marker(&reader), 1, "not done yet: the marker stays");
    drop(reader);

    let db = Db::open(&file).unwrap();
    drop(db);
    let conn = rusqlite::Connection::open(&file).unwrap();
    assert_eq!(marker(&conn), 0, "done: the marker is gone");
    drop(conn);
    for canary in [
        "CANARY-stored-text",
        "CANARY-group-text",
        "CANARY-file-name",
    ] {
        assert!(!on_disk(&file, canary.as_bytes()), "{canary} is gone");
    }
}

/// Who was online at a clean stop comes back once, after reopening; the next stop
/// replaces it; a stop with nobody online, or none at all, reads as none.
#[test]
fn who_was_online_at_the_stop_is_taken_once() {
    let dir = Dir::new("stopped");
    let stop = |at, ids: &[u8]| {
        Record::Stopped(Stopped {
            at: Timestamp(at),
            online: ids.iter().map(|&n| ClientId([n; 32])).collect(),
        })
    };
    {
        let db = Db::open(&dir.file()).unwrap();
        assert_eq!(db.take_stopped().unwrap(), None, "never stopped");
        db.write(&[stop(5, &[1, 2, 3])]).unwrap();
        db.write(&[stop(9, &[2, 4])]).unwrap();
    }
    let db = Db::open(&dir.file()).unwrap();
    let taken = db.take_stopped().unwrap().unwrap();
    assert_eq!(taken.at, Timestamp(9));
    assert_eq!(taken.online, vec![ClientId([2; 32]), ClientId([4; 32])]);
    assert_eq!(db.take_stopped().unwrap(), None, "taken");
    db.write(&[stop(12, &[])]).unwrap();
    assert_eq!(db.take_stopped().unwrap(), None, "nobody was online");
}
