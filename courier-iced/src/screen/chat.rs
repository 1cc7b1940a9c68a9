//! The main window: contacts · conversation (messages and files) · closable side panel.
//!
//! [`Chat`] keeps what the user sees; the session (a subscription of the parent) feeds it
//! with [`Chat::session_event`], [`Chat::connected`] and [`Chat::disconnected`]. Sending
//! goes through the session [`Handle`]; each file transfer runs as an abortable task
//! over `courier_core::transfer`.

mod contacts;
mod conversation;
mod panel;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use courier_core::contacts::Contacts;
use courier_core::proto::{
    AvatarId, ClientId, Declined, Delivery, FileEntry, IncomingOffer, Message as ChatMessage,
    MsgId, Presence, Profile, RejectReason, Target, Timestamp, TransferEnd, TransferId,
    validate_profile,
};
use courier_core::session::{Event, Handle, Welcome};
use courier_core::transfer::{self, Canceller, Progress, Route, Summary};
use iced::widget::{column, container, row, rule, text_editor};
use iced::{Element, Fill, Task};

use crate::settings::Settings;
use crate::{avatar, style};

pub use panel::Tab;

/// Messages shown at first, and added by each "show earlier".
pub const PAGE: usize = 50;
/// How long a typing indicator stays after the last typing signal.
pub const TYPING_SHOWN: Duration = Duration::from_secs(4);
/// How long a notice stays before it goes away by itself.
pub const NOTICE_SHOWN: Duration = Duration::from_secs(8);
/// Fewest seconds between two typing signals we send.
const TYPING_EVERY: Duration = Duration::from_secs(3);

/// The hub we are on.
#[derive(Debug, Clone)]
pub struct HubInfo {
    /// The address we joined (`host:port`).
    pub address: String,
    /// Its fingerprint.
    pub fingerprint: ClientId,
    /// Addresses others can join with (hosted hubs list every interface).
    pub join: Vec<String>,
    /// Whether this app runs the hub.
    pub hosted: bool,
}

/// The link to the hub as the user sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// Logged in.
    Online,
    /// Lost; the session retries by itself.
    Reconnecting {
        /// Why it was lost.
        reason: String,
        /// When the next attempt starts.
        next: Option<Instant>,
    },
}

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
}

/// An entry of a conversation.
#[derive(Debug, Clone)]
pub enum Item {
    /// A chat message.
    Message(Bubble),
    /// A file transfer card (key into [`Chat::transfers`]).
    Transfer(u64),
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
    pub state: Delivery2,
}

/// What became of a message (ours), or that it was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery2 {
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

/// A file transfer in a conversation.
#[derive(Debug)]
pub struct Card {
    /// The other side.
    pub peer: ClientId,
    /// We send (true) or receive.
    pub outgoing: bool,
    /// Files offered.
    pub files: Vec<FileEntry>,
    /// Empty folders offered.
    pub folders: usize,
    /// Total bytes.
    pub total: u64,
    /// Where it stands.
    pub state: CardState,
    /// Direct or relayed, once connected.
    pub route: Option<Route>,
    /// Latest progress.
    pub progress: Option<Progress>,
    /// The hub's id for it.
    pub id: Option<TransferId>,
    /// An incoming offer waiting for an answer.
    pub offer: Option<IncomingOffer>,
    /// Where received files went.
    pub saved_in: Option<PathBuf>,
    /// Every file listed (a long offer shows its first few until asked).
    pub expanded: bool,
    canceller: Option<Canceller>,
    abort: Option<iced::task::Handle>,
}

/// Where a transfer stands.
#[derive(Debug, Clone, PartialEq)]
pub enum CardState {
    /// Reading the files to offer.
    Preparing,
    /// Offered; waiting for the other side's answer.
    Waiting,
    /// Offered to us; waiting for Accept / Decline.
    Incoming,
    /// Accepted; connecting.
    Connecting,
    /// Bytes are moving.
    Running,
    /// Done and verified.
    Done(String),
    /// Declined by the receiver.
    Declined(String),
    /// Failed or cancelled.
    Failed(String),
}

impl CardState {
    /// Whether the transfer is over.
    pub fn is_over(&self) -> bool {
        matches!(self, Self::Done(_) | Self::Declined(_) | Self::Failed(_))
    }
}

/// The profile being edited in the panel.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileDraft {
    /// Display name.
    pub name: String,
    /// Status text.
    pub status: String,
    /// Availability.
    pub presence: Presence,
    /// Avatar PNG bytes (empty: none).
    pub avatar: Vec<u8>,
    /// Problem with the draft.
    pub error: Option<String>,
}

/// The main window's state.
pub struct Chat {
    /// Our id.
    pub me: ClientId,
    /// Our profile as the hub has it.
    pub profile: Profile,
    /// The hub.
    pub hub: HubInfo,
    /// For sending; `None` only in tests and benchmarks.
    pub handle: Option<Handle>,
    /// Everyone the hub knows.
    pub contacts: Contacts,
    /// Conversations by target.
    pub conversations: HashMap<Target, Conversation>,
    /// The open conversation.
    pub selected: Target,
    /// The contact search text.
    pub search: String,
    /// The message being written.
    pub composer: text_editor::Content,
    /// Unsent text of conversations not open.
    pub drafts: HashMap<Target, String>,
    /// The side panel, when open.
    pub panel: Option<Tab>,
    /// Online or reconnecting.
    pub connection: Connection,
    /// File transfers by local key.
    pub transfers: BTreeMap<u64, Card>,
    /// The profile being edited.
    pub draft: ProfileDraft,
    /// Whether the window has focus.
    pub focused: bool,
    /// A passing problem shown above the composer.
    pub notice: Option<String>,
    /// A download folder being typed in the settings.
    pub downloads_draft: Option<String>,
    /// Why the typed download folder cannot be used.
    pub downloads_error: Option<String>,
    avatars: HashMap<ClientId, (AvatarId, Option<iced::widget::image::Handle>)>,
    my_avatar: Option<iced::widget::image::Handle>,
    builtin: Vec<(Vec<u8>, iced::widget::image::Handle)>,
    sent: HashMap<MsgId, Target>,
    next_key: u64,
    contacts_offset: f32,
    contacts_height: f32,
    last_typing: Option<Instant>,
    /// Our messages written while the hub was away (local ids), oldest first.
    waiting: Vec<MsgId>,
    notice_since: Option<(String, Instant)>,
    /// Contact ids in list order (online first, by name), kept between contact changes.
    roster: Vec<ClientId>,
    /// Display labels (look-alike names tagged), kept with the roster.
    labels: HashMap<ClientId, String>,
    /// Search results in list order, while searching.
    hits: Option<Vec<ClientId>>,
}

impl std::fmt::Debug for Chat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat")
            .field("me", &self.me.short())
            .field("hub", &self.hub.address)
            .field("selected", &self.selected)
            .field("panel", &self.panel)
            .finish_non_exhaustive()
    }
}

