//! A backup of a hub's folder, made while the hub runs (`courier hub backup`): what a hub
//! needs to be the same hub, copied into a new private folder that a hub can be started
//! from as it is (`courier hub --data-dir OUT`); there is no restore step.
//!
//! Copied: the identity (`identity.key`, `identity.crt`: the same safety code), the
//! password record (`hub.secret`, if a password was set) and a consistent copy of the
//! database (`hub.db`: members, remembered devices, bans, stored messages and offers,
//! groups; see [`super::db`] for how it is copied beside the running hub). Nothing else
//! in the folder is copied: not SQLite's `-wal`/`-shm` files (their committed content is in
//! the copy), nor any lock, socket or file another program put there. The copy's
//! database passes SQLite's `PRAGMA integrity_check` before [`create`] returns; a failed
//! backup removes what it wrote.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::db;
use super::home::{DATABASE_FILE, SECRET_FILE};
use crate::identity::{self, CERT_FILE, KEY_FILE};
use crate::proto::ClientId;

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The folder holds no hub: a file every hub has is missing.
    #[error("{}: no hub's folder (it has no {missing}); give the folder the hub runs with (--data-dir)", dir.display())]
    NoHub {
        /// The folder.
        dir: PathBuf,
        /// The file that is not there.
        missing: &'static str,
    },
    /// The backup's folder exists and is not empty (or is not a folder).
    #[error("{}: exists and is not an empty folder; a backup goes into a new or empty folder", path.display())]
    NotEmpty {
        /// The folder.
        path: PathBuf,
    },
    /// The backup's folder is a symbolic link, or a folder another user owns: its owner
    /// (or the link's) could later swap the private files put in it.
    #[error("{}: {why}; a backup goes into a new folder or an empty one of yours", path.display())]
    NotYours {
        /// The folder.
        path: PathBuf,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Reading the hub's files or writing the copy failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing a private file of the copy failed.
    #[error(transparent)]
    Identity(#[from] identity::Error),
    /// The hub's database could not be read or copied.
    #[error(transparent)]
    Database(#[from] db::Error),
    /// The copy of the database failed SQLite's integrity check.
    #[error("{}: the copy failed SQLite's integrity check ({found}); nothing was kept", path.display())]
    Damaged {
        /// The copy (removed).
        path: PathBuf,
        /// What the check found.
        found: String,
    },
}

/// What a backup copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The backup's folder.
    pub out: PathBuf,
    /// Each file copied, with its size in bytes, in the order they were copied.
    pub files: Vec<(&'static str, u64)>,
    /// The identity's fingerprint (its safety code): a hub started from the copy shows
    /// the same one.
    pub fingerprint: ClientId,
    /// The copied database's schema version.
    pub schema: u32,
}

impl Summary {
    /// The bytes copied, all files together.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, n)| n).sum()
    }
}

/// Copies the hub in `dir` (running or not) into `out`, a new folder or an empty one,
/// made owner-only (0700, its files 0600, on Unix). `dir` is only read.
///
/// # Errors
/// [`Error::NoHub`] if `dir` is no hub's folder, [`Error::NotEmpty`] if `out` has
/// something in it, [`Error::NotYours`] if it is a symbolic link or another user's; a
/// file that cannot be read or written, a database that cannot be copied or whose copy
/// fails the integrity check. What was written is removed.
pub fn create(dir: &Path, out: &Path) -> Result<Summary, Error> {
    for needed in [KEY_FILE, CERT_FILE, DATABASE_FILE] {
        let path = dir.join(needed);
        match fs::metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NoHub {
                    dir: dir.to_owned(),
                    missing: needed,
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "reading",
                    path,
                    source,
                });
            }
        }
    }
    let created = prepare(out)?;
    let mut written = Vec::new();
    let result = copy_all(dir, out, &mut written);
    if result.is_err() {
        for name in written {
            let _ = fs::remove_file(out.join(name));
        }
        if created {
            let _ = fs::remove_dir(out);
        }
    }
    result
}

