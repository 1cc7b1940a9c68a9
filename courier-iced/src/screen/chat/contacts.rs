//! The contact list: "Everyone", then every contact (online first), virtualised so a
//! thousand contacts cost no more to draw than the dozen on screen.

use courier_core::proto::{Contact, Target};
use iced::widget::{button, column, container, image, row, scrollable, space, text, text_input};
use iced::{Center, Element, Fill, Length};

use super::{Chat, Message};
use crate::style;

/// Height of one contact row, in logical pixels.
pub(super) const ROW: f32 = 60.0;

pub(super) fn view(chat: &Chat, offset: f32, height: f32) -> Element<'_, Message> {
    let search = text_input("Search contacts", &chat.search)
        .id("contact-search")
        .on_input(Message::Search)
        .padding(8);
    let everyone = entry(
        chat,
        Target::Everyone,
        avatar_initials("*", 0, 40.0),
        "Everyone".to_owned(),
        "Messages to everyone online".to_owned(),
        None,
    );

    let list = chat.listed();
    let total = list.len();
    // Only the rows in view (plus a margin) are built; spaces stand in for the rest.
    let first = ((offset / ROW).floor().max(0.0) as usize).min(total);
    let count = ((height / ROW).ceil() as usize + 2).min(total - first);
    let mut rows = column![space::vertical().height(Length::Fixed(first as f32 * ROW))];
    for c in list[first..first + count]
        .iter()
        .filter_map(|id| chat.contacts.get(id))
    {
        rows = rows.push(contact_row(chat, c));
    }
    let after = total - first - count;
    rows = rows.push(space::vertical().height(Length::Fixed(after as f32 * ROW)));

    let empty: Element<'_, Message> = if total == 0 {
        let t = if chat.search.trim().is_empty() {
            "Nobody else is on this hub yet."
        } else {
            "No contact matches."
        };
        container(text(t).size(14).style(style::dim))
            .padding(12)
            .into()
    } else {
        space::vertical().height(0).into()
    };

    column![
        container(column![text("Contacts").size(20), search].spacing(8)).padding(10),
        container(everyone).padding([0, 6]),
        empty,
        scrollable(container(rows).padding([0, 6]))
            .id("contacts")
            .on_scroll(Message::ContactsScrolled)
            .height(Fill)
    ]
    .spacing(4)
    .into()
}

fn contact_row<'a>(chat: &'a Chat, c: &'a Contact) -> Element<'a, Message> {
    let pic = picture(chat, c, 40.0);
    let presence = if c.online {
        match c.profile.presence {
            courier_core::proto::Presence::Available => "available",
            courier_core::proto::Presence::Away => "away",
            courier_core::proto::Presence::Busy => "busy",
        }
    } else {
        "offline"
    };
    let line = if c.profile.status.is_empty() {
        presence.to_owned()
    } else {
        format!("{presence} · {}", c.profile.status)
    };
    entry(
        chat,
        Target::Client(c.id),
        pic,
        chat.name_of(&c.id),
        line,
        Some((c.online, c.profile.presence)),
    )
}

/// A contact's picture: the avatar, or initials on a colour from its id.
pub(super) fn picture<'a>(chat: &'a Chat, c: &Contact, size: f32) -> Element<'a, Message> {
    match chat.avatar(&c.id) {
        Some(h) => image(h.clone()).width(size).height(size).into(),
        None => avatar_initials(&initials(&c.profile.name), c.id.0[0], size),
    }
}

pub(super) fn initials(name: &str) -> String {
    let mut words = name.split_whitespace();
    let first = words.next().and_then(|w| w.chars().next());
    let second = words.next().and_then(|w| w.chars().next());
    [first, second]
        .into_iter()
        .flatten()
        .flat_map(char::to_uppercase)
        .collect()
}

pub(super) fn avatar_initials<'a>(label: &str, seed: u8, size: f32) -> Element<'a, Message> {
    container(text(label.to_owned()).size(size * 0.4))
        .center(size)
        .style(style::initials(seed))
        .into()
}

fn entry<'a>(
    chat: &'a Chat,
    target: Target,
    pic: Element<'a, Message>,
    name: String,
    line: String,
    presence: Option<(bool, courier_core::proto::Presence)>,
) -> Element<'a, Message> {
    let unread = chat.unread(&target);
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
    let selected = chat.selected == target;
    let b = button(content)
        .width(Fill)
        .height(ROW - 4.0)
        .padding([6, 8])
        .on_press(Message::Select(target))
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
