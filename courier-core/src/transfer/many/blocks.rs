//! The shared reader: the copies of one send to many read the source through it, so a
//! block of a file is read from disk once for every copy that wants it at about the same
//! time. It keeps at most a fixed number of blocks.
//!
//! The copies reading together form a **convoy**: a block is evicted first when no copy
//! of the convoy still needs it (every one has passed it). When the cache is full of
//! blocks someone in the convoy still needs, a copy that would read a new block waits a
//! little ([`WAIT`]) for the others to catch up; whoever is still behind after that is
//! **left behind**: it no longer holds the others back and reads on its own (its blocks
//! take a place in the cache only when one is free), until it finds its next block in the
//! cache again. Only copies less than the cache's size behind count: one further back
//! (started later, resuming elsewhere) holds no block and nobody waits for it. So a copy
//! far behind never grows the cache nor holds everyone back, and one a little behind for
//! at most [`WAIT`].
//!
//! Called on the `blocking` pool (it reads files and may wait for other copies).

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::super::error::Error;

/// A block's bytes, shared by every copy that reads it.
pub(crate) type Block = Arc<[u8]>;

/// Which block: a manifest file index and the block number within the file. Copies read
/// files in plan order, so a copy at key `c` still needs every block from `c` on.
type Key = (u32, u64);

/// How long a copy waits for the convoy before it leaves the ones behind.
pub(crate) const WAIT: Duration = Duration::from_millis(200);

enum Entry {
    /// Someone is reading it from disk; wait for them.
    Loading,
    /// Read: the bytes, and when they were last used.
    Ready(Block, u64),
}

/// Where one copy reads.
struct Cursor {
    /// The next block it wants.
    at: Key,
    /// Left behind: it does not hold the others back.
    behind: bool,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    cursors: HashMap<u64, Cursor>,
    next_reader: u64,
    /// A clock that ticks at every use.
    tick: u64,
    /// Blocks read from disk, and their bytes.
    reads: u64,
    read_bytes: u64,
    /// Blocks handed out from the cache.
    hits: u64,
}

impl State {
    fn ready(&self) -> impl Iterator<Item = (&Key, u64)> {
        self.entries.iter().filter_map(|(k, e)| match e {
            Entry::Ready(_, used) => Some((k, *used)),
            Entry::Loading => None,
        })
    }

    /// Whether a copy of the convoy still needs block `key` soon: it has not passed it,
    /// and is at most `reach` blocks before it (a copy further back is not served by the
    /// cache anyway, and must not make it hold blocks for nothing).
    fn needed(&self, key: Key, reach: u64) -> bool {
        self.cursors
            .values()
            .any(|c| !c.behind && within(c.at, key, reach))
    }

    /// The least recently used block nobody in the convoy needs.
    fn spare(&self, reach: u64) -> Option<Key> {
        self.ready()
            .filter(|(k, _)| !self.needed(**k, reach))
            .min_by_key(|(_, used)| *used)
            .map(|(k, _)| *k)
    }

    fn lru(&self) -> Option<Key> {
        self.ready().min_by_key(|(_, used)| *used).map(|(k, _)| *k)
    }

    fn behind(&self, reader: u64) -> bool {
        self.cursors.get(&reader).is_some_and(|c| c.behind)
    }

    fn set(&mut self, reader: u64, at: Key, behind: Option<bool>) {
        if let Some(c) = self.cursors.get_mut(&reader) {
            c.at = at;
            if let Some(b) = behind {
                c.behind = b;
            }
        }
    }

    /// Whether a copy of the convoy other than `reader` is a little behind `key` (at
    /// most `reach` blocks).
    fn anyone_behind(&self, reader: u64, key: Key, reach: u64) -> bool {
        self.cursors
            .iter()
            .any(|(r, c)| *r != reader && !c.behind && c.at < key && within(c.at, key, reach))
    }

    /// Leaves behind the rearmost copies of the convoy within `reach` of `key` (not
    /// `reader`).
    fn leave_rearmost(&mut self, reader: u64, key: Key, reach: u64) {
        let rear = self
            .cursors
            .iter()
            .filter(|(r, c)| **r != reader && !c.behind && within(c.at, key, reach))
            .map(|(_, c)| c.at)
            .min();
        for (r, c) in &mut self.cursors {
            if *r != reader && Some(c.at) == rear {
                c.behind = true;
            }
        }
    }
}

/// Whether a copy at `at` will want block `key` within `reach` blocks.
fn within(at: Key, key: Key, reach: u64) -> bool {
    at.0 == key.0 && at.1 <= key.1 && key.1 - at.1 <= reach
}

