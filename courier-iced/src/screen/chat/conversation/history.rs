//! What the conversations ask of the history, and what they do with its answers. Every
//! request goes to the [`Worker`] at once (so requests keep their order) and leaves a
//! task that brings the answer back as [`Message::Loaded`].

use std::collections::HashSet;

use courier_core::history::{Entry, History, KeptGroupEvent, KeptTransfer};
use courier_core::proto::{ClientId, GroupId, Message as ChatMessage, MsgId, Target, Timestamp};
use iced::Task;

use super::{AFTER_HIT, Action, Bubble, Conversations, FOUND, Item, Jump, Message, PAGE, key_of};
use crate::history::{Found, Worker};

/// A page of messages (newest first), the kept transfers of the same time (oldest
/// first), where they were loaded from, and (in a group) the membership changes among
/// them (oldest first); or why not.
pub type Page = Result<
    (
        Vec<Entry>,
        Vec<KeptTransfer>,
        Timestamp,
        Vec<KeptGroupEvent>,
    ),
    String,
>;
/// The messages before a message found (newest first) and after it, and the kept
/// transfers between the first and the last (oldest first); or why not.
pub type Around = Result<(Vec<Entry>, Vec<Entry>, Vec<KeptTransfer>), String>;

/// More messages of a search result's part of a conversation, and the file cards kept
/// among them (oldest first); or why not.
pub(super) type JumpPage = Result<(Vec<Entry>, Vec<KeptTransfer>), String>;

/// What the history answered (`None` inside: there is no history). An answer about
/// what conversations hold carries `epoch`, the count of clears when it was asked: one
/// asked before its conversation was cleared is dropped.
#[derive(Debug, Clone)]
pub enum Loaded {
    /// The unsent messages an earlier run left (written while the hub was away).
    Unsent {
        /// Clears when asked.
        epoch: u64,
        /// The messages.
        entries: Option<Result<Vec<Entry>, String>>,
    },
    /// A page of `target`'s messages before those loaded, with the kept transfers of the
    /// same stretch of time; `grow` shows a page more once it is in ("Show earlier").
    Page {
        /// Clears when asked.
        epoch: u64,
        /// Whose conversation.
        target: Target,
        /// Whether the user asked for it.
        grow: bool,
        /// The messages (newest first), the cards (oldest first), and where cards were
        /// loaded from.
        page: Option<Page>,
    },
    /// Messages a search found.
    Found {
        /// Clears when asked.
        epoch: u64,
        /// What was found, for which query.
        found: Found,
    },
    /// The part of a conversation around a message found: before it (newest first, the
    /// message included) and after it (oldest first).
    Jumped {
        /// Clears when asked.
        epoch: u64,
        /// The message found.
        entry: Entry,
        /// The messages around it (boxed: the largest answer).
        around: Option<Box<Around>>,
    },
    /// More of an earlier part opened from search: older (`earlier`) or newer messages.
    JumpPage {
        /// Clears when asked.
        epoch: u64,
        /// Whose conversation.
        target: Target,
        /// Older (newest first) or newer (oldest first).
        earlier: bool,
        /// The messages, and the file cards kept among them (oldest first).
        page: Option<JumpPage>,
    },
    /// Whether someone's message is new to the history (else shown in an earlier run).
    Received {
        /// Clears when asked.
        epoch: u64,
        /// The message.
        message: ChatMessage,
        /// What the history said.
        new: Option<Result<bool, String>>,
    },
    /// The history of `scope` (`None`: of everyone) was cleared: how many messages.
    Cleared {
        /// Which conversation.
        scope: Option<Target>,
        /// How many messages.
        n: Option<Result<u64, String>>,
    },
    /// A write went through, or why not.
    Saved(Option<Result<(), String>>),
    /// The names of the groups we are in or were in, as the history knows them.
    GroupNames(Option<Result<Vec<(GroupId, String)>, String>>),
}

impl Conversations {
    /// Keeps messages in the history behind `worker` from now on: the unsent messages
    /// an earlier run left are asked for, and conversations already open load
    /// their newest page.
    pub fn keep_history(&mut self, worker: Worker) {
        self.worker = Some(worker);
        let epoch = self.clears;
        self.request(
            |h| h.unsent_messages().map_err(|e| e.to_string()),
            move |entries| Loaded::Unsent { epoch, entries },
        );
        self.request(
            |h| h.known_groups().map_err(|e| e.to_string()),
            Loaded::GroupNames,
        );
        let targets: Vec<Target> = self.threads.keys().copied().collect();
        for target in targets {
            if let Some(c) = self.threads.get_mut(&target) {
                c.more = true;
            }
            self.load_earlier(target, false);
        }
    }

