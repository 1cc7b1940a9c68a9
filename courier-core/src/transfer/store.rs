//! Writing received files safely. Every operation is relative to one directory handle
//! (cap-std), so neither a name from the wire nor a symlink planted in the download folder
//! can reach outside it:
//!
//! - data goes to a `.part` file, created with `create_new` (mode 0600, never executable)
//!   and reopened for resume without following a symlink;
//! - a finished file gets its final name by a rename that fails rather than replace an
//!   existing file (`RENAME_NOREPLACE` on Linux and Android, `RENAME_EXCL` on Apple
//!   systems; elsewhere, or where the file system has no such rename, a hard link and
//!   then the part's removal): a clash becomes
//!   `name (1).ext`, names that only differ by case or Unicode form count as clashes, and
//!   nothing is ever overwritten;
//! - only `.part` files this code created are ever removed.
//!
//! Each file walks its folder's path again when its part is created (so a folder moved
//! or swapped for a symlink between two files is never followed); naming opens each
//! folder once per group of files named together, then names by single names inside it.

use std::collections::{HashMap, HashSet};
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, File, OpenOptions};

use super::name::{MAX_NAME_BYTES, collision_key, numbered, sanitize_name, sanitize_path};

/// Most ` (n)` suffixes tried before giving up on a name.
const MAX_NUMBERED: u32 = 10_000;

