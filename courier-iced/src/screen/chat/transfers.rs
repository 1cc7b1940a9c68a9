//! Transfer cards: offers to and from a contact, their answer, progress, and outcome. Each
//! transfer runs as an abortable task over `courier_core::transfer`; removing its card
//! would cancel it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use courier_core::proto::{ClientId, Declined, FileEntry, IncomingOffer, TransferEnd, TransferId};
use courier_core::session::Handle;
use courier_core::transfer::{self, Canceller, Progress, Route, Summary, source::Source};
use courier_core::units;
use iced::widget::{button, column, container, progress_bar, row, space, text};
use iced::{Center, Element, Fill, Task};

use super::people::People;
use crate::format::sentence;
use crate::style;

/// Files listed on a card before "and N more".
const FILES_LISTED: usize = 6;

/// A file transfer in a conversation.
#[derive(Debug)]
pub struct TransferCard {
    /// The other side.
    pub peer: ClientId,
    /// We send (true) or receive.
    pub outgoing: bool,
    /// Files offered.
    pub files: Vec<FileEntry>,
    /// We send: the files and folders as chosen (to offer them again after a restart).
    pub paths: Vec<PathBuf>,
    /// We receive: when the hub says it was offered.
    pub offered: Option<courier_core::proto::Timestamp>,
    /// Empty folders offered.
    pub folders: usize,
    /// Total bytes.
    pub total: u64,
    /// Where it stands.
    pub state: FileState,
    /// Direct or relayed, once connected.
    pub route: Option<Route>,
    /// Latest progress.
    pub progress: Option<Progress>,
    /// The hub's id for it.
    pub id: Option<TransferId>,
    /// An incoming offer, pending until we answer it.
    pub offer: Option<IncomingOffer>,
    /// Where received files went.
    pub saved_in: Option<PathBuf>,
    /// Received: the folder, and the names saved under when not those offered.
    pub saved_note: Option<String>,
    /// Every file listed (a long offer shows its first few until asked).
    pub expanded: bool,
    /// Kept in the history (once over).
    pub kept: bool,
    canceller: Option<Canceller>,
    abort: Option<iced::task::Handle>,
}

/// Where a transfer stands.
#[derive(Debug, Clone, PartialEq)]
pub enum FileState {
    /// Reading the files to offer.
    Preparing,
    /// Offered and pending: the other side has not answered yet.
    Pending,
    /// Offered to someone offline: the hub stores the offer until they come online and
    /// answer; the files go then (while Courier runs).
    Stored,
    /// Offered to us; waiting for Accept / Decline.
    Incoming,
    /// Accepted; connecting.
    Connecting,
    /// Connected; the sender sends to others first (one of its copies to many).
    Waiting,
    /// Bytes are moving.
    Running,
    /// Done and verified.
    Done(String),
    /// Declined by the receiver.
    Declined(String),
    /// Cancelled by one side or the other (someone's choice).
    Cancelled(String),
    /// Failed (the network, a disk, the other program): the connection check is offered.
    Failed(String),
}

impl FileState {
    /// Whether the transfer is over.
    pub fn is_over(&self) -> bool {
        matches!(
            self,
            Self::Done(_) | Self::Declined(_) | Self::Cancelled(_) | Self::Failed(_)
        )
    }
}

impl TransferCard {
    fn new(peer: ClientId, outgoing: bool, state: FileState) -> Self {
        Self {
            peer,
            outgoing,
            files: Vec::new(),
            paths: Vec::new(),
            offered: None,
            folders: 0,
            total: 0,
            state,
            route: None,
            progress: None,
            id: None,
            offer: None,
            saved_in: None,
            saved_note: None,
            expanded: false,
            kept: false,
            canceller: None,
            abort: None,
        }
    }
}

/// Every transfer card, by a local key.
#[derive(Debug, Default)]
pub struct Transfers {
    /// The cards.
    pub cards: BTreeMap<u64, TransferCard>,
    next_key: u64,
}

