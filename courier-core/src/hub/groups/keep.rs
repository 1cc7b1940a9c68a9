//! What the hub's groups write to its database and take back from it at start: each
//! group (its name and last position), each member's role and positions, and one row
//! per entry of a log some member has not been handed. A message to a group with
//! members away is acknowledged `stored` once its batch is written.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use super::super::{Conn, ConnId, Hub, db};
use super::log::{Kept, Log, counted};
use super::table::{GroupState, Member};
use crate::proto::{
    ClientId, Delivery, GroupEntry, GroupId, MsgId, RejectReason, Role, Seq, ServerFrame, Timestamp,
};

/// A message to a group on its way to the disk; its sender hears `stored` (or why
/// not) once it is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unwritten {
    pub(crate) sender: ConnId,
    pub(crate) id: MsgId,
    pub(crate) group: GroupId,
    pub(crate) seq: Seq,
}

/// What one batch handed out to be written carries for the groups.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Messages whose senders hear `stored` once it is written.
    pub(crate) messages: Vec<Unwritten>,
    /// Entries it writes: let go of in memory once written.
    pub(crate) entries: Vec<(GroupId, Seq)>,
    /// Groups whose log it reads back.
    pub(crate) fetches: Vec<GroupId>,
    /// The changes it writes (rows changed, entries, deletions): queued again if the
    /// batch fails, so that the next one writes them.
    pub(crate) records: Vec<db::Record>,
    /// The rows it writes, written again (as they then are) if it fails.
    pub(crate) dirty: Dirty,
}

/// Groups and members whose rows changed since the last batch.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    groups: BTreeSet<GroupId>,
    members: BTreeSet<(GroupId, ClientId)>,
}

impl Dirty {
    fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.members.is_empty()
    }

    fn extend(&mut self, other: Self) {
        self.groups.extend(other.groups);
        self.members.extend(other.members);
    }
}

impl Hub {
    /// The row of `group` changed (its last position). Members' rows are written when
    /// they change otherwise (joined, role, read, a page acknowledged, gone offline): a
    /// message costs one row, not one per member.
    pub(super) fn group_record(&mut self, group: GroupId) {
        if self.has_db {
            self.groups.dirty.groups.insert(group);
        }
    }

    /// The row of `member` in `group` changed.
    pub(super) fn member_record(&mut self, group: GroupId, member: ClientId) {
        if self.has_db {
            self.groups.dirty.members.insert((group, member));
        }
    }

    /// `member` is no longer in `group`.
    pub(super) fn member_gone_record(&mut self, group: GroupId, member: ClientId) {
        if self.has_db {
            self.groups.dirty.members.remove(&(group, member));
            self.groups
                .records
                .push(db::Record::GroupMemberGone { group, member });
        }
    }

    /// `group` has no member left.
    pub(super) fn group_deleted(&mut self, group: GroupId) {
        if self.has_db {
            self.groups.dirty.groups.remove(&group);
            self.groups.dirty.members.retain(|(g, _)| *g != group);
            self.groups.records.push(db::Record::GroupGone(group));
        }
    }

    /// An entry kept for members not handed it yet.
    pub(super) fn entry_record(
        &mut self,
        group: GroupId,
        seq: Seq,
        from: ClientId,
        entry: Arc<GroupEntry>,
    ) {
        if self.has_db {
            self.groups.unwritten.entries.push((group, seq));
            self.groups
                .records
                .push(db::Record::GroupEntry { group, from, entry });
        }
    }

    /// Every entry up to `upto` was handed to every member.
    pub(super) fn forget_record(&mut self, group: GroupId, upto: Seq) {
        if self.has_db {
            self.groups
                .records
                .push(db::Record::GroupForget { group, upto });
        }
    }

    /// These entries were forgotten (pushed out, or too old).
    pub(super) fn drop_records(&mut self, group: GroupId, seqs: Vec<Seq>) {
        if self.has_db && !seqs.is_empty() {
            self.groups
                .records
                .push(db::Record::GroupDrop { group, seqs });
        }
    }

