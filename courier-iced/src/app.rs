//! The application: screens, the session subscription, the hosted hub, settings.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use courier_core::identity::PinStore;
use courier_core::proto::{ClientId, Profile};
use courier_core::session::{self, Update};
use iced::{Subscription, Task, Theme, window};

use crate::hosting::{self, Running};
use crate::screen::chat::{self, Chat, HubInfo};
use crate::screen::login::{self, HostPassword, Login};
use crate::session::{Feed, ServerKey};
use crate::settings::{self, Resume, Settings};
mod joining;
mod network;
mod view;

#[cfg(test)]
mod tests;

use network::connection_check;
pub use network::discover;

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Runs the app (see [`crate::run`]).
pub fn run() -> iced::Result {
    STARTED.get_or_init(Instant::now);
    iced::application(Courier::boot, Courier::update, Courier::view)
        .title(Courier::title)
        .subscription(Courier::subscription)
        .theme(Courier::theme)
        .window(crate::icon::window_settings())
        .default_font(iced::Font::with_name("Fira Sans"))
        .run()
}

/// Which screen is up.
#[derive(Debug)]
pub enum Screen {
    /// Join or host.
    Login(Login),
    /// The main window.
    Chat(Box<Chat>),
}

/// Everything the app knows.
#[derive(Debug)]
pub struct Courier {
    /// Profile folder (identity, pins, settings).
    pub dir: PathBuf,
    /// What is remembered.
    pub settings: Settings,
    /// The screen.
    pub screen: Screen,
    /// The hub to be connected to (drives the session subscription).
    pub server: Option<ServerKey>,
    /// A hub this app runs (it runs on the hosting thread; this is what the window shows).
    pub hosted: Option<Running>,
    /// The thread that starts and stops the hub hosted here.
    hosting: hosting::Worker,
    /// Writes the settings, one save at a time.
    saver: settings::Saver,
    /// Stops of a hosted hub asked for and not yet answered.
    stopping: usize,
    /// Whether this computer's hub has a password (read at start, then told by each
    /// start): the login form asks for one only when it does not.
    hub_has_password: bool,
    /// Work whose answer is awaited (a pin looked up, a hub starting).
    pending: Option<Pending>,
    /// Numbers the pending work, so that a late answer is told from the awaited one.
    attempt: u64,
    /// A hub seen for the first time, whose safety code the user must confirm.
    pub confirm: Option<ClientId>,
    /// A blocking warning (the hub's identity changed).
    pub warning: Option<String>,
    /// Our picture as saved on disk (read at start, written with the settings).
    avatar: Vec<u8>,
    generation: u64,
    focused: bool,
    dropped: Vec<PathBuf>,
    /// Look for hubs by mDNS (the Join list, the connection check); off with
    /// `COURIER_NO_DISCOVERY` set, and in tests that touch no network but their own.
    pub discovery: bool,
    /// Failed tries of the join under way that never got in (a join that never
    /// succeeded stops after [`JOIN_TRIES`]; a session that got in retries for ever).
    failed_tries: u32,
    /// Does the join under way give up after [`JOIN_TRIES`]? Only one started from the
    /// form for a hub never joined: a remembered hub (resumed at launch, pinned, the
    /// last one joined) is retried for ever, as the network or the hub may come back.
    tries_limited: bool,
    /// Certificate checks of hubs in the Join list under way (at most
    /// [`courier_core::discovery::MAX_PROBED`]; past that, a hub stays unchecked).
    probing: usize,
}

/// Work started from the login screen or the Menu whose answer is awaited. Going back
/// (Cancel, log out, an error) drops it, and its late answer is then ignored.
#[derive(Debug)]
enum Pending {
    /// Is the hub about to be joined without a password known here (pinned)?
    Join {
        attempt: u64,
        hub: String,
        profile: Profile,
        /// Picked up at launch: an unknown hub is no error, the form just waits.
        resumed: bool,
    },
    /// The hub hosted here is starting; then it is joined with this password.
    Host {
        attempt: u64,
        password: String,
        profile: Profile,
    },
    /// It restarts with a new password; then `server` is joined again with it.
    Restart {
        attempt: u64,
        password: String,
        server: ServerKey,
    },
}

