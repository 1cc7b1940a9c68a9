//! The hub database's schema: its mark and one migration step per version.

/// `PRAGMA application_id` of a Courier hub database ("CrHb").
pub(super) const APPLICATION_ID: i32 = 0x4372_4862;

/// The hub database's mark and schema steps.
pub(super) const SCHEMA: crate::sqlite::Schema = crate::sqlite::Schema {
    application_id: APPLICATION_ID,
    migrations: MIGRATIONS,
};

/// The schema, one step per version: `MIGRATIONS[n]` takes version `n` to `n + 1`.
/// Steps are only ever appended.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: members.
    "CREATE TABLE members (
        id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 32),
        profile BLOB NOT NULL,
        last_seen INTEGER NOT NULL,
        logins INTEGER NOT NULL,
        avatar_changed INTEGER
    ) STRICT;",
    // 2: when each member first came, remembered devices, and the owner's requests to
    // forget one, which a running hub picks up.
    "ALTER TABLE members ADD COLUMN first_seen INTEGER;
     ALTER TABLE members ADD COLUMN remembered_since INTEGER;
     CREATE TABLE forget_requests (id BLOB PRIMARY KEY NOT NULL) STRICT;",
    // 3: messages stored for offline contacts, in the order they came.
    "CREATE TABLE stored (
        seq INTEGER PRIMARY KEY,
        recipient BLOB NOT NULL CHECK (length(recipient) = 32),
        sender BLOB NOT NULL CHECK (length(sender) = 32),
        id INTEGER NOT NULL,
        text TEXT NOT NULL,
        time INTEGER NOT NULL
    ) STRICT;
     CREATE INDEX stored_by_recipient ON stored (recipient, sender, id);",
    // 4: a recipient's backlog in the order it came (an index entry ends with the
    // row's seq), read a page at a time; by time, to forget what is too old without
    // reading the rest; and how much waits for each recipient, kept
    // in step by triggers, so a start reads one row per recipient, not every message.
    "CREATE INDEX stored_in_order ON stored (recipient);
     CREATE INDEX stored_by_time ON stored (time);
     CREATE TABLE backlog (
        recipient BLOB PRIMARY KEY NOT NULL,
        count INTEGER NOT NULL,
        bytes INTEGER NOT NULL
     ) STRICT, WITHOUT ROWID;
     INSERT INTO backlog
        SELECT recipient, count(*), sum(octet_length(text)) FROM stored GROUP BY recipient;
     CREATE TRIGGER stored_added AFTER INSERT ON stored BEGIN
        INSERT INTO backlog VALUES (new.recipient, 1, octet_length(new.text))
            ON CONFLICT (recipient) DO UPDATE SET
                count = count + 1, bytes = bytes + octet_length(new.text);
     END;
     CREATE TRIGGER stored_removed AFTER DELETE ON stored BEGIN
        UPDATE backlog SET count = count - 1, bytes = bytes - octet_length(old.text)
            WHERE recipient = old.recipient;
        DELETE FROM backlog WHERE recipient = old.recipient AND count <= 0;
     END;",
    // 5: file offers stored until their recipient answers (names and sizes: the
    // manifest as CBOR; never the files).
    "CREATE TABLE offers (
        id INTEGER PRIMARY KEY,
        sender BLOB NOT NULL CHECK (length(sender) = 32),
        recipient BLOB NOT NULL CHECK (length(recipient) = 32),
        manifest BLOB NOT NULL,
        created INTEGER NOT NULL
     ) STRICT;",
    // 6: how much waits for each recipient from each sender (the hub gives each
    // sender a share of a recipient's room and of its own), kept in step by triggers
    // like the per-recipient backlog it replaces.
    "DROP TRIGGER stored_added;
     DROP TRIGGER stored_removed;
     DROP TABLE backlog;
     CREATE TABLE backlog (
        recipient BLOB NOT NULL,
        sender BLOB NOT NULL,
        count INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        PRIMARY KEY (recipient, sender)
     ) STRICT, WITHOUT ROWID;
     INSERT INTO backlog
        SELECT recipient, sender, count(*), sum(octet_length(text))
        FROM stored GROUP BY recipient, sender;
     CREATE INDEX backlog_by_sender ON backlog (sender);
     CREATE TRIGGER stored_added AFTER INSERT ON stored BEGIN
        INSERT INTO backlog VALUES (new.recipient, new.sender, 1, octet_length(new.text))
            ON CONFLICT (recipient, sender) DO UPDATE SET
                count = count + 1, bytes = bytes + octet_length(new.text);
     END;
     CREATE TRIGGER stored_removed AFTER DELETE ON stored BEGIN
        UPDATE backlog SET count = count - 1, bytes = bytes - octet_length(old.text)
            WHERE recipient = old.recipient AND sender = old.sender;
        DELETE FROM backlog
            WHERE recipient = old.recipient AND sender = old.sender AND count <= 0;
     END;",
    // 7: identities the owner banned, and the owner's requests (`courier hub ban`,
    // `unban`, `drop --from`) that a running hub picks up, as it does forget requests.
    "CREATE TABLE bans (
        id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 32),
        since INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE ban_requests (id BLOB PRIMARY KEY NOT NULL) STRICT;
     CREATE TABLE drop_requests (id BLOB PRIMARY KEY NOT NULL) STRICT;",
    // 8: `delivered` receipts owed to offline senders (their stored messages were taken
    // while they were away), handed over at their next login, oldest first.
    "CREATE TABLE owed_receipts (
        seq INTEGER PRIMARY KEY,
        sender BLOB NOT NULL CHECK (length(sender) = 32),
        id INTEGER NOT NULL
     ) STRICT;
     CREATE INDEX owed_receipts_by_sender ON owed_receipts (sender);",
    // 9: groups: each group, its members with their roles and positions (joined, handed
    // over up to, read up to), one row per entry of its log that some member has not been
    // handed (a message's text, or a change as CBOR), the next group id (never reused),
    // and the owner's requests to remove someone from a group.
    "CREATE TABLE groups (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        created_by BLOB NOT NULL CHECK (length(created_by) = 32),
        last INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE group_members (
        grp INTEGER NOT NULL,
        member BLOB NOT NULL CHECK (length(member) = 32),
        role INTEGER NOT NULL,
        joined INTEGER NOT NULL,
        got INTEGER NOT NULL,
        read INTEGER NOT NULL,
        PRIMARY KEY (grp, member)
     ) STRICT, WITHOUT ROWID;
     CREATE TABLE group_entries (
        grp INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        sender BLOB NOT NULL,
        id INTEGER NOT NULL,
        text TEXT NOT NULL,
        change BLOB,
        time INTEGER NOT NULL,
        PRIMARY KEY (grp, seq)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX group_entries_by_time ON group_entries (time);
     CREATE TABLE group_next (one INTEGER PRIMARY KEY CHECK (one = 0), next INTEGER NOT NULL)
        STRICT;
     CREATE TABLE group_remove_requests (
        grp INTEGER NOT NULL,
        member BLOB NOT NULL,
        PRIMARY KEY (grp, member)
     ) STRICT, WITHOUT ROWID;",
    // 10: end-to-end encryption. Messages, group messages and kept offers are sealed
    // envelopes (BLOBs the hub cannot open); what was stored before in the clear is
    // deleted, overwritten on the disk (`secure_delete`), and counted in
    // `sealed_migration` for `Db::open` to log, VACUUM and checkpoint away. Membership
    // changes in group logs stay (they are not private). Members' published keys get a
    // table.
    "PRAGMA secure_delete = ON;
     CREATE TABLE sealed_migration (deleted INTEGER NOT NULL) STRICT;
     INSERT INTO sealed_migration SELECT
        (SELECT count(*) FROM stored)
        + (SELECT count(*) FROM group_entries WHERE change IS NULL)
        + (SELECT count(*) FROM offers);
     DELETE FROM stored;
     DROP TABLE stored;
     DELETE FROM backlog;
     CREATE TABLE stored (
        seq INTEGER PRIMARY KEY,
        recipient BLOB NOT NULL CHECK (length(recipient) = 32),
        sender BLOB NOT NULL CHECK (length(sender) = 32),
        id INTEGER NOT NULL,
        sealed BLOB NOT NULL,
        time INTEGER NOT NULL
     ) STRICT;
     CREATE INDEX stored_by_recipient ON stored (recipient, sender, id);
     CREATE INDEX stored_in_order ON stored (recipient);
     CREATE INDEX stored_by_time ON stored (time);
     CREATE TRIGGER stored_added AFTER INSERT ON stored BEGIN
        INSERT INTO backlog VALUES (new.recipient, new.sender, 1, octet_length(new.sealed))
            ON CONFLICT (recipient, sender) DO UPDATE SET
                count = count + 1, bytes = bytes + octet_length(new.sealed);
     END;
     CREATE TRIGGER stored_removed AFTER DELETE ON stored BEGIN
        UPDATE backlog SET count = count - 1, bytes = bytes - octet_length(old.sealed)
            WHERE recipient = old.recipient AND sender = old.sender;
        DELETE FROM backlog
            WHERE recipient = old.recipient AND sender = old.sender AND count <= 0;
     END;
     CREATE TABLE group_entries_sealed (
        grp INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        sender BLOB NOT NULL,
        id INTEGER NOT NULL,
        sealed BLOB NOT NULL,
        change BLOB,
        time INTEGER NOT NULL,
        PRIMARY KEY (grp, seq)
     ) STRICT, WITHOUT ROWID;
     INSERT INTO group_entries_sealed
        SELECT grp, seq, sender, id, X'', change, time FROM group_entries
        WHERE change IS NOT NULL;
     DELETE FROM group_entries;
     DROP TABLE group_entries;
     ALTER TABLE group_entries_sealed RENAME TO group_entries;
     CREATE INDEX group_entries_by_time ON group_entries (time);
     DELETE FROM offers;
     DROP TABLE offers;
     CREATE TABLE offers (
        id INTEGER PRIMARY KEY,
        sender BLOB NOT NULL CHECK (length(sender) = 32),
        recipient BLOB NOT NULL CHECK (length(recipient) = 32),
        sealed BLOB NOT NULL,
        created INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE bundles (
        member BLOB NOT NULL CHECK (length(member) = 32),
        rank INTEGER NOT NULL,
        bundle BLOB NOT NULL,
        PRIMARY KEY (member, rank)
     ) STRICT, WITHOUT ROWID;",
    // 11: when each member's card last changed (the contact list's mark), so a client
    // coming back after a restart is sent only the cards changed since it left.
    "ALTER TABLE members ADD COLUMN card_mark INTEGER NOT NULL DEFAULT 0;",
    // 12: who was online when the hub stopped cleanly, so that members coming back
    // after a restart are not news to each other.
    "CREATE TABLE stopped_online (
        id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 32),
        at INTEGER NOT NULL
     ) STRICT, WITHOUT ROWID;",
];

