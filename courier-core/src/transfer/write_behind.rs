//! The receiver's disk side: carries out the receiver machine's [`Job`]s on the `blocking`
//! pool, off the connection's path. Data is gathered into batches of [`DISK_BATCH`] and
//! written (and hashed) while the next batch arrives; a small file costs one trip (open,
//! write, verify); verifications of finished files run beside the next file's writes; and
//! verified files get their names in groups after one sync for the group.

use std::collections::{HashMap, VecDeque};
use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::Bytes;
use futures::FutureExt;

use super::error::{Error, is_disk_full};
use super::read_ahead::{DISK_BATCH, hash_prefix};
use super::receiver::{Expected, Job, Named, Verdict};
use super::store::{Downloads, Part};
use super::wire;

/// A large file's data is pushed to the disk every this many bytes, in the background,
/// so the sync before it gets its name (durability) has little left to do.
const WRITE_BACK: u64 = 64 << 20;

/// What a data frame counts as at least towards a batch, whatever its length: what it
/// holds besides its bytes (its buffer's header and rounding, its shared handle, its
/// slot in the batch). A peer sending empty or tiny frames then fills a batch with
/// about as much memory as the batch counts, not twenty times more.
const FRAME_COST: usize = 128;

/// Where one accepted file goes: its offered path and the tag of its `.part` file.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) path: String,
    pub(crate) tag: String,
}

/// The file being written.
#[derive(Clone, Debug)]
struct Spec {
    target: Target,
    expected: Expected,
}

/// A part being written: the file, its running hash, and its early write-back.
struct OpenPart {
    part: Part,
    hasher: blake3::Hasher,
    /// Bytes written since write-back was last started.
    unsynced: u64,
    /// Whether a write-back is running.
    syncing: Arc<AtomicBool>,
}

/// A write trip's result: the open part (if it could be opened) and how the write went.
type Written = (Option<Box<OpenPart>>, Result<(), Error>);

/// How a finished file checked out: its part (to be named) or a mismatch.
enum Checked {
    Good(Part),
    Mismatch,
}

/// What finished on the disk.
pub(crate) enum Done {
    /// A [`Job::Verify`].
    Checked {
        index: u32,
        result: Result<Verdict, Error>,
    },
    /// A [`Job::Name`] group.
    Named(Vec<Named>),
    /// [`Job::Folders`].
    Folders(Result<(), Error>),
    /// [`Job::Stop`].
    Stopped,
    /// Writing the open file failed.
    Failed(Error),
}

/// Disk work for one transfer.
pub(crate) struct WriteBehind {
    downloads: Arc<Downloads>,
    targets: HashMap<u32, Target>,
    folders: Vec<String>,
    spec: Option<Spec>,
    open: Option<Box<OpenPart>>,
    pending: Vec<Bytes>,
    pending_len: usize,
    /// A write batch of the open file under way.
    busy: Option<blocking::Task<Written>>,
    /// `End` arrived while a batch was under way: verify once it is back.
    end_due: Option<(u32, [u8; 32])>,
    /// `Stop` arrived while a batch was under way: stop once it is back.
    stop_due: Option<bool>,
    checking: VecDeque<(u32, blocking::Task<Result<Checked, Error>>)>,
    verified: HashMap<u32, Part>,
    naming: Option<blocking::Task<Vec<Named>>>,
    making_folders: Option<blocking::Task<Result<(), Error>>>,
    stopping: Option<blocking::Task<()>>,
}

impl WriteBehind {
    /// Writes into `downloads`: each accepted file (by manifest index) to its target; the
    /// offer's empty `folders` are made at the end.
    pub(crate) fn new(
        downloads: Arc<Downloads>,
        targets: HashMap<u32, Target>,
        folders: Vec<String>,
    ) -> Self {
        Self {
            downloads,
            targets,
            folders,
            spec: None,
            open: None,
            pending: Vec::new(),
            pending_len: 0,
            busy: None,
            end_due: None,
            stop_due: None,
            checking: VecDeque::new(),
            verified: HashMap::new(),
            naming: None,
            making_folders: None,
            stopping: None,
        }
    }

    /// Whether more data may come now; false while the disk is a batch behind.
    pub(crate) fn has_room(&self) -> bool {
        self.end_due.is_none()
            && self.stop_due.is_none()
            && !(self.busy.is_some() && self.pending_len >= DISK_BATCH)
    }

