//! The shared reader: the transfers of one send to many read the source through it, so a
//! block of a file is read from disk once for every transfer that wants it at about the
//! same time. It keeps at most a fixed number of blocks (least recently used goes first);
//! a transfer far behind the others, or resuming elsewhere, misses the cache and reads its
//! block on its own (that block then takes one place in the cache, never more). Nobody
//! waits for anybody, except for a block that another transfer is reading right now.
//!
//! Called on the `blocking` pool (it reads files and may wait for another reader).

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::super::error::Error;

/// A block's bytes, shared by every transfer that reads it.
pub(crate) type Block = Arc<[u8]>;

/// Which block: a manifest file index and the block number within the file.
type Key = (u32, u64);

enum Entry {
    /// Someone is reading it from disk; wait for them.
    Loading,
    /// Read: the bytes, and when they were last used (for eviction).
    Ready(Block, u64),
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// A clock that ticks at every use.
    tick: u64,
    /// Blocks read from disk, and their bytes.
    reads: u64,
    read_bytes: u64,
    /// Blocks handed out from the cache.
    hits: u64,
}

/// The block cache in front of the source's files.
pub(crate) struct Blocks {
    /// Bytes per block (the read-ahead's batch).
    block: u64,
    /// Most blocks kept.
    capacity: usize,
    state: Mutex<State>,
    loaded: Condvar,
}

/// What the shared reader did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Blocks read from disk.
    pub(crate) reads: u64,
    /// Their bytes.
    pub(crate) read_bytes: u64,
    /// Blocks served from the cache.
    pub(crate) hits: u64,
    /// Blocks held now.
    pub(crate) held: usize,
}

impl Blocks {
    /// A cache of at most `capacity` blocks of `block` bytes.
    pub(crate) fn new(block: usize, capacity: usize) -> Self {
        Self {
            block: block.max(1) as u64,
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
            loaded: Condvar::new(),
        }
    }