/// The schema version this Courier writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// After the step to version 10 (end-to-end encryption): logs how many rows stored in
/// the clear it deleted (one line), then rebuilds the file (`VACUUM`) and empties the
/// write-ahead log, so that none of their bytes stays on the disk. Done once: the count
/// is dropped only after both succeeded (a hub stopped halfway, or whose rebuild failed,
/// does it at its next start).
pub(super) fn after_sealing(
    conn: &rusqlite::Connection,
    path: &std::path::Path,
) -> Result<(), crate::sqlite::Error> {
    let e = |e| crate::sqlite::classify(path, e);
    let pending: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'sealed_migration'",
            [],
            |r| r.get(0),
        )
        .map_err(e)?;
    if pending == 0 {
        return Ok(());
    }
    let deleted: i64 = conn
        .query_row(
            "SELECT coalesce(sum(deleted), 0) FROM sealed_migration",
            [],
            |r| r.get(0),
        )
        .map_err(e)?;
    conn.pragma_update(None, "secure_delete", "ON").map_err(e)?;
    // The marker goes only once the file is rebuilt and the log emptied: a rebuild that
    // fails (another process reading, a full disk) is tried again at the next open.
    let rebuilt = conn.execute_batch("VACUUM").and_then(|()| {
        // (busy, log pages, checkpointed pages): busy means a reader kept the log.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        })
    });
    match rebuilt {
        Ok(0) => {}
        Ok(_) => {
            tracing::warn!(
                db = %path.display(),
                "end-to-end encryption: the write-ahead log could not be emptied (another \
                 process is reading); trying again at the next start"
            );
            return Ok(());
        }
        Err(err) => {
            tracing::warn!(
                db = %path.display(),
                "end-to-end encryption: the file could not be rebuilt ({err}); trying again \
                 at the next start"
            );
            return Ok(());
        }
    }
    conn.execute_batch("DROP TABLE sealed_migration")
        .map_err(e)?;
    tracing::info!(
        db = %path.display(),
        "end-to-end encryption: deleted {deleted} messages and file offers stored in the clear before"
    );
    Ok(())
}
