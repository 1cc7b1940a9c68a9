//! The open conversation: header, messages and file cards, typing line, composer.

use courier_core::proto::Target;
use iced::keyboard::{Key, key::Named};
use iced::widget::text_editor::{Binding, KeyPress};
use iced::widget::{
    button, checkbox, column, container, progress_bar, row, scrollable, space, text, text_editor,
};
use iced::{Center, Element, Fill};

use super::contacts::{avatar_initials, picture};
use super::{Bubble, Card, CardState, Chat, Connection, Delivery2, Item, Message};
use crate::settings::Settings;
use crate::{format, style};

/// Files listed on a card before "and N more".
const FILES_LISTED: usize = 6;

pub(super) fn view<'a>(chat: &'a Chat, settings: &'a Settings) -> Element<'a, Message> {
    let mut page = column![header(chat, settings)];
    if let Connection::Reconnecting { reason, next } = &chat.connection {
        let when = next
            .map(|t| t.saturating_duration_since(std::time::Instant::now()))
            .map(|d| format!(" Next attempt in {}.", format::duration(d)))
            .unwrap_or_default();
        page = page.push(
            container(row![
                text("Reconnecting…"),
                text(format!(
                    "The hub was lost ({reason}).{when} What you send now goes out when it is back."
                ))
            ].spacing(6))
            .padding([6, 12])
            .width(Fill)
            .style(style::banner(false)),
        );
    }
    page = page.push(messages(chat));
    if let Some((who, _)) = chat
        .conversations
        .get(&chat.selected)
        .and_then(|c| c.typing)
    {
        page = page.push(
            container(
                text(format!("{} is typing…", chat.name_of(&who)))
                    .size(13)
                    .style(style::dim),
            )
            .padding([0, 16]),
        );
    }
    if let Some(notice) = &chat.notice {
        page = page.push(
            container(
                row![
                    text(notice.clone()).width(Fill),
                    button(text("Dismiss").size(13))
                        .style(button::text)
                        .on_press(Message::DismissNotice)
                ]
                .align_y(Center),
            )
            .padding([4, 12])
            .style(style::banner(false)),
        );
    }
    page.push(composer(chat)).height(Fill).width(Fill).into()
}

