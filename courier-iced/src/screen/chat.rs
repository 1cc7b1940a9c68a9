//! The main window: contacts · conversation (messages and files) · closable side panel.
//!
//! One feature per module, each with its own state, `Message`, `update` and `view`:
//! [`contacts`] (who is who, the list), [`conversation`] (bubbles, composer, receipts,
//! typing, unsent messages), [`transfers`] (transfer cards) and [`panel`] (settings, profile,
//! menu). [`Chat`] routes between them: the session (a subscription of the parent) feeds
//! it with [`Chat::session_event`], [`Chat::connected`] and [`Chat::disconnected`], and
//! it turns what the features ask for into one [`Action`] for the parent. Every task it
//! hands out brings its messages back as [`Message::Answer`] under the chat's [`ChatId`]
//! ([`Chat::own`]): the parent hands them to whichever chat is on screen, and a chat
//! drops the answers of another (one the user left for another hub).

pub mod contacts;
pub mod conversation;
pub mod groups;
mod groups_chat;
pub mod hub;
pub mod panel;
pub mod people;
mod refused;
pub mod safety;
pub mod transfers;
mod view;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use courier_core::proto::{ClientId, Profile, Target};
use courier_core::session::{Event, Handle, Welcome};
use iced::Task;

use crate::settings::Settings;

use conversation::Conversations;
use panel::Panel;
use people::People;
use transfers::Transfers;

pub use hub::HubInfo;
pub use panel::Tab;

/// Pictures asked for at once after login, then this many a second (the hub sends at
/// most `limits::AVATAR_REQUEST_BURST` at once and `AVATAR_REQUESTS_PER_SEC` a second).
const AVATARS_AT_ONCE: usize = courier_core::limits::AVATAR_REQUEST_BURST as usize - 10;
const AVATARS_PER_SEC: usize = courier_core::limits::AVATAR_REQUESTS_PER_SEC as usize - 1;

/// How long a notice stays before it goes away by itself.
pub const NOTICE_SHOWN: Duration = Duration::from_secs(8);

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

/// Which chat a task's answer is for. Each [`Chat`] has its own: a chat the user left
/// (logged out, joined another hub) leaves tasks behind that still deliver (its history
/// worker finishes what was queued, a file is still being read), and what they bring is
/// told from the answers of the chat on screen by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatId(u64);

