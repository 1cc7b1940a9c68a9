//! Conversations: messages as bubbles with their delivery state, file cards in between,
//! who is typing, the composer, drafts, and messages written while the hub was away.
//!
//! Messages are kept in the history (`courier_core::history`) as they are shown, sent or
//! change state; a conversation loads its newest page from it when first opened and
//! pages back on "Show earlier". A search result opens the conversation at the message
//! found (a [`Jump`]: that part of the history, with the way back to the latest).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use courier_core::history::{self, Entry, History};
use courier_core::proto::{
    ClientId, Delivery, Message as ChatMessage, MsgId, RejectReason, Target, Timestamp,
};
use courier_core::session::Handle;
use iced::keyboard::{Key, key::Named};
use iced::widget::text_editor::{Binding, KeyPress};
use iced::widget::{button, column, container, row, scrollable, space, text, text_editor};
use iced::{Element, Fill, Task};

use super::people::People;
use super::transfers::{self, Transfers};
use crate::{format, style};

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

/// One conversation: with a contact, or with everyone.
#[derive(Debug)]
pub struct Conversation {
    /// Messages and file cards, oldest first.
    pub items: Vec<Item>,
    /// Messages not yet seen.
    pub unread: usize,
    /// Who is typing, until when.
    pub typing: Option<(ClientId, Instant)>,
    /// How many of the newest items are shown.
    pub shown: usize,
    /// The oldest message loaded from the history (where "Show earlier" goes on).
    older: Option<i64>,
    /// File cards from the history are loaded from this time on.
    cards_since: Option<Timestamp>,
    /// Whether the history may hold older messages than those loaded.
    more: bool,
    /// An earlier part shown instead of the latest (a search result was opened).
    pub jump: Option<Jump>,
}

impl Default for Conversation {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            unread: 0,
            typing: None,
            shown: PAGE,
            older: None,
            cards_since: None,
            more: false,
            jump: None,
        }
    }
}

/// A part of a conversation's history around a message found by search.
#[derive(Debug, Clone)]
pub struct Jump {
    /// The messages, oldest first.
    pub items: Vec<Bubble>,
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
    /// A file card (its key in [`Transfers`]).
    Transfer(u64),
    /// A file card of an earlier run, from the history.
    Kept(history::FileCard),
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
    /// Written while the hub was away (or before the recipient was back on a restarted
    /// hub): kept here, sent when both are there.
    Waiting,
    /// Handed to the session; waiting for the hub's receipt.
    Sent,
    /// Delivered to the recipient.
    Delivered,
    /// The recipient is offline; the hub keeps it for them.
    Stored,
    /// The recipient read it.
    Read,
    /// Not delivered.
    Failed(String),
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
    /// Where each message we sent went, by its id (for receipts).
    sent: HashMap<MsgId, Target>,
    /// Our messages written while the hub was away, oldest first: the id each is kept
    /// (and will be sent) under, where it goes, and its text.
    waiting: Vec<(MsgId, Target, String)>,
    last_typing: Option<Instant>,
    /// The history, when it could be opened.
    history: Option<History>,
    /// A history problem not yet shown.
    problem: Option<String>,
    /// Messages found by the search field, newest first.
    pub found: Vec<Entry>,
}

