//! The contact list: "Everyone", the groups we are in (by name, with "New group"), then
//! every contact (online first), virtualised so a thousand contacts cost no more to draw
//! than the dozen on screen, with the search field and the messages it found. It reads
//! [`People`] (who is who), [`Groups`] and a [`Listing`] the parent fills in from the
//! conversations; it imports no other feature.

use courier_core::history::Entry;
use courier_core::proto::{ClientId, Contact, Presence, Target};
use courier_core::text as untrusted;
use iced::widget::{button, column, container, row, scrollable, space, text, text_input};
use iced::{Center, Element, Fill, Length};

use super::groups::Groups;
use super::people::{People, avatar_initials, presence_word};
use crate::style;

/// What the list shows of the conversations: which is open, what is unread, and the
/// messages the search found (newest first).
#[derive(Clone, Copy)]
pub struct Listing<'a> {
    /// The open conversation.
    pub selected: Target,
    /// Messages not yet seen in a conversation.
    pub unread: &'a dyn Fn(&Target) -> usize,
    /// Messages the search found, newest first.
    pub found: &'a [Entry],
    /// The groups we are in.
    pub groups: &'a Groups,
}

impl std::fmt::Debug for Listing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing")
            .field("selected", &self.selected)
            .field("found", &self.found.len())
            .finish_non_exhaustive()
    }
}

/// Height of one contact row, in logical pixels.
const ROW: f32 = 60.0;
/// Height of a heading of the list ("Groups" with "New group", "People").
const HEADING: f32 = 36.0;

/// What the user did in the list.
#[derive(Debug, Clone)]
pub enum Message {
    /// Typed in the search field.
    Search(String),
    /// Scrolled the list.
    Scrolled(iced::widget::scrollable::Viewport),
    /// Picked a conversation.
    Select(Target),
    /// Picked a message the search found (its place in [`Listing::found`]).
    OpenFound(usize),
    /// Pressed "New group".
    NewGroup,
    /// Pressed "Send to several": the contacts' rows pick instead of opening.
    StartPicking,
    /// Picked or unpicked a contact.
    Pick(ClientId),
    /// Pressed "Send files…" under the contacts picked.
    SendToPicked,
    /// Stopped picking.
    StopPicking,
}

/// What the list asks of the groups (the window routes it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Open the New group form.
    NewGroup,
    /// Choose files for these contacts.
    SendFiles(Vec<ClientId>),
}

/// What the parent has to do.
#[derive(Debug)]
pub enum Action {
    /// Nothing.
    None,
    /// Open this conversation.
    Open(Target),
    /// Open the conversation at the message found (its place in the results).
    OpenFound(usize),
    /// Something about groups.
    Groups(Intent),
}

/// Handles a message.
pub fn update(people: &mut People, message: Message) -> Action {
    match message {
        Message::Search(s) => people.set_search(s),
        Message::Scrolled(viewport) => {
            people.scrolled(viewport.absolute_offset().y, viewport.bounds().height);
        }
        Message::Select(target) => return Action::Open(target),
        Message::OpenFound(n) => return Action::OpenFound(n),
        Message::NewGroup => return Action::Groups(Intent::NewGroup),
        Message::StartPicking => people.picked = Some(Default::default()),
        Message::Pick(id) => {
            if let Some(picked) = &mut people.picked
                && !picked.remove(&id)
            {
                picked.insert(id);
            }
        }
        Message::SendToPicked => {
            let picked = people.picked.take().unwrap_or_default();
            if !picked.is_empty() {
                return Action::Groups(Intent::SendFiles(picked.into_iter().collect()));
            }
        }
        Message::StopPicking => people.picked = None,
    }
    Action::None
}