    /// The groups' records for the next batch ([`Hub::poll_writes`]): changed groups'
    /// rows first, then entries and deletions in the order they happened, then changed
    /// members' rows.
    ///
    /// What failed batches were to write goes first, but only with something new (from
    /// the groups, or `others` from the rest of the hub): a failing disk is tried again
    /// at the next change, not in a loop.
    pub(crate) fn take_group_records(&mut self, others: bool) -> Vec<db::Record> {
        let fresh = !self.groups.dirty.is_empty()
            || !self.groups.records.is_empty()
            || !self.groups.fetches.is_empty();
        if !fresh && !others {
            return Vec::new();
        }
        let mut dirty = std::mem::take(&mut self.groups.dirty);
        dirty.extend(std::mem::take(&mut self.groups.again_dirty));
        let table = &self.groups.table;
        // Entries written again only while still kept (one forgotten since, by a batch
        // that was written, must not come back on the disk), and deletions as they were.
        let again: Vec<db::Record> = std::mem::take(&mut self.groups.again)
            .into_iter()
            .filter(|r| match r {
                db::Record::GroupEntry { group, entry, .. } => table
                    .groups
                    .get(group)
                    .is_some_and(|g| g.log.holds(entry.seq())),
                _ => true,
            })
            .collect();
        let mut records: Vec<db::Record> = dirty
            .groups
            .iter()
            .filter_map(|id| table.groups.get(id))
            .map(|g| db::Record::Group {
                id: g.id,
                name: g.name.clone(),
                created_by: g.created_by,
                last: g.last,
            })
            .collect();
        let mut queued = again;
        queued.append(&mut self.groups.records);
        records.extend(queued.iter().cloned());
        // Members' rows after the deletions: one removed and added again since the
        // last batch is deleted, then written as they now are.
        records.extend(dirty.members.iter().filter_map(|(group, id)| {
            let m = table.groups.get(group)?.member(id)?;
            Some(db::Record::GroupMember {
                group: *group,
                member: stored(m),
            })
        }));
        let unwritten = &mut self.groups.unwritten;
        unwritten.records.extend(queued);
        unwritten.dirty.groups.extend(dirty.groups);
        unwritten.dirty.members.extend(dirty.members);
        // Reads last: they see what the batch writes.
        for (group, after) in std::mem::take(&mut self.groups.fetches) {
            self.groups.unwritten.fetches.push(group);
            let last = self
                .groups
                .table
                .groups
                .get(&group)
                .map_or(after, |g| g.last);
            self.groups.horizons.insert(group, last);
            records.push(db::Record::GroupFetch {
                group,
                after,
                limit: crate::limits::GROUP_PAGE_ENTRIES,
            });
        }
        records
    }

    /// A batch was handed out to be written: the messages waiting for `stored` wait
    /// for it.
    pub(crate) fn groups_batch_out(&mut self) {
        let batch = std::mem::take(&mut self.groups.unwritten);
        self.groups.writing.push_back(batch);
    }

    /// The oldest batch handed out was written (`ok`) or not: its senders hear `stored`,
    /// or why not (the message is then forgotten for those away).
    pub(crate) fn groups_batch_written(&mut self, ok: bool, now: Instant) {
        let Some(batch) = self.groups.writing.pop_front() else {
            return;
        };
        if ok {
            // On the disk now: read back a page at a time as it is handed over.
            for (group, seq) in batch.entries {
                if let Some(g) = self.groups.table.groups.get_mut(&group) {
                    g.log.evict(seq);
                }
            }
        } else {
            // Asked again at the next acknowledgement or login.
            for group in batch.fetches {
                self.groups.fetching.remove(&group);
                self.groups.horizons.remove(&group);
            }
            self.write_again(&batch.messages, batch.entries, batch.records, batch.dirty);
        }
        for u in batch.messages {
            let status = if ok {
                Delivery::Stored
            } else {
                let table = &mut self.groups.table;
                if let Some(g) = table.groups.get_mut(&u.group) {
                    let freed = g.log.remove(u.seq, &mut table.pool).unwrap_or(0);
                    table.log_bytes = table.log_bytes.saturating_sub(freed);
                }
                Delivery::Rejected(RejectReason::CouldNotStore)
            };
            if self.conns.get(&u.sender).is_some_and(Conn::is_ready) {
                let receipt = ServerFrame::Receipt { id: u.id, status };
                self.send(u.sender, Arc::new(receipt), now);
            }
        }
    }

