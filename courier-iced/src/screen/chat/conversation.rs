//! Conversations: messages as bubbles with their delivery state, transfer cards in
//! between, who is typing, the composer, drafts, and unsent messages (written while the
//! hub was away).
//!
//! Messages are kept in the history (`courier_core::history`, through the app's
//! [`crate::history::Worker`]) as they are shown, sent or change state; a conversation
//! loads its newest page from it when first opened and pages back on "Show earlier". A
//! search result opens the conversation at the message found (a [`Jump`]: that part of
//! the history, with the way back to the latest). Nothing here waits on the file: each
//! request becomes a task whose answer comes back as [`Message::Loaded`].
//!
//! [`history`] asks and applies what the history answers, [`outbox`] sends (and holds
//! the unsent messages until the hub is there), [`composer`] is the text being written, [`view`] draws.

mod composer;
mod history;
mod outbox;
mod unreadable;
mod view;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use courier_core::history::Entry;
use courier_core::proto::{
    ClientId, Delivery, Message as ChatMessage, MsgId, RejectReason, Target, Timestamp,
};
use courier_core::session::Handle;
use iced::Task;
use iced::widget::text_editor;

use crate::history::Worker;

pub use history::{Around, Loaded, Page};

/// Messages shown at first, and added by each "show earlier".
pub const PAGE: usize = 50;
/// How long a typing indicator stays after the last typing signal.
pub const TYPING_SHOWN: Duration = Duration::from_secs(4);
/// Fewest seconds between two typing signals we send.
const TYPING_EVERY: Duration = Duration::from_secs(3);
/// Messages after a search result shown with it (it stays near the bottom, in view).
const AFTER_HIT: usize = 2;
/// Search results listed at most.
pub const FOUND: usize = 50;
/// Early receipts kept at most (see [`Conversations::receipt`]); the oldest go first.
const RECEIPTS_KEPT: usize = 4096;

/// One conversation: with a contact, or with everyone.
#[derive(Debug)]
pub struct Conversation {
    /// Messages and cards (transfer cards, kept transfers), oldest first.
    pub items: Vec<Item>,
    /// Messages not yet seen.
    pub unread: usize,
    /// Who is typing, until when (in a group, several may be), first come first.
    pub typing: Vec<(ClientId, Instant)>,
    /// How many of the newest items are shown.
    pub shown: usize,
    /// The oldest message loaded from the history (where "Show earlier" goes on).
    older: Option<i64>,
    /// Kept transfers from the history are loaded from this time on.
    cards_since: Option<Timestamp>,
    /// Whether the history may hold older messages than those loaded.
    more: bool,
    /// Whether a page of history is being loaded for it.
    loading: bool,
    /// An earlier part shown instead of the latest (a search result was opened).
    pub jump: Option<Jump>,
    /// The number of the last clear of it ([`Conversations`] counts clears): an answer
    /// of the history asked for before it is about what the clear forgot.
    cleared: u64,
}

impl Default for Conversation {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            unread: 0,
            typing: Vec::new(),
            shown: PAGE,
            older: None,
            cards_since: None,
            more: false,
            loading: false,
            jump: None,
            cleared: 0,
        }
    }
}

/// A part of a conversation's history around a message found by search.
#[derive(Debug, Clone)]
pub struct Jump {
    /// The messages, oldest first.
    pub items: Vec<Bubble>,
    /// The file cards kept between them (oldest first), shown in their place.
    pub cards: Vec<courier_core::history::KeptTransfer>,
    /// The message found.
    pub found: (ClientId, MsgId),
    older: Option<i64>,
    more_older: bool,
    newer: i64,
    more_newer: bool,
}

/// An entry of a conversation.
#[derive(Debug, Clone)]
pub enum Item {
    /// A chat message.
    Message(Bubble),
    /// A transfer card (its key among the chat's transfer cards).
    Transfer(u64),
    /// A kept transfer: one of an earlier run, from the history.
    KeptTransfer(courier_core::history::KeptTransfer),
    /// A change of a group's membership, as a line between its messages.
    Line(courier_core::proto::GroupEvent),
}