/// Draws the list; `threads` says which conversation is open and what is unread.
pub fn view<'a>(people: &'a People, threads: Listing<'_>) -> Element<'a, Message> {
    let this = people;
    let search = text_input("Search contacts and messages", &this.search)
        .id("contact-search")
        .on_input(Message::Search)
        .padding(8);
    let everyone = entry(
        threads,
        Target::Everyone,
        avatar_initials("*", 0, 40.0),
        "Everyone".to_owned(),
        "Messages to everyone online".to_owned(),
        None,
        None,
    );
    let list = this.listed();
    let total = list.len();
    // The groups come first in the scrolled list (a member is in a bounded number of
    // them: all are built), then the contacts.
    let groups = threads.groups.listed(&this.search);
    let above = 2.0 * HEADING + groups.len() as f32 * ROW;
    let mut rows = column![groups_heading()];
    for g in &groups {
        let n = g.members.len();
        rows = rows.push(entry(
            threads,
            Target::Group(g.id),
            avatar_initials("#", 0, 40.0),
            threads.groups.label(&g.id),
            format!("{n} member{}", if n == 1 { "" } else { "s" }),
            None,
            None,
        ));
    }
    rows = rows.push(people_heading(this.picked.is_some()));
    // Only the rows in view (plus a margin) are built; spaces stand in for the rest.
    let offset = (this.viewport().0 - above).max(0.0);
    let first = ((offset / ROW).floor().max(0.0) as usize).min(total);
    let count = ((this.viewport().1 / ROW).ceil() as usize + 2).min(total - first);
    rows = rows.push(space::vertical().height(Length::Fixed(first as f32 * ROW)));
    for c in list[first..first + count]
        .iter()
        .filter_map(|id| this.list.get(id))
    {
        rows = rows.push(contact_row(this, threads, c));
    }
    let after = total - first - count;
    rows = rows.push(space::vertical().height(Length::Fixed(after as f32 * ROW)));
    let searching = !this.search.trim().is_empty();
    if total == 0 {
        let t = if !searching {
            "Nobody else is on this hub yet."
        } else {
            "No contact matches."
        };
        rows = rows.push(container(text(t).size(14).style(style::dim)).padding(12));
    }
    if searching {
        rows = rows.push(found(this, threads));
    }
    let page = column![
        container(column![text("Contacts").size(20), search].spacing(8)).padding(10),
        container(everyone).padding([0, 6]),
        scrollable(container(rows).padding([0, 6]))
            .id("contacts")
            .on_scroll(Message::Scrolled)
            .height(Fill)
    ]
    .spacing(4);
    match &this.picked {
        Some(picked) => page.push(picking_bar(picked.len())).into(),
        None => page.into(),
    }
}

/// The messages the search found, newest first: where, who, when and the text.
fn found<'a>(this: &'a People, threads: Listing<'_>) -> Element<'a, Message> {
    let mut list = column![
        text(if threads.found.is_empty() {
            "No message matches."
        } else {
            "Messages"
        })
        .size(13)
        .style(style::dim)
    ]
    .spacing(4)
    .padding([8, 4]);
    for (n, e) in threads.found.iter().enumerate() {
        let place = match e.peer {
            Target::Everyone => "Everyone".to_owned(),
            Target::Group(g) => threads.groups.label(&g),
            Target::Client(id) => this.name_of(&id),
        };
        let who = if e.outgoing {
            "You".to_owned()
        } else {
            this.name_of(&e.from)
        };
        let text_start: String = e.text.chars().take(120).collect();
        let line = format!("{who}: {}", untrusted::visible(&text_start, false));
        let content = column![
            row![
                text(place).size(14).width(Fill),
                text(crate::format::day_and_clock(e.time))
                    .size(11)
                    .style(style::dim)
            ]
            .align_y(Center),
            text(line)
                .size(12)
                .style(style::dim)
                .wrapping(text::Wrapping::None)
        ]
        .spacing(2);
        list = list.push(
            button(content)
                .width(Fill)
                .padding([6, 8])
                .style(button::text)
                .on_press(Message::OpenFound(n)),
        );
    }
    list.into()
}

/// "People", and the button that starts picking contacts to send files to (or stops).
fn people_heading<'a>(picking: bool) -> Element<'a, Message> {
    let (label, message) = if picking {
        ("Stop picking", Message::StopPicking)
    } else {
        ("Send to several", Message::StartPicking)
    };
    heading(
        row![
            text("People").size(13).style(style::dim).width(Fill),
            button(text(label).size(13))
                .style(button::secondary)
                .padding([2, 8])
                .on_press(message)
        ]
        .align_y(Center),
    )
}

/// Under the list while picking: how many are picked, and Send files….
fn picking_bar<'a>(picked: usize) -> Element<'a, Message> {
    container(
        row![
            text(format!("{picked} picked")).size(13).width(Fill),
            button(text("Send files…").size(13))
                .on_press_maybe((picked > 0).then_some(Message::SendToPicked)),
        ]
        .align_y(Center),
    )
    .padding([6, 10])
    .width(Fill)
    .into()
}

/// "Groups", and the button that opens the New group form.
fn groups_heading<'a>() -> Element<'a, Message> {
    heading(
        row![
            text("Groups").size(13).style(style::dim).width(Fill),
            button(text("New group").size(13))
                .style(button::secondary)
                .padding([2, 8])
                .on_press(Message::NewGroup)
        ]
        .align_y(Center),
    )
}

/// A heading of the list, of a fixed height (the rows below are placed by it).
fn heading<'a>(content: impl Into<Element<'a, Message>>) -> Element<'a, Message> {
    container(content)
        .padding([4, 8])
        .height(HEADING)
        .align_y(iced::alignment::Vertical::Bottom)
        .into()
}