/// Errors writing received files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The download folder cannot be opened or created.
    #[error("cannot open the download folder {path}")]
    Open {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A folder on the way exists but is not a real folder (a file or a symlink).
    #[error("{0} exists in the download folder and is not a folder")]
    NotAFolder(PathBuf),
    /// The `.part` file exists but is not a regular file (for example a planted symlink).
    #[error("{0} exists in the download folder and is not a regular file")]
    NotAFile(PathBuf),
    /// No free name was found.
    #[error("no free name for {0} in the download folder")]
    NoFreeName(String),
    /// Any other file-system error.
    #[error("writing in the download folder")]
    Io(#[from] io::Error),
}

/// The download folder.
#[derive(Debug)]
pub struct Downloads {
    dir: Dir,
    path: PathBuf,
    /// Collision keys of the names in each folder this store has finished files in,
    /// listed once per folder instead of once per file.
    taken: Mutex<HashMap<PathBuf, HashSet<String>>>,
}

/// `.part` files some transfer of this process is writing (by full path).
static PARTS_IN_USE: Mutex<std::collections::BTreeSet<PathBuf>> =
    Mutex::new(std::collections::BTreeSet::new());

/// A transfer's reservation of a `.part` file ([`Downloads::claim`]); released on drop.
#[derive(Debug)]
pub struct Claim {
    key: PathBuf,
    /// The tag to write the part under (the one asked for, or a fresh one).
    pub tag: String,
    /// Bytes the part already holds (resume from here).
    pub offset: u64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        PARTS_IN_USE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// A file being received: an open `.part` file and where it will go.
#[derive(Debug)]
pub struct Part {
    /// The open file, positioned at its end.
    pub file: File,
    /// Bytes already present (non-zero when resuming).
    pub offset: u64,
    folder: PathBuf,
    name: String,
    part_name: String,
}

impl Part {
    /// The folder (inside the downloads) and file name this part will get.
    pub fn target(&self) -> PathBuf {
        self.folder.join(&self.name)
    }
}

impl Downloads {
    /// Opens (creating it if needed) the download folder at `path`.
    ///
    /// # Errors
    /// [`Error::Open`] if it cannot be created or opened.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let err = |source| Error::Open {
            path: path.to_owned(),
            source,
        };
        std::fs::create_dir_all(path).map_err(err)?;
        let dir = Dir::open_ambient_dir(path, ambient_authority()).map_err(err)?;
        Ok(Self {
            dir,
            path: path.to_owned(),
            taken: Mutex::new(HashMap::new()),
        })
    }

    /// The download folder's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the `.part` file for an offered relative path (`hint`), creating the folders
    /// on the way. `tag` distinguishes transfers of same-named files (for example a hash
    /// of sender and size); the same hint and tag find the same `.part` file again, so an
    /// interrupted transfer resumes from [`Part::offset`].
    ///
    /// # Errors
    /// [`Error::NotAFolder`] / [`Error::NotAFile`] when something else sits on the way,
    /// or an I/O error.
    pub fn part(&self, hint: &str, tag: &str) -> Result<Part, Error> {
        let mut parts = sanitize_path(hint);
        let name = parts.pop().unwrap_or_else(|| sanitize_name(""));
        let folder = self.folders(parts)?;
        let part_name = part_name(&name, tag);
        let (mut file, created) = create_part(&self.dir, &folder.join(&part_name))?;
        // A part just created is empty and at its start: no seek.
        let offset = if created {
            0
        } else {
            file.seek(SeekFrom::End(0))?
        };
        Ok(Part {
            file,
            offset,
            folder,
            name,
            part_name,
        })
    }

    /// Creates the folders of `parts` (already sanitized) one by one, refusing anything on
    /// the way that is not a real folder.
    fn folders(&self, parts: Vec<String>) -> Result<PathBuf, Error> {
        let mut folder = PathBuf::new();
        'component: for p in parts {
            // A file or symlink in the way is never followed or replaced: the folder
            // becomes `name (1)` instead.
            for n in 0..MAX_NUMBERED {
                let candidate = folder.join(if n == 0 { p.clone() } else { numbered(&p, n) });
                match self.dir.create_dir(&candidate) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e.into()),
                }
                let meta = self.dir.symlink_metadata(&candidate)?;
                if meta.is_dir() && !meta.file_type().is_symlink() {
                    folder = candidate;
                    continue 'component;
                }
            }
            return Err(Error::NotAFolder(folder.join(p)));
        }
        Ok(folder)
    }

    /// A made folder (a path inside the downloads), opened for naming the files in it:
    /// never through a symlink at its last step (one swapped in since is refused, and
    /// the part keeps its name until a later try).
    fn open_folder(&self, folder: &Path) -> io::Result<Dir> {
        if folder.as_os_str().is_empty() {
            self.dir.try_clone()
        } else {
            self.dir.open_dir_nofollow(folder)
        }
    }

    /// Creates the (possibly empty) folder an offer names, inside the downloads.
    ///
    /// # Errors
    /// [`Error::NotAFolder`] or an I/O error.
    pub fn folder(&self, hint: &str) -> Result<PathBuf, Error> {
        self.folders(sanitize_path(hint))
    }

    /// Reserves a `.part` file for `hint` with `tag` for one transfer of this process,
    /// and says how many bytes it already holds. A part another transfer is using gets
    /// a fresh tag (`tag` + a number) instead, so two transfers of the same file never
    /// write into one part. The reservation lasts as long as the returned [`Claim`].
    pub fn claim(&self, hint: &str, tag: &str) -> Claim {
        let mut parts = sanitize_path(hint);
        let name = parts.pop().unwrap_or_else(|| sanitize_name(""));
        let folder: PathBuf = parts.iter().collect();
        let mut in_use = PARTS_IN_USE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut n = 0u32;
        loop {
            let tag = if n == 0 {
                tag.to_owned()
            } else {
                format!("{tag}{n}")
            };
            let key = self.path.join(&folder).join(part_name(&name, &tag));
            if n >= MAX_NUMBERED || in_use.insert(key.clone()) {
                drop(in_use);
                let offset = self.existing(hint, &tag);
                return Claim { key, tag, offset };
            }
            n += 1;
        }
    }

    /// Bytes already received for `hint` with `tag` (the length of its `.part` file, or
    /// 0), without creating anything.
    ///
    /// Anything unreadable on the way counts as nothing received.
    pub fn existing(&self, hint: &str, tag: &str) -> u64 {
        let mut parts = sanitize_path(hint);
        let name = parts.pop().unwrap_or_else(|| sanitize_name(""));
        let path = parts
            .iter()
            .collect::<PathBuf>()
            .join(part_name(&name, tag));
        match self.dir.symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => meta.len(),
            _ => 0,
        }
    }

    /// Free bytes for an unprivileged writer in the download folder.
    ///
    /// # Errors
    /// If the file system cannot tell.
    pub fn free_space(&self) -> Result<u64, Error> {
        Ok(fs4::available_space(&self.path)?)
    }

    /// Makes a finished part a file: syncs it and links it under its name, or the first
    /// free ` (n)` variant, without ever replacing anything. Returns the path relative to
    /// the download folder.
    ///
    /// # Errors
    /// [`Error::NoFreeName`] or an I/O error; the `.part` file is then kept.
    pub fn finish(&self, part: Part) -> Result<PathBuf, Error> {
        part.file.sync_all()?;
        let dir = self.open_folder(&part.folder)?;
        self.link(part, &dir)
    }

    /// [`Downloads::finish`] for many parts with one file-system sync for all of them,
    /// so that a folder of small files does not pay one sync per file. Every part is on
    /// disk before any gets its final name.
    pub fn finish_all(&self, parts: Vec<Part>) -> Vec<Result<PathBuf, Error>> {
        let synced = match parts.first() {
            None => return Vec::new(),
            Some(p) if parts.len() == 1 => p.file.sync_all(),
            // Any open file of the file system will do for syncfs.
            #[cfg(target_os = "linux")]
            Some(p) => rustix::fs::syncfs(&p.file).map_err(io::Error::from),
            // No syncfs elsewhere: each file on its own (FlushFileBuffers on Windows,
            // F_FULLFSYNC on macOS, through std).
            #[cfg(not(target_os = "linux"))]
            Some(_) => parts.iter().try_for_each(|p| p.file.sync_all()),
        };
        if let Err(e) = synced {
            let kind = e.kind();
            return parts
                .into_iter()
                .map(|_| Err(io::Error::from(kind).into()))
                .collect();
        }
        // Each folder opened once for the group (a folder of small files: once per 64).
        let mut open: HashMap<PathBuf, Dir> = HashMap::new();
        parts
            .into_iter()
            .map(|p| {
                let dir = match open.entry(p.folder.clone()) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(self.open_folder(&p.folder)?)
                    }
                };
                self.link(p, dir)
            })
            .collect()
    }

    /// Names `part` in `dir`, its folder.
    fn link(&self, part: Part, dir: &Dir) -> Result<PathBuf, Error> {
        let mut cache = self
            .taken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let taken = match cache.entry(part.folder.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let listed: HashSet<String> = dir
                    .entries()?
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| !n.ends_with(".part"))
                    .map(|n| collision_key(&n))
                    .collect();
                e.insert(listed)
            }
        };
        for n in 0..MAX_NUMBERED {
            let candidate = if n == 0 {
                part.name.clone()
            } else {
                numbered(&part.name, n)
            };
            let key = collision_key(&candidate);
            if taken.contains(&key) {
                continue;
            }
            let named = name_part(dir, &part.part_name, &candidate)?;
            taken.insert(key);
            if named {
                return Ok(part.folder.join(&candidate));
            }
        }
        Err(Error::NoFreeName(part.name))
    }

    /// Deletes a part this process created (cancel, failed verification).
    ///
    /// # Errors
    /// An I/O error other than "already gone".
    pub fn discard(&self, part: Part) -> Result<(), Error> {
        drop(part.file);
        match self.dir.remove_file(part.folder.join(&part.part_name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Creates the part at `path` (inside `dir`, the downloads), or opens it to resume: only
/// a regular file, never through a symlink. True when it was created.
fn create_part(dir: &Dir, path: &Path) -> Result<(File, bool), Error> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    cap_std::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match dir.open_with(path, &options) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Resume: only a regular file, and never through a symlink.
            let meta = dir.symlink_metadata(path)?;
            if !meta.is_file() {
                return Err(Error::NotAFile(path.to_owned()));
            }
            let mut resume = OpenOptions::new();
            resume.read(true).write(true);
            resume.follow(FollowSymlinks::No);
            Ok((dir.open_with(path, &resume)?, false))
        }
        Err(e) => Err(e.into()),
    }
}