/// Runs SQLite's `PRAGMA integrity_check` on a database file (a backup's `hub.db`),
/// opened read-only and left as it is: `Ok(None)` when it passes, else what it found.
///
/// # Errors
/// If the file cannot be opened or read at all.
pub fn check_database(path: &Path) -> Result<Option<String>, Error> {
    Ok(db::snapshot::check(path)?)
}

/// Makes `out` a new private folder, or takes an empty one (made private). Returns
/// whether it was created.
fn prepare(out: &Path) -> Result<bool, Error> {
    let io_err = |action, source| Error::Io {
        action,
        path: out.to_owned(),
        source,
    };
    // Never followed: a link (even to nowhere) could lead into someone else's folder.
    match fs::symlink_metadata(out) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(Error::NotYours {
                path: out.to_owned(),
                why: "a symbolic link",
            });
        }
        Ok(meta) if meta.is_dir() && !owned_by_us(&meta) => {
            return Err(Error::NotYours {
                path: out.to_owned(),
                why: "another user owns it",
            });
        }
        _ => {}
    }
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::NotEmpty {
                    path: out.to_owned(),
                });
            }
            identity::create_private_dir(out)?;
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| io_err("creating", e))?;
            }
            #[cfg_attr(not(unix), allow(unused_mut))]
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(out).map_err(|e| io_err("creating", e))?;
            Ok(true)
        }
        // A file, not a folder.
        Err(_) if out.exists() => Err(Error::NotEmpty {
            path: out.to_owned(),
        }),
        Err(e) => Err(io_err("reading", e)),
    }
}

/// Whether the folder `meta` describes belongs to the user this process runs as.
#[cfg(unix)]
fn owned_by_us(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.uid() == rustix::process::geteuid().as_raw()
}

/// Whether the folder `meta` describes belongs to the user this process runs as (Windows:
/// a folder's access list, not an owner id, decides; the copy's files are private anyway).
#[cfg(not(unix))]
fn owned_by_us(_meta: &fs::Metadata) -> bool {
    true
}

/// Copies the files, noting each one in `written` before it is written.
fn copy_all(dir: &Path, out: &Path, written: &mut Vec<&'static str>) -> Result<Summary, Error> {
    let mut files = Vec::new();
    // The database first: it is the big one, and the one that can fail its check.
    let copy = out.join(DATABASE_FILE);
    written.push(DATABASE_FILE);
    create_private(&copy)?;
    let schema = db::snapshot::copy(&dir.join(DATABASE_FILE), &copy)?;
    if let Some(found) = db::snapshot::check(&copy)? {
        return Err(Error::Damaged { path: copy, found });
    }
    sync(&copy)?;
    files.push((DATABASE_FILE, size(&copy)?));

    let mut fingerprint = None;
    for name in [KEY_FILE, CERT_FILE, SECRET_FILE] {
        let from = dir.join(name);
        let bytes = match fs::read(&from) {
            Ok(b) => b,
            // A hub whose password was never set has no record: nothing to copy.
            Err(e) if e.kind() == io::ErrorKind::NotFound && name == SECRET_FILE => continue,
            Err(source) => {
                return Err(Error::Io {
                    action: "reading",
                    path: from,
                    source,
                });
            }
        };
        if name == CERT_FILE {
            fingerprint = Some(identity::fingerprint(&bytes));
        }
        written.push(name);
        identity::write_private(&out.join(name), &bytes)?;
        files.push((name, bytes.len() as u64));
    }
    let fingerprint = fingerprint.ok_or_else(|| Error::NoHub {
        dir: dir.to_owned(),
        missing: CERT_FILE,
    })?;
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(out) {
        let _ = d.sync_all();
    }
    Ok(Summary {
        out: out.to_owned(),
        files,
        fingerprint,
        schema,
    })
}

/// Creates `path` empty and owner-only (Unix), refusing anything already there.
fn create_private(path: &Path) -> Result<(), Error> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop).map_err(|source| Error::Io {
        action: "creating",
        path: path.to_owned(),
        source,
    })
}

fn sync(path: &Path) -> Result<(), Error> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| Error::Io {
            action: "syncing",
            path: path.to_owned(),
            source,
        })
}

fn size(path: &Path) -> Result<u64, Error> {
    fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| Error::Io {
            action: "reading",
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests;
