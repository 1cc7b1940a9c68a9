//! What the session needs of the keyring beyond the design's first API (kept apart so
//! that changes to `keyring.rs` merge easily).

use super::Keyring;
use crate::proto::{ClientId, Target};

impl Keyring {
    /// A room key share of `room`'s current session to `member` did not arrive (the hub
    /// refused it): `member` no longer counts as having it, so the next
    /// [`Keyring::seal_room`] shares it again. (Kept in memory; keys.db learns it with
    /// the next message sealed to the room.)
    pub fn forget_share(&mut self, room: Target, member: ClientId) {
        if let Some(session) = self.outbound.get_mut(&room) {
            session.shared.remove(&member);
        }
    }
}
