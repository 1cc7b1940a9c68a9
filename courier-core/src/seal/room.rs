//! Room sessions (Megolm style): a sender's hash ratchet of message keys, shared with
//! the room's members; receivers keep the chain from the first index they were given.

use std::collections::BTreeSet;

use zeroize::Zeroizing;

use super::Problem;
use crate::proto::{Target, Timestamp};

/// How stale an inbound session's `last_used` may get before it is written again.
const TOUCH_EVERY_MS: u64 = 60 * 60 * 1000;
/// Largest forward jump of a room session's index that a receiver follows.
pub const MAX_JUMP: u32 = 65_536;

/// How far past a session's last message (the policy's `room_messages`) a receiver
/// still follows its index: a sender's session never goes further.
pub(super) const ROOM_SLACK: u32 = 1_024;

/// Sessions one sender may have shared with this device for one room (the newest kept).
pub(super) const PER_ROOM: usize = 8;

/// Sessions one sender may have shared with this device in all.
pub(super) const PER_SENDER: usize = 256;

/// Sessions others shared with this device, in all (this device's own are not counted).
pub(super) const MAX_INBOUND: usize = 16_384;

/// The message key at a chain step.
pub(super) fn message_key(chain: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(blake3::derive_key("courier room message v1", chain))
}

/// The next chain step.
pub(super) fn next_chain(chain: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(blake3::derive_key("courier room chain v1", chain))
}

/// The chain `steps` steps after `chain`.
pub(super) fn advance(chain: &[u8; 32], steps: u32) -> Zeroizing<[u8; 32]> {
    let mut at = Zeroizing::new(*chain);
    for _ in 0..steps {
        at = next_chain(&at);
    }
    at
}

/// This device's session for a room.
pub(super) struct Outbound {
    pub(super) session: [u8; 16],
    /// The index of the next message.
    pub(super) index: u32,
    /// The chain at `index`.
    pub(super) chain: Zeroizing<[u8; 32]>,
    pub(super) created: Timestamp,
    /// Members that were given the session (at some index).
    pub(super) shared: BTreeSet<crate::proto::ClientId>,
}

/// A session a member (or this device) shared with us.
pub(super) struct Inbound {
    pub(super) room: Target,
    /// The sender's Ed25519 key, from its verified bundle, when the share arrived.
    pub(super) signing: [u8; 32],
    /// The first index this device can open.
    pub(super) first: u32,
    /// The chain at `first`.
    pub(super) chain_first: Zeroizing<[u8; 32]>,
    /// The next index expected (one past the highest opened).
    pub(super) cursor: u32,
    /// The chain at `cursor`.
    pub(super) chain_cursor: Zeroizing<[u8; 32]>,
    /// Indices already opened (replays are refused).
    pub(super) opened: BTreeSet<u32>,
    pub(super) last_used: Timestamp,
    /// The `last_used` keys.db holds (written at most hourly).
    pub(super) written: Timestamp,
}

impl Inbound {
    /// The message key at `index`, after the replay and jump checks; also how many
    /// indices were skipped when this moves the cursor forward. Does not mark the index
    /// opened (the caller does once the message checked out). An index more than
    /// `span` past the first is refused, so no walk along the chain is longer than that.
    pub(super) fn key_at(
        &self,
        index: u32,
        span: u32,
    ) -> Result<(Zeroizing<[u8; 32]>, Option<u32>), Problem> {
        if index < self.first {
            return Err(Problem::NoRoomKey);
        }
        if index - self.first > span {
            return Err(Problem::TooFarAhead);
        }
        if self.opened.contains(&index) {
            return Err(Problem::Replayed);
        }
        if index >= self.cursor {
            let steps = index - self.cursor;
            if steps > MAX_JUMP {
                return Err(Problem::TooFarAhead);
            }
            let chain = advance(&self.chain_cursor, steps);
            let gap = (steps > 0).then_some(steps);
            Ok((message_key(&chain), gap))
        } else {
            let chain = advance(&self.chain_first, index - self.first);
            Ok((message_key(&chain), None))
        }
    }

    /// Marks `index` opened and moves the cursor past it.
    pub(super) fn mark(&mut self, index: u32) {
        self.opened.insert(index);
        if index >= self.cursor {
            let steps = index - self.cursor + 1;
            self.chain_cursor = advance(&self.chain_cursor, steps);
            self.cursor = index.saturating_add(1);
        }
    }

    /// Whether `last_used` is old enough to be written again: it only decides when an
    /// idle session is erased (days), so it is kept to the hour, not written (and
    /// synced) for every message opened.
    pub(super) fn due_for_touch(&self, now: Timestamp) -> bool {
        now.0.saturating_sub(self.written.0) >= TOUCH_EVERY_MS
    }
}