    /// Starts a job of the receiver machine.
    pub(crate) fn job(&mut self, job: Job) {
        match job {
            Job::Open(expected) => {
                self.spec = self.targets.get(&expected.index).map(|target| Spec {
                    target: target.clone(),
                    expected,
                });
            }
            Job::Verify { index, hash } => {
                if self.busy.is_some() {
                    self.end_due = Some((index, hash));
                } else {
                    self.verify(index, hash);
                }
            }
            Job::Name(group) => self.name(group),
            Job::Folders => {
                let (downloads, folders) = (self.downloads.clone(), self.folders.clone());
                self.making_folders = Some(blocking::unblock(move || {
                    for f in folders {
                        downloads.folder(&f)?;
                    }
                    Ok(())
                }));
            }
            Job::Stop { keep } => {
                if self.busy.is_some() {
                    self.stop_due = Some(keep);
                } else {
                    self.stop(keep);
                }
            }
        }
    }

    /// Bytes for the open file (the machine checked that they fit).
    pub(crate) fn data(&mut self, message: Bytes) {
        self.pending_len += message.len().max(FRAME_COST);
        self.pending.push(message);
        if self.pending_len >= DISK_BATCH && self.busy.is_none() {
            self.write();
        }
    }

    fn take_batch(&mut self) -> Option<(Spec, Option<Box<OpenPart>>, Vec<Bytes>)> {
        let spec = self.spec.clone()?;
        self.pending_len = 0;
        Some((spec, self.open.take(), std::mem::take(&mut self.pending)))
    }

    fn write(&mut self) {
        let Some((spec, open, pending)) = self.take_batch() else {
            return;
        };
        let downloads = self.downloads.clone();
        self.busy = Some(blocking::unblock(move || {
            write_batch(&downloads, &spec, open, pending)
        }));
    }

    /// Writes what is left of the open file and compares its hash, beside the next file.
    fn verify(&mut self, index: u32, hash: [u8; 32]) {
        let batch = self.take_batch();
        self.spec = None;
        let downloads = self.downloads.clone();
        let task = blocking::unblock(move || {
            let (spec, open, pending) = batch.ok_or(Error::Io {
                context: "verifying a received file",
                source: std::io::ErrorKind::NotFound.into(),
            })?;
            let (open, written) = write_batch(&downloads, &spec, open, pending);
            let open = match (open, written) {
                (Some(open), Ok(())) => open,
                (Some(open), Err(e)) => {
                    let _ = downloads.discard(open.part);
                    return Err(e);
                }
                (None, result) => return Err(result.err().unwrap_or(Error::DiskFull)),
            };
            let OpenPart { part, hasher, .. } = *open;
            if hasher.finalize() == blake3::Hash::from_bytes(hash) {
                Ok(Checked::Good(part))
            } else {
                downloads.discard(part)?;
                Ok(Checked::Mismatch)
            }
        });
        self.checking.push_back((index, task));
    }

