//! The main window: contacts · conversation (messages and files) · closable side panel.
//!
//! One feature per module, each with its own state, `Message`, `update` and `view`:
//! [`contacts`] (who is who, the list), [`conversation`] (bubbles, composer, receipts,
//! typing, waiting messages), [`transfers`] (file cards) and [`panel`] (settings, profile,
//! menu). [`Chat`] routes between them: the session (a subscription of the parent) feeds
//! it with [`Chat::session_event`], [`Chat::connected`] and [`Chat::disconnected`], and
//! it turns what the features ask for into one [`Action`] for the parent.

pub mod contacts;
pub mod conversation;
pub mod hub;
pub mod panel;
pub mod people;
pub mod transfers;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use courier_core::proto::{ClientId, Profile, Target};
use courier_core::session::{Event, Handle, Welcome};
use iced::widget::{button, checkbox, column, container, row, rule, text};
use iced::{Center, Element, Fill, Task};

use crate::settings::Settings;
use crate::style;

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

/// The main window's state.
#[derive(Debug)]
pub struct Chat {
    /// Our profile as the hub has it.
    pub profile: Profile,
    /// The hub.
    pub hub: HubInfo,
    /// For sending; `None` only in tests and benchmarks.
    pub handle: Option<Handle>,
    /// Online or reconnecting.
    pub connection: Connection,
    /// Whether the window has focus.
    pub focused: bool,
    /// A passing problem or confirmation shown above the composer.
    pub notice: Option<String>,
    notice_since: Option<(String, Instant)>,
    /// Who is who, and the contact list.
    pub people: People,
    /// Every conversation and the composer.
    pub conversations: Conversations,
    /// File cards.
    pub transfers: Transfers,
    /// The side panel.
    pub panel: Panel,
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
    /// In the open conversation (file cards included).
    Conversation(conversation::Message),
    /// In the side panel.
    Panel(panel::Message),
    /// Files chosen in the dialog, or dropped on the window: offer them.
    Files(Vec<PathBuf>),
    /// Mark a contact trusted or not.
    Trust(ClientId, bool),
    /// The hub took our new profile.
    ProfileSaved(Profile),
    /// Dismiss the notice.
    DismissNotice,
    /// A command to the session failed.
    Failed(String),
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
}

impl Chat {
    /// The main window after login.
    pub fn new(handle: Option<Handle>, welcome: &Welcome, profile: Profile, hub: HubInfo) -> Self {
        Self {
            people: People::new(welcome.you, welcome.contacts.clone(), &profile.avatar),
            panel: Panel::new(&profile),
            profile,
            hub,
            handle,
            connection: Connection::Online,
            focused: true,
            notice: None,
            notice_since: None,
            conversations: Conversations::new(),
            transfers: Transfers::default(),
        }
    }

    /// Our id.
    pub fn me(&self) -> ClientId {
        self.people.me
    }

