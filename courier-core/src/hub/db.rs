//! The hub's database: one SQLite file (`hub.db` in the hub's folder, WAL) holding what
//! the hub must not forget when it stops: its members, with their profiles (pictures
//! included), last seen and how often they came.
//!
//! The [`Hub`](super::Hub) machine does no I/O: it hands out [`Record`]s
//! ([`Hub::poll_store`](super::Hub::poll_store)) and is given the members back at start
//! ([`Hub::restore`](super::Hub::restore)). The driver ([`serve`](super::serve)) owns
//! the database on a thread of its own and commits what piled up in one transaction,
//! so the routing path never waits on the disk.
//!
//! The schema is versioned (`PRAGMA user_version`) and migrated forward in order; the
//! file is marked as Courier's (`PRAGMA application_id`). A file that is damaged, not a
//! database, another program's, from a newer Courier or read-only is a one-line error
//! naming it; the hub never deletes or overwrites it to start over.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};

use crate::sqlite::{classify, sql_time, timestamp};

use crate::proto::{
    ClientId, Manifest, Message, MsgId, Profile, ProfileError, Target, Timestamp, TransferId,
    validate_profile,
};

/// `PRAGMA application_id` of a Courier hub database ("CrHb").
const APPLICATION_ID: i32 = 0x4372_4862;

/// The hub database's mark and schema steps.
const SCHEMA: crate::sqlite::Schema = crate::sqlite::Schema {
    application_id: APPLICATION_ID,
    migrations: MIGRATIONS,
};

/// The schema, one step per version: `MIGRATIONS[n]` takes version `n` to `n + 1`.
/// Steps are only ever appended.
const MIGRATIONS: &[&str] = &[
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
    // 3: messages kept for offline contacts, in the order they came.
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
    // 5: file offers kept until their recipient answers (names and sizes: the
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
];

/// The schema version this Courier writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub use crate::sqlite::Error;

/// One member as the hub keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's identity (certificate fingerprint).
    pub id: ClientId,
    /// Its profile, picture included.
    pub profile: Profile,
    /// When it first logged in (`None`: before the hub kept that).
    pub first_seen: Option<Timestamp>,
    /// When it was last online.
    pub last_seen: Timestamp,
    /// How many times it logged in (once: it never came back).
    pub logins: u32,
    /// When its picture last changed (pictures change at most once a minute).
    pub avatar_changed: Option<Timestamp>,
    /// Since when its device may log in without the password (`None`: it may not).
    pub remembered_since: Option<Timestamp>,
}

/// A file offer the hub keeps until its recipient answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptOffer {
    /// The hub's id of the transfer.
    pub id: TransferId,
    /// Who offers.
    pub from: ClientId,
    /// To whom.
    pub to: ClientId,
    /// Names and sizes (shared with the hub, which keeps it).
    pub manifest: Arc<Manifest>,
    /// When it was offered.
    pub created: Timestamp,
}

/// What the hub asks to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// A member joined or changed: keep it as it now is.
    Member(Member),
    /// The hub forgot a member (its directory was full): forget it here too.
    Forget(ClientId),
    /// A message for `to`, who is offline: keep it until they acknowledge it. Only
    /// once it is written does the sender hear `stored`.
    Message {
        /// The recipient.
        to: ClientId,
        /// The message, with its sender and time as the hub stamped them (shared with
        /// the hub, which keeps it: its text is not copied to be written).
        message: std::sync::Arc<Message>,
    },
    /// `to` acknowledged these messages (sender, id): forget them.
    Delivered {
        /// The recipient.
        to: ClientId,
        /// Each message's sender and id.
        messages: Vec<(ClientId, MsgId)>,
    },
    /// Not a write: read back the oldest `limit` messages kept for `to` and hand them
    /// to the hub ([`Hub::handle_loaded`](super::Hub::handle_loaded)). Fetches run after
    /// every other record of the same [`Db::write`], so they see what it wrote and not
    /// what it delivered. The backlog for offline contacts stays on the disk; a page
    /// comes up as it is handed over.
    Fetch {
        /// The recipient.
        to: ClientId,
        /// At most this many.
        limit: usize,
    },
    /// Forget every kept message stamped before `before` (older than the hub keeps
    /// them); what was forgotten goes back to the hub.
    Expire {
        /// The cut-off.
        before: Timestamp,
    },
    /// Forget every kept message to a recipient (a member that never came back), or
    /// from a sender (the owner dropped what a member left); what was forgotten goes
    /// back to the hub like an [`Record::Expire`]'s.
    Drop(Whose),
    /// Keep a file offer until its recipient answers it.
    Offer(KeptOffer),
    /// The offer was answered, withdrawn or is too old: forget it.
    OfferGone(TransferId),
}

