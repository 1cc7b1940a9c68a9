//! Drawing the main window: the contact list, the header of the open conversation,
//! the conversation with its banners and composer, and the side panel.

use std::time::Instant;

use courier_core::proto::Target;
use iced::widget::{
    button, checkbox, column, container, opaque, responsive, row, rule, scrollable, space, stack,
    text,
};
use iced::{Center, Element, Fill, Size};

use super::{
    Chat, Connection, Message, contacts, conversation, groups, panel, people, safety, transfers,
};
use crate::settings::Settings;
use crate::style;

/// The contact list's width.
const CONTACTS_WIDTH: f32 = 280.0;
/// The most height the cards of files sent to several people take.
const SENDS_HEIGHT: f32 = 160.0;
/// The side panel's width: its pages get 306 px, beside the lane of its scrollbar
/// (10 px and 6 of spacing, see `panel::Panel::view`).
const PANEL_WIDTH: f32 = 346.0;
/// The narrowest the conversation gets beside an open panel: a bubble of a few words
/// a line, and the composer with its buttons.
const CONVERSATION_MIN_WIDTH: f32 = 380.0;
/// From this window width on, the side panel is a third pane; below it, it covers the
/// conversation instead of crushing it.
pub(crate) const THREE_PANES_WIDTH: f32 =
    CONTACTS_WIDTH + CONVERSATION_MIN_WIDTH + PANEL_WIDTH + 2.0;

impl Chat {
    /// Draws the window.
    pub fn view<'a>(&'a self, settings: &'a Settings) -> Element<'a, Message> {
        self.with_trust_warning(responsive(move |size| self.view_at(settings, size)).into())
    }

    /// Draws the window at this size.
    fn view_at<'a>(&'a self, settings: &'a Settings, size: Size) -> Element<'a, Message> {
        let unread = |target: &Target| self.conversations.unread(target);
        let listing = contacts::Listing {
            selected: self.conversations.selected,
            unread: &unread,
            found: &self.conversations.found,
            groups: &self.groups.known,
        };
        let contacts = container(contacts::view(&self.people, listing).map(Message::Contacts))
            .width(CONTACTS_WIDTH)
            .height(Fill)
            .style(style::column);
        let mut middle = column![self.header(settings)];
        if let Connection::Reconnecting { reason, next } = &self.connection {
            middle = middle.push(reconnecting(reason, *next));
        }
        if let Some(form) = &self.groups.form {
            // New group takes the conversation's place until created or cancelled.
            middle = middle.push(
                form.view(&self.people)
                    .map(|m| Message::Groups(groups::Message::Form(m))),
            );
        } else {
            middle = self.conversation(middle);
        }
        let body = row![contacts, rule::vertical(1), middle.width(Fill).height(Fill)];
        let panel = match self.open_group_page() {
            _ if self.people.trust.page().is_some() => self.trust_page(),
            Some((page, group)) => Some(
                page.view(group, &self.people)
                    .map(|m| Message::Groups(groups::Message::Members(m))),
            ),
            None => {
                let cx = panel::Context {
                    settings,
                    hub: &self.hub,
                    me: self.people.me,
                    profile: &self.profile,
                };
                self.panel.view(cx).map(|p| p.map(Message::Panel))
            }
        };
        let Some(panel) = panel else {
            return body.height(Fill).into();
        };
        let panel = container(panel)
            .width(PANEL_WIDTH)
            .height(Fill)
            .style(style::column);
        if size.width >= THREE_PANES_WIDTH {
            body.push(rule::vertical(1)).push(panel).height(Fill).into()
        } else {
            // Too narrow for three panes: the panel lies over the conversation (its
            // Close button closes it) and the conversation keeps its width beneath.
            stack![
                body.height(Fill),
                row![
                    space::horizontal(),
                    rule::vertical(1),
                    opaque(panel.style(style::overlay))
                ]
            ]
            .width(Fill)
            .height(Fill)
            .into()
        }
    }