    /// Keeps messages in `history` from now on and shows what it holds; remembers the
    /// contacts' names in it (for reading it without a connection).
    pub fn keep_history(&mut self, mut history: courier_core::history::History) {
        let names: Vec<(ClientId, String)> = self
            .people
            .list
            .iter()
            .map(|c| (c.id, c.profile.name.clone()))
            .collect();
        if let Err(e) = history.names(names.iter().map(|(id, n)| (*id, n.as_str()))) {
            self.notice = Some(format!("The history was not saved: {e}"));
        }
        self.conversations.keep_history(history);
        self.flush_waiting();
        self.show_history_problem();
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
        self.flush_waiting();
        self.fetch_avatars()
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
            self.mark_read()
        } else {
            Task::none()
        }
    }

    fn mark_read(&mut self) -> Task<Message> {
        let me = self.me();
        self.conversations
            .mark_read(me, self.handle.as_ref())
            .map(Message::Conversation)
    }

    /// Sends what was written while the hub was away, where the recipient is back.
    fn flush_waiting(&mut self) {
        if self.connection != Connection::Online || !self.conversations.has_waiting() {
            return;
        }
        if let Some(handle) = &self.handle {
            let me = self.people.me;
            let people = &self.people;
            self.conversations
                .flush_waiting(me, handle, |id| people.get(id).is_some());
        }
    }

    /// Takes what the session reports.
    pub fn session_event(&mut self, event: Event, settings: &Settings) -> Action {
        let action = self.session_event_inner(event, settings);
        self.keep_finished_cards();
        action
    }

    /// File cards whose transfers ended go into the history; a history problem shows.
    fn keep_finished_cards(&mut self) {
        let finished = self.transfers.take_finished();
        if !finished.is_empty() {
            self.conversations.keep_cards(finished);
        }
        self.show_history_problem();
    }

    fn session_event_inner(&mut self, event: Event, settings: &Settings) -> Action {
        if self.people.apply(&event) {
            self.flush_waiting();
            return Action::Run(self.fetch_avatars());
        }
        let me = self.me();
        match event {
            Event::Message(m) => {
                let target = Conversations::target_of(&m);
                let seen = self.focused && self.conversations.selected == target;
                let title = match target {
                    Target::Everyone => format!("{} (to everyone)", self.people.name_of(&m.from)),
                    Target::Client(_) => self.people.name_of(&m.from),
                };
                let body = m.text.clone();
                if !self.conversations.receive(m) {
                    // Seen already (handed over again after a hub crash).
                    return Action::None;
                }
                if seen {
                    // Open and in front: read at once.
                    return Action::Run(self.mark_read());
                }
                if !self.focused && settings.notifications {
                    return Action::Notify { title, body };
                }
            }
            Event::Receipt { id, status } => self.conversations.receipt(me, id, status),
            Event::Read { by, id } => self.conversations.read(me, by, id),
            Event::Typing { from, to } => self.conversations.typing(from, to, Instant::now()),
            Event::Avatar { id, bytes } => self.people.avatar_arrived(id, &bytes),
            Event::HubError { detail, .. } => {
                self.notice = Some(format!("The hub refused: {detail}"));
            }
            Event::Offer(offer) => return self.offer(offer, settings),
            Event::TransferEnded { id, end } => self.transfers.ended(id, end),
            _ => {}
        }
        Action::None
    }

    fn offer(&mut self, offer: courier_core::proto::IncomingOffer, settings: &Settings) -> Action {
        let from = offer.from;
        // The hub hands a kept offer over again at each login until it is answered.
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

    /// Handles a message.
    pub fn update(&mut self, message: Message, settings: &mut Settings) -> Action {
        let action = self.update_inner(message, settings);
        self.keep_finished_cards();
        action
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
                    contacts::Action::Open(target) => {
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
            Message::Conversation(m) => {
                let link = conversation::Outlet {
                    handle: self.handle.as_ref(),
                    online: self.connection == Connection::Online,
                };
                match self.conversations.update(m, self.people.me, link) {
                    conversation::Action::None => {}
                    conversation::Action::Notice(n) => self.notice = Some(n),
                    conversation::Action::Attach => return self.attach(),
                    conversation::Action::Card(m) => return self.card(m, settings),
                }
            }
            Message::Panel(m) => return self.panel(m, settings),
            Message::Files(paths) => return self.offer_files(paths),
            Message::Trust(id, trusted) => {
                settings.set_trusted(&id, trusted);
                return Action::SaveSettings;
            }
            Message::ProfileSaved(profile) => {
                self.set_profile(profile);
                self.notice = Some("Profile saved.".into());
                return Action::SaveSettings;
            }
            Message::DismissNotice => self.notice = None,
            Message::Failed(e) => self.notice = Some(e),
        }
        Action::None
    }

    fn set_profile(&mut self, profile: Profile) {
        self.people.set_mine(&profile.avatar);
        self.profile = profile;
    }

    fn card(&mut self, message: transfers::Message, settings: &Settings) -> Action {
        let cx = transfers::Context {
            handle: self.handle.as_ref(),
            me: self.people.me,
            downloads: &settings.downloads(),
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

    /// Offers again what the hub keeps for someone (offered before the app restarted):
    /// `kept` is (to whom, the hub's id, the paths chosen).
    pub fn resume_offers(
        &mut self,
        kept: Vec<(ClientId, courier_core::proto::TransferId, Vec<PathBuf>)>,
    ) -> Task<Message> {
        let mut tasks = Vec::new();
        for (peer, id, paths) in kept {
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
        match self.panel.update(message, settings, &self.hub) {
            panel::Action::None => Action::None,
            panel::Action::Run(task) => Action::Run(task.map(Message::Panel)),
            panel::Action::SaveSettings => Action::SaveSettings,
            panel::Action::Notice(n) => {
                self.notice = Some(n);
                Action::None
            }
            panel::Action::SetProfile(profile) => {
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
                let n = self.conversations.clear_history(target);
                let what = if all {
                    "every conversation".to_owned()
                } else {
                    match self.conversations.selected {
                        Target::Everyone => "the conversation with everyone".to_owned(),
                        Target::Client(id) => {
                            format!("the conversation with {}", self.people.name_of(&id))
                        }
                    }
                };
                let s = if n == 1 { "" } else { "s" };
                self.notice = Some(format!("Cleared {n} message{s} from {what}."));
                Action::None
            }
        }
    }

    /// Draws the window.
    pub fn view<'a>(&'a self, settings: &'a Settings) -> Element<'a, Message> {
        let unread = |target: &Target| self.conversations.unread(target);
        let listing = contacts::Listing {
            selected: self.conversations.selected,
            unread: &unread,
            found: &self.conversations.found,
        };
        let contacts = container(contacts::view(&self.people, listing).map(Message::Contacts))
            .width(280)
            .height(Fill)
            .style(style::column);
        let mut middle = column![self.header(settings)];
        if let Connection::Reconnecting { reason, next } = &self.connection {
            middle = middle.push(reconnecting(reason, *next));
        }
        middle = middle.push(
            self.conversations
                .view(&self.people, &self.transfers)
                .map(Message::Conversation),
        );
        if let Some(n) = &self.notice {
            middle = middle.push(notice(n));
        }
        middle = middle.push(
            self.conversations
                .composer(&self.people)
                .map(Message::Conversation),
        );
        let mut body = row![contacts, rule::vertical(1), middle.width(Fill).height(Fill)];
        let cx = panel::Context {
            settings,
            hub: &self.hub,
            me: self.people.me,
            profile: &self.profile,
        };
        if let Some(panel) = self.panel.view(cx) {
            body = body.push(rule::vertical(1)).push(
                container(panel.map(Message::Panel))
                    .width(330)
                    .height(Fill)
                    .style(style::column),
            );
        }
        column![body.height(Fill)].into()
    }

    /// The open conversation's contact (or Everyone), whether it is trusted, and the
    /// panel button.
    fn header<'a>(&'a self, settings: &'a Settings) -> Element<'a, Message> {
        let people = &self.people;
        let (pic, name, line, trust): (
            Element<'a, Message>,
            String,
            String,
            Option<Element<'a, Message>>,
        ) = match self.conversations.selected {
            Target::Everyone => (
                people::avatar_initials("*", 0, 36.0),
                "Everyone".to_owned(),
                format!("{} online", people.online()),
                None,
            ),
            Target::Client(id) => match people.get(&id) {
                Some(c) => {
                    let presence = people::presence_word(c);
                    let line = if c.profile.status.is_empty() {
                        presence.to_owned()
                    } else {
                        format!(
                            "{presence} · {}",
                            courier_core::text::visible(&c.profile.status, false)
                        )
                    };
                    let trust = checkbox(settings.is_trusted(&id))
                        .label("Trusted")
                        .size(16)
                        .text_size(13)
                        .on_toggle(move |on| Message::Trust(id, on));
                    (
                        people.picture(c, 36.0),
                        people.name_of(&id),
                        line,
                        Some(trust.into()),
                    )
                }
                None => (
                    people::avatar_initials("?", 0, 36.0),
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
        let panel_label = if self.panel.tab.is_some() {
            "Close panel"
        } else {
            "Settings & profile"
        };
        bar = bar.push(
            button(text(panel_label).size(14))
                .style(button::secondary)
                .on_press(Message::Panel(panel::Message::Toggle)),
        );
        container(bar).padding([8, 12]).width(Fill).into()
    }
}

/// Lifts a file card's message to the window's.
fn card_message(m: transfers::Message) -> Message {
    Message::Conversation(conversation::Message::Card(m))
}

/// "Reconnecting…" with the reason and the next attempt.
fn reconnecting<'a>(reason: &'a str, next: Option<Instant>) -> Element<'a, Message> {
    let when = next
        .map(|t| t.saturating_duration_since(Instant::now()))
        .map(|d| format!(" Next attempt in {}.", courier_core::units::duration(d)))
        .unwrap_or_default();
    container(
        row![
            text("Reconnecting…"),
            text(format!(
                "The hub was lost ({reason}).{when} What you send now goes out when it is back."
            ))
        ]
        .spacing(6),
    )
    .padding([6, 12])
    .width(Fill)
    .style(style::banner(false))
    .into()
}

/// The notice line, with a button that dismisses it.
fn notice(notice: &str) -> Element<'_, Message> {
    container(
        row![
            text(notice).width(Fill),
            button(text("Dismiss").size(13))
                .style(button::text)
                .on_press(Message::DismissNotice)
        ]
        .align_y(Center),
    )
    .padding([4, 12])
    .style(style::banner(false))
    .into()
}

#[cfg(test)]
#[allow(clippy::panic)]
pub(crate) mod tests {
    use super::*;
    use courier_core::proto::{Card, Contact, Message as ChatMessage, MsgId, Timestamp};
    use iced_test::simulator;

    pub(crate) fn contact(n: u8, name: &str) -> Contact {
        Contact {
            id: ClientId([n; 32]),
            profile: Card {
                name: name.into(),
                ..Card::default()
            },
            online: true,
            last_seen: Timestamp(0),
        }
    }

    pub(crate) fn chat_with(contacts: Vec<Contact>) -> Chat {
        let welcome = Welcome {
            you: ClientId([1; 32]),
            hub: ClientId([9; 32]),
            first_contact: false,
            remembered: false,
            contacts,
            time: Timestamp(0),
        };
        let hub = HubInfo {
            address: "127.0.0.1:8977".into(),
            fingerprint: ClientId([9; 32]),
            join: vec!["127.0.0.1:8977".into()],
            hosted: false,
            advertised: None,
        };
        Chat::new(None, &welcome, Profile::with_name("Ada"), hub)
    }

    /// Whether the rendered chat shows `text` somewhere.
    pub(crate) fn shows(chat: &Chat, settings: &Settings, text: &str) -> bool {
        let mut ui = simulator(chat.view(settings));
        ui.find(text).is_ok()
    }

    /// Renders the chat, lets `f` use it, and feeds the produced messages back.
    pub(crate) fn interact(
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

    /// The connection check tests the link to the contact whose conversation is open,
    /// when they are online; never to everyone, an offline contact or ourselves.
    #[test]
    fn the_check_tests_the_link_to_the_open_contact_when_online() {
        let mut carol = contact(3, "Carol");
        carol.online = false;
        let mut chat = chat_with(vec![contact(2, "Bob"), carol]);
        assert_eq!(chat.link_test_peer(), None, "everyone is open");
        let _ = chat.update(
            select(Target::Client(ClientId([2; 32]))),
            &mut Settings::default(),
        );
        assert_eq!(chat.link_test_peer(), Some(ClientId([2; 32]).to_hex()));
        let _ = chat.update(
            select(Target::Client(ClientId([3; 32]))),
            &mut Settings::default(),
        );
        assert_eq!(chat.link_test_peer(), None, "Carol is offline");
    }

    #[test]
    fn incoming_message_raises_unread_until_opened() -> Result<(), iced_test::Error> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![contact(2, "Bob"), contact(3, "Carol")]);
        let bob = Target::Client(ClientId([2; 32]));
        let me = Target::Client(chat.me());
        let action = chat.session_event(message(2, me, "hi Ada"), &settings);
        assert!(
            matches!(action, Action::None),
            "focused elsewhere: no notification"
        );
        chat.session_event(message(2, me, "are you there?"), &settings);
        assert_eq!(chat.conversations.unread(&bob), 2);
        assert!(shows(&chat, &settings, "2"), "the unread badge shows 2");
        assert!(
            !shows(&chat, &settings, "hi Ada"),
            "another conversation is open"
        );

        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Bob");
        });
        assert_eq!(chat.conversations.selected, bob);
        assert_eq!(
            chat.conversations.unread(&bob),
            0,
            "opening the conversation reads it"
        );
        assert!(shows(&chat, &settings, "hi Ada"));
        assert!(!shows(&chat, &settings, "2"), "the badge is gone");

        // A message to everyone counts on the Everyone entry, and an unfocused window
        // asks for a desktop notification.
        let _ = chat.focus(false);
        let action = chat.session_event(message(3, Target::Everyone, "lunch?"), &settings);
        assert!(
            matches!(&action, Action::Notify { title, body } if title.contains("Carol") && body == "lunch?")
        );
        assert_eq!(chat.conversations.unread(&Target::Everyone), 1);
        settings.notifications = false;
        let action = chat.session_event(message(3, Target::Everyone, "anyone?"), &settings);
        assert!(matches!(action, Action::None), "notifications off");
        Ok(())
    }

    #[test]
    fn side_panel_opens_switches_and_closes() -> Result<(), iced_test::Error> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![]);
        assert_eq!(chat.panel.tab, None);
        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Settings & profile");
        });
        assert_eq!(chat.panel.tab, Some(Tab::Settings));
        assert!(shows(&chat, &settings, "Download folder"));

        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Menu");
        });
        assert_eq!(chat.panel.tab, Some(Tab::Menu));
        assert!(
            shows(&chat, &settings, &ClientId([9; 32]).safety_code()),
            "the hub's safety code is shown"
        );
        assert!(
            shows(&chat, &settings, &panel::menu::version()),
            "About names the version and the protocol"
        );

        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Close panel");
        });
        assert_eq!(chat.panel.tab, None);
        assert!(!shows(&chat, &settings, "Download folder"));
        Ok(())
    }

    #[test]
    fn only_a_hub_hosted_here_can_change_its_password_from_the_menu() -> Result<(), iced_test::Error>
    {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![]);
        chat.panel.tab = Some(Tab::Menu);
        assert!(
            !shows(&chat, &settings, "Change the hub password"),
            "a joined hub"
        );

        chat.hub.hosted = true;
        assert!(shows(&chat, &settings, "Change the hub password"));
        let actions = interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click(iced::widget::Id::new(panel::menu::NEW_PASSWORD));
            ui.typewrite("short");
            let _ = ui.click("Change the hub password");
        });
        assert!(actions.iter().all(|a| matches!(a, Action::None)));
        assert!(shows(
            &chat,
            &settings,
            "Choose a password of at least 8 characters, or press Generate."
        ));

        let actions = interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Generate");
            let _ = ui.click("Change the hub password");
        });
        let changed: Vec<&String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::ChangeHubPassword(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(changed.len(), 1, "one change asked");
        assert!(changed[0].chars().count() >= 8);
        assert!(
            chat.panel.menu.new_password.is_empty(),
            "the field is cleared"
        );
        Ok(())
    }

    /// A profile folder for one test.
    struct Folder(std::path::PathBuf);

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn folder(tag: &str) -> Folder {
        let dir = std::env::temp_dir().join(format!(
            "courier-iced-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        Folder(dir)
    }

    fn with_history(dir: &std::path::Path) -> Chat {
        let mut chat = chat_with(vec![contact(2, "Bob")]);
        let history = courier_core::history::History::open(dir, &chat.hub.fingerprint)
            .unwrap_or_else(|e| panic!("{e}"));
        chat.keep_history(history);
        chat
    }

    #[test]
    fn history_survives_a_relaunch_drops_repeats_and_clears_on_confirmation()
    -> Result<(), iced_test::Error> {
        let dir = folder("history");
        let mut settings = Settings::default();
        let bob = Target::Client(ClientId([2; 32]));
        let me = Target::Client(ClientId([1; 32]));
        let mut chat = with_history(&dir.0);
        chat.session_event(message(2, me, "hi Ada"), &settings);
        chat.session_event(message(2, Target::Everyone, "lunch today?"), &settings);
        // The hub hands the same message over again (after a crash): shown once.
        chat.session_event(message(2, me, "hi Ada"), &settings);
        assert_eq!(chat.conversations.threads[&bob].items.len(), 1);
        drop(chat);

        let mut chat = with_history(&dir.0);
        assert!(
            shows(&chat, &settings, "lunch today?"),
            "Everyone's, from the history"
        );
        chat.update(select(bob), &mut settings);
        assert!(shows(&chat, &settings, "hi Ada"), "Bob's, from the history");
        let _ = chat.focus(false);
        let action = chat.session_event(message(2, me, "hi Ada"), &settings);
        assert!(
            matches!(action, Action::None),
            "a repeat from an earlier run is dropped without a notification"
        );
        assert_eq!(chat.conversations.threads[&bob].items.len(), 1);

        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Settings & profile");
        });
        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Clear this conversation");
        });
        assert!(
            shows(&chat, &settings, "hi Ada"),
            "not before it is confirmed"
        );
        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Clear");
        });
        assert!(!shows(&chat, &settings, "hi Ada"));
        assert_eq!(
            chat.notice.as_deref(),
            Some("Cleared 1 message from the conversation with Bob.")
        );
        let chat = with_history(&dir.0);
        assert!(
            shows(&chat, &settings, "lunch today?"),
            "the other conversation is kept"
        );
        let kept = chat
            .conversations
            .history()
            .map(|h| h.len().unwrap_or(0))
            .unwrap_or(0);
        assert_eq!(kept, 1, "Bob's message is gone from the file");
        Ok(())
    }

    #[test]
    fn notices_expire_counted_from_the_first_tick_that_saw_them() {
        let mut chat = chat_with(vec![]);
        chat.notice = Some("Profile saved.".into());
        let t0 = Instant::now();
        chat.tick(t0);
        chat.tick(t0 + NOTICE_SHOWN / 2);
        assert!(chat.notice.is_some());
        chat.tick(t0 + NOTICE_SHOWN);
        assert!(chat.notice.is_none());
    }
}
