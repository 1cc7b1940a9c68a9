//! Drawing the open conversation: bubbles with their state, cards in between, an
//! earlier part opened from search, and who is typing.

use courier_core::proto::Target;
use iced::widget::{button, column, container, row, scrollable, space, text};
use iced::{Element, Fill};

use super::super::groups::{self, Groups};
use super::super::people::People;
use super::{Bubble, BubbleState, Card, Conversations, Item, Jump, Message};
use crate::{format, style};

impl Conversations {
    /// The open conversation's messages and cards, and its typing line. The parent
    /// draws the cards (`card`) and says how this view's messages become its own (`lift`).
    pub fn view<'a, M: 'a>(
        &'a self,
        people: &'a People,
        groups: &'a Groups,
        lift: fn(Message) -> M,
        card: impl Fn(Card<'a>) -> Element<'a, M>,
    ) -> Element<'a, M> {
        let mut page = column![self.messages(people, groups, lift, card)];
        let typing = self.threads.get(&self.selected).map(|c| &c.typing[..]);
        if let Some(line) = typing.and_then(|t| typing_line(t, people)) {
            page = page.push(container(text(line).size(13).style(style::dim)).padding([0, 16]));
        }
        page.height(Fill).width(Fill).into()
    }

    fn messages<'a, M: 'a>(
        &'a self,
        people: &'a People,
        groups: &'a Groups,
        lift: fn(Message) -> M,
        card: impl Fn(Card<'a>) -> Element<'a, M>,
    ) -> Element<'a, M> {
        let Some(c) = self.threads.get(&self.selected) else {
            return space::vertical().height(Fill).into();
        };
        if let Some(jump) = &c.jump {
            return self.jump_view(people, jump, lift, card);
        }
        let start = c.items.len().saturating_sub(c.shown);
        let mut list = column![].spacing(8).padding([8, 16]);
        if start > 0 || c.more {
            list = list.push(
                centered_button("Show earlier messages".to_owned(), Message::ShowEarlier).map(lift),
            );
        } else if c.items.is_empty() {
            let hint = match self.selected {
                Target::Everyone => "Say hello to everyone on the hub.",
                Target::Group(_) => {
                    "Say hello to the group, or drop files here to send them to everyone in it."
                }
                Target::Client(_) => {
                    "No messages yet. Write below, or drop files here to send them."
                }
            };
            list = list.push(
                container(text(hint).style(style::dim))
                    .center_x(Fill)
                    .padding(30),
            );
        }
        // In a group, "read by N of M" goes under our newest message.
        let newest_mine = match self.selected {
            Target::Group(_) => c.items.iter().rev().find_map(|i| match i {
                Item::Message(b) if b.from == people.me => Some(b.id),
                _ => None,
            }),
            _ => None,
        };
        for item in c.items.iter().skip(start) {
            list = list.push(match item {
                Item::Message(b) => self.bubble(people, b, false).map(lift),
                Item::Transfer(key) => card(Card::Transfer(*key)),
                Item::KeptTransfer(kept) => card(Card::KeptTransfer(kept)),
                Item::Line(e) => container(
                    text(groups::sentence(e, people, &groups.label(&e.group)))
                        .size(12)
                        .style(style::dim)
                        .center(),
                )
                .center_x(Fill)
                .into(),
            });
            if let (Item::Message(b), Target::Group(g)) = (item, self.selected)
                && Some(b.id) == newest_mine
                && let Some((read, of)) = groups.read_by(&g, b.id, &people.me)
            {
                list = list.push(self.readers(people, &read, of).map(lift));
            }
        }
        scrollable(list)
            .anchor_bottom()
            .height(Fill)
            .width(Fill)
            .into()
    }