/// What the user did, or what a task reported.
#[derive(Debug, Clone)]
pub enum Message {
    /// Opened a conversation.
    Select(Target),
    /// Typed in the contact search.
    Search(String),
    /// Scrolled the contact list.
    ContactsScrolled(iced::widget::scrollable::Viewport),
    /// Edited the composer.
    Edit(text_editor::Action),
    /// Enter in the composer, or the Send button.
    Send,
    /// Asked for older messages.
    ShowEarlier,
    /// Opened or closed the side panel.
    TogglePanel,
    /// Picked a panel tab.
    Panel(Tab),
    /// The attach button.
    Attach,
    /// Files chosen in the dialog, or dropped on the window.
    Files(Vec<PathBuf>),
    /// The files of an offer were read.
    Prepared(u64, Result<transfer::source::Source, String>),
    /// A transfer reported.
    Transfer(u64, transfer::Update),
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
    /// Dismiss the notice.
    DismissNotice,
    /// A command to the session failed.
    Failed(String),
    /// Mark a contact trusted or not.
    Trust(ClientId, bool),
    /// Settings: choose the download folder.
    ChooseDownloads,
    /// Settings: folder chosen.
    DownloadsChosen(Option<PathBuf>),
    /// Settings: a download folder typed.
    DownloadsTyped(String),
    /// Settings: use the typed folder.
    DownloadsSet,
    /// Settings: dark theme.
    Dark(bool),
    /// Settings: auto-accept from trusted contacts.
    AutoAccept(bool),
    /// Settings: notifications.
    Notifications(bool),
    /// Profile: name.
    ProfileName(String),
    /// Profile: status text.
    ProfileStatus(String),
    /// Profile: presence.
    ProfilePresence(Presence),
    /// Profile: a built-in avatar.
    BuiltinAvatar(usize),
    /// Profile: no avatar.
    NoAvatar,
    /// Profile: choose an image file.
    ChooseAvatar,
    /// Profile: image read.
    AvatarChosen(Option<Vec<u8>>),
    /// Profile: save.
    SaveProfile,
    /// Profile: the hub took it.
    ProfileSaved(Profile),
    /// Menu: copy the join address.
    CopyJoin,
    /// Menu: log out.
    LogOut,
}

/// What the parent has to do.
#[derive(Debug)]
pub enum Action {
    /// Nothing.
    None,
    /// Run this task.
    Run(Task<Message>),
    /// The settings changed: save them.
    SaveSettings,
    /// Show a desktop notification.
    Notify {
        /// Title (the sender).
        title: String,
        /// Body (the text).
        body: String,
    },
    /// Leave the hub.
    LogOut,
}

impl Chat {
    /// The main window after login.
    pub fn new(handle: Option<Handle>, welcome: &Welcome, profile: Profile, hub: HubInfo) -> Self {
        let draft = ProfileDraft {
            name: profile.name.clone(),
            status: profile.status.clone(),
            presence: profile.presence,
            avatar: profile.avatar.to_vec(),
            error: None,
        };
        let my_avatar = avatar_handle(&profile.avatar);
        let builtin = (0..avatar::BUILTIN)
            .map(|n| {
                let png = avatar::builtin(n);
                let h = avatar_handle(&png);
                (png, h)
            })
            .filter_map(|(png, h)| h.map(|h| (png, h)))
            .collect();
        let mut chat = Self {
            me: welcome.you,
            profile,
            hub,
            handle,
            contacts: Contacts::new(welcome.contacts.clone()),
            conversations: HashMap::new(),
            selected: Target::Everyone,
            search: String::new(),
            composer: text_editor::Content::new(),
            drafts: HashMap::new(),
            panel: None,
            connection: Connection::Online,
            transfers: BTreeMap::new(),
            draft,
            focused: true,
            notice: None,
            downloads_draft: None,
            downloads_error: None,
            avatars: HashMap::new(),
            my_avatar,
            builtin,
            sent: HashMap::new(),
            next_key: 0,
            contacts_offset: 0.0,
            contacts_height: 2000.0,
            last_typing: None,
            waiting: Vec::new(),
            notice_since: None,
            roster: Vec::new(),
            labels: HashMap::new(),
            hits: None,
        };
        chat.refresh_roster();
        chat.conversations
            .insert(Target::Everyone, Conversation::default());
        chat
    }

    /// Logged in again after a reconnect: the contact list is fresh, the rest stays.
    pub fn connected(&mut self, handle: Handle, welcome: &Welcome) -> Task<Message> {
        self.handle = Some(handle);
        self.connection = Connection::Online;
        self.contacts = Contacts::new(welcome.contacts.clone());
        self.refresh_roster();
        self.flush_waiting();
        self.fetch_avatars()
    }

    /// Recomputes the list order, labels and search results after the contacts or the
    /// search text changed (not per frame: a thousand contacts are sorted once).
    fn refresh_roster(&mut self) {
        self.roster = self.contacts.sorted().iter().map(|c| c.id).collect();
        self.labels = self.contacts.labels();
        self.hits = (!self.search.trim().is_empty()).then(|| {
            self.contacts
                .search(&self.search)
                .iter()
                .map(|c| c.id)
                .collect()
        });
    }

    /// The contacts the list shows, in order (search results while searching).
    pub fn listed(&self) -> &[ClientId] {
        self.hits.as_deref().unwrap_or(&self.roster)
    }

    /// The session lost the hub and will retry.
    pub fn disconnected(&mut self, reason: String, retry_in: Option<Duration>) {
        self.connection = Connection::Reconnecting {
            reason,
            next: retry_in.map(|d| Instant::now() + d),
        };
    }

    /// Asks for avatars of contacts whose picture we do not have.
    pub fn fetch_avatars(&mut self) -> Task<Message> {
        let Some(handle) = self.handle.clone() else {
            return Task::none();
        };
        let mut wanted = Vec::new();
        for c in self.contacts.iter() {
            match (c.profile.avatar, self.avatars.get(&c.id)) {
                (Some(a), Some((have, _))) if *have == a => {}
                (Some(a), _) => {
                    self.avatars.insert(c.id, (a, None));
                    wanted.push(c.id);
                }
                (None, _) => {
                    self.avatars.remove(&c.id);
                }
            }
        }
        if wanted.is_empty() {
            return Task::none();
        }
        Task::future(async move {
            for id in wanted {
                if handle.request_avatar(id).await.is_err() {
                    break;
                }
            }
        })
        .discard()
    }

    /// The conversation `target`, created if needed.
    pub fn conversation(&mut self, target: Target) -> &mut Conversation {
        self.conversations.entry(target).or_default()
    }

    /// Unread messages in `target`.
    pub fn unread(&self, target: &Target) -> usize {
        self.conversations.get(target).map_or(0, |c| c.unread)
    }

    /// A contact's avatar picture, once fetched.
    pub fn avatar(&self, id: &ClientId) -> Option<&iced::widget::image::Handle> {
        if *id == self.me {
            return self.my_avatar.as_ref();
        }
        self.avatars.get(id).and_then(|(_, h)| h.as_ref())
    }