    /// What a failed batch was to write goes with the next one, before what came since:
    /// the rows as they now are, the entries but the messages refused for it, the
    /// deletions (a member's unless they are in the group again: then their row).
    fn write_again(
        &mut self,
        refused: &[Unwritten],
        entries: Vec<(GroupId, Seq)>,
        records: Vec<db::Record>,
        dirty: Dirty,
    ) {
        let refused =
            |group: GroupId, seq: Seq| refused.iter().any(|u| u.group == group && u.seq == seq);
        let groups = &mut self.groups;
        groups.again_dirty.extend(dirty);
        let mut again = Vec::with_capacity(records.len());
        for record in records {
            match &record {
                db::Record::GroupEntry { group, entry, .. } if refused(*group, entry.seq()) => {
                    continue;
                }
                db::Record::GroupMemberGone { group, member } => {
                    let back = groups
                        .table
                        .groups
                        .get(group)
                        .is_some_and(|g| g.member(member).is_some());
                    if back {
                        groups.again_dirty.members.insert((*group, *member));
                        continue;
                    }
                }
                _ => {}
            }
            again.push(record);
        }
        // After earlier failed batches' (they failed first), before anything newer.
        groups.again.append(&mut again);
        let entries = entries.into_iter().filter(|(g, s)| !refused(*g, *s));
        groups.unwritten.entries.extend(entries);
    }

    /// Forgets every message `from` wrote in every group's log, in memory and on the
    /// disk (the owner banned it or dropped what it left); how many.
    pub(crate) fn drop_group_messages_from(&mut self, from: ClientId) -> usize {
        let ids: Vec<GroupId> = self.groups.table.groups.keys().copied().collect();
        let mut count = 0;
        for group in ids {
            let table = &mut self.groups.table;
            let Some(g) = table.groups.get_mut(&group) else {
                continue;
            };
            let (gone, freed) = g.log.drop_messages_from(&from, &mut table.pool);
            table.log_bytes = table.log_bytes.saturating_sub(freed);
            count += gone.len();
            self.drop_records(group, gone);
        }
        count
    }

    /// Forgets the entries of every group's log stamped before `before` (older than
    /// the hub keeps them: `--offline-days`).
    pub(crate) fn expire_group_entries(&mut self, before: Timestamp) {
        let ids: Vec<GroupId> = self.groups.table.groups.keys().copied().collect();
        for group in ids {
            let table = &mut self.groups.table;
            let Some(g) = table.groups.get_mut(&group) else {
                continue;
            };
            let old = g.log.older_than(before);
            for seq in &old {
                let freed = g.log.remove(*seq, &mut table.pool).unwrap_or(0);
                table.log_bytes = table.log_bytes.saturating_sub(freed);
            }
            self.drop_records(group, old);
        }
    }