/// What the user did, or what a transfer task reported.
#[derive(Debug, Clone)]
pub enum Message {
    /// The files of an offer were read.
    Prepared(u64, Result<Source, String>),
    /// A transfer reported.
    Update(u64, transfer::Update),
    /// Accept an offer.
    Accept(u64),
    /// Decline an offer.
    Decline(u64),
    /// Cancel a transfer.
    Cancel(u64),
    /// List every file of a card.
    Expand(u64),
    /// Open the folder of a finished transfer.
    OpenFolder(PathBuf),
    /// It opened, or why not.
    Opened(Result<(), String>),
    /// A command to the hub failed.
    Failed(String),
    /// Run the connection check (offered on a failed transfer).
    CheckConnection,
}

/// What the parent has to do.
#[derive(Debug)]
pub enum Action {
    /// Nothing.
    None,
    /// Run this task.
    Run(Task<Message>),
    /// Show this notice.
    Notice(String),
    /// Open the Menu and run the connection check.
    CheckConnection,
}

/// What a card needs from the parent to act.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The session, when there is one.
    pub handle: Option<&'a Handle>,
    /// Our id.
    pub me: ClientId,
    /// The settings: where received files go. Asked only when a transfer needs the
    /// folder (the default one is read from the user's XDG configuration: a file read,
    /// which must not happen for every progress update).
    pub settings: &'a crate::settings::Settings,
}

impl Transfers {
    /// Cards over and not yet kept in the history, as the history keeps them; they are
    /// marked kept.
    pub fn take_finished(&mut self) -> Vec<courier_core::history::KeptTransfer> {
        let mut finished = Vec::new();
        for card in self.cards.values_mut() {
            if card.kept || !card.state.is_over() {
                continue;
            }
            card.kept = true;
            let outcome = match &card.state {
                FileState::Done(s)
                | FileState::Declined(s)
                | FileState::Cancelled(s)
                | FileState::Failed(s) => s.clone(),
                _ => continue,
            };
            finished.push(courier_core::history::KeptTransfer {
                seq: 0,
                peer: card.peer,
                outgoing: card.outgoing,
                files: card
                    .files
                    .iter()
                    .take(courier_core::history::KEPT_TRANSFER_NAMES)
                    .map(|f| (f.path.clone(), f.size))
                    .collect(),
                count: card.files.len() as u64,
                bytes: card.total,
                time: courier_core::proto::Timestamp::now(),
                outcome,
                saved_in: card.saved_in.clone().filter(|_| !card.outgoing),
            });
        }
        finished
    }

