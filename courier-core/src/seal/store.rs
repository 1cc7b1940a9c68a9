//! keys.db: the keyring on disk. Two processes of one profile (`courier listen` and
//! `courier say`) share it: each writes what it changes at once and reads again on a
//! miss (replay marks excepted: each process keeps its own). Erased secrets are overwritten in the file (`secure_delete`) and the
//! write-ahead log is truncated after erasures, so they do not linger in either.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crypto_box::SecretKey;
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use super::KeyError;
use super::keyring::{Known, OwnKey};
use super::room::{Inbound, MAX_INBOUND, Outbound, PER_ROOM, PER_SENDER};
use crate::proto::{ClientId, KeyBundle, KeyId, Target, Timestamp};
use crate::sqlite::{self, classify, sql_time};

/// `PRAGMA application_id` of a keyring ("CrKy").
const APPLICATION_ID: i32 = 0x4372_4b79;

const MIGRATIONS: &[&str] = &[
    // 1: the device's keys, contacts' verified bundles, room sessions, replay marks.
    "CREATE TABLE device (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        owner BLOB NOT NULL,
        signing BLOB NOT NULL
    ) STRICT;
    CREATE TABLE sealing (
        public BLOB PRIMARY KEY NOT NULL,
        secret BLOB NOT NULL,
        created INTEGER NOT NULL,
        retired INTEGER,
        bundle BLOB NOT NULL
    ) STRICT;
    CREATE TABLE bundles (
        owner BLOB NOT NULL,
        sealing BLOB NOT NULL,
        signing BLOB NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        PRIMARY KEY (owner, sealing)
    ) STRICT;
    CREATE TABLE looked_up (owner BLOB PRIMARY KEY NOT NULL) STRICT;
    CREATE TABLE outbound (
        room BLOB PRIMARY KEY NOT NULL,
        session BLOB NOT NULL,
        idx INTEGER NOT NULL,
        chain BLOB NOT NULL,
        created INTEGER NOT NULL,
        shared BLOB NOT NULL
    ) STRICT;
    CREATE TABLE inbound (
        sender BLOB NOT NULL,
        session BLOB NOT NULL,
        room BLOB NOT NULL,
        signing BLOB NOT NULL,
        first INTEGER NOT NULL,
        chain BLOB NOT NULL,
        last_used INTEGER NOT NULL,
        PRIMARY KEY (sender, session)
    ) STRICT;
    CREATE TABLE opened (
        sender BLOB NOT NULL,
        session BLOB NOT NULL,
        idx INTEGER NOT NULL,
        PRIMARY KEY (sender, session, idx)
    ) STRICT;",
    // 2: replay marks are each process's own (in memory), not shared through the file.
    "DROP TABLE opened;",
    // 3: a look-up is good for a while: when it was made (rows from before: long ago).
    "ALTER TABLE looked_up ADD COLUMN at INTEGER NOT NULL DEFAULT 0;",
    // 4: work left for the next open (a checkpoint a reader blocked after an erasure).
    "CREATE TABLE chores (name TEXT PRIMARY KEY NOT NULL) STRICT;",
];

const SCHEMA: sqlite::Schema = sqlite::Schema {
    application_id: APPLICATION_ID,
    migrations: MIGRATIONS,
};

/// An outbound session's row: session, index, chain, created, shared with.
type OutboundRow = (Vec<u8>, i64, Zeroizing<Vec<u8>>, i64, Vec<u8>);

/// An inbound session's row: room, signing key, first index, chain, last used.
type InboundRow = (Vec<u8>, Vec<u8>, i64, Zeroizing<Vec<u8>>, i64);

/// The open keys.db.
pub(super) struct Store {
    conn: Connection,
    path: PathBuf,
}

fn cbor<T: serde::Serialize>(value: &T) -> Vec<u8> {
    super::envelope::cbor(value)
}

fn uncbor<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, KeyError> {
    ciborium::from_reader(bytes).map_err(|_| KeyError::Damaged)
}

fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], KeyError> {
    bytes.try_into().map_err(|_| KeyError::Damaged)
}