impl ChatId {
    /// One not given to any chat before in this process.
    fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The main window's state.
#[derive(Debug)]
pub struct Chat {
    /// Which chat this is: every task it hands out brings its messages back under it.
    id: ChatId,
    /// Our profile as the hub has it.
    profile: Profile,
    /// The one before the last profile given to the hub: put back if it refuses that.
    sent_before: Option<Profile>,
    /// That profile brought a new picture, not yet on our card from the hub: the hub
    /// refuses one (too soon, no room) as rate limited.
    picture_sent: bool,
    /// The hub.
    hub: HubInfo,
    /// For sending; `None` only in tests and benchmarks.
    handle: Option<Handle>,
    /// Online or reconnecting.
    connection: Connection,
    /// Whether the window has focus.
    focused: bool,
    /// A passing problem or confirmation shown above the composer.
    notice: Option<String>,
    notice_since: Option<(String, Instant)>,
    /// Who is who, and the contact list.
    people: People,
    /// Every conversation and the composer.
    conversations: Conversations,
    /// Transfer cards.
    transfers: Transfers,
    /// The side panel.
    panel: Panel,
    /// The groups we are in, the New group form and a group's member page.
    groups: groups_chat::Grouping,
}

impl Chat {
    /// The contact whose conversation is open, if online and not us: the connection
    /// check tests the link to them too (their id, as the check resolves it).
    pub fn link_test_peer(&self) -> Option<String> {
        let Target::Client(id) = self.conversations.selected else {
            return None;
        };
        let contact = self.people.list.get(&id)?;
        (contact.online && id != self.people.me).then(|| id.to_hex())
    }
}

/// What the user did, or what a task reported.
#[derive(Debug, Clone)]
pub enum Message {
    /// In the contact list.
    Contacts(contacts::Message),
    /// In the open conversation.
    Conversation(conversation::Message),
    /// On a transfer card (drawn in the open conversation).
    Transfer(transfers::Message),
    /// In the side panel.
    Panel(panel::Message),
    /// About groups: the New group form, a member page, the hub's tags.
    Groups(groups::Message),
    /// Files chosen in the dialog, or dropped on the window: offer them.
    Files(Vec<PathBuf>),
    /// Mark a contact trusted or not.
    Trust(ClientId, bool),
    /// About a contact's safety number and verified mark.
    Safety(safety::Message),
    /// The hub took our new profile.
    ProfileSaved(Profile),
    /// Dismiss the notice.
    DismissNotice,
    /// A command to the session failed.
    Failed(String),
    /// The history was opened, or why not.
    HistoryOpened(Result<(), String>),
    /// What a task of the chat [`ChatId`] brought back: handled by that chat only, and
    /// dropped by any other (the chat on screen now, after the user left that one).
    Answer(ChatId, Box<Self>),
}

/// What the main window starts with besides the session: see [`Chat::boot`].
#[derive(Debug, Default)]
pub struct Boot {
    /// The profile folder whose history of this hub is kept (`None`: none is kept).
    pub history: Option<PathBuf>,
    /// Whether the window has focus.
    pub focused: bool,
    /// Offers to resume (the hub stores them for someone), to offer again: to whom, the
    /// hub's id, the paths chosen.
    pub offers_to_resume: Vec<(ClientId, courier_core::proto::TransferId, Vec<PathBuf>)>,
}

/// Opens a conversation, as clicking its contact does.
pub fn select(target: Target) -> Message {
    Message::Contacts(contacts::Message::Select(target))
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
    /// Restart the hub hosted here with this new password.
    ChangeHubPassword(String),
    /// Run the connection check and feed its steps to the Menu.
    CheckConnection,
    /// Do this, and run this task (the history's answers to wait for).
    And(Box<Self>, Task<Message>),
}

impl Chat {
    /// The main window after login: `history` is the profile folder whose history of
    /// this hub is kept (none in tests and benchmarks), `focused` whether the window
    /// has focus, `offers_to_resume` the offers the hub stores for someone, to offer
    /// again (to whom, the hub's id, the paths chosen). The task opens the history,
    /// asks for pictures and offers again; a hub hosted here opens the Menu (what the
    /// others need to join: addresses, safety code).
    pub fn boot(
        handle: Option<Handle>,
        welcome: &Welcome,
        profile: Profile,
        hub: HubInfo,
        boot: Boot,
    ) -> (Self, Task<Message>) {
        let mut chat = Self {
            id: ChatId::fresh(),
            people: People::new(welcome.you, welcome.contacts.clone(), &profile.avatar),
            panel: Panel::new(&profile),
            profile,
            sent_before: None,
            picture_sent: false,
            hub,
            handle,
            connection: Connection::Online,
            focused: boot.focused,
            notice: None,
            notice_since: None,
            conversations: Conversations::new(),
            transfers: Transfers::default(),
            groups: groups_chat::Grouping::default(),
        };
        chat.people.set_own_name(&chat.profile.name);
        if chat.hub.hosted {
            chat.panel.tab = Some(Tab::Menu);
        }
        let opened = match boot.history {
            Some(dir) => {
                chat.people.trust.load(&dir, &chat.people.list);
                let (worker, opened) = crate::history::Worker::open(dir, chat.hub.fingerprint);
                chat.keep_history(worker);
                Task::perform(opened, Message::HistoryOpened)
            }
            None => Task::none(),
        };
        let avatars = chat.fetch_avatars();
        let resumed = chat.resume_offers(boot.offers_to_resume);
        let asked = chat.conversations.take_tasks().map(Message::Conversation);
        let task = chat.own(Task::batch([opened, asked, avatars, resumed]));
        (chat, task)
    }

    /// Which chat this is.
    pub fn id(&self) -> ChatId {
        self.id
    }

    /// Brings what `task` produces back as this chat's answers ([`Message::Answer`]), so
    /// that another chat drops them. Every task the chat hands out goes through here, and
    /// so does work the parent runs for it (the connection check's steps).
    pub fn own(&self, task: Task<Message>) -> Task<Message> {
        let id = self.id;
        task.map(move |m| Message::Answer(id, Box::new(m)))
    }

    /// [`Chat::own`] for every task in `action`.
    fn own_action(&self, action: Action) -> Action {
        match action {
            Action::Run(task) => Action::Run(self.own(task)),
            Action::And(action, task) => {
                Action::And(Box::new(self.own_action(*action)), self.own(task))
            }
            other => other,
        }
    }

