//! The hub's groups as data: each group's members with their positions, its log, and
//! who is in which group; the rules of membership (who may do what, the bounds) live
//! beside them, without any connection.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::log::Log;
use crate::proto::{ClientId, Group, GroupId, GroupMember, Role, Seq};

/// A member of a group, with how far the hub handed them its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) id: ClientId,
    pub(crate) role: Role,
    /// The position of the entry that added them: they see the log from it.
    pub(crate) joined: Seq,
    /// Handed over up to here.
    pub(crate) got: Seq,
    /// Read up to here (at least `joined`).
    pub(crate) read: Seq,
    /// Its connections that show messages and have their groups list: where its
    /// entries go live (kept here so that routing looks nothing up).
    pub(crate) conns: Vec<crate::hub::ConnId>,
}

/// One group.
#[derive(Debug)]
pub(crate) struct GroupState {
    pub(crate) id: GroupId,
    pub(crate) name: String,
    /// Who created it (counted against their [`crate::hub::Config::groups_created`]
    /// while the group exists, whoever is its creator now).
    pub(crate) created_by: ClientId,
    /// Its members, the creator first, then in the order they joined.
    pub(crate) members: Vec<Member>,
    /// The position of the newest entry.
    pub(crate) last: Seq,
    /// The entries some member has not been handed.
    pub(crate) log: Log,
}

impl GroupState {
    /// The group as its members see it.
    pub(crate) fn view(&self) -> Group {
        Group {
            id: self.id,
            name: self.name.clone(),
            members: self
                .members
                .iter()
                .map(|m| GroupMember {
                    id: m.id,
                    role: m.role,
                    joined: m.joined,
                    read: m.read,
                })
                .collect(),
            last: self.last,
        }
    }

    pub(crate) fn member(&self, id: &ClientId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == *id)
    }

    pub(crate) fn member_mut(&mut self, id: &ClientId) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == *id)
    }

    /// The lowest position handed to every member (entries up to it are no longer
    /// needed).
    pub(crate) fn min_got(&self) -> Seq {
        self.members
            .iter()
            .map(|m| m.got)
            .min()
            .unwrap_or(self.last)
    }

    /// Takes `id` out; when it was the creator, the oldest admin (or else the oldest
    /// member) becomes the creator. Returns whether it was a member.
    pub(crate) fn remove_member(&mut self, id: &ClientId) -> bool {
        let Some(at) = self.members.iter().position(|m| m.id == *id) else {
            return false;
        };
        let gone = self.members.remove(at);
        if gone.role == Role::Creator && !self.members.is_empty() {
            let heir = self
                .members
                .iter()
                .position(|m| m.role == Role::Admin)
                .unwrap_or(0);
            let mut heir = self.members.remove(heir);
            heir.role = Role::Creator;
            self.members.insert(0, heir);
        }
        true
    }
}

/// Every group of the hub.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) groups: BTreeMap<GroupId, GroupState>,
    /// The groups each member is in.
    pub(crate) by_member: HashMap<ClientId, BTreeSet<GroupId>>,
    /// How many groups that still exist each member created.
    pub(crate) created: HashMap<ClientId, usize>,
    /// The next group's id (ids are never reused).
    pub(crate) next_id: u64,
    /// Bytes of every group's log together.
    pub(crate) log_bytes: usize,
    /// What each sender holds in them.
    pub(crate) pool: super::log::Pool,
}

impl Table {
    /// The groups `id` is in.
    pub(crate) fn of(&self, id: &ClientId) -> impl Iterator<Item = GroupId> + '_ {
        self.by_member.get(id).into_iter().flatten().copied()
    }

    /// How many groups `id` is in.
    pub(crate) fn count_of(&self, id: &ClientId) -> usize {
        self.by_member.get(id).map_or(0, BTreeSet::len)
    }

    pub(crate) fn created_by(&self, id: &ClientId) -> usize {
        self.created.get(id).copied().unwrap_or(0)
    }

    /// Records that `member` is in `group`.
    pub(crate) fn joined(&mut self, member: ClientId, group: GroupId) {
        self.by_member.entry(member).or_default().insert(group);
    }

    /// Records that `member` is no longer in `group`.
    pub(crate) fn left(&mut self, member: &ClientId, group: GroupId) {
        if let Some(set) = self.by_member.get_mut(member) {
            set.remove(&group);
            if set.is_empty() {
                self.by_member.remove(member);
            }
        }
    }

    /// Forgets a group that has no member left, with its log.
    pub(crate) fn delete(&mut self, group: GroupId) {
        if let Some(g) = self.groups.remove(&group) {
            self.log_bytes = self.log_bytes.saturating_sub(g.log.bytes());
            g.log.release(&mut self.pool);
            for m in &g.members {
                self.left(&m.id, group);
            }
            if let Some(n) = self.created.get_mut(&g.created_by) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.created.remove(&g.created_by);
                }
            }
        }
    }

    /// Entries kept in every group's log together.
    pub(crate) fn log_entries(&self) -> usize {
        self.groups.values().map(|g| g.log.len()).sum()
    }
}
