//! Groups: the hub creates them, changes their membership, orders everything written to
//! each in its log ([`Seq`] positions), hands the log to members online as it grows and
//! to members back from away a page at a time, and keeps read marks.
//!
//! Here: the membership changes (create, add, remove, leave, admin) and the owner's
//! removals; `groups/flow.rs`: appending to a log, live delivery, messages, typing and
//! read marks; `groups/login.rs`: the groups list at login, the pages of a log for a
//! member back from away, a connection's end; `groups/log.rs`: one group's bounded log;
//! `groups/table.rs`: the groups as data; `groups/keep.rs`: what goes to the database
//! and comes back from it.

mod flow;
mod keep;
mod log;
mod login;
mod table;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use super::{ConnId, Hub};
use crate::proto::{
    ClientId, GroupChange, GroupEntry, GroupId, GroupOutcome, GroupRefusal, MAX_ADD_AT_ONCE, Role,
    ServerFrame, clean_group_name,
};

pub(crate) use self::keep::Unwritten;
use self::table::{GroupState, Member, Table};

/// Where a member's pages stand: one page of one group's log is on its way to one
/// connection, up to a position.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    conn: ConnId,
    group: GroupId,
    upto: crate::proto::Seq,
}

/// The hub's groups and what is under way for them.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    table: Table,
    /// Connections paging through the groups list: where the next page starts after.
    listing: HashMap<ConnId, GroupId>,
    /// Connections that were sent their whole groups list: only those are handed
    /// entries (a client learns its groups before their messages).
    listed: std::collections::HashSet<ConnId>,
    /// Pages of logs on their way, one per member at a time.
    paging: HashMap<ClientId, Paging>,
    /// Pages that were on their way when their member left the group (or was taken
    /// out): the connection may still acknowledge them, and that is ignored.
    reset: std::collections::HashSet<(ConnId, GroupId)>,
    /// Records for the database, not yet handed out.
    records: Vec<super::db::Record>,
    /// Messages not yet handed out to be written whose senders wait for `stored`, and
    /// every entry not yet handed out (let go of in memory once written).
    unwritten: keep::Batch,
    /// Handed out and not yet written, one per batch, oldest first.
    writing: VecDeque<keep::Batch>,
    /// Pages of logs being read back from the disk: after which position, and the
    /// members waiting for them.
    fetching: HashMap<GroupId, (crate::proto::Seq, std::collections::BTreeSet<ClientId>)>,
    /// Reads of the disk not yet handed out.
    fetches: Vec<(GroupId, crate::proto::Seq)>,
    /// For each read handed out: the group's last position then. Every entry up to it
    /// was written before the read ran (or its write failed, and it is gone); one after
    /// it may be written later, so a read that does not return it says nothing of it.
    horizons: HashMap<GroupId, crate::proto::Seq>,
    /// Rows changed since the last batch.
    dirty: keep::Dirty,
    /// What failed batches were to write, oldest first: it goes with the next batch that
    /// has something new (not at once: on a failing disk that would be a tight loop).
    again: Vec<super::db::Record>,
    /// The rows failed batches were to write, written as they then are.
    again_dirty: keep::Dirty,
}

impl Groups {
    /// Groups, entries kept in their logs, those entries' bytes, and how many of them
    /// are held in memory.
    pub(crate) fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.table.groups.len(),
            self.table.log_entries(),
            self.table.log_bytes,
            self.table.groups.values().map(|g| g.log.in_memory()).sum(),
        )
    }
}

impl Hub {
    /// Answers a group change asked for with `tag`.
    fn answer(&mut self, conn: ConnId, tag: u32, outcome: GroupOutcome, now: Instant) {
        self.send(
            conn,
            Arc::new(ServerFrame::GroupAnswer { tag, outcome }),
            now,
        );
    }