impl Pending {
    fn attempt(&self) -> u64 {
        match self {
            Self::Join { attempt, .. }
            | Self::Host { attempt, .. }
            | Self::Restart { attempt, .. } => *attempt,
        }
    }
}

/// How many times a join started from the form for a hub never joined is tried before
/// the login screen gives up and says why (with the connection check); a remembered hub
/// is retried for ever.
pub const JOIN_TRIES: u32 = 3;

/// How long after the first file of a drop the others are waited for.
const DROP_GATHER: Duration = Duration::from_millis(150);

/// Everything that can happen.
#[derive(Debug, Clone)]
pub enum Message {
    /// The login screen.
    Login(login::Message),
    /// The main window.
    Chat(chat::Message),
    /// The session.
    Session(Feed),
    /// The user confirmed (true) or rejected the hub's safety code.
    ConfirmHub(bool),
    /// The user read the warning.
    DismissWarning,
    /// Window focus changed.
    Focus(bool),
    /// Tab (true) or Shift+Tab: move between fields.
    FocusNext(bool),
    /// A file dropped on the window.
    Dropped(PathBuf),
    /// The files of one drop are all in.
    DropDone,
    /// A second passed (typing indicators, reconnect countdown).
    Tick,
    /// A frame was drawn (startup probe).
    Frame,
    /// The settings were saved, or why not.
    Saved(Result<(), String>),
    /// Browsing the network for hubs saw this.
    Discovered(courier_core::discovery::Seen),
    /// A hub seen by browsing, with this computer's pins to judge it by (read off the
    /// window's thread).
    Listed(
        courier_core::discovery::FoundHub,
        Vec<courier_core::identity::Pin>,
    ),
    /// A TLS handshake with a hub in the Join list showed its certificate (or did not).
    HubChecked(
        courier_core::discovery::FoundHub,
        courier_core::discovery::Checked,
    ),
    /// Whether the hub to join without a password is pinned here (for that attempt).
    PinChecked(u64, bool),
    /// The hub hosted here started, or why not (for that attempt).
    Hosted(u64, hosting::Started),
    /// It restarted with a new password, or why not (for that attempt).
    Restarted(u64, hosting::Started),
    /// A hub hosted here stopped (it told everyone goodbye and freed its port).
    Stopped,
}

impl Courier {
    /// Starts on the login screen with the remembered settings.
    pub fn boot() -> (Self, Task<Message>) {
        let dir = settings::profile_dir();
        let mut app = Self::new(dir);
        let resumed = app.resume();
        let focus = match &app.screen {
            Screen::Login(login) if !login.busy() => login.focus(),
            _ => Task::none(),
        };
        (app, Task::batch([resumed, focus]))
    }

    /// Picks up where the app was when it last closed: joins the last hub again if it
    /// knows it (a hub that remembers this computer lets it in without a question), or
    /// starts this computer's hub again with what its folder holds. The login screen
    /// shows meanwhile, with Cancel.
    pub fn resume(&mut self) -> Task<Message> {
        let profile = self.profile(Profile::with_name(self.settings.name.clone()));
        match self.settings.resume {
            Resume::Nothing => Task::none(),
            Resume::Join => {
                let hub = self.settings.hub.clone();
                if hub.is_empty() || profile.name.trim().is_empty() {
                    return Task::none();
                }
                // Only a hub met before (pinned) is joined without a password: looked up
                // off the window's thread, with Cancel meanwhile.
                if let Screen::Login(login) = &mut self.screen {
                    login.status = Some(format!("Connecting to {hub}…"));
                }
                self.check_pin(hub, profile, true)
            }
            Resume::Host => {
                if !self.hub_has_password || profile.name.trim().is_empty() {
                    return Task::none();
                }
                if let Screen::Login(login) = &mut self.screen {
                    login.mode = login::Mode::Host;
                }
                let port = self.settings.host_port;
                self.host(profile, HostPassword::Unchanged, port)
            }
        }
    }