    /// Takes back the groups the hub's database kept ([`db::Db::groups`]), after
    /// [`Hub::restore`] and the members: each group with its members, their roles and
    /// positions, and the entries of its log some member was not handed. A member the
    /// hub no longer knows is left out.
    pub fn restore_groups(&mut self, groups: Vec<db::StoredGroup>, next_id: u64) {
        let table = &mut self.groups.table;
        table.next_id = table.next_id.max(next_id);
        let mut heirs = Vec::new();
        for stored_group in groups {
            table.next_id = table.next_id.max(stored_group.id.0);
            let members: Vec<Member> = stored_group
                .members
                .iter()
                .filter(|m| self.directory.get(&m.id).is_some())
                .map(|m| Member {
                    id: m.id,
                    role: m.role,
                    joined: m.joined,
                    got: m.got,
                    read: m.read,
                    conns: Vec::new(),
                })
                .collect();
            if members.is_empty() {
                continue;
            }
            let mut members = members;
            if members.iter().all(|m| m.role != Role::Creator) {
                // The creator is no longer a member the hub knows: the oldest admin, or
                // else the oldest member, takes over (as when a creator leaves).
                let heir = members
                    .iter()
                    .position(|m| m.role == Role::Admin)
                    .unwrap_or(0);
                let mut heir = members.remove(heir);
                heir.role = Role::Creator;
                heirs.push((stored_group.id, heir.id));
                members.insert(0, heir);
            }
            let mut log = Log::default();
            for e in stored_group.entries {
                let kept = Kept {
                    entry: None,
                    from: e.from,
                    bytes: counted(e.text_bytes, e.change),
                    time: e.time,
                    change: e.change,
                };
                let _ = log.push_kept(e.seq, kept, &mut table.pool);
            }
            table.log_bytes += log.bytes();
            for m in &members {
                table.joined(m.id, stored_group.id);
            }
            *table.created.entry(stored_group.created_by).or_default() += 1;
            table.groups.insert(
                stored_group.id,
                GroupState {
                    id: stored_group.id,
                    name: stored_group.name,
                    created_by: stored_group.created_by,
                    members,
                    last: stored_group.last,
                    log,
                },
            );
        }
        // Their new role is written with the next batch.
        for (group, heir) in heirs {
            self.member_record(group, heir);
        }
    }
}

impl Hub {
    /// Reads back the page of `group`'s log after `after` for `member`, who waits for
    /// it ([`Hub::groups_loaded`]).
    pub(super) fn fetch_page(&mut self, group: GroupId, after: Seq, member: ClientId) {
        let fetching = &mut self.groups.fetching;
        if let Some((_, waiting)) = fetching.get_mut(&group) {
            waiting.insert(member);
            return;
        }
        fetching.insert(group, (after, std::iter::once(member).collect()));
        self.groups.fetches.push((group, after));
    }

    /// Pages of groups' logs read back from the disk: held in memory for the members
    /// waiting for them, who are handed them now. An entry the disk did not give back
    /// (it does not read back) is forgotten.
    pub(crate) fn groups_loaded(&mut self, pages: Vec<(GroupId, Vec<GroupEntry>)>, now: Instant) {
        for (group, entries) in pages {
            let Some((after, waiting)) = self.groups.fetching.remove(&group) else {
                continue;
            };
            let full = entries.len() >= crate::limits::GROUP_PAGE_ENTRIES;
            // Entries the read could not have seen (appended after it was handed out)
            // are not missing, whatever their state in memory.
            let horizon = self.groups.horizons.remove(&group).unwrap_or(after);
            let upto = match entries.last().map(GroupEntry::seq) {
                Some(last) if full => last.min(horizon),
                _ => horizon,
            };
            let table = &mut self.groups.table;
            let Some(g) = table.groups.get_mut(&group) else {
                continue;
            };
            for entry in entries {
                g.log.fill(entry);
            }
            let missing = g.log.missing(after, Some(upto));
            let mut freed = 0;
            for seq in &missing {
                freed += g.log.remove(*seq, &mut table.pool).unwrap_or(0);
            }
            table.log_bytes = table.log_bytes.saturating_sub(freed);
            self.drop_records(group, missing);
            for member in waiting {
                self.page_groups(member, now);
            }
        }
    }
}

/// A member's row.
fn stored(m: &Member) -> db::StoredMember {
    db::StoredMember {
        id: m.id,
        role: m.role,
        joined: m.joined,
        got: m.got,
        read: m.read,
    }
}