fn time(t: i64) -> Timestamp {
    Timestamp(u64::try_from(t).unwrap_or(0))
}

impl Store {
    /// The file in a profile folder.
    pub(super) fn path_for(profile_dir: &Path) -> PathBuf {
        profile_dir.join("keys.db")
    }

    /// Opens (creating) keys.db.
    pub(super) fn open(profile_dir: &Path) -> Result<Self, KeyError> {
        let path = Self::path_for(profile_dir);
        let conn = sqlite::open(&path, &SCHEMA)?;
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(|e| classify(&path, e))?;
        let store = Self { conn, path };
        store.retry_chores()?;
        Ok(store)
    }

    fn err(&self, e: rusqlite::Error) -> KeyError {
        KeyError::Db(classify(&self.path, e))
    }

    /// Runs `f` in one write transaction (another process waits for it).
    pub(super) fn immediate<T, E: From<KeyError>>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        match f() {
            Ok(value) => {
                self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The device's signing key (PKCS#8) if this file is `owner`'s; a file of another
    /// identity (the identity was replaced) is emptied.
    pub(super) fn device(&self, owner: ClientId) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row("SELECT owner, signing FROM device", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| self.err(e))?;
        match row {
            Some((stored, signing)) if stored == owner.0 => Ok(Some(Zeroizing::new(signing))),
            Some((_, mut signing)) => {
                zeroize::Zeroize::zeroize(&mut signing);
                self.conn
                    .execute_batch(
                        "DELETE FROM device; DELETE FROM sealing; DELETE FROM bundles;
                         DELETE FROM looked_up; DELETE FROM outbound; DELETE FROM inbound;",
                    )
                    .map_err(|e| self.err(e))?;
                self.truncate_log();
                Ok(None)
            }
            None => Ok(None),
        }
    }

    pub(super) fn save_device(&self, owner: ClientId, signing: &[u8]) -> Result<(), KeyError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO device (one, owner, signing) VALUES (1, ?1, ?2)",
                params![owner.0, signing],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(super) fn own_keys(&self) -> Result<Vec<OwnKey>, KeyError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT secret, created, retired, bundle FROM sealing ORDER BY created, rowid",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    Zeroizing::new(r.get::<_, Vec<u8>>(0)?),
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut keys = Vec::new();
        for row in rows {
            let (secret, created, retired, bundle) = row.map_err(|e| self.err(e))?;
            let secret = SecretKey::from_slice(&secret).map_err(|_| KeyError::Damaged)?;
            let public = secret.public_key().to_bytes();
            let bundle: KeyBundle = uncbor(&bundle)?;
            keys.push(OwnKey {
                secret,
                public,
                id: KeyId::of(&public),
                created: time(created),
                retired: retired.map(time),
                bundle,
            });
        }
        Ok(keys)
    }

