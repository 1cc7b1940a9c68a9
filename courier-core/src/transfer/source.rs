//! The sender's side of an offer: local files and folders turned into a [`Manifest`].

use std::io;
use std::path::{Path, PathBuf};

use crate::limits;
use crate::proto::{FileEntry, Manifest, ManifestError};

/// What to send: a manifest and, for each of its files, where it is on this machine.
#[derive(Debug, Clone)]
pub struct Source {
    /// The manifest the receiver sees.
    pub manifest: Manifest,
    /// Local path of each file in `manifest.files`, same order.
    pub paths: Vec<PathBuf>,
}

/// Why the paths cannot be offered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path cannot be read.
    #[error("cannot read {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A path given is neither a file nor a folder.
    #[error("{0} is not a file or a folder")]
    Unsupported(PathBuf),
    /// The offer breaks a limit.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

impl Source {
    /// Walks `paths`: files go as their name, folders as `folder/…` with their structure.
    /// Symbolic links inside folders are skipped (never followed out of the folder);
    /// empty folders are kept.
    ///
    /// # Errors
    /// An unreadable path, or more than [`limits::MAX_OFFER_FILES`] entries.
    pub fn from_paths(paths: &[PathBuf]) -> Result<Self, Error> {
        let mut source = Self {
            manifest: Manifest::default(),
            paths: Vec::new(),
        };
        for path in paths {
            let io = |source| Error::Io {
                path: path.clone(),
                source,
            };
            let meta = std::fs::metadata(path).map_err(io)?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .or_else(|| {
                    std::fs::canonicalize(path)
                        .ok()?
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "files".to_owned());
            if meta.is_file() {
                source.push_file(path.clone(), name, meta.len())?;
            } else if meta.is_dir() {
                source.walk(path, &name)?;
            } else {
                return Err(Error::Unsupported(path.clone()));
            }
        }
        source.manifest.validate()?;
        Ok(source)
    }

    fn push_file(&mut self, path: PathBuf, rel: String, size: u64) -> Result<(), Error> {
        if self.manifest.len() >= limits::MAX_OFFER_FILES {
            return Err(ManifestError::TooManyFiles.into());
        }
        self.manifest.files.push(FileEntry { path: rel, size });
        self.paths.push(path);
        Ok(())
    }

    fn walk(&mut self, dir: &Path, rel: &str) -> Result<(), Error> {
        let io = |source| Error::Io {
            path: dir.to_owned(),
            source,
        };
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        let mut any = false;
        for entry in entries {
            let kind = entry.file_type().map_err(io)?;
            let child = format!("{rel}/{}", entry.file_name().to_string_lossy());
            if kind.is_file() {
                let len = entry.metadata().map_err(io)?.len();
                self.push_file(entry.path(), child, len)?;
                any = true;
            } else if kind.is_dir() {
                self.walk(&entry.path(), &child)?;
                any = true;
            }
        }
        if !any {
            if self.manifest.len() >= limits::MAX_OFFER_FILES {
                return Err(ManifestError::TooManyFiles.into());
            }
            self.manifest.folders.push(rel.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_keep_structure_and_empty_folders() {
        let tmp = std::env::temp_dir().join(format!("courier-src-{}", rand::random::<u64>()));
        std::fs::create_dir_all(tmp.join("album/sub")).unwrap();
        std::fs::create_dir_all(tmp.join("album/empty")).unwrap();
        std::fs::write(tmp.join("album/a.jpg"), b"aaa").unwrap();
        std::fs::write(tmp.join("album/sub/b.jpg"), b"bb").unwrap();
        std::fs::write(tmp.join("single.txt"), b"").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/passwd", tmp.join("album/link")).unwrap();
        let s = Source::from_paths(&[tmp.join("album"), tmp.join("single.txt")]).unwrap();
        let names: Vec<_> = s.manifest.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["album/a.jpg", "album/sub/b.jpg", "single.txt"]);
        assert_eq!(s.manifest.folders, ["album/empty"]);
        assert_eq!(s.manifest.total(), 5);
        assert_eq!(s.paths.len(), 3);
        assert!(Source::from_paths(&[tmp.join("missing")]).is_err());
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn too_many_files_is_refused() {
        let tmp = std::env::temp_dir().join(format!("courier-many-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&tmp).unwrap();
        for i in 0..=limits::MAX_OFFER_FILES {
            std::fs::write(tmp.join(format!("{i}")), b"").unwrap();
        }
        assert!(matches!(
            Source::from_paths(std::slice::from_ref(&tmp)),
            Err(Error::Manifest(ManifestError::TooManyFiles))
        ));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