    /// An earlier part of the conversation, opened from a search result.
    fn jump_view<'a, M: 'a>(
        &'a self,
        people: &'a People,
        jump: &'a Jump,
        lift: fn(Message) -> M,
        card: impl Fn(Card<'a>) -> Element<'a, M>,
    ) -> Element<'a, M> {
        let banner = container(
            row![
                text("An earlier part of this conversation").width(Fill),
                button(text("Back to the latest").size(13))
                    .style(button::secondary)
                    .on_press(Message::Latest)
            ]
            .align_y(iced::Center),
        )
        .padding([4, 16])
        .style(style::banner(false));
        let mut list = column![].spacing(8).padding([8, 16]);
        if jump.more_older {
            list = list.push(
                centered_button("Show earlier messages".to_owned(), Message::ShowEarlier).map(lift),
            );
        }
        // The file cards in their place among the messages (both are oldest first).
        let mut cards = jump.cards.iter().peekable();
        for b in &jump.items {
            while let Some(kept) = cards.next_if(|c| c.time <= b.time) {
                list = list.push(card(Card::KeptTransfer(kept)));
            }
            list = list.push(
                self.bubble(people, b, (b.from, b.id) == jump.found)
                    .map(lift),
            );
        }
        for kept in cards {
            list = list.push(card(Card::KeptTransfer(kept)));
        }
        list = list.push(
            if jump.more_newer {
                centered_button("Show later messages".to_owned(), Message::ShowLater)
            } else {
                centered_button("Back to the latest".to_owned(), Message::Latest)
            }
            .map(lift),
        );
        column![
            Element::from(banner).map(lift),
            scrollable(list).anchor_bottom().height(Fill).width(Fill)
        ]
        .into()
    }

    fn bubble<'a>(
        &'a self,
        people: &'a People,
        b: &'a Bubble,
        found: bool,
    ) -> Element<'a, Message> {
        let mine = b.from == people.me;
        let state = match &b.state {
            BubbleState::Received => String::new(),
            BubbleState::Unsent => " · waiting for the hub".to_owned(),
            BubbleState::Sent => " · sent".to_owned(),
            BubbleState::Delivered => " · delivered".to_owned(),
            BubbleState::Stored => " · stored for later".to_owned(),
            BubbleState::Read => " · read".to_owned(),
            BubbleState::Failed(why) => format!(" · {why}"),
            BubbleState::Unreadable(why) => format!(" · could not be opened: {why}"),
        };
        let mut body = column![].spacing(2);
        if !mine && matches!(self.selected, Target::Everyone | Target::Group(_)) {
            body = body.push(text(people.name_of(&b.from)).size(12).style(style::dim));
        }
        body = body
            // A URL or a hash has no word break: it breaks anywhere rather than run
            // past the bubble.
            .push(
                text(courier_core::text::visible(&b.text, true))
                    .size(15)
                    .wrapping(text::Wrapping::WordOrGlyph),
            )
            .push(
                text(format!("{}{state}", format::clock(b.time)))
                    .size(11)
                    .style(style::dim),
            );
        let bubble = container(body)
            .padding([6, 10])
            .max_width(520)
            .style(style::bubble_found(mine, found));
        let line = if mine {
            row![space::horizontal(), bubble]
        } else {
            row![bubble, space::horizontal()]
        };
        line.width(Fill).into()
    }
}

impl Conversations {
    /// "read by N of M" under our newest message in a group; clicked, who read it.
    fn readers<'a>(
        &self,
        people: &People,
        read: &[courier_core::proto::ClientId],
        of: usize,
    ) -> Element<'a, Message> {
        let mut lines = column![
            button(text(format!("read by {} of {of}", read.len())).size(11))
                .style(button::text)
                .padding([0, 4])
                .on_press(Message::ShowReaders)
        ]
        .align_x(iced::Right)
        .width(Fill);
        if self.readers_shown {
            let names: Vec<String> = read.iter().map(|id| people.name_of(id)).collect();
            let who = if names.is_empty() {
                "Nobody has read it yet.".to_owned()
            } else {
                format!("Read by {}.", names.join(", "))
            };
            lines = lines.push(text(who).size(11).style(style::dim));
        }
        lines.into()
    }
}

/// "Bob is typing…", "Bob and Carol are typing…", "Bob, Carol and 2 others are typing…".
fn typing_line(
    typing: &[(courier_core::proto::ClientId, std::time::Instant)],
    people: &People,
) -> Option<String> {
    let names: Vec<String> = typing.iter().map(|(who, _)| people.name_of(who)).collect();
    Some(match names.as_slice() {
        [] => return None,
        [one] => format!("{one} is typing…"),
        [a, b] => format!("{a} and {b} are typing…"),
        [a, b, c] => format!("{a}, {b} and {c} are typing…"),
        [a, b, rest @ ..] => format!("{a}, {b} and {} others are typing…", rest.len()),
    })
}

/// A centred button of the message list.
fn centered_button<'a>(label: String, on_press: Message) -> Element<'a, Message> {
    container(
        button(text(label).size(13))
            .style(button::secondary)
            .on_press(on_press),
    )
    .center_x(Fill)
    .into()
}