/// The block cache in front of the source's files.
pub(crate) struct Blocks {
    /// Bytes per block.
    block: u64,
    /// Most blocks kept.
    capacity: usize,
    /// How long a copy waits for the convoy ([`WAIT`] but in tests).
    wait: Duration,
    state: Mutex<State>,
    /// Rung when a block is read, or a copy moves or leaves.
    moved: Condvar,
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

/// One copy's place at the shared reader, from its first block of a file to its last;
/// dropping it leaves.
pub(crate) struct Seat {
    blocks: Arc<Blocks>,
    reader: u64,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut st = self.blocks.lock();
        st.cursors.remove(&self.reader);
        drop(st);
        self.blocks.moved.notify_all();
    }
}

impl Seat {
    /// Block `n` of file `index` (at `path`, declared `size` bytes): see [`Blocks::get`].
    pub(crate) fn get(&self, index: u32, path: &Path, size: u64, n: u64) -> Result<Block, Error> {
        self.blocks.get(self.reader, index, path, size, n)
    }

    /// Bytes per block.
    pub(crate) fn block_size(&self) -> u64 {
        self.blocks.block
    }
}

impl Blocks {
    /// A cache of at most `capacity` blocks of `block` bytes.
    pub(crate) fn new(block: usize, capacity: usize) -> Self {
        Self::waiting(block, capacity, WAIT)
    }

