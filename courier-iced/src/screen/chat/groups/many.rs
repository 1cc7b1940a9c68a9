//! Files to several people at once, without a group: the contacts picked in the list get
//! the same files, one card for the whole send with a line per recipient (waiting for
//! them to come online, offered, their progress, verified, declined, failed) and the
//! total. Underneath it is `courier_core::transfer::many`: one ordinary transfer per
//! recipient, the source read once for all of them.

use std::path::PathBuf;

use courier_core::proto::ClientId;
use courier_core::transfer::{self, many};
use iced::widget::{button, column, container, progress_bar, row, text};
use iced::{Center, Element, Fill};

use super::super::people::People;
use crate::style;

/// One recipient's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Not offered yet (a place is waiting: only a few copies run at once).
    Waiting,
    /// Offered; no answer yet.
    Offered,
    /// Offline: the hub keeps the offer for their next login.
    Stored,
    /// Accepted; the files are moving.
    Moving {
        /// Bytes they have.
        bytes: u64,
        /// Bytes they accepted.
        total: u64,
    },
    /// The copy was lost and is offered again.
    Retrying,
    /// How it ended.
    Settled(many::Status),
}

/// One send to several people.
#[derive(Debug)]
pub struct Card {
    /// Its number.
    pub key: u64,
    /// The files, as chosen.
    pub paths: Vec<PathBuf>,
    /// Each recipient and their line, in the order picked.
    pub lines: Vec<(ClientId, Line)>,
    /// Whether it is over (every recipient settled), and the sentence that says how.
    pub over: Option<String>,
    canceller: Option<transfer::Canceller>,
    _abort: Option<iced::task::Handle>,
}

/// Every send to several people of this run.
#[derive(Debug, Default)]
pub struct Sends {
    /// The cards, oldest first.
    pub cards: Vec<Card>,
    next: u64,
}

/// What the user did on a card, or what a send reported.
#[derive(Debug, Clone)]
pub enum Message {
    /// Files were chosen for these people (none: the dialog was closed).
    Chosen(Vec<ClientId>, Vec<PathBuf>),
    /// A send reported.
    Update(u64, many::Update),
    /// Cancel every copy of a send.
    Cancel(u64),
    /// Remove a card that is over.
    Dismiss(u64),
}

impl Sends {
    /// Starts sending `paths` to `to`: the card, and the task that runs the copies
    /// (removing the card stops them).
    pub fn start(
        &mut self,
        handle: courier_core::session::Handle,
        to: Vec<ClientId>,
        paths: Vec<PathBuf>,
    ) -> iced::Task<Message> {
        let key = self.next;
        self.next += 1;
        let stream = many::send(
            handle,
            to.clone(),
            paths.clone(),
            transfer::Options::default(),
            many::Config::default(),
        );
        let canceller = stream.canceller();
        let (task, abort) = iced::Task::run(stream, move |u| Message::Update(key, u)).abortable();
        self.cards.push(Card {
            key,
            paths,
            lines: to.into_iter().map(|id| (id, Line::Waiting)).collect(),
            over: None,
            canceller: Some(canceller),
            _abort: Some(abort.abort_on_drop()),
        });
        task
    }

    /// A card with nothing running behind it (tests of the window's layout).
    #[cfg(test)]
    pub(crate) fn show(&mut self, to: Vec<ClientId>, paths: Vec<PathBuf>) {
        self.cards.push(Card {
            key: self.next,
            paths,
            lines: to.into_iter().map(|id| (id, Line::Waiting)).collect(),
            over: None,
            canceller: None,
            _abort: None,
        });
        self.next += 1;
    }

    /// Handles a card's message (not [`Message::Chosen`], which the window starts).
    pub fn update(&mut self, message: Message) {
        match message {
            Message::Chosen(..) => {}
            Message::Update(key, update) => {
                if let Some(card) = self.cards.iter_mut().find(|c| c.key == key) {
                    card.apply(update);
                }
            }
            Message::Cancel(key) => {
                if let Some(c) = self.cards.iter_mut().find(|c| c.key == key)
                    && let Some(canceller) = c.canceller.take()
                {
                    canceller.cancel();
                }
            }
            Message::Dismiss(key) => self.cards.retain(|c| c.key != key),
        }
    }