/// What the user did.
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
    /// Something on a file card.
    Card(transfers::Message),
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
    /// Pass this to the file cards.
    Card(transfers::Message),
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
            waiting: Vec::new(),
            last_typing: None,
            history: None,
            problem: None,
            found: Vec::new(),
        }
    }

    /// Keeps messages in `history` from now on; conversations already open load their
    /// newest page from it.
    pub fn keep_history(&mut self, history: History) {
        // What an earlier run wrote while the hub was away is sent now.
        match history.waiting() {
            Ok(entries) => {
                for e in entries.into_iter().filter(|e| e.outgoing) {
                    if !self.waiting.iter().any(|(id, _, _)| *id == e.id) {
                        self.waiting.push((e.id, e.peer, e.text));
                    }
                }
            }
            Err(e) => self.problem = Some(format!("The history could not be read: {e}")),
        }
        self.history = Some(history);
        let targets: Vec<Target> = self.threads.keys().copied().collect();
        for target in targets {
            if let Some(c) = self.threads.get_mut(&target) {
                c.more = true;
            }
            self.load_earlier(target);
        }
    }

    /// The history, if kept.
    pub fn history(&self) -> Option<&History> {
        self.history.as_ref()
    }

    /// A history problem to show, once.
    pub fn take_problem(&mut self) -> Option<String> {
        self.problem.take()
    }

    fn keep<T>(&mut self, result: Result<T, courier_core::sqlite::Error>) -> Option<T> {
        match result {
            Ok(t) => Some(t),
            Err(e) => {
                self.problem = Some(format!("The history was not saved: {e}"));
                None
            }
        }
    }

    /// The conversation `target`, created (with its newest page of history) if needed.
    pub fn thread(&mut self, target: Target) -> &mut Conversation {
        if !self.threads.contains_key(&target) {
            let fresh = Conversation {
                more: self.history.is_some(),
                ..Conversation::default()
            };
            self.threads.insert(target, fresh);
            self.load_earlier(target);
        }
        self.threads.entry(target).or_default()
    }

    /// Loads the page of history before the oldest message loaded in `target`, skipping
    /// what is already there. Returns how many messages were added.
    fn load_earlier(&mut self, target: Target) -> usize {
        let (Some(h), Some(c)) = (&self.history, self.threads.get_mut(&target)) else {
            return 0;
        };
        if !c.more {
            return 0;
        }
        let entries = match h.page(Some(target), c.older, PAGE) {
            Ok(entries) => entries,
            Err(e) => {
                c.more = false;
                self.problem = Some(format!("The history could not be read: {e}"));
                return 0;
            }
        };
        c.more = entries.len() == PAGE;
        if let Some(oldest) = entries.last() {
            c.older = Some(oldest.seq);
        }
        // File cards (with a contact) of the same stretch of time: from the oldest
        // message of the page (or the very start, on the last page) to where the
        // previous page began.
        let since = if c.more {
            entries.last().map_or(Timestamp(0), |e| e.time)
        } else {
            Timestamp(0)
        };
        let cards = match target {
            Target::Client(peer) => h
                .file_cards(Some(peer), since, c.cards_since, 4 * PAGE)
                .unwrap_or_default(),
            Target::Everyone => Vec::new(),
        };
        c.cards_since = Some(since);
        let known: HashSet<(ClientId, MsgId)> = c.items.iter().filter_map(key_of).collect();
        let items: Vec<Item> = entries
            .into_iter()
            .rev()
            .filter(|e| !known.contains(&(e.from, e.id)))
            .map(|e| Item::Message(Bubble::from(e)))
            .collect();
        let added = items.len();
        // Interleaved by time: both lists are oldest first.
        let mut merged = Vec::with_capacity(items.len() + cards.len());
        let mut cards = cards.into_iter().peekable();
        for item in items {
            if let Item::Message(b) = &item {
                while let Some(card) = cards.next_if(|card| card.time <= b.time) {
                    merged.push(Item::Kept(card));
                }
            }
            merged.push(item);
        }
        merged.extend(cards.map(Item::Kept));
        merged.append(&mut c.items);
        c.items = merged;
        added
    }

    /// Keeps file cards whose transfers are over in the history.
    pub fn keep_cards(&mut self, cards: Vec<history::FileCard>) {
        if let Some(h) = &self.history {
            for card in &cards {
                if let Err(e) = h.file_card(card) {
                    self.problem = Some(format!("The history was not saved: {e}"));
                }
            }
        }
    }

    /// Finds messages with every word of `query` across conversations (as typed:
    /// the last word may be unfinished). Clears the results for an empty query.
    pub fn search(&mut self, query: &str) {
        self.found = match &self.history {
            Some(h) if !query.trim().is_empty() => {
                let found = h.search(query, FOUND);
                self.keep(found).unwrap_or_default()
            }
            _ => Vec::new(),
        };
    }

    /// Opens `entry`'s conversation at it: the page of history that ends a couple of
    /// messages after it, with the message marked.
    pub fn open_at(&mut self, entry: &Entry) {
        self.open(entry.peer);
        let Some(h) = &self.history else {
            return;
        };
        let before = h.page(Some(entry.peer), Some(entry.seq.saturating_add(1)), PAGE);
        let after = h.page_after(entry.peer, entry.seq, AFTER_HIT);
        let (before, after) = match (before, after) {
            (Ok(b), Ok(a)) => (b, a),
            (Err(e), _) | (_, Err(e)) => {
                self.problem = Some(format!("The history could not be read: {e}"));
                return;
            }
        };
        let more_older = before.len() == PAGE;
        let older = before.last().map(|e| e.seq);
        let more_newer = after.len() == AFTER_HIT;
        let newer = after.last().map_or(entry.seq, |e| e.seq);
        let items = before
            .into_iter()
            .rev()
            .chain(after)
            .map(Bubble::from)
            .collect();
        self.thread(entry.peer).jump = Some(Jump {
            items,
            found: (entry.from, entry.id),
            older,
            more_older,
            newer,
            more_newer,
        });
    }

    /// Forgets the history of `target` (`None`: of every conversation), here and in
    /// the file. Returns how many messages were forgotten.
    pub fn clear_history(&mut self, target: Option<Target>) -> u64 {
        let cleared = match &self.history {
            Some(h) => {
                let n = h.clear(target);
                self.keep(n).unwrap_or(0)
            }
            None => 0,
        };
        for (t, c) in &mut self.threads {
            if target.is_none_or(|target| target == *t) {
                c.items.retain(|i| matches!(i, Item::Transfer(_)));
                c.jump = None;
                c.more = false;
                c.older = None;
            }
        }
        self.found.clear();
        cleared
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
        self.threads.values().any(|c| c.typing.is_some())
    }

    /// Clears typing indicators that ran out.
    pub fn tick(&mut self, now: Instant) {
        for c in self.threads.values_mut() {
            if c.typing.is_some_and(|(_, until)| until <= now) {
                c.typing = None;
            }
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
            Target::Client(_) => Target::Client(m.from),
        }
    }

    /// Someone's message arrived; it counts as unread until read. Returns false for
    /// one seen already (the hub may hand a message over twice after a crash), which
    /// is dropped.
    pub fn receive(&mut self, m: ChatMessage) -> bool {
        let target = Self::target_of(&m);
        let conversation = self.thread(target);
        if conversation.typing.is_some_and(|(who, _)| who == m.from) {
            conversation.typing = None;
        }
        let shown = conversation
            .items
            .iter()
            .any(|i| key_of(i) == Some((m.from, m.id)));
        if shown {
            return false;
        }
        if let Some(h) = &self.history {
            let kept = h.received(&m);
            if self.keep(kept) == Some(false) {
                // Kept before: shown in an earlier session.
                return false;
            }
        }
        let conversation = self.thread(target);
        conversation.items.push(Item::Message(Bubble {
            id: m.id,
            from: m.from,
            text: m.text,
            time: m.time,
            state: BubbleState::Received,
        }));
        conversation.unread += 1;
        true
    }

    /// A file card joins the conversation with `peer`.
    pub fn add_card(&mut self, peer: ClientId, key: u64) {
        self.thread(Target::Client(peer))
            .items
            .push(Item::Transfer(key));
    }

    /// The hub's receipt for a message of ours.
    pub fn receipt(&mut self, me: ClientId, id: MsgId, status: Delivery) {
        let state = match status {
            Delivery::Delivered => BubbleState::Delivered,
            Delivery::Stored => BubbleState::Stored,
            Delivery::Rejected(r) => BubbleState::Failed(rejection(r).to_owned()),
        };
        let kept = history::State::of(&status);
        if let Some(b) = self.mine(me, id) {
            // A read receipt may have overtaken the delivery receipt.
            if b.state != BubbleState::Read {
                b.state = state;
            }
        }
        if let Some(h) = &self.history {
            let saved = h.set_state(me, id, &kept);
            self.keep(saved);
        }
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
        if let Some(h) = &mut self.history {
            let saved = h.batch(|h| {
                for id in &now_read {
                    h.set_state(me, *id, &history::State::Read)?;
                }
                Ok(())
            });
            self.keep(saved);
        }
    }

    /// `from` is typing to us (or to everyone).
    pub fn typing(&mut self, from: ClientId, to: Target, now: Instant) {
        let target = match to {
            Target::Everyone => Target::Everyone,
            Target::Client(_) => Target::Client(from),
        };
        self.thread(target).typing = Some((from, now + TYPING_SHOWN));
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
    pub fn update(&mut self, message: Message, me: ClientId, link: Outlet<'_>) -> Action {
        match message {
            Message::Edit(action) => {
                let edit = action.is_edit();
                self.composer.perform(action);
                if edit {
                    self.signal_typing(link.handle);
                }
            }
            Message::Send => return self.send(me, link),
            Message::ShowEarlier => self.show_earlier(),
            Message::ShowLater => self.show_later(),
            Message::Latest => self.thread(self.selected).jump = None,
            Message::Attach => return Action::Attach,
            Message::Card(m) => return Action::Card(m),
        }
        Action::None
    }

    fn show_earlier(&mut self) {
        let target = self.selected;
        if let Some(jump) = self.thread(target).jump.take() {
            let jump = self.jump_earlier(target, jump);
            self.thread(target).jump = Some(jump);
            return;
        }
        let c = self.thread(target);
        if c.shown >= c.items.len() {
            self.load_earlier(target);
        }
        let c = self.thread(target);
        c.shown = (c.shown + PAGE).min(c.items.len());
    }

    fn jump_earlier(&mut self, target: Target, mut jump: Jump) -> Jump {
        if !jump.more_older {
            return jump;
        }
        let Some(h) = &self.history else {
            return jump;
        };
        let page = h.page(Some(target), jump.older, PAGE);
        if let Some(page) = self.keep(page) {
            jump.more_older = page.len() == PAGE;
            if let Some(oldest) = page.last() {
                jump.older = Some(oldest.seq);
            }
            let mut items: Vec<Bubble> = page.into_iter().rev().map(Bubble::from).collect();
            items.append(&mut jump.items);
            jump.items = items;
        }
        jump
    }

    fn show_later(&mut self) {
        let target = self.selected;
        let Some(mut jump) = self.thread(target).jump.take() else {
            return;
        };
        if let Some(h) = &self.history {
            let page = h.page_after(target, jump.newer, PAGE);
            if let Some(page) = self.keep(page) {
                jump.more_newer = page.len() == PAGE;
                if let Some(newest) = page.last() {
                    jump.newer = newest.seq;
                }
                jump.items.extend(page.into_iter().map(Bubble::from));
            }
        }
        // Reached the newest: the conversation as usual.
        if jump.more_newer {
            self.thread(target).jump = Some(jump);
        }
    }

    fn signal_typing(&mut self, handle: Option<&Handle>) {
        let now = Instant::now();
        if self
            .last_typing
            .is_some_and(|t| now.duration_since(t) < TYPING_EVERY)
        {
            return;
        }
        if let Some(h) = handle
            && h.typing(self.selected).is_ok()
        {
            self.last_typing = Some(now);
        }
    }

    fn send(&mut self, me: ClientId, link: Outlet<'_>) -> Action {
        let text = self.composer.text();
        let text = text.trim_matches(|c: char| c == '\n' || c == '\r');
        if text.trim().is_empty() {
            return Action::None;
        }
        if text.len() > courier_core::limits::MAX_TEXT {
            return Action::Notice(format!(
                "The message is too long ({}); the limit is {}.",
                courier_core::units::size(text.len() as u64),
                courier_core::units::size(courier_core::limits::MAX_TEXT as u64)
            ));
        }
        let Some(handle) = link.handle else {
            return Action::Notice("Not connected to the hub.".into());
        };
        let target = self.selected;
        let text = text.to_owned();
        if !link.online {
            // Kept here rather than in the session's queue: after a hub restart the
            // recipient may not be back yet, and the hub would refuse it as unknown.
            // Kept in the history at once (under the id it will be sent with): a
            // stopped or killed app sends it at its next start.
            let id = MsgId::random();
            self.waiting.push((id, target, text.clone()));
            let time = self.push_mine(me, target, id, text.clone(), BubbleState::Waiting);
            if let Some(h) = &self.history {
                let kept = h.written(me, id, target, &text, time);
                self.keep(kept);
            }
        } else {
            match handle.try_send_message(target, text.as_str()) {
                Ok(id) => {
                    self.sent.insert(id, target);
                    let time = self.push_mine(me, target, id, text.clone(), BubbleState::Sent);
                    if let Some(h) = &self.history {
                        let kept = h.sent(me, id, target, &text, time);
                        self.keep(kept);
                    }
                }
                // The text stays in the composer: nothing typed is lost.
                Err(e) => return Action::Notice(format!("Not sent ({e}); your text is kept.")),
            }
        }
        self.composer = text_editor::Content::new();
        self.last_typing = None;
        self.thread(target).jump = None;
        Action::None
    }

    fn push_mine(
        &mut self,
        me: ClientId,
        target: Target,
        id: MsgId,
        text: String,
        state: BubbleState,
    ) -> Timestamp {
        let time = Timestamp::now();
        let bubble = Bubble {
            id,
            from: me,
            text,
            time,
            state,
        };
        self.thread(target).items.push(Item::Message(bubble));
        time
    }

    /// Sends what was written while the hub was away, to everyone and to each recipient
    /// `known` says the hub knows again; the rest keeps waiting for its recipient.
    pub fn flush_waiting(
        &mut self,
        me: ClientId,
        handle: &Handle,
        known: impl Fn(&ClientId) -> bool,
    ) {
        let waiting = std::mem::take(&mut self.waiting);
        for (id, target, text) in waiting {
            let ready = match target {
                Target::Everyone => true,
                Target::Client(peer) => known(&peer),
            };
            if !ready
                || handle
                    .try_send_message_as(id, target, text.as_str())
                    .is_err()
            {
                self.waiting.push((id, target, text));
                continue;
            }
            self.sent.insert(id, target);
            // The bubble, if its conversation is loaded (else its page shows it sent).
            if let Some(c) = self.threads.get_mut(&target) {
                for item in &mut c.items {
                    if let Item::Message(b) = item
                        && b.id == id
                        && b.from == me
                    {
                        b.state = BubbleState::Sent;
                    }
                }
            }
            if let Some(h) = &self.history
                && let Err(e) = h.set_state(me, id, &history::State::Sent)
            {
                self.problem = Some(format!("The history was not saved: {e}"));
            }
        }
    }

    /// Whether messages wait for the hub.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Builds every message, as if the window were endless: the benchmark's baseline
    /// for what paging saves.
    #[doc(hidden)]
    pub fn unpaged(&mut self) {
        for c in self.threads.values_mut() {
            c.shown = c.items.len();
        }
    }

    /// The open conversation's messages and cards, and its typing line.
    pub fn view<'a>(&'a self, people: &'a People, cards: &'a Transfers) -> Element<'a, Message> {
        let mut page = column![self.messages(people, cards)];
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

    fn messages<'a>(&'a self, people: &'a People, cards: &'a Transfers) -> Element<'a, Message> {
        let Some(c) = self.threads.get(&self.selected) else {
            return space::vertical().height(Fill).into();
        };
        if let Some(jump) = &c.jump {
            return self.jump_view(people, jump);
        }
        let start = c.items.len().saturating_sub(c.shown);
        let mut list = column![].spacing(8).padding([8, 16]);
        if start > 0 || c.more {
            list = list.push(centered_button(
                "Show earlier messages".to_owned(),
                Message::ShowEarlier,
            ));
        } else if c.items.is_empty() {
            let hint = match self.selected {
                Target::Everyone => "Say hello to everyone on the hub.",
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
                Item::Message(b) => self.bubble(people, b, false),
                Item::Transfer(key) => cards.view(*key, people).map(Message::Card),
                Item::Kept(card) => transfers::kept_view(card, people, |dir| {
                    Message::Card(transfers::Message::OpenFolder(dir))
                }),
            });
        }
        scrollable(list)
            .anchor_bottom()
            .height(Fill)
            .width(Fill)
            .into()
    }

    /// An earlier part of the conversation, opened from a search result.
    fn jump_view<'a>(&'a self, people: &'a People, jump: &'a Jump) -> Element<'a, Message> {
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
            list = list.push(centered_button(
                "Show earlier messages".to_owned(),
                Message::ShowEarlier,
            ));
        }
        for b in &jump.items {
            list = list.push(self.bubble(people, b, (b.from, b.id) == jump.found));
        }
        list = list.push(if jump.more_newer {
            centered_button("Show later messages".to_owned(), Message::ShowLater)
        } else {
            centered_button("Back to the latest".to_owned(), Message::Latest)
        });
        column![
            banner,
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
            BubbleState::Waiting => " · waiting for the hub".to_owned(),
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
            .push(text(courier_core::text::visible(&b.text, true)).size(15))
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

    /// The composer: Attach, the text, Send.
    pub fn composer<'a>(&'a self, people: &'a People) -> Element<'a, Message> {
        let placeholder = match self.selected {
            Target::Everyone => "Message everyone (Enter sends)".to_owned(),
            Target::Client(id) => format!(
                "Message {} (Enter sends)",
                people
                    .get(&id)
                    .map_or_else(|| id.short(), |_| people.name_of(&id))
            ),
        };
        let editor = text_editor(&self.composer)
            .id("composer")
            .placeholder(placeholder)
            .on_action(Message::Edit)
            .key_binding(enter_sends)
            .padding(8)
            .height(iced::Length::Shrink)
            .max_height(160);
        let attach = button(text("Attach"))
            .style(button::secondary)
            .on_press_maybe(matches!(self.selected, Target::Client(_)).then_some(Message::Attach));
        container(
            row![attach, editor, button(text("Send")).on_press(Message::Send)]
                .spacing(8)
                .align_y(iced::Bottom),
        )
        .padding([8, 12])
        .align_right(Fill)
        .into()
    }
}

