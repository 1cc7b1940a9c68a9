//! A consistent copy of a hub's database while the hub runs (`courier hub backup`), and
//! SQLite's own check of the copy.
//!
//! The copy is made with `VACUUM INTO` on a read-only connection: one read transaction,
//! so the copy is the database as it was at one instant. The file is in WAL mode, where a
//! reader never blocks the writer: the running hub keeps committing while the copy is
//! made (it cannot fold its log back into the file past the copy's snapshot until the
//! copy ends, so the log grows for that long). SQLite's backup API was the alternative:
//! copied a few pages at a time, it starts over whenever another process writes the
//! file, so under a busy hub it might never finish; copied in one step it is the same
//! read transaction as `VACUUM INTO`, which also leaves the copy compact, needs no
//! extra feature of rusqlite, and writes a file that is complete only when it returns.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::Error;
use super::schema::APPLICATION_ID;
use crate::sqlite::classify;

/// Copies the hub database at `from` into `to`, which must not exist or be empty (the
/// caller creates it empty with the mode it wants). Returns the copy's schema version.
/// `from` is only read: never migrated, never created.
///
/// # Errors
/// `from` cannot be opened or read, is not a hub's database ([`Error::Foreign`]), or the
/// copy cannot be written.
pub(crate) fn copy(from: &Path, to: &Path) -> Result<u32, Error> {
    let conn = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(from, e))?;
    // The hub commits in short transactions; a checkpoint may hold a lock for a moment.
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| classify(from, e))?;
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| classify(from, e))?;
    if app_id != APPLICATION_ID {
        return Err(Error::Foreign {
            path: from.to_owned(),
        });
    }
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| classify(from, e))?;
    let target = to.to_str().ok_or_else(|| Error::Sqlite {
        path: to.to_owned(),
        source: rusqlite::Error::InvalidPath(to.to_owned()),
    })?;
    conn.execute("VACUUM INTO ?1", [target])
        .map_err(|e| classify(to, e))?;
    Ok(version)
}

/// Runs SQLite's `PRAGMA integrity_check` on the copy at `path`: `Ok(None)` when it says
/// "ok", else what it found (its first lines). The copy is opened read-only and left as
/// it is.
///
/// # Errors
/// If the file cannot be opened or read at all.
pub(crate) fn check(path: &Path) -> Result<Option<String>, Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(path, e))?;
    let mut stmt = conn
        .prepare("PRAGMA integrity_check(10)")
        .map_err(|e| classify(path, e))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| classify(path, e))?;
    let mut found = Vec::new();
    for row in rows {
        found.push(row.map_err(|e| classify(path, e))?);
    }
    Ok(match found.as_slice() {
        [ok] if ok == "ok" => None,
        _ => Some(found.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::db::Db;

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "courier-snapshot-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_copy_of_an_open_database_checks_ok_and_keeps_its_members() {
        let dir = tempdir("ok");
        let db = Db::open(&dir.join("hub.db")).unwrap();
        let id = crate::proto::ClientId([7; 32]);
        db.forget_device(&id).unwrap();
        let to = dir.join("copy.db");
        // The source stays open (as under a running hub) while it is copied.
        let version = copy(&dir.join("hub.db"), &to).unwrap();
        assert_eq!(version, super::super::SCHEMA_VERSION);
        assert_eq!(check(&to).unwrap(), None);
        drop(db);
        let copied = Db::open(&to).unwrap();
        assert!(copied.take_forget_requests().unwrap().contains(&id));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_programs_database_is_not_copied() {
        let dir = tempdir("foreign");
        let other = dir.join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); PRAGMA application_id = 7;")
            .unwrap();
        let err = copy(&other, &dir.join("copy.db")).unwrap_err();
        assert!(matches!(err, Error::Foreign { .. }), "{err}");
        assert!(!dir.join("copy.db").exists(), "nothing written");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_copy_fails_the_check() {
        let dir = tempdir("damaged");
        let db = Db::open(&dir.join("hub.db")).unwrap();
        for n in 0..200u8 {
            db.forget_device(&crate::proto::ClientId([n; 32])).unwrap();
        }
        let to = dir.join("copy.db");
        copy(&dir.join("hub.db"), &to).unwrap();
        // Scribble over the middle of the file (past the header, in the b-tree pages).
        let mut bytes = std::fs::read(&to).unwrap();
        let len = bytes.len();
        for b in bytes.iter_mut().take(len - 512).skip(len / 2) {
            *b = 0x5a;
        }
        std::fs::write(&to, &bytes).unwrap();
        let found = check(&to);
        assert!(
            matches!(found, Ok(Some(_)) | Err(Error::Corrupt { .. })),
            "{found:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
