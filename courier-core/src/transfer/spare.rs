//! Spare frame buffers: a data frame's buffer, once the connection has written it, goes
//! back here for the disk thread to read the next bytes into. Without it every frame is
//! a fresh 256 KiB allocation freed on another thread, and the allocator hands the
//! pages back to the kernel and faults them in again, zeroed, batch after batch (a
//! fifth of the sender's CPU in `perf`: page faults, page clearing, unmapping).
//!
//! Frames smaller than a whole one (a folder's small files, a file's tail) take buffers
//! of their own size class (32, 64 or 128 KiB: the smallest that fits), so that a
//! frame never holds more than twice its length: frames queued behind a slow peer are
//! counted by their length, and that bound is what keeps their memory in check whatever
//! sizes a peer sends. Frames of at most 16 KiB (control messages, tiny files) take
//! none.
//!
//! One pool per class for the process, bounded: at most [`KEPT`] whole-frame buffers
//! (4 MiB) and [`KEPT_SMALL`] of each smaller class (1.75 MiB in all) wait here, so it
//! never holds more than a couple of batches in flight would.

use std::sync::{Mutex, PoisonError};

use async_tungstenite::tungstenite::Bytes;

use super::wire;
use crate::limits;

/// Whole-frame buffers kept at most.
const KEPT: usize = 16;

/// Buffers of each smaller class kept at most.
const KEPT_SMALL: usize = 8;

/// The capacity of a whole data frame's buffer.
const FRAME: usize = wire::HEADER + limits::CHUNK;

/// The capacities kept, smallest first: a buffer is of a class exactly.
const CLASSES: [usize; 4] = [32 * 1024, 64 * 1024, 128 * 1024, FRAME];

static SPARE: [Mutex<Vec<Vec<u8>>>; CLASSES.len()] =
    [const { Mutex::new(Vec::new()) }; CLASSES.len()];

/// The class for a frame of `len` bytes: the smallest that fits, if that is less than
/// twice `len` (else none: a tiny frame, or one beyond a whole frame).
fn class(len: usize) -> Option<usize> {
    let i = CLASSES.iter().position(|&c| c >= len)?;
    (CLASSES.get(i).copied().unwrap_or(usize::MAX) < 2 * len).then_some(i)
}

/// The pool of class `i`, and how many it keeps.
fn pool(i: usize) -> Option<(&'static Mutex<Vec<Vec<u8>>>, usize)> {
    let kept = if i + 1 == CLASSES.len() {
        KEPT
    } else {
        KEPT_SMALL
    };
    Some((SPARE.get(i)?, kept))
}

/// A buffer of class `i`: a spare one, or a new one of the class's capacity (so that it
/// can be kept when it comes back).
fn take_class(i: usize) -> Vec<u8> {
    if let Some((spare, _)) = pool(i)
        && let Some(buf) = spare.lock().unwrap_or_else(PoisonError::into_inner).pop()
    {
        return buf;
    }
    Vec::with_capacity(CLASSES.get(i).copied().unwrap_or_default())
}

/// An empty buffer with room for `capacity` bytes: of its class (see the module), or
/// exactly that for a tiny frame.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    match class(capacity) {
        Some(i) => {
            let mut buf = take_class(i);
            buf.clear();
            buf
        }
        None => Vec::with_capacity(capacity),
    }
}

/// A buffer of exactly `len` bytes for a frame the link reads: of its class, a spare
/// one when there is one (its old bytes are overwritten before anyone sees it: the link
/// hands out only whole frames), zeroed only where it is longer than the spare's old
/// contents; for a tiny frame, a new one.
pub(crate) fn take_sized(len: usize) -> Vec<u8> {
    let mut buf = class(len).map(take_class).unwrap_or_default();
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

/// A buffer no longer needed: kept if it is of a class and its pool has room.
pub(crate) fn give_back(buf: Vec<u8>) {
    let Some((spare, kept)) = CLASSES
        .iter()
        .position(|&c| c == buf.capacity())
        .and_then(pool)
    else {
        return;
    };
    let mut spare = spare.lock().unwrap_or_else(PoisonError::into_inner);
    if spare.len() < kept {
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
        let kept = SPARE[CLASSES.len() - 1].lock().unwrap().len();
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

    /// A tiny frame never holds a spare, however many wait in the pools: a folder of
    /// tiny files queued behind a slow peer costs their bytes, not 32 KiB each.
    #[test]
    fn a_tiny_frame_takes_no_spare() {
        for _ in 0..KEPT {
            give_back(Vec::with_capacity(FRAME));
            give_back(Vec::with_capacity(CLASSES[0]));
        }
        assert!(wire::data(b"x").capacity() < CLASSES[0]);
        assert!(take_sized(100).capacity() < CLASSES[0]);
        assert!(take(16 * 1024).capacity() < CLASSES[0]);
    }

    /// Each size goes to the smallest class that fits, never one over twice its size;
    /// every pool stays bounded.
    #[test]
    fn sizes_find_their_class_and_pools_stay_bounded() {
        assert_eq!(class(16 * 1024), None);
        assert_eq!(class(16 * 1024 + 1), Some(0));
        assert_eq!(class(wire::HEADER + 100 * 1024), Some(2));
        assert_eq!(class(FRAME), Some(CLASSES.len() - 1));
        assert_eq!(class(FRAME + 1), None);
        for (i, &c) in CLASSES.iter().enumerate() {
            for _ in 0..KEPT * 2 {
                give_back(Vec::with_capacity(c));
            }
            let (spare, kept) = pool(i).unwrap();
            assert!(spare.lock().unwrap().len() <= kept);
        }
        let kept: usize = (0..CLASSES.len())
            .map(|i| pool(i).map_or(0, |(_, k)| k * CLASSES[i]))
            .sum();
        assert!(kept < 6 * 1024 * 1024, "{kept} bytes kept at most");
    }

    /// Spares go round (a frame's buffer comes back as the next is read), so what bounds
    /// the memory frames hold is that a frame never holds more than twice its length,
    /// whatever sizes a peer sends: queued frames are counted by length.
    #[test]
    fn a_frame_never_holds_more_than_twice_its_length() {
        for len in [
            16 * 1024,
            100 * 1024,
            FRAME / 2,
            FRAME / 2 + 1,
            FRAME - 1,
            FRAME,
        ] {
            for _ in 0..KEPT {
                give_back(Vec::with_capacity(FRAME));
            }
            let read = take_sized(len);
            assert!(read.capacity() <= 2 * len, "{len}: {}", read.capacity());
            give_back(read);
            let sent = take(len);
            assert!(sent.capacity() <= 2 * len, "{len}: {}", sent.capacity());
            give_back(sent);
        }
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