impl Default for Conversations {
    fn default() -> Self {
        Self::new()
    }
}

/// Enter sends; Shift+Enter (and everything else) edits as usual.
fn enter_sends(press: KeyPress) -> Option<Binding<Message>> {
    if matches!(press.status, text_editor::Status::Focused { .. })
        && let Key::Named(Named::Enter) = press.key
        && !press.modifiers.shift()
    {
        return Some(Binding::Custom(Message::Send));
    }
    Binding::from_key_press(press)
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

/// Who wrote a message item and its id (a card has none).
fn key_of(item: &Item) -> Option<(ClientId, MsgId)> {
    match item {
        Item::Message(b) => Some((b.from, b.id)),
        Item::Transfer(_) | Item::Kept(_) => None,
    }
}

impl From<Entry> for Bubble {
    fn from(e: Entry) -> Self {
        let state = match e.state {
            history::State::Received => BubbleState::Received,
            history::State::Waiting => BubbleState::Waiting,
            history::State::Delivered => BubbleState::Delivered,
            history::State::Stored => BubbleState::Stored,
            history::State::Read => BubbleState::Read,
            history::State::Rejected(code) => BubbleState::Failed(
                RejectReason::from_code(&code)
                    .map_or("not delivered", rejection)
                    .to_owned(),
            ),
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

fn rejection(r: RejectReason) -> &'static str {
    match r {
        RejectReason::NoSuchPeer => "not delivered: no such contact",
        RejectReason::BadText => "not delivered: empty or too long",
        RejectReason::RateLimited => "not delivered: sending too fast",
        RejectReason::QueueFull => "not delivered: their offline queue is full",
        RejectReason::NotKept => "not delivered: they are offline and the hub could not keep it",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::chat::tests::{chat_with, contact};
    use crate::screen::chat::{self, Chat};
    use crate::settings::Settings;
    use courier_core::session::Event;
    use iced_test::simulator;

    fn send_ours(chat: &mut Chat, bob: Target, n: u64) {
        let me = chat.people.me;
        chat.conversations.sent.insert(MsgId(n), bob);
        chat.conversations
            .thread(bob)
            .items
            .push(Item::Message(Bubble {
                id: MsgId(n),
                from: me,
                text: format!("m{n}"),
                time: Timestamp(0),
                state: BubbleState::Sent,
            }));
    }

    #[test]
    fn receipts_and_reads_update_our_bubbles() {
        let settings = Settings::default();
        let mut chat = chat_with(vec![contact(2, "Bob")]);
        let bob = Target::Client(ClientId([2; 32]));
        for n in 1..=3 {
            send_ours(&mut chat, bob, n);
        }
        let states = |chat: &Chat| -> Vec<BubbleState> {
            chat.conversations.threads[&bob]
                .items
                .iter()
                .filter_map(|i| match i {
                    Item::Message(b) => Some(b.state.clone()),
                    Item::Transfer(_) | Item::Kept(_) => None,
                })
                .collect()
        };
        for (n, status) in [
            (1, Delivery::Delivered),
            (3, Delivery::Stored),
            (2, Delivery::Rejected(RejectReason::RateLimited)),
        ] {
            chat.session_event(
                Event::Receipt {
                    id: MsgId(n),
                    status,
                },
                &settings,
            );
        }
        assert_eq!(
            states(&chat),
            vec![
                BubbleState::Delivered,
                BubbleState::Failed("not delivered: sending too fast".into()),
                BubbleState::Stored
            ]
        );
        chat.session_event(
            Event::Read {
                by: ClientId([2; 32]),
                id: MsgId(3),
            },
            &settings,
        );
        assert_eq!(
            states(&chat),
            vec![
                BubbleState::Read,
                BubbleState::Failed("not delivered: sending too fast".into()),
                BubbleState::Read
            ],
            "a read covers every earlier delivered message, not failed ones"
        );
    }

    #[test]
    fn enter_sends_and_shift_enter_breaks_the_line() {
        use iced::keyboard::{Event as Key, Location, Modifiers};
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![]);
        let press = |modifiers| {
            let key = iced::keyboard::Key::Named(Named::Enter);
            [
                iced::Event::Keyboard(Key::KeyPressed {
                    key: key.clone(),
                    modified_key: key.clone(),
                    physical_key: iced::keyboard::key::Physical::Code(
                        iced::keyboard::key::Code::Enter,
                    ),
                    location: Location::Standard,
                    modifiers,
                    text: Some("\n".into()),
                    repeat: false,
                }),
                iced::Event::Keyboard(Key::KeyReleased {
                    key: key.clone(),
                    modified_key: key,
                    physical_key: iced::keyboard::key::Physical::Code(
                        iced::keyboard::key::Code::Enter,
                    ),
                    location: Location::Standard,
                    modifiers,
                }),
            ]
        };
        let sends = |messages: &[chat::Message]| {
            messages
                .iter()
                .filter(|m| matches!(m, chat::Message::Conversation(Message::Send)))
                .count()
        };
        let messages: Vec<chat::Message> = {
            let view_settings = settings.clone();
            let mut ui = simulator(chat.view(&view_settings));
            let _ = ui.click(iced::widget::Id::new("composer"));
            ui.typewrite("line one");
            ui.simulate(press(Modifiers::SHIFT));
            ui.typewrite("line two");
            ui.into_messages().collect()
        };
        assert_eq!(sends(&messages), 0, "Shift+Enter does not send");
        for m in messages {
            chat.update(m, &mut settings);
        }
        assert_eq!(
            chat.conversations.composer.text().trim_end(),
            "line one\nline two"
        );

        let messages: Vec<chat::Message> = {
            let view_settings = settings.clone();
            let mut ui = simulator(chat.view(&view_settings));
            let _ = ui.click(iced::widget::Id::new("composer"));
            ui.simulate(press(Modifiers::empty()));
            ui.into_messages().collect()
        };
        assert_eq!(sends(&messages), 1, "Enter sends");
        assert!(
            !messages
                .iter()
                .any(|m| matches!(m, chat::Message::Conversation(Message::Edit(a)) if a.is_edit())),
            "and adds no line"
        );
    }

    #[test]
    fn typing_indicator_shows_and_expires() {
        let settings = Settings::default();
        let mut chat = chat_with(vec![contact(2, "Bob")]);
        chat.session_event(
            Event::Typing {
                from: ClientId([2; 32]),
                to: Target::Everyone,
            },
            &settings,
        );
        assert!(chat.conversations.typing_shown());
        assert!(chat::tests::shows(&chat, &settings, "Bob is typing…"));
        chat.tick(Instant::now() + TYPING_SHOWN + Duration::from_millis(1));
        assert!(!chat.conversations.typing_shown());
    }
}