    /// Our id.
    pub fn me(&self) -> ClientId {
        self.people.me
    }

    /// Our profile as the hub has it.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The hub.
    pub fn hub(&self) -> &HubInfo {
        &self.hub
    }

    /// Online or reconnecting.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The notice shown above the composer.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Shows a notice above the composer.
    pub fn set_notice(&mut self, notice: String) {
        self.notice = Some(notice);
    }

    /// The hosted hub's new password (the Menu shows it on request).
    pub fn set_hub_password(&mut self, password: String) {
        self.hub.password = Some(password);
    }

    /// Who is who.
    pub fn people(&self) -> &People {
        &self.people
    }

    /// Every conversation.
    pub fn conversations(&self) -> &Conversations {
        &self.conversations
    }

    /// The transfer cards.
    pub fn transfers(&self) -> &Transfers {
        &self.transfers
    }

    /// The side panel.
    pub fn side_panel(&self) -> &Panel {
        &self.panel
    }

    /// Every conversation, to fill in (benchmarks only).
    #[doc(hidden)]
    pub fn conversations_mut(&mut self) -> &mut Conversations {
        &mut self.conversations
    }

    /// Builds every contact row and message, as if the window were endless: the
    /// benchmark's baseline for what virtualising and paging save.
    #[doc(hidden)]
    pub fn unpaged(&mut self) {
        self.people.unpaged();
        self.conversations.unpaged();
    }

    /// Whether answers of the history are still to come (tests wait for them).
    pub fn history_busy(&self) -> bool {
        self.conversations.history_busy()
    }

    /// Keeps messages in the history behind `worker` from now on and shows what it
    /// holds; remembers the contacts' names in it (for reading it without a connection).
    fn keep_history(&mut self, worker: crate::history::Worker) {
        let names: Vec<(ClientId, String)> = self
            .people
            .list
            .iter()
            .map(|c| (c.id, c.profile.name.clone()))
            .collect();
        self.conversations.keep_history(worker);
        self.conversations.keep_names(names);
    }

    /// The history's tasks join `action`.
    fn with_tasks(&mut self, action: Action) -> Action {
        if !self.conversations.has_tasks() {
            return action;
        }
        let tasks = self.conversations.take_tasks().map(Message::Conversation);
        match action {
            Action::None => Action::Run(tasks),
            Action::Run(task) => Action::Run(Task::batch([task, tasks])),
            other => Action::And(Box::new(other), tasks),
        }
    }

    fn show_history_problem(&mut self) {
        if let Some(p) = self.conversations.take_problem() {
            self.notice = Some(p);
        }
    }

    /// Logged in again after a reconnect: the contact list is fresh, the rest stays.
    pub fn connected(&mut self, handle: Handle, welcome: &Welcome) -> Task<Message> {
        self.handle = Some(handle);
        self.connection = Connection::Online;
        self.people.replace(welcome.contacts.clone());
        self.flush_unsent();
        let asked = self.conversations.take_tasks().map(Message::Conversation);
        let avatars = self.fetch_avatars();
        self.own(Task::batch([avatars, asked]))
    }

    /// The session lost the hub and will retry.
    pub fn disconnected(&mut self, reason: String, retry_in: Option<Duration>) {
        self.connection = Connection::Reconnecting {
            reason,
            next: retry_in.map(|d| Instant::now() + d),
        };
    }

    /// Asks for avatars of contacts whose picture we do not have.
    fn fetch_avatars(&mut self) -> Task<Message> {
        let Some(handle) = self.handle.clone() else {
            return Task::none();
        };
        let wanted = self.people.wanted_avatars();
        if wanted.is_empty() {
            return Task::none();
        }
        // Paced below the hub's picture rate (10 a second, 100 at once): asking faster
        // only earns refusals, and too many of those close the connection.
        Task::future(async move {
            for (n, id) in wanted.into_iter().enumerate() {
                if n >= AVATARS_AT_ONCE && n % AVATARS_PER_SEC == 0 {
                    smol::Timer::after(Duration::from_secs(1)).await;
                }
                if handle.request_avatar(id).await.is_err() {
                    break;
                }
            }
        })
        .discard()
    }

