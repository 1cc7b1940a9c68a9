//! The first screen: join a hub, or host one on this computer.

use courier_core::discovery::{Checked, FoundHub, Seen};
use courier_core::proto::{Profile, validate_profile};
use iced::widget::{button, center, column, container, row, scrollable, text, text_input};
use iced::{Center, Element, Fill};

use crate::screen::check::{self, Check};
use crate::session::normalize_address;
use crate::settings::Settings;
use crate::style;

/// Which form is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Join a hub somewhere on the network.
    Join,
    /// Run a hub in the app and join it.
    Host,
}

/// The login screen's state.
#[derive(Debug, Clone)]
pub struct Login {
    /// Join or host.
    pub mode: Mode,
    /// Hub address (join).
    pub address: String,
    /// Display name.
    pub name: String,
    /// Password (join: the hub's; host: the one to set, or to log in with).
    pub password: String,
    /// Host: this computer's hub already has a password (the form never changes it).
    pub hub_has_password: bool,
    /// Host: the hub has a password but no longer remembers this computer, so the
    /// password must be typed to log in.
    pub host_login_needs_password: bool,
    /// Port to host on.
    pub port: String,
    /// The last problem, shown in red.
    pub error: Option<String>,
    /// What is going on ("Connecting…").
    pub status: Option<String>,
    /// Hubs found on the network (join), each with what its certificate showed: known
    /// only when that is a pinned certificate, never by what it advertises.
    pub found: Vec<(FoundHub, Checked)>,
    /// The connection check offered after a failed join.
    pub check: Option<Check>,
    /// Whether `error` says why the form cannot be used (it goes once the form can).
    invalid: bool,
}

/// Hubs listed on the login screen at most.
const LISTED: usize = 8;

/// What the user did.
#[derive(Debug, Clone)]
pub enum Message {
    /// Switched between join and host.
    Mode(Mode),
    /// Typed an address.
    Address(String),
    /// Typed a name.
    Name(String),
    /// Typed a password.
    Password(String),
    /// Typed a port.
    Port(String),
    /// Asked for a generated password.
    Generate,
    /// Pressed Join / Host (or Enter).
    Submit,
    /// Gave up connecting.
    Cancel,
    /// Picked a hub found on the network (its place in the list).
    Pick(usize),
    /// Run the connection check on the address typed (offered when joining failed).
    CheckConnection,
    /// A step of the connection check.
    Found(courier_core::doctor::Finding),
    /// The connection check finished.
    Checked,
}

/// What the parent has to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Nothing.
    None,
    /// Connect to `hub`.
    Join {
        /// Normalised `host:port`.
        hub: String,
        /// Login profile.
        profile: Profile,
        /// Hub password.
        password: String,
    },
    /// Start a hub, then join it.
    Host {
        /// Login profile.
        profile: Profile,
        /// Which password.
        password: HostPassword,
        /// Port (0: any).
        port: u16,
    },
    /// Stop connecting.
    Cancel,
    /// Move the cursor to the first field to fill ([`Login::focus`]).
    Focus,
    /// Run the connection check on `hub`; its steps come back as [`Message::Found`].
    CheckConnection {
        /// Normalised `host:port`.
        hub: String,
        /// The password typed (empty: none).
        password: String,
        /// Login profile.
        profile: Profile,
    },
}

/// The password of a hub hosted here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPassword {
    /// A new hub: set this password.
    Set(String),
    /// The hub's password stays as it is; this computer is remembered and logs in
    /// without.
    Unchanged,
    /// The hub's password stays as it is; log in with this one (it changes nothing).
    LogIn(String),
}

/// Fewest characters a hosted hub's password may have.
pub const MIN_HOST_PASSWORD: usize = 8;

/// Widget ids, for tests and focus.
pub mod id {
    /// The address field.
    pub const ADDRESS: &str = "login-address";
    /// The name field.
    pub const NAME: &str = "login-name";
    /// The password field.
    pub const PASSWORD: &str = "login-password";
}

impl Login {
    /// The screen, pre-filled from the settings.
    pub fn new(settings: &Settings) -> Self {
        Self {
            mode: Mode::Join,
            address: settings.hub.clone(),
            name: settings.name.clone(),
            password: String::new(),
            hub_has_password: false,
            host_login_needs_password: false,
            port: settings.host_port.to_string(),
            error: None,
            status: None,
            found: Vec::new(),
            check: None,
            invalid: false,
        }
    }