    /// A group change: each costs a chat token (over it: refused as rate limited).
    pub(super) fn group_change(
        &mut self,
        conn: ConnId,
        client: ClientId,
        frame: crate::proto::ClientFrame,
        now: Instant,
    ) {
        use crate::proto::ClientFrame as F;
        let tag = match &frame {
            F::GroupCreate { tag, .. }
            | F::GroupAdd { tag, .. }
            | F::GroupRemove { tag, .. }
            | F::GroupLeave { tag, .. }
            | F::GroupAdmin { tag, .. } => *tag,
            _ => return,
        };
        if !self.take_chat_token(conn, now) {
            let outcome = GroupOutcome::Refused(GroupRefusal::RateLimited);
            return self.answer(conn, tag, outcome, now);
        }
        let outcome = match frame {
            F::GroupCreate { name, members, .. } => self.group_create(client, &name, members, now),
            F::GroupAdd { group, members, .. } => self.group_add(client, group, members, now),
            F::GroupRemove { group, member, .. } => self.group_remove(client, group, member, now),
            F::GroupLeave { group, .. } => self.group_leave(client, group, GroupChange::Left, now),
            F::GroupAdmin {
                group,
                member,
                admin,
                ..
            } => self.group_admin(client, group, member, admin, now),
            _ => return,
        };
        let outcome = match outcome {
            Ok(group) => GroupOutcome::Done(group),
            Err(why) => GroupOutcome::Refused(why),
        };
        self.answer(conn, tag, outcome, now);
    }

    /// Whether `id` may be added to a group: a contact the hub knows, not banned.
    fn may_join(&self, id: &ClientId) -> Result<(), GroupRefusal> {
        if self.directory.get(id).is_none() || self.banned.contains(id) {
            return Err(GroupRefusal::NoSuchMember);
        }
        Ok(())
    }

    /// Whether `id` is in as many groups as allowed: skipped by a create or an add
    /// (anyone may add anyone, so one at their bound must not block the others).
    fn at_bound(&self, id: &ClientId) -> bool {
        self.groups.table.count_of(id) >= self.config.groups_per_member
    }

    /// `members` without repeats, without `but` and (for an add) without those in
    /// `group` already.
    fn newcomers(
        &self,
        members: Vec<ClientId>,
        but: ClientId,
        group: Option<GroupId>,
    ) -> Vec<ClientId> {
        let mut seen = std::collections::HashSet::new();
        let existing = group.and_then(|g| self.groups.table.groups.get(&g));
        members
            .into_iter()
            .filter(|m| *m != but && seen.insert(*m))
            .filter(|m| existing.is_none_or(|g| g.member(m).is_none()))
            .collect()
    }

    fn group_create(
        &mut self,
        client: ClientId,
        name: &str,
        members: Vec<ClientId>,
        now: Instant,
    ) -> Result<GroupId, GroupRefusal> {
        let name = clean_group_name(name).map_err(GroupRefusal::BadName)?;
        // At most so many named at once (the group's bound is checked below).
        if members.len() > MAX_ADD_AT_ONCE {
            return Err(GroupRefusal::GroupFull);
        }
        if self.groups.table.count_of(&client) >= self.config.groups_per_member {
            return Err(GroupRefusal::TooManyGroups);
        }
        if self.groups.table.created_by(&client) >= self.config.groups_created {
            return Err(GroupRefusal::TooManyCreated);
        }
        let mut members = self.newcomers(members, client, None);
        for m in &members {
            self.may_join(m)?;
        }
        // Those at their bound are left out: the creator sees who is in.
        members.retain(|m| !self.at_bound(m));
        if members.len() + 1 > self.config.group_members {
            return Err(GroupRefusal::GroupFull);
        }
        let table = &mut self.groups.table;
        table.next_id += 1;
        let id = GroupId(table.next_id);
        let conns = self.showing_conns_of(client);
        let table = &mut self.groups.table;
        table.groups.insert(
            id,
            GroupState {
                id,
                name: name.clone(),
                created_by: client,
                members: vec![Member {
                    id: client,
                    role: Role::Creator,
                    joined: 1,
                    got: 0,
                    read: 1,
                    conns,
                }],
                last: 0,
                log: log::Log::default(),
            },
        );
        *table.created.entry(client).or_default() += 1;
        table.joined(client, id);
        self.group_record(id);
        self.member_record(id, client);
        self.append_event(id, client, GroupChange::Created { name }, now);
        for m in members {
            self.admit_member(id, client, m, now);
        }
        self.share_group(id, now);
        Ok(id)
    }