    pub(super) fn save_own_key(&self, key: &OwnKey) -> Result<(), KeyError> {
        let secret = Zeroizing::new(key.secret.to_bytes());
        self.conn
            .execute(
                "INSERT OR REPLACE INTO sealing (public, secret, created, retired, bundle)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    key.public,
                    &secret[..],
                    sql_time(key.created),
                    key.retired.map(sql_time),
                    cbor(&key.bundle)
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The bundles of `owner` and when it was last looked up.
    pub(super) fn peer(
        &self,
        owner: ClientId,
    ) -> Result<(Option<Timestamp>, Vec<Known>), KeyError> {
        let looked_up = self
            .conn
            .query_row(
                "SELECT at FROM looked_up WHERE owner = ?1",
                [owner.0],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .map(time);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT signing, sealing, created, expires FROM bundles WHERE owner = ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([owner.0], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut known = Vec::new();
        for row in rows {
            let (signing, sealing, created, expires) = row.map_err(|e| self.err(e))?;
            known.push(Known {
                signing: array(&signing)?,
                sealing: array(&sealing)?,
                created: time(created),
                expires: time(expires),
            });
        }
        Ok((looked_up, known))
    }

    pub(super) fn save_peer(
        &self,
        owner: ClientId,
        known: &[Known],
        at: Timestamp,
    ) -> Result<(), KeyError> {
        self.conn
            .execute(
                "INSERT INTO looked_up (owner, at) VALUES (?1, ?2)
                 ON CONFLICT (owner) DO UPDATE SET at = max(at, excluded.at)",
                params![owner.0, sql_time(at)],
            )
            .map_err(|e| self.err(e))?;
        for k in known {
            self.conn
                .execute(
                    "INSERT OR IGNORE INTO bundles (owner, sealing, signing, created, expires)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        owner.0,
                        k.sealing,
                        k.signing,
                        sql_time(k.created),
                        sql_time(k.expires)
                    ],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    pub(super) fn outbound(&self, room: &Target) -> Result<Option<Outbound>, KeyError> {
        let row: Option<OutboundRow> = self
            .conn
            .query_row(
                "SELECT session, idx, chain, created, shared FROM outbound WHERE room = ?1",
                [cbor(room)],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        Zeroizing::new(r.get(2)?),
                        r.get(3)?,
                        r.get(4)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((session, index, chain, created, shared)) = row else {
            return Ok(None);
        };
        let shared: Vec<ClientId> = uncbor(&shared)?;
        Ok(Some(Outbound {
            session: array(&session)?,
            index: u32::try_from(index).map_err(|_| KeyError::Damaged)?,
            chain: Zeroizing::new(array(&chain)?),
            created: time(created),
            shared: shared.into_iter().collect(),
        }))
    }

    pub(super) fn save_outbound(&self, room: &Target, session: &Outbound) -> Result<(), KeyError> {
        let shared: Vec<ClientId> = session.shared.iter().copied().collect();
        self.conn
            .execute(
                "INSERT OR REPLACE INTO outbound (room, session, idx, chain, created, shared)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    cbor(room),
                    session.session,
                    session.index,
                    &session.chain[..],
                    sql_time(session.created),
                    cbor(&shared)
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(super) fn end_outbound(&self, room: &Target) -> Result<(), KeyError> {
        self.conn
            .execute("DELETE FROM outbound WHERE room = ?1", [cbor(room)])
            .map_err(|e| self.err(e))?;
        self.truncate_log();
        Ok(())
    }

    pub(super) fn inbound(
        &self,
        sender: ClientId,
        session: [u8; 16],
    ) -> Result<Option<Inbound>, KeyError> {
        let row: Option<InboundRow> = self
            .conn
            .query_row(
                "SELECT room, signing, first, chain, last_used FROM inbound
                 WHERE sender = ?1 AND session = ?2",
                params![sender.0, session],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        Zeroizing::new(r.get(3)?),
                        r.get(4)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((room, signing, first, chain, last_used)) = row else {
            return Ok(None);
        };
        // Replay marks are each process's own (memory): a session read from the file
        // starts with none, its cursor at the first index.
        let first = u32::try_from(first).map_err(|_| KeyError::Damaged)?;
        let chain_first = Zeroizing::new(array::<32>(&chain)?);
        Ok(Some(Inbound {
            room: uncbor(&room)?,
            signing: array(&signing)?,
            first,
            chain_cursor: chain_first.clone(),
            chain_first,
            cursor: first,
            opened: BTreeSet::new(),
            last_used: time(last_used),
            written: time(last_used),
        }))
    }

    pub(super) fn save_inbound(
        &self,
        sender: ClientId,
        session: [u8; 16],
        inbound: &Inbound,
    ) -> Result<(), KeyError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO inbound (sender, session, room, signing, first, chain, last_used)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    sender.0,
                    session,
                    cbor(&inbound.room),
                    inbound.signing,
                    inbound.first,
                    &inbound.chain_first[..],
                    sql_time(inbound.last_used)
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Keeps the newest [`PER_ROOM`] sessions of `sender` in `room`, its newest
    /// [`PER_SENDER`] in all, and the newest [`MAX_INBOUND`] of everyone but `me`.
    pub(super) fn bound_inbound(
        &self,
        sender: ClientId,
        room: &Target,
        me: ClientId,
    ) -> Result<(), KeyError> {
        let limit = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let mut erased = self
            .conn
            .execute(
                "DELETE FROM inbound WHERE sender = ?1 AND room = ?2 AND rowid NOT IN
                    (SELECT rowid FROM inbound WHERE sender = ?1 AND room = ?2
                     ORDER BY last_used DESC, rowid DESC LIMIT ?3)",
                params![sender.0, cbor(room), limit(PER_ROOM)],
            )
            .map_err(|e| self.err(e))?;
        erased += self
            .conn
            .execute(
                "DELETE FROM inbound WHERE sender = ?1 AND rowid NOT IN
                    (SELECT rowid FROM inbound WHERE sender = ?1
                     ORDER BY last_used DESC, rowid DESC LIMIT ?2)",
                params![sender.0, limit(PER_SENDER)],
            )
            .map_err(|e| self.err(e))?;
        let others: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM inbound WHERE sender != ?1",
                [me.0],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if others > limit(MAX_INBOUND) {
            erased += self
                .conn
                .execute(
                    "DELETE FROM inbound WHERE sender != ?1 AND rowid NOT IN
                        (SELECT rowid FROM inbound WHERE sender != ?1
                         ORDER BY last_used DESC, rowid DESC LIMIT ?2)",
                    params![me.0, limit(MAX_INBOUND)],
                )
                .map_err(|e| self.err(e))?;
        }
        if erased > 0 {
            self.truncate_log();
        }
        Ok(())
    }

    /// Records that an inbound session was used now (it is erased keep_after later).
    pub(super) fn touch_inbound(
        &self,
        sender: ClientId,
        session: [u8; 16],
        now: Timestamp,
    ) -> Result<(), KeyError> {
        self.conn
            .execute(
                "UPDATE inbound SET last_used = ?3 WHERE sender = ?1 AND session = ?2",
                params![sender.0, session, sql_time(now)],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets look-ups made at or before `before` (they are stale anyway).
    pub(super) fn forget_lookups(&self, before: Timestamp) -> Result<(), KeyError> {
        self.conn
            .execute("DELETE FROM looked_up WHERE at <= ?1", [sql_time(before)])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Erases what is past `keep_after`: retired sealing keys, idle inbound sessions
    /// (and their marks), contacts' bundles long expired, outbound sessions that old
    /// (replaced at the next message anyway).
    pub(super) fn erase(&self, cutoff: Timestamp) -> Result<(), KeyError> {
        let cutoff = sql_time(cutoff);
        let mut erased = 0;
        let statements = [
            "DELETE FROM sealing WHERE retired IS NOT NULL AND retired <= ?1",
            "DELETE FROM inbound WHERE last_used <= ?1",
            "DELETE FROM bundles WHERE expires <= ?1",
            "DELETE FROM outbound WHERE created <= ?1",
        ];
        for sql in statements {
            erased += self.conn.execute(sql, [cutoff]).map_err(|e| self.err(e))?;
        }
        if erased > 0 {
            self.truncate_log();
        }
        Ok(())
    }

    /// Does what an earlier process could not: empty the write-ahead log after an
    /// erasure (truncate_log records it when a reader blocked it).
    fn retry_chores(&self) -> Result<(), KeyError> {
        let removed = self
            .conn
            .execute("DELETE FROM chores WHERE name = 'checkpoint'", [])
            .map_err(|e| self.err(e))?;
        if removed > 0 {
            self.truncate_log();
        }
        Ok(())
    }

    /// Moves the write-ahead log into the file and empties it, so that erased pages do
    /// not stay in it. A reader in another process may block it (past the busy
    /// timeout): then it is warned about and retried at the next open.
    fn truncate_log(&self) {
        let outcome = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        let failure = match outcome {
            Ok(0) => return,
            Ok(_) => "another process is reading it".to_owned(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(
            "keys.db: erased keys may stay in the write-ahead log until the next start ({failure})"
        );
        if let Err(e) = self.conn.execute(
            "INSERT OR IGNORE INTO chores (name) VALUES ('checkpoint')",
            [],
        ) {
            tracing::warn!("keys.db: cannot note the checkpoint to retry: {e}");
        }
    }
}
