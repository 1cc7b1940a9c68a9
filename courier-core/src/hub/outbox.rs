//! What the hub has decided to send and a connection's writer has not written yet.
//!
//! Each connection's outbox is bounded in bytes and frames, and the whole hub's outboxes
//! together in bytes. A client is a slow consumer when its outbox overflows those bounds,
//! or when something waits in it and its writer has made no progress for a while: not
//! when it merely received a burst that its writer is busy sending.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use async_tungstenite::tungstenite::Bytes;

use super::{CloseReason, ConnId};

/// How much may wait for one connection's writer, and for all of them together.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    /// Bytes queued for one connection.
    pub(super) bytes: usize,
    /// Frames queued for one connection.
    pub(super) frames: usize,
    /// Bytes queued for all connections together.
    pub(super) total: usize,
    /// A writer that made no progress for this long while something waited is stuck.
    pub(super) stall: Duration,
}

/// One connection's queue as the serve loop and its writer both see it.
#[derive(Debug, Default)]
pub(super) struct Gauge {
    bytes: AtomicUsize,
    frames: AtomicUsize,
    /// Milliseconds since the hub started, when the writer last made progress (or the
    /// queue last went from empty to not empty).
    progress_ms: AtomicU64,
    /// The hub waits to hear when this queue is low again (pacing large frames). Taken
    /// with a swap by whichever side sees the queue low first, so it is told once.
    watched: AtomicBool,
}

impl Gauge {
    /// Whether the queue is low and someone was waiting to hear it (then no more).
    fn low_and_watched(&self) -> bool {
        // SeqCst with the other side's store or subtraction: each must see the other's
        // write, or a wake-up is lost (the store-buffering pattern).
        self.bytes.load(Ordering::SeqCst) <= crate::limits::PACED_LOW_MARK
            && self.watched.swap(false, Ordering::SeqCst)
    }
}

/// The writer's side of a gauge: takes written frames off the books.
#[derive(Debug, Clone)]
pub(super) struct Drain {
    gauge: Arc<Gauge>,
    total: Arc<AtomicUsize>,
    epoch: Instant,
}

impl Drain {
    /// `frames` frames of `bytes` bytes were written and flushed. True when the hub
    /// asked to hear that the queue is low again and it now is.
    pub(super) fn written(&self, frames: usize, bytes: usize) -> bool {
        self.gauge.frames.fetch_sub(frames, Ordering::Relaxed);
        self.gauge.bytes.fetch_sub(bytes, Ordering::SeqCst);
        self.total.fetch_sub(bytes, Ordering::Relaxed);
        self.gauge
            .progress_ms
            .store(millis(self.epoch, Instant::now()), Ordering::Relaxed);
        self.gauge.low_and_watched()
    }
}

/// A connection's lines from the serve loop: frames to send, and the hub's decision to
/// close it or hand it to a relay (separate, so they get through when frames are stuck).
pub(super) struct Outbox {
    frames: Sender<Bytes>,
    close: Sender<CloseReason>,
    relay: Sender<Pipe>,
    gauge: Arc<Gauge>,
    /// What the connection may still read, once its handshakes are done.
    allowance: Option<crate::net::Allowance>,
}

/// The receiving ends a connection's pump holds.
pub(super) struct Lines {
    pub(super) frames: Receiver<Bytes>,
    pub(super) close: Receiver<CloseReason>,
    pub(super) relay: Receiver<Pipe>,
    pub(super) drain: Drain,
}

/// A relayed connection's two lines to its partner: binary messages in and out.
pub(super) struct Pipe {
    pub(super) to_partner: Sender<Bytes>,
    pub(super) from_partner: Receiver<Bytes>,
}

/// Messages buffered between the two halves of a relay, in each direction.
const RELAY_QUEUE: usize = 8;

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Full {
    /// This connection's outbox is over its bounds.
    Connection,
    /// All outboxes together are over the hub's bound.
    Hub,
}