    /// Adds `member` (checked) to `group`, as the next entry of its log.
    fn admit_member(&mut self, group: GroupId, by: ClientId, member: ClientId, now: Instant) {
        let conns = self.showing_conns_of(member);
        let Some(g) = self.groups.table.groups.get_mut(&group) else {
            return;
        };
        let seq = g.last.saturating_add(1);
        g.members.push(Member {
            id: member,
            role: Role::Member,
            joined: seq,
            got: seq.saturating_sub(1),
            read: seq,
            conns,
        });
        self.groups.table.joined(member, group);
        self.member_record(group, member);
        self.append_event(group, by, GroupChange::Added(member), now);
    }

    fn group_add(
        &mut self,
        client: ClientId,
        group: GroupId,
        members: Vec<ClientId>,
        now: Instant,
    ) -> Result<GroupId, GroupRefusal> {
        let g = self.member_of(client, group)?;
        let size = g.members.len();
        if members.len() > MAX_ADD_AT_ONCE {
            return Err(GroupRefusal::GroupFull);
        }
        let mut members = self.newcomers(members, client, Some(group));
        for m in &members {
            self.may_join(m)?;
        }
        // Those at their bound are left out; refused only when that is everyone named.
        let named = members.len();
        members.retain(|m| !self.at_bound(m));
        if named > 0 && members.is_empty() {
            return Err(GroupRefusal::TooManyGroups);
        }
        if size + members.len() > self.config.group_members {
            return Err(GroupRefusal::GroupFull);
        }
        if members.is_empty() {
            return Ok(group);
        }
        for m in members {
            self.admit_member(group, client, m, now);
        }
        self.share_group(group, now);
        Ok(group)
    }

    /// The group `group` if `client` is in it.
    fn member_of(&self, client: ClientId, group: GroupId) -> Result<&GroupState, GroupRefusal> {
        self.groups
            .table
            .groups
            .get(&group)
            .filter(|g| g.member(&client).is_some())
            .ok_or(GroupRefusal::NoSuchGroup)
    }

    fn group_remove(
        &mut self,
        client: ClientId,
        group: GroupId,
        member: ClientId,
        now: Instant,
    ) -> Result<GroupId, GroupRefusal> {
        if member == client {
            return self.group_leave(client, group, GroupChange::Left, now);
        }
        let g = self.member_of(client, group)?;
        let by = g.member(&client).map_or(Role::Member, |m| m.role);
        let Some(target) = g.member(&member).map(|m| m.role) else {
            return Err(GroupRefusal::NotInGroup);
        };
        if !by.can_remove() || target == Role::Creator {
            return Err(GroupRefusal::NotAllowed);
        }
        self.take_out(group, client, member, GroupChange::Removed(member), now);
        Ok(group)
    }

    /// `client` leaves `group` (or is taken out for `change`).
    fn group_leave(
        &mut self,
        client: ClientId,
        group: GroupId,
        change: GroupChange,
        now: Instant,
    ) -> Result<GroupId, GroupRefusal> {
        self.member_of(client, group)?;
        self.take_out(group, client, client, change, now);
        Ok(group)
    }

