//! Members' published keys in the hub's database: the `bundles` table, a few rows per
//! member (newest first), replaced as a whole when the member publishes.

use std::sync::PoisonError;

use rusqlite::{Transaction, params};

use super::{Db, Error, Record};
use crate::proto::{ClientId, KeyBundle};
use crate::sqlite::classify;

/// Writes one keys record inside `tx` (a member's bundles, or a forgotten member's
/// removal); false for a record that is not about keys.
pub(super) fn write(db: &Db, tx: &Transaction<'_>, record: &Record) -> Result<bool, Error> {
    let e = |e| classify(&db.path, e);
    let (id, bundles): (&ClientId, &[KeyBundle]) = match record {
        Record::Keys { id, bundles } => (id, bundles),
        Record::Forget(id) => (id, &[]),
        _ => return Ok(false),
    };
    tx.prepare_cached("DELETE FROM bundles WHERE member = ?1")
        .map_err(e)?
        .execute(params![&id.0[..]])
        .map_err(e)?;
    let mut insert = tx
        .prepare_cached("INSERT INTO bundles (member, rank, bundle) VALUES (?1, ?2, ?3)")
        .map_err(e)?;
    for (rank, bundle) in bundles.iter().enumerate() {
        let rank = i64::try_from(rank).unwrap_or(i64::MAX);
        insert
            .execute(params![&id.0[..], rank, crate::proto::encode(bundle)])
            .map_err(e)?;
    }
    // A forgotten member's row goes on to the member writer too.
    Ok(matches!(record, Record::Keys { .. }))
}

impl Db {
    /// Every member's published keys, each member's newest first. A row that does not
    /// read back (damaged) is skipped with a warning.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub fn bundles(&self) -> Result<Vec<(ClientId, KeyBundle)>, Error> {
        let conn = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn
            .prepare("SELECT member, bundle FROM bundles ORDER BY member, rank")
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(|e| classify(&self.path, e))?;
        let mut bundles = Vec::new();
        for row in rows {
            let (id, bundle) = row.map_err(|e| classify(&self.path, e))?;
            let decoded = crate::proto::decode_any::<KeyBundle>(&bundle).ok();
            let (Ok(id), Some(bundle)) = (<[u8; 32]>::try_from(id.as_slice()), decoded) else {
                tracing::warn!(db = %self.path.display(), "a damaged key bundle was skipped");
                continue;
            };
            bundles.push((ClientId(id), bundle));
        }
        Ok(bundles)
    }
}
