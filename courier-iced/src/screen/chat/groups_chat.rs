//! The window's side of groups: the session's group events into the list, the
//! conversations and the member page; the form's and the page's requests to the hub and
//! their answers; read marks of the open group.

use std::collections::HashMap;

use courier_core::proto::{ClientId, GroupId, GroupOutcome, Target};
use courier_core::session::{Event, GroupRequest};
use iced::Task;

use super::groups::{self, Asked, Groups, form, many, members};
use super::{Action, Chat, Message, contacts};

/// Answers kept for tags not yet back from the session (an answer can overtake the
/// task that learnt its tag); the oldest go first.
const EARLY_KEPT: usize = 64;

/// The groups and what the user does with them.
#[derive(Debug, Default)]
pub(super) struct Grouping {
    /// The groups we are in.
    pub(super) known: Groups,
    /// The New group form, while open (it takes the conversation's place).
    pub(super) form: Option<form::Form>,
    /// The member page of a group, while open (it takes the side panel's place).
    pub(super) page: Option<members::Page>,
    /// Changes asked of the hub, by tag, until answered.
    asked: HashMap<u32, Asked>,
    /// Answers whose tag is not back yet.
    early: Vec<(u32, GroupOutcome)>,
    /// Files sent to several contacts picked in the list.
    pub(super) sends: many::Sends,
}

impl Chat {
    /// The groups we are in.
    pub fn groups(&self) -> &Groups {
        &self.groups.known
    }

    /// Files sent to several contacts picked in the list.
    pub fn sends(&self) -> &many::Sends {
        &self.groups.sends
    }

    /// The New group form, while open.
    pub fn group_form(&self) -> Option<&form::Form> {
        self.groups.form.as_ref()
    }

    /// The member page, while open.
    pub fn group_page(&self) -> Option<&members::Page> {
        self.groups.page.as_ref()
    }

    /// Takes a session event about groups; `None` for one that is not (only) about
    /// groups (a message to a group is looked at, then shown as any message).
    pub(super) fn group_event(&mut self, event: &Event) -> Option<Action> {
        let me = self.me();
        for gone in self.groups.known.apply(me, event) {
            if self.groups.page.as_ref().is_some_and(|p| p.group == gone) {
                self.groups.page = None;
            }
        }
        match event {
            Event::GroupEvent(e) => self.conversations.group_line(e.clone()),
            Event::GroupAnswer { tag, outcome } => match self.groups.asked.remove(tag) {
                Some(what) => return Some(self.answered(what, *outcome)),
                None => {
                    self.groups.early.push((*tag, *outcome));
                    if self.groups.early.len() > EARLY_KEPT {
                        self.groups.early.remove(0);
                    }
                }
            },
            Event::Groups(list) => {
                let names = list.iter().map(|g| (g.id, g.name.clone())).collect();
                self.conversations.keep_group_names(names);
            }
            Event::Group(g) => self
                .conversations
                .keep_group_names(vec![(g.id, g.name.clone())]),
            Event::GroupGone(_) | Event::GroupRead { .. } => {}
            _ => return None,
        }
        Some(Action::None)
    }