    fn add(&mut self, card: TransferCard) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        self.cards.insert(key, card);
        key
    }

    /// A card.
    pub fn get(&self, key: u64) -> Option<&TransferCard> {
        self.cards.get(&key)
    }

    /// Offers `paths` to `peer`: a card that reads the files first. Returns its key and
    /// the task that reads them.
    pub fn offer(&mut self, peer: ClientId, paths: Vec<PathBuf>) -> (u64, Task<Message>) {
        let mut card = TransferCard::new(peer, true, FileState::Preparing);
        card.paths.clone_from(&paths);
        let key = self.add(card);
        let task = Task::perform(
            smol::unblock(move || Source::from_paths(&paths).map_err(|e| e.to_string())),
            move |r| Message::Prepared(key, r),
        );
        (key, task)
    }

    /// An offer the hub stores for `peer` (made before this app restarted): a card that
    /// waits for them again, and reads the files so they go once accepted.
    pub fn resume(
        &mut self,
        peer: ClientId,
        id: TransferId,
        paths: Vec<PathBuf>,
    ) -> (u64, Task<Message>) {
        let mut card = TransferCard::new(peer, true, FileState::Preparing);
        card.paths.clone_from(&paths);
        card.id = Some(id);
        let key = self.add(card);
        let task = Task::perform(
            smol::unblock(move || Source::from_paths(&paths).map_err(|e| e.to_string())),
            move |r| Message::Prepared(key, r),
        );
        (key, task)
    }

    /// Our offers to resume after a restart (for the settings): those pending or stored
    /// until their recipient answers; to whom, its id, and the paths chosen.
    pub fn offers_to_resume(&self) -> Vec<(ClientId, TransferId, Vec<PathBuf>)> {
        self.cards
            .values()
            .filter(|c| c.outgoing && matches!(c.state, FileState::Pending | FileState::Stored))
            .filter_map(|c| Some((c.peer, c.id?, c.paths.clone())))
            .collect()
    }

    /// Someone offers us files: a card waiting for the answer. Returns its key.
    pub fn incoming(&mut self, offer: IncomingOffer) -> u64 {
        let mut card = TransferCard::new(offer.from, false, FileState::Incoming);
        card.files = offer.manifest.files.clone();
        card.folders = offer.manifest.folders.len();
        card.total = offer.manifest.total();
        card.id = Some(offer.id);
        card.offered = offer.time;
        card.offer = Some(offer);
        self.add(card)
    }

    /// Whether `offer` already has a card (a stored offer handed over again after a
    /// reconnect): one still waiting for our answer takes the new copy (where the
    /// sender listens now); one that failed (the hub connection dropped before the
    /// files came) may be accepted again.
    pub fn offered_again(&mut self, offer: &IncomingOffer) -> bool {
        let Some(card) = self
            .cards
            .values_mut()
            .find(|c| !c.outgoing && c.id == Some(offer.id))
        else {
            return false;
        };
        if matches!(card.state, FileState::Incoming | FileState::Failed(_)) {
            card.state = FileState::Incoming;
            card.offer = Some(offer.clone());
            card.kept = false;
        }
        true
    }

    /// The hub says an offer to us ended before we answered it.
    pub fn ended(&mut self, id: TransferId, end: TransferEnd) {
        for card in self.cards.values_mut() {
            if card.id == Some(id) && card.state == FileState::Incoming {
                card.offer = None;
                card.state = match end {
                    // Core names who cancelled by id; the card knows it is the sender.
                    TransferEnd::Cancelled { .. } => {
                        FileState::Cancelled("The sender cancelled.".to_owned())
                    }
                    TransferEnd::Declined(_) => FileState::Declined(sentence(end)),
                    TransferEnd::PeerGone | TransferEnd::NoLongerStored => {
                        FileState::Failed(sentence(end))
                    }
                };
            }
        }
    }

    /// Handles a message.
    pub fn update(&mut self, message: Message, cx: Context<'_>) -> Action {
        match message {
            Message::Prepared(key, source) => self.prepared(key, source, cx),
            Message::Update(key, update) => {
                self.progress(key, update, cx);
                Action::None
            }
            Message::Accept(key) => self.accept(key, cx),
            Message::Decline(key) => self.decline(key, cx),
            Message::Cancel(key) => {
                if self.cards.get(&key).is_some_and(|c| c.offer.is_some()) {
                    // An offer not yet answered: cancelling it is declining it.
                    return self.decline(key, cx);
                }
                if let Some(card) = self.cards.get_mut(&key) {
                    match &card.canceller {
                        Some(c) => c.cancel(),
                        None => {
                            if let Some(abort) = card.abort.take() {
                                abort.abort();
                            }
                            card.state = FileState::Cancelled("Cancelled.".into());
                        }
                    }
                }
                Action::None
            }
            Message::Expand(key) => {
                if let Some(card) = self.cards.get_mut(&key) {
                    card.expanded = true;
                }
                Action::None
            }
            Message::Failed(why) => Action::Notice(why),
            Message::CheckConnection => Action::CheckConnection,
            Message::OpenFolder(path) => Action::Run(Task::perform(
                smol::unblock(move || crate::system::open_folder(&path)),
                Message::Opened,
            )),
            Message::Opened(Ok(())) => Action::None,
            Message::Opened(Err(why)) => Action::Notice(why),
        }
    }

    fn prepared(&mut self, key: u64, source: Result<Source, String>, cx: Context<'_>) -> Action {
        let Some(card) = self.cards.get_mut(&key) else {
            return Action::None;
        };
        if card.state != FileState::Preparing {
            return Action::None;
        }
        let source = match source {
            Ok(s) => s,
            Err(e) => {
                card.state = FileState::Failed(e);
                return Action::None;
            }
        };
        let Some(handle) = cx.handle.cloned() else {
            card.state = FileState::Failed("Not connected to the hub.".into());
            return Action::None;
        };
        card.files = source.manifest.files.clone();
        card.folders = source.manifest.folders.len();
        card.total = source.manifest.total();
        // Someone offline gets it at their next login; the card waits for them.
        let options = transfer::Options {
            wait: true,
            ..transfer::Options::default()
        };
        let stream = match card.id {
            // Offered before a restart: the hub still stores it.
            Some(id) => {
                card.state = FileState::Pending;
                transfer::resume(handle, card.peer, id, source, options)
            }
            None => {
                card.state = FileState::Pending;
                transfer::send_source(handle, card.peer, source, options)
            }
        };
        Action::Run(self.run(key, stream))
    }

    fn accept(&mut self, key: u64, cx: Context<'_>) -> Action {
        let Some(card) = self.cards.get_mut(&key) else {
            return Action::None;
        };
        let Some(offer) = card.offer.take() else {
            return Action::None;
        };
        let Some(handle) = cx.handle.cloned() else {
            card.offer = Some(offer);
            return Action::Notice("Not connected to the hub; try again when it is back.".into());
        };
        let dir = cx.settings.downloads();
        card.saved_in = Some(dir.clone());
        card.state = FileState::Connecting;
        let stream = transfer::receive(handle, offer, None, dir, transfer::Options::default());
        Action::Run(self.run(key, stream))
    }

    fn decline(&mut self, key: u64, cx: Context<'_>) -> Action {
        let Some(card) = self.cards.get_mut(&key) else {
            return Action::None;
        };
        let Some(offer) = card.offer.take() else {
            return Action::None;
        };
        card.state = FileState::Declined("You declined.".into());
        let Some(handle) = cx.handle.cloned() else {
            return Action::None;
        };
        Action::Run(
            Task::future(async move { handle.decline(offer.id, Declined::ByUser).await.err() })
                .and_then(|e| Task::done(Message::Failed(e.to_string()))),
        )
    }

    fn run(&mut self, key: u64, stream: transfer::Transfer) -> Task<Message> {
        let canceller = stream.canceller();
        let (task, abort) = Task::run(stream, move |u| Message::Update(key, u)).abortable();
        if let Some(card) = self.cards.get_mut(&key) {
            card.canceller = Some(canceller);
            card.abort = Some(abort.abort_on_drop());
        }
        task
    }

    fn progress(&mut self, key: u64, update: transfer::Update, cx: Context<'_>) {
        let Some(card) = self.cards.get_mut(&key) else {
            return;
        };
        match update {
            transfer::Update::Offered { id } => card.id = Some(id),
            transfer::Update::Stored { id } => {
                card.id = Some(id);
                card.state = FileState::Stored;
            }
            transfer::Update::Accepted { .. } => card.state = FileState::Connecting,
            transfer::Update::Connected { route } => {
                card.route = Some(route);
                card.state = FileState::Running;
            }
            transfer::Update::Waiting => card.state = FileState::Waiting,
            transfer::Update::Progress(p) => {
                card.state = FileState::Running;
                card.progress = Some(p);
            }
            transfer::Update::Finished(result) => {
                card.canceller = None;
                card.abort = None;
                card.state = match result {
                    Ok(summary) => {
                        if let Some(first) = summary.saved.first() {
                            card.saved_in = first
                                .parent()
                                .map(|p| p.to_owned())
                                .or_else(|| Some(cx.settings.downloads()));
                        }
                        card.saved_note = (card.saved_in.as_deref())
                            .filter(|_| !card.outgoing)
                            .map(|dir| saved::note(dir, &card.files, &summary.saved));
                        FileState::Done(done_text(&summary, card.outgoing))
                    }
                    Err(e) => match &*e {
                        transfer::Error::Declined | transfer::Error::NoSpaceAtReceiver => {
                            FileState::Declined(sentence(&e))
                        }
                        transfer::Error::Cancelled { by } if *by == cx.me => {
                            FileState::Cancelled("You cancelled.".into())
                        }
                        transfer::Error::Cancelled { .. } => {
                            FileState::Cancelled(crate::format::capitalize(&e.to_string()))
                        }
                        _ => FileState::Failed(crate::format::capitalize(&e.to_string())),
                    },
                };
            }
            // Per-file news is summed up at the end.
            _ => {}
        }
    }

    /// Draws one card.
    pub fn view<'a>(&'a self, key: u64, people: &People) -> Element<'a, Message> {
        let Some(card) = self.cards.get(&key) else {
            return space::vertical().height(0).into();
        };
        let who = people.name_of(&card.peer);
        let count = card.files.len();
        let what = what(count, card.folders);
        // An offer stored for us while we were away says when it was made.
        let when = card
            .offered
            .filter(|t| courier_core::proto::Timestamp::now().0.saturating_sub(t.0) > 60_000)
            .map(|t| format!(" · offered {}", crate::format::day_and_clock(t)))
            .unwrap_or_default();
        let title = if card.outgoing {
            format!("To {who}: {what}, {}", units::size(card.total))
        } else {
            format!("{who} sends {what}, {}{when}", units::size(card.total))
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
                    text(courier_core::text::visible(&f.path, false))
                        .size(13)
                        .width(Fill)
                        .wrapping(text::Wrapping::WordOrGlyph),
                    text(units::size(f.size)).size(13).style(style::dim)
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
        let online = people.get(&card.peer).is_some_and(|c| c.online);
        body = body.push(state_line(key, card, (&who, online)));
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
}

