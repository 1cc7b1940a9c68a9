//! A client's history: every message it sent or received on one hub, with what became
//! of it, the kept transfers (what went which way, how it ended, where it
//! was saved), the names it last knew its contacts and groups by, and the membership
//! changes of its groups ("Ada added Bob"), kept in SQLite in the client's profile folder (`history-<hub>.db`, one file per
//! hub). The app and the `courier` command may use the same folder at once (WAL; a
//! writer waits for the other's lock). Search is full-text (SQLite FTS5, case and accents
//! ignored) across all conversations; reading pages back from the newest message never
//! loads more than a page.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::proto::{ClientId, Delivery, Message, MsgId, Target, Timestamp};
use crate::sqlite::{self, Error, classify, sql_time};

mod groups;

pub use groups::{KeptGroupEvent, change_line};

/// `PRAGMA application_id` of a client history ("CrHi").
const APPLICATION_ID: i32 = 0x4372_4869;

const MIGRATIONS: &[&str] = &[
    // 1: messages and their full-text index (kept in step by triggers).
    "CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        peer BLOB NOT NULL CHECK (length(peer) = 32),
        sender BLOB NOT NULL CHECK (length(sender) = 32),
        id INTEGER NOT NULL,
        outgoing INTEGER NOT NULL,
        text TEXT NOT NULL,
        time INTEGER NOT NULL,
        state TEXT NOT NULL,
        UNIQUE (sender, id)
    ) STRICT;
    CREATE INDEX messages_by_peer ON messages (peer, seq);
    CREATE VIRTUAL TABLE messages_text USING fts5 (
        text, content = 'messages', content_rowid = 'seq',
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '2 3 4 5 6 7 8'
    );
    CREATE TRIGGER messages_added AFTER INSERT ON messages BEGIN
        INSERT INTO messages_text (rowid, text) VALUES (new.seq, new.text);
    END;
    CREATE TRIGGER messages_removed AFTER DELETE ON messages BEGIN
        INSERT INTO messages_text (messages_text, rowid, text)
            VALUES ('delete', old.seq, old.text);
    END;
    CREATE TABLE names (id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 32), name TEXT NOT NULL) STRICT;",
    // 2: file cards, once over: what went which way, how it ended, where it was saved.
    "CREATE TABLE files (
        seq INTEGER PRIMARY KEY,
        peer BLOB NOT NULL CHECK (length(peer) = 32),
        outgoing INTEGER NOT NULL,
        names BLOB NOT NULL,
        count INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        time INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        saved_in TEXT
    ) STRICT;
    CREATE INDEX files_by_peer ON files (peer, time);",
    // 3: messages written while the hub was away, found at start without a scan.
    "CREATE INDEX messages_waiting ON messages (seq) WHERE state = 'waiting';",
    // 4: groups' names and their membership changes.
    groups::MIGRATION,
];

/// File names kept per kept transfer, at most (the count says how many there were).
pub const KEPT_TRANSFER_NAMES: usize = 20;

const SCHEMA: sqlite::Schema = sqlite::Schema {
    application_id: APPLICATION_ID,
    migrations: MIGRATIONS,
};

/// The conversation "everyone" is filed under (no contact has an all-zero id).
const EVERYONE: [u8; 32] = [0; 32];

/// The first bytes of the key a group's conversation is filed under; the group's id
/// follows in the last eight. (Contact ids are SHA-256 fingerprints: none starts so.)
const GROUP_KEY: &[u8; 24] = b"courier group\0\0\0\0\0\0\0\0\0\0\0";

fn group_key(group: crate::proto::GroupId) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..24].copy_from_slice(GROUP_KEY);
    key[24..].copy_from_slice(&group.0.to_be_bytes());
    key
}

/// The conversation a key in the tables names.
fn target_of(key: [u8; 32]) -> Target {
    if key == EVERYONE {
        return Target::Everyone;
    }
    match (
        key.get(..24),
        key.get(24..).and_then(|b| <[u8; 8]>::try_from(b).ok()),
    ) {
        (Some(prefix), Some(id)) if prefix == GROUP_KEY => {
            Target::Group(crate::proto::GroupId(u64::from_be_bytes(id)))
        }
        _ => Target::Client(ClientId(key)),
    }
}