    /// Whether something on screen changes with time (the parent ticks while so).
    pub fn ticking(&self) -> bool {
        self.conversations.typing_shown()
            || self.notice.is_some()
            || self.connection != Connection::Online
    }

    /// Clears typing indicators and notices that ran out.
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
        self.conversations.tick(now);
    }

    /// The window gained or lost focus.
    pub fn focus(&mut self, focused: bool) -> Task<Message> {
        self.focused = focused;
        if focused {
            let read = self.mark_read();
            self.own(read)
        } else {
            Task::none()
        }
    }

    /// Whether the window has focus.
    pub fn focused(&self) -> bool {
        self.focused
    }

    fn mark_read(&mut self) -> Task<Message> {
        let me = self.me();
        let group = self.mark_group_read();
        let read = self.conversations.mark_read(me, self.handle.as_ref());
        Task::batch([read.map(Message::Conversation), group])
    }

    /// Sends the unsent messages (written while the hub was away) whose recipient is back.
    fn flush_unsent(&mut self) {
        if self.connection != Connection::Online || !self.conversations.has_unsent() {
            return;
        }
        if let Some(handle) = &self.handle {
            let me = self.people.me;
            let people = &self.people;
            self.conversations
                .flush_unsent(me, handle, |id| people.get(id).is_some());
        }
    }

    /// Takes what the session reports.
    pub fn session_event(&mut self, event: Event, settings: &Settings) -> Action {
        let action = self.session_event_inner(event, settings);
        self.keep_finished_transfers();
        let action = self.with_tasks(action);
        self.own_action(action)
    }

    /// Transfers that ended go into the history (as kept transfers); a history problem
    /// shows.
    fn keep_finished_transfers(&mut self) {
        let finished = self.transfers.take_finished();
        if !finished.is_empty() {
            self.conversations.keep_transfers(finished);
        }
        self.show_history_problem();
    }

    fn session_event_inner(&mut self, event: Event, settings: &Settings) -> Action {
        if let Event::Contact(c) = &event
            && c.id == self.me()
        {
            self.picture_sent = false;
        }
        if self.people.apply(&event) {
            self.flush_unsent();
            return Action::Run(self.fetch_avatars());
        }
        if let Some(action) = self.group_event(&event) {
            return action;
        }
        let me = self.me();
        match event {
            Event::Message(m) => {
                if let Some(m) = self.conversations.receive(m) {
                    return self.received(&m, settings);
                }
            }
            Event::Unreadable {
                id,
                from,
                to,
                time,
                seq,
                problem,
            } => {
                eprintln!(
                    "courier-app: a message from {} could not be opened: {problem}",
                    self.people.name_of(&from)
                );
                let why = problem.to_string();
                self.conversations.unreadable(id, from, to, time, seq, why);
            }
            Event::UnreadableOffer { from, problem, .. } => {
                let name = self.people.name_of(&from);
                eprintln!("courier-app: a file offer from {name} could not be opened: {problem}");
                self.notice = Some(format!(
                    "{name} offered files that could not be opened ({problem}); declined"
                ));
            }
            Event::Receipt { id, status } => self.conversations.receipt(me, id, status),
            Event::Read { by, id } => self.conversations.read(me, by, id),
            Event::Typing { from, to } => self.conversations.typing(from, to, Instant::now()),
            Event::Avatar { id, bytes } => self.people.avatar_arrived(id, &bytes),
            Event::HubError { code, detail } => {
                self.notice = Some(format!("The hub refused: {detail}"));
                return self.profile_refused(code);
            }
            Event::Offer(offer) => return self.offer(offer, settings),
            Event::TransferEnded { id, end } => self.transfers.ended(id, end),
            _ => {}
        }
        Action::None
    }

    /// Someone's message is shown: read at once if open and in front, else counted
    /// unread, with a desktop notification if the window is in the background.
    fn received(&mut self, m: &courier_core::proto::Message, settings: &Settings) -> Action {
        let target = Conversations::target_of(m);
        if self.focused && self.conversations.selected == target {
            // Open and in front: read at once.
            return Action::Run(self.mark_read());
        }
        if !self.focused && settings.notifications {
            let title = match target {
                Target::Everyone => format!("{} (to everyone)", self.people.name_of(&m.from)),
                Target::Group(g) => self.group_title(&m.from, &g),
                Target::Client(_) => self.people.name_of(&m.from),
            };
            return Action::Notify {
                title,
                body: m.text.clone(),
            };
        }
        Action::None
    }

