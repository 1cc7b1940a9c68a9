//! The SQLite files Courier keeps (the hub's database, each client's history): opened
//! checked and migrated forward, the same way for all of them.
//!
//! A file is marked as Courier's (`PRAGMA application_id`, one value per kind of file)
//! and versioned (`PRAGMA user_version`); its schema steps are only ever appended. A
//! file that is damaged, not a database, another program's, from a newer Courier or
//! read-only is refused with its own one-line error naming it, and never deleted or
//! overwritten to start over. Files are in WAL mode with `synchronous=FULL` (a commit is
//! on the disk when it returns) and wait up to 5 s for a lock another process holds.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::proto::Timestamp;

/// Why a database file cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not an SQLite database, or a damaged one.
    #[error("{}: damaged or not a database; it was left as it is (restore it from a backup or move it away)", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
    },
    /// An SQLite database of some other program.
    #[error("{}: a database of another program, not a Courier hub's; it was left as it is", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer Courier, whose schema this one does not know.
    #[error("{}: written by a newer Courier (schema {found}; this one knows up to {supported}): update Courier", path.display())]
    Newer {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: u32,
        /// The newest this build knows.
        supported: u32,
    },
    /// The file (or its folder) cannot be written.
    #[error("{}: read-only; the hub needs to write it (check its permissions and the disk)", path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// Any other SQLite failure (a full disk, an I/O error…).
    #[error("{}: {source}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
}

/// What a kind of file looks like: its mark and its schema steps (`migrations[n]` takes
/// version `n` to `n + 1`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schema {
    pub(crate) application_id: i32,
    pub(crate) migrations: &'static [&'static str],
}

impl Schema {
    /// The version this build writes.
    pub(crate) fn version(&self) -> u32 {
        u32::try_from(self.migrations.len()).unwrap_or(u32::MAX)
    }
}

/// Opens (creating if needed) the database at `path` for `schema`, checks it is one of
/// ours and not from a newer build, and migrates it forward.
///
/// The file and SQLite's `-wal` and `-shm` files beside it are the owner's only (0600 on
/// Unix, like the keys): they hold messages and names in the clear.
pub(crate) fn open(path: &Path, schema: &Schema) -> Result<Connection, Error> {
    create_private(path);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(path, e))?;
    if conn
        .is_readonly(rusqlite::MAIN_DB)
        .map_err(|e| classify(path, e))?
    {
        return Err(Error::ReadOnly {
            path: path.to_owned(),
        });
    }
    // Another process (the app and the CLI share a profile) may hold the lock briefly.
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| classify(path, e))?;
    // The first read of the file: a damaged or foreign file shows here.
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| classify(path, e))?;
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| classify(path, e))?;
    let tables: u32 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| classify(path, e))?;
    let ours = app_id == schema.application_id || (app_id == 0 && tables == 0 && version == 0);
    if !ours {
        return Err(Error::Foreign {
            path: path.to_owned(),
        });
    }
    if version > schema.version() {
        return Err(Error::Newer {
            path: path.to_owned(),
            found: version,
            supported: schema.version(),
        });
    }
    // Ours: files an older Courier made readable by others are closed to them.
    keep_private(path);
    // WAL: readers never block the writer. FULL: a commit is on the disk when it
    // returns, so what is said to be kept survives a crash.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| classify(path, e))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| classify(path, e))?;
    migrate(conn, path, schema, version)
}

/// Creates `path` empty with mode 0600 if it does not exist yet (Unix). SQLite takes an
/// empty file for a new database, and gives the `-wal` and `-shm` files it makes the
/// database file's mode. Failing here is left to the open that follows to report.
fn create_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Closes the database at `path` and its `-wal` and `-shm` files to everyone but the
/// owner where they are open to others (Unix): an older Courier made them 0644. A file
/// that cannot be changed (another user's) is logged and left; a link is not followed.
fn keep_private(path: &Path) {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        let Ok(meta) = std::fs::symlink_metadata(&file) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            let private = std::fs::Permissions::from_mode(meta.permissions().mode() & 0o700);
            if let Err(e) = std::fs::set_permissions(&file, private) {
                tracing::warn!(file = %file.display(), "could not close the file to others: {e}");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn migrate(
    mut conn: Connection,
    path: &Path,
    schema: &Schema,
    from: u32,
) -> Result<Connection, Error> {
    if from == schema.version() {
        return Ok(conn);
    }
    let tx = conn.transaction().map_err(|e| classify(path, e))?;
    for (n, step) in schema.migrations.iter().enumerate().skip(from as usize) {
        tx.execute_batch(step).map_err(|e| classify(path, e))?;
        tx.pragma_update(None, "user_version", n + 1)
            .map_err(|e| classify(path, e))?;
    }
    tx.pragma_update(None, "application_id", schema.application_id)
        .map_err(|e| classify(path, e))?;
    tx.commit().map_err(|e| classify(path, e))?;
    Ok(conn)
}

/// A time as SQLite stores it.
pub(crate) fn sql_time(t: Timestamp) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

/// A stored time back (a negative one, which Courier never writes, reads as none).
pub(crate) fn timestamp(t: Option<i64>) -> Option<Timestamp> {
    t.and_then(|t| u64::try_from(t).ok()).map(Timestamp)
}

/// Turns what SQLite said into the error a person can act on.
pub(crate) fn classify(path: &Path, e: rusqlite::Error) -> Error {
    let path = path.to_owned();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Error::Corrupt { path },
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied)
            if !writable(&path) =>
        {
            Error::ReadOnly { path }
        }
        _ => Error::Sqlite { path, source: e },
    }
}

