//! The record writer: what the hub hands out ([`Record`]s) committed in one
//! transaction, with the pages and forgotten counts it read back ([`Written`]).

use std::sync::PoisonError;

use rusqlite::params;

use super::{Backlog, Db, Error, Loaded, Record, Whose, Written};
use crate::proto::{ClientId, MsgId, Sealed, SealedMessage, Target, Timestamp};
use crate::sqlite::{classify, sql_time};

impl Db {
    /// Writes `records` in one transaction: all of them are written, or (on error) none.
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
                         remembered_since, first_seen, card_mark)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET profile = ?2, last_seen = ?3,
                         logins = ?4, avatar_changed = ?5, remembered_since = ?6,
                         first_seen = ?7, card_mark = ?8",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut forget = tx
                .prepare_cached("DELETE FROM members WHERE id = ?1")
                .map_err(|e| classify(&self.path, e))?;
            let mut keep = tx
                .prepare_cached(
                    "INSERT INTO stored (recipient, sender, id, sealed, time)
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
                    "SELECT sender, id, sealed, time FROM stored WHERE recipient = ?1
                     ORDER BY seq LIMIT ?2",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut count = tx
                .prepare_cached("SELECT count(*) FROM stored WHERE recipient = ?1")
                .map_err(|e| classify(&self.path, e))?;
            let mut expire = tx
                .prepare_cached(
                    "DELETE FROM stored WHERE time < ?1
                     RETURNING recipient, sender, octet_length(sealed)",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut forget_to = tx
                .prepare_cached(
                    "DELETE FROM stored WHERE recipient = ?1
                     RETURNING recipient, sender, octet_length(sealed)",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut forget_from = tx
                .prepare_cached(
                    "DELETE FROM stored WHERE sender = ?1
                     RETURNING recipient, sender, octet_length(sealed)",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut keep_offer = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO offers (id, sender, recipient, sealed, created)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| classify(&self.path, e))?;
            let mut offer_gone = tx
                .prepare_cached("DELETE FROM offers WHERE id = ?1")
                .map_err(|e| classify(&self.path, e))?;
            let mut paid = tx
                .prepare_cached("DELETE FROM owed_receipts WHERE sender = ?1")
                .map_err(|e| classify(&self.path, e))?;
            let mut owe = tx
                .prepare_cached("INSERT INTO owed_receipts (sender, id) VALUES (?1, ?2)")
                .map_err(|e| classify(&self.path, e))?;
            let mut profile = Vec::new();
            // Reads last: they see every write of the transaction.
            let writes = records
                .iter()
                .filter(|r| !matches!(r, Record::Fetch { .. }));
            let reads = records.iter().filter(|r| matches!(r, Record::Fetch { .. }));
            for record in writes.chain(reads) {
                if super::groups::write(self, &tx, record, &mut written)?
                    || super::keys::write(self, &tx, record)?
                    || super::stopped::write(self, &tx, record)?
                {
                    continue;
                }
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
                                i64::try_from(m.card_mark.0).unwrap_or(i64::MAX),
                            ])
                            .map_err(|e| classify(&self.path, e))?;
                    }
                    Record::Offer(o) => {
                        keep_offer
                            .execute(params![
                                i64::from_ne_bytes(o.id.0.to_ne_bytes()),
                                &o.from.0[..],
                                &o.to.0[..],
                                o.sealed.as_bytes(),
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
                        paid.execute(params![&id.0[..]])
                            .map_err(|e| classify(&self.path, e))?;
                    }
                    Record::Owed { to, ids } => {
                        paid.execute(params![&to.0[..]])
                            .map_err(|e| classify(&self.path, e))?;
                        for id in ids {
                            owe.execute(params![&to.0[..], i64::from_ne_bytes(id.0.to_ne_bytes())])
                                .map_err(|e| classify(&self.path, e))?;
                        }
                    }
                    Record::Message { to, message } => {
                        keep.execute(params![
                            &to.0[..],
                            &message.from.0[..],
                            i64::from_ne_bytes(message.id.0.to_ne_bytes()),
                            message.sealed.as_bytes(),
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
                                    r.get::<_, Vec<u8>>(2)?,
                                    r.get::<_, i64>(3)?,
                                ))
                            })
                            .map_err(|e| classify(&self.path, e))?;
                        let mut page = Vec::new();
                        let mut read = 0;
                        for row in rows {
                            let (from, id, sealed, time) =
                                row.map_err(|e| classify(&self.path, e))?;
                            read += 1;
                            if let Some(m) = self.message(*to, &from, id, sealed, time) {
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
                    Record::Group { .. }
                    | Record::GroupMember { .. }
                    | Record::GroupMemberGone { .. }
                    | Record::GroupEntry { .. }
                    | Record::GroupForget { .. }
                    | Record::GroupDrop { .. }
                    | Record::GroupGone(_)
                    | Record::GroupFetch { .. }
                    | Record::Keys { .. }
                    | Record::Stopped(_) => {}
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
        sealed: Vec<u8>,
        time: i64,
    ) -> Option<SealedMessage> {
        let Ok(from) = <[u8; 32]>::try_from(from) else {
            tracing::warn!(db = %self.path.display(), "a stored message with a malformed id was skipped");
            return None;
        };
        let sealed = Sealed::from(sealed);
        if !sealed.fits_message() {
            tracing::warn!(db = %self.path.display(), "a stored message with an unusable envelope was skipped");
            return None;
        }
        Some(SealedMessage {
            id: MsgId(u64::from_ne_bytes(id.to_ne_bytes())),
            from: ClientId(from),
            to: Target::Client(to),
            sealed,
            time: Timestamp(u64::try_from(time).unwrap_or(0)),
            seq: None,
        })
    }
}

/// A row a forgetting `DELETE … RETURNING recipient, sender, octet_length(sealed)` gave.
type ForgottenRow = (Vec<u8>, Vec<u8>, Option<i64>);

fn forgotten_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ForgottenRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

/// Adds up forgotten rows per recipient and sender.
fn tally_forgotten(
    rows: impl Iterator<Item = rusqlite::Result<ForgottenRow>>,
    into: &mut Vec<Backlog>,
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
            .map(|((to, from), (count, bytes))| Backlog {
                to: ClientId(to),
                from: ClientId(from),
                count,
                bytes,
            }),
    );
    Ok(())
}