    /// A display name: the contact's label (with an id tag for look-alikes), or "You".
    pub fn name_of(&self, id: &ClientId) -> String {
        if *id == self.me {
            return "You".to_owned();
        }
        self.labels.get(id).cloned().unwrap_or_else(|| id.short())
    }

    /// Builds every contact row and every message, as if the window were endless: the
    /// benchmark's baseline for what paging and virtualising save.
    #[doc(hidden)]
    pub fn unpaged(&mut self) {
        self.contacts_height = f32::MAX / 4.0;
        for c in self.conversations.values_mut() {
            c.shown = c.items.len();
        }
    }

    /// Whether a typing indicator is showing anywhere (the parent ticks while so).
    pub fn typing_shown(&self) -> bool {
        self.conversations.values().any(|c| c.typing.is_some())
    }

    /// Clears typing indicators that ran out.
    pub fn tick(&mut self, now: Instant) {
        // A notice goes away by itself a while after it appeared.
        match (&self.notice, &self.notice_since) {
            (Some(text), Some((seen, since))) if text == seen => {
                if now.duration_since(*since) >= NOTICE_SHOWN {
                    self.notice = None;
                    self.notice_since = None;
                }
            }
            (Some(text), _) => self.notice_since = Some((text.clone(), now)),
            (None, _) => self.notice_since = None,
        }
        for c in self.conversations.values_mut() {
            if c.typing.is_some_and(|(_, until)| until <= now) {
                c.typing = None;
            }
        }
    }

    /// The window gained or lost focus.
    pub fn focus(&mut self, focused: bool) -> Task<Message> {
        self.focused = focused;
        if focused {
            self.mark_read()
        } else {
            Task::none()
        }
    }

