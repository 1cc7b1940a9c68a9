//! Bounds on the room sessions others share with this device: per sender and room,
//! per sender, and in all; the least recently used go first. A flood of shares (from a
//! hostile member, or a hub that made up members) cannot grow the keyring without end.

use super::{Keyring, logged};
use crate::proto::{ClientId, Target, Timestamp};
use crate::seal::room::{MAX_INBOUND, PER_ROOM, PER_SENDER};

impl Keyring {
    /// Applies the bounds after `from` shared `session` for `room` (which is kept).
    pub(super) fn bound_inbound(&mut self, from: ClientId, room: Target, session: [u8; 16]) {
        let me = self.me();
        let of_sender = |keyring: &Self, same_room: bool| -> Vec<(Timestamp, [u8; 16])> {
            keyring
                .inbound
                .range((from, [0u8; 16])..=(from, [0xff; 16]))
                .filter(|((_, id), s)| *id != session && (!same_room || s.room == room))
                .map(|(&(_, id), s)| (s.last_used, id))
                .collect()
        };
        // The newly shared session counts: keep PER_ROOM - 1 (PER_SENDER - 1) others.
        for (same_room, limit) in [(true, PER_ROOM), (false, PER_SENDER)] {
            let mut others = of_sender(self, same_room);
            if others.len() >= limit {
                others.sort_unstable();
                let excess = others.len() + 1 - limit;
                for (_, id) in others.into_iter().take(excess) {
                    self.inbound.remove(&(from, id));
                }
            }
        }
        // Counting is a walk: only when the map (own sessions included) is over.
        if self.inbound.len() > MAX_INBOUND {
            let mut count = self.inbound.keys().filter(|(f, _)| *f != me).count();
            let mut oldest: Vec<(Timestamp, (ClientId, [u8; 16]))> = self
                .inbound
                .iter()
                .filter(|&(&(f, id), _)| f != me && !(f == from && id == session))
                .map(|(&key, s)| (s.last_used, key))
                .collect();
            oldest.sort_unstable();
            for (_, key) in oldest {
                if count <= MAX_INBOUND {
                    break;
                }
                self.inbound.remove(&key);
                count -= 1;
            }
        }
        if let Some(store) = &self.store {
            logged(store.bound_inbound(from, &room, me));
        }
    }
}