/// A card in the open conversation, for the parent to draw (the conversation
/// knows where cards go, not what they show: see [`Conversations::view`]).
#[derive(Debug, Clone, Copy)]
pub enum Card<'a> {
    /// A transfer of this run (its key among the chat's transfer cards).
    Transfer(u64),
    /// A kept transfer: one of an earlier run, from the history.
    KeptTransfer(&'a courier_core::history::KeptTransfer),
}

/// A chat message as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Bubble {
    /// The sender's id for it.
    pub id: MsgId,
    /// Who wrote it.
    pub from: ClientId,
    /// The text.
    pub text: String,
    /// When the hub took it (ours: when we sent it, until the hub says).
    pub time: Timestamp,
    /// Where it stands.
    pub state: BubbleState,
}

/// What became of a message (ours), or that it was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BubbleState {
    /// Someone else's message.
    Received,
    /// Unsent: written while the hub was away (or before the recipient was back on a
    /// restarted hub); kept in the history, sent when both are there.
    Unsent,
    /// Handed to the session; waiting for the hub's receipt.
    Sent,
    /// Delivered to the recipient.
    Delivered,
    /// The recipient is offline; the hub stores it for them.
    Stored,
    /// The recipient read it.
    Read,
    /// Not delivered.
    Failed(String),
    /// Someone's message that could not be opened (the text is a placeholder), and why.
    Unreadable(String),
}

impl BubbleState {
    /// Whether a receipt's `next` state replaces this one: read stays read (a read mark
    /// may overtake the receipt), and delivered stays delivered when a late `stored`
    /// comes (another program of this profile heard it).
    fn yields_to(&self, next: &Self) -> bool {
        *self != Self::Read && !(*self == Self::Delivered && *next == Self::Stored)
    }
}

/// Every conversation, the open one, and what is being written.
#[derive(Debug)]
pub struct Conversations {
    /// Conversations by target.
    pub threads: HashMap<Target, Conversation>,
    /// The open conversation.
    pub selected: Target,
    /// The message being written.
    pub composer: text_editor::Content,
    /// Unsent text of conversations not open.
    drafts: HashMap<Target, String>,
    /// Where each message of ours went, by its id (for receipts): those sent in this run
    /// and those loaded from the history.
    sent: HashMap<MsgId, Target>,
    /// Receipts for messages of ours not loaded yet (their page may be on its way from
    /// the history, holding the state before the receipt), oldest first, at most
    /// [`RECEIPTS_KEPT`]; applied to our own message of that id when its page comes.
    receipts: VecDeque<(MsgId, BubbleState)>,
    /// Our unsent messages (written while the hub was away), oldest first: the id each
    /// is kept (and will be sent) under, where it goes, and its text.
    unsent: Vec<(MsgId, Target, String)>,
    last_typing: Option<Instant>,
    /// The history, while it is kept.
    worker: Option<Worker>,
    /// Answers of the history asked for and not come yet.
    pending: usize,
    /// Tasks that wait for the history's answers, for the parent to run.
    tasks: Vec<Task<Message>>,
    /// A history problem not yet shown.
    problem: Option<String>,
    /// What the search field holds (a search answer for anything else is stale).
    query: String,
    /// Clears of the history so far. Every answer about what conversations hold carries
    /// the count it was asked at; one asked before its conversation's last clear is
    /// dropped (it would bring what the clear forgot back on screen).
    clears: u64,
    /// The number of the last clear of every conversation.
    all_cleared: u64,
    /// Messages found by the search field, newest first.
    pub found: Vec<Entry>,
    /// Whether the open group's "read by" lists who.
    pub readers_shown: bool,
}

/// What the user did, or what the history answered.
#[derive(Debug, Clone)]
pub enum Message {
    /// Edited the composer.
    Edit(text_editor::Action),
    /// Enter in the composer, or the Send button.
    Send,
    /// Asked for older messages.
    ShowEarlier,
    /// Asked for newer messages (in an earlier part opened from search).
    ShowLater,
    /// Leave the earlier part for the latest messages.
    Latest,
    /// The attach button.
    Attach,
    /// Clicked "read by N of M": list who, or stop.
    ShowReaders,
    /// The history answered.
    Loaded(Loaded),
}