    /// Adds a transfer card to the conversation with `peer`.
    fn add_card(&mut self, card: Card) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        let target = Target::Client(card.peer);
        self.transfers.insert(key, card);
        self.conversation(target).items.push(Item::Transfer(key));
        key
    }

    /// Takes what the session reports.
    pub fn session_event(&mut self, event: Event, settings: &Settings) -> Action {
        if self.contacts.apply(&event) {
            self.refresh_roster();
            self.flush_waiting();
            return Action::Run(self.fetch_avatars());
        }
        match event {
            Event::Message(m) => self.incoming(m, settings),
            Event::Receipt { id, status } => {
                let state = match status {
                    Delivery::Delivered => Delivery2::Delivered,
                    Delivery::Stored => Delivery2::Stored,
                    Delivery::Rejected(r) => Delivery2::Failed(rejection(r).to_owned()),
                };
                if let Some(b) = self.my_bubble(id) {
                    // A read receipt may have overtaken the delivery receipt.
                    if b.state != Delivery2::Read {
                        b.state = state;
                    }
                }
                Action::None
            }
            Event::Read { by, id } => {
                if let Some(c) = self.conversations.get_mut(&Target::Client(by)) {
                    // Read up to this one: every earlier message of ours was seen too.
                    let me = self.me;
                    let mut reached = false;
                    for item in c.items.iter_mut().rev() {
                        if let Item::Message(b) = item
                            && b.from == me
                        {
                            reached |= b.id == id;
                            if reached && !matches!(b.state, Delivery2::Failed(_)) {
                                b.state = Delivery2::Read;
                            }
                        }
                    }
                }
                Action::None
            }
            Event::Typing { from, to } => {
                let target = match to {
                    Target::Everyone => Target::Everyone,
                    Target::Client(_) => Target::Client(from),
                };
                self.conversation(target).typing = Some((from, Instant::now() + TYPING_SHOWN));
                Action::None
            }
            Event::Avatar { id, bytes } => {
                if let Some((want, slot)) = self.avatars.get_mut(&id)
                    && AvatarId::of(&bytes) == Some(*want)
                {
                    *slot = avatar_handle(&bytes);
                }
                Action::None
            }
            Event::HubError { detail, .. } => {
                self.notice = Some(format!("The hub refused: {detail}"));
                Action::None
            }
            Event::Offer(offer) => self.offer(offer, settings),
            Event::TransferEnded { id, end } => {
                for card in self.transfers.values_mut() {
                    if card.id == Some(id) && card.state == CardState::Incoming {
                        card.offer = None;
                        card.state = CardState::Failed(match end {
                            TransferEnd::Cancelled { .. } => "The sender cancelled.".to_owned(),
                            TransferEnd::PeerGone => "The sender went offline.".to_owned(),
                            TransferEnd::Declined(_) => "Declined.".to_owned(),
                        });
                    }
                }
                Action::None
            }
            _ => Action::None,
        }
    }

    fn my_bubble(&mut self, id: MsgId) -> Option<&mut Bubble> {
        let target = *self.sent.get(&id)?;
        let me = self.me;
        self.conversations
            .get_mut(&target)?
            .items
            .iter_mut()
            .rev()
            .find_map(|item| match item {
                Item::Message(b) if b.id == id && b.from == me => Some(b),
                _ => None,
            })
    }

    fn incoming(&mut self, m: ChatMessage, settings: &Settings) -> Action {
        let target = match m.to {
            Target::Everyone => Target::Everyone,
            Target::Client(_) => Target::Client(m.from),
        };
        let seen = self.focused && self.selected == target;
        let title = match target {
            Target::Everyone => format!("{} (to everyone)", self.name_of(&m.from)),
            Target::Client(_) => self.name_of(&m.from),
        };
        let body = m.text.clone();
        let conversation = self.conversation(target);
        if conversation.typing.is_some_and(|(who, _)| who == m.from) {
            conversation.typing = None;
        }
        conversation.items.push(Item::Message(Bubble {
            id: m.id,
            from: m.from,
            text: m.text,
            time: m.time,
            state: Delivery2::Received,
        }));
        conversation.unread += 1;
        if seen {
            // Open and in front: read at once (mark_read clears the count).
            return Action::Run(self.mark_read());
        }
        if !self.focused && settings.notifications {
            return Action::Notify { title, body };
        }
        Action::None
    }

    fn offer(&mut self, offer: IncomingOffer, settings: &Settings) -> Action {
        let card = Card {
            peer: offer.from,
            outgoing: false,
            files: offer.manifest.files.clone(),
            folders: offer.manifest.folders.len(),
            total: offer.manifest.files.iter().map(|f| f.size).sum(),
            state: CardState::Incoming,
            route: None,
            progress: None,
            id: Some(offer.id),
            offer: Some(offer),
            saved_in: None,
            expanded: false,
            canceller: None,
            abort: None,
        };
        let from = card.peer;
        let key = self.add_card(card);
        if settings.auto_accepts(&from) {
            return Action::Run(self.accept(key, settings));
        }
        let target = Target::Client(from);
        if !(self.focused && self.selected == target) {
            self.conversation(target).unread += 1;
            if !self.focused && settings.notifications {
                return Action::Notify {
                    title: self.name_of(&from),
                    body: "wants to send you files".to_owned(),
                };
            }
        }
        Action::None
    }

    fn accept(&mut self, key: u64, settings: &Settings) -> Task<Message> {
        let handle = self.handle.clone();
        let Some(card) = self.transfers.get_mut(&key) else {
            return Task::none();
        };
        let Some(offer) = card.offer.take() else {
            return Task::none();
        };
        let Some(handle) = handle else {
            card.offer = Some(offer);
            self.notice = Some("Not connected to the hub; try again when it is back.".into());
            return Task::none();
        };
        let dir = settings.downloads();
        card.saved_in = Some(dir.clone());
        card.state = CardState::Connecting;
        let stream = transfer::receive(handle, offer, None, dir, transfer::Options::default());
        self.run_transfer(key, stream)
    }

    fn run_transfer(&mut self, key: u64, stream: transfer::Transfer) -> Task<Message> {
        let canceller = stream.canceller();
        let (task, abort) = Task::run(stream, move |u| Message::Transfer(key, u)).abortable();
        if let Some(card) = self.transfers.get_mut(&key) {
            card.canceller = Some(canceller);
            card.abort = Some(abort.abort_on_drop());
        }
        task
    }

    /// Tells the peers of the open conversation that we read their messages.
    fn mark_read(&mut self) -> Task<Message> {
        let target = self.selected;
        let me = self.me;
        let Some(c) = self.conversations.get_mut(&target) else {
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
        match (last, self.handle.clone()) {
            (Some(id), Some(handle)) => Task::future(async move {
                handle
                    .mark_read(peer, id)
                    .await
                    .err()
                    .map(|e| Message::Failed(e.to_string()))
            })
            .and_then(Task::done),
            _ => Task::none(),
        }
    }

    /// Handles a message.
    pub fn update(&mut self, message: Message, settings: &mut Settings) -> Action {
        match message {
            Message::Select(target) => {
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
                self.conversation(target);
                return Action::Run(self.mark_read());
            }
            Message::Search(s) => {
                self.search = s;
                self.contacts_offset = 0.0;
                self.refresh_roster();
            }
            Message::ContactsScrolled(viewport) => {
                self.contacts_offset = viewport.absolute_offset().y;
                self.contacts_height = viewport.bounds().height;
            }
            Message::Edit(action) => {
                let edit = action.is_edit();
                self.composer.perform(action);
                if edit {
                    self.typing();
                }
            }
            Message::Send => return self.send(),
            Message::ShowEarlier => {
                let target = self.selected;
                let c = self.conversation(target);
                c.shown = (c.shown + PAGE).min(c.items.len());
            }
            Message::TogglePanel => {
                self.panel = match self.panel {
                    Some(_) => None,
                    None => Some(Tab::Settings),
                };
            }
            Message::Panel(tab) => self.panel = Some(tab),
            Message::Attach => {
                if !crate::system::dialogs_available() {
                    self.notice = Some(format!(
                        "{} Drop files on the window to send them.",
                        crate::system::NO_DIALOGS
                    ));
                    return Action::None;
                }
                return Action::Run(Task::perform(crate::system::pick_files(), |files| {
                    Message::Files(files.unwrap_or_default())
                }));
            }
            Message::Files(paths) => return self.offer_files(paths),
            Message::Prepared(key, source) => return self.prepared(key, source),
            Message::Transfer(key, update) => return self.transfer_update(key, update, settings),
            Message::Accept(key) => return Action::Run(self.accept(key, settings)),
            Message::Decline(key) => {
                let handle = self.handle.clone();
                if let Some(card) = self.transfers.get_mut(&key)
                    && let Some(offer) = card.offer.take()
                {
                    card.state = CardState::Declined("You declined.".into());
                    if let Some(handle) = handle {
                        let id = offer.id;
                        return Action::Run(
                            Task::future(async move {
                                handle.decline(id, Declined::ByUser).await.err()
                            })
                            .and_then(|e| Task::done(Message::Failed(e.to_string()))),
                        );
                    }
                }
            }
            Message::Cancel(key) => {
                if self.transfers.get(&key).is_some_and(|c| c.offer.is_some()) {
                    // An offer not yet answered: cancelling it is declining it.
                    return self.update(Message::Decline(key), settings);
                }
                if let Some(card) = self.transfers.get_mut(&key) {
                    match &card.canceller {
                        Some(c) => c.cancel(),
                        None => {
                            if let Some(abort) = card.abort.take() {
                                abort.abort();
                            }
                            card.state = CardState::Failed("Cancelled.".into());
                        }
                    }
                }
            }
            Message::Expand(key) => {
                if let Some(card) = self.transfers.get_mut(&key) {
                    card.expanded = true;
                }
            }
            Message::OpenFolder(path) => crate::system::open_folder(&path),
            Message::DismissNotice => self.notice = None,
            Message::Failed(e) => self.notice = Some(e),
            Message::Trust(id, trusted) => {
                settings.set_trusted(&id, trusted);
                return Action::SaveSettings;
            }
            Message::ChooseDownloads => {
                if !crate::system::dialogs_available() {
                    self.notice = Some(crate::system::NO_DIALOGS.to_owned());
                    return Action::None;
                }
                return Action::Run(Task::perform(
                    crate::system::pick_folder("Download folder"),
                    Message::DownloadsChosen,
                ));
            }
            Message::DownloadsChosen(dir) => {
                if let Some(dir) = dir {
                    settings.download_dir = Some(dir);
                    self.downloads_draft = None;
                    self.downloads_error = None;
                    return Action::SaveSettings;
                }
            }
            Message::DownloadsTyped(text) => {
                self.downloads_draft = Some(text);
                self.downloads_error = None;
            }
            Message::DownloadsSet => {
                let Some(text) = self.downloads_draft.clone() else {
                    return Action::None;
                };
                match usable_folder(&text) {
                    Ok(dir) => {
                        settings.download_dir = Some(dir);
                        self.downloads_draft = None;
                        self.downloads_error = None;
                        return Action::SaveSettings;
                    }
                    Err(e) => self.downloads_error = Some(e),
                }
            }
            Message::Dark(on) => {
                settings.dark = on;
                return Action::SaveSettings;
            }
            Message::AutoAccept(on) => {
                settings.auto_accept_trusted = on;
                return Action::SaveSettings;
            }
            Message::Notifications(on) => {
                settings.notifications = on;
                return Action::SaveSettings;
            }
            Message::ProfileName(n) => self.draft.name = n,
            Message::ProfileStatus(s) => self.draft.status = s,
            Message::ProfilePresence(p) => self.draft.presence = p,
            Message::BuiltinAvatar(n) => {
                if let Some((png, _)) = self.builtin.get(n) {
                    self.draft.avatar = png.clone();
                }
            }
            Message::NoAvatar => self.draft.avatar.clear(),
            Message::ChooseAvatar => {
                if !crate::system::dialogs_available() {
                    self.draft.error = Some(crate::system::NO_DIALOGS.to_owned());
                    return Action::None;
                }
                return Action::Run(Task::perform(
                    crate::system::pick_image(),
                    Message::AvatarChosen,
                ));
            }
            Message::AvatarChosen(bytes) => {
                if let Some(bytes) = bytes {
                    match avatar::from_image(&bytes) {
                        Ok(png) => {
                            self.draft.avatar = png;
                            self.draft.error = None;
                        }
                        Err(e) => self.draft.error = Some(e.to_string()),
                    }
                }
            }
            Message::SaveProfile => return self.save_profile(settings),
            Message::ProfileSaved(profile) => {
                self.my_avatar = avatar_handle(&profile.avatar);
                self.profile = profile;
                self.notice = Some("Profile saved.".into());
                return Action::SaveSettings;
            }
            Message::CopyJoin => {
                let text = self
                    .hub
                    .join
                    .first()
                    .cloned()
                    .unwrap_or_else(|| self.hub.address.clone());
                self.notice = Some(format!("Copied {text}"));
                return Action::Run(iced::clipboard::write(text));
            }
            Message::LogOut => return Action::LogOut,
        }
        Action::None
    }

    fn typing(&mut self) {
        let now = Instant::now();
        if self
            .last_typing
            .is_some_and(|t| now.duration_since(t) < TYPING_EVERY)
        {
            return;
        }
        if let Some(h) = &self.handle
            && h.typing(self.selected).is_ok()
        {
            self.last_typing = Some(now);
        }
    }

    fn send(&mut self) -> Action {
        let text = self.composer.text();
        let text = text.trim_matches(|c: char| c == '\n' || c == '\r');
        if text.trim().is_empty() {
            return Action::None;
        }
        if text.len() > courier_core::limits::MAX_TEXT {
            self.notice = Some(format!(
                "The message is too long ({}); the limit is {}.",
                crate::format::size(text.len() as u64),
                crate::format::size(courier_core::limits::MAX_TEXT as u64)
            ));
            return Action::None;
        }
        if self.handle.is_none() {
            self.notice = Some("Not connected to the hub.".into());
            return Action::None;
        }
        let target = self.selected;
        let text = text.to_owned();
        if self.connection != Connection::Online {
            // Kept here rather than in the session's queue: after a hub restart the
            // recipient may not be back yet, and the hub would refuse it as unknown.
            let id = MsgId::random();
            self.waiting.push(id);
            self.push_mine(target, id, text, Delivery2::Waiting);
        } else {
            match self
                .handle
                .as_ref()
                .map(|h| h.try_send_message(target, text.as_str()))
            {
                Some(Ok(id)) => {
                    self.sent.insert(id, target);
                    self.push_mine(target, id, text, Delivery2::Sent);
                }
                // The text stays in the composer: nothing typed is lost.
                Some(Err(e)) => {
                    self.notice = Some(format!("Not sent ({e}); your text is kept."));
                    return Action::None;
                }
                None => return Action::None,
            }
        }
        self.composer = text_editor::Content::new();
        self.last_typing = None;
        Action::None
    }

    fn push_mine(&mut self, target: Target, id: MsgId, text: String, state: Delivery2) {
        let bubble = Bubble {
            id,
            from: self.me,
            text,
            time: Timestamp::now(),
            state,
        };
        self.conversation(target).items.push(Item::Message(bubble));
    }

    /// Sends what was written while the hub was away, to everyone and to each
    /// recipient the hub knows again; the rest keeps waiting for its recipient.
    fn flush_waiting(&mut self) {
        if self.connection != Connection::Online || self.waiting.is_empty() {
            return;
        }
        let Some(handle) = self.handle.clone() else {
            return;
        };
        let me = self.me;
        let waiting = std::mem::take(&mut self.waiting);
        for local in waiting {
            let found = self.conversations.iter_mut().find_map(|(target, c)| {
                c.items.iter_mut().find_map(|i| match i {
                    Item::Message(b) if b.id == local && b.from == me => Some((*target, b)),
                    _ => None,
                })
            });
            let Some((target, bubble)) = found else {
                continue;
            };
            let known = match target {
                Target::Everyone => true,
                Target::Client(id) => self.contacts.get(&id).is_some(),
            };
            if !known {
                self.waiting.push(local);
                continue;
            }
            match handle.try_send_message(target, bubble.text.as_str()) {
                Ok(id) => {
                    bubble.id = id;
                    bubble.state = Delivery2::Sent;
                    self.sent.insert(id, target);
                }
                Err(_) => self.waiting.push(local),
            }
        }
    }

    fn offer_files(&mut self, paths: Vec<PathBuf>) -> Action {
        if paths.is_empty() {
            return Action::None;
        }
        let Target::Client(peer) = self.selected else {
            self.notice = Some("Files go to one person: pick a contact first.".into());
            return Action::None;
        };
        if self.handle.is_none() {
            self.notice = Some("Not connected to the hub.".into());
            return Action::None;
        }
        let key = self.add_card(Card {
            peer,
            outgoing: true,
            files: Vec::new(),
            folders: 0,
            total: 0,
            state: CardState::Preparing,
            route: None,
            progress: None,
            id: None,
            offer: None,
            saved_in: None,
            expanded: false,
            canceller: None,
            abort: None,
        });
        self.conversation(Target::Client(peer));
        Action::Run(Task::perform(
            smol::unblock(move || {
                transfer::source::Source::from_paths(&paths).map_err(|e| e.to_string())
            }),
            move |r| Message::Prepared(key, r),
        ))
    }

    fn prepared(&mut self, key: u64, source: Result<transfer::source::Source, String>) -> Action {
        let handle = self.handle.clone();
        let Some(card) = self.transfers.get_mut(&key) else {
            return Action::None;
        };
        if card.state != CardState::Preparing {
            return Action::None;
        }
        let source = match source {
            Ok(s) => s,
            Err(e) => {
                card.state = CardState::Failed(e);
                return Action::None;
            }
        };
        let Some(handle) = handle else {
            card.state = CardState::Failed("Not connected to the hub.".into());
            return Action::None;
        };
        card.files = source.manifest.files.clone();
        card.folders = source.manifest.folders.len();
        card.total = card.files.iter().map(|f| f.size).sum();
        card.state = CardState::Waiting;
        let stream = transfer::send_source(handle, card.peer, source, transfer::Options::default());
        Action::Run(self.run_transfer(key, stream))
    }

    fn transfer_update(
        &mut self,
        key: u64,
        update: transfer::Update,
        settings: &Settings,
    ) -> Action {
        let Some(card) = self.transfers.get_mut(&key) else {
            return Action::None;
        };
        match update {
            transfer::Update::Offered { id } => card.id = Some(id),
            transfer::Update::Accepted { .. } => card.state = CardState::Connecting,
            transfer::Update::Connected { route } => {
                card.route = Some(route);
                card.state = CardState::Running;
            }
            transfer::Update::Progress(p) => {
                card.state = CardState::Running;
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
                                .or_else(|| Some(settings.downloads()));
                        }
                        CardState::Done(done_text(&summary, card.outgoing))
                    }
                    Err(e) => match &*e {
                        transfer::Error::Declined => CardState::Declined("Declined.".into()),
                        transfer::Error::NoSpaceAtReceiver => CardState::Declined(
                            "Declined: not enough disk space on their side.".into(),
                        ),
                        transfer::Error::Cancelled { by } if *by == self.me => {
                            CardState::Failed("You cancelled.".into())
                        }
                        _ => CardState::Failed(capitalize(&e.to_string())),
                    },
                };
            }
            // Per-file news is summed up at the end.
            _ => {}
        }
        Action::None
    }

    fn save_profile(&mut self, settings: &mut Settings) -> Action {
        let profile = Profile {
            name: self.draft.name.trim().to_owned(),
            presence: self.draft.presence,
            status: self.draft.status.trim().to_owned(),
            avatar: serde_bytes::ByteBuf::from(self.draft.avatar.clone()),
        };
        if let Err(e) = validate_profile(&profile) {
            self.draft.error = Some(capitalize(&e.to_string()));
            return Action::None;
        }
        self.draft.error = None;
        settings.name = profile.name.clone();
        settings.status = profile.status.clone();
        settings.presence = profile.presence;
        let Some(handle) = self.handle.clone() else {
            self.profile = profile;
            return Action::SaveSettings;
        };
        Action::Run(Task::batch([
            Task::future(async move {
                match handle.set_profile(profile.clone()).await {
                    Ok(()) => Message::ProfileSaved(profile),
                    Err(e) => Message::Failed(format!("The profile was not saved: {e}")),
                }
            }),
            // The parent saves the settings when it sees ProfileSaved.
        ]))
    }

    /// Draws the window.
    pub fn view<'a>(&'a self, settings: &'a Settings) -> Element<'a, Message> {
        let contacts = container(contacts::view(
            self,
            self.contacts_offset,
            self.contacts_height,
        ))
        .width(280)
        .height(Fill)
        .style(style::column);
        let chat = conversation::view(self, settings);
        let mut body = row![contacts, rule::vertical(1), chat];
        if let Some(tab) = self.panel {
            body = body.push(rule::vertical(1)).push(
                container(panel::view(self, tab, settings))
                    .width(330)
                    .height(Fill)
                    .style(style::column),
            );
        }
        column![body.height(Fill)].into()
    }
}