/// Which kept messages a [`Record::Drop`] means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// Every message kept for this recipient.
    To(ClientId),
    /// Every message kept from this sender.
    From(ClientId),
}

/// What a [`Db::write`] read or forgot for the hub.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// Each [`Record::Fetch`]'s page.
    pub loaded: Vec<Loaded>,
    /// What [`Record::Expire`] and [`Record::Drop`] forgot, per recipient and sender.
    pub expired: Vec<Waiting>,
}

/// A page of the backlog read for [`Record::Fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The recipient.
    pub to: ClientId,
    /// Its oldest messages.
    pub messages: Vec<Message>,
    /// How many more wait after them.
    pub remaining: usize,
}

/// What waits on the disk for one offline contact from one sender (read at start,
/// instead of the messages themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// The recipient.
    pub to: ClientId,
    /// The sender.
    pub from: ClientId,
    /// How many messages.
    pub count: usize,
    /// Their texts' bytes.
    pub bytes: usize,
}

/// An open hub database. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Db {
    inner: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Db {
    /// Opens the database at `path`, creating it if it does not exist and migrating an
    /// older schema forward.
    ///
    /// # Errors
    /// See [`Error`]: damaged, foreign, newer and read-only files are refused and left
    /// untouched.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let conn = crate::sqlite::open(path, &SCHEMA)?;
        Ok(Self {
            inner: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every member kept. A row that no longer reads as a valid profile (damaged, or
    /// past today's limits) is left out, with a warning.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn members(&self) -> Result<Vec<Member>, Error> {
        let mut members = Vec::new();
        self.each_member(|m| members.push(m))?;
        Ok(members)
    }

    /// Gives `f` every member kept, one at a time, in the order a hub keeps them
    /// (members that came back more than once first, then the most recently seen):
    /// a hub restarting with many members never holds them twice.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn each_member(&self, mut f: impl FnMut(Member)) -> Result<(), Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn
            .prepare(
                "SELECT id, profile, last_seen, logins, avatar_changed, remembered_since,
                     first_seen
                 FROM members ORDER BY logins > 1 DESC, last_seen DESC",
            )
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                ))
            })
            .map_err(|e| classify(&self.path, e))?;
        for row in rows {
            let (id, profile, last_seen, logins, avatar_changed, remembered_since, first_seen) =
                row.map_err(|e| classify(&self.path, e))?;
            let Ok(id) = <[u8; 32]>::try_from(id.as_slice()) else {
                tracing::warn!(db = %self.path.display(), "a member row with a malformed id was skipped");
                continue;
            };
            let profile: Profile = match ciborium::from_reader(profile.as_slice()) {
                // A name that reads as an id was allowed before this build refused it:
                // the member stays (ids win over names, and lists tag such a name with
                // the id); it must pick another name at its next login.
                Ok(p)
                    if matches!(
                        validate_profile(&p),
                        Ok(()) | Err(ProfileError::NameLooksLikeId)
                    ) =>
                {
                    p
                }
                _ => {
                    tracing::warn!(db = %self.path.display(), "a member row with an unreadable profile was skipped");
                    continue;
                }
            };
            f(Member {
                id: ClientId(id),
                profile,
                first_seen: timestamp(first_seen),
                last_seen: Timestamp(u64::try_from(last_seen).unwrap_or(0)),
                logins: u32::try_from(logins).unwrap_or(u32::MAX),
                avatar_changed: timestamp(avatar_changed),
                remembered_since: timestamp(remembered_since),
            });
        }
        Ok(())
    }

    /// Writes `records` in one transaction: all of them are kept, or (on error) none.
    /// Returns what its [`Record::Fetch`]es read and its [`Record::Expire`]s forgot.
    ///
    /// # Errors
    /// If the disk is full, the file became read-only, or SQLite fails otherwise.
    pub fn write(&self, records: &[Record]) -> Result<Written, Error> {
        let mut written = Written::default();
        let mut conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction().map_err(|e| classify(&self.path, e))?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO members (id, profile, last_seen, logins, avatar_changed,
                         remembered_since, first_seen)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET profile = ?2, last_seen = ?3,
                         logins = ?4, avatar_changed = ?5, remembered_since = ?6,
                         first_seen = ?7",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut forget = tx
                .prepare_cached("DELETE FROM members WHERE id = ?1")
                .map_err(|e| classify(&self.path, e))?;
            let mut keep = tx
                .prepare_cached(
                    "INSERT INTO stored (recipient, sender, id, text, time)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut delivered = tx
                .prepare_cached(
                    "DELETE FROM stored WHERE recipient = ?1 AND sender = ?2 AND id = ?3",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut fetch = tx
                .prepare_cached(
                    "SELECT sender, id, text, time FROM stored WHERE recipient = ?1
                     ORDER BY seq LIMIT ?2",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut count = tx
                .prepare_cached("SELECT count(*) FROM stored WHERE recipient = ?1")
                .map_err(|e| classify(&self.path, e))?;
            let mut expire = tx
                .prepare_cached(
                    "DELETE FROM stored WHERE time < ?1
                     RETURNING recipient, sender, octet_length(text)",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut forget_to = tx
                .prepare_cached(
                    "DELETE FROM stored WHERE recipient = ?1
                     RETURNING recipient, sender, octet_length(text)",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut forget_from = tx
                .prepare_cached(
                    "DELETE FROM stored WHERE sender = ?1
                     RETURNING recipient, sender, octet_length(text)",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut keep_offer = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO offers (id, sender, recipient, manifest, created)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut offer_gone = tx
                .prepare_cached("DELETE FROM offers WHERE id = ?1")
                .map_err(|e| classify(&self.path, e))?;
            let mut profile = Vec::new();
            // Reads last: they see every write of the transaction.
            let writes = records
                .iter()
                .filter(|r| !matches!(r, Record::Fetch { .. }));
            let reads = records.iter().filter(|r| matches!(r, Record::Fetch { .. }));
            for record in writes.chain(reads) {
                match record {
                    Record::Member(m) => {
                        profile.clear();
                        // Encoding into a Vec cannot fail.
                        let _ = ciborium::into_writer(&m.profile, &mut profile);
                        upsert
                            .execute(params![
                                &m.id.0[..],
                                &profile,
                                sql_time(m.last_seen),
                                i64::from(m.logins),
                                m.avatar_changed.map(sql_time),
                                m.remembered_since.map(sql_time),
                                m.first_seen.map(sql_time),
                            ])
                            .map_err(|e| classify(&self.path, e))?;
                    }
                    Record::Offer(o) => {
                        keep_offer
                            .execute(params![
                                i64::from_ne_bytes(o.id.0.to_ne_bytes()),
                                &o.from.0[..],
                                &o.to.0[..],
                                crate::proto::encode(&*o.manifest),
                                sql_time(o.created),
                            ])
                            .map_err(|e| classify(&self.path, e))?;
                    }
                    Record::OfferGone(id) => {
                        offer_gone
                            .execute(params![i64::from_ne_bytes(id.0.to_ne_bytes())])
                            .map_err(|e| classify(&self.path, e))?;
                    }
                    Record::Forget(id) => {
                        forget
                            .execute(params![&id.0[..]])
                            .map_err(|e| classify(&self.path, e))?;
                    }
                    Record::Message { to, message } => {
                        keep.execute(params![
                            &to.0[..],
                            &message.from.0[..],
                            i64::from_ne_bytes(message.id.0.to_ne_bytes()),
                            &message.text,
                            sql_time(message.time),
                        ])
                        .map_err(|e| classify(&self.path, e))?;
                    }
                    Record::Delivered { to, messages } => {
                        for (from, id) in messages {
                            delivered
                                .execute(params![
                                    &to.0[..],
                                    &from.0[..],
                                    i64::from_ne_bytes(id.0.to_ne_bytes()),
                                ])
                                .map_err(|e| classify(&self.path, e))?;
                        }
                    }
                    Record::Fetch { to, limit } => {
                        let limit = i64::try_from(*limit).unwrap_or(i64::MAX);
                        let rows = fetch
                            .query_map(params![&to.0[..], limit], |r| {
                                Ok((
                                    r.get::<_, Vec<u8>>(0)?,
                                    r.get::<_, i64>(1)?,
                                    r.get::<_, String>(2)?,
                                    r.get::<_, i64>(3)?,
                                ))
                            })
                            .map_err(|e| classify(&self.path, e))?;
                        let mut page = Vec::new();
                        let mut read = 0;
                        for row in rows {
                            let (from, id, text, time) =
                                row.map_err(|e| classify(&self.path, e))?;
                            read += 1;
                            if let Some(m) = self.message(*to, &from, id, text, time) {
                                page.push(m);
                            }
                        }
                        let total: i64 = count
                            .query_row(params![&to.0[..]], |r| r.get(0))
                            .map_err(|e| classify(&self.path, e))?;
                        written.loaded.push(Loaded {
                            to: *to,
                            messages: page,
                            remaining: usize::try_from(total).unwrap_or(0).saturating_sub(read),
                        });
                    }
                    Record::Expire { before } => {
                        let rows = expire
                            .query_map(params![sql_time(*before)], forgotten_row)
                            .map_err(|e| classify(&self.path, e))?;
                        tally_forgotten(rows, &mut written.expired)
                            .map_err(|e| classify(&self.path, e))?;
                    }
                    Record::Drop(whose) => {
                        let (stmt, id) = match whose {
                            Whose::To(id) => (&mut forget_to, id),
                            Whose::From(id) => (&mut forget_from, id),
                        };
                        let rows = stmt
                            .query_map(params![&id.0[..]], forgotten_row)
                            .map_err(|e| classify(&self.path, e))?;
                        tally_forgotten(rows, &mut written.expired)
                            .map_err(|e| classify(&self.path, e))?;
                    }
                }
            }
        }
        tx.commit().map_err(|e| classify(&self.path, e))?;
        Ok(written)
    }

    /// A stored row as a message; `None` (with a warning) for one that does not read
    /// back (damaged).
    fn message(
        &self,
        to: ClientId,
        from: &[u8],
        id: i64,
        text: String,
        time: i64,
    ) -> Option<Message> {
        let Ok(from) = <[u8; 32]>::try_from(from) else {
            tracing::warn!(db = %self.path.display(), "a stored message with a malformed id was skipped");
            return None;
        };
        if !crate::proto::validate_text(&text) {
            tracing::warn!(db = %self.path.display(), "a stored message with an unusable text was skipped");
            return None;
        }
        Some(Message {
            id: MsgId(u64::from_ne_bytes(id.to_ne_bytes())),
            from: ClientId(from),
            to: Target::Client(to),
            text,
            time: Timestamp(u64::try_from(time).unwrap_or(0)),
        })
    }

    /// How many messages wait for each offline contact from each sender, and their
    /// bytes: what the hub needs at start (the messages stay on the disk until handed
    /// over).
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn waiting(&self) -> Result<Vec<Waiting>, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn
            .prepare("SELECT recipient, sender, count, bytes FROM backlog")
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })
            .map_err(|e| classify(&self.path, e))?;
        let mut waiting = Vec::new();
        for row in rows {
            let (to, from, count, bytes) = row.map_err(|e| classify(&self.path, e))?;
            let (Ok(to), Ok(from)) = (
                <[u8; 32]>::try_from(to.as_slice()),
                <[u8; 32]>::try_from(from.as_slice()),
            ) else {
                tracing::warn!(db = %self.path.display(), "stored messages with a malformed recipient or sender were skipped");
                continue;
            };
            waiting.push(Waiting {
                to: ClientId(to),
                from: ClientId(from),
                count: usize::try_from(count).unwrap_or(0),
                bytes: usize::try_from(bytes.unwrap_or(0)).unwrap_or(0),
            });
        }
        Ok(waiting)
    }

    /// Every file offer kept for a recipient, oldest first. One that does not decode or
    /// breaks the limits (a damaged row) is skipped with a warning.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn offers(&self) -> Result<Vec<KeptOffer>, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn
            .prepare("SELECT id, sender, recipient, manifest, created FROM offers ORDER BY created")
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| classify(&self.path, e))?;
        let mut offers = Vec::new();
        for row in rows {
            let (id, from, to, manifest, created) = row.map_err(|e| classify(&self.path, e))?;
            let decoded = crate::proto::decode_any::<Manifest>(&manifest)
                .ok()
                .filter(|m| m.validate().is_ok());
            let (Ok(from), Ok(to), Some(manifest)) = (
                <[u8; 32]>::try_from(from.as_slice()),
                <[u8; 32]>::try_from(to.as_slice()),
                decoded,
            ) else {
                tracing::warn!(db = %self.path.display(), "a damaged kept offer was skipped");
                continue;
            };
            offers.push(KeptOffer {
                id: TransferId(u64::from_ne_bytes(id.to_ne_bytes())),
                from: ClientId(from),
                to: ClientId(to),
                manifest: Arc::new(manifest),
                created: Timestamp(u64::try_from(created).unwrap_or(0)),
            });
        }
        Ok(offers)
    }

    /// How many members are kept (for `courier hub` and tests).
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn member_count(&self) -> Result<u64, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        conn.query_row("SELECT count(*) FROM members", [], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| classify(&self.path, e))
    }

    /// Whether a member with this id is kept.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn has_member(&self, id: &ClientId) -> Result<bool, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        conn.query_row(
            "SELECT 1 FROM members WHERE id = ?1",
            params![&id.0[..]],
            |_| Ok(()),
        )
        .optional()
        .map(|row| row.is_some())
        .map_err(|e| classify(&self.path, e))
    }

    /// The owner's request to forget `id`'s device (`courier hub forget`): from now on
    /// it needs the password. Recorded for a running hub, which disconnects the device
    /// within seconds ([`Db::take_forget_requests`]); a stopped hub reads it at start.
    /// Returns whether the device was remembered.
    ///
    /// # Errors
    /// If the database cannot be written.
    pub fn forget_device(&self, id: &ClientId) -> Result<bool, Error> {
        let mut conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction().map_err(|e| classify(&self.path, e))?;
        let changed = tx
            .execute(
                "UPDATE members SET remembered_since = NULL
                 WHERE id = ?1 AND remembered_since IS NOT NULL",
                params![&id.0[..]],
            )
            .map_err(|e| classify(&self.path, e))?;
        tx.execute(
            "INSERT OR IGNORE INTO forget_requests (id) VALUES (?1)",
            params![&id.0[..]],
        )
        .map_err(|e| classify(&self.path, e))?;
        tx.commit().map_err(|e| classify(&self.path, e))?;
        Ok(changed > 0)
    }

    /// Forgets every remembered device (a new password: `courier hub
    /// --reset-password`). Returns how many were remembered.
    ///
    /// # Errors
    /// If the database cannot be written.
    pub fn forget_all_devices(&self) -> Result<u64, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute(
            "UPDATE members SET remembered_since = NULL WHERE remembered_since IS NOT NULL",
            [],
        )
        .map(|n| n as u64)
        .map_err(|e| classify(&self.path, e))
    }

    /// Bans `id` (`courier hub ban`): kept from now on, its device no longer
    /// remembered, and a request recorded for a running hub, which disconnects it and
    /// forgets what it left within seconds ([`Db::take_owner_requests`]). Returns
    /// whether it was not banned already.
    ///
    /// # Errors
    /// If the database cannot be written.
    pub fn ban(&self, id: &ClientId, since: Timestamp) -> Result<bool, Error> {
        let mut conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction().map_err(|e| classify(&self.path, e))?;
        let added = tx
            .execute(
                "INSERT OR IGNORE INTO bans (id, since) VALUES (?1, ?2)",
                params![&id.0[..], sql_time(since)],
            )
            .map_err(|e| classify(&self.path, e))?;
        tx.execute(
            "UPDATE members SET remembered_since = NULL WHERE id = ?1",
            params![&id.0[..]],
        )
        .map_err(|e| classify(&self.path, e))?;
        tx.execute(
            "INSERT OR IGNORE INTO ban_requests (id) VALUES (?1)",
            params![&id.0[..]],
        )
        .map_err(|e| classify(&self.path, e))?;
        tx.commit().map_err(|e| classify(&self.path, e))?;
        Ok(added > 0)
    }

    /// Lifts the ban on `id` (`courier hub unban`), for a running hub too. Returns
    /// whether it was banned.
    ///
    /// # Errors
    /// If the database cannot be written.
    pub fn unban(&self, id: &ClientId) -> Result<bool, Error> {
        let mut conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction().map_err(|e| classify(&self.path, e))?;
        let gone = tx
            .execute("DELETE FROM bans WHERE id = ?1", params![&id.0[..]])
            .map_err(|e| classify(&self.path, e))?;
        if gone > 0 {
            tx.execute(
                "INSERT OR IGNORE INTO ban_requests (id) VALUES (?1)",
                params![&id.0[..]],
            )
            .map_err(|e| classify(&self.path, e))?;
        }
        tx.commit().map_err(|e| classify(&self.path, e))?;
        Ok(gone > 0)
    }

    /// The banned identities and since when, oldest first.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn bans(&self) -> Result<Vec<(ClientId, Timestamp)>, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn
            .prepare("SELECT id, since FROM bans ORDER BY since, id")
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| classify(&self.path, e))?;
        let mut bans = Vec::new();
        for row in rows {
            let (id, since) = row.map_err(|e| classify(&self.path, e))?;
            if let Ok(id) = <[u8; 32]>::try_from(id.as_slice()) {
                bans.push((ClientId(id), Timestamp(u64::try_from(since).unwrap_or(0))));
            }
        }
        Ok(bans)
    }

    /// The owner's request to drop every message and kept offer `id` left
    /// (`courier hub drop --from`), for a running hub ([`Db::take_owner_requests`]).
    ///
    /// # Errors
    /// If the database cannot be written.
    pub fn request_drop(&self, id: &ClientId) -> Result<(), Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute(
            "INSERT OR IGNORE INTO drop_requests (id) VALUES (?1)",
            params![&id.0[..]],
        )
        .map(|_| ())
        .map_err(|e| classify(&self.path, e))
    }

    /// A request for `id` no running hub took ([`Db::ban`], [`Db::request_drop`]) is
    /// carried out here, on the file, in one transaction: the request is withdrawn and
    /// what it means is deleted. Returns the messages and offers deleted, or `None` if
    /// a hub took the request meanwhile (it does the work, and keeps its counts right).
    ///
    /// # Errors
    /// If the database cannot be written.
    pub fn settle(&self, id: &ClientId, request: Request) -> Result<Option<(u64, u64)>, Error> {
        let (table, messages, offers) = match request {
            Request::Ban => (
                "DELETE FROM ban_requests WHERE id = ?1",
                "DELETE FROM stored WHERE sender = ?1 OR recipient = ?1",
                "DELETE FROM offers WHERE sender = ?1 OR recipient = ?1",
            ),
            Request::Drop => (
                "DELETE FROM drop_requests WHERE id = ?1",
                "DELETE FROM stored WHERE sender = ?1",
                "DELETE FROM offers WHERE sender = ?1",
            ),
        };
        let mut conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction().map_err(|e| classify(&self.path, e))?;
        let ours = tx
            .execute(table, params![&id.0[..]])
            .map_err(|e| classify(&self.path, e))?;
        if ours == 0 {
            return Ok(None);
        }
        let m = tx
            .execute(messages, params![&id.0[..]])
            .map_err(|e| classify(&self.path, e))?;
        let o = tx
            .execute(offers, params![&id.0[..]])
            .map_err(|e| classify(&self.path, e))?;
        tx.commit().map_err(|e| classify(&self.path, e))?;
        Ok(Some((m as u64, o as u64)))
    }

    /// Whether a request for `id` waits for a hub to take it.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn is_requested(&self, id: &ClientId, request: Request) -> Result<bool, Error> {
        let sql = match request {
            Request::Ban => "SELECT 1 FROM ban_requests WHERE id = ?1",
            Request::Drop => "SELECT 1 FROM drop_requests WHERE id = ?1",
        };
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        conn.query_row(sql, params![&id.0[..]], |_| Ok(()))
            .optional()
            .map(|row| row.is_some())
            .map_err(|e| classify(&self.path, e))
    }

    /// Takes the ban, unban and drop requests recorded since the last call (the
    /// running hub applies them). A ban request whose ban was lifted meanwhile is an
    /// unban.
    ///
    /// # Errors
    /// If the database cannot be read or written.
    pub fn take_owner_requests(&self) -> Result<OwnerRequests, Error> {
        let mut conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction().map_err(|e| classify(&self.path, e))?;
        let mut requests = OwnerRequests::default();
        {
            let mut stmt = tx
                .prepare(
                    "SELECT r.id, b.id IS NOT NULL FROM ban_requests r
                     LEFT JOIN bans b ON b.id = r.id",
                )
                .map_err(|e| classify(&self.path, e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, bool>(1)?)))
                .map_err(|e| classify(&self.path, e))?;
            for row in rows {
                let (id, banned) = row.map_err(|e| classify(&self.path, e))?;
                if let Ok(id) = <[u8; 32]>::try_from(id.as_slice()) {
                    if banned {
                        requests.bans.push(ClientId(id));
                    } else {
                        requests.unbans.push(ClientId(id));
                    }
                }
            }
            let mut stmt = tx
                .prepare("SELECT id FROM drop_requests")
                .map_err(|e| classify(&self.path, e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, Vec<u8>>(0))
                .map_err(|e| classify(&self.path, e))?;
            for row in rows {
                let id = row.map_err(|e| classify(&self.path, e))?;
                if let Ok(id) = <[u8; 32]>::try_from(id.as_slice()) {
                    requests.drops.push(ClientId(id));
                }
            }
        }
        tx.execute("DELETE FROM ban_requests", [])
            .map_err(|e| classify(&self.path, e))?;
        tx.execute("DELETE FROM drop_requests", [])
            .map_err(|e| classify(&self.path, e))?;
        tx.commit().map_err(|e| classify(&self.path, e))?;
        Ok(requests)
    }

    /// What each sender left at the hub: messages waiting for offline contacts (how
    /// many, their bytes, for how many recipients) and kept file offers. Read only;
    /// works beside a running hub.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn left_by_senders(&self) -> Result<Vec<Left>, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut by: std::collections::BTreeMap<[u8; 32], Left> = std::collections::BTreeMap::new();
        let mut stmt = conn
            .prepare("SELECT sender, sum(count), sum(bytes), count(*) FROM backlog GROUP BY sender")
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(|e| classify(&self.path, e))?;
        for row in rows {
            let (from, count, bytes, recipients) = row.map_err(|e| classify(&self.path, e))?;
            let Ok(from) = <[u8; 32]>::try_from(from.as_slice()) else {
                continue;
            };
            let left = by.entry(from).or_insert_with(|| Left::new(from));
            left.messages = u64::try_from(count).unwrap_or(0);
            left.bytes = u64::try_from(bytes.unwrap_or(0)).unwrap_or(0);
            left.recipients = u64::try_from(recipients).unwrap_or(0);
        }
        let mut stmt = conn
            .prepare("SELECT sender, count(*) FROM offers GROUP BY sender")
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| classify(&self.path, e))?;
        for row in rows {
            let (from, count) = row.map_err(|e| classify(&self.path, e))?;
            let Ok(from) = <[u8; 32]>::try_from(from.as_slice()) else {
                continue;
            };
            by.entry(from).or_insert_with(|| Left::new(from)).offers =
                u64::try_from(count).unwrap_or(0);
        }
        Ok(by.into_values().collect())
    }

    /// Takes the forget requests recorded since the last call (the running hub applies
    /// them: [`super::Hub::forget_device`]).
    ///
    /// # Errors
    /// If the database cannot be read or written.
    pub fn take_forget_requests(&self) -> Result<Vec<ClientId>, Error> {
        let mut conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction().map_err(|e| classify(&self.path, e))?;
        let ids: Vec<Vec<u8>> = {
            let mut stmt = tx
                .prepare("SELECT id FROM forget_requests")
                .map_err(|e| classify(&self.path, e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, Vec<u8>>(0))
                .map_err(|e| classify(&self.path, e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| classify(&self.path, e))?
        };
        if !ids.is_empty() {
            tx.execute("DELETE FROM forget_requests", [])
                .map_err(|e| classify(&self.path, e))?;
        }
        tx.commit().map_err(|e| classify(&self.path, e))?;
        Ok(ids
            .into_iter()
            .filter_map(|id| <[u8; 32]>::try_from(id.as_slice()).ok().map(ClientId))
            .collect())
    }
}

/// The owner's requests a running hub takes ([`Db::take_owner_requests`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OwnerRequests {
    /// Identities banned since the last call ([`super::Hub::ban`]).
    pub bans: Vec<ClientId>,
    /// Identities no longer banned ([`super::Hub::unban`]).
    pub unbans: Vec<ClientId>,
    /// Senders whose messages and kept offers are to be dropped
    /// ([`super::Hub::drop_from`]).
    pub drops: Vec<ClientId>,
}