/// What the parent has to do.
#[derive(Debug)]
pub enum Action {
    /// Nothing.
    None,
    /// Show this notice.
    Notice(String),
    /// Let the user pick files for the open conversation.
    Attach,
    /// Someone's message is shown now (the history said it is new): notify as fits.
    Received(ChatMessage),
    /// What an earlier run left unsent is back from the history: send what can go.
    SendUnsent,
    /// The history knows these groups' names (ours now or before).
    GroupNames(Vec<(courier_core::proto::GroupId, String)>),
    /// The history of `scope` (`None`: every conversation) was cleared: `n` messages.
    Cleared {
        /// Which conversation.
        scope: Option<Target>,
        /// How many messages were forgotten.
        n: u64,
    },
}

/// Where what is written goes out: the session and whether the hub is there now
/// (what sending needs from the parent).
#[derive(Debug, Clone, Copy)]
pub struct Outlet<'a> {
    /// The session, when there is one.
    pub handle: Option<&'a Handle>,
    /// Whether the hub is there now.
    pub online: bool,
}

impl Conversations {
    /// No conversation but Everyone's, which is open.
    pub fn new() -> Self {
        Self {
            threads: HashMap::from([(Target::Everyone, Conversation::default())]),
            selected: Target::Everyone,
            composer: text_editor::Content::new(),
            drafts: HashMap::new(),
            sent: HashMap::new(),
            receipts: VecDeque::new(),
            unsent: Vec::new(),
            last_typing: None,
            worker: None,
            pending: 0,
            tasks: Vec::new(),
            problem: None,
            query: String::new(),
            found: Vec::new(),
            clears: 0,
            all_cleared: 0,
            readers_shown: false,
        }
    }

    /// A history problem to show, once.
    pub fn take_problem(&mut self) -> Option<String> {
        self.problem.take()
    }

    /// The tasks that wait for the history's answers (the parent runs them).
    pub fn take_tasks(&mut self) -> Task<Message> {
        Task::batch(std::mem::take(&mut self.tasks))
    }