/// A card's last line: what it waits for, its progress, or how it ended. `who` is the
/// other side's name and whether they are online.
fn state_line<'a>(
    key: u64,
    card: &'a TransferCard,
    (who, online): (&str, bool),
) -> Element<'a, Message> {
    let route = card.route.map(|r| format!("{r}")).unwrap_or_default();
    let cancel = || {
        button(text("Cancel").size(13))
            .style(button::secondary)
            .on_press(Message::Cancel(key))
    };
    match &card.state {
        FileState::Preparing => text("Reading the files…").size(13).into(),
        FileState::Pending => row![
            text("Waiting for them to accept…").size(13).width(Fill),
            cancel()
        ]
        .align_y(Center)
        .into(),
        FileState::Stored => row![
            text(format!(
                "{who} is offline: the hub stores the offer and hands it over when they come \
                 online; the files go once they accept (while Courier runs)."
            ))
            .size(13)
            .width(Fill),
            cancel()
        ]
        .align_y(Center)
        .into(),
        FileState::Incoming => row![
            if online {
                text("")
            } else {
                text(format!(
                    "{who} is offline: accept now, and the files come when they are back."
                ))
                .size(13)
            }
            .width(Fill),
            button(text("Decline"))
                .style(button::secondary)
                .on_press(Message::Decline(key)),
            button(text("Accept"))
                .style(button::primary)
                .on_press(Message::Accept(key))
        ]
        .spacing(8)
        .into(),
        FileState::Connecting | FileState::Waiting | FileState::Running => {
            let (done, total, rate, eta) = match &card.progress {
                Some(p) => (p.bytes, p.total, p.rate, p.eta),
                None => (0, card.total, 0.0, None),
            };
            let fraction = if total == 0 {
                0.0
            } else {
                done as f32 / total as f32
            };
            let status = if card.state == FileState::Connecting && !online {
                format!("Waiting for {who} to come online…")
            } else if card.state == FileState::Connecting {
                "Connecting…".to_owned()
            } else if card.state == FileState::Waiting {
                "Waiting for the sender (it is sending to others first)…".to_owned()
            } else {
                let eta = eta
                    .map(|d| format!(" · {} left", units::duration(d)))
                    .unwrap_or_default();
                format!(
                    "{} of {} · {}{eta} · {route}",
                    units::size(done),
                    units::size(total),
                    units::rate(rate)
                )
            };
            column![
                progress_bar(0.0..=1.0, fraction).girth(8),
                row![text(status).size(13).width(Fill), cancel()]
                    .spacing(8)
                    .align_y(Center)
            ]
            .spacing(6)
            .into()
        }
        FileState::Done(summary) => {
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
            match &card.saved_note {
                Some(note) => column![line, text(note.as_str()).size(12).style(style::dim)]
                    .spacing(4)
                    .into(),
                None => line.into(),
            }
        }
        FileState::Declined(why) | FileState::Cancelled(why) => {
            text(why.as_str()).size(13).style(style::error).into()
        }
        // A failure that was not someone's choice may be the network's: offer the check.
        FileState::Failed(why) => row![
            text(why.as_str()).size(13).style(style::error).width(Fill),
            button(text("Check the connection").size(13))
                .style(button::secondary)
                .on_press(Message::CheckConnection),
        ]
        .spacing(6)
        .align_y(Center)
        .into(),
    }
}

