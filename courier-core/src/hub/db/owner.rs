//! The owner's requests, written by `courier hub` (forget a device, ban, unban, drop
//! what a sender left) and taken by a running hub within seconds; and what each sender
//! left at the hub.

use std::sync::PoisonError;

use rusqlite::{OptionalExtension, params};

use super::{Db, Error};
use crate::proto::{ClientId, Timestamp};
use crate::sqlite::{classify, sql_time};

impl Db {
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

    /// The owner's request to drop every message and stored offer `id` left
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
    /// many, their bytes, for how many recipients) and stored file offers. Read only;
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
    /// them: [`crate::hub::Hub::forget_device`]).
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
    /// Identities banned since the last call ([`crate::hub::Hub::ban`]).
    pub bans: Vec<ClientId>,
    /// Identities no longer banned ([`crate::hub::Hub::unban`]).
    pub unbans: Vec<ClientId>,
    /// Senders whose messages and stored offers are to be dropped
    /// ([`crate::hub::Hub::drop_from`]).
    pub drops: Vec<ClientId>,
    /// Members to take out of groups ([`crate::hub::Hub::owner_remove`]), filled from
    /// [`Db::take_group_remove_requests`] by the caller.
    pub group_removes: Vec<(crate::proto::GroupId, ClientId)>,
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
        self.bans.is_empty()
            && self.unbans.is_empty()
            && self.drops.is_empty()
            && self.group_removes.is_empty()
    }
}

/// What one sender left at the hub ([`Db::left_by_senders`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    /// The sender.
    pub from: ClientId,
    /// Messages waiting for offline contacts.
    pub messages: u64,
    /// Their envelopes' bytes (sealed texts).
    pub bytes: u64,
    /// How many recipients they wait for.
    pub recipients: u64,
    /// File offers stored for their recipients.
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
