//! The owner's word on members (`courier hub ban`, `unban`, `drop --from`): a banned
//! identity is refused at every login, password or not, and what it left at the hub
//! (messages stored for offline contacts, stored file offers) is forgotten; a drop forgets
//! what one sender left without banning it.

use std::time::Instant;

use super::{CloseReason, ConnId, Hub, db};
use crate::proto::ClientId;

/// What a [`Hub::ban`] or [`Hub::drop_from`] forgot at once. A hub with a database
/// forgets stored messages on its disk ([`db::Record::Drop`]), where they are counted
/// (`messages` is then 0).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Messages forgotten in memory.
    pub messages: usize,
    /// Stored file offers forgotten.
    pub offers: usize,
    /// Messages forgotten from groups' logs (not yet handed to some member), in memory
    /// and on the disk.
    pub group_entries: usize,
}

impl Hub {
    /// Forgets that `id`'s device may log in without the password (the hub's owner
    /// asked, `courier hub forget`): if it is online, each of its connections is closed
    /// ([`CloseReason::Forgotten`]); its next login needs the password. Returns whether
    /// the hub remembered it.
    pub fn forget_device(&mut self, id: ClientId, now: Instant) -> bool {
        let (was, conns) = self.directory.forget_device(id);
        for conn in conns {
            self.close(conn, CloseReason::Forgotten, now);
        }
        was
    }

    /// Bans `id` (the hub's owner asked, `courier hub ban`): each of its connections is
    /// closed ([`CloseReason::Banned`]), its device is no longer remembered, and from
    /// now on every login of that identity is refused before any password is tested.
    /// What it left and what waits for it (messages and stored offers, both ways, and
    /// its messages in groups' logs) is forgotten; whoever is here hears that the offers ended.
    pub fn ban(&mut self, id: ClientId, now: Instant) -> Dropped {
        self.banned.insert(id);
        let mut conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.client() == Some(id))
            .map(|(conn, _)| *conn)
            .collect();
        conns.sort();
        for conn in conns {
            self.close(conn, CloseReason::Banned, now);
        }
        let _ = self.directory.forget_device(id);
        if self.directory.end_return(&id) {
            // Shown online after a restart while it came back: it is not coming.
            self.announce(id, now);
        }
        self.remove_from_groups(id, now);
        let mut dropped = Dropped::default();
        if self.has_db {
            self.drops.push(db::Record::Drop(db::Whose::From(id)));
            self.drops.push(db::Record::Drop(db::Whose::To(id)));
        } else {
            dropped.messages += self.mailboxes.drop_from_in_memory(id);
            dropped.messages += self.mailboxes.drop_in_memory(id);
        }
        dropped.offers = self.drop_stored_offers(id, true, now);
        dropped.group_entries = self.drop_group_messages_from(id);
        dropped
    }

    /// Lifts a ban ([`Hub::ban`]); returns whether `id` was banned. It logs in with
    /// the password again, like any newcomer.
    pub fn unban(&mut self, id: ClientId) -> bool {
        self.banned.remove(&id)
    }

    /// Whether `id` is banned.
    pub fn is_banned(&self, id: &ClientId) -> bool {
        self.banned.contains(id)
    }

    /// Takes back the bans the hub's database kept ([`db::Db::bans`]), before the
    /// first connection.
    pub fn restore_bans(&mut self, bans: impl IntoIterator<Item = ClientId>) {
        self.banned.extend(bans);
    }

    /// Forgets every message `from` left for offline contacts or in groups' logs, and
    /// every offer it stores at the hub (the owner asked, `courier hub drop --from`): its share is free again,
    /// and the others' messages stay. Whoever is here hears that the offers ended.
    pub fn drop_from(&mut self, from: ClientId, now: Instant) -> Dropped {
        let mut dropped = Dropped::default();
        if self.has_db {
            self.drops.push(db::Record::Drop(db::Whose::From(from)));
        } else {
            dropped.messages = self.mailboxes.drop_from_in_memory(from);
        }
        dropped.offers = self.drop_stored_offers(from, false, now);
        dropped.group_entries = self.drop_group_messages_from(from);
        dropped
    }
}