    fn offer(&mut self, offer: courier_core::proto::IncomingOffer, settings: &Settings) -> Action {
        let from = offer.from;
        // The hub hands a stored offer over again at each login until it is answered.
        if self.transfers.offered_again(&offer) {
            return Action::None;
        }
        let key = self.transfers.incoming(offer);
        self.conversations.add_card(from, key);
        if settings.auto_accepts(&from) {
            return self.card(transfers::Message::Accept(key), settings);
        }
        let target = Target::Client(from);
        if !(self.focused && self.conversations.selected == target) {
            self.conversations.thread(target).unread += 1;
            if !self.focused && settings.notifications {
                return Action::Notify {
                    title: self.people.name_of(&from),
                    body: "wants to send you files".to_owned(),
                };
            }
        }
        Action::None
    }

    /// Handles a message: what the user did in this chat, or an answer of one of its
    /// tasks (an answer for another chat is dropped).
    pub fn update(&mut self, message: Message, settings: &mut Settings) -> Action {
        if let Message::Answer(id, message) = message {
            if id != self.id {
                return Action::None;
            }
            return self.update(*message, settings);
        }
        let action = self.update_inner(message, settings);
        self.keep_finished_transfers();
        let action = self.with_tasks(action);
        self.own_action(action)
    }

    fn update_inner(&mut self, message: Message, settings: &mut Settings) -> Action {
        match message {
            Message::Contacts(m) => {
                let searched = match &m {
                    contacts::Message::Search(text) => Some(text.clone()),
                    _ => None,
                };
                match contacts::update(&mut self.people, m) {
                    contacts::Action::None => {}
                    contacts::Action::Groups(intent) => return self.list_intent(intent),
                    contacts::Action::Open(target) => {
                        self.group_opened(target);
                        self.conversations.open(target);
                        return Action::Run(self.mark_read());
                    }
                    contacts::Action::OpenFound(n) => {
                        if let Some(entry) = self.conversations.found.get(n).cloned() {
                            self.conversations.open_at(&entry);
                            return Action::Run(self.mark_read());
                        }
                    }
                }
                if let Some(text) = searched {
                    self.conversations.search(&text);
                }
            }
            Message::Transfer(m) => return self.card(m, settings),
            Message::Conversation(m) if self.send_blocked(&m) => {}
            Message::Conversation(m) => {
                let outlet = conversation::Outlet {
                    handle: self.handle.as_ref(),
                    online: self.connection == Connection::Online,
                };
                match self.conversations.update(m, self.people.me, outlet) {
                    conversation::Action::None => {}
                    conversation::Action::Notice(n) => self.notice = Some(n),
                    conversation::Action::Attach => return self.attach(),
                    conversation::Action::Received(m) => return self.received(&m, settings),
                    conversation::Action::SendUnsent => self.flush_unsent(),
                    conversation::Action::GroupNames(names) => self.groups.known.named(names),
                    conversation::Action::Cleared { scope, n } => self.cleared(scope, n),
                }
            }
            Message::Panel(m) => return self.panel(m, settings),
            Message::Groups(m) => return self.groups_update(m),
            Message::Files(_) if self.sending_blocked() => {}
            Message::Files(paths) => return self.files_chosen(paths),
            Message::Trust(id, trusted) => return self.trusted(id, trusted, settings),
            Message::Safety(m) => return self.trust(m),
            Message::ProfileSaved(profile) => {
                self.set_profile(profile);
                self.notice = Some("Profile saved.".into());
                return Action::SaveSettings;
            }
            Message::DismissNotice => self.notice = None,
            Message::HistoryOpened(Ok(())) => {}
            Message::HistoryOpened(Err(e)) => {
                self.conversations.drop_history();
                self.notice = Some(format!("No history is kept: {e}"));
            }
            Message::Failed(e) => self.notice = Some(e),
            // Unwrapped by `update`.
            Message::Answer(..) => {}
        }
        Action::None
    }

    fn set_profile(&mut self, profile: Profile) {
        self.people.set_mine(&profile.avatar);
        self.people.set_own_name(&profile.name);
        self.profile = profile;
    }