    /// The history could not be opened: nothing more is asked of it.
    pub fn drop_history(&mut self) {
        self.worker = None;
        for c in self.threads.values_mut() {
            c.more = false;
        }
    }

    /// Asks `job` of the history; its answer comes back as `answer(..)`. False when no
    /// history is kept.
    pub(super) fn request<T: Send + 'static>(
        &mut self,
        job: impl FnOnce(&mut History) -> T + Send + 'static,
        answer: impl FnOnce(Option<T>) -> Loaded + Send + 'static,
    ) -> bool {
        let Some(worker) = &self.worker else {
            return false;
        };
        self.pending += 1;
        let asked = worker.ask(job);
        self.tasks
            .push(Task::perform(asked, move |t| Message::Loaded(answer(t))));
        true
    }

    /// Writes to the history (a failure shows once, as a problem).
    pub(super) fn write(
        &mut self,
        job: impl FnOnce(&mut History) -> Result<(), courier_core::sqlite::Error> + Send + 'static,
    ) {
        self.request(move |h| job(h).map_err(|e| e.to_string()), Loaded::Saved);
    }

    /// Remembers the contacts' names in the history (for reading it without a
    /// connection).
    pub fn keep_names(&mut self, names: Vec<(ClientId, String)>) {
        self.write(move |h| h.names(names.iter().map(|(id, n)| (*id, n.as_str()))));
    }

    /// Asks the history whether `m` is new; false when no history is kept.
    pub(super) fn ask_received(&mut self, m: &ChatMessage) -> bool {
        let message = m.clone();
        let asked = m.clone();
        let epoch = self.clears;
        self.request(
            move |h| h.received(&asked).map_err(|e| e.to_string()),
            move |new| Loaded::Received {
                epoch,
                message,
                new,
            },
        )
    }

    /// Loads the page of history before the oldest message loaded in `target`, skipping
    /// what is already there; with `grow`, shows a page more once it is in.
    pub(super) fn load_earlier(&mut self, target: Target, grow: bool) -> bool {
        let Some(c) = self.threads.get_mut(&target) else {
            return false;
        };
        if !c.more || c.loading || self.worker.is_none() {
            return false;
        }
        c.loading = true;
        let (older, cards_since) = (c.older, c.cards_since);
        let epoch = self.clears;
        self.request(
            move |h| {
                let entries = h
                    .page(Some(target), older, PAGE)
                    .map_err(|e| e.to_string())?;
                // Kept transfers (with a contact) of the same stretch of time: from the
                // oldest message of the page (or the very start, on the last page) to
                // where the previous page began.
                let since = if entries.len() == PAGE {
                    entries.last().map_or(Timestamp(0), |e| e.time)
                } else {
                    Timestamp(0)
                };
                let cards = match target {
                    Target::Client(peer) => h
                        .kept_transfers(Some(peer), since, cards_since, 4 * PAGE)
                        .unwrap_or_default(),
                    Target::Everyone | Target::Group(_) => Vec::new(),
                };
                // A group's membership changes kept among these messages: after the
                // first of them (or from the start, on the last page) and before the
                // page loaded earlier.
                let lines = match target {
                    Target::Group(g) => {
                        let from = if entries.len() == PAGE {
                            entries.last().map_or(0, |e| e.seq)
                        } else {
                            0
                        };
                        h.group_events(Some(g), from, older, 4 * PAGE)
                            .unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                Ok((entries, cards, since, lines))
            },
            move |page| Loaded::Page {
                epoch,
                target,
                grow,
                page,
            },
        )
    }

    /// Keeps finished transfers in the history (as kept transfers).
    pub fn keep_transfers(&mut self, cards: Vec<KeptTransfer>) {
        self.write(move |h| {
            let mut result = Ok(());
            for card in &cards {
                if let Err(e) = h.keep_transfer(card) {
                    result = Err(e);
                }
            }
            result
        });
    }

    /// Finds messages with every word of `query` across conversations (as typed: the
    /// last word may be unfinished). Clears the results for an empty query. The answer
    /// of a query typed over before it came is dropped.
    pub fn search(&mut self, query: &str) {
        query.clone_into(&mut self.query);
        let Some(worker) = &self.worker else {
            self.found.clear();
            return;
        };
        if query.trim().is_empty() {
            self.found.clear();
            return;
        }
        self.pending += 1;
        let asked = worker.search(query.to_owned(), FOUND);
        let epoch = self.clears;
        self.tasks.push(Task::perform(asked, move |found| {
            Message::Loaded(Loaded::Found { epoch, found })
        }));
    }

    /// Opens `entry`'s conversation at it: the page of history that ends a couple of
    /// messages after it, with the message marked (once the history answers).
    pub fn open_at(&mut self, entry: &Entry) {
        self.open(entry.peer);
        let (peer, seq) = (entry.peer, entry.seq);
        let found = entry.clone();
        let epoch = self.clears;
        self.request(
            move |h| {
                let before = h
                    .page(Some(peer), Some(seq.saturating_add(1)), PAGE)
                    .map_err(|e| e.to_string())?;
                let after = h
                    .page_after(peer, seq, AFTER_HIT)
                    .map_err(|e| e.to_string())?;
                // The file cards between the messages shown (or past them, at either
                // end of the conversation).
                let since = match before.last() {
                    Some(oldest) if before.len() == PAGE => oldest.time,
                    _ => Timestamp(0),
                };
                let until = after.last().filter(|_| after.len() == AFTER_HIT);
                let cards = cards_of(h, peer, since, until.map(|e| e.time));
                Ok((before, after, cards))
            },
            move |around| Loaded::Jumped {
                epoch,
                entry: found,
                around: around.map(Box::new),
            },
        );
    }

    /// Forgets the history of `target` (`None`: of every conversation), here and in the
    /// file. Returns how many messages were forgotten, or `None` when the history will
    /// say ([`Action::Cleared`]).
    pub fn clear_history(&mut self, target: Option<Target>) -> Option<u64> {
        // Answers asked for before now about what the cleared conversations hold are
        // dropped when they come.
        self.clears += 1;
        if target.is_none() {
            self.all_cleared = self.clears;
        }
        for (t, c) in &mut self.threads {
            if target.is_none_or(|target| target == *t) {
                c.items.retain(|i| matches!(i, Item::Transfer(_)));
                c.jump = None;
                c.more = false;
                c.older = None;
                c.loading = false;
                c.cleared = self.clears;
            }
        }
        self.found.clear();
        self.receipts.clear();
        let asked = self.request(
            move |h| h.clear(target).map_err(|e| e.to_string()),
            move |n| Loaded::Cleared { scope: target, n },
        );
        (!asked).then_some(0)
    }

    pub(super) fn show_earlier(&mut self) {
        let target = self.selected;
        if let Some(jump) = &self.thread(target).jump {
            if !jump.more_older {
                return;
            }
            let older = jump.older;
            let until = jump.items.first().map(|b| b.time);
            let epoch = self.clears;
            self.request(
                move |h| {
                    let page = h
                        .page(Some(target), older, PAGE)
                        .map_err(|e| e.to_string())?;
                    let since = match page.last() {
                        Some(oldest) if page.len() == PAGE => oldest.time,
                        _ => Timestamp(0),
                    };
                    Ok((page, cards_of(h, target, since, until)))
                },
                move |page| Loaded::JumpPage {
                    epoch,
                    target,
                    earlier: true,
                    page,
                },
            );
            return;
        }
        let c = self.thread(target);
        if c.shown >= c.items.len() && self.load_earlier(target, true) {
            return;
        }
        let c = self.thread(target);
        c.shown = (c.shown + PAGE).min(c.items.len());
    }

    pub(super) fn show_later(&mut self) {
        let target = self.selected;
        let Some(jump) = &self.thread(target).jump else {
            return;
        };
        let (newer, more_newer) = (jump.newer, jump.more_newer);
        let since = jump.items.last().map_or(Timestamp(0), |b| b.time);
        let epoch = self.clears;
        let asked = self.request(
            move |h| {
                let page = h
                    .page_after(target, newer, PAGE)
                    .map_err(|e| e.to_string())?;
                let until = page.last().filter(|_| page.len() == PAGE).map(|e| e.time);
                Ok((page, cards_of(h, target, since, until)))
            },
            move |page| Loaded::JumpPage {
                epoch,
                target,
                earlier: false,
                page,
            },
        );
        // Reached the newest: the conversation as usual.
        if !asked && !more_newer {
            self.thread(target).jump = None;
        }
    }

    /// Whether `target` was cleared since `epoch` (the clears counted when an answer
    /// about it was asked for).
    fn cleared_since(&self, target: Target, epoch: u64) -> bool {
        self.all_cleared > epoch || self.threads.get(&target).is_some_and(|c| c.cleared > epoch)
    }

    /// Takes what the history answered.
    pub(super) fn loaded(&mut self, answer: Loaded) -> Action {
        self.pending = self.pending.saturating_sub(1);
        match answer {
            Loaded::Unsent { epoch, entries } => {
                match entries {
                    Some(Ok(entries)) => {
                        for e in entries.into_iter().filter(|e| e.outgoing) {
                            if self.cleared_since(e.peer, epoch) {
                                continue;
                            }
                            if !self.unsent.iter().any(|(id, _, _)| *id == e.id) {
                                self.unsent.push((e.id, e.peer, e.text));
                            }
                        }
                    }
                    Some(Err(e)) => {
                        self.problem = Some(format!("The history could not be read: {e}"));
                    }
                    None => {}
                }
                return Action::SendUnsent;
            }
            Loaded::Page {
                epoch,
                target,
                grow,
                page,
            } => {
                if !self.cleared_since(target, epoch) {
                    self.page_loaded(target, grow, page);
                }
            }
            Loaded::Found { epoch, found } => {
                if found.query != self.query || self.clears > epoch {
                    // Typed over since (a newer answer comes), or cleared since (the
                    // results stay empty, as the clear left them).
                    return Action::None;
                }
                match found.entries {
                    Some(Ok(entries)) => self.found = entries,
                    Some(Err(e)) => {
                        self.problem = Some(format!("The history was not saved: {e}"));
                        self.found.clear();
                    }
                    None => {}
                }
            }
            Loaded::Jumped {
                epoch,
                entry,
                around,
            } => match around.map(|a| *a) {
                _ if self.cleared_since(entry.peer, epoch) => {}
                Some(Ok((before, after, cards))) => self.jumped(&entry, before, after, cards),
                Some(Err(e)) => {
                    self.problem = Some(format!("The history could not be read: {e}"));
                }
                None => {}
            },
            Loaded::JumpPage {
                epoch,
                target,
                earlier,
                page,
            } => {
                if !self.cleared_since(target, epoch) {
                    self.jump_page(target, earlier, page);
                }
            }
            Loaded::Received {
                epoch,
                message,
                new,
            } => {
                let new = match new {
                    Some(Ok(new)) => new,
                    Some(Err(e)) => {
                        self.problem = Some(format!("The history was not saved: {e}"));
                        true
                    }
                    None => true,
                };
                let target = Self::target_of(&message);
                // In the history before (shown in an earlier session), shown meanwhile,
                // or forgotten by a clear since.
                if !new || self.cleared_since(target, epoch) || self.shown(target, &message) {
                    return Action::None;
                }
                self.show_received(message.clone());
                return Action::Received(message);
            }
            Loaded::Cleared { scope, n } => {
                let n = match n {
                    Some(Ok(n)) => n,
                    Some(Err(e)) => {
                        self.problem = Some(format!("The history was not saved: {e}"));
                        0
                    }
                    None => 0,
                };
                return Action::Cleared { scope, n };
            }
            Loaded::Saved(Some(Err(e))) => {
                self.problem = Some(format!("The history was not saved: {e}"));
            }
            Loaded::Saved(_) => {}
            Loaded::GroupNames(Some(Ok(names))) => return Action::GroupNames(names),
            Loaded::GroupNames(_) => {}
        }
        Action::None
    }

    /// Remembers the names of our groups in the history (a group we leave keeps its
    /// name there).
    pub fn keep_group_names(&mut self, names: Vec<(GroupId, String)>) {
        self.write(move |h| h.group_names(names.iter().map(|(id, n)| (*id, n.as_str()))));
    }

    fn page_loaded(&mut self, target: Target, grow: bool, page: Option<Page>) {
        let Some(c) = self.threads.get_mut(&target) else {
            return;
        };
        c.loading = false;
        let (entries, cards, since, lines) = match page {
            Some(Ok(page)) => page,
            Some(Err(e)) => {
                c.more = false;
                self.problem = Some(format!("The history could not be read: {e}"));
                return;
            }
            None => {
                c.more = false;
                return;
            }
        };
        c.more = entries.len() == PAGE;
        if let Some(oldest) = entries.last() {
            c.older = Some(oldest.seq);
        }
        c.cards_since = Some(since);
        let known: HashSet<(ClientId, MsgId)> = c.items.iter().filter_map(key_of).collect();
        let (receipts, sent) = (&mut self.receipts, &mut self.sent);
        // A membership change goes before the first message kept after it.
        let shown: HashSet<u64> = c
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Line(e) => Some(e.seq),
                _ => None,
            })
            .collect();
        let mut lines = lines
            .into_iter()
            .filter(|k| !shown.contains(&k.event.seq))
            .peekable();
        let mut items: Vec<Item> = Vec::new();
        for e in entries.into_iter().rev() {
            while let Some(line) = lines.next_if(|k| k.after < e.seq) {
                items.push(Item::Line(line.event));
            }
            if known.contains(&(e.from, e.id)) {
                continue;
            }
            items.push({
                let outgoing = e.outgoing;
                let mut bubble = Bubble::from(e);
                if outgoing {
                    // Ours: a receipt that came before its page applies, and later ones
                    // find it.
                    sent.insert(bubble.id, target);
                    let early = receipts.iter().position(|(id, _)| *id == bubble.id);
                    if let Some((_, state)) = early.and_then(|at| receipts.remove(at))
                        && bubble.state.yields_to(&state)
                    {
                        bubble.state = state;
                    }
                }
                Item::Message(bubble)
            });
        }
        items.extend(lines.map(|k| Item::Line(k.event)));
        // Interleaved by time: both lists are oldest first.
        let mut merged = Vec::with_capacity(items.len() + cards.len());
        let mut cards = cards.into_iter().peekable();
        for item in items {
            if let Item::Message(b) = &item {
                while let Some(card) = cards.next_if(|card| card.time <= b.time) {
                    merged.push(Item::KeptTransfer(card));
                }
            }
            merged.push(item);
        }
        merged.extend(cards.map(Item::KeptTransfer));
        merged.append(&mut c.items);
        c.items = merged;
        if grow {
            c.shown = (c.shown + PAGE).min(c.items.len());
        }
    }

    fn jumped(
        &mut self,
        entry: &Entry,
        before: Vec<Entry>,
        after: Vec<Entry>,
        cards: Vec<KeptTransfer>,
    ) {
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
            cards,
            found: (entry.from, entry.id),
            older,
            more_older,
            newer,
            more_newer,
        });
    }

    fn jump_page(&mut self, target: Target, earlier: bool, page: Option<JumpPage>) {
        let (page, cards) = match page {
            Some(Ok(page)) => page,
            Some(Err(e)) => {
                self.problem = Some(format!("The history was not saved: {e}"));
                return;
            }
            None => return,
        };
        let Some(jump) = self.thread(target).jump.as_mut() else {
            return;
        };
        // Cards in time order, each once.
        jump.cards.extend(cards);
        jump.cards.sort_by_key(|c| (c.time, c.seq));
        jump.cards.dedup_by_key(|c| c.seq);
        if earlier {
            jump.more_older = page.len() == PAGE;
            if let Some(oldest) = page.last() {
                jump.older = Some(oldest.seq);
            }
            let mut items: Vec<Bubble> = page.into_iter().rev().map(Bubble::from).collect();
            items.append(&mut jump.items);
            jump.items = items;
        } else {
            jump.more_newer = page.len() == PAGE;
            if let Some(newest) = page.last() {
                jump.newer = newest.seq;
            }
            jump.items.extend(page.into_iter().map(Bubble::from));
            // Reached the newest: the conversation as usual.
            if !jump.more_newer {
                self.thread(target).jump = None;
            }
        }
    }
}

/// The file cards kept with `target` from `since` up to `until` (to the end: `None`);
/// none for Everyone (files go to one contact), and none when they cannot be read (the
/// messages still show).
fn cards_of(
    h: &History,
    target: Target,
    since: Timestamp,
    until: Option<Timestamp>,
) -> Vec<KeptTransfer> {
    match target {
        Target::Client(id) => h
            .kept_transfers(Some(id), since, until, 4 * PAGE)
            .unwrap_or_default(),
        Target::Everyone | Target::Group(_) => Vec::new(),
    }
}