    /// Draws every card.
    pub fn view<'a>(&'a self, people: &'a People) -> Element<'a, Message> {
        let mut cards = column![].spacing(6);
        for card in &self.cards {
            cards = cards.push(card.view(people));
        }
        cards.into()
    }
}

impl Card {
    fn line_of(&mut self, to: ClientId) -> Option<&mut Line> {
        self.lines
            .iter_mut()
            .find(|(id, _)| *id == to)
            .map(|(_, l)| l)
    }

    fn apply(&mut self, update: many::Update) {
        match update {
            many::Update::Started { to, .. } => {
                if let Some(l) = self.line_of(to) {
                    *l = Line::Offered;
                }
            }
            many::Update::Transfer { to, update } => {
                let Some(l) = self.line_of(to) else {
                    return;
                };
                match update {
                    transfer::Update::Stored { .. } => *l = Line::Stored,
                    transfer::Update::Progress(p) => {
                        *l = Line::Moving {
                            bytes: p.bytes,
                            total: p.total,
                        };
                    }
                    transfer::Update::Accepted { .. } | transfer::Update::Connected { .. }
                        if !matches!(l, Line::Moving { .. }) =>
                    {
                        *l = Line::Moving { bytes: 0, total: 0 };
                    }
                    _ => {}
                }
            }
            many::Update::Retrying { to, .. } => {
                if let Some(l) = self.line_of(to) {
                    *l = Line::Retrying;
                }
            }
            many::Update::Settled(outcome) => {
                if let Some(l) = self.line_of(outcome.to) {
                    *l = Line::Settled(outcome.status);
                }
                // Over once everyone is settled (the end's report says the same).
                if self
                    .lines
                    .iter()
                    .all(|(_, l)| matches!(l, Line::Settled(_)))
                {
                    self.end(None);
                }
            }
            many::Update::Finished(Ok(report)) => {
                for o in report.outcomes {
                    if let Some(l) = self.line_of(o.to) {
                        *l = Line::Settled(o.status);
                    }
                }
                self.end(None);
            }
            many::Update::Finished(Err(e)) => self.end(Some(format!("The send stopped: {e}."))),
            _ => {}
        }
    }

    /// The send is over: said by `why`, or by the recipients' lines.
    fn end(&mut self, why: Option<String>) {
        self.canceller = None;
        let failed = self.lines.iter().any(|(_, l)| {
            !matches!(
                l,
                Line::Settled(many::Status::Verified | many::Status::Declined)
            )
        });
        self.over = Some(why.unwrap_or_else(|| {
            if failed {
                "Not every copy arrived: see each line.".to_owned()
            } else {
                "Every copy accepted arrived, verified.".to_owned()
            }
        }));
    }

    fn view<'a>(&'a self, people: &'a People) -> Element<'a, Message> {
        let names: Vec<String> = self
            .paths
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        let n = self.lines.len();
        let done = self
            .lines
            .iter()
            .filter(|(_, l)| *l == Line::Settled(many::Status::Verified))
            .count();
        let mut body = column![
            row![
                text(format!("{} to {n} people", names.join(", ")))
                    .size(14)
                    .width(Fill),
                text(format!("{done} of {n} verified"))
                    .size(12)
                    .style(style::dim),
            ]
            .spacing(8)
            .align_y(Center)
        ]
        .spacing(4);
        for (id, line) in &self.lines {
            let (word, fraction) = line_words(line);
            let mut r = row![text(people.name_of(id)).size(13).width(140)]
                .spacing(8)
                .align_y(Center);
            if let Some(f) = fraction {
                r = r.push(progress_bar(0.0..=1.0, f).girth(6).length(120));
            }
            body = body.push(r.push(text(word).size(12).style(style::dim)));
        }
        let button_row = match &self.over {
            Some(sentence) => row![
                text(sentence.as_str()).size(12).width(Fill),
                button(text("Dismiss").size(13))
                    .style(button::text)
                    .on_press(Message::Dismiss(self.key))
            ],
            None => row![
                space_fill(),
                button(text("Cancel").size(13))
                    .style(button::secondary)
                    .on_press(Message::Cancel(self.key))
            ],
        };
        container(body.push(button_row.align_y(Center)))
            .padding([8, 12])
            .width(Fill)
            .style(style::card)
            .into()
    }
}

