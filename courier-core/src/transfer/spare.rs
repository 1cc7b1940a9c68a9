//! Spare frame buffers: a data frame's buffer, once the connection has written it, goes
//! back here for the disk thread to read the next bytes into. Without it every frame is
//! a fresh 256 KiB allocation freed on another thread, and the allocator hands the
//! pages back to the kernel and faults them in again, zeroed, batch after batch (a
//! fifth of the sender's CPU in `perf`: page faults, page clearing, unmapping).
//!
//! One pool for the process, bounded: at most [`KEPT`] buffers wait here (4 MiB), so
//! it never holds more than a couple of batches in flight would.

use std::sync::{Mutex, PoisonError};

use async_tungstenite::tungstenite::Bytes;

use super::wire;
use crate::limits;

/// Buffers kept at most.
const KEPT: usize = 16;

/// The capacity of a whole data frame's buffer: only these are kept.
const FRAME: usize = wire::HEADER + limits::CHUNK;

/// Frames smaller than this take no spare (control messages, tiny files): a spare
/// holding a few bytes would hold 256 KiB for them. Anything larger (a small file of a
/// folder, a file's tail) takes one: at most [`KEPT`] can be out at once holding more
/// than they need (4 MiB in all), and a folder of 100 KiB files then costs no
/// allocation, page fault or zeroing per file.
const SMALLEST: usize = 16 * 1024;

static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer with room for `capacity` bytes: a spare one for a frame of at least
/// [`SMALLEST`] bytes and at most a whole one's.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    if (SMALLEST..=FRAME).contains(&capacity)
        && let Some(mut buf) = SPARE.lock().unwrap_or_else(PoisonError::into_inner).pop()
    {
        buf.clear();
        return buf;
    }
    Vec::with_capacity(capacity)
}

/// A buffer of exactly `len` bytes for a frame the link reads: for one of at least
/// [`SMALLEST`] bytes, a spare (its old bytes are overwritten before anyone sees it: the
/// link hands out only whole frames), zeroed only where it is longer than the spare's old
/// contents; or a new one.
pub(crate) fn take_sized(len: usize) -> Vec<u8> {
    let spare = (SMALLEST..=FRAME)
        .contains(&len)
        .then(|| SPARE.lock().unwrap_or_else(PoisonError::into_inner).pop())
        .flatten();
    let mut buf = spare.unwrap_or_default();
    if buf.len() >= len {
        buf.truncate(len);
    } else {
        buf.resize(len, 0);
    }
    buf
}

/// A frame read by the link and written to the disk: its buffer comes back if nothing
/// else holds it.
pub(crate) fn give_back_bytes(bytes: Bytes) {
    if let Ok(buf) = bytes.try_into_mut() {
        give_back(Vec::from(buf));
    }
}

/// A buffer no longer needed: kept if it is a whole frame's and there is room.
pub(crate) fn give_back(buf: Vec<u8>) {
    if buf.capacity() != FRAME {
        return;
    }
    let mut spare = SPARE.lock().unwrap_or_else(PoisonError::into_inner);
    if spare.len() < KEPT {
        spare.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_buffers_come_back_and_the_pool_stays_bounded() {
        // Other tests in this process use the pool too: only what this one can see.
        let buf = take(FRAME);
        assert!(buf.is_empty() && buf.capacity() >= FRAME);
        let mut full = Vec::with_capacity(FRAME);
        full.extend_from_slice(&[7u8; 100]);
        give_back(full);
        let again = take(FRAME);
        assert!(again.is_empty(), "handed out empty");
        // A buffer of another size is not kept, nor is one asked beyond a frame.
        give_back(Vec::with_capacity(10));
        assert!(take(FRAME + 1).capacity() > FRAME);
        for _ in 0..KEPT * 2 {
            give_back(Vec::with_capacity(FRAME));
        }
        let kept = SPARE.lock().unwrap().len();
        assert!(kept <= KEPT, "{kept}");
    }

    /// One transfer that takes every spare and keeps them (a peer that stalls
    /// mid-frame, or a link test) costs the others only speed: an empty pool still
    /// hands out whole buffers, it never makes anyone wait.
    #[test]
    fn a_drained_pool_still_hands_out_buffers() {
        let kept: Vec<Vec<u8>> = (0..KEPT * 2).map(|_| take(FRAME)).collect();
        let held: Vec<Vec<u8>> = (0..KEPT * 2).map(|_| take_sized(FRAME)).collect();
        assert!(kept.iter().all(|b| b.is_empty() && b.capacity() >= FRAME));
        assert!(held.iter().all(|b| b.len() == FRAME));
        assert!(take(FRAME).capacity() >= FRAME);
        assert_eq!(take_sized(FRAME).len(), FRAME);
    }

    /// A tiny frame never holds a spare, however many wait in the pool: a folder of
    /// tiny files queued behind a slow peer costs their bytes, not 256 KiB each.
    #[test]
    fn a_tiny_frame_takes_no_spare() {
        for _ in 0..KEPT {
            give_back(Vec::with_capacity(FRAME));
        }
        assert!(wire::data(b"x").capacity() < SMALLEST);
        assert!(take_sized(100).capacity() < SMALLEST);
        assert!(take(SMALLEST - 1).capacity() < SMALLEST);
    }

    /// A folder's 100 KiB files are read into spares, but a thousand of them queued
    /// hold their own size, not 256 KiB each: only the pool's few are larger.
    #[test]
    fn small_files_take_spares_but_only_the_pools_few() {
        for _ in 0..KEPT {
            give_back(Vec::with_capacity(FRAME));
        }
        let len = wire::HEADER + 100 * 1024;
        let queued: Vec<Vec<u8>> = (0..1000).map(|_| take_sized(len)).collect();
        let large = queued.iter().filter(|b| b.capacity() >= FRAME).count();
        assert!(large <= KEPT, "{large} buffers of a whole frame");
        assert!(queued.iter().all(|b| b.len() == len));
        let sent: Vec<Vec<u8>> = (0..1000).map(|_| take(len)).collect();
        assert!(sent.iter().filter(|b| b.capacity() >= FRAME).count() <= KEPT);
    }

    /// A frame the link read, once written, gives its very buffer back (no copy on
    /// the way), and a buffer handed out for reading has the length asked.
    #[test]
    fn a_read_frame_gives_its_very_buffer_back() {
        let frame = take_sized(FRAME);
        assert_eq!(frame.len(), FRAME);
        let at = frame.as_ptr();
        let back = Bytes::from(frame).try_into_mut().map(Vec::from).unwrap();
        assert_eq!((back.as_ptr(), back.capacity()), (at, FRAME));
        let mut spare = back;
        spare.fill(9);
        give_back(spare);
        assert_eq!(take_sized(10).len(), 10);
        assert_eq!(take_sized(FRAME).len(), FRAME);
    }
}