    /// The same, a copy ahead waiting up to `wait` for the convoy (tests use a long one,
    /// so that what they prove does not depend on how fast another thread runs).
    pub(crate) fn waiting(block: usize, capacity: usize, wait: Duration) -> Self {
        Self {
            block: block.max(1) as u64,
            capacity: capacity.max(1),
            wait,
            state: Mutex::new(State::default()),
            moved: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy starts reading file `index` from byte `offset`.
    pub(crate) fn join(self: &Arc<Self>, index: u32, offset: u64) -> Seat {
        let at = (index, offset / self.block);
        let mut st = self.lock();
        st.next_reader += 1;
        let reader = st.next_reader;
        st.cursors.insert(reader, Cursor { at, behind: false });
        Seat {
            blocks: self.clone(),
            reader,
        }
    }

    /// The counters (for tests, benches and the report).
    pub(crate) fn counts(&self) -> Counts {
        let st = self.lock();
        Counts {
            reads: st.reads,
            read_bytes: st.read_bytes,
            hits: st.hits,
            held: st.ready().count(),
        }
    }

    /// Block `n` of file `index` for copy `reader`: from the cache, or read now. Blocks
    /// the thread while another copy reads the same block, or (at most [`WAIT`]) while the
    /// cache is full of blocks the convoy behind still needs.
    fn get(&self, reader: u64, index: u32, path: &Path, size: u64, n: u64) -> Result<Block, Error> {
        let key = (index, n);
        let started = Instant::now();
        let mut st = self.lock();
        st.set(reader, key, None);
        loop {
            st.tick += 1;
            let tick = st.tick;
            match st.entries.get_mut(&key) {
                Some(Entry::Ready(block, used)) => {
                    *used = tick;
                    let block = block.clone();
                    st.hits += 1;
                    // Found in the cache: with the convoy again.
                    st.set(reader, (index, n + 1), Some(false));
                    drop(st);
                    self.moved.notify_all();
                    return Ok(block);
                }
                Some(Entry::Loading) => {
                    st = self.moved.wait(st).unwrap_or_else(PoisonError::into_inner);
                    continue;
                }
                None => {}
            }
            let reach = self.capacity as u64;
            let full = st.ready().count() >= self.capacity;
            if !full || st.behind(reader) || st.spare(reach).is_some() {
                break;
            }
            if !st.anyone_behind(reader, key, reach) {
                // The rearmost of the convoy, and what the cache holds is ahead of it:
                // it is the one left behind.
                st.set(reader, key, Some(true));
                break;
            }
            let waited = started.elapsed();
            if waited < self.wait {
                // The convoy behind still needs every block held: let it catch up.
                st = self
                    .moved
                    .wait_timeout(st, self.wait - waited)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            let before = st.cursors.values().filter(|c| c.behind).count();
            st.leave_rearmost(reader, key, reach);
            if st.cursors.values().filter(|c| c.behind).count() == before {
                break;
            }
        }
        st.entries.insert(key, Entry::Loading);
        drop(st);
        let start = n.saturating_mul(self.block);
        let len = size.saturating_sub(start).min(self.block);
        let read = read_at(path, start, len);
        let mut st = self.lock();
        st.entries.remove(&key);
        let result = match read {
            Ok(block) => {
                st.tick += 1;
                let tick = st.tick;
                st.reads += 1;
                st.read_bytes += len;
                st.set(reader, (index, n + 1), None);
                let full = st.ready().count() >= self.capacity;
                let room = if !full {
                    true
                } else if let Some(k) = st.spare(self.capacity as u64) {
                    st.entries.remove(&k);
                    true
                } else if !st.behind(reader) {
                    // Nobody left to wait for: the oldest goes.
                    if let Some(k) = st.lru() {
                        st.entries.remove(&k);
                    }
                    true
                } else {
                    // Left behind, and every place taken: read on its own.
                    false
                };
                if room {
                    st.entries.insert(key, Entry::Ready(block.clone(), tick));
                }
                Ok(block)
            }
            // Whoever waits tries for themselves (and most likely fails the same way).
            Err(e) => Err(e),
        };
        drop(st);
        self.moved.notify_all();
        result
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
    use crate::transfer::wire;

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
                    let seat = blocks.join(0, 0);
                    let mut got = Vec::new();
                    for n in 0..n_blocks {
                        // Eight transfers at the same offset at the same moment.
                        step.wait();
                        got.extend_from_slice(&seat.get(0, &path, 10_007, n).unwrap());
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
        let blocks = Arc::new(Blocks::new(100, 3));
        let size = data.len() as u64;
        let (p1, p2, laggard) = (blocks.join(0, 0), blocks.join(0, 0), blocks.join(0, 0));
        for n in 0..100u64 {
            // Two readers in step at block n, one laggard at block n / 4.
            assert_eq!(
                *p1.get(0, &path, size, n).unwrap(),
                data[n as usize * 100..][..100]
            );
            p2.get(0, &path, size, n).unwrap();
            let lag = n / 4;
            assert_eq!(
                *laggard.get(0, &path, size, lag).unwrap(),
                data[lag as usize * 100..][..100]
            );
            assert!(blocks.counts().held <= 3, "{:?}", blocks.counts());
        }
        let counts = blocks.counts();
        // The pair read each block once (the second of them always finds it); the
        // laggard reads on its own, at most once per block it asks for.
        assert!(counts.hits >= 100, "{counts:?}");
        assert!(counts.reads <= 100 + 100, "{counts:?}");
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
                    let mut b = b.unwrap();
                    sent.extend(
                        b.take_msgs()
                            .iter()
                            .flat_map(|m| m[wire::HEADER..].to_vec()),
                    );
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

    /// The convoy: a copy one step ahead waits for the one behind instead of evicting a
    /// block it still needs, so both are served by one read per block. The wait is made
    /// far longer than the copy behind can take on any machine (it only bounds a broken
    /// run): the copy ahead goes on when the one behind moves, not when a timer fires,
    /// and without the convoy it would evict block 0 and the reads would be 4.
    #[test]
    fn a_copy_ahead_waits_for_the_convoy() {
        let (path, data) = file(10 * 100);
        let blocks = Arc::new(Blocks::waiting(100, 2, Duration::from_secs(120)));
        let (ahead, behind) = (blocks.join(0, 0), blocks.join(0, 0));
        ahead.get(0, &path, 1000, 0).unwrap();
        ahead.get(0, &path, 1000, 1).unwrap();
        let p = path.clone();
        let ahead = std::thread::spawn(move || {
            let got = ahead.get(0, &p, 1000, 2).unwrap();
            (ahead, got)
        });
        behind.get(0, &path, 1000, 0).unwrap();
        behind.get(0, &path, 1000, 1).unwrap();
        let (_ahead, got) = ahead.join().unwrap();
        assert_eq!(*got, data[200..300]);
        assert_eq!(*behind.get(0, &path, 1000, 2).unwrap(), data[200..300]);
        assert_eq!(blocks.counts().reads, 3, "{:?}", blocks.counts());
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// A copy that does not move is left behind after [`WAIT`]: the one ahead goes on
    /// (no deadlock), the cache never holds more than its capacity, and the one left
    /// behind still gets its bytes, read on its own.
    #[test]
    fn a_stalled_copy_is_left_behind() {
        let (path, data) = file(10 * 100);
        let blocks = Arc::new(Blocks::new(100, 2));
        let (ahead, stalled) = (blocks.join(0, 0), blocks.join(0, 0));
        for n in 0..10 {
            assert_eq!(
                *ahead.get(0, &path, 1000, n).unwrap(),
                data[n as usize * 100..][..100]
            );
            assert!(blocks.counts().held <= 2);
        }
        for n in 0..10 {
            assert_eq!(
                *stalled.get(0, &path, 1000, n).unwrap(),
                data[n as usize * 100..][..100]
            );
            assert!(blocks.counts().held <= 2);
        }
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_file_shorter_than_declared_changed() {
        let (path, _) = file(150);
        let seat = Arc::new(Blocks::new(100, 2)).join(0, 0);
        assert!(matches!(
            seat.get(0, &path, 300, 1),
            Err(Error::SourceChanged)
        ));
        // The failed block is not cached as loading: the next try reads again.
        assert!(matches!(
            seat.get(0, &path, 300, 1),
            Err(Error::SourceChanged)
        ));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
