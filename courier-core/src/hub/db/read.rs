//! What is read back: the members, the backlog's counts and the stored offers at start,
//! and the member queries of `courier hub`.

use std::sync::{Arc, PoisonError};

use rusqlite::{OptionalExtension, params};

use super::{Backlog, Db, Error, Member, StoredOffer};
use crate::proto::{
    ClientId, Profile, ProfileError, Sealed, Timestamp, TransferId, validate_profile,
};
use crate::sqlite::{classify, timestamp};

impl Db {
    /// The `delivered` receipts owed to offline senders ([`Record::Owed`](super::Record)),
    /// oldest first. A row with a malformed sender is left out.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn owed_receipts(&self) -> Result<Vec<(ClientId, crate::proto::MsgId)>, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn
            .prepare("SELECT sender, id FROM owed_receipts ORDER BY seq")
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| classify(&self.path, e))?;
        let mut owed = Vec::new();
        for row in rows {
            let (sender, id) = row.map_err(|e| classify(&self.path, e))?;
            if let Ok(sender) = <[u8; 32]>::try_from(sender.as_slice()) {
                let id = crate::proto::MsgId(u64::from_ne_bytes(id.to_ne_bytes()));
                owed.push((ClientId(sender), id));
            }
        }
        Ok(owed)
    }

    /// Every member in the database. A row that no longer reads as a valid profile (damaged, or
    /// past today's limits) is left out, with a warning.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn members(&self) -> Result<Vec<Member>, Error> {
        let mut members = Vec::new();
        self.each_member(|m| members.push(m))?;
        Ok(members)
    }

    /// Gives `f` every member in the database, one at a time, in the order a hub keeps them
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
                     first_seen, card_mark
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
                    r.get::<_, i64>(7)?,
                ))
            })
            .map_err(|e| classify(&self.path, e))?;
        for row in rows {
            let (
                id,
                profile,
                last_seen,
                logins,
                avatar_changed,
                remembered_since,
                first_seen,
                card,
            ) = row.map_err(|e| classify(&self.path, e))?;
            let Ok(id) = <[u8; 32]>::try_from(id.as_slice()) else {
                tracing::warn!(db = %self.path.display(), "a member row with a malformed id was skipped");
                continue;
            };
            let profile: Profile = match ciborium::from_reader(profile.as_slice()) {
                // A name that reads as an id, or as a group, was allowed before this
                // build refused it: the member stays (ids win over names, and lists tag
                // such a name with the id); it must pick another name at its next login.
                Ok(p)
                    if matches!(
                        validate_profile(&p),
                        Ok(())
                            | Err(ProfileError::NameLooksLikeId | ProfileError::NameLooksLikeGroup)
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
                card_mark: crate::proto::Mark(u64::try_from(card).unwrap_or(0)),
            });
        }
        Ok(())
    }

    /// How many messages wait for each offline contact from each sender, and their
    /// bytes: what the hub needs at start (the messages stay on the disk until handed
    /// over).
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn backlogs(&self) -> Result<Vec<Backlog>, Error> {
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
        let mut backlogs = Vec::new();
        for row in rows {
            let (to, from, count, bytes) = row.map_err(|e| classify(&self.path, e))?;
            let (Ok(to), Ok(from)) = (
                <[u8; 32]>::try_from(to.as_slice()),
                <[u8; 32]>::try_from(from.as_slice()),
            ) else {
                tracing::warn!(db = %self.path.display(), "stored messages with a malformed recipient or sender were skipped");
                continue;
            };
            backlogs.push(Backlog {
                to: ClientId(to),
                from: ClientId(from),
                count: usize::try_from(count).unwrap_or(0),
                bytes: usize::try_from(bytes.unwrap_or(0)).unwrap_or(0),
            });
        }
        Ok(backlogs)
    }

    /// Every file offer stored for a recipient, oldest first. One whose envelope is empty
    /// or too large, or whose ids are malformed (a damaged row) is skipped with a warning.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn offers(&self) -> Result<Vec<StoredOffer>, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn
            .prepare("SELECT id, sender, recipient, sealed, created FROM offers ORDER BY created")
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
            let (id, from, to, sealed, created) = row.map_err(|e| classify(&self.path, e))?;
            let sealed = Sealed::from(sealed);
            let (Ok(from), Ok(to), true) = (
                <[u8; 32]>::try_from(from.as_slice()),
                <[u8; 32]>::try_from(to.as_slice()),
                !sealed.is_empty() && sealed.within_bounds(),
            ) else {
                tracing::warn!(db = %self.path.display(), "a damaged stored offer was skipped");
                continue;
            };
            offers.push(StoredOffer {
                id: TransferId(u64::from_ne_bytes(id.to_ne_bytes())),
                from: ClientId(from),
                to: ClientId(to),
                sealed: Arc::new(sealed),
                created: Timestamp(u64::try_from(created).unwrap_or(0)),
            });
        }
        Ok(offers)
    }

    /// How many members the database holds (for `courier hub` and tests).
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn member_count(&self) -> Result<u64, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        conn.query_row("SELECT count(*) FROM members", [], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| classify(&self.path, e))
    }

    /// Whether the database holds a member with this id.
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
}