/// Every connection's outbox.
pub(super) struct Outboxes {
    map: HashMap<ConnId, Outbox>,
    total: Arc<AtomicUsize>,
    epoch: Instant,
    bounds: Bounds,
}

fn millis(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}

impl Outboxes {
    pub(super) fn new(bounds: Bounds) -> Self {
        Self {
            map: HashMap::new(),
            total: Arc::default(),
            epoch: Instant::now(),
            bounds,
        }
    }

    /// A new connection's outbox; its pump gets the other ends.
    pub(super) fn open(&mut self, conn: ConnId) -> Lines {
        // Unbounded channel, bounded by the gauge: a bounded one would preallocate every
        // slot for every idle client.
        let (frames, frames_rx) = async_channel::unbounded();
        let (close, close_rx) = async_channel::bounded(1);
        let (relay, relay_rx) = async_channel::bounded(1);
        let gauge = Arc::new(Gauge::default());
        let drain = Drain {
            gauge: gauge.clone(),
            total: self.total.clone(),
            epoch: self.epoch,
        };
        self.map.insert(
            conn,
            Outbox {
                frames,
                close,
                relay,
                gauge,
                allowance: None,
            },
        );
        Lines {
            frames: frames_rx,
            close: close_rx,
            relay: relay_rx,
            drain,
        }
    }

    /// Queues an encoded frame for `conn` (nothing if it is gone).
    pub(super) fn push(&mut self, conn: ConnId, frame: Bytes, now: Instant) -> Result<(), Full> {
        let Some(out) = self.map.get(&conn) else {
            return Ok(());
        };
        let len = frame.len();
        let g = &out.gauge;
        if g.bytes.load(Ordering::Relaxed) + len > self.bounds.bytes
            || g.frames.load(Ordering::Relaxed) >= self.bounds.frames
        {
            return Err(Full::Connection);
        }
        if self.total.load(Ordering::Relaxed) + len > self.bounds.total {
            return Err(Full::Hub);
        }
        if g.frames.fetch_add(1, Ordering::Relaxed) == 0 {
            // An idle writer starts its clock now, not when it last wrote.
            g.progress_ms
                .store(millis(self.epoch, now), Ordering::Relaxed);
        }
        g.bytes.fetch_add(len, Ordering::Relaxed);
        self.total.fetch_add(len, Ordering::Relaxed);
        let _ = out.frames.try_send(frame);
        Ok(())
    }

    /// The hub wants to hear when `conn`'s queue is low ([`Drain::written`] says so to
    /// its writer). True when it already is: then the hub is to be told now.
    pub(super) fn watch(&mut self, conn: ConnId) -> bool {
        let Some(out) = self.map.get(&conn) else {
            return false;
        };
        out.gauge.watched.store(true, Ordering::SeqCst);
        out.gauge.low_and_watched()
    }

    /// `conn`'s handshakes are done; this is what it may still read before login.
    pub(super) fn allow(&mut self, conn: ConnId, allowance: crate::net::Allowance) {
        if let Some(out) = self.map.get_mut(&conn) {
            out.allowance = Some(allowance);
        }
    }

    /// `conn` logged in (or became a relay): it may read freely.
    pub(super) fn lift(&mut self, conn: ConnId) {
        if let Some(a) = self.map.get_mut(&conn).and_then(|o| o.allowance.take()) {
            a.lift();
        }
    }

    /// Tells `conn`'s pump the hub closed it; its outbox is forgotten.
    pub(super) fn close(&mut self, conn: ConnId, reason: CloseReason) {
        if let Some(out) = self.remove(conn) {
            let _ = out.close.try_send(reason);
        }
    }

    /// Hands two connections to each other's pumps as a relay.
    pub(super) fn relay(&mut self, a: ConnId, b: ConnId) {
        self.lift(a);
        self.lift(b);
        let (a_to_b, b_from_a) = async_channel::bounded(RELAY_QUEUE);
        let (b_to_a, a_from_b) = async_channel::bounded(RELAY_QUEUE);
        if let (Some(out_a), Some(out_b)) = (self.remove(a), self.remove(b)) {
            let _ = out_a.relay.try_send(Pipe {
                to_partner: a_to_b,
                from_partner: a_from_b,
            });
            let _ = out_b.relay.try_send(Pipe {
                to_partner: b_to_a,
                from_partner: b_from_a,
            });
        }
    }