/// What became of a message, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Someone else's message.
    Received,
    /// Ours, written while the hub was away: not handed to it yet.
    Unsent,
    /// Ours, handed to the hub; no receipt yet.
    Sent,
    /// Ours, delivered.
    Delivered,
    /// Ours, stored by the hub for an offline contact.
    Stored,
    /// Ours, read by the recipient.
    Read,
    /// Ours, refused (the reason as the hub gave it).
    Rejected(String),
}

impl State {
    /// The word in the file (an unsent message's is `waiting`, its name in files
    /// written before it was called unsent).
    fn code(&self) -> String {
        match self {
            Self::Received => "received".into(),
            Self::Unsent => "waiting".into(),
            Self::Sent => "sent".into(),
            Self::Delivered => "delivered".into(),
            Self::Stored => "stored".into(),
            Self::Read => "read".into(),
            Self::Rejected(why) => format!("rejected:{why}"),
        }
    }

    fn parse(code: &str) -> Self {
        match code {
            "received" => Self::Received,
            "waiting" => Self::Unsent,
            "delivered" => Self::Delivered,
            "stored" => Self::Stored,
            "read" => Self::Read,
            other => match other.strip_prefix("rejected:") {
                Some(why) => Self::Rejected(why.to_owned()),
                None => Self::Sent,
            },
        }
    }

    /// The state a receipt brings.
    pub fn of(delivery: &Delivery) -> Self {
        match delivery {
            Delivery::Delivered => Self::Delivered,
            Delivery::Stored => Self::Stored,
            Delivery::Rejected(r) => Self::Rejected(r.code().to_owned()),
        }
    }
}

/// One kept message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its place in the history (later messages have larger numbers).
    pub seq: i64,
    /// The conversation: the contact, everyone, or a group.
    pub peer: Target,
    /// Who wrote it.
    pub from: ClientId,
    /// Its id (the sender's).
    pub id: MsgId,
    /// Whether we wrote it.
    pub outgoing: bool,
    /// The text.
    pub text: String,
    /// When the hub stamped it (ours: when we sent it).
    pub time: Timestamp,
    /// What became of it.
    pub state: State,
}

/// A finished transfer as kept: the app's transfer card once it was over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptTransfer {
    /// Its place in the history.
    pub seq: i64,
    /// The contact on the other side.
    pub peer: ClientId,
    /// Whether we sent the files.
    pub outgoing: bool,
    /// The first [`KEPT_TRANSFER_NAMES`] files: name and size.
    pub files: Vec<(String, u64)>,
    /// How many files there were.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
    /// When it was over.
    pub time: Timestamp,
    /// How it ended, as the card said it ("Received 3 files …", "Declined.").
    pub outcome: String,
    /// The folder received files were saved in.
    pub saved_in: Option<PathBuf>,
}

/// One hub's history, open.
#[derive(Debug)]
pub struct History {
    conn: Connection,
    path: PathBuf,
}

impl History {
    /// The history file for the hub with fingerprint `hub` in `profile_dir`.
    pub fn path_for(profile_dir: &Path, hub: &ClientId) -> PathBuf {
        profile_dir.join(format!("history-{}.db", hub.short()))
    }

    /// Opens (creating it if needed) the history of the hub `hub` in `profile_dir`.
    ///
    /// # Errors
    /// A damaged, foreign, newer or read-only file ([`Error`]), left as it is.
    pub fn open(profile_dir: &Path, hub: &ClientId) -> Result<Self, Error> {
        let path = Self::path_for(profile_dir, hub);
        let conn = sqlite::open(&path, &SCHEMA)?;
        // A commit is written to the file (and so survives the program being killed)
        // but not waited onto the disk: the app writes as messages show, and an fsync
        // each would stall it. A power cut may lose the last moments; the hub keeps
        // whatever it acknowledged with `synchronous=FULL`.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| classify(&path, e))?;
        Ok(Self { conn, path })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps a message someone sent us: one to us is filed under its sender, one to
    /// everyone under everyone, one to a group under the group. A message kept already (the same
    /// sender and id) is not kept twice; returns whether it was new.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn received(&self, message: &Message) -> Result<bool, Error> {
        let peer = match message.to {
            Target::Everyone => EVERYONE,
            Target::Group(group) => group_key(group),
            Target::Client(_) => message.from.0,
        };
        self.insert(
            peer,
            message.from,
            message.id,
            false,
            &message.text,
            message.time,
            &State::Received,
        )
    }

