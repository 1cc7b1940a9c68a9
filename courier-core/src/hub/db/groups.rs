//! Groups in the hub's database: their rows written with the other records
//! ([`Db::write`]), read back at start ([`Db::groups`]) and for `courier hub groups`
//! ([`Db::group_list`]), and the owner's requests to remove someone from a group, which
//! a running hub picks up like bans ([`Db::request_group_remove`]).

use std::sync::PoisonError;

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Db, Error, Record, Written};
use crate::proto::{
    ClientId, GroupChange, GroupEntry, GroupEvent, GroupId, MsgId, Role, Sealed, SealedMessage,
    Seq, Target, Timestamp,
};
use crate::sqlite::{classify, sql_time};

/// A member of a group as the hub keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMember {
    /// Who.
    pub id: ClientId,
    /// What they may do.
    pub role: Role,
    /// The position that added them.
    pub joined: Seq,
    /// How far the hub handed them the log.
    pub got: Seq,
    /// How far they read it.
    pub read: Seq,
}

/// A group read back from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    /// Its id.
    pub id: GroupId,
    /// Its name.
    pub name: String,
    /// Who created it.
    pub created_by: ClientId,
    /// Its newest position.
    pub last: Seq,
    /// Its members, the creator first, then as they joined.
    pub members: Vec<StoredMember>,
    /// The entries of its log some member was not handed, oldest first (what the hub
    /// keeps in memory of them: their envelopes stay on the disk; empty in
    /// [`Db::group_list`]).
    pub entries: Vec<StoredEntry>,
}

/// An entry of a group's log as the hub counts it (its envelope stays on the disk until a
/// page of it is handed over: [`Record::GroupFetch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredEntry {
    /// Its position.
    pub seq: Seq,
    /// Who wrote it (for a change: who made it).
    pub from: ClientId,
    /// Its envelope's bytes (0 for a change).
    pub text_bytes: usize,
    /// Whether it is a membership change.
    pub change: bool,
    /// When the hub stamped it.
    pub time: Timestamp,
}

fn role_code(role: Role) -> i64 {
    match role {
        Role::Member => 0,
        Role::Admin => 1,
        Role::Creator => 2,
    }
}