impl Left {
    fn new(from: [u8; 32]) -> Self {
        Self {
            from: ClientId(from),
            messages: 0,
            bytes: 0,
            recipients: 0,
            offers: 0,
        }
    }
}

impl OwnerRequests {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.bans.is_empty() && self.unbans.is_empty() && self.drops.is_empty()
    }
}

/// What one sender left at the hub ([`Db::left_by_senders`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    /// The sender.
    pub from: ClientId,
    /// Messages waiting for offline contacts.
    pub messages: u64,
    /// Their texts' bytes.
    pub bytes: u64,
    /// How many recipients they wait for.
    pub recipients: u64,
    /// File offers kept for their recipients.
    pub offers: u64,
}

/// Which request [`Db::settle`] settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A ban: what the identity left and what waits for it.
    Ban,
    /// A drop: what the sender left.
    Drop,
}

/// A row a forgetting `DELETE … RETURNING recipient, sender, octet_length(text)` gave.
type ForgottenRow = (Vec<u8>, Vec<u8>, Option<i64>);

fn forgotten_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ForgottenRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

/// Adds up forgotten rows per recipient and sender.
fn tally_forgotten(
    rows: impl Iterator<Item = rusqlite::Result<ForgottenRow>>,
    into: &mut Vec<Waiting>,
) -> rusqlite::Result<()> {
    let mut gone: std::collections::BTreeMap<([u8; 32], [u8; 32]), (usize, usize)> =
        std::collections::BTreeMap::new();
    for row in rows {
        let (to, from, bytes) = row?;
        if let (Ok(to), Ok(from)) = (
            <[u8; 32]>::try_from(to.as_slice()),
            <[u8; 32]>::try_from(from.as_slice()),
        ) {
            let entry = gone.entry((to, from)).or_default();
            entry.0 += 1;
            entry.1 += usize::try_from(bytes.unwrap_or(0)).unwrap_or(0);
        }
    }
    into.extend(
        gone.into_iter()
            .map(|((to, from), (count, bytes))| Waiting {
                to: ClientId(to),
                from: ClientId(from),
                count,
                bytes,
            }),
    );
    Ok(())
}

#[cfg(test)]
#[path = "db/tests.rs"]
mod tests;