fn header<'a>(chat: &'a Chat, settings: &'a Settings) -> Element<'a, Message> {
    let (pic, name, line, trust): (
        Element<'a, Message>,
        String,
        String,
        Option<Element<'a, Message>>,
    ) = match chat.selected {
        Target::Everyone => (
            avatar_initials("*", 0, 36.0),
            "Everyone".to_owned(),
            format!(
                "{} online",
                chat.contacts.iter().filter(|c| c.online).count() + 1
            ),
            None,
        ),
        Target::Client(id) => match chat.contacts.get(&id) {
            Some(c) => {
                let presence = if c.online {
                    format!("{:?}", c.profile.presence).to_lowercase()
                } else {
                    "offline".to_owned()
                };
                let line = if c.profile.status.is_empty() {
                    presence
                } else {
                    format!("{presence} · {}", c.profile.status)
                };
                let trust = checkbox(settings.is_trusted(&id))
                    .label("Trusted")
                    .size(16)
                    .text_size(13)
                    .on_toggle(move |on| Message::Trust(id, on));
                (
                    picture(chat, c, 36.0),
                    chat.name_of(&id),
                    line,
                    Some(trust.into()),
                )
            }
            None => (
                avatar_initials("?", 0, 36.0),
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
    let panel_label = if chat.panel.is_some() {
        "Close panel"
    } else {
        "Settings & profile"
    };
    bar = bar.push(
        button(text(panel_label).size(14))
            .style(button::secondary)
            .on_press(Message::TogglePanel),
    );
    container(bar).padding([8, 12]).width(Fill).into()
}

fn messages(chat: &Chat) -> Element<'_, Message> {
    let Some(c) = chat.conversations.get(&chat.selected) else {
        return space::vertical().height(Fill).into();
    };
    let start = c.items.len().saturating_sub(c.shown);
    let mut list = column![].spacing(8).padding([8, 16]);
    if start > 0 {
        list = list.push(
            container(
                button(text(format!("Show earlier messages ({start} more)")).size(13))
                    .style(button::secondary)
                    .on_press(Message::ShowEarlier),
            )
            .center_x(Fill),
        );
    } else if c.items.is_empty() {
        let hint = match chat.selected {
            Target::Everyone => "Say hello to everyone on the hub.",
            Target::Client(_) => "No messages yet. Write below, or drop files here to send them.",
        };
        list = list.push(
            container(text(hint).style(style::dim))
                .center_x(Fill)
                .padding(30),
        );
    }
    for item in &c.items[start..] {
        list = list.push(match item {
            Item::Message(b) => bubble(chat, b),
            Item::Transfer(key) => match chat.transfers.get(key) {
                Some(card) => file_card(chat, *key, card),
                None => space::vertical().height(0).into(),
            },
        });
    }
    scrollable(list)
        .anchor_bottom()
        .height(Fill)
        .width(Fill)
        .into()
}

fn bubble<'a>(chat: &'a Chat, b: &'a Bubble) -> Element<'a, Message> {
    let mine = b.from == chat.me;
    let state = match &b.state {
        Delivery2::Received => String::new(),
        Delivery2::Waiting => " · waiting for the hub".to_owned(),
        Delivery2::Sent => " · sent".to_owned(),
        Delivery2::Delivered => " · delivered".to_owned(),
        Delivery2::Stored => " · stored for later".to_owned(),
        Delivery2::Read => " · read".to_owned(),
        Delivery2::Failed(why) => format!(" · {why}"),
    };
    let mut body = column![].spacing(2);
    if !mine && chat.selected == Target::Everyone {
        body = body.push(text(chat.name_of(&b.from)).size(12).style(style::dim));
    }
    body = body.push(text(b.text.as_str()).size(15)).push(
        text(format!("{}{state}", format::clock(b.time)))
            .size(11)
            .style(style::dim),
    );
    let bubble = container(body)
        .padding([6, 10])
        .max_width(520)
        .style(style::bubble(mine));
    let line = if mine {
        row![space::horizontal(), bubble]
    } else {
        row![bubble, space::horizontal()]
    };
    line.width(Fill).into()
}

fn file_card<'a>(chat: &'a Chat, key: u64, card: &'a Card) -> Element<'a, Message> {
    let who = chat.name_of(&card.peer);
    let count = card.files.len();
    let what = match (count, card.folders) {
        (0, 0) => "files".to_owned(),
        (1, 0) => "1 file".to_owned(),
        (n, 0) => format!("{n} files"),
        (n, f) => format!("{n} files and {f} empty folders"),
    };
    let title = if card.outgoing {
        format!("To {who}: {what}, {}", format::size(card.total))
    } else {
        format!("{who} sends {what}, {}", format::size(card.total))
    };
    let mut body = column![text(title).size(15)].spacing(6);
    let listed = if card.expanded {
        card.files.len()
    } else {
        FILES_LISTED
    };
    for f in card.files.iter().take(listed) {
        body = body.push(
            row![
                text(f.path.as_str())
                    .size(13)
                    .width(Fill)
                    .wrapping(text::Wrapping::WordOrGlyph),
                text(format::size(f.size)).size(13).style(style::dim)
            ]
            .spacing(8),
        );
    }
    if count > listed {
        body = body.push(
            row![
                text(format!("and {} more", count - listed))
                    .size(13)
                    .style(style::dim)
                    .width(Fill),
                button(text(format!("Show all {count} files")).size(13))
                    .style(button::text)
                    .on_press(Message::Expand(key))
            ]
            .align_y(Center),
        );
    }
    let route = card.route.map(|r| format!("{r}")).unwrap_or_default();
    match &card.state {
        CardState::Preparing => body = body.push(text("Reading the files…").size(13)),
        CardState::Waiting => {
            body = body.push(
                row![
                    text("Waiting for them to accept…").size(13).width(Fill),
                    button(text("Cancel").size(13))
                        .style(button::secondary)
                        .on_press(Message::Cancel(key))
                ]
                .align_y(Center),
            );
        }
        CardState::Incoming => {
            body = body.push(
                row![
                    space::horizontal(),
                    button(text("Decline"))
                        .style(button::secondary)
                        .on_press(Message::Decline(key)),
                    button(text("Accept"))
                        .style(button::primary)
                        .on_press(Message::Accept(key))
                ]
                .spacing(8),
            );
        }
        CardState::Connecting | CardState::Running => {
            let (done, total, rate, eta) = match &card.progress {
                Some(p) => (p.bytes, p.total, p.rate, p.eta),
                None => (0, card.total, 0.0, None),
            };
            let fraction = if total == 0 {
                0.0
            } else {
                done as f32 / total as f32
            };
            let status = if card.state == CardState::Connecting {
                "Connecting…".to_owned()
            } else {
                let eta = eta
                    .map(|d| format!(" · {} left", format::duration(d)))
                    .unwrap_or_default();
                format!(
                    "{} of {} · {}{eta} · {route}",
                    format::size(done),
                    format::size(total),
                    format::rate(rate)
                )
            };
            body = body.push(progress_bar(0.0..=1.0, fraction).girth(8)).push(
                row![
                    text(status).size(13).width(Fill),
                    button(text("Cancel").size(13))
                        .style(button::secondary)
                        .on_press(Message::Cancel(key))
                ]
                .spacing(8)
                .align_y(Center),
            );
        }
        CardState::Done(summary) => {
            let mut line =
                row![text(format!("{summary} · {route}")).size(13).width(Fill)].align_y(Center);
            if let Some(dir) = &card.saved_in
                && !card.outgoing
            {
                line = line.push(
                    button(text("Open folder").size(13))
                        .style(button::secondary)
                        .on_press(Message::OpenFolder(dir.clone())),
                );
            }
            body = body.push(line);
        }
        CardState::Declined(why) | CardState::Failed(why) => {
            body = body.push(text(why.as_str()).size(13).style(style::error));
        }
    }
    let card_box = container(body)
        .padding(12)
        .max_width(560)
        .style(style::card);
    let line = if card.outgoing {
        row![space::horizontal(), card_box]
    } else {
        row![card_box, space::horizontal()]
    };
    line.width(Fill).into()
}

fn composer(chat: &Chat) -> Element<'_, Message> {
    let placeholder = match chat.selected {
        Target::Everyone => "Message everyone (Enter sends)".to_owned(),
        Target::Client(id) => format!(
            "Message {} (Enter sends)",
            chat.contacts
                .get(&id)
                .map_or_else(|| id.short(), |c| c.profile.name.clone())
        ),
    };
    let editor = text_editor(&chat.composer)
        .id("composer")
        .placeholder(placeholder)
        .on_action(Message::Edit)
        .key_binding(enter_sends)
        .padding(8)
        .height(iced::Length::Shrink)
        .max_height(160);
    let attach = button(text("Attach"))
        .style(button::secondary)
        .on_press_maybe(matches!(chat.selected, Target::Client(_)).then_some(Message::Attach));
    container(
        row![attach, editor, button(text("Send")).on_press(Message::Send)]
            .spacing(8)
            .align_y(iced::Bottom),
    )
    .padding([8, 12])
    .align_right(Fill)
    .into()
}

/// Enter sends; Shift+Enter (and everything else) edits as usual.
pub(super) fn enter_sends(press: KeyPress) -> Option<Binding<Message>> {
    if matches!(press.status, text_editor::Status::Focused { .. })
        && let Key::Named(Named::Enter) = press.key
        && !press.modifiers.shift()
    {
        return Some(Binding::Custom(Message::Send));
    }
    Binding::from_key_press(press)
}
