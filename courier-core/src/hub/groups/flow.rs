//! A group's log as it grows: each entry takes the next position and goes at once to
//! every member online who is caught up on the group (handed everything before it);
//! the others get it in pages later, from the one copy the log keeps. Messages to a
//! group, typing in it and read marks.

use std::sync::Arc;
use std::time::Instant;

use super::super::{ConnId, Hub};
use super::Unwritten;
use crate::proto::{
    ClientId, Delivery, GroupEntry, GroupId, MsgId, RejectReason, SealedMessage, Seq, ServerFrame,
};

impl Hub {
    /// Appends `entry` (its position already the group's next) to the log of `group`:
    /// sent to each member online and caught up (for a message, not back to its
    /// sender), kept for the others. Returns its position and whether every member but
    /// `from` was handed it.
    pub(super) fn append(
        &mut self,
        group: GroupId,
        from: ClientId,
        entry: GroupEntry,
        now: Instant,
    ) -> (Seq, bool) {
        let Some(g) = self.groups.table.groups.get(&group) else {
            return (0, false);
        };
        let seq = g.last.saturating_add(1);
        let is_message = matches!(entry, GroupEntry::Message(_));
        let frame = Arc::new(match &entry {
            GroupEntry::Message(m) => ServerFrame::Message(m.clone()),
            GroupEntry::Event(e) => ServerFrame::GroupEvent(e.clone()),
        });
        // One pass over the members: who is caught up, and their connections that show
        // messages and know their groups.
        let paging = &self.groups.paging;
        let mut targets: Vec<ConnId> = Vec::with_capacity(g.members.len());
        let mut handed: Vec<usize> = Vec::with_capacity(g.members.len());
        let mut everyone = true;
        for (i, m) in g.members.iter().enumerate() {
            let sender = is_message && m.id == from;
            let caught_up = m.got.saturating_add(1) == seq
                && (paging.is_empty() || paging.get(&m.id).is_none_or(|p| p.group != group));
            if !caught_up {
                everyone &= sender;
                continue;
            }
            if sender {
                // Its sender has it: counted as handed when nothing else waits for it.
                handed.push(i);
                continue;
            }
            if m.conns.is_empty() {
                everyone = false;
            } else {
                targets.extend_from_slice(&m.conns);
                handed.push(i);
            }
        }
        for c in targets {
            self.send(c, frame.clone(), now);
        }
        let Some(g) = self.groups.table.groups.get_mut(&group) else {
            return (seq, everyone);
        };
        g.last = seq;
        for i in handed {
            if let Some(m) = g.members.get_mut(i) {
                m.got = seq;
            }
        }
        let entry = Arc::new(entry);
        if g.min_got() < seq {
            let young = self.is_new(from, super::log::time_of(&entry));
            self.within_share(from, super::log::size_of(&entry), young);
            let table = &mut self.groups.table;
            let Some(g) = table.groups.get_mut(&group) else {
                return (seq, everyone);
            };
            let bytes_before = g.log.bytes();
            let forgotten = g.log.push(seq, from, entry.clone(), &mut table.pool);
            let bytes_after = g.log.bytes();
            table.log_bytes = (table.log_bytes + bytes_after).saturating_sub(bytes_before);
            self.drop_records(group, forgotten);
            self.entry_record(group, seq, from, entry);
            self.within_total();
        }
        self.group_record(group);
        (seq, everyone)
    }

    /// Makes room for `bytes` more from `from` within its share of the pool for every
    /// group's log ([`crate::hub::Config::group_logs_total`] /
    /// [`crate::limits::OFFLINE_SENDER_SHARE`]): over it, its own oldest entries go,
    /// whichever groups they are in, not anyone else's. New identities (`young`,
    /// [`crate::hub::Config::newcomer_age`]) together hold at most
    /// 1/[`crate::limits::OFFLINE_NEWCOMERS_SHARE`] of the pool, each a sixteenth of
    /// that; over it, the oldest entries of the newcomer holding the most go.
    fn within_share(&mut self, from: ClientId, bytes: usize, young: bool) {
        let total = self.config.group_logs_total;
        let room = total / crate::limits::OFFLINE_NEWCOMERS_SHARE;
        let share = (if young { room } else { total }) / crate::limits::OFFLINE_SENDER_SHARE;
        self.groups.table.pool.set_young(from, young);
        while self.groups.table.pool.sender(&from) + bytes > share {
            if !self.forget_oldest_of(from) {
                break;
            }
        }
        while young && self.groups.table.pool.young() + bytes > room {
            let Some(largest) = self.groups.table.pool.largest_young() else {
                break;
            };
            if !self.forget_oldest_of(largest) {
                break;
            }
        }
    }

    /// Forgets the oldest entry `from` holds in any group's log; whether there was one.
    fn forget_oldest_of(&mut self, from: ClientId) -> bool {
        let table = &mut self.groups.table;
        let oldest = table
            .groups
            .values()
            .filter_map(|g| g.log.oldest_of(&from).map(|(time, seq)| (time, g.id, seq)))
            .min();
        let Some((_, group, seq)) = oldest else {
            return false;
        };
        let Some(g) = table.groups.get_mut(&group) else {
            return false;
        };
        let freed = g.log.remove(seq, &mut table.pool).unwrap_or(0);
        table.log_bytes = table.log_bytes.saturating_sub(freed);
        self.drop_records(group, vec![seq]);
        true
    }