    fn name(&mut self, group: Vec<u32>) {
        let (indices, parts): (Vec<u32>, Vec<Part>) = group
            .into_iter()
            .filter_map(|i| Some((i, self.verified.remove(&i)?)))
            .unzip();
        let downloads = self.downloads.clone();
        self.naming = Some(blocking::unblock(move || {
            let results = downloads.finish_all(parts);
            let base = downloads.path();
            indices
                .into_iter()
                .zip(results)
                .map(|(index, r)| Named {
                    index,
                    path: r
                        .map(|rel| base.join(rel))
                        .inspect_err(|e| {
                            // As an error value, so the log shows its causes too ("a
                            // symlink was swapped in", not only "writing").
                            let error: &(dyn std::error::Error + 'static) = e;
                            tracing::warn!(error, "saving a received file");
                        })
                        .ok(),
                })
                .collect()
        }));
    }

    /// The transfer stopped mid-file. With `keep`, what arrived is written and synced for
    /// resuming; otherwise the part is deleted.
    fn stop(&mut self, keep: bool) {
        let batch = if keep { self.take_batch() } else { None };
        let open = self.open.take();
        self.spec = None;
        self.pending.clear();
        self.pending_len = 0;
        let downloads = self.downloads.clone();
        self.stopping = Some(blocking::unblock(move || {
            let (open, written) = match batch {
                Some((spec, open, pending)) => write_batch(&downloads, &spec, open, pending),
                None => (open, Ok(())),
            };
            let Some(open) = open else { return };
            let part = open.part;
            if keep && written.is_ok() {
                let _ = part.file.sync_data();
            } else {
                let _ = downloads.discard(part);
            }
        }));
    }

    /// The next finished piece of disk work.
    pub(crate) fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<Done> {
        // A finished batch may start the next piece of work, which is polled in turn so
        // that its completion wakes us.
        while let Some(task) = self.busy.as_mut()
            && let Poll::Ready((open, result)) = task.poll_unpin(cx)
        {
            self.busy = None;
            self.open = open;
            if let Some((index, hash)) = self.end_due.take() {
                self.verify(index, hash);
            }
            if let Some(keep) = self.stop_due.take() {
                self.stop(keep);
            } else if self.pending_len >= DISK_BATCH {
                self.write();
            }
            if let Err(e) = result {
                return Poll::Ready(Done::Failed(e));
            }
        }
        if let Some((index, task)) = self.checking.front_mut()
            && let Poll::Ready(checked) = task.poll_unpin(cx)
        {
            let index = *index;
            self.checking.pop_front();
            let result = checked.map(|c| match c {
                Checked::Good(part) => {
                    self.verified.insert(index, part);
                    Verdict::Intact
                }
                Checked::Mismatch => Verdict::Mismatch,
            });
            return Poll::Ready(Done::Checked { index, result });
        }
        if let Some(task) = self.naming.as_mut()
            && let Poll::Ready(group) = task.poll_unpin(cx)
        {
            self.naming = None;
            return Poll::Ready(Done::Named(group));
        }
        if let Some(task) = self.making_folders.as_mut()
            && let Poll::Ready(result) = task.poll_unpin(cx)
        {
            self.making_folders = None;
            return Poll::Ready(Done::Folders(result));
        }
        if let Some(task) = self.stopping.as_mut()
            && let Poll::Ready(()) = task.poll_unpin(cx)
        {
            self.stopping = None;
            return Poll::Ready(Done::Stopped);
        }
        Poll::Pending
    }
}

/// Opens (or resumes) the part of `spec`, hashing what is already there.
fn open_part(downloads: &Downloads, spec: &Spec) -> Result<Box<OpenPart>, Error> {
    let resuming = |e| Error::io("resuming a received file")(e);
    let mut part = downloads.part(&spec.target.path, &spec.target.tag)?;
    let offset = spec.expected.offset;
    if part.offset != offset {
        // Changed since we looked: keep only what we announced.
        part.file.set_len(offset).map_err(resuming)?;
        part.file.seek(SeekFrom::Start(offset)).map_err(resuming)?;
        part.offset = offset;
    }
    let mut hasher = blake3::Hasher::new();
    hash_prefix(&mut part.file, &mut hasher, offset).map_err(resuming)?;
    Ok(Box::new(OpenPart {
        part,
        hasher,
        unsynced: 0,
        syncing: Arc::default(),
    }))
}

fn write_error(e: std::io::Error) -> Error {
    if is_disk_full(&e) {
        Error::DiskFull
    } else {
        Error::io("writing a received file")(e)
    }
}

/// Opens the part if needed and writes `pending` to it, hashing as it goes.
fn write_batch(
    downloads: &Downloads,
    spec: &Spec,
    open: Option<Box<OpenPart>>,
    pending: Vec<Bytes>,
) -> Written {
    let mut open = match open {
        Some(o) => o,
        None => match open_part(downloads, spec) {
            Ok(o) => o,
            Err(e) => return (None, Err(e)),
        },
    };
    for b in pending {
        // Data frames, checked by the link: the file bytes follow the header.
        let data = b.get(wire::HEADER..).unwrap_or_default();
        if let Err(e) = open.part.file.write_all(data) {
            return (Some(open), Err(write_error(e)));
        }
        open.hasher.update(data);
        open.unsynced += data.len() as u64;
        // Its buffer takes the next frame the link reads.
        super::spare::give_back_bytes(b);
    }
    if open.unsynced >= WRITE_BACK
        && !open.syncing.load(Ordering::Acquire)
        && let Ok(clone) = open.part.file.try_clone()
    {
        open.unsynced = 0;
        open.syncing.store(true, Ordering::Release);
        let syncing = open.syncing.clone();
        blocking::unblock(move || {
            let _ = clone.sync_data();
            syncing.store(false, Ordering::Release);
        })
        .detach();
    }
    (Some(open), Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer streaming empty data frames: the receiver stops reading (no room) after
    /// about two batches' worth of what the frames really hold, not after millions.
    #[test]
    fn empty_data_frames_fill_the_batches_by_what_they_hold() {
        let dir = std::env::temp_dir().join(format!("courier-wb-{}", rand::random::<u64>()));
        let downloads = Arc::new(Downloads::open(&dir).unwrap());
        let target = Target {
            path: "f".into(),
            tag: "t".into(),
        };
        let mut disk = WriteBehind::new(downloads, HashMap::from([(0, target)]), Vec::new());
        disk.job(Job::Open(Expected {
            index: 0,
            size: 1,
            offset: 0,
        }));
        let empty = Bytes::from(wire::data(&[]));
        let mut taken = 0usize;
        while disk.has_room() && taken < 10_000_000 {
            disk.data(empty.clone());
            taken += 1;
        }
        let most = 2 * DISK_BATCH / FRAME_COST + 2;
        assert!(taken <= most, "{taken} empty frames taken (at most {most})");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
