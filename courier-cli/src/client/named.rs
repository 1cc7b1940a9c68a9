//! A group's changes wait for its name: the hub tells a member it just added about the
//! change first and sends the group itself right after, so "ada added you to #ops"
//! would otherwise read "ada added you to #12". Changes to a group this client has not
//! seen yet are held back until the group comes (or anything else about it, or a
//! connection change), then let through in their order.

use std::collections::HashSet;

use courier_core::proto::{GroupChange, GroupId};
use courier_core::session::{Event, Update};

/// The most updates held back at once; past it, all go on (a hub that never sends the
/// group costs this client nothing but the names).
const HELD: usize = 64;

/// Holds back changes to groups not seen yet (see the module's doc).
#[derive(Default)]
pub(crate) struct Named {
    known: HashSet<GroupId>,
    held: Vec<(GroupId, Update)>,
}

impl Named {
    /// What to pass on now, in order, after `update`.
    pub(crate) fn feed(&mut self, update: Update) -> Vec<Update> {
        let Update::Event(event) = &update else {
            return self.release(None, update);
        };
        match event {
            Event::Groups(all) => {
                self.known.extend(all.iter().map(|g| g.id));
                self.release_first(None, update)
            }
            Event::Group(g) => {
                self.known.insert(g.id);
                let id = g.id;
                self.release_first(Some(id), update)
            }
            Event::GroupEvent(e)
                if !self.known.contains(&e.group)
                    && !matches!(e.change, GroupChange::Created { .. })
                    && self.held.len() < HELD =>
            {
                self.held.push((e.group, update));
                Vec::new()
            }
            Event::GroupEvent(e) => {
                let id = e.group;
                self.release(Some(id), update)
            }
            Event::Message(m) => match m.to {
                courier_core::proto::Target::Group(g) => self.release(Some(g), update),
                _ => vec![update],
            },
            Event::GroupGone(g) | Event::GroupRead { group: g, .. } => {
                let id = *g;
                self.release(Some(id), update)
            }
            _ => vec![update],
        }
    }

    /// The held updates of `group` (`None`: all), then `update`.
    fn release(&mut self, group: Option<GroupId>, update: Update) -> Vec<Update> {
        let mut out = self.take(group);
        out.push(update);
        out
    }

    /// `update`, then the held updates of `group` (`None`: all).
    fn release_first(&mut self, group: Option<GroupId>, update: Update) -> Vec<Update> {
        let mut out = vec![update];
        out.extend(self.take(group));
        out
    }

    fn take(&mut self, group: Option<GroupId>) -> Vec<Update> {
        let (out, keep) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(g, _)| group.is_none_or(|group| *g == group));
        self.held = keep;
        out.into_iter().map(|(_, u)| u).collect()
    }
}

#[cfg(test)]
mod tests {
    use courier_core::proto::{ClientId, Group, GroupEvent, Timestamp};

    use super::*;

    fn change(group: u64, seq: u64) -> Update {
        Update::Event(Event::GroupEvent(GroupEvent {
            group: GroupId(group),
            seq,
            by: ClientId([1; 32]),
            change: GroupChange::Added(ClientId([2; 32])),
            time: Timestamp(0),
        }))
    }

    fn group(id: u64) -> Update {
        Update::Event(Event::Group(Group {
            id: GroupId(id),
            name: "ops".into(),
            members: Vec::new(),
            last: 3,
        }))
    }

    fn seqs(updates: &[Update]) -> Vec<Option<u64>> {
        updates
            .iter()
            .map(|u| match u {
                Update::Event(Event::GroupEvent(e)) => Some(e.seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_change_to_a_group_not_seen_yet_comes_after_the_group_in_its_order() {
        let mut named = Named::default();
        assert!(named.feed(change(7, 2)).is_empty());
        assert!(named.feed(change(7, 3)).is_empty());
        let out = named.feed(group(7));
        assert_eq!(seqs(&out), [None, Some(2), Some(3)]);
        // Known now: the next change goes straight on.
        assert_eq!(seqs(&named.feed(change(7, 4))), [Some(4)]);
    }

    #[test]
    fn anything_else_about_the_group_or_a_new_connection_lets_held_changes_go_first() {
        let mut named = Named::default();
        assert!(named.feed(change(7, 2)).is_empty());
        assert!(named.feed(change(8, 2)).is_empty());
        let gone = Update::Event(Event::GroupGone(GroupId(7)));
        assert_eq!(seqs(&named.feed(gone)), [Some(2), None]);
        let out = named.feed(Update::Event(Event::Groups(Vec::new())));
        assert_eq!(
            seqs(&out),
            [None, Some(2)],
            "the list, then group 8's change"
        );
    }

    #[test]
    fn at_most_a_bounded_number_of_changes_wait() {
        let mut named = Named::default();
        for seq in 0..HELD as u64 {
            assert!(named.feed(change(7, seq)).is_empty());
        }
        assert_eq!(named.feed(change(7, 99)).len(), HELD + 1);
    }
}