    /// Bytes per block.
    pub(crate) fn block_size(&self) -> u64 {
        self.block
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The counters (for tests, benches and the report).
    pub(crate) fn counts(&self) -> Counts {
        let st = self.lock();
        Counts {
            reads: st.reads,
            read_bytes: st.read_bytes,
            hits: st.hits,
            held: st
                .entries
                .values()
                .filter(|e| matches!(e, Entry::Ready(..)))
                .count(),
        }
    }

    /// Block `n` of file `index` (at `path`, declared `size` bytes): from the cache, or
    /// read now. Blocks the thread while another transfer reads the same block.
    ///
    /// # Errors
    /// [`Error::SourceChanged`] when the file is shorter than declared; an I/O error.
    pub(crate) fn get(&self, index: u32, path: &Path, size: u64, n: u64) -> Result<Block, Error> {
        let key = (index, n);
        let mut st = self.lock();
        loop {
            st.tick += 1;
            let tick = st.tick;
            match st.entries.get_mut(&key) {
                Some(Entry::Ready(block, used)) => {
                    *used = tick;
                    let block = block.clone();
                    st.hits += 1;
                    return Ok(block);
                }
                Some(Entry::Loading) => {
                    st = self.loaded.wait(st).unwrap_or_else(PoisonError::into_inner);
                }
                None => break,
            }
        }
        st.entries.insert(key, Entry::Loading);
        drop(st);
        let start = n.saturating_mul(self.block);
        let len = size.saturating_sub(start).min(self.block);
        let read = read_at(path, start, len);
        let mut st = self.lock();
        let result = match read {
            Ok(block) => {
                st.tick += 1;
                let tick = st.tick;
                st.reads += 1;
                st.read_bytes += len;
                st.entries.insert(key, Entry::Ready(block.clone(), tick));
                evict(&mut st, self.capacity);
                Ok(block)
            }
            Err(e) => {
                // Whoever waits tries for themselves (and most likely fails the same way).
                st.entries.remove(&key);
                Err(e)
            }
        };
        drop(st);
        self.loaded.notify_all();
        result
    }
}

/// Drops the least recently used ready blocks beyond `capacity`.
fn evict(st: &mut State, capacity: usize) {
    loop {
        let mut ready = 0usize;
        let mut oldest: Option<(Key, u64)> = None;
        for (key, entry) in &st.entries {
            if let Entry::Ready(_, used) = entry {
                ready += 1;
                if oldest.is_none_or(|(_, u)| *used < u) {
                    oldest = Some((*key, *used));
                }
            }
        }
        match oldest {
            Some((key, _)) if ready > capacity => {
                st.entries.remove(&key);
            }
            _ => return,
        }
    }
}

/// Reads `len` bytes of `path` from `start`.
fn read_at(path: &Path, start: u64, len: u64) -> Result<Block, Error> {
    let fail = |e: io::Error| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::SourceChanged
        } else {
            Error::io("reading a file to send")(e)
        }
    };
    let mut file = std::fs::File::open(path).map_err(Error::io("opening a file to send"))?;
    file.seek(SeekFrom::Start(start)).map_err(fail)?;
    let mut buf = vec![0u8; usize::try_from(len).map_err(|_| Error::SourceChanged)?];
    file.read_exact(&mut buf).map_err(fail)?;
    Ok(buf.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(len: usize) -> (std::path::PathBuf, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!("courier-blocks-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.join("f"), &data).unwrap();
        (dir.join("f"), data)
    }

    /// Proves the point of the shared reader: N readers going through the file together
    /// read each block from disk once, and all get the right bytes.
    #[test]
    fn readers_at_the_same_offsets_read_each_block_once() {
        let (path, data) = file(10 * 1000 + 7);
        let blocks = Arc::new(Blocks::new(1000, 4));
        let n_blocks = 11u64;
        let step = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (blocks, path, step) = (blocks.clone(), path.clone(), step.clone());
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    for n in 0..n_blocks {
                        // Eight transfers at the same offset at the same moment.
                        step.wait();
                        got.extend_from_slice(&blocks.get(0, &path, 10_007, n).unwrap());
                    }
                    got
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), data);
        }
        let counts = blocks.counts();
        assert_eq!(
            counts.reads, n_blocks,
            "one disk read per block: {counts:?}"
        );
        assert_eq!(counts.read_bytes, data.len() as u64);
        assert_eq!(counts.hits, 7 * n_blocks);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// A reader far behind reads on its own: it does not make the cache hold more than
    /// its capacity, and the readers ahead keep their blocks coming from the cache.
    #[test]
    fn a_lagging_reader_does_not_grow_the_cache() {
        let (path, data) = file(100 * 100);
        let blocks = Blocks::new(100, 3);
        let size = data.len() as u64;
        for n in 0..100u64 {
            // Two readers in step at block n, one laggard at block n / 4.
            assert_eq!(
                *blocks.get(0, &path, size, n).unwrap(),
                data[n as usize * 100..][..100]
            );
            blocks.get(0, &path, size, n).unwrap();
            let lag = n / 4;
            assert_eq!(
                *blocks.get(0, &path, size, lag).unwrap(),
                data[lag as usize * 100..][..100]
            );
            assert!(blocks.counts().held <= 3, "{:?}", blocks.counts());
        }
        let counts = blocks.counts();
        // The pair read each block once; the laggard re-read most of its blocks.
        assert!(
            counts.reads >= 100 && counts.reads <= 100 + 25,
            "{counts:?}"
        );
        assert!(counts.hits >= 100, "{counts:?}");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// Two transfers reading through the shared reader, one resuming in the middle of a
    /// block, each send exactly their bytes with the whole file's hash; the blocks both
    /// wanted were read once.
    #[test]
    fn read_ahead_through_the_shared_reader_sends_the_same_bytes() {
        use crate::transfer::read_ahead::{Planned, ReadAhead};
        let (path, data) = file(5 * 1000 + 123);
        let blocks = Arc::new(Blocks::new(1000, 8));
        let run = |offset: u64| {
            let plan = vec![Planned {
                index: 0,
                path: path.clone(),
                size: data.len() as u64,
                offset,
            }];
            smol::block_on(async {
                let mut ahead = ReadAhead::shared(plan, Some(blocks.clone()));
                let (mut sent, mut hash) = (Vec::new(), None);
                while let Some(b) = futures::future::poll_fn(|cx| ahead.poll_batch(cx)).await {
                    let b = b.unwrap();
                    sent.extend(b.msgs.iter().flat_map(|m| m[1..].to_vec()));
                    hash = hash.or(b.hash);
                }
                (sent, hash)
            })
        };
        let whole = *blake3::hash(&data).as_bytes();
        assert_eq!(run(0), (data.clone(), Some(whole)));
        assert_eq!(run(2500), (data[2500..].to_vec(), Some(whole)));
        assert_eq!(blocks.counts().reads, 6, "{:?}", blocks.counts());
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_file_shorter_than_declared_changed() {
        let (path, _) = file(150);
        let blocks = Blocks::new(100, 2);
        assert!(matches!(
            blocks.get(0, &path, 300, 1),
            Err(Error::SourceChanged)
        ));
        // The failed block is not cached as loading: the next try reads again.
        assert!(matches!(
            blocks.get(0, &path, 300, 1),
            Err(Error::SourceChanged)
        ));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