    fn card(&mut self, message: transfers::Message, settings: &Settings) -> Action {
        let cx = transfers::Context {
            handle: self.handle.as_ref(),
            me: self.people.me,
            settings,
        };
        match self.transfers.update(message, cx) {
            transfers::Action::None => Action::None,
            transfers::Action::Run(task) => Action::Run(task.map(card_message)),
            transfers::Action::Notice(n) => {
                self.notice = Some(n);
                Action::None
            }
            transfers::Action::CheckConnection => {
                self.panel.tab = Some(panel::Tab::Menu);
                let mut settings = settings.clone();
                self.panel(
                    panel::Message::Menu(panel::MenuMessage::CheckConnection),
                    &mut settings,
                )
            }
        }
    }

    fn attach(&mut self) -> Action {
        if !crate::system::dialogs_available() {
            self.notice = Some(format!(
                "{} Drop files on the window to send them.",
                crate::system::NO_DIALOGS
            ));
            return Action::None;
        }
        Action::Run(Task::perform(crate::system::pick_files(), |files| {
            Message::Files(files.unwrap_or_default())
        }))
    }

    /// Offers again what the hub stores for someone (offered before the app restarted):
    /// `offers` are (to whom, the hub's id, the paths chosen).
    fn resume_offers(
        &mut self,
        offers: Vec<(ClientId, courier_core::proto::TransferId, Vec<PathBuf>)>,
    ) -> Task<Message> {
        let mut tasks = Vec::new();
        for (peer, id, paths) in offers {
            let (key, task) = self.transfers.resume(peer, id, paths);
            self.conversations.add_card(peer, key);
            tasks.push(task.map(card_message));
        }
        Task::batch(tasks)
    }

    fn offer_files(&mut self, paths: Vec<PathBuf>) -> Action {
        if paths.is_empty() {
            return Action::None;
        }
        let Target::Client(peer) = self.conversations.selected else {
            self.notice = Some("Files go to one person: pick a contact first.".into());
            return Action::None;
        };
        if self.handle.is_none() {
            self.notice = Some("Not connected to the hub.".into());
            return Action::None;
        }
        let (key, task) = self.transfers.offer(peer, paths);
        self.conversations.add_card(peer, key);
        Action::Run(task.map(card_message))
    }

    fn panel(&mut self, message: panel::Message, settings: &mut Settings) -> Action {
        self.groups.page = None;
        match self.panel.update(message, settings, &self.hub) {
            panel::Action::None => Action::None,
            panel::Action::Run(task) => Action::Run(task.map(Message::Panel)),
            panel::Action::SaveSettings => Action::SaveSettings,
            panel::Action::Notice(n) => {
                self.notice = Some(n);
                Action::None
            }
            panel::Action::SetProfile(profile) => {
                self.sent_before = Some(self.profile.clone());
                self.picture_sent = profile.avatar != self.profile.avatar;
                let Some(handle) = self.handle.clone() else {
                    self.set_profile(profile);
                    return Action::SaveSettings;
                };
                Action::Run(Task::future(async move {
                    match handle.set_profile(profile.clone()).await {
                        Ok(()) => Message::ProfileSaved(profile),
                        Err(e) => Message::Failed(format!("The profile was not saved: {e}")),
                    }
                }))
            }
            panel::Action::LogOut => Action::LogOut,
            panel::Action::ChangeHubPassword(p) => Action::ChangeHubPassword(p),
            panel::Action::CheckConnection => Action::CheckConnection,
            panel::Action::ClearHistory { all } => {
                let target = (!all).then_some(self.conversations.selected);
                if let Some(n) = self.conversations.clear_history(target) {
                    self.cleared(target, n);
                }
                Action::None
            }
        }
    }

    /// Says how many messages clearing the history of `scope` forgot.
    fn cleared(&mut self, scope: Option<Target>, n: u64) {
        let what = match scope {
            None => "every conversation".to_owned(),
            Some(Target::Everyone) => "the conversation with everyone".to_owned(),
            Some(Target::Group(g)) => format!("the conversation in {}", self.group_label(&g)),
            Some(Target::Client(id)) => {
                format!("the conversation with {}", self.people.name_of(&id))
            }
        };
        let s = if n == 1 { "" } else { "s" };
        self.notice = Some(format!("Cleared {n} message{s} from {what}."));
    }
}

/// Lifts a transfer card's message to the window's.
fn card_message(m: transfers::Message) -> Message {
    Message::Transfer(m)
}

#[cfg(test)]
#[allow(clippy::panic)]
pub(crate) mod tests;
