//! Per-stage timestamps of the messages the hub routes, to find where a message waits
//! (the routing benchmark's latency section reads them). Compiled only with the
//! `stage-trace` feature: without it none of this exists, and the hub pays nothing.
//!
//! A message is named by its sender (the first 8 bytes of its id) and its [`MsgId`];
//! each stage it passes is stamped with the wall clock in nanoseconds, so that the
//! stamps of two processes on one machine line up.
//!
//! [`MsgId`]: crate::proto::MsgId

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::proto::{ClientId, MsgId, ServerFrame};

/// A point a message passes in the hub, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Its sender's pump decoded it and handed it on to the serve loop.
    Read,
    /// The serve loop took it from its queue and handed it to the hub machine.
    Handled,
    /// The encoded copy for its recipient went into the recipient's outbox.
    Queued,
    /// The recipient's writer took it from the outbox.
    Taken,
    /// The recipient's writer flushed it to the socket.
    Flushed,
}

/// One stage of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The sender: the first 8 bytes of its [`ClientId`], little-endian.
    pub from: u64,
    /// The sender's id for the message.
    pub id: u64,
    /// Which stage.
    pub stage: Stage,
    /// When, in nanoseconds since the Unix epoch.
    pub at_ns: u64,
}

static STAMPS: Mutex<Vec<Stamp>> = Mutex::new(Vec::new());
static ON: AtomicBool = AtomicBool::new(false);

/// Starts stamping (until then the hooks return at once: a build with the feature that
/// is not tracing pays one load per hook).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// Whether stamps are being made.
pub(super) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Takes every stamp made since the last call.
pub fn take() -> Vec<Stamp> {
    STAMPS
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default()
}

/// The key [`Stamp::from`] holds for `id`.
pub fn key(id: &ClientId) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(id.0.get(..8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(first)
}

/// Now, in nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Stamps message `id` from `from` at `stage`, now.
pub(super) fn stamp(from: &ClientId, id: MsgId, stage: Stage) {
    if !on() {
        return;
    }
    let s = Stamp {
        from: key(from),
        id: id.0,
        stage,
        at_ns: now_ns(),
    };
    if let Ok(mut all) = STAMPS.lock() {
        all.push(s);
    }
}

/// Stamps `frame` at `stage` if it is a message.
pub(super) fn stamp_frame(frame: &ServerFrame, stage: Stage) {
    if let ServerFrame::Message(m) = frame {
        stamp(&m.from, m.id, stage);
    }
}

/// Stamps the encoded `frame` at `stage` if it is a message (decoding it: only the
/// writer, which holds bytes, needs this).
pub(super) fn stamp_bytes(frame: &[u8], stage: Stage) {
    if !on() {
        return;
    }
    if let Ok(f) = crate::proto::decode_server(frame) {
        stamp_frame(&f, stage);
    }
}

impl super::Hub {
    /// The client logged in on `conn`, if any.
    pub(super) fn client_of(&self, conn: super::ConnId) -> Option<ClientId> {
        self.conns.get(&conn).and_then(super::Conn::client)
    }
}