/// Gives the part `from` the name `to`, both in the folder `dir`, without ever replacing
/// anything: `Ok(false)` when something (a file, a folder, even a dangling symlink)
/// already has the name. Both are single names, so nothing on the way is followed.
fn name_part(dir: &Dir, from: &str, to: &str) -> io::Result<bool> {
    // One step where the file system can refuse to replace (ext4, xfs, btrfs, tmpfs,
    // APFS...): `renameat2(RENAME_NOREPLACE)`, on Apple systems `renameatx_np(RENAME_EXCL)`.
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    if rename_no_replace() {
        use rustix::fs::{RenameFlags, renameat_with};
        use rustix::io::Errno;
        // The file system (or kernel) cannot: some FUSE, network and FAT file systems.
        const CANNOT: [Errno; 4] = [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP, Errno::NOTSUP];
        match renameat_with(dir, from, dir, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(true),
            Err(Errno::EXIST) => return Ok(false),
            Err(e) if CANNOT.contains(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match dir.hard_link(from, dir, to) {
        Ok(()) => {
            dir.remove_file(from)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        // No hard links here (FAT, exFAT): rename, after making sure nothing (not even a
        // dangling symlink) has the name.
        Err(_) => match dir.symlink_metadata(to) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                dir.rename(from, dir, to)?;
                Ok(true)
            }
            _ => Ok(false),
        },
    }
}

#[cfg(all(
    test,
    any(target_os = "linux", target_os = "android", target_vendor = "apple")
))]
thread_local! {
    /// This test names files as where there is no `RENAME_NOREPLACE`, to cover that way.
    static AS_ELSEWHERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether to name with `RENAME_NOREPLACE` (always, outside tests that ask otherwise).
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn rename_no_replace() -> bool {
    #[cfg(test)]
    return !AS_ELSEWHERE.with(std::cell::Cell::get);
    #[cfg(not(test))]
    true
}

/// `<name>.<tag>.part`, shortened to fit [`MAX_NAME_BYTES`].
fn part_name(name: &str, tag: &str) -> String {
    let tag: String = tag
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect();
    let suffix = if tag.is_empty() {
        ".part".to_owned()
    } else {
        format!(".{tag}.part")
    };
    let mut end = name.len().min(MAX_NAME_BYTES - suffix.len());
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", name.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Write;

    struct Scratch {
        root: PathBuf,
    }

    impl Scratch {
        fn new(tag: &str) -> Self {
            let root =
                std::env::temp_dir().join(format!("courier-store-{tag}-{}", rand::random::<u64>()));
            std::fs::create_dir_all(root.join("downloads")).unwrap();
            std::fs::create_dir_all(root.join("outside")).unwrap();
            std::fs::write(root.join("outside/target"), b"precious").unwrap();
            Self { root }
        }
        fn downloads(&self) -> Downloads {
            Downloads::open(&self.root.join("downloads")).unwrap()
        }
        /// Every file under the root outside `downloads`, with its content.
        fn outside(&self) -> BTreeMap<PathBuf, Vec<u8>> {
            let mut out = BTreeMap::new();
            let mut stack = vec![self.root.clone()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let p = e.unwrap().path();
                    if p.starts_with(self.root.join("downloads")) {
                        continue;
                    }
                    let meta = std::fs::symlink_metadata(&p).unwrap();
                    if meta.is_dir() {
                        stack.push(p);
                    } else {
                        out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
                    }
                }
            }
            out
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    fn receive(d: &Downloads, hint: &str, data: &[u8]) -> PathBuf {
        let mut part = d.part(hint, "t").unwrap();
        part.file.write_all(data).unwrap();
        d.finish(part).unwrap()
    }

    #[test]
    fn hostile_hints_land_inside_with_safe_names_and_nothing_outside_changes() {
        let s = Scratch::new("hostile");
        let d = s.downloads();
        let before = s.outside();
        for hint in [
            "../../outside/target",
            "/etc/passwd",
            "..\\..\\x",
            "C:\\Windows\\x",
            ".bashrc",
            "CON",
        ] {
            let rel = receive(&d, hint, b"data");
            let full = s.root.join("downloads").join(&rel);
            assert!(
                full.starts_with(s.root.join("downloads")),
                "{hint:?} -> {rel:?}"
            );
            assert_eq!(std::fs::read(&full).unwrap(), b"data");
        }
        assert_eq!(
            s.outside(),
            before,
            "nothing outside the download folder changed"
        );
        assert!(s.root.join("downloads/outside/target").exists());
        assert!(s.root.join("downloads/bashrc").exists());
        assert!(s.root.join("downloads/_CON").exists());
    }

    #[test]
    fn existing_files_are_never_overwritten_and_clashes_fold_case_and_form() {
        let s = Scratch::new("clash");
        let d = s.downloads();
        std::fs::write(s.root.join("downloads/report.pdf"), b"original").unwrap();
        std::fs::write(s.root.join("downloads/README"), b"original").unwrap();
        std::fs::write(s.root.join("downloads/\u{e9}.txt"), b"original").unwrap();
        assert_eq!(
            receive(&d, "report.pdf", b"new"),
            PathBuf::from("report (1).pdf")
        );
        assert_eq!(
            receive(&d, "report.pdf", b"newer"),
            PathBuf::from("report (2).pdf")
        );
        assert_eq!(receive(&d, "readme", b"x"), PathBuf::from("readme (1)"));
        assert_eq!(
            receive(&d, "e\u{301}.txt", b"x"),
            PathBuf::from("\u{e9} (1).txt")
        );
        for f in ["report.pdf", "README", "\u{e9}.txt"] {
            assert_eq!(
                std::fs::read(s.root.join("downloads").join(f)).unwrap(),
                b"original"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn planted_symlinks_are_never_followed() {
        use std::os::unix::fs::symlink;
        let s = Scratch::new("symlink");
        let d = s.downloads();
        let dl = s.root.join("downloads");
        symlink(s.root.join("outside/target"), dl.join("evil.txt")).unwrap();
        symlink(s.root.join("outside/nothing-here"), dl.join("dangling.txt")).unwrap();
        symlink(s.root.join("outside"), dl.join("sub")).unwrap();
        symlink(s.root.join("outside/target"), dl.join("trap.t.part")).unwrap();
        let before = s.outside();
        assert_eq!(receive(&d, "evil.txt", b"x"), PathBuf::from("evil (1).txt"));
        assert_eq!(
            receive(&d, "dangling.txt", b"x"),
            PathBuf::from("dangling (1).txt")
        );
        // A symlinked folder on the way is never entered: the file goes to `sub (1)`.
        assert_eq!(receive(&d, "sub/x", b"x"), PathBuf::from("sub (1)/x"));
        assert!(matches!(d.part("trap", "t"), Err(Error::NotAFile(_))));
        assert_eq!(s.outside(), before);
        assert!(!s.root.join("outside/nothing-here").exists());
        assert!(!s.root.join("outside/x").exists());
    }

    #[cfg(unix)]
    #[test]
    fn received_files_are_private_and_never_executable() {
        use std::os::unix::fs::PermissionsExt;
        let s = Scratch::new("mode");
        let d = s.downloads();
        let rel = receive(&d, "run-me.sh", b"#!/bin/sh\n");
        let mode = std::fs::metadata(s.root.join("downloads").join(rel))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn an_interrupted_part_resumes_where_it_stopped() {
        let s = Scratch::new("resume");
        let d = s.downloads();
        let mut part = d.part("photos/a.jpg", "abc").unwrap();
        assert_eq!(part.offset, 0);
        part.file.write_all(&[1; 10]).unwrap();
        drop(part); // the process dies here
        let mut again = d.part("photos/a.jpg", "abc").unwrap();
        assert_eq!(again.offset, 10);
        again.file.write_all(&[2; 5]).unwrap();
        let rel = d.finish(again).unwrap();
        assert_eq!(rel, PathBuf::from("photos/a.jpg"));
        let bytes = std::fs::read(s.root.join("downloads").join(rel)).unwrap();
        assert_eq!(bytes, [[1u8; 10].as_slice(), &[2; 5]].concat());
        assert!(!s.root.join("downloads/photos/a.jpg.abc.part").exists());
        // A different tag is a different transfer.
        assert_eq!(d.part("photos/a.jpg", "xyz").unwrap().offset, 0);
    }

    #[test]
    fn two_transfers_racing_for_one_name_both_survive() {
        let s = Scratch::new("race");
        let d = s.downloads();
        let mut a = d.part("same.bin", "a").unwrap();
        let mut b = d.part("same.bin", "b").unwrap();
        a.file.write_all(b"first").unwrap();
        b.file.write_all(b"second").unwrap();
        let ra = d.finish(a).unwrap();
        let rb = d.finish(b).unwrap();
        assert_ne!(ra, rb);
        let dl = s.root.join("downloads");
        assert_eq!(std::fs::read(dl.join(ra)).unwrap(), b"first");
        assert_eq!(std::fs::read(dl.join(rb)).unwrap(), b"second");
    }

    #[test]
    fn discard_removes_only_our_part() {
        let s = Scratch::new("discard");
        let d = s.downloads();
        std::fs::write(s.root.join("downloads/keep.txt"), b"keep").unwrap();
        let part = d.part("keep.txt", "t").unwrap();
        d.discard(part).unwrap();
        assert!(!s.root.join("downloads/keep.txt.t.part").exists());
        assert_eq!(
            std::fs::read(s.root.join("downloads/keep.txt")).unwrap(),
            b"keep"
        );
    }

    /// A name that appears after the folder was listed (another program, or a planted
    /// symlink, between two files) is still never replaced: the rename refuses it.
    #[cfg(unix)]
    #[test]
    fn a_name_taken_after_the_listing_is_never_replaced() {
        use std::os::unix::fs::symlink;
        let s = Scratch::new("late");
        let d = s.downloads();
        let dl = s.root.join("downloads");
        assert_eq!(
            receive(&d, "f/first.txt", b"1"),
            PathBuf::from("f/first.txt")
        );
        symlink(s.root.join("outside/nothing-here"), dl.join("f/late.txt")).unwrap();
        std::fs::write(dl.join("f/also.txt"), b"theirs").unwrap();
        let before = s.outside();
        assert_eq!(
            receive(&d, "f/late.txt", b"2"),
            PathBuf::from("f/late (1).txt")
        );
        assert_eq!(
            receive(&d, "f/also.txt", b"3"),
            PathBuf::from("f/also (1).txt")
        );
        assert!(
            std::fs::symlink_metadata(dl.join("f/late.txt"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(dl.join("f/also.txt")).unwrap(), b"theirs");
        assert_eq!(std::fs::read(dl.join("f/late (1).txt")).unwrap(), b"2");
        assert_eq!(s.outside(), before);
        let parts: Vec<_> = std::fs::read_dir(dl.join("f"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".part"))
            .collect();
        assert!(parts.is_empty(), "parts left: {parts:?}");
    }

    /// The same where the file system has no `RENAME_NOREPLACE` (hard link, then the
    /// part removed), as on other systems.
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    #[test]
    fn a_name_taken_after_the_listing_is_never_replaced_by_a_hard_link_either() {
        AS_ELSEWHERE.with(|a| a.set(true));
        a_name_taken_after_the_listing_is_never_replaced();
        two_transfers_racing_for_one_name_both_survive();
        planted_symlinks_are_never_followed();
    }

    /// A folder deleted by hand between two files is made again for the next one.
    #[test]
    fn a_folder_deleted_between_files_is_made_again() {
        let s = Scratch::new("gone");
        let d = s.downloads();
        let dl = s.root.join("downloads");
        assert_eq!(receive(&d, "a/b/one", b"1"), PathBuf::from("a/b/one"));
        std::fs::remove_dir_all(dl.join("a")).unwrap();
        assert_eq!(receive(&d, "a/b/two", b"2"), PathBuf::from("a/b/two"));
        assert_eq!(std::fs::read(dl.join("a/b/two")).unwrap(), b"2");
    }

    /// A folder swapped for a symlink to outside between two files: the next file
    /// goes around it (`sub (1)`), never through it.
    #[cfg(unix)]
    #[test]
    fn a_folder_swapped_for_a_symlink_midway_never_leads_outside() {
        use std::os::unix::fs::symlink;
        let s = Scratch::new("swap");
        let d = s.downloads();
        let dl = s.root.join("downloads");
        assert_eq!(receive(&d, "sub/one", b"1"), PathBuf::from("sub/one"));
        std::fs::rename(dl.join("sub"), dl.join("moved")).unwrap();
        symlink(s.root.join("outside"), dl.join("sub")).unwrap();
        let before = s.outside();
        assert_eq!(receive(&d, "sub/two", b"2"), PathBuf::from("sub (1)/two"));
        assert_eq!(std::fs::read(dl.join("sub (1)/two")).unwrap(), b"2");
        assert_eq!(s.outside(), before);
    }

    /// A folder moved out of the downloads between two files (by someone who can write
    /// there) takes none of the next ones with it: they go to the folder made again.
    #[test]
    fn a_folder_moved_out_between_files_gets_no_more_files() {
        let s = Scratch::new("moved");
        let d = s.downloads();
        let dl = s.root.join("downloads");
        assert_eq!(receive(&d, "photos/one", b"1"), PathBuf::from("photos/one"));
        std::fs::rename(dl.join("photos"), s.root.join("outside/photos")).unwrap();
        let before = s.outside();
        assert_eq!(receive(&d, "photos/two", b"2"), PathBuf::from("photos/two"));
        assert_eq!(std::fs::read(dl.join("photos/two")).unwrap(), b"2");
        assert_eq!(s.outside(), before);
    }

    /// A part whose folder is swapped for a symlink after the part was written (and
    /// before its name is given) is never named through it: naming fails, and nothing
    /// outside changes.
    #[cfg(unix)]
    #[test]
    fn a_folder_swapped_before_naming_is_not_followed() {
        use std::os::unix::fs::symlink;
        let s = Scratch::new("swapnaming");
        let d = s.downloads();
        let dl = s.root.join("downloads");
        let mut part = d.part("sub/late", "t").unwrap();
        part.file.write_all(b"x").unwrap();
        std::fs::rename(dl.join("sub"), dl.join("moved")).unwrap();
        symlink(s.root.join("outside"), dl.join("sub")).unwrap();
        let before = s.outside();
        assert!(d.finish(part).is_err());
        assert_eq!(s.outside(), before);
    }

    #[test]
    fn part_names_fit_the_limit() {
        let long = "é".repeat(127) + ".x";
        let p = part_name(&sanitize_name(&long), "0123456789abcdef-extra-long");
        assert!(
            p.len() <= MAX_NAME_BYTES && p.ends_with(".0123456789abcdefextr.part"),
            "{p}"
        );
    }
}
