//! The groups we are in, as the hub last told us: names, members and their roles, how far
//! each member read, and the positions of our own messages in each group's log. A leaf
//! the contact list, the conversation and the window read; it imports no feature.
//!
//! Its features live below it: [`form`] (New group), [`members`] (the side panel's
//! member list with Add, Remove and Leave) and [`many`] (files to several contacts
//! picked in the list, a group of the moment). The window routes between them
//! (`groups_chat.rs`).

pub mod form;
pub mod many;
pub mod members;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};

use courier_core::contacts::name_key;
use courier_core::proto::{ClientId, Group, GroupEvent, GroupId, GroupRefusal, MsgId, Role, Seq};
use courier_core::session::Event;
use courier_core::text as untrusted;

use super::people::People;

/// Our own messages whose position is remembered, per group (the newest; "read by"
/// is shown under our newest message only).
const POSITIONS_KEPT: usize = 64;

/// One group we are in.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The group as the hub last sent it (members' read marks kept up to date).
    pub group: Group,
    /// The newest position seen.
    known: Seq,
    /// The positions of our newest messages (the hub says each: [`Event::Placed`]).
    placed: VecDeque<(MsgId, Seq)>,
}

impl Joined {
    fn new(group: Group) -> Self {
        Self {
            known: group.last,
            group,
            placed: VecDeque::new(),
        }
    }

    fn account(&mut self, seq: Seq) {
        self.known = self.known.max(seq);
    }

    fn place(&mut self, id: MsgId, seq: Seq) {
        self.account(seq);
        if self.placed.iter().any(|(p, _)| *p == id) {
            return;
        }
        self.placed.push_back((id, seq));
        while self.placed.len() > POSITIONS_KEPT {
            self.placed.pop_front();
        }
    }
}

/// Every group we are in.
#[derive(Debug, Default)]
pub struct Groups {
    joined: BTreeMap<GroupId, Joined>,
    /// Names of groups we were in during this run (a conversation of a group we left
    /// stays readable under its name).
    gone: HashMap<GroupId, String>,
}

impl Groups {
    /// A group we are in.
    pub fn get(&self, id: &GroupId) -> Option<&Group> {
        self.joined.get(id).map(|j| &j.group)
    }

    /// The groups we are in, in list order (by name, as contacts are).
    pub fn listed(&self, search: &str) -> Vec<&Group> {
        let search = name_key(search.trim());
        let mut list: Vec<&Group> = self
            .joined
            .values()
            .map(|j| &j.group)
            .filter(|g| search.is_empty() || name_key(&g.name).contains(&search))
            .collect();
        list.sort_by_cached_key(|g| (name_key(&g.name), g.id));
        list
    }

    /// How many groups we are in.
    pub fn len(&self) -> usize {
        self.joined.len()
    }