    /// What browsing the network saw; `checked` says what it is to this computer so far
    /// (before its certificate is checked: never known).
    pub fn discovered(&mut self, seen: Seen, checked: Checked) {
        match seen {
            Seen::Found(hub) => {
                self.found.retain(|(h, _)| h.instance != hub.instance);
                self.found.push((hub, checked));
                self.sort_found();
            }
            Seen::Lost(instance) => self.found.retain(|(h, _)| h.instance != instance),
        }
    }

    /// What a hub's certificate showed; recorded only if the hub is still listed as it was
    /// when checked.
    pub fn checked(&mut self, hub: &FoundHub, checked: Checked) {
        if let Some(row) = self.found.iter_mut().find(|(h, _)| h == hub) {
            row.1 = checked;
            self.sort_found();
        }
    }

    /// Known hubs first, then by name.
    fn sort_found(&mut self) {
        self.found.sort_by(|a, b| {
            (b.1.standing.is_known())
                .cmp(&a.1.standing.is_known())
                .then(a.0.name.cmp(&b.0.name))
        });
    }

    /// Puts the cursor in the first field that needs typing.
    pub fn focus<T: Send + 'static>(&self) -> iced::Task<T> {
        let first = match self.mode {
            Mode::Join if self.address.trim().is_empty() => id::ADDRESS,
            _ if self.name.trim().is_empty() => id::NAME,
            Mode::Host if self.hub_has_password && !self.host_login_needs_password => id::NAME,
            _ => id::PASSWORD,
        };
        iced::widget::operation::focus(first)
    }

    /// Whether a connection attempt is under way.
    pub fn busy(&self) -> bool {
        self.status.is_some()
    }

    /// Handles a message.
    pub fn update(&mut self, message: Message) -> Action {
        let edit = matches!(
            message,
            Message::Address(_)
                | Message::Name(_)
                | Message::Password(_)
                | Message::Port(_)
                | Message::Generate
        );
        let action = self.handle(message);
        if edit {
            self.revalidate();
        }
        action
    }

    fn handle(&mut self, message: Message) -> Action {
        match message {
            Message::Mode(mode) => {
                if !self.busy() {
                    self.mode = mode;
                    self.error = None;
                    self.invalid = false;
                    return Action::Focus;
                }
            }
            Message::Address(a) => self.address = a,
            Message::Name(n) => self.name = n,
            Message::Password(p) => self.password = p,
            Message::Port(p) => {
                self.port = p.chars().filter(char::is_ascii_digit).take(5).collect();
            }
            Message::Generate => self.password = courier_core::hub::generate_password(),
            Message::Pick(n) => {
                let Some((hub, checked)) = self.found.get(n) else {
                    return Action::None;
                };
                // A hub that claims to be one this computer knows and is not (or not
                // yet shown to be) is never used from the list.
                if checked.standing.warning("").is_some() {
                    return Action::None;
                }
                let known = checked.standing.is_known();
                let Some(address) = hub.addresses.first() else {
                    return Action::None;
                };
                if self.busy() {
                    return Action::None;
                }
                self.address = address.to_string();
                self.error = None;
                // A hub met before needs no password (it remembers this computer, or
                // says it does not): join at once.
                if known && !self.name.trim().is_empty() {
                    return self.update(Message::Submit);
                }
                return Action::Focus;
            }
            Message::Submit => {
                if self.busy() {
                    return Action::None;
                }
                match self.validate() {
                    Ok(action) => {
                        self.error = None;
                        self.invalid = false;
                        self.check = None;
                        return action;
                    }
                    Err(e) => {
                        self.error = Some(e);
                        self.invalid = true;
                    }
                }
            }
            Message::Cancel => {
                self.status = None;
                return Action::Cancel;
            }
            Message::CheckConnection => {
                if self.busy() || Check::running(self.check.as_ref()) {
                    return Action::None;
                }
                let Some(hub) = normalize_address(&self.address) else {
                    self.error = Some("Enter the hub's address to check the connection.".into());
                    return Action::None;
                };
                let name = self.name.trim();
                let name = if name.is_empty() { "Courier" } else { name };
                Check::start(&mut self.check);
                return Action::CheckConnection {
                    hub,
                    password: self.password.clone(),
                    profile: Profile::with_name(name),
                };
            }
            Message::Found(finding) => Check::found(&mut self.check, finding),
            Message::Checked => Check::done(&mut self.check),
        }
        Action::None
    }

    /// After an edit: a reason the form could not be used goes once it can (or says
    /// what is wrong now); other errors (a refused join) stay until the next try.
    fn revalidate(&mut self) {
        if !self.invalid {
            return;
        }
        match self.validate() {
            Ok(_) => {
                self.error = None;
                self.invalid = false;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// After a failed join: the button that checks the connection, and its steps.
    fn check_view(&self) -> Option<Element<'_, Message>> {
        if self.mode != Mode::Join || (self.error.is_none() && self.check.is_none()) {
            return None;
        }
        let start = (!self.busy()).then_some(Message::CheckConnection);
        Some(check::view(self.check.as_ref(), start, None))
    }

    fn validate(&self) -> Result<Action, String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("Enter the name others will see.".into());
        }
        let mut profile = Profile::with_name(name);
        // The profile's other fields are filled by the parent from the settings.
        profile.status.clear();
        validate_profile(&profile).map_err(|e| format!("That name cannot be used: {e}."))?;
        match self.mode {
            Mode::Join => {
                let hub = normalize_address(&self.address).ok_or_else(|| {
                    "Enter the hub's address, like 192.168.1.20 or hub.lan:8977.".to_owned()
                })?;
                // Empty is fine for a hub that remembers this computer: the parent
                // knows which hubs were met before.
                Ok(Action::Join {
                    hub,
                    profile,
                    password: self.password.clone(),
                })
            }
            Mode::Host => {
                let password = if !self.hub_has_password {
                    if self.password.chars().count() < MIN_HOST_PASSWORD {
                        return Err(format!(
                            "Choose a password of at least {MIN_HOST_PASSWORD} characters, or press Generate."
                        ));
                    }
                    HostPassword::Set(self.password.clone())
                } else if self.host_login_needs_password {
                    if self.password.is_empty() {
                        return Err("Enter the hub's password.".into());
                    }
                    HostPassword::LogIn(self.password.clone())
                } else {
                    HostPassword::Unchanged
                };
                let port = if self.port.is_empty() {
                    0
                } else {
                    self.port
                        .parse::<u16>()
                        .map_err(|_| "The port must be a number up to 65535.".to_owned())?
                };
                Ok(Action::Host {
                    profile,
                    password,
                    port,
                })
            }
        }
    }

    /// The hubs found on this network: one click fills the address (or joins a hub
    /// met before).
    fn found_view(&self) -> Element<'_, Message> {
        let mut list = column![text("Hubs on this network").size(14)].spacing(4);
        if self.found.is_empty() {
            list = list.push(
                text("Looking… (none yet: type its address below)")
                    .size(13)
                    .style(style::dim),
            );
        }
        for (n, (hub, checked)) in self.found.iter().take(LISTED).enumerate() {
            let address = hub
                .addresses
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            let mut line = address;
            if let Some(fp) = checked.fingerprint(hub) {
                line.push_str(&format!(" · safety code {}", fp.safety_code()));
            }
            if !hub.compatible() {
                line.push_str(" · another Courier version");
            }
            let mut title = row![
                text(courier_core::text::visible(&hub.name, false))
                    .size(15)
                    .width(Fill)
            ]
            .align_y(Center);
            let name = courier_core::text::visible(&hub.name, false);
            let warning = checked.standing.warning(&name);
            if checked.standing.is_known() {
                title = title.push(text("known").size(12).style(style::dim));
            }
            let mut lines = column![title, text(line).size(12).style(style::dim)].spacing(2);
            if let Some(warning) = &warning {
                lines = lines.push(
                    text(format!("Warning: it {warning}"))
                        .size(12)
                        .style(style::error),
                );
            }
            let usable = hub.compatible() && warning.is_none() && !self.busy();
            list = list.push(
                button(lines)
                    .width(Fill)
                    .style(button::secondary)
                    .on_press_maybe(usable.then_some(Message::Pick(n))),
            );
        }
        list.into()
    }

    /// Draws the screen.
    pub fn view(&self) -> Element<'_, Message> {
        let tab = |label, mode| {
            let b = button(text(label).center().width(Fill)).width(Fill);
            let b = if self.mode == mode {
                b.style(button::primary)
            } else {
                b.style(button::secondary)
            };
            b.on_press_maybe((!self.busy()).then_some(Message::Mode(mode)))
        };
        let tabs = row![
            tab("Join a hub", Mode::Join),
            tab("Host a hub on this computer", Mode::Host)
        ]
        .spacing(8);

        let field = |label, input: text_input::TextInput<'static, Message>| {
            column![text(label).size(14), input].spacing(4)
        };
        let name = field(
            "Your name",
            text_input("How others see you", &self.name)
                .id(id::NAME)
                .on_input(Message::Name)
                .on_submit(Message::Submit)
                .padding(8),
        );
        let setting = self.mode == Mode::Host && !self.hub_has_password;
        let password = text_input(
            if setting {
                "Choose a password"
            } else if self.mode == Mode::Host {
                "The hub's password"
            } else {
                "Not needed if this computer was here before"
            },
            &self.password,
        )
        .id(id::PASSWORD)
        .on_input(Message::Password)
        .on_submit(Message::Submit)
        .padding(8);
        let password = if setting {
            // Shown in clear when setting it: the host has to tell it to others.
            field("Password for the hub", password)
        } else {
            field("Hub password", password.secure(true))
        };

        let mut form = column![tabs].spacing(14);
        match self.mode {
            Mode::Join => {
                form = form.push(self.found_view());
                form = form.push(field(
                    "Hub address",
                    text_input("192.168.1.20 or hub.lan:8977", &self.address)
                        .id(id::ADDRESS)
                        .on_input(Message::Address)
                        .on_submit(Message::Submit)
                        .padding(8),
                ));
                form = form.push(name).push(password);
            }
            Mode::Host => {
                form = form.push(
                    text(
                        "Runs a hub inside this app. Others on your network join it with \
                          the address and password shown once it runs.",
                    )
                    .size(14)
                    .style(style::dim),
                );
                form = form.push(name);
                if !self.hub_has_password {
                    form = form.push(
                        row![
                            container(password).width(Fill),
                            column![
                                text(" ").size(14),
                                button("Generate").on_press(Message::Generate)
                            ]
                            .spacing(4)
                        ]
                        .spacing(8)
                        .align_y(iced::Bottom),
                    );
                } else if self.host_login_needs_password {
                    form = form.push(password);
                } else {
                    form = form.push(
                        text(
                            "The hub keeps the password it has; change it from the Menu \
                             once it runs.",
                        )
                        .size(14)
                        .style(style::dim),
                    );
                }
                form = form.push(field(
                    "Port",
                    text_input("8977", &self.port)
                        .on_input(Message::Port)
                        .on_submit(Message::Submit)
                        .padding(8),
                ));
            }
        }
        if let Some(e) = &self.error {
            form = form.push(text(e.clone()).style(style::error));
        }
        if let Some(check) = self.check_view() {
            form = form.push(check);
        }
        let submit = match self.mode {
            Mode::Join => "Join",
            Mode::Host => "Host and join",
        };
        let bottom = match &self.status {
            Some(status) => row![
                text(status.clone()).width(Fill),
                button("Cancel")
                    .style(button::secondary)
                    .on_press(Message::Cancel)
            ]
            .spacing(8)
            .align_y(Center),
            None => row![
                iced::widget::space::horizontal(),
                button(text(submit))
                    .padding([8, 20])
                    .on_press(Message::Submit)
            ],
        };
        form = form.push(bottom);

        let card = container(
            column![
                text("Courier").size(32),
                text("Chat and send files on your network").style(style::dim),
                form
            ]
            .spacing(12),
        )
        .padding(24)
        .max_width(520)
        .style(style::card);
        // Centred when it fits; when the window is too short for the form (the hubs
        // found, a check's result), it scrolls, with its scrollbar beside the card.
        center(
            scrollable(container(card).padding(20).center_x(Fill))
                .spacing(4)
                .width(Fill),
        )
        .into()
    }
}

#[cfg(test)]
mod tests;