    /// Handles what the user did about groups, or a request's tag.
    pub(super) fn groups_update(&mut self, message: groups::Message) -> Action {
        match message {
            groups::Message::Form(m) => {
                let Some(form) = &mut self.groups.form else {
                    return Action::None;
                };
                match form.update(m) {
                    form::Action::None => {}
                    form::Action::Close => self.groups.form = None,
                    form::Action::Create { name, members } => {
                        let asked = Asked::Create(members.clone());
                        return self.ask(asked, GroupRequest::Create { name, members });
                    }
                }
            }
            groups::Message::Members(m) => {
                let Some(page) = &mut self.groups.page else {
                    return Action::None;
                };
                let group = page.group;
                let (what, request) = match page.update(m) {
                    members::Action::None => return Action::None,
                    members::Action::Close => {
                        self.groups.page = None;
                        return Action::None;
                    }
                    members::Action::Add(members) => {
                        let asked = Asked::Add(group, members.clone());
                        (asked, GroupRequest::Add { group, members })
                    }
                    members::Action::Remove(member) => (
                        Asked::Remove(group, member),
                        GroupRequest::Remove { group, member },
                    ),
                    members::Action::Leave => (Asked::Leave(group), GroupRequest::Leave { group }),
                    members::Action::Admin(member, admin) => (
                        Asked::Admin(group, member, admin),
                        GroupRequest::Admin {
                            group,
                            member,
                            admin,
                        },
                    ),
                };
                return self.ask(what, request);
            }
            groups::Message::ShowMembers => {
                self.groups.page = match (self.groups.page.take(), self.conversations.selected) {
                    (None, Target::Group(g)) => {
                        self.panel.tab = None;
                        Some(members::Page::new(g))
                    }
                    _ => None,
                };
            }
            groups::Message::Asked { tag, what } => {
                if let Some(at) = self.groups.early.iter().position(|(t, _)| *t == tag) {
                    let (_, outcome) = self.groups.early.remove(at);
                    return self.answered(what, outcome);
                }
                self.groups.asked.insert(tag, what);
            }
            groups::Message::Many(m) => return self.many(m),
            groups::Message::NotAsked(what, why) => {
                let what = what.what(&self.groups.known, &self.people);
                self.group_failed(format!("Could not {what}: {why}."));
            }
        }
        Action::None
    }

    /// Opens the New group form (in the conversation's place).
    pub(super) fn open_group_form(&mut self) {
        self.groups.form = Some(form::Form::default());
    }

    /// What the contact list asks about groups: New group, or files for the contacts
    /// picked (chosen in the file dialog, then sent to each).
    pub(super) fn list_intent(&mut self, intent: contacts::Intent) -> Action {
        match intent {
            contacts::Intent::NewGroup => self.open_group_form(),
            contacts::Intent::SendFiles(to) => {
                if !crate::system::dialogs_available() {
                    // Still picked: files dropped on the window go to them.
                    self.people.picked = Some(to.into_iter().collect());
                    self.notice = Some(format!(
                        "{} Drop files on the window to send them to the people picked.",
                        crate::system::NO_DIALOGS
                    ));
                    return Action::None;
                }
                return Action::Run(Task::perform(crate::system::pick_files(), move |files| {
                    let chosen = many::Message::Chosen(to, files.unwrap_or_default());
                    Message::Groups(groups::Message::Many(chosen))
                }));
            }
        }
        Action::None
    }

    /// Files chosen or dropped: while contacts are picked in the list, to each of them;
    /// in a group, to each of its other members; else to the open conversation's contact.
    pub(super) fn files_chosen(&mut self, paths: Vec<std::path::PathBuf>) -> Action {
        let me = self.me();
        let to: Vec<_> = match (self.people.picked.take(), self.conversations.selected) {
            (Some(picked), _) if !picked.is_empty() => picked.into_iter().collect(),
            (_, Target::Group(g)) => self.groups.known.get(&g).map_or_else(Vec::new, |g| {
                g.members
                    .iter()
                    .map(|m| m.id)
                    .filter(|id| *id != me)
                    .collect()
            }),
            _ => return self.offer_files(paths),
        };
        if to.is_empty() {
            self.notice = Some("Nobody else is in this group.".into());
            return Action::None;
        }
        self.many(many::Message::Chosen(to, paths))
    }

    /// Files to several people: started once chosen; the cards' own messages.
    fn many(&mut self, message: many::Message) -> Action {
        match message {
            many::Message::Chosen(to, paths) => {
                if paths.is_empty() || to.is_empty() || self.blocked_among(&to) {
                    return Action::None;
                }
                let Some(handle) = self.handle.clone() else {
                    self.notice = Some("Not connected to the hub.".into());
                    return Action::None;
                };
                let task = self.groups.sends.start(handle, to, paths);
                Action::Run(task.map(|m| Message::Groups(groups::Message::Many(m))))
            }
            other => {
                self.groups.sends.update(other);
                Action::None
            }
        }
    }

    /// A conversation was opened: the form closes, and the member page follows the
    /// open group (or closes).
    pub(super) fn group_opened(&mut self, target: Target) {
        self.groups.form = None;
        if let Some(page) = &mut self.groups.page {
            match target {
                Target::Group(g) => *page = members::Page::new(g),
                _ => self.groups.page = None,
            }
        }
    }