    /// Whether tasks wait to be taken.
    pub fn has_tasks(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// Whether answers of the history are still to come.
    pub fn history_busy(&self) -> bool {
        self.pending > 0
    }

    /// The conversation `target`, created (with its newest page of history) if needed.
    pub fn thread(&mut self, target: Target) -> &mut Conversation {
        if !self.threads.contains_key(&target) {
            let fresh = Conversation {
                more: self.worker.is_some(),
                ..Conversation::default()
            };
            self.threads.insert(target, fresh);
            self.load_earlier(target, false);
        }
        self.threads.entry(target).or_default()
    }

    /// Unread messages in `target`.
    pub fn unread(&self, target: &Target) -> usize {
        self.threads.get(target).map_or(0, |c| c.unread)
    }

    /// Unread messages everywhere.
    pub fn unread_total(&self) -> usize {
        self.threads.values().map(|c| c.unread).sum()
    }

    /// Whether a typing indicator is showing anywhere (the parent ticks while so).
    pub fn typing_shown(&self) -> bool {
        self.threads.values().any(|c| !c.typing.is_empty())
    }

    /// Clears typing indicators that ran out.
    pub fn tick(&mut self, now: Instant) {
        for c in self.threads.values_mut() {
            c.typing.retain(|(_, until)| *until > now);
        }
    }

    /// Opens `target`, keeping the draft of the one it replaces.
    pub fn open(&mut self, target: Target) {
        if target != self.selected {
            let text = self.composer.text();
            let old = std::mem::replace(&mut self.selected, target);
            let text = text.trim_end_matches('\n');
            if text.is_empty() {
                self.drafts.remove(&old);
            } else {
                self.drafts.insert(old, text.to_owned());
            }
            let draft = self.drafts.remove(&target).unwrap_or_default();
            self.composer = text_editor::Content::with_text(&draft);
        }
        self.thread(target).jump = None;
    }

    /// The conversation a message of someone else's belongs to.
    pub fn target_of(m: &ChatMessage) -> Target {
        match m.to {
            Target::Everyone => Target::Everyone,
            Target::Group(g) => Target::Group(g),
            Target::Client(_) => Target::Client(m.from),
        }
    }

    /// Someone's message arrived; it counts as unread until read. Returns it when it
    /// is shown now; `None` for one seen already (the hub may hand a message over twice
    /// after a crash), which is dropped, or one the history is asked about first (the
    /// answer brings [`Action::Received`] if it is new).
    pub fn receive(&mut self, m: ChatMessage) -> Option<ChatMessage> {
        let target = Self::target_of(&m);
        let conversation = self.thread(target);
        conversation.typing.retain(|(who, _)| *who != m.from);
        if self.shown(target, &m) {
            return None;
        }
        if self.ask_received(&m) {
            return None;
        }
        self.show_received(m.clone());
        Some(m)
    }

    /// Whether `m` is shown in `target` already.
    fn shown(&mut self, target: Target, m: &ChatMessage) -> bool {
        self.thread(target)
            .items
            .iter()
            .any(|i| key_of(i) == Some((m.from, m.id)))
    }

    /// Shows someone's message, unread: in a group, before the membership lines that
    /// come after it in the group's order (the history may have kept it waiting).
    fn show_received(&mut self, m: ChatMessage) {
        self.show_bubble(m, BubbleState::Received);
    }

    /// Shows someone's message in state `state` (see [`Conversations::show_received`]).
    fn show_bubble(&mut self, m: ChatMessage, state: BubbleState) {
        let conversation = self.thread(Self::target_of(&m));
        let mut at = conversation.items.len();
        if let Some(seq) = m.seq {
            while let Some(Item::Line(e)) =
                at.checked_sub(1).and_then(|i| conversation.items.get(i))
                && e.seq > seq
            {
                at -= 1;
            }
        }
        let bubble = Bubble {
            id: m.id,
            from: m.from,
            text: m.text,
            time: m.time,
            state,
        };
        conversation.items.insert(at, Item::Message(bubble));
        conversation.unread += 1;
    }

    /// A change of a group's membership joins its conversation and the history (once:
    /// a page of the group's log may come again after a reconnect).
    pub fn group_line(&mut self, e: courier_core::proto::GroupEvent) {
        let c = self.thread(Target::Group(e.group));
        let seen = c
            .items
            .iter()
            .any(|i| matches!(i, Item::Line(l) if l.seq == e.seq));
        if !seen {
            c.items.push(Item::Line(e.clone()));
            self.write(move |h| h.group_event(&e).map(|_| ()));
        }
    }

    /// A transfer card joins the conversation with `peer`.
    pub fn add_card(&mut self, peer: ClientId, key: u64) {
        self.thread(Target::Client(peer))
            .items
            .push(Item::Transfer(key));
    }

    /// The hub's receipt for a message of ours. One whose bubble is not loaded is kept
    /// for its page when it is one we sent (its conversation not loaded yet), or a page
    /// is being loaded (it may be of an earlier run, in that page); others are only
    /// written to the history.
    pub fn receipt(&mut self, me: ClientId, id: MsgId, status: Delivery) {
        let state = match status {
            Delivery::Delivered => BubbleState::Delivered,
            Delivery::Stored => BubbleState::Stored,
            Delivery::Rejected(r) => BubbleState::Failed(format!("not delivered: {r}")),
        };
        let kept = courier_core::history::State::of(&status);
        if let Some(b) = self.mine(me, id) {
            if b.state.yields_to(&state) {
                b.state = state;
            }
        } else if self.sent.contains_key(&id) || self.threads.values().any(|c| c.loading) {
            let overtaken = self
                .receipts
                .iter()
                .any(|(early, was)| *early == id && !was.yields_to(&state));
            if !overtaken {
                self.receipts.retain(|(early, _)| *early != id);
                self.receipts.push_back((id, state));
                while self.receipts.len() > RECEIPTS_KEPT {
                    self.receipts.pop_front();
                }
            }
        }
        self.write(move |h| h.set_state(me, id, &kept));
    }

    /// `by` read our message `id`, and so every earlier one.
    pub fn read(&mut self, me: ClientId, by: ClientId, id: MsgId) {
        let Some(c) = self.threads.get_mut(&Target::Client(by)) else {
            return;
        };
        let mut reached = false;
        let mut now_read = Vec::new();
        for item in c.items.iter_mut().rev() {
            if let Item::Message(b) = item
                && b.from == me
            {
                reached |= b.id == id;
                if reached && !matches!(b.state, BubbleState::Failed(_) | BubbleState::Read) {
                    b.state = BubbleState::Read;
                    now_read.push(b.id);
                }
            }
        }
        if !now_read.is_empty() {
            self.write(move |h| {
                h.batch(|h| {
                    for id in &now_read {
                        h.set_state(me, *id, &courier_core::history::State::Read)?;
                    }
                    Ok(())
                })
            });
        }
    }

    /// `from` is typing to us (or to everyone).
    pub fn typing(&mut self, from: ClientId, to: Target, now: Instant) {
        let target = match to {
            Target::Everyone => Target::Everyone,
            Target::Group(g) => Target::Group(g),
            Target::Client(_) => Target::Client(from),
        };
        let typing = &mut self.thread(target).typing;
        match typing.iter_mut().find(|(who, _)| *who == from) {
            Some((_, until)) => *until = now + TYPING_SHOWN,
            None => typing.push((from, now + TYPING_SHOWN)),
        }
    }

    fn mine(&mut self, me: ClientId, id: MsgId) -> Option<&mut Bubble> {
        let target = *self.sent.get(&id)?;
        self.threads
            .get_mut(&target)?
            .items
            .iter_mut()
            .rev()
            .find_map(|item| match item {
                Item::Message(b) if b.id == id && b.from == me => Some(b),
                _ => None,
            })
    }

    /// Clears the open conversation's unread count; the task tells its contact we read
    /// up to their last message.
    pub fn mark_read(&mut self, me: ClientId, handle: Option<&Handle>) -> Task<Message> {
        let target = self.selected;
        let Some(c) = self.threads.get_mut(&target) else {
            return Task::none();
        };
        let had = std::mem::take(&mut c.unread);
        let Target::Client(peer) = target else {
            return Task::none();
        };
        if had == 0 {
            return Task::none();
        }
        let last = c.items.iter().rev().find_map(|i| match i {
            Item::Message(b) if b.from != me => Some(b.id),
            _ => None,
        });
        match (last, handle.cloned()) {
            (Some(id), Some(handle)) => Task::future(async move {
                let _ = handle.mark_read(peer, id).await;
            })
            .discard(),
            _ => Task::none(),
        }
    }

    /// Handles a message.
    pub fn update(&mut self, message: Message, me: ClientId, outlet: Outlet<'_>) -> Action {
        match message {
            Message::Edit(action) => self.edit(action, outlet.handle),
            Message::Send => return self.send(me, outlet),
            Message::ShowEarlier => self.show_earlier(),
            Message::ShowLater => self.show_later(),
            Message::Latest => self.thread(self.selected).jump = None,
            Message::Attach => return Action::Attach,
            Message::ShowReaders => self.readers_shown = !self.readers_shown,
            Message::Loaded(answer) => return self.loaded(answer),
        }
        Action::None
    }

    /// Builds every message, as if the window were endless: the benchmark's baseline
    /// for what paging saves.
    #[doc(hidden)]
    pub fn unpaged(&mut self) {
        for c in self.threads.values_mut() {
            c.shown = c.items.len();
        }
    }
}

impl Default for Conversations {
    fn default() -> Self {
        Self::new()
    }
}

/// Who wrote a message item and its id (a card has none).
fn key_of(item: &Item) -> Option<(ClientId, MsgId)> {
    match item {
        Item::Message(b) => Some((b.from, b.id)),
        Item::Transfer(_) | Item::KeptTransfer(_) | Item::Line(_) => None,
    }
}

impl From<Entry> for Bubble {
    fn from(e: Entry) -> Self {
        let state = match e.state {
            courier_core::history::State::Received => BubbleState::Received,
            courier_core::history::State::Unsent => BubbleState::Unsent,
            courier_core::history::State::Delivered => BubbleState::Delivered,
            courier_core::history::State::Stored => BubbleState::Stored,
            courier_core::history::State::Read => BubbleState::Read,
            courier_core::history::State::Rejected(code) => {
                BubbleState::Failed(RejectReason::from_code(&code).map_or_else(
                    || "not delivered".to_owned(),
                    |r| format!("not delivered: {r}"),
                ))
            }
            _ => BubbleState::Sent,
        };
        Self {
            id: e.id,
            from: e.from,
            text: e.text,
            time: e.time,
            state,
        }
    }
}
