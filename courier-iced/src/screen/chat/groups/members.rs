//! The side panel for a group: its members with their roles, Add (pick contacts),
//! Remove (shown to its creator and admins only), Make admin (its creator only) and
//! Leave (after a confirmation).

use std::collections::BTreeSet;

use courier_core::proto::{ClientId, Group, GroupId, Role};
use iced::widget::{button, checkbox, column, container, row, rule, scrollable, text};
use iced::{Center, Element, Fill};

use super::super::people::People;
use super::role_word;
use crate::style;

/// The page's state: which group, and what is half done on it.
#[derive(Debug, Clone)]
pub struct Page {
    /// The group shown.
    pub group: GroupId,
    /// Contacts picked to add, while adding.
    pub adding: Option<BTreeSet<ClientId>>,
    /// Asked "Leave this group?".
    pub confirm_leave: bool,
}

/// What the user did on the page.
#[derive(Debug, Clone)]
pub enum Message {
    /// Closed the panel.
    Close,
    /// Pressed "Add people".
    StartAdding,
    /// Ticked or unticked a contact to add.
    Pick(ClientId, bool),
    /// Pressed Add.
    Add,
    /// Pressed Cancel while adding.
    CancelAdding,
    /// Pressed Remove beside a member.
    Remove(ClientId),
    /// Pressed Make admin (`true`) or Not admin beside a member.
    Admin(ClientId, bool),
    /// Pressed "Leave group".
    Leave,
    /// Confirmed leaving.
    ConfirmLeave,
    /// Did not confirm.
    CancelLeave,
}

/// What the window has to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Close the page.
    Close,
    /// Ask the hub to add these members.
    Add(Vec<ClientId>),
    /// Ask the hub to remove this member.
    Remove(ClientId),
    /// Ask the hub to make this member an admin, or not.
    Admin(ClientId, bool),
    /// Ask the hub to let us leave.
    Leave,
}

impl Page {
    /// The page of `group`.
    pub fn new(group: GroupId) -> Self {
        Self {
            group,
            adding: None,
            confirm_leave: false,
        }
    }

    /// Handles a message.
    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::Close => return Action::Close,
            Message::StartAdding => self.adding = Some(BTreeSet::new()),
            Message::Pick(id, on) => {
                if let Some(picked) = &mut self.adding {
                    if on {
                        picked.insert(id);
                    } else {
                        picked.remove(&id);
                    }
                }
            }
            Message::Add => {
                let picked = self.adding.take().unwrap_or_default();
                if !picked.is_empty() {
                    return Action::Add(picked.into_iter().collect());
                }
            }
            Message::CancelAdding => self.adding = None,
            Message::Remove(id) => return Action::Remove(id),
            Message::Admin(id, admin) => return Action::Admin(id, admin),
            Message::Leave => self.confirm_leave = true,
            Message::ConfirmLeave => {
                self.confirm_leave = false;
                return Action::Leave;
            }
            Message::CancelLeave => self.confirm_leave = false,
        }
        Action::None
    }

    /// Draws the page for `group` as it is now; `me` is us.
    pub fn view<'a>(&'a self, group: &'a Group, people: &'a People) -> Element<'a, Message> {
        let me = people.me;
        let mine = group.member(&me).map_or(Role::Member, |m| m.role);
        let n = group.members.len();
        let mut list = column![].spacing(6);
        for m in &group.members {
            let mut line = row![
                column![
                    text(people.name_of(&m.id)).size(15),
                    text(role_word(m.role)).size(12).style(style::dim)
                ]
                .width(Fill)
            ]
            .spacing(6)
            .align_y(Center);
            // Only the creator and admins remove; nobody removes the creator (or
            // themselves: that is Leave).
            let id = m.id;
            // Only the creator names admins.
            if mine == Role::Creator && m.id != me {
                let admin = m.role != Role::Admin;
                line = line.push(
                    button(text(if admin { "Make admin" } else { "Not admin" }).size(13))
                        .style(button::secondary)
                        .on_press(Message::Admin(id, admin)),
                );
            }
            if mine.can_remove() && m.id != me && m.role != Role::Creator {
                line = line.push(
                    button(text("Remove").size(13))
                        .style(button::danger)
                        .on_press(Message::Remove(id)),
                );
            }
            list = list.push(line);
        }
        let mut page = column![
            row![
                text(courier_core::text::visible(&group.name, false))
                    .size(18)
                    .width(Fill),
                button(text("Close").size(13))
                    .style(button::text)
                    .on_press(Message::Close)
            ]
            .align_y(Center),
            text(format!("{n} member{}", if n == 1 { "" } else { "s" }))
                .size(13)
                .style(style::dim),
            list,
            rule::horizontal(1),
        ]
        .spacing(10);
        page = page.push(match &self.adding {
            None => Element::from(
                button(text("Add people"))
                    .style(button::secondary)
                    .on_press(Message::StartAdding),
            ),
            Some(picked) => self.adding_view(group, people, picked),
        });
        page = page.push(if self.confirm_leave {
            column![
                text(
                    "Leave this group? You get nothing written in it after you leave; \
                     what you have stays in your history."
                )
                .size(13),
                row![
                    button(text("Leave"))
                        .style(button::danger)
                        .on_press(Message::ConfirmLeave),
                    button(text("Cancel"))
                        .style(button::secondary)
                        .on_press(Message::CancelLeave)
                ]
                .spacing(8)
            ]
            .spacing(6)
        } else {
            column![
                button(text("Leave group"))
                    .style(button::danger)
                    .on_press(Message::Leave)
            ]
        });
        container(scrollable(page.padding(12)).spacing(6).height(Fill))
            .height(Fill)
            .into()
    }

    /// The contacts not in the group, to tick, with Add and Cancel.
    fn adding_view<'a>(
        &'a self,
        group: &'a Group,
        people: &'a People,
        picked: &'a BTreeSet<ClientId>,
    ) -> Element<'a, Message> {
        let mut picks = column![text("Add people").size(13).style(style::dim)].spacing(6);
        let mut any = false;
        for c in people.list.sorted() {
            if group.member(&c.id).is_some() {
                continue;
            }
            any = true;
            let id = c.id;
            picks = picks.push(
                checkbox(picked.contains(&id))
                    .label(people.name_of(&id))
                    .on_toggle(move |on| Message::Pick(id, on)),
            );
        }
        if !any {
            picks = picks.push(text("Every contact is in this group.").style(style::dim));
        }
        picks
            .push(
                row![
                    button(text("Add"))
                        .on_press_maybe((!picked.is_empty()).then_some(Message::Add)),
                    button(text("Cancel"))
                        .style(button::secondary)
                        .on_press(Message::CancelAdding)
                ]
                .spacing(8),
            )
            .into()
    }
}