    /// The app with its files in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        let settings = Settings::load(&dir);
        let avatar = settings::load_avatar(&dir);
        let hub_has_password = hosting::has_password(&settings::hub_dir(&dir));
        Self {
            avatar,
            screen: Screen::Login(login_screen(&settings, hub_has_password)),
            dir,
            settings,
            server: None,
            hosted: None,
            hosting: hosting::Worker::default(),
            saver: settings::Saver::default(),
            stopping: 0,
            hub_has_password,
            pending: None,
            attempt: 0,
            confirm: None,
            warning: None,
            generation: 0,
            focused: true,
            dropped: Vec::new(),
            discovery: std::env::var_os("COURIER_NO_DISCOVERY").is_none(),
            probing: 0,
            failed_tries: 0,
            tries_limited: false,
        }
    }

    /// The window title.
    pub fn title(&self) -> String {
        match &self.screen {
            Screen::Login(_) => "Courier".to_owned(),
            Screen::Chat(chat) => {
                let unread = chat.conversations().unread_total();
                let unread = if unread > 0 {
                    format!("({unread}) ")
                } else {
                    String::new()
                };
                format!(
                    "{unread}Courier — {} on {}",
                    chat.profile().name,
                    chat.hub().address
                )
            }
        }
    }

    /// Light or dark.
    pub fn theme(&self) -> Theme {
        if self.settings.dark {
            Theme::Dark
        } else {
            Theme::Light
        }
    }

    /// Keeps the settings' offers to resume (what the hub stores for someone offline)
    /// in step with the cards (saved when they changed), so a restart offers them again.
    fn remember_offers_to_resume(&mut self) -> Task<Message> {
        let (Screen::Chat(chat), Some(server)) = (&self.screen, &self.server) else {
            return Task::none();
        };
        let hub = server.hub.clone();
        let mut offers: Vec<settings::OfferToResume> = self
            .settings
            .offers_to_resume
            .iter()
            .filter(|k| k.hub != hub)
            .cloned()
            .collect();
        offers.extend(
            chat.transfers()
                .offers_to_resume()
                .into_iter()
                .map(|(to, id, paths)| settings::OfferToResume {
                    hub: hub.clone(),
                    to: to.to_hex(),
                    id: id.0,
                    paths,
                }),
        );
        if offers == self.settings.offers_to_resume {
            return Task::none();
        }
        self.settings.offers_to_resume = offers;
        self.save_settings()
    }

    /// Saves the settings and our picture in the background (after the saves asked for
    /// before, which it supersedes).
    fn save_settings(&mut self) -> Task<Message> {
        if let Screen::Chat(chat) = &self.screen {
            self.avatar = chat.profile().avatar.to_vec();
        }
        let save = self
            .saver
            .save(self.settings.clone(), self.avatar.clone(), self.dir.clone());
        Task::perform(
            smol::unblock(move || save().map_err(|e| e.to_string())),
            Message::Saved,
        )
    }

    fn profile(&self, mut profile: Profile) -> Profile {
        profile.status = self.settings.status.clone();
        profile.presence = self.settings.presence;
        profile.avatar = serde_bytes::ByteBuf::from(self.avatar.clone());
        profile
    }

    /// Handles a message.
    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Login(m) => {
                let Screen::Login(login) = &mut self.screen else {
                    return Task::none();
                };
                match login.update(m) {
                    login::Action::None => {}
                    login::Action::Join {
                        hub,
                        profile,
                        password,
                    } => {
                        login.status = Some(format!("Connecting to {hub}…"));
                        if password.is_empty() {
                            // Fine for a hub that remembers this computer: is it pinned?
                            return self.check_pin(hub, profile, false);
                        }
                        self.settings.name = profile.name.clone();
                        let profile = self.profile(profile);
                        // The hub last joined is remembered: retried for ever.
                        let limited = hub != self.settings.hub;
                        self.connect(hub, password, profile);
                        self.tries_limited = limited;
                    }
                    login::Action::Host {
                        profile,
                        password,
                        port,
                    } => {
                        self.settings.name = profile.name.clone();
                        let profile = self.profile(profile);
                        return self.host(profile, password, port);
                    }
                    login::Action::Focus => return login.focus(),
                    login::Action::CheckConnection {
                        hub,
                        password,
                        profile,
                    } => {
                        let steps = connection_check(self.check_of((hub, password, profile), None));
                        return Task::run(steps, |step| {
                            Message::Login(
                                step.map_or(login::Message::Checked, login::Message::Found),
                            )
                        });
                    }
                    login::Action::Cancel => return self.disconnect(),
                }
            }
            Message::Session(link) => return self.session(link),
            Message::Chat(m) => {
                let Screen::Chat(chat) = &mut self.screen else {
                    return Task::none();
                };
                let action = chat.update(m, &mut self.settings);
                let task = self.chat_action(action);
                return Task::batch([task, self.remember_offers_to_resume()]);
            }
            Message::ConfirmHub(true) => self.confirm = None,
            Message::ConfirmHub(false) => {
                let forget = match &self.server {
                    Some(server) => {
                        let (pins, hub) = (PinStore::new(&self.dir), server.hub.clone());
                        Task::future(smol::unblock(move || {
                            let _ = pins.remove(&hub);
                        }))
                        .discard()
                    }
                    None => Task::none(),
                };
                self.confirm = None;
                let left = self.leave(Some(
                    "You did not confirm the hub's safety code, so Courier disconnected. \
                     Check the address and ask the hub's owner for the code."
                        .to_owned(),
                ));
                return Task::batch([forget, left]);
            }
            Message::DismissWarning => self.warning = None,
            Message::FocusNext(true) => {
                return iced::widget::operation::focus_next();
            }
            Message::FocusNext(false) => return iced::widget::operation::focus_previous(),
            Message::Focus(focused) => {
                self.focused = focused;
                if let Screen::Chat(chat) = &mut self.screen {
                    return chat.focus(focused).map(Message::Chat);
                }
            }
            Message::Dropped(path) => {
                // The window reports a drop of several files one file at a time: gather
                // them into one offer (the hub allows few offers per second).
                if matches!(self.screen, Screen::Chat(_)) {
                    let first = self.dropped.is_empty();
                    self.dropped.push(path);
                    if first {
                        return Task::perform(smol::Timer::after(DROP_GATHER), |_| {
                            Message::DropDone
                        });
                    }
                }
            }
            Message::DropDone => {
                let paths = std::mem::take(&mut self.dropped);
                if let Screen::Chat(chat) = &mut self.screen
                    && !paths.is_empty()
                {
                    let action = chat.update(chat::Message::Files(paths), &mut self.settings);
                    return self.chat_action(action);
                }
            }
            Message::Tick => {
                if let Screen::Chat(chat) = &mut self.screen {
                    chat.tick(Instant::now());
                }
            }
            Message::Discovered(seen) => return self.discovered(seen),
            Message::Listed(hub, pins) => return self.listed(hub, pins),
            Message::HubChecked(hub, checked) => return self.hub_checked(&hub, checked),
            Message::PinChecked(attempt, known) => return self.pin_checked(attempt, known),
            Message::Hosted(attempt, started) => return self.hosted(attempt, started),
            Message::Restarted(attempt, started) => return self.restarted(attempt, started),
            Message::Stopped => self.stopping = self.stopping.saturating_sub(1),
            Message::Saved(Ok(())) => {}
            Message::Saved(Err(e)) => {
                let text = format!("Settings were not saved: {e}");
                match &mut self.screen {
                    Screen::Chat(chat) => chat.set_notice(text),
                    Screen::Login(login) => login.error = Some(text),
                }
            }
            Message::Frame => {
                if let Some(start) = STARTED.get() {
                    println!(
                        "first frame after {:.1} ms",
                        start.elapsed().as_secs_f64() * 1e3
                    );
                }
                return iced::exit();
            }
        }
        Task::none()
    }

    fn chat_action(&mut self, action: chat::Action) -> Task<Message> {
        match action {
            chat::Action::None => Task::none(),
            chat::Action::Run(task) => task.map(Message::Chat),
            chat::Action::And(action, task) => {
                Task::batch([self.chat_action(*action), task.map(Message::Chat)])
            }
            chat::Action::SaveSettings => self.save_settings(),
            chat::Action::Notify { title, body } => {
                Task::future(smol::unblock(move || crate::system::notify(&title, &body))).discard()
            }
            chat::Action::ChangeHubPassword(password) => self.change_hub_password(password),
            chat::Action::CheckConnection => self.check_connection(),
            chat::Action::LogOut => {
                // Logged out on purpose: the next launch asks again.
                self.settings.resume = Resume::Nothing;
                let left = self.leave(None);
                Task::batch([left, self.save_settings()])
            }
        }
    }

    fn connect(&mut self, hub: String, password: String, profile: Profile) {
        self.generation += 1;
        self.failed_tries = 0;
        self.tries_limited = false;
        self.server = Some(ServerKey {
            hub,
            dir: self.dir.clone(),
            password,
            remember: self.settings.remember,
            answer_link_tests: self.settings.answer_link_tests,
            profile,
            generation: self.generation,
        });
    }

    /// Runs the connection check on the hub in use, as this device, feeding each step
    /// to the Menu as it is found (as the chat's answers: a chat left meanwhile for
    /// another hub's drops them).
    fn check_connection(&self) -> Task<Message> {
        use crate::screen::chat::panel::{self, MenuMessage};
        let Screen::Chat(chat) = &self.screen else {
            return Task::none();
        };
        let menu = |m: MenuMessage| chat::Message::Panel(panel::Message::Menu(m));
        let Some(server) = self.server.clone() else {
            return chat
                .own(Task::done(menu(MenuMessage::Checked)))
                .map(Message::Chat);
        };
        let of = self.check_of(
            (server.hub, server.password, chat.profile().clone()),
            chat.link_test_peer(),
        );
        let steps = connection_check(of);
        let steps = Task::run(steps, move |step| {
            menu(step.map_or(MenuMessage::Checked, MenuMessage::Found))
        });
        chat.own(steps).map(Message::Chat)
    }

    fn session(&mut self, link: Feed) -> Task<Message> {
        if self.server.is_none() {
            // Late news of a session given up on (logged out, the hub stopped here): the
            // login screen must not say it retries.
            return Task::none();
        }
        let update = match link {
            Feed::Update(u) => u,
            Feed::Failed(e) => return self.leave(Some(e)),
        };
        match update {
            Update::Connected { handle, welcome } => {
                let Some(server) = self.server.clone() else {
                    return Task::none();
                };
                match &mut self.screen {
                    Screen::Chat(chat) => chat.connected(handle, &welcome).map(Message::Chat),
                    Screen::Login(_) => {
                        if !server.hub.starts_with("127.0.0.1:") || self.hosted.is_none() {
                            self.settings.hub = server.hub.clone();
                        }
                        self.settings.resume = if self.hosted.is_some() {
                            Resume::Host
                        } else {
                            Resume::Join
                        };
                        let saved = self.save_settings();
                        if welcome.first_contact && self.hosted.is_none() {
                            self.confirm = Some(welcome.hub);
                        }
                        let hub = HubInfo {
                            address: server.hub.clone(),
                            fingerprint: welcome.hub,
                            join: match &self.hosted {
                                Some(h) => h.addresses.iter().map(ToString::to_string).collect(),
                                None => vec![server.hub.clone()],
                            },
                            hosted: self.hosted.is_some(),
                            advertised: self.hosted.as_ref().and_then(|h| h.advertised.clone()),
                            password: hosted_password(self.hosted.is_some(), &server.password),
                        };
                        // What the hub stores for someone offline is offered again.
                        let offers_to_resume = self
                            .settings
                            .offers_to_resume
                            .iter()
                            .filter(|k| k.hub == server.hub)
                            .filter_map(|k| {
                                let to = ClientId::from_hex(&k.to)?;
                                Some((to, courier_core::proto::TransferId(k.id), k.paths.clone()))
                            })
                            .collect();
                        let boot = chat::Boot {
                            history: Some(server.dir.clone()),
                            focused: self.focused,
                            offers_to_resume,
                        };
                        let (chat, task) =
                            Chat::boot(Some(handle), &welcome, server.profile, hub, boot);
                        let task = task.map(Message::Chat);
                        self.screen = Screen::Chat(Box::new(chat));
                        Task::batch([task, saved])
                    }
                }
            }
            Update::Event(event) => match &mut self.screen {
                Screen::Chat(chat) => {
                    let action = chat.session_event(event, &self.settings);
                    self.chat_action(action)
                }
                Screen::Login(_) => Task::none(),
            },
            Update::Disconnected { reason, retry_in } => {
                let fatal = retry_in.is_none();
                if let session::Error::HubChanged { .. } = &*reason {
                    self.warning = Some(reason.to_string());
                    return self.leave(Some("Not connected: the hub's identity changed.".into()));
                }
                match &mut self.screen {
                    Screen::Chat(chat) if !fatal => chat.disconnected(reason.to_string(), retry_in),
                    Screen::Login(login) if !fatal => {
                        let why = crate::format::why(&reason);
                        self.failed_tries += 1;
                        if self.tries_limited && self.failed_tries >= JOIN_TRIES {
                            // Never got in: stop, say why, offer the connection check.
                            let tries = self.failed_tries;
                            return self.leave(Some(format!(
                                "Cannot connect: {why}. Tried {tries} times; check the address \
                                 and that the hub runs, then try again."
                            )));
                        }
                        let wait = retry_in
                            .map(|d| format!(" Retrying in {}.", courier_core::units::duration(d)))
                            .unwrap_or_default();
                        login.status = Some(format!("Cannot connect: {why}.{wait}"));
                    }
                    _ => {
                        // Core's sentence for the reason, then what to do about it.
                        let said = crate::format::sentence(&reason);
                        let text = match &*reason {
                            session::Error::WrongPassword => {
                                format!("{said} Check it and try again.")
                            }
                            session::Error::Banned => format!("{said} No password lets it in."),
                            session::Error::NotRemembered => said,
                            other => format!("Disconnected: {other}."),
                        };
                        let hosting = self.hosted.is_some();
                        let forgotten = matches!(&*reason, session::Error::NotRemembered);
                        let left = self.leave(Some(text));
                        if let Screen::Login(login) = &mut self.screen
                            && forgotten
                        {
                            if hosting {
                                login.mode = login::Mode::Host;
                                login.host_login_needs_password = true;
                            }
                            return Task::batch([left, login.focus()]);
                        }
                        return left;
                    }
                }
                Task::none()
            }
        }
    }

    /// The session (while a hub is chosen), window events, and a ticking clock.
    pub fn subscription(&self) -> Subscription<Message> {
        let mut subs = vec![iced::event::listen_with(window_event)];
        if let Some(server) = &self.server {
            subs.push(
                Subscription::run_with(server.clone(), crate::session::connect)
                    .map(Message::Session),
            );
        }
        if let Screen::Chat(chat) = &self.screen
            && chat.ticking()
        {
            subs.push(iced::time::every(Duration::from_secs(1)).map(|_| Message::Tick));
        }
        if std::env::var_os("COURIER_STARTUP_PROBE").is_some() {
            subs.push(window::frames().map(|_| Message::Frame));
        }
        // Hubs on the network, while the login screen shows.
        if matches!(&self.screen, Screen::Login(_)) && self.discovery {
            subs.push(Subscription::run(discover));
        }
        Subscription::batch(subs)
    }
}

fn window_event(
    event: iced::Event,
    _status: iced::event::Status,
    _id: window::Id,
) -> Option<Message> {
    use iced::keyboard::{self, Key, key::Named};
    match event {
        // Tab moves between fields even when a text field has the keyboard.
        iced::Event::Keyboard(keyboard::Event::KeyPressed {
            key: Key::Named(Named::Tab),
            modifiers,
            ..
        }) => Some(Message::FocusNext(!modifiers.shift())),
        iced::Event::Window(window::Event::Focused) => Some(Message::Focus(true)),
        iced::Event::Window(window::Event::Unfocused) => Some(Message::Focus(false)),
        iced::Event::Window(window::Event::FileDropped(path)) => Some(Message::Dropped(path)),
        _ => None,
    }
}

/// The password to show in the Menu for a hub hosted here: the one logged in with (a
/// hub that remembers this computer lets it in without one; that one is not known).
fn hosted_password(hosted: bool, password: &str) -> Option<String> {
    (hosted && !password.is_empty()).then(|| password.to_owned())
}

/// The login screen, knowing whether this computer's hub has a password.
fn login_screen(settings: &Settings, hub_has_password: bool) -> Login {
    let mut login = Login::new(settings);
    login.hub_has_password = hub_has_password;
    login
}