fn contact_row<'a>(this: &'a People, threads: Listing<'_>, c: &'a Contact) -> Element<'a, Message> {
    let presence = presence_word(c);
    let mut line = if c.profile.status.is_empty() {
        presence.to_owned()
    } else {
        format!(
            "{presence} · {}",
            untrusted::visible(&c.profile.status, false)
        )
    };
    if this.trust.is_verified(&c.id) {
        line = format!("Verified · {line}");
    } else if this.trust.conflict(&c.id).is_some() {
        line = format!("Not the verified device · {line}");
    }
    entry(
        threads,
        Target::Client(c.id),
        this.picture(c, 40.0),
        this.name_of(&c.id),
        line,
        Some((c.online, c.profile.presence)),
        this.picked.as_ref().map(|p| p.contains(&c.id)),
    )
}

fn entry<'a>(
    threads: Listing<'_>,
    target: Target,
    pic: Element<'a, Message>,
    name: String,
    line: String,
    presence: Option<(bool, Presence)>,
    picked: Option<bool>,
) -> Element<'a, Message> {
    let unread = (threads.unread)(&target);
    // While picking, a contact's row picks it (and shows so) instead of opening it.
    let (press, selected, line) = match (picked, target) {
        (Some(on), Target::Client(id)) => (
            Message::Pick(id),
            on,
            if on { "picked".to_owned() } else { line },
        ),
        _ => (Message::Select(target), threads.selected == target, line),
    };
    let dot: Element<'a, Message> = match presence {
        Some((online, p)) => container(space::horizontal().width(10).height(10))
            .style(move |theme: &iced::Theme| iced::widget::container::Style {
                background: Some(iced::Background::Color(style::presence_color(
                    theme,
                    online.then_some(p),
                ))),
                border: iced::Border::default().rounded(5),
                ..Default::default()
            })
            .into(),
        None => space::horizontal().width(10).into(),
    };
    let mut line_row = row![
        column![
            row![text(name).size(15).width(Fill), dot]
                .spacing(6)
                .align_y(Center),
            text(line)
                .size(12)
                .style(style::dim)
                .wrapping(text::Wrapping::None)
        ]
        .spacing(2)
        .width(Fill)
    ]
    .spacing(6)
    .align_y(Center);
    if unread > 0 {
        line_row = line_row.push(
            container(text(unread.to_string()).size(12))
                .padding([1, 7])
                .style(style::badge),
        );
    }
    let content = row![pic, line_row].spacing(10).align_y(Center);
    let b = button(content)
        .width(Fill)
        .height(ROW - 4.0)
        .padding([6, 8])
        .on_press(press)
        .style(if selected {
            selected_style
        } else {
            button::text
        });
    container(b).height(ROW).into()
}

/// The selected row looks the same whatever the pointer does.
fn selected_style(theme: &iced::Theme, _status: button::Status) -> button::Style {
    let c = style::selected(theme);
    button::Style {
        background: c.background,
        text_color: c.text_color.unwrap_or(theme.palette().text),
        border: c.border,
        ..button::Style::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::screen::chat::tests::{chat_with, contact, interact, shows};
    use crate::settings::Settings;
    use courier_core::proto::ClientId;

    #[test]
    fn look_alike_contacts_get_id_tags_and_search_filters() -> Result<(), iced_test::Error> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![
            contact(2, "Bob"),
            contact(3, "bob"),
            contact(4, "Carol"),
        ]);
        let label = chat.people.list.label(&ClientId([2; 32]));
        assert_ne!(label, "Bob", "same-looking names carry an id tag");
        assert!(shows(&chat, &settings, &label));
        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click(iced::widget::Id::new("contact-search"));
            ui.typewrite("car");
        });
        assert_eq!(chat.people.search, "car");
        assert!(shows(&chat, &settings, "Carol"));
        assert!(!shows(&chat, &settings, &label));
        Ok(())
    }

    /// Issue 22: a contact whose name looks like ours (here "Аda" with a Cyrillic А,
    /// or "ada") carries an id tag in our window, as the notification's title does.
    #[test]
    fn a_look_alike_of_our_own_name_is_tagged() {
        let settings = Settings::default();
        for look_alike in ["\u{410}da", "ada"] {
            let chat = chat_with(vec![contact(2, look_alike), contact(4, "Carol")]);
            let id = ClientId([2; 32]);
            let name = chat.people.name_of(&id);
            assert!(name.ends_with(&format!("[{}]", id.short())), "{name}");
            assert!(shows(&chat, &settings, &name));
            assert_eq!(chat.people.name_of(&ClientId([4; 32])), "Carol");
        }
    }
}
