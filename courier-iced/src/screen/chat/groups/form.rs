//! "New group": a name, the contacts to add (checkboxes), Create. The hub's refusal
//! shows in the form as a sentence; its acceptance closes the form (the window opens
//! the new group's conversation).

use std::collections::BTreeSet;

use courier_core::proto::{ClientId, clean_group_name};
use iced::widget::{button, checkbox, column, container, row, scrollable, space, text, text_input};
use iced::{Center, Element, Fill};

use super::super::people::People;
use crate::style;

/// The form's state.
#[derive(Debug, Default, Clone)]
pub struct Form {
    /// The name typed.
    pub name: String,
    /// The contacts picked.
    pub picked: BTreeSet<ClientId>,
    /// Why the last Create did not go (a bad name, the hub's refusal).
    pub error: Option<String>,
    /// Asked the hub; waiting for its answer.
    pub waiting: bool,
}

/// What the user did in the form.
#[derive(Debug, Clone)]
pub enum Message {
    /// Typed the name.
    Name(String),
    /// Ticked or unticked a contact.
    Pick(ClientId, bool),
    /// Pressed Create (or Enter in the name).
    Create,
    /// Pressed Cancel.
    Cancel,
}

/// What the window has to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Ask the hub to create this group.
    Create {
        /// The cleaned name.
        name: String,
        /// The members besides us.
        members: Vec<ClientId>,
    },
    /// Close the form.
    Close,
}

impl Form {
    /// Handles a message.
    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::Name(name) => {
                self.name = name;
                self.error = None;
            }
            Message::Pick(id, on) => {
                if on {
                    self.picked.insert(id);
                } else {
                    self.picked.remove(&id);
                }
            }
            Message::Create if !self.waiting => match clean_group_name(&self.name) {
                Ok(name) => {
                    self.error = None;
                    self.waiting = true;
                    return Action::Create {
                        name,
                        members: self.picked.iter().copied().collect(),
                    };
                }
                Err(e) => self.error = Some(format!("That name cannot be used: {e}.")),
            },
            Message::Create => {}
            Message::Cancel => return Action::Close,
        }
        Action::None
    }

    /// The hub refused: say why, and let the user try again.
    pub fn refused(&mut self, why: String) {
        self.waiting = false;
        self.error = Some(why);
    }

    /// Draws the form, with every contact to pick from.
    pub fn view<'a>(&'a self, people: &'a People) -> Element<'a, Message> {
        let name = text_input("The group's name", &self.name)
            .id("group-name")
            .on_input(Message::Name)
            .on_submit(Message::Create)
            .padding(8);
        let mut picks = column![].spacing(6);
        let contacts = people.list.sorted();
        if contacts.is_empty() {
            picks = picks.push(text("Nobody else is on this hub yet.").style(style::dim));
        }
        for c in contacts {
            let id = c.id;
            picks = picks.push(
                checkbox(self.picked.contains(&id))
                    .label(people.name_of(&id))
                    .on_toggle(move |on| Message::Pick(id, on)),
            );
        }
        let mut page = column![
            text("New group").size(20),
            text("Its members see what is written in it from the moment they join.")
                .size(13)
                .style(style::dim),
            name,
            text(format!("Members ({} picked)", self.picked.len()))
                .size(13)
                .style(style::dim),
            scrollable(picks).height(Fill).width(Fill),
        ]
        .spacing(10);
        if let Some(e) = &self.error {
            page = page.push(text(e.as_str()).style(style::error));
        }
        let create = button(text(if self.waiting {
            "Creating…"
        } else {
            "Create"
        }))
        .on_press_maybe((!self.waiting).then_some(Message::Create));
        page = page.push(
            row![
                space::horizontal(),
                button(text("Cancel"))
                    .style(button::secondary)
                    .on_press(Message::Cancel),
                create
            ]
            .spacing(8)
            .align_y(Center),
        );
        container(page).padding(16).height(Fill).width(Fill).into()
    }
}