    /// Keeps a message we sent (`me` wrote it to `to`). Returns whether it was new.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn sent(
        &self,
        me: ClientId,
        id: MsgId,
        to: Target,
        text: &str,
        time: Timestamp,
    ) -> Result<bool, Error> {
        let peer = key_of(to);
        self.insert(peer, me, id, true, text, time, &State::Sent)
    }

    /// Keeps a message we (`me`) wrote while the hub was away, with the id it will be
    /// sent with: it survives the app stopping, and [`History::unsent_messages`] finds it at the
    /// next start. [`History::set_state`] to [`State::Sent`] once handed over.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn unsent(
        &self,
        me: ClientId,
        id: MsgId,
        to: Target,
        text: &str,
        time: Timestamp,
    ) -> Result<bool, Error> {
        let peer = key_of(to);
        self.insert(peer, me, id, true, text, time, &State::Unsent)
    }

    /// Our messages not handed to the hub yet, oldest first.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn unsent_messages(&self) -> Result<Vec<Entry>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, peer, sender, id, outgoing, text, time, state FROM messages
                 WHERE state = 'waiting' ORDER BY seq",
            )
            .map_err(|e| classify(&self.path, e))?;
        collect(&mut stmt, [], &self.path)
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        peer: [u8; 32],
        from: ClientId,
        id: MsgId,
        outgoing: bool,
        text: &str,
        time: Timestamp,
        state: &State,
    ) -> Result<bool, Error> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO messages (peer, sender, id, outgoing, text, time, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    &peer[..],
                    &from.0[..],
                    i64::from_ne_bytes(id.0.to_ne_bytes()),
                    outgoing,
                    text,
                    sql_time(time),
                    state.code(),
                ])
            })
            .map_err(|e| classify(&self.path, e))?;
        Ok(n > 0)
    }

    /// Records what became of a message we sent (`me`): a receipt's state, or read.
    /// A later state never goes back to an earlier one (read stays read; delivered
    /// stays delivered when a late `stored` comes). By id: the message need not be on
    /// screen, nor sent on this connection (a `delivered` for a stored message comes
    /// when the contact takes it, maybe at a later login).
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn set_state(&self, me: ClientId, id: MsgId, state: &State) -> Result<(), Error> {
        self.conn
            .prepare_cached(
                "UPDATE messages SET state = ?3
                 WHERE sender = ?1 AND id = ?2 AND state <> 'read'
                     AND NOT (state = 'delivered' AND ?3 = 'stored')",
            )
            .and_then(|mut s| {
                s.execute(params![
                    &me.0[..],
                    i64::from_ne_bytes(id.0.to_ne_bytes()),
                    state.code()
                ])
            })
            .map_err(|e| classify(&self.path, e))?;
        Ok(())
    }

    /// Up to `limit` messages of one conversation (`None`: all conversations), newest
    /// first, older than `before` (a [`Entry::seq`]; `None`: from the newest).
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn page(
        &self,
        peer: Option<Target>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Entry>, Error> {
        let before = before.unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let columns = "seq, peer, sender, id, outgoing, text, time, state";
        let rows = match peer {
            Some(peer) => {
                let key = key_of(peer);
                let mut stmt = self
                    .conn
                    .prepare_cached(&format!(
                        "SELECT {columns} FROM messages WHERE peer = ?1 AND seq < ?2
                         ORDER BY seq DESC LIMIT ?3"
                    ))
                    .map_err(|e| classify(&self.path, e))?;
                collect(&mut stmt, params![&key[..], before, limit], &self.path)?
            }
            None => {
                let mut stmt = self
                    .conn
                    .prepare_cached(&format!(
                        "SELECT {columns} FROM messages WHERE seq < ?1
                         ORDER BY seq DESC LIMIT ?2"
                    ))
                    .map_err(|e| classify(&self.path, e))?;
                collect(&mut stmt, params![before, limit], &self.path)?
            }
        };
        Ok(rows)
    }

    /// Up to `limit` messages of conversation `peer` newer than `after` (a
    /// [`Entry::seq`]), oldest first: paging forward from a search result.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn page_after(&self, peer: Target, after: i64, limit: usize) -> Result<Vec<Entry>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let key = key_of(peer);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, peer, sender, id, outgoing, text, time, state FROM messages
                 WHERE peer = ?1 AND seq > ?2 ORDER BY seq ASC LIMIT ?3",
            )
            .map_err(|e| classify(&self.path, e))?;
        collect(&mut stmt, params![&key[..], after, limit], &self.path)
    }

    /// Keeps a finished transfer (`card.seq` is ignored). Returns its
    /// place in the history.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn keep_transfer(&self, card: &KeptTransfer) -> Result<i64, Error> {
        let mut names = Vec::new();
        let kept: Vec<&(String, u64)> = card.files.iter().take(KEPT_TRANSFER_NAMES).collect();
        // Encoding into a Vec cannot fail.
        let _ = ciborium::into_writer(&kept, &mut names);
        self.conn
            .prepare_cached(
                "INSERT INTO files (peer, outgoing, names, count, bytes, time, outcome, saved_in)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    &card.peer.0[..],
                    card.outgoing,
                    &names,
                    i64::try_from(card.count).unwrap_or(i64::MAX),
                    i64::try_from(card.bytes).unwrap_or(i64::MAX),
                    sql_time(card.time),
                    &card.outcome,
                    card.saved_in
                        .as_ref()
                        .map(|p| p.to_string_lossy().into_owned()),
                ])
            })
            .map_err(|e| classify(&self.path, e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The kept transfers with `peer` (`None`: with anyone) that ended at or after `since`
    /// and before `until` (`None`: up to now), oldest first, at most `limit`.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn kept_transfers(
        &self,
        peer: Option<ClientId>,
        since: Timestamp,
        until: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<KeptTransfer>, Error> {
        let until = until.map_or(i64::MAX, sql_time);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, outgoing, names, count, bytes, time, outcome, saved_in, peer
                 FROM files WHERE (?1 IS NULL OR peer = ?1) AND time >= ?2 AND time < ?3
                 ORDER BY time, seq LIMIT ?4",
            )
            .map_err(|e| classify(&self.path, e))?;
        let key = peer.map(|p| p.0.to_vec());
        let rows = stmt
            .query_map(params![key, sql_time(since), until, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Vec<u8>>(8)?,
                ))
            })
            .map_err(|e| classify(&self.path, e))?;
        let mut cards = Vec::new();
        for row in rows {
            let (seq, outgoing, names, count, bytes, time, outcome, saved_in, peer) =
                row.map_err(|e| classify(&self.path, e))?;
            let Ok(peer) = <[u8; 32]>::try_from(peer.as_slice()) else {
                continue;
            };
            let files: Vec<(String, u64)> =
                ciborium::from_reader(names.as_slice()).unwrap_or_default();
            cards.push(KeptTransfer {
                seq,
                peer: ClientId(peer),
                outgoing,
                files,
                count: u64::try_from(count).unwrap_or(0),
                bytes: u64::try_from(bytes).unwrap_or(0),
                time: Timestamp(u64::try_from(time).unwrap_or(0)),
                outcome,
                saved_in: saved_in.map(PathBuf::from),
            });
        }
        Ok(cards)
    }

    /// Up to `limit` messages whose text has every word of `query` (in any case, with
    /// or without accents; the last word may be the start of a word, as when typing),
    /// newest first, across all conversations.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Entry>, Error> {
        let Some(fts) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            // The index walks its matches newest first and stops at the limit, however
            // many messages have the words.
            .prepare_cached(
                "SELECT m.seq, m.peer, m.sender, m.id, m.outgoing, m.text, m.time, m.state
                 FROM (SELECT rowid FROM messages_text WHERE messages_text MATCH ?1
                       ORDER BY rowid DESC LIMIT ?2) AS hit
                 JOIN messages m ON m.seq = hit.rowid
                 ORDER BY m.seq DESC",
            )
            .map_err(|e| classify(&self.path, e))?;
        collect(&mut stmt, params![fts, limit], &self.path)
    }

    /// Remembers the names people had, to show the history without a connection.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn names<'a>(
        &mut self,
        people: impl IntoIterator<Item = (ClientId, &'a str)>,
    ) -> Result<(), Error> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO names (id, name) VALUES (?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET name = ?2 WHERE name <> ?2",
                )
                .map_err(|e| classify(&path, e))?;
            for (id, name) in people {
                upsert
                    .execute(params![&id.0[..], name])
                    .map_err(|e| classify(&path, e))?;
            }
        }
        tx.commit().map_err(|e| classify(&path, e))
    }

    /// The name `id` had when last seen, if known.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn name_of(&self, id: &ClientId) -> Result<Option<String>, Error> {
        self.conn
            .query_row(
                "SELECT name FROM names WHERE id = ?1",
                params![&id.0[..]],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| classify(&self.path, e))
    }

    /// Everyone whose name is known: (id, name).
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn known_names(&self) -> Result<Vec<(ClientId, String)>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name FROM names")
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| classify(&self.path, e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name) = row.map_err(|e| classify(&self.path, e))?;
            if let Ok(id) = <[u8; 32]>::try_from(id.as_slice()) {
                out.push((ClientId(id), name));
            }
        }
        Ok(out)
    }

    /// Forgets one conversation (`Some`) or everything (`None`). Returns how many
    /// messages were forgotten.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn clear(&self, peer: Option<Target>) -> Result<u64, Error> {
        let n = match peer {
            Some(peer) => {
                let key = key_of(peer);
                if let Target::Group(g) = peer {
                    self.clear_group_events(Some(g))
                        .map_err(|e| classify(&self.path, e))?;
                }
                self.conn
                    .execute("DELETE FROM files WHERE peer = ?1", params![&key[..]])
                    .and_then(|_| {
                        self.conn
                            .execute("DELETE FROM messages WHERE peer = ?1", params![&key[..]])
                    })
            }
            None => self
                .clear_group_events(None)
                .and_then(|_| self.conn.execute("DELETE FROM files", []))
                .and_then(|_| self.conn.execute("DELETE FROM messages", [])),
        }
        .map_err(|e| classify(&self.path, e))?;
        Ok(n as u64)
    }

    /// How many messages are kept.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn len(&self) -> Result<u64, Error> {
        self.conn
            .query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| classify(&self.path, e))
    }

    /// Whether nothing is kept.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn is_empty(&self) -> Result<bool, Error> {
        self.conn
            .query_row("SELECT 1 FROM messages LIMIT 1", [], |_| Ok(()))
            .optional()
            .map(|row| row.is_none())
            .map_err(|e| classify(&self.path, e))
    }

    /// Runs `f` in one transaction (for writing many messages at once).
    ///
    /// # Errors
    /// If the transaction cannot start or commit, or `f` fails.
    pub fn batch<T>(&mut self, f: impl FnOnce(&Self) -> Result<T, Error>) -> Result<T, Error> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| classify(&self.path, e))?;
        match f(self) {
            Ok(t) => {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(|e| classify(&self.path, e))?;
                Ok(t)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// A typed query as an FTS5 expression: each word quoted (so `AND`, `*` or quotes
/// typed by the user are words, not syntax), the last one a prefix. `None` when it has
/// no word.
fn fts_query(query: &str) -> Option<String> {
    let words: Vec<&str> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let last = *words.last()?;
    let mut q: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    // The word being typed matches as the start of a word from its second letter on:
    // the prefix indexes start there, and every word that starts with one letter
    // would be a scan of most of the index.
    if last.chars().count() >= 2
        && let Some(end) = q.last_mut()
    {
        end.push('*');
    }
    Some(q.join(" "))
}

/// A conversation's key in the tables: the contact's id, [`EVERYONE`], or the group's
/// ([`group_key`]).
fn key_of(target: Target) -> [u8; 32] {
    match target {
        Target::Everyone => EVERYONE,
        Target::Group(group) => group_key(group),
        Target::Client(c) => c.0,
    }
}

fn collect(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
    path: &Path,
) -> Result<Vec<Entry>, Error> {
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, String>(7)?,
            ))
        })
        .map_err(|e| classify(path, e))?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, peer, from, id, outgoing, text, time, state) =
            row.map_err(|e| classify(path, e))?;
        let (Ok(peer), Ok(from)) = (
            <[u8; 32]>::try_from(peer.as_slice()),
            <[u8; 32]>::try_from(from.as_slice()),
        ) else {
            continue;
        };
        out.push(Entry {
            seq,
            peer: target_of(peer),
            from: ClientId(from),
            id: MsgId(u64::from_ne_bytes(id.to_ne_bytes())),
            outgoing,
            text,
            time: Timestamp(u64::try_from(time).unwrap_or(0)),
            state: State::parse(&state),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