fn role_of(code: i64) -> Role {
    match code {
        2 => Role::Creator,
        1 => Role::Admin,
        _ => Role::Member,
    }
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn uint(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn id32(bytes: &[u8]) -> Option<ClientId> {
    <[u8; 32]>::try_from(bytes).ok().map(ClientId)
}

/// A row of `group_entries` as an entry; `None` (with a warning) for one that does not
/// read back.
fn entry_of(
    db: &Db,
    group: GroupId,
    (seq, from, id, sealed, change, time): EntryRow,
) -> Option<GroupEntry> {
    let from = id32(&from)?;
    let (seq, time) = (uint(seq), Timestamp(uint(time)));
    let sealed = Sealed::from(sealed);
    let entry = match change {
        Some(bytes) => match ciborium::from_reader::<GroupChange, _>(&bytes[..]) {
            Ok(change) => GroupEntry::Event(GroupEvent {
                group,
                seq,
                by: from,
                change,
                time,
            }),
            Err(_) => {
                tracing::warn!(db = %db.path.display(), "a group change that does not read back was skipped");
                return None;
            }
        },
        None if sealed.fits_message() => GroupEntry::Message(SealedMessage {
            id: MsgId(u64::from_ne_bytes(id.to_ne_bytes())),
            from,
            to: Target::Group(group),
            sealed,
            time,
            seq: Some(seq),
        }),
        None => return None,
    };
    Some(entry)
}

/// A row of `group_entries`: seq, sender, id, text, change, time.
type EntryRow = (i64, Vec<u8>, i64, Vec<u8>, Option<Vec<u8>>, i64);

/// Writes (or, for a fetch, reads) one group record inside `tx`; false for a record
/// that is not a group's.
pub(super) fn write(
    db: &Db,
    tx: &Transaction<'_>,
    record: &Record,
    written: &mut Written,
) -> Result<bool, Error> {
    let e = |e| classify(&db.path, e);
    match record {
        Record::Group {
            id,
            name,
            created_by,
            last,
        } => {
            tx.prepare_cached(
                "INSERT INTO groups (id, name, created_by, last) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET name = ?2, created_by = ?3, last = ?4",
            )
            .map_err(e)?
            .execute(params![int(id.0), name, &created_by.0[..], int(*last)])
            .map_err(e)?;
            tx.prepare_cached(
                "INSERT INTO group_next (one, next) VALUES (0, ?1)
                 ON CONFLICT (one) DO UPDATE SET next = max(next, ?1)",
            )
            .map_err(e)?
            .execute(params![int(id.0)])
            .map_err(e)?;
        }
        Record::GroupMember { group, member } => {
            tx.prepare_cached(
                "INSERT INTO group_members (grp, member, role, joined, got, read)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (grp, member) DO UPDATE SET role = ?3, joined = ?4, got = ?5,
                     read = ?6",
            )
            .map_err(e)?
            .execute(params![
                int(group.0),
                &member.id.0[..],
                role_code(member.role),
                int(member.joined),
                int(member.got),
                int(member.read),
            ])
            .map_err(e)?;
        }
        Record::GroupMemberGone { group, member } => {
            tx.prepare_cached("DELETE FROM group_members WHERE grp = ?1 AND member = ?2")
                .map_err(e)?
                .execute(params![int(group.0), &member.0[..]])
                .map_err(e)?;
        }
        Record::GroupEntry { group, from, entry } => {
            let (id, sealed, change, time) = match &**entry {
                GroupEntry::Message(m) => (m.id.0, m.sealed.as_bytes(), None, m.time),
                GroupEntry::Event(ev) => {
                    (0, &[][..], Some(crate::proto::encode(&ev.change)), ev.time)
                }
            };
            tx.prepare_cached(
                "INSERT OR REPLACE INTO group_entries (grp, seq, sender, id, sealed, change, time)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(e)?
            .execute(params![
                int(group.0),
                int(entry.seq()),
                &from.0[..],
                i64::from_ne_bytes(id.to_ne_bytes()),
                sealed,
                change,
                sql_time(time),
            ])
            .map_err(e)?;
        }
        Record::GroupForget { group, upto } => {
            tx.prepare_cached("DELETE FROM group_entries WHERE grp = ?1 AND seq <= ?2")
                .map_err(e)?
                .execute(params![int(group.0), int(*upto)])
                .map_err(e)?;
        }
        Record::GroupDrop { group, seqs } => {
            let mut stmt = tx
                .prepare_cached("DELETE FROM group_entries WHERE grp = ?1 AND seq = ?2")
                .map_err(e)?;
            for seq in seqs {
                stmt.execute(params![int(group.0), int(*seq)]).map_err(e)?;
            }
        }
        Record::GroupFetch {
            group,
            after,
            limit,
        } => {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT seq, sender, id, sealed, change, time FROM group_entries
                     WHERE grp = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )
                .map_err(e)?;
            let limit = i64::try_from(*limit).unwrap_or(i64::MAX);
            let rows = stmt
                .query_map(params![int(group.0), int(*after), limit], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .map_err(e)?;
            let mut entries = Vec::new();
            for row in rows {
                if let Some(entry) = entry_of(db, *group, row.map_err(e)?) {
                    entries.push(entry);
                }
            }
            written.group_pages.push((*group, entries));
        }
        Record::GroupGone(group) => {
            for sql in [
                "DELETE FROM group_entries WHERE grp = ?1",
                "DELETE FROM group_members WHERE grp = ?1",
                "DELETE FROM groups WHERE id = ?1",
            ] {
                tx.prepare_cached(sql)
                    .map_err(e)?
                    .execute(params![int(group.0)])
                    .map_err(e)?;
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

impl Db {
    /// Every group with its members and the entries of its log, and the next group id
    /// to give (ids are never reused): what a hub takes back at start
    /// ([`Hub::restore_groups`](crate::hub::Hub::restore_groups)).
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn groups(&self) -> Result<(Vec<StoredGroup>, u64), Error> {
        self.read_groups(true)
    }

    /// Every group with its members, for `courier hub groups` (works beside a running
    /// hub).
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn group_list(&self) -> Result<Vec<StoredGroup>, Error> {
        Ok(self.read_groups(false)?.0)
    }

    fn read_groups(&self, entries: bool) -> Result<(Vec<StoredGroup>, u64), Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let e = |e| classify(&self.path, e);
        let next: Option<i64> = conn
            .query_row("SELECT next FROM group_next WHERE one = 0", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(e)?;
        let mut groups = Vec::new();
        let mut stmt = conn
            .prepare("SELECT id, name, created_by, last FROM groups ORDER BY id")
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(e)?;
        for row in rows {
            let (id, name, created_by, last) = row.map_err(e)?;
            let Some(created_by) = id32(&created_by) else {
                continue;
            };
            groups.push(StoredGroup {
                id: GroupId(uint(id)),
                name,
                created_by,
                last: uint(last),
                members: Vec::new(),
                entries: Vec::new(),
            });
        }
        let mut members = conn
            .prepare(
                "SELECT member, role, joined, got, read FROM group_members WHERE grp = ?1
                 ORDER BY role = 2 DESC, joined, member",
            )
            .map_err(e)?;
        let mut log = conn
            .prepare(
                "SELECT seq, sender, octet_length(sealed), change IS NOT NULL, time
                 FROM group_entries WHERE grp = ?1 ORDER BY seq",
            )
            .map_err(e)?;
        for g in &mut groups {
            let rows = members
                .query_map(params![int(g.id.0)], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .map_err(e)?;
            for row in rows {
                let (id, role, joined, got, read) = row.map_err(e)?;
                if let Some(id) = id32(&id) {
                    g.members.push(StoredMember {
                        id,
                        role: role_of(role),
                        joined: uint(joined),
                        got: uint(got),
                        read: uint(read),
                    });
                }
            }
            if !entries {
                continue;
            }
            let rows = log
                .query_map(params![int(g.id.0)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .map_err(e)?;
            for row in rows {
                let (seq, from, bytes, change, time) = row.map_err(e)?;
                let Some(from) = id32(&from) else {
                    continue;
                };
                g.entries.push(StoredEntry {
                    seq: uint(seq),
                    from,
                    text_bytes: usize::try_from(bytes.unwrap_or(0)).unwrap_or(0),
                    change,
                    time: Timestamp(uint(time)),
                });
            }
        }
        Ok((groups, next.map_or(0, uint)))
    }

    /// The owner's request to remove `member` from `group` (`courier hub groups
    /// remove`): carried out by a running hub within seconds
    /// ([`Db::take_group_remove_requests`]), or by a stopped one at its start.
    ///
    /// # Errors
    /// If the database cannot be written.
    pub fn request_group_remove(&self, group: GroupId, member: &ClientId) -> Result<(), Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute(
            "INSERT OR IGNORE INTO group_remove_requests (grp, member) VALUES (?1, ?2)",
            params![int(group.0), &member.0[..]],
        )
        .map_err(|e| classify(&self.path, e))?;
        Ok(())
    }

    /// Whether the owner's request to remove `member` from `group` still waits for a
    /// hub to carry it out.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn is_group_remove_requested(
        &self,
        group: GroupId,
        member: &ClientId,
    ) -> Result<bool, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        conn.query_row(
            "SELECT 1 FROM group_remove_requests WHERE grp = ?1 AND member = ?2",
            params![int(group.0), &member.0[..]],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
        .map_err(|e| classify(&self.path, e))
    }

    /// Takes the owner's requests to remove someone from a group, forgetting them.
    ///
    /// # Errors
    /// If the database cannot be read or written.
    pub fn take_group_remove_requests(&self) -> Result<Vec<(GroupId, ClientId)>, Error> {
        let mut conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let e = |e| classify(&self.path, e);
        let tx = conn.transaction().map_err(e)?;
        let mut out = Vec::new();
        {
            let mut stmt = tx
                .prepare("DELETE FROM group_remove_requests RETURNING grp, member")
                .map_err(e)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .map_err(e)?;
            for row in rows {
                let (group, member) = row.map_err(e)?;
                if let Some(member) = id32(&member) {
                    out.push((GroupId(uint(group)), member));
                }
            }
        }
        tx.commit().map_err(e)?;
        Ok(out)
    }
}