    /// Which senders to groups are new identities now (called as time passes): the
    /// newcomers' part of the logs' pool holds only theirs.
    pub(crate) fn reclassify_group_senders(&mut self, wall: crate::proto::Timestamp) {
        let (directory, age) = (&self.directory, self.config.newcomer_age);
        self.groups
            .table
            .pool
            .reclassify(|id| directory.get(&id).is_some_and(|k| k.is_new(wall, age)));
    }

    /// Keeps every group's log together within [`crate::hub::Config::group_logs_total`]:
    /// the group with the largest log forgets its oldest entries.
    fn within_total(&mut self) {
        loop {
            let table = &mut self.groups.table;
            if table.log_bytes <= self.config.group_logs_total {
                return;
            }
            let Some(g) = table.groups.values_mut().max_by_key(|g| g.log.bytes()) else {
                return;
            };
            let Some(oldest) = g.log.first() else {
                return;
            };
            let freed = g.log.remove(oldest, &mut table.pool).unwrap_or(0);
            table.log_bytes = table.log_bytes.saturating_sub(freed);
            let group = g.id;
            self.drop_records(group, vec![oldest]);
        }
    }

    /// Forgets what every member of `group` was handed.
    pub(super) fn forget_handed(&mut self, group: GroupId) {
        let table = &mut self.groups.table;
        let Some(g) = table.groups.get_mut(&group) else {
            return;
        };
        let upto = g.min_got();
        if g.log.first().is_some_and(|first| first <= upto) {
            let freed = g.log.forget_upto(upto, &mut table.pool);
            table.log_bytes = table.log_bytes.saturating_sub(freed);
            self.forget_record(group, upto);
        }
    }

    /// A message to a group from `from`: its receipt, or `None` when it comes once the
    /// message is written for members away ([`Hub::handle_written`]).
    pub(crate) fn deliver_group(
        &mut self,
        conn: ConnId,
        from: ClientId,
        id: MsgId,
        group: GroupId,
        sealed: crate::proto::Sealed,
        now: Instant,
    ) -> Option<Delivery> {
        let time = self.wall(now);
        let Some(seq) = self
            .groups
            .table
            .groups
            .get(&group)
            .filter(|g| g.member(&from).is_some())
            .map(|g| g.last.saturating_add(1))
        else {
            return Some(Delivery::Rejected(RejectReason::NoSuchPeer));
        };
        let message = SealedMessage {
            id,
            from,
            to: crate::proto::Target::Group(group),
            sealed,
            time,
            seq: Some(seq),
        };
        let (seq, everyone) = self.append(group, from, GroupEntry::Message(message), now);
        self.totals.group_messages += 1;
        // The writer learns its position at once: read marks name positions.
        let placed = ServerFrame::Placed { group, id, seq };
        self.send(conn, Arc::new(placed), now);
        if everyone {
            return Some(Delivery::Delivered);
        }
        if self.has_db {
            self.groups.unwritten.messages.push(Unwritten {
                sender: conn,
                id,
                group,
                seq,
            });
            return None;
        }
        Some(Delivery::Stored)
    }

    /// A typing notice (or another passing notice) for every member of `group` online
    /// but `from`, if `from` is in it.
    pub(crate) fn notify_group(
        &mut self,
        from: ClientId,
        group: GroupId,
        frame: ServerFrame,
        now: Instant,
    ) {
        let Some(g) = self
            .groups
            .table
            .groups
            .get(&group)
            .filter(|g| g.member(&from).is_some())
        else {
            return;
        };
        let members: Vec<ClientId> = g.members.iter().map(|m| m.id).collect();
        let frame = Arc::new(frame);
        for m in members.into_iter().filter(|m| *m != from) {
            for c in self.showing_conns_of(m) {
                self.send(c, frame.clone(), now);
            }
        }
    }

    /// `client` read `group` up to `upto` (held within what it may see): kept when it
    /// moves forward, and told to the members online.
    pub(crate) fn group_read(&mut self, client: ClientId, group: GroupId, upto: Seq, now: Instant) {
        let Some(g) = self.groups.table.groups.get_mut(&group) else {
            return;
        };
        let last = g.last;
        let Some(m) = g.member_mut(&client) else {
            return;
        };
        let upto = upto.clamp(m.joined, last.max(m.joined));
        if upto <= m.read {
            return;
        }
        m.read = upto;
        let members: Vec<ClientId> = g.members.iter().map(|m| m.id).collect();
        self.member_record(group, client);
        let frame = Arc::new(ServerFrame::GroupRead {
            group,
            by: client,
            upto,
        });
        for m in members {
            for c in self.conns_of(m) {
                self.send(c, frame.clone(), now);
            }
        }
    }
}