/// Whether `path` (or, if it does not exist, its folder) looks writable to us.
fn writable(path: &Path) -> bool {
    if path.exists() {
        return std::fs::OpenOptions::new().append(true).open(path).is_ok();
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let probe = dir.join(format!(".courier-write-probe-{}", std::process::id()));
    std::fs::File::create(&probe).is_ok() && std::fs::remove_file(&probe).is_ok()
}

/// The path a database error names.
impl Error {
    /// The file the error is about.
    pub fn path(&self) -> &PathBuf {
        match self {
            Self::Corrupt { path }
            | Self::Foreign { path }
            | Self::Newer { path, .. }
            | Self::ReadOnly { path }
            | Self::Sqlite { path, .. } => path,
        }
    }
}

/// Helpers the database tests share.
#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::panic)]
pub(crate) mod testing {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Whether this process writes through file modes (root does).
    pub(crate) fn running_as_root() -> bool {
        use std::os::unix::fs::PermissionsExt as _;
        let probe = std::env::temp_dir().join(format!(
            "courier-root-probe-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = std::fs::write(&probe, b"x");
        let _ = std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o444));
        let root = std::fs::OpenOptions::new()
            .append(true)
            .open(&probe)
            .is_ok();
        let _ = std::fs::remove_file(&probe);
        root
    }

    /// `file` made unwritable for as long as this lives: copied into a read-only bind
    /// mount as root (root writes through file modes), or its folder and itself set to
    /// read-only modes otherwise.
    pub(crate) struct ReadOnly {
        /// The unwritable file.
        pub(crate) file: PathBuf,
        mount: Option<PathBuf>,
        dir: PathBuf,
    }

    impl ReadOnly {
        pub(crate) fn new(file: &Path) -> Self {
            use std::os::unix::fs::PermissionsExt as _;
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            if running_as_root() {
                let sub = dir.join("ro");
                std::fs::create_dir_all(&sub).unwrap();
                let name = file.file_name().unwrap();
                std::fs::copy(file, sub.join(name)).unwrap();
                let ok = |args: &[&str]| {
                    Command::new("mount")
                        .args(args)
                        .arg(&sub)
                        .arg(&sub)
                        .status()
                        .is_ok_and(|s| s.success())
                };
                let mounted = ok(&["--bind"])
                    && Command::new("mount")
                        .args(["-o", "remount,bind,ro"])
                        .arg(&sub)
                        .status()
                        .is_ok_and(|s| s.success());
                if !mounted {
                    let _ = Command::new("umount").arg(&sub).status();
                    panic!("root could not make a read-only bind mount");
                }
                Self {
                    file: sub.join(name),
                    mount: Some(sub),
                    dir,
                }
            } else {
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o444)).unwrap();
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
                Self {
                    file: file.to_path_buf(),
                    mount: None,
                    dir,
                }
            }
        }
    }

    impl Drop for ReadOnly {
        fn drop(&mut self) {
            use std::os::unix::fs::PermissionsExt as _;
            match &self.mount {
                Some(sub) => {
                    let _ = Command::new("umount").arg(sub).status();
                }
                None => {
                    let _ =
                        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755));
                }
            }
        }
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::{Path, PathBuf};

    use crate::history::History;
    use crate::hub::db::Db;
    use crate::proto::ClientId;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    }

    /// The database and its `-wal` and `-shm` side files.
    fn files(db: &Path) -> [PathBuf; 3] {
        let side = |s: &str| {
            let mut name = db.as_os_str().to_owned();
            name.push(s);
            PathBuf::from(name)
        };
        [db.to_owned(), side("-wal"), side("-shm")]
    }

    /// Hardening N14: hub.db and the client histories (with SQLite's side files) are
    /// the owner's only, like the keys: 0600 when made, and tightened when an older
    /// Courier left them 0644.
    #[test]
    fn databases_and_their_side_files_are_private() {
        let dir = std::env::temp_dir().join(format!(
            "courier-sqlite-modes-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let hub_db = dir.join("hub.db");
        let hub = ClientId([9; 32]);
        let open_both = || {
            (
                Db::open(&hub_db).unwrap(),
                History::open(&dir, &hub).unwrap(),
            )
        };
        let check = |why: &str| {
            for db in [hub_db.clone(), History::path_for(&dir, &hub)] {
                for f in files(&db) {
                    assert_eq!(mode(&f), 0o600, "{why}: {}", f.display());
                }
            }
        };
        let first = open_both();
        check("new");
        // As an older Courier left them (the side files stay while a connection is open).
        for db in [hub_db.clone(), History::path_for(&dir, &hub)] {
            for f in files(&db) {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let second = open_both();
        check("reopened");
        drop((first, second));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
