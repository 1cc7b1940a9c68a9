//! A session's groups: asking the hub for changes, read marks for a batch, the list of
//! groups sent at login, and pages of a group's log handed over after an absence.

use std::time::Instant;

use super::{Error, Event, Session};
use crate::proto::{ClientFrame, ClientId, Group, GroupEntry, GroupId, Seq};

/// A change to a group, asked of the hub with [`Session::change_group`]; the hub answers
/// [`Event::GroupAnswer`] with the same tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupRequest {
    /// Create a group with this name and these members besides us.
    Create {
        /// The name.
        name: String,
        /// The first members besides us.
        members: Vec<ClientId>,
    },
    /// Add members.
    Add {
        /// Which group.
        group: GroupId,
        /// Whom.
        members: Vec<ClientId>,
    },
    /// Remove a member (the creator and admins may).
    Remove {
        /// Which group.
        group: GroupId,
        /// Whom.
        member: ClientId,
    },
    /// Leave.
    Leave {
        /// Which group.
        group: GroupId,
    },
    /// Make a member an admin, or not (the creator may).
    Admin {
        /// Which group.
        group: GroupId,
        /// Whom.
        member: ClientId,
        /// Admin or not.
        admin: bool,
    },
}

impl GroupRequest {
    fn into_frame(self, tag: u32) -> ClientFrame {
        match self {
            Self::Create { name, members } => ClientFrame::GroupCreate { tag, name, members },
            Self::Add { group, members } => ClientFrame::GroupAdd {
                tag,
                group,
                members,
            },
            Self::Remove { group, member } => ClientFrame::GroupRemove { tag, group, member },
            Self::Leave { group } => ClientFrame::GroupLeave { tag, group },
            Self::Admin {
                group,
                member,
                admin,
            } => ClientFrame::GroupAdmin {
                tag,
                group,
                member,
                admin,
            },
        }
    }
}

impl Session {
    /// Asks the hub for a change to a group; the answer comes as [`Event::GroupAnswer`]
    /// with `tag`, and the change itself as [`Event::GroupEvent`] and [`Event::Group`].
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn change_group(
        &mut self,
        tag: u32,
        request: GroupRequest,
        now: Instant,
    ) -> Result<(), Error> {
        self.ready_or()?;
        self.transmit(request.into_frame(tag), now);
        Ok(())
    }

    /// Marks `group` read up to position `upto`. Sent once for a batch, with the
    /// contacts' read marks ([`Session::mark_read`]): only the newest for each group.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn mark_group_read(
        &mut self,
        group: GroupId,
        upto: Seq,
        now: Instant,
    ) -> Result<(), Error> {
        self.ready_or()?;
        let mark = self.group_reads.entry(group).or_default();
        *mark = (*mark).max(upto);
        self.reads_due
            .get_or_insert(now + crate::limits::READ_MARK_BATCH);
        Ok(())
    }

    /// Sends the group read marks of a batch.
    pub(super) fn flush_group_reads(&mut self, now: Instant) {
        for (group, upto) in std::mem::take(&mut self.group_reads) {
            self.transmit(ClientFrame::GroupRead { group, upto }, now);
        }
    }

    /// A page of the groups list sent at login: the whole list is reported at once, as
    /// [`Event::Groups`].
    pub(super) fn groups_page(&mut self, groups: Vec<Group>, more: bool, now: Instant) {
        self.groups_so_far.extend(groups);
        if more {
            self.transmit(ClientFrame::NextGroups, now);
        } else {
            let all = Event::Groups(std::mem::take(&mut self.groups_so_far));
            self.track_groups(&all);
            self.events.push_back(all);
        }
    }

    /// A page of a group's log: each entry is reported, then the page acknowledged.
    pub(super) fn group_page(&mut self, group: GroupId, entries: Vec<GroupEntry>, now: Instant) {
        let upto = entries.iter().map(GroupEntry::seq).max().unwrap_or(0);
        for entry in entries {
            match entry {
                GroupEntry::Message(m) => self.open_message(m, now),
                GroupEntry::Event(e) => {
                    let event = Event::GroupEvent(e);
                    self.track_groups(&event);
                    self.events.push_back(event);
                }
            }
        }
        self.transmit(ClientFrame::GroupPageAck { group, upto }, now);
    }
}