    /// Sends a change to the hub; its tag comes back as [`groups::Message::Asked`].
    fn ask(&mut self, what: Asked, request: GroupRequest) -> Action {
        let Some(handle) = self.handle.clone() else {
            let what = what.what(&self.groups.known, &self.people);
            self.group_failed(format!("Could not {what}: not connected to the hub."));
            return Action::None;
        };
        Action::Run(Task::future(async move {
            let message = match handle.change_group(request).await {
                Ok(tag) => groups::Message::Asked { tag, what },
                Err(e) => groups::Message::NotAsked(what, e.to_string()),
            };
            Message::Groups(message)
        }))
    }

    /// A problem with a change: in the form while it waits, else as a notice.
    fn group_failed(&mut self, why: String) {
        match &mut self.groups.form {
            Some(form) if form.waiting => form.refused(why),
            _ => self.notice = Some(why),
        }
    }

    /// After a create or add: says who of `wanted` the hub did not add (it skips people
    /// already in as many groups as it allows; the group's state came before the answer).
    fn say_skipped(&mut self, id: GroupId, wanted: &[ClientId]) {
        let Some(group) = self.groups.known.get(&id) else {
            return;
        };
        let skipped: Vec<String> = wanted
            .iter()
            .filter(|w| group.member(w).is_none())
            .map(|w| self.people.name_of(w))
            .collect();
        if !skipped.is_empty() {
            self.notice = Some(format!(
                "Not added: {} (in as many groups as the hub allows; they can leave one).",
                skipped.join(", ")
            ));
        }
    }

    /// The hub's answer to a change.
    fn answered(&mut self, what: Asked, outcome: GroupOutcome) -> Action {
        match (outcome, what) {
            (GroupOutcome::Done(id), Asked::Create(wanted)) => {
                self.groups.form = None;
                self.conversations.open(Target::Group(id));
                self.say_skipped(id, &wanted);
                return Action::Run(self.mark_read());
            }
            (GroupOutcome::Done(id), Asked::Add(_, wanted)) => self.say_skipped(id, &wanted),
            (GroupOutcome::Done(id), Asked::Leave(_)) => {
                self.groups.page = None;
                if self.conversations.selected == Target::Group(id) {
                    self.conversations.open(Target::Everyone);
                }
                self.notice = Some(format!(
                    "You left {}. What it holds stays in your history (the search finds it).",
                    self.groups.known.label(&id)
                ));
            }
            (GroupOutcome::Done(_), Asked::Remove(..) | Asked::Admin(..)) => {}
            (GroupOutcome::Refused(why), what) => {
                let what = what.what(&self.groups.known, &self.people);
                self.group_failed(groups::refused(&what, why));
            }
        }
        Action::None
    }

    /// Marks the open group read up to its newest position (the session sends one mark
    /// for a batch).
    pub(super) fn mark_group_read(&mut self) -> Task<Message> {
        let Target::Group(group) = self.conversations.selected else {
            return Task::none();
        };
        let me = self.me();
        let newest = self.groups.known.newest(&group);
        let read = self
            .groups
            .known
            .get(&group)
            .and_then(|g| g.member(&me))
            .map_or(newest, |m| m.read);
        if newest <= read {
            return Task::none();
        }
        self.groups.known.read(group, me, newest);
        let Some(handle) = self.handle.clone() else {
            return Task::none();
        };
        Task::future(async move {
            let _ = handle.mark_group_read(group, newest).await;
        })
        .discard()
    }

    /// The group whose member page is open, and the page.
    pub(super) fn open_group_page(&self) -> Option<(&members::Page, &courier_core::proto::Group)> {
        let page = self.groups.page.as_ref()?;
        Some((page, self.groups.known.get(&page.group)?))
    }

    /// A notification's title for a message in a group: the group first, `#ops · Ada`
    /// (no contact's name may start with '#', so none can pass for a group).
    pub(super) fn group_title(&self, from: &courier_core::proto::ClientId, id: &GroupId) -> String {
        format!("#{} · {}", self.group_label(id), self.people.name_of(from))
    }

    /// A group's name to show.
    pub(super) fn group_label(&self, id: &GroupId) -> String {
        self.groups.known.label(id)
    }
}