    /// Writes the change that takes `member` out, then takes them out: they are
    /// handed that entry and nothing after it, and told the group is gone for them.
    /// The last member out deletes the group.
    fn take_out(
        &mut self,
        group: GroupId,
        by: ClientId,
        member: ClientId,
        change: GroupChange,
        now: Instant,
    ) {
        self.append_event(group, by, change, now);
        let Some(g) = self.groups.table.groups.get_mut(&group) else {
            return;
        };
        g.remove_member(&member);
        let empty = g.members.is_empty();
        // The creator may have changed.
        if let Some(first) = g.members.first().map(|m| m.id) {
            self.member_record(group, first);
        }
        self.groups.table.left(&member, group);
        self.member_gone(group, member, now);
        let gone = Arc::new(ServerFrame::GroupGone { group });
        for c in self.conns_of(member) {
            self.send(c, gone.clone(), now);
        }
        if empty {
            self.groups.table.delete(group);
            self.group_deleted(group);
        } else {
            self.forget_handed(group);
            self.group_record(group);
            self.share_group(group, now);
        }
    }

    fn group_admin(
        &mut self,
        client: ClientId,
        group: GroupId,
        member: ClientId,
        admin: bool,
        now: Instant,
    ) -> Result<GroupId, GroupRefusal> {
        let g = self.member_of(client, group)?;
        if g.member(&client).map(|m| m.role) != Some(Role::Creator) {
            return Err(GroupRefusal::NotAllowed);
        }
        let Some(role) = g.member(&member).map(|m| m.role) else {
            return Err(GroupRefusal::NotInGroup);
        };
        if role == Role::Creator {
            return Err(GroupRefusal::NotAllowed);
        }
        let new = if admin { Role::Admin } else { Role::Member };
        if role == new {
            return Ok(group);
        }
        if let Some(m) = self
            .groups
            .table
            .groups
            .get_mut(&group)
            .and_then(|g| g.member_mut(&member))
        {
            m.role = new;
        }
        self.append_event(group, client, GroupChange::Admin { member, admin }, now);
        self.member_record(group, member);
        self.share_group(group, now);
        Ok(group)
    }

    /// Takes `id` out of every group it is in (the owner banned it), as
    /// [`GroupChange::RemovedByOwner`] entries.
    pub(super) fn remove_from_groups(&mut self, id: ClientId, now: Instant) {
        let groups: Vec<GroupId> = self.groups.table.of(&id).collect();
        for group in groups {
            self.take_out(group, id, id, GroupChange::RemovedByOwner, now);
        }
    }

    /// The owner removes `member` from `group` (`courier hub groups remove`). Returns
    /// whether they were in it.
    pub fn owner_remove(&mut self, group: GroupId, member: ClientId, now: Instant) -> bool {
        if self.member_of(member, group).is_err() {
            return false;
        }
        self.take_out(group, member, member, GroupChange::RemovedByOwner, now);
        true
    }

    /// Sends every member online the group as it now is.
    fn share_group(&mut self, group: GroupId, now: Instant) {
        let Some(g) = self.groups.table.groups.get(&group) else {
            return;
        };
        let frame = Arc::new(ServerFrame::Group(g.view()));
        let members: Vec<ClientId> = g.members.iter().map(|m| m.id).collect();
        for m in members {
            for c in self.conns_of(m) {
                self.send(c, frame.clone(), now);
            }
        }
    }

    /// Every logged-in connection of `id`.
    fn conns_of(&self, id: ClientId) -> Vec<ConnId> {
        self.directory
            .get(&id)
            .map(|k| k.conns.clone())
            .unwrap_or_default()
    }

    /// The connections of `id` that show messages and know their groups (were sent
    /// the whole groups list): those a group's entries go to.
    fn showing_conns_of(&self, id: ClientId) -> Vec<ConnId> {
        let mut conns = self.conns_of(id);
        conns.retain(|c| self.shows_messages(*c) && self.groups.listed.contains(c));
        conns
    }

    /// An entry for the log of `group` made by `by`.
    fn append_event(&mut self, group: GroupId, by: ClientId, change: GroupChange, now: Instant) {
        let time = self.wall(now);
        let Some(seq) = self
            .groups
            .table
            .groups
            .get(&group)
            .map(|g| g.last.saturating_add(1))
        else {
            return;
        };
        let event = crate::proto::GroupEvent {
            group,
            seq,
            by,
            change,
            time,
        };
        self.append(group, by, GroupEntry::Event(event), now);
    }
}
