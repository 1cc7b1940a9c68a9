//! Drawing the open conversation: bubbles with their state, cards in between, an
//! earlier part opened from search, and who is typing.

use courier_core::proto::Target;
use iced::widget::{button, column, container, row, scrollable, space, text};
use iced::{Element, Fill};

use super::super::people::People;
use super::{Bubble, BubbleState, Card, Conversations, Item, Jump, Message};
use crate::{format, style};

impl Conversations {
    /// The open conversation's messages and cards, and its typing line. The parent
    /// draws the cards (`card`) and says how this view's messages become its own (`lift`).
    pub fn view<'a, M: 'a>(
        &'a self,
        people: &'a People,
        lift: fn(Message) -> M,
        card: impl Fn(Card<'a>) -> Element<'a, M>,
    ) -> Element<'a, M> {
        let mut page = column![self.messages(people, lift, card)];
        if let Some((who, _)) = self.threads.get(&self.selected).and_then(|c| c.typing) {
            page = page.push(
                container(
                    text(format!("{} is typing…", people.name_of(&who)))
                        .size(13)
                        .style(style::dim),
                )
                .padding([0, 16]),
            );
        }
        page.height(Fill).width(Fill).into()
    }

    fn messages<'a, M: 'a>(
        &'a self,
        people: &'a People,
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
                Target::Group(_) => "Say hello to the group.",
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
        for item in &c.items[start..] {
            list = list.push(match item {
                Item::Message(b) => self.bubble(people, b, false).map(lift),
                Item::Transfer(key) => card(Card::Transfer(*key)),
                Item::KeptTransfer(kept) => card(Card::KeptTransfer(kept)),
            });
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
        };
        let mut body = column![].spacing(2);
        if !mine && self.selected == Target::Everyone {
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