/// A kept transfer (a finished one, as the history records it): which way, the files
/// (the first few), how it ended, and the folder to open.
pub fn kept_transfer_view<'a, M: Clone + 'a>(
    card: &'a courier_core::history::KeptTransfer,
    people: &People,
    open: impl Fn(PathBuf) -> M,
) -> Element<'a, M> {
    let who = people.name_of(&card.peer);
    let title = if card.outgoing {
        format!("Files to {who}")
    } else {
        format!("Files from {who}")
    };
    let mut names: Vec<String> = card
        .files
        .iter()
        .take(3)
        .map(|(name, size)| {
            format!(
                "{} ({})",
                courier_core::text::visible(name, false),
                units::size(*size)
            )
        })
        .collect();
    if card.count > 3 {
        names.push(format!("and {} more", card.count - 3));
    }
    let mut body = column![
        row![
            text(title).size(14).width(Fill),
            text(units::size(card.bytes)).size(12).style(style::dim)
        ]
        .align_y(Center),
        text(names.join(", ")).size(12).style(style::dim),
    ]
    .spacing(4);
    let mut line = row![text(card.outcome.as_str()).size(13).width(Fill)].align_y(Center);
    if let Some(dir) = &card.saved_in {
        line = line.push(
            button(text("Open folder").size(13))
                .style(button::secondary)
                .on_press(open(dir.clone())),
        );
    }
    body = body.push(line);
    container(body)
        .padding(10)
        .max_width(520)
        .style(style::card)
        .into()
}

fn done_text(s: &Summary, outgoing: bool) -> String {
    let verb = if outgoing { "Sent" } else { "Received" };
    let files = if s.files == 1 {
        "1 file".to_owned()
    } else {
        format!("{} files", s.files)
    };
    let mut text = format!(
        "{verb} {files}, {} in {}",
        units::size(s.bytes),
        units::duration(s.elapsed)
    );
    if s.resumed > 0 {
        text.push_str(&format!(
            " (resumed, {} were already there)",
            units::size(s.resumed)
        ));
    }
    text
}

mod saved;
/// What a card holds, in words: "1 file", "2 files and 1 empty folder".
fn what(files: usize, folders: usize) -> String {
    match (files, folders) {
        (0, 0) => "files".to_owned(),
        (n, 0) => units::count(n, "file", "files"),
        (0, f) => units::count(f, "empty folder", "empty folders"),
        (n, f) => format!(
            "{} and {}",
            units::count(n, "file", "files"),
            units::count(f, "empty folder", "empty folders")
        ),
    }
}

#[cfg(test)]
mod tests;