    /// Whether we are in no group.
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }

    /// A group's name to show (hidden characters shown), tagged with its id when
    /// another of our groups looks the same once folded ("ops [12]" and "оps [13]": a
    /// group name cannot hold brackets); "a group you left" for one this run does not
    /// know.
    pub fn label(&self, id: &GroupId) -> String {
        let Some(name) = self.get(id).map(|g| &g.name).or_else(|| self.gone.get(id)) else {
            return "a group you left".to_owned();
        };
        let key = name_key(name);
        let shared = self
            .joined
            .values()
            .any(|j| j.group.id != *id && name_key(&j.group.name) == key);
        let shown = untrusted::visible(name, false);
        if shared {
            format!("{shown} [{id}]")
        } else {
            shown
        }
    }

    /// Names the history knows for groups (ours now or before): a group we are no
    /// longer in is shown by its name.
    pub fn named(&mut self, names: Vec<(GroupId, String)>) {
        for (id, name) in names {
            if !self.joined.contains_key(&id) {
                self.gone.insert(id, name);
            }
        }
    }

    /// Our role in a group (`None`: we are not in it).
    pub fn role(&self, id: &GroupId, me: &ClientId) -> Option<Role> {
        self.get(id)?.member(me).map(|m| m.role)
    }

    /// The newest position of a group's log known here.
    pub fn newest(&self, id: &GroupId) -> Seq {
        self.joined.get(id).map_or(0, |j| j.known.max(j.group.last))
    }

    /// Takes what the session reports about groups. Messages to a group are only
    /// looked at (their position); the conversation shows them. Returns the groups we
    /// are no longer in.
    pub fn apply(&mut self, me: ClientId, event: &Event) -> Vec<GroupId> {
        let mut gone = Vec::new();
        match event {
            Event::Groups(list) => {
                let mut fresh: BTreeMap<GroupId, Joined> = BTreeMap::new();
                for g in list {
                    let mut joined = self
                        .joined
                        .remove(&g.id)
                        .unwrap_or_else(|| Joined::new(g.clone()));
                    // What the hub had before this login is not ours to place.
                    joined.known = joined.known.max(g.last);
                    joined.group = g.clone();
                    fresh.insert(g.id, joined);
                }
                for (id, old) in std::mem::replace(&mut self.joined, fresh) {
                    self.gone.insert(id, old.group.name);
                    gone.push(id);
                }
            }
            Event::Group(g) => {
                let joined = self
                    .joined
                    .entry(g.id)
                    .or_insert_with(|| Joined::new(g.clone()));
                joined.group = g.clone();
                joined.account(g.last);
            }
            Event::GroupGone(id) => {
                if let Some(old) = self.joined.remove(id) {
                    self.gone.insert(*id, old.group.name);
                }
                gone.push(*id);
            }
            Event::GroupEvent(e) => {
                if let Some(j) = self.joined.get_mut(&e.group) {
                    j.account(e.seq);
                }
            }
            Event::Message(m) => {
                if let (courier_core::proto::Target::Group(id), Some(seq)) = (m.to, m.seq)
                    && let Some(j) = self.joined.get_mut(&id)
                {
                    if m.from == me {
                        // Ours, as another of our programs sees it.
                        j.place(m.id, seq);
                    } else {
                        j.account(seq);
                    }
                }
            }
            Event::Unreadable {
                to: courier_core::proto::Target::Group(id),
                seq: Some(seq),
                ..
            } => {
                if let Some(j) = self.joined.get_mut(id) {
                    j.account(*seq);
                }
            }
            Event::Placed { group, id, seq } => {
                if let Some(j) = self.joined.get_mut(group) {
                    j.place(*id, *seq);
                }
            }
            Event::GroupRead { group, by, upto } => self.read(*group, *by, *upto),
            _ => {}
        }
        gone
    }

    /// `by` read `group` up to `upto`.
    pub fn read(&mut self, group: GroupId, by: ClientId, upto: Seq) {
        let Some(j) = self.joined.get_mut(&group) else {
            return;
        };
        j.account(upto);
        if let Some(m) = j.group.members.iter_mut().find(|m| m.id == by) {
            m.read = m.read.max(upto);
        }
    }

    /// Who of the others read our message `id` in `group`, and how many others there
    /// are; `None` while its position is not known. Only members who were in the group
    /// when it was placed count (one who joined later did not get it, and its read mark
    /// starts at its joining).
    pub fn read_by(
        &self,
        group: &GroupId,
        id: MsgId,
        me: &ClientId,
    ) -> Option<(Vec<ClientId>, usize)> {
        let j = self.joined.get(group)?;
        let seq = j.placed.iter().find(|(p, _)| *p == id).map(|(_, s)| *s)?;
        let others: Vec<_> = j
            .group
            .members
            .iter()
            .filter(|m| m.id != *me && m.joined < seq)
            .collect();
        let read = others
            .iter()
            .filter(|m| m.read >= seq)
            .map(|m| m.id)
            .collect();
        Some((read, others.len()))
    }
}

/// A membership change as a line of the conversation of `group` (its name): "Ada added
/// Bob to ops", said as the CLI says it (`courier_core::history::change_line`).
pub fn sentence(e: &GroupEvent, people: &People, group: &str) -> String {
    let line = courier_core::history::change_line(
        e,
        |id| {
            if *id == people.me {
                "you".to_owned()
            } else {
                people.name_of(id)
            }
        },
        group,
    );
    let mut chars = line.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A refusal of the hub, as a sentence: what was asked, and why not (the reason is
/// core's one sentence for it).
pub fn refused(what: &str, why: GroupRefusal) -> String {
    format!("Could not {what}: {why}.")
}

/// What a member may do, in words ("" for a plain member).
pub fn role_word(role: Role) -> &'static str {
    match role {
        Role::Creator => "creator",
        Role::Admin => "admin",
        Role::Member => "",
    }
}

/// A change asked of the hub, remembered by its tag until the hub answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// Create a group (from the form) with these people.
    Create(Vec<ClientId>),
    /// Add these people to a group.
    Add(GroupId, Vec<ClientId>),
    /// Remove a member from a group.
    Remove(GroupId, ClientId),
    /// Make a member an admin of a group (or not).
    Admin(GroupId, ClientId, bool),
    /// Leave a group.
    Leave(GroupId),
}

impl Asked {
    /// What was asked, for a sentence ("Could not {what}: …").
    pub fn what(&self, groups: &Groups, people: &People) -> String {
        match self {
            Self::Create(_) => "create the group".to_owned(),
            Self::Add(g, _) => format!("add people to {}", groups.label(g)),
            Self::Remove(g, id) => {
                format!("remove {} from {}", people.name_of(id), groups.label(g))
            }
            Self::Leave(g) => format!("leave {}", groups.label(g)),
            Self::Admin(g, id, true) => {
                format!(
                    "make {} an admin of {}",
                    people.name_of(id),
                    groups.label(g)
                )
            }
            Self::Admin(g, id, false) => format!(
                "make {} a plain member of {}",
                people.name_of(id),
                groups.label(g)
            ),
        }
    }
}

/// What the user did about groups, or what a request to the hub brought back.
#[derive(Debug, Clone)]
pub enum Message {
    /// In the New group form.
    Form(form::Message),
    /// On a group's member page.
    Members(members::Message),
    /// Opened or closed the member page of the open group.
    ShowMembers,
    /// A change went to the hub under this tag.
    Asked {
        /// The tag its answer carries.
        tag: u32,
        /// What was asked.
        what: Asked,
    },
    /// A change could not go to the hub.
    NotAsked(Asked, String),
    /// Files to several people.
    Many(many::Message),
}
