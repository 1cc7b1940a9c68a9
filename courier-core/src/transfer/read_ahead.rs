//! The sender's disk side: reads the files in plan order on the `blocking` pool, one batch
//! ahead of the connection, hashing everything it reads (a resumed prefix too). The next
//! file's first batch is read while the current one goes out, so many small files stream
//! without a pause between them; one batch in flight bounds the memory it holds.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;

use super::error::Error;
use super::many::blocks::{Block, Blocks, Seat};
use super::wire;
use crate::limits;

/// File bytes read and hashed per trip to the blocking pool: large enough that the
/// hand-over between threads costs nothing next to the work.
pub(crate) const DISK_BATCH: usize = 2 << 20;

/// One file to send: where it is, its declared size, and where the receiver resumes.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    /// Its manifest index (what the shared reader knows it by).
    pub(crate) index: u32,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    pub(crate) offset: u64,
}

/// What one trip to the disk yields: data messages of one file, and its hash once the
/// file is read to its end.
pub(crate) struct Batch {
    /// Encoded data messages, at most [`limits::CHUNK`] bytes of file each.
    msgs: Vec<Vec<u8>>,
    /// Or, read through the shared reader: a block and where this copy's bytes start in
    /// it (cut into messages by [`Batch::take_msgs`], on the caller's thread, so that the
    /// copies' buffers come and go in one place rather than in every disk thread).
    block: Option<(Block, usize)>,
    /// BLAKE3 over the whole file, with its last batch.
    pub(crate) hash: Option<[u8; 32]>,
}

impl Batch {
    /// The data messages, encoded, at most [`limits::CHUNK`] bytes of file each.
    pub(crate) fn take_msgs(&mut self) -> Vec<Vec<u8>> {
        if let Some((block, skip)) = self.block.take() {
            let data = block.get(skip..).unwrap_or_default();
            return data.chunks(limits::CHUNK).map(wire::data).collect();
        }
        std::mem::take(&mut self.msgs)
    }
}

type Trip = blocking::Task<Result<(Option<FileReader>, Batch), Error>>;

/// Reads the plan's files in order, one batch ahead.
pub(crate) struct ReadAhead {
    plan: std::vec::IntoIter<Planned>,
    reader: Option<FileReader>,
    trip: Option<Trip>,
    /// The shared reader of a send to many, if this transfer is one of them.
    blocks: Option<Arc<Blocks>>,
}

impl ReadAhead {
    /// Reads `plan` in order; the first batch starts at once.
    #[cfg(test)]
    pub(crate) fn new(plan: Vec<Planned>) -> Self {
        Self::shared(plan, None)
    }

    /// Like [`ReadAhead::new`], reading file bytes through `blocks` when given: its batches
    /// are the shared reader's blocks (a resumed file's first batch ends where its block
    /// does), so transfers at the same place read the disk once between them.
    pub(crate) fn shared(plan: Vec<Planned>, blocks: Option<Arc<Blocks>>) -> Self {
        let mut ahead = Self {
            plan: plan.into_iter(),
            reader: None,
            trip: None,
            blocks,
        };
        ahead.start();
        ahead
    }

    fn start(&mut self) {
        if self.trip.is_some() {
            return;
        }
        self.trip = match self.reader.take() {
            Some(reader) => Some(blocking::unblock(move || reader.batch())),
            None => self.plan.next().map(|p| {
                let shared = self.blocks.clone();
                blocking::unblock(move || FileReader::open(p, shared))
            }),
        };
    }

    /// The next batch; `Ready(None)` once every file was read.
    pub(crate) fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Batch, Error>>> {
        let Some(trip) = self.trip.as_mut() else {
            return Poll::Ready(None);
        };
        let result = futures::ready!(trip.poll_unpin(cx));
        self.trip = None;
        Poll::Ready(Some(result.map(|(reader, batch)| {
            self.reader = reader;
            // The next batch (or file) is read while this one goes out.
            self.start();
            batch
        })))
    }
}

/// Reads one file for sending, hashing everything (the resumed prefix too).
struct FileReader {
    file: std::fs::File,
    plan: Planned,
    /// This copy's place at the shared reader, if it reads through one.
    seat: Option<Seat>,
    hasher: blake3::Hasher,
    size: u64,
    remaining: u64,
}

fn read_error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Error::SourceChanged
    } else {
        Error::io("reading a file to send")(e)
    }
}

impl FileReader {
    /// Opens the file, checks its size, hashes the resumed prefix and reads the first
    /// batch (for a small file, all of it): one trip for most files.
    fn open(p: Planned, blocks: Option<Arc<Blocks>>) -> Result<(Option<Self>, Batch), Error> {
        let mut file = std::fs::File::open(&p.path).map_err(Error::io("opening a file to send"))?;
        let len = file.metadata().map_err(read_error)?.len();
        if len != p.size || p.offset > p.size {
            return Err(Error::SourceChanged);
        }
        let mut hasher = blake3::Hasher::new();
        hash_prefix(&mut file, &mut hasher, p.offset).map_err(read_error)?;
        Self {
            file,
            hasher,
            size: p.size,
            remaining: p.size - p.offset,
            seat: blocks.map(|b| b.join(p.index, p.offset)),
            plan: p,
        }
        .batch()
    }

