//! Who was online when the hub last stopped cleanly: the `stopped_online` table,
//! written at the stop and taken (read and emptied) at the next start, so that members
//! coming back after an upgrade restart are not news to each other.

use std::sync::PoisonError;

use rusqlite::{Transaction, params};

use super::{Db, Error, Record};
use crate::proto::{ClientId, Timestamp};
use crate::sqlite::{classify, sql_time, timestamp};

/// The members online when the hub stopped, and when that was ([`Record::Stopped`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// When the hub stopped.
    pub at: Timestamp,
    /// Who was online then.
    pub online: Vec<ClientId>,
}

/// Writes one stop record inside `tx` (replacing any earlier one); false for a record
/// that is not one.
pub(super) fn write(db: &Db, tx: &Transaction<'_>, record: &Record) -> Result<bool, Error> {
    let e = |e| classify(&db.path, e);
    let Record::Stopped(stopped) = record else {
        return Ok(false);
    };
    tx.execute("DELETE FROM stopped_online", []).map_err(e)?;
    let mut insert = tx
        .prepare_cached("INSERT OR IGNORE INTO stopped_online (id, at) VALUES (?1, ?2)")
        .map_err(e)?;
    for id in &stopped.online {
        insert
            .execute(params![&id.0[..], sql_time(stopped.at)])
            .map_err(e)?;
    }
    Ok(true)
}

impl Db {
    /// Who was online when the hub last stopped cleanly, and when (`None`: nobody was,
    /// or the last run did not stop cleanly). Taken: the next call answers `None` until
    /// the next stop is written. A row that does not read back is left out.
    ///
    /// # Errors
    /// If the database cannot be read or written.
    pub fn take_stopped(&self) -> Result<Option<Stopped>, Error> {
        let mut conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction().map_err(|e| classify(&self.path, e))?;
        let rows: Vec<(Vec<u8>, i64)> = {
            let mut stmt = tx
                .prepare("SELECT id, at FROM stopped_online")
                .map_err(|e| classify(&self.path, e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| classify(&self.path, e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| classify(&self.path, e))?
        };
        if !rows.is_empty() {
            tx.execute("DELETE FROM stopped_online", [])
                .map_err(|e| classify(&self.path, e))?;
        }
        tx.commit().map_err(|e| classify(&self.path, e))?;
        let at = rows.iter().filter_map(|(_, at)| timestamp(Some(*at))).min();
        let online: Vec<ClientId> = rows
            .into_iter()
            .filter_map(|(id, _)| <[u8; 32]>::try_from(id.as_slice()).ok().map(ClientId))
            .collect();
        Ok(at
            .filter(|_| !online.is_empty())
            .map(|at| Stopped { at, online }))
    }
}