impl Default for Conversation {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            unread: 0,
            typing: None,
            shown: PAGE,
        }
    }
}

/// A typed download folder: absolute (a leading `~/` means the home folder), and a
/// folder that exists or can be made.
fn usable_folder(text: &str) -> Result<PathBuf, String> {
    let text = text.trim();
    let path = match text.strip_prefix("~/") {
        Some(rest) => match directories::UserDirs::new() {
            Some(u) => u.home_dir().join(rest),
            None => return Err("There is no home folder to put ~ in.".into()),
        },
        None => PathBuf::from(text),
    };
    if text.is_empty() || !path.is_absolute() {
        return Err("Give the whole path, like /home/ada/Downloads.".into());
    }
    std::fs::create_dir_all(&path).map_err(|e| format!("Cannot use {}: {e}.", path.display()))?;
    if !path.is_dir() {
        return Err(format!("{} is not a folder.", path.display()));
    }
    Ok(path)
}

fn rejection(r: RejectReason) -> &'static str {
    match r {
        RejectReason::NoSuchPeer => "not delivered: no such contact",
        RejectReason::BadText => "not delivered: empty or too long",
        RejectReason::RateLimited => "not delivered: sending too fast",
        RejectReason::QueueFull => "not delivered: their offline queue is full",
    }
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
        crate::format::size(s.bytes),
        crate::format::duration(s.elapsed)
    );
    if s.resumed > 0 {
        text.push_str(&format!(
            " (resumed, {} were already there)",
            crate::format::size(s.resumed)
        ));
    }
    text
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Decodes avatar bytes from the network into a picture ([`avatar::decode`]: anything
/// large or odd is refused).
pub fn avatar_handle(bytes: &[u8]) -> Option<iced::widget::image::Handle> {
    let img = avatar::decode(bytes)?;
    let (w, h) = img.dimensions();
    Some(iced::widget::image::Handle::from_rgba(w, h, img.into_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_core::proto::{Card as ContactCard, Contact, Manifest};
    use iced_test::simulator;

    fn contact(n: u8, name: &str) -> Contact {
        Contact {
            id: ClientId([n; 32]),
            profile: ContactCard {
                name: name.into(),
                ..ContactCard::default()
            },
            online: true,
            last_seen: Timestamp(0),
        }
    }

    fn chat_with(contacts: Vec<Contact>) -> Chat {
        let welcome = Welcome {
            you: ClientId([1; 32]),
            hub: ClientId([9; 32]),
            first_contact: false,
            contacts,
            time: Timestamp(0),
        };
        let hub = HubInfo {
            address: "127.0.0.1:8977".into(),
            fingerprint: ClientId([9; 32]),
            join: vec!["127.0.0.1:8977".into()],
            hosted: false,
        };
        Chat::new(None, &welcome, Profile::with_name("Ada"), hub)
    }

    /// Whether the rendered chat shows `text` somewhere.
    fn shows(chat: &Chat, settings: &Settings, text: &str) -> bool {
        let mut ui = simulator(chat.view(settings));
        ui.find(text).is_ok()
    }

    /// Renders the chat, lets `f` use it, and feeds the produced messages back.
    fn interact(
        chat: &mut Chat,
        settings: &mut Settings,
        f: impl FnOnce(&mut iced_test::Simulator<'_, Message>),
    ) -> Vec<Action> {
        let view_settings = settings.clone();
        let mut ui = simulator(chat.view(&view_settings));
        f(&mut ui);
        let messages: Vec<Message> = ui.into_messages().collect();
        messages
            .into_iter()
            .map(|m| chat.update(m, settings))
            .collect()
    }

    fn message(from: u8, to: Target, text: &str) -> Event {
        Event::Message(ChatMessage {
            id: MsgId(u64::from(from) << 8 | text.len() as u64),
            from: ClientId([from; 32]),
            to,
            text: text.into(),
            time: Timestamp(1_700_000_000_000),
        })
    }

    #[test]
    fn incoming_message_raises_unread_until_opened() -> Result<(), iced_test::Error> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![contact(2, "Bob"), contact(3, "Carol")]);
        let bob = Target::Client(ClientId([2; 32]));
        let action = chat.session_event(message(2, Target::Client(chat.me), "hi Ada"), &settings);
        assert!(
            matches!(action, Action::None),
            "focused elsewhere: no notification"
        );
        chat.session_event(
            message(2, Target::Client(chat.me), "are you there?"),
            &settings,
        );
        assert_eq!(chat.unread(&bob), 2);
        assert!(shows(&chat, &settings, "2"), "the unread badge shows 2");
        assert!(
            !shows(&chat, &settings, "hi Ada"),
            "another conversation is open"
        );

        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Bob");
        });
        assert_eq!(chat.selected, bob);
        assert_eq!(chat.unread(&bob), 0, "opening the conversation reads it");
        assert!(shows(&chat, &settings, "hi Ada"));
        assert!(!shows(&chat, &settings, "2"), "the badge is gone");

        // A message to everyone counts on the Everyone entry, and an unfocused window
        // asks for a desktop notification.
        let _ = chat.focus(false);
        let action = chat.session_event(message(3, Target::Everyone, "lunch?"), &settings);
        assert!(
            matches!(&action, Action::Notify { title, body } if title.contains("Carol") && body == "lunch?")
        );
        assert_eq!(chat.unread(&Target::Everyone), 1);
        settings.notifications = false;
        let action = chat.session_event(message(3, Target::Everyone, "anyone?"), &settings);
        assert!(matches!(action, Action::None), "notifications off");
        Ok(())
    }

    #[test]
    fn side_panel_opens_switches_and_closes() -> Result<(), iced_test::Error> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![]);
        assert_eq!(chat.panel, None);
        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Settings & profile");
        });
        assert_eq!(chat.panel, Some(Tab::Settings));
        assert!(shows(&chat, &settings, "Download folder"));

        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Menu");
        });
        assert_eq!(chat.panel, Some(Tab::Menu));
        assert!(
            shows(&chat, &settings, &ClientId([9; 32]).safety_code()),
            "the hub's safety code is shown"
        );

        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Close panel");
        });
        assert_eq!(chat.panel, None);
        assert!(!shows(&chat, &settings, "Download folder"));
        Ok(())
    }

    #[test]
    fn download_folder_can_be_typed_and_is_checked() -> Result<(), Box<dyn std::error::Error>> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![]);
        chat.panel = Some(Tab::Settings);
        let dir = std::env::temp_dir().join(format!("courier-iced-dl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);

        let actions = interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click(iced::widget::Id::new("downloads"));
            // Select what is there and type over it.
            ui.tap_key(iced::keyboard::Key::Named(iced::keyboard::key::Named::End));
            for _ in 0..settings_len() {
                ui.tap_key(iced::keyboard::Key::Named(
                    iced::keyboard::key::Named::Backspace,
                ));
            }
            ui.typewrite("relative/path");
            ui.tap_key(iced::keyboard::Key::Named(
                iced::keyboard::key::Named::Enter,
            ));
        });
        assert!(actions.iter().all(|a| matches!(a, Action::None)));
        assert_eq!(chat.downloads_draft.as_deref(), Some("relative/path"));
        assert!(
            chat.downloads_error
                .as_deref()
                .is_some_and(|e| e.contains("whole path"))
        );
        assert!(settings.download_dir.is_none(), "nothing changed");

        chat.update(
            Message::DownloadsTyped(dir.display().to_string()),
            &mut settings,
        );
        let action = chat.update(Message::DownloadsSet, &mut settings);
        assert!(matches!(action, Action::SaveSettings));
        assert_eq!(settings.download_dir.as_deref(), Some(dir.as_path()));
        assert!(dir.is_dir(), "the folder was made");
        assert!(chat.downloads_draft.is_none());
        std::fs::remove_dir_all(&dir)?;

        // A file where the folder should be is refused with a reason.
        let file =
            std::env::temp_dir().join(format!("courier-iced-dl-file-{}", std::process::id()));
        std::fs::write(&file, b"x")?;
        chat.update(
            Message::DownloadsTyped(file.display().to_string()),
            &mut settings,
        );
        chat.update(Message::DownloadsSet, &mut settings);
        assert!(chat.downloads_error.is_some());
        assert_eq!(
            settings.download_dir.as_deref(),
            Some(dir.as_path()),
            "kept"
        );
        let _ = std::fs::remove_file(&file);
        Ok(())
    }

    fn settings_len() -> usize {
        Settings::default()
            .downloads()
            .display()
            .to_string()
            .chars()
            .count()
    }

    #[test]
    fn settings_toggles_change_and_ask_to_save() {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![]);
        chat.panel = Some(Tab::Settings);
        let actions = interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Dark theme");
        });
        assert!(settings.dark);
        assert!(matches!(actions.as_slice(), [Action::SaveSettings]));
    }

    #[test]
    fn profile_changes_are_validated_and_kept() -> Result<(), iced_test::Error> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![]);
        chat.panel = Some(Tab::Profile);
        let actions = interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click(iced::widget::Id::new("profile-status"));
            ui.typewrite("in a meeting");
            let _ = ui.click("Busy");
        });
        assert!(actions.iter().all(|a| matches!(a, Action::None)));
        assert_eq!(chat.draft.status, "in a meeting");
        assert_eq!(chat.draft.presence, Presence::Busy);
        chat.update(Message::BuiltinAvatar(3), &mut settings);
        assert_eq!(chat.draft.avatar, avatar::builtin(3));

        let actions = interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Save profile");
        });
        assert!(matches!(actions.as_slice(), [Action::SaveSettings]));
        assert_eq!(chat.profile.status, "in a meeting");
        assert_eq!(chat.profile.presence, Presence::Busy);
        assert_eq!(
            chat.profile.avatar.as_slice(),
            avatar::builtin(3).as_slice()
        );
        assert_eq!(settings.status, "in a meeting");

        // An empty name is refused with a reason, and nothing changes.
        chat.update(Message::ProfileName("   ".into()), &mut settings);
        let action = chat.update(Message::SaveProfile, &mut settings);
        assert!(matches!(action, Action::None));
        assert!(chat.draft.error.is_some());
        assert_eq!(chat.profile.name, "Ada");
        // An image that is not one is refused too.
        chat.update(
            Message::AvatarChosen(Some(b"not an image".to_vec())),
            &mut settings,
        );
        assert!(
            chat.draft
                .error
                .as_deref()
                .is_some_and(|e| e.contains("image"))
        );
        Ok(())
    }

    fn offer(from: u8, id: u8) -> Event {
        Event::Offer(IncomingOffer {
            id: TransferId(u64::from(id)),
            from: ClientId([from; 32]),
            manifest: Manifest {
                files: vec![
                    FileEntry {
                        path: "photos/beach.jpg".into(),
                        size: 2_500_000,
                    },
                    FileEntry {
                        path: "notes.txt".into(),
                        size: 1200,
                    },
                ],
                folders: vec![],
            },
            addrs: vec![],
        })
    }

    #[test]
    fn offer_card_lists_files_and_can_be_declined() -> Result<(), iced_test::Error> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![contact(2, "Bob")]);
        chat.update(
            Message::Select(Target::Client(ClientId([2; 32]))),
            &mut settings,
        );
        chat.session_event(offer(2, 1), &settings);
        assert!(shows(&chat, &settings, "Bob sends 2 files, 2.5 MB"));
        assert!(shows(&chat, &settings, "photos/beach.jpg"));
        assert!(shows(&chat, &settings, "1.2 kB"));
        // A long offer lists its first files and every one on request.
        let many: Vec<FileEntry> = (0..20)
            .map(|i| FileEntry {
                path: format!("photos/img{i:02}.jpg"),
                size: 1000,
            })
            .collect();
        chat.session_event(
            Event::Offer(IncomingOffer {
                id: TransferId(77),
                from: ClientId([2; 32]),
                manifest: Manifest {
                    files: many,
                    folders: vec![],
                },
                addrs: vec![],
            }),
            &settings,
        );
        assert!(shows(&chat, &settings, "photos/img05.jpg"));
        assert!(!shows(&chat, &settings, "photos/img19.jpg"));
        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Show all 20 files");
        });
        assert!(shows(&chat, &settings, "photos/img19.jpg"));
        chat.update(
            Message::Decline(chat.transfers.keys().copied().max().unwrap_or(0)),
            &mut settings,
        );
        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Decline");
        });
        let card = chat.transfers.values().next().map(|c| c.state.clone());
        assert_eq!(card, Some(CardState::Declined("You declined.".into())));
        assert!(
            !shows(&chat, &settings, "Accept"),
            "no more buttons once answered"
        );

        // Accepting while the hub is away keeps the offer and says why.
        chat.session_event(offer(2, 2), &settings);
        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Accept");
        });
        assert!(
            chat.notice
                .as_deref()
                .is_some_and(|n| n.contains("Not connected"))
        );
        assert!(
            chat.transfers
                .values()
                .any(|c| c.state == CardState::Incoming && c.offer.is_some())
        );

        // The sender cancelling an unanswered offer ends the card.
        chat.session_event(
            Event::TransferEnded {
                id: TransferId(2),
                end: TransferEnd::Cancelled {
                    by: ClientId([2; 32]),
                },
            },
            &settings,
        );
        assert!(chat.transfers.values().all(|c| c.state.is_over()));
        Ok(())
    }

    #[test]
    fn receipts_and_reads_update_our_bubbles() {
        let settings = Settings::default();
        let mut chat = chat_with(vec![contact(2, "Bob")]);
        let bob = Target::Client(ClientId([2; 32]));
        for (n, state) in [
            (1, Delivery2::Sent),
            (2, Delivery2::Sent),
            (3, Delivery2::Sent),
        ] {
            let me = chat.me;
            chat.sent.insert(MsgId(n), bob);
            chat.conversation(bob).items.push(Item::Message(Bubble {
                id: MsgId(n),
                from: me,
                text: format!("m{n}"),
                time: Timestamp(0),
                state,
            }));
        }
        let states = |chat: &Chat| -> Vec<Delivery2> {
            chat.conversations[&bob]
                .items
                .iter()
                .filter_map(|i| match i {
                    Item::Message(b) => Some(b.state.clone()),
                    Item::Transfer(_) => None,
                })
                .collect()
        };
        chat.session_event(
            Event::Receipt {
                id: MsgId(1),
                status: Delivery::Delivered,
            },
            &settings,
        );
        chat.session_event(
            Event::Receipt {
                id: MsgId(3),
                status: Delivery::Stored,
            },
            &settings,
        );
        chat.session_event(
            Event::Receipt {
                id: MsgId(2),
                status: Delivery::Rejected(RejectReason::RateLimited),
            },
            &settings,
        );
        assert_eq!(
            states(&chat),
            vec![
                Delivery2::Delivered,
                Delivery2::Failed("not delivered: sending too fast".into()),
                Delivery2::Stored
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
                Delivery2::Read,
                Delivery2::Failed("not delivered: sending too fast".into()),
                Delivery2::Read
            ],
            "a read covers every earlier delivered message, not failed ones"
        );
    }

    #[test]
    fn enter_sends_and_shift_enter_breaks_the_line() {
        use iced::keyboard::{Event as Key, Location, Modifiers, key::Named};
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
        let sends = |messages: &[Message]| {
            messages
                .iter()
                .filter(|m| matches!(m, Message::Send))
                .count()
        };
        let messages: Vec<Message> = {
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
        assert_eq!(chat.composer.text().trim_end(), "line one\nline two");

        let messages: Vec<Message> = {
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
                .any(|m| matches!(m, Message::Edit(a) if a.is_edit())),
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
        assert!(chat.typing_shown());
        assert!(shows(&chat, &settings, "Bob is typing…"));
        chat.tick(Instant::now() + TYPING_SHOWN + Duration::from_millis(1));
        assert!(!chat.typing_shown());

        // Notices expire too, counted from the first tick that saw them.
        chat.notice = Some("Profile saved.".into());
        let t0 = Instant::now();
        chat.tick(t0);
        chat.tick(t0 + NOTICE_SHOWN / 2);
        assert!(chat.notice.is_some());
        chat.tick(t0 + NOTICE_SHOWN);
        assert!(chat.notice.is_none());
    }

    #[test]
    fn look_alike_contacts_get_id_tags_and_search_filters() -> Result<(), iced_test::Error> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![
            contact(2, "Bob"),
            contact(3, "bob"),
            contact(4, "Carol"),
        ]);
        let label = chat.contacts.label(&ClientId([2; 32]));
        assert_ne!(label, "Bob", "same-looking names carry an id tag");
        assert!(shows(&chat, &settings, &label));
        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click(iced::widget::Id::new("contact-search"));
            ui.typewrite("car");
        });
        assert_eq!(chat.search, "car");
        assert!(shows(&chat, &settings, "Carol"));
        assert!(!shows(&chat, &settings, &label));
        Ok(())
    }

    #[test]
    fn files_need_a_contact_and_a_connection() {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![contact(2, "Bob")]);
        let action = chat.update(
            Message::Files(vec![PathBuf::from("/etc/hostname")]),
            &mut settings,
        );
        assert!(matches!(action, Action::None));
        assert!(
            chat.notice
                .as_deref()
                .is_some_and(|n| n.contains("pick a contact"))
        );
        chat.update(
            Message::Select(Target::Client(ClientId([2; 32]))),
            &mut settings,
        );
        chat.update(
            Message::Files(vec![PathBuf::from("/etc/hostname")]),
            &mut settings,
        );
        assert!(
            chat.notice
                .as_deref()
                .is_some_and(|n| n.contains("Not connected"))
        );
        assert!(chat.transfers.is_empty());
    }

    #[test]
    fn hostile_avatar_bytes_are_refused() {
        assert!(avatar_handle(b"").is_none());
        assert!(avatar_handle(&vec![0u8; courier_core::limits::MAX_AVATAR + 1]).is_none());
        assert!(avatar_handle(b"\x89PNG\r\n\x1a\ngarbage").is_none());
        // Small files that decode to large pictures are refused (a few hundred bytes of
        // PNG can claim megapixels).
        let png = |w, h| {
            let mut out = std::io::Cursor::new(Vec::new());
            let img = image::DynamicImage::ImageRgba8(image::RgbaImage::new(w, h));
            img.write_to(&mut out, image::ImageFormat::Png)
                .map(|()| out.into_inner())
        };
        for (w, h, ok) in [
            (1024, 1024, true),
            (1025, 10, false),
            (10, 1025, false),
            (2500, 2500, false),
        ] {
            let bytes = png(w, h).unwrap_or_default();
            assert!(
                bytes.len() < courier_core::limits::MAX_AVATAR,
                "{w}×{h}: {} bytes",
                bytes.len()
            );
            assert_eq!(avatar_handle(&bytes).is_some(), ok, "{w}×{h}");
        }
        assert!(avatar_handle(&avatar::builtin(0)).is_some());
    }
}