    /// The open conversation, its notice and the composer, below the header.
    fn conversation<'a>(
        &'a self,
        mut middle: iced::widget::Column<'a, Message>,
    ) -> iced::widget::Column<'a, Message> {
        // The cards (transfer cards, kept transfers) are drawn here, where both the
        // conversation and the cards are known; what they send comes back as the
        // window's own message.
        middle = middle.push(self.conversations.view(
            &self.people,
            &self.groups.known,
            Message::Conversation,
            |card| {
                match card {
                    conversation::Card::Transfer(key) => self
                        .transfers
                        .view(key, &self.people)
                        .map(Message::Transfer),
                    conversation::Card::KeptTransfer(kept) => {
                        transfers::kept_transfer_view(kept, &self.people, |dir| {
                            Message::Transfer(transfers::Message::OpenFolder(dir))
                        })
                    }
                }
            },
        ));
        if !self.groups.sends.cards.is_empty() {
            let cards = self.groups.sends.view(&self.people);
            let cards = cards.map(|m| Message::Groups(groups::Message::Many(m)));
            // Bounded: a send to a class of thirty scrolls rather than push the composer
            // off the window.
            let cards = scrollable(container(cards).padding([4, 12])).spacing(2);
            middle = middle.push(container(cards).max_height(SENDS_HEIGHT));
        }
        if let Some(n) = &self.notice {
            middle = middle.push(notice(n));
        }
        middle.push(
            self.conversations
                .composer(&self.people, &self.groups.known)
                .map(Message::Conversation),
        )
    }

    /// The open conversation's contact (or Everyone), whether it is trusted, and the
    /// panel button.
    fn header<'a>(&'a self, settings: &'a Settings) -> Element<'a, Message> {
        let people = &self.people;
        let (pic, name, line, trust): (
            Element<'a, Message>,
            String,
            String,
            Option<Element<'a, Message>>,
        ) = match self.conversations.selected {
            Target::Everyone => (
                people::avatar_initials("*", 0, 36.0),
                "Everyone".to_owned(),
                format!("{} online", people.online()),
                None,
            ),
            Target::Group(g) => {
                let line = match self.groups.known.get(&g) {
                    Some(group) => format!("{} members", group.members.len()),
                    None => "You are no longer in this group.".to_owned(),
                };
                let members = self.groups.known.get(&g).map(|_| {
                    button(text("Members").size(14))
                        .style(button::secondary)
                        .on_press(Message::Groups(groups::Message::ShowMembers))
                        .into()
                });
                (
                    people::avatar_initials("#", 0, 36.0),
                    self.group_label(&g),
                    line,
                    members,
                )
            }
            Target::Client(id) => match people.get(&id) {
                Some(c) => {
                    let presence = people::presence_word(c);
                    let line = if c.profile.status.is_empty() {
                        presence.to_owned()
                    } else {
                        format!(
                            "{presence} · {}",
                            courier_core::text::visible(&c.profile.status, false)
                        )
                    };
                    let trust = row![
                        checkbox(settings.is_trusted(&id))
                            .label("Trusted")
                            .size(16)
                            .text_size(13)
                            .on_toggle(move |on| Message::Trust(id, on)),
                        button(text("Safety number").size(14))
                            .style(button::secondary)
                            .on_press(Message::Safety(safety::Message::Open(id))),
                    ]
                    .spacing(10)
                    .align_y(Center);
                    (
                        people.picture(c, 36.0),
                        people.name_of(&id),
                        line,
                        Some(trust.into()),
                    )
                }
                None => (
                    people::avatar_initials("?", 0, 36.0),
                    id.short(),
                    "unknown".to_owned(),
                    None,
                ),
            },
        };
        let mut bar = row![
            pic,
            column![text(name).size(18), text(line).size(12).style(style::dim)].width(Fill)
        ]
        .spacing(10)
        .align_y(Center);
        if let Some(t) = trust {
            bar = bar.push(t);
        }
        let panel_label = if self.panel.tab.is_some()
            || self.groups.page.is_some()
            || self.people.trust.page().is_some()
        {
            "Close panel"
        } else {
            "Settings & profile"
        };
        // The safety number page sits in the panel's place: the button closes it.
        let toggle = if self.people.trust.page().is_some() {
            Message::Safety(safety::Message::Close)
        } else {
            Message::Panel(panel::Message::Toggle)
        };
        bar = bar.push(
            button(text(panel_label).size(14))
                .style(button::secondary)
                .on_press(toggle),
        );
        container(bar).padding([8, 12]).width(Fill).into()
    }
}

/// "Reconnecting…" with the reason and the next attempt.
fn reconnecting<'a>(reason: &'a str, next: Option<Instant>) -> Element<'a, Message> {
    let when = next
        .map(|t| t.saturating_duration_since(Instant::now()))
        .map(|d| format!(" Next attempt in {}.", courier_core::units::duration(d)))
        .unwrap_or_default();
    container(
        row![
            text("Reconnecting…"),
            text(format!(
                "The hub was lost ({reason}).{when} What you send now goes out when it is back."
            ))
        ]
        .spacing(6),
    )
    .padding([6, 12])
    .width(Fill)
    .style(style::banner(false))
    .into()
}

/// The notice line, with a button that dismisses it.
fn notice(notice: &str) -> Element<'_, Message> {
    container(
        row![
            text(notice).width(Fill),
            button(text("Dismiss").size(13))
                .style(button::text)
                .on_press(Message::DismissNotice)
        ]
        .align_y(Center),
    )
    .padding([4, 12])
    .style(style::banner(false))
    .into()
}