    /// Reads up to [`DISK_BATCH`] bytes as data messages of at most [`limits::CHUNK`];
    /// gives the reader back unless the file is done.
    fn batch(mut self) -> Result<(Option<Self>, Batch), Error> {
        if self.seat.is_some() {
            return self.shared_batch();
        }
        let mut msgs = Vec::new();
        let mut budget = DISK_BATCH as u64;
        while self.remaining > 0 && budget > 0 {
            let n = self.remaining.min(limits::CHUNK as u64).min(budget);
            // The frame's header first: the file bytes are read into place behind it.
            let mut buf = wire::data_header(n as usize);
            (&mut self.file)
                .take(n)
                .read_to_end(&mut buf)
                .map_err(read_error)?;
            if buf.len() != n as usize + wire::HEADER {
                return Err(Error::SourceChanged);
            }
            self.hasher
                .update(buf.get(wire::HEADER..).unwrap_or_default());
            self.remaining -= n;
            budget -= n;
            msgs.push(buf);
        }
        self.finish(msgs, None)
    }

    /// The rest of the block the next byte is in, from the shared reader.
    fn shared_batch(mut self) -> Result<(Option<Self>, Batch), Error> {
        let Some(seat) = self.seat.as_ref() else {
            unreachable!("shared_batch is called with a seat")
        };
        let at = self.size - self.remaining;
        let n = at / seat.block_size();
        let block = seat.get(self.plan.index, &self.plan.path, self.size, n)?;
        let skip = usize::try_from(at - n * seat.block_size()).unwrap_or(usize::MAX);
        let data = block.get(skip..).ok_or(Error::SourceChanged)?;
        if data.is_empty() && self.remaining > 0 {
            return Err(Error::SourceChanged);
        }
        self.hasher.update(data);
        self.remaining = self.remaining.saturating_sub(data.len() as u64);
        self.finish(Vec::new(), Some((block, skip)))
    }

    /// Gives the reader back with `msgs` unless the file is done; then checks its size
    /// again and adds its hash.
    fn finish(
        self,
        msgs: Vec<Vec<u8>>,
        block: Option<(Block, usize)>,
    ) -> Result<(Option<Self>, Batch), Error> {
        if self.remaining > 0 {
            let batch = Batch {
                msgs,
                block,
                hash: None,
            };
            return Ok((Some(self), batch));
        }
        let len = self.file.metadata().map_err(read_error)?.len();
        if len != self.size {
            return Err(Error::SourceChanged);
        }
        let hash = Some(*self.hasher.finalize().as_bytes());
        Ok((None, Batch { msgs, block, hash }))
    }
}

/// Hashes the first `len` bytes of `file` and leaves it positioned after them. With
/// `len` 0 it does nothing: every caller has the file at its start then (just opened or
/// created, or cut back to nothing), and a folder of small files saves a seek a file.
pub(crate) fn hash_prefix<F: Read + Seek>(
    file: &mut F,
    hasher: &mut blake3::Hasher,
    len: u64,
) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 1024 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        let chunk = buf.get_mut(..n).unwrap_or_default();
        file.read_exact(chunk)?;
        hasher.update(chunk);
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(plan: Vec<Planned>) -> Vec<Result<Batch, Error>> {
        smol::block_on(async {
            let mut ahead = ReadAhead::new(plan);
            let mut out = Vec::new();
            while let Some(b) = futures::future::poll_fn(|cx| ahead.poll_batch(cx)).await {
                out.push(b);
            }
            out
        })
    }

    #[test]
    fn reads_in_batches_hashing_the_resumed_prefix_too() {
        let dir = std::env::temp_dir().join(format!("courier-ra-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big: Vec<u8> = (0..DISK_BATCH + 300_000).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("big"), &big).unwrap();
        std::fs::write(dir.join("empty"), b"").unwrap();
        let plan = vec![
            Planned {
                index: 0,
                path: dir.join("big"),
                size: big.len() as u64,
                offset: 100,
            },
            Planned {
                index: 0,
                path: dir.join("empty"),
                size: 0,
                offset: 0,
            },
        ];
        let batches: Vec<Batch> = all(plan).into_iter().map(Result::unwrap).collect();
        assert_eq!(
            batches.len(),
            3,
            "two for the big file, one for the empty one"
        );
        assert!(batches[0].hash.is_none());
        let sent: Vec<u8> = batches[..2]
            .iter()
            .flat_map(|b| b.msgs.iter().flat_map(|m| m[wire::HEADER..].to_vec()))
            .collect();
        assert_eq!(sent, big[100..]);
        assert!(
            batches[..2]
                .iter()
                .flat_map(|b| &b.msgs)
                .all(|m| m.len() <= limits::CHUNK + wire::HEADER)
        );
        assert_eq!(batches[1].hash, Some(*blake3::hash(&big).as_bytes()));
        assert_eq!(batches[2].hash, Some(*blake3::hash(b"").as_bytes()));
        // A file whose size is not the declared one changed since the offer.
        let wrong = vec![Planned {
            index: 0,
            path: dir.join("big"),
            size: 5,
            offset: 0,
        }];
        assert!(matches!(all(wrong).pop(), Some(Err(Error::SourceChanged))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