    fn remove(&mut self, conn: ConnId) -> Option<Outbox> {
        let out = self.map.remove(&conn)?;
        // What it still holds is no longer the hub's to send (its pump may still try, on
        // the way out, within its goodbye deadline).
        let left = out.gauge.bytes.swap(0, Ordering::Relaxed);
        out.gauge.frames.store(0, Ordering::Relaxed);
        self.total.fetch_sub(left, Ordering::Relaxed);
        Some(out)
    }

    /// Connections whose writer has been stuck with something to send for too long.
    pub(super) fn stalled(&self, now: Instant) -> Vec<ConnId> {
        let now = millis(self.epoch, now);
        let stall = u64::try_from(self.bounds.stall.as_millis()).unwrap_or(u64::MAX);
        let mut stuck: Vec<ConnId> = self
            .map
            .iter()
            .filter(|(_, o)| {
                o.gauge.frames.load(Ordering::Relaxed) > 0
                    && now.saturating_sub(o.gauge.progress_ms.load(Ordering::Relaxed)) > stall
            })
            .map(|(c, _)| *c)
            .collect();
        stuck.sort();
        stuck
    }

    /// The connection holding the most queued bytes (the one to drop when the hub is
    /// over its total).
    pub(super) fn largest(&self) -> Option<ConnId> {
        self.map
            .iter()
            .max_by_key(|(c, o)| (o.gauge.bytes.load(Ordering::Relaxed), **c))
            .map(|(c, _)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            bytes: 100,
            frames: 3,
            total: 150,
            stall: Duration::from_secs(10),
        }
    }

    #[test]
    fn bounds_in_bytes_frames_and_total() {
        let t0 = Instant::now();
        let mut o = Outboxes::new(bounds());
        let (a, b) = (ConnId(1), ConnId(2));
        let la = o.open(a);
        let _lb = o.open(b);
        let frame = |n| Bytes::from(vec![0u8; n]);
        assert_eq!(o.push(a, frame(60), t0), Ok(()));
        assert_eq!(o.push(a, frame(41), t0), Err(Full::Connection), "bytes");
        assert_eq!(o.push(a, frame(10), t0), Ok(()));
        assert_eq!(o.push(a, frame(10), t0), Ok(()));
        assert_eq!(o.push(a, frame(1), t0), Err(Full::Connection), "frames");
        assert_eq!(o.push(b, frame(80), t0), Err(Full::Hub), "80 + 80 > 150");
        assert_eq!(o.largest(), Some(a));
        // The writer takes two frames off the books.
        la.drain.written(2, 70);
        assert_eq!(o.total.load(Ordering::Relaxed), 10);
        assert_eq!(o.push(b, frame(80), t0), Ok(()));
        o.close(b, CloseReason::SlowConsumer);
        assert_eq!(
            o.total.load(Ordering::Relaxed),
            10,
            "a closed outbox no longer counts"
        );
    }

    #[test]
    fn a_writer_is_stuck_only_when_it_holds_something_and_makes_no_progress() {
        let t0 = Instant::now();
        let mut o = Outboxes::new(bounds());
        let (a, b) = (ConnId(1), ConnId(2));
        let la = o.open(a);
        let _lb = o.open(b);
        let later = t0 + Duration::from_secs(60);
        assert!(o.stalled(later).is_empty(), "nothing queued, nothing stuck");
        // A burst long after the last write starts the clock afresh.
        o.push(a, Bytes::from_static(b"x"), later).unwrap();
        assert!(o.stalled(later + Duration::from_secs(5)).is_empty());
        la.drain.written(1, 1);
        o.push(a, Bytes::from_static(b"y"), later).unwrap();
        let end = Instant::now() + Duration::from_secs(120);
        assert_eq!(o.stalled(end), vec![a]);
    }
}