fn space_fill<'a>() -> Element<'a, Message> {
    iced::widget::space::horizontal().into()
}

/// A recipient's line in words, with how far along when moving.
fn line_words(line: &Line) -> (String, Option<f32>) {
    match line {
        Line::Waiting => ("waiting for a place".into(), None),
        Line::Offered => ("offered, waiting for an answer".into(), None),
        Line::Stored => ("offline: offered when they come online".into(), None),
        Line::Moving { bytes, total } => {
            let f = if *total == 0 {
                0.0
            } else {
                *bytes as f32 / *total as f32
            };
            (
                format!(
                    "{} of {}",
                    courier_core::units::size(*bytes),
                    courier_core::units::size(*total)
                ),
                Some(f),
            )
        }
        Line::Retrying => ("the link was lost: offered again".into(), None),
        Line::Settled(many::Status::Verified) => ("verified".into(), None),
        Line::Settled(many::Status::Declined) => ("declined".into(), None),
        Line::Settled(many::Status::Cancelled) => ("cancelled".into(), None),
        Line::Settled(many::Status::Failed) => ("failed".into(), None),
        Line::Settled(many::Status::Pending) => ("not settled".into(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::chat::tests::{chat_with, contact};

    fn outcome(to: u8, status: many::Status) -> many::Outcome {
        many::Outcome {
            to: ClientId([to; 32]),
            status,
            offline: false,
            accepted: Some(1),
            verified: usize::from(status == many::Status::Verified),
            bytes: 10,
            total: 10,
            attempts: 1,
            summary: None,
            error: None,
        }
    }

    /// One card for the whole send, a line per recipient following what the coordinator
    /// reports (offline, moving, verified, declined), and how it ended.
    #[test]
    fn a_send_to_several_shows_each_recipient_and_the_end() {
        let chat = chat_with(vec![
            contact(2, "Bob"),
            contact(3, "Carol"),
            contact(4, "Dan"),
        ]);
        let (bob, carol, dan) = (ClientId([2; 32]), ClientId([3; 32]), ClientId([4; 32]));
        let mut card = Card {
            key: 0,
            paths: vec![PathBuf::from("/tmp/handout.pdf")],
            lines: [bob, carol, dan].map(|id| (id, Line::Waiting)).to_vec(),
            over: None,
            canceller: None,
            _abort: None,
        };
        card.apply(many::Update::Started {
            to: bob,
            attempt: 1,
        });
        card.apply(many::Update::Transfer {
            to: dan,
            update: transfer::Update::Stored {
                id: courier_core::proto::TransferId(1),
            },
        });
        card.apply(many::Update::Transfer {
            to: bob,
            update: transfer::Update::Progress(transfer::Progress {
                file: Some(0),
                file_bytes: 5,
                file_size: 10,
                bytes: 5,
                total: 10,
                rate: 1.0,
                eta: None,
            }),
        });
        card.apply(many::Update::Settled(outcome(3, many::Status::Declined)));
        let shows = |card: &Card, what: &str| {
            let mut ui = iced_test::simulator(card.view(&chat.people));
            ui.find(what).is_ok()
        };
        assert!(shows(&card, "handout.pdf to 3 people"));
        assert!(shows(&card, "5 B of 10 B"), "Bob's progress");
        assert!(shows(&card, "declined"), "Carol's answer");
        assert!(
            shows(&card, "offline: offered when they come online"),
            "Dan's"
        );
        assert!(shows(&card, "Cancel"));
        card.apply(many::Update::Settled(outcome(2, many::Status::Verified)));
        assert!(card.over.is_none(), "Dan is not settled yet");
        card.apply(many::Update::Finished(Ok(many::Report {
            outcomes: vec![
                outcome(2, many::Status::Verified),
                outcome(3, many::Status::Declined),
                outcome(4, many::Status::Verified),
            ],
            read_from_disk: 10,
        })));
        assert!(shows(&card, "2 of 3 verified"));
        assert!(shows(&card, "Every copy accepted arrived, verified."));
        assert!(shows(&card, "Dismiss"));
    }
}
