//! The closable side panel: Settings, Profile and Menu, one page each.

pub(crate) mod menu;
mod profile;
mod settings;

use courier_core::proto::{ClientId, Profile};
use iced::widget::{button, column, row, scrollable, text};
use iced::{Center, Element, Fill, Task};

use super::hub::HubInfo;
use crate::settings::Settings;
use crate::style;

pub use menu::Message as MenuMessage;
pub use profile::Message as ProfileMessage;
pub use settings::Message as SettingsMessage;

/// The panel's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Download folder, theme, auto-accept, notifications.
    Settings,
    /// Name, status, presence, avatar.
    Profile,
    /// Hub info, join address, log out, about.
    Menu,
}

/// The panel: which tab is open (if any), and what its pages hold.
#[derive(Debug)]
pub struct Panel {
    /// The open tab; `None` when the panel is closed.
    pub tab: Option<Tab>,
    /// The settings page.
    pub settings: settings::Page,
    /// The profile page.
    pub profile: profile::Page,
    /// The menu page.
    pub menu: menu::Page,
}

/// What the user did in the panel.
#[derive(Debug, Clone)]
pub enum Message {
    /// Opened a tab.
    Open(Tab),
    /// Opened the panel (on Settings) or closed it.
    Toggle,
    /// On the settings page.
    Settings(settings::Message),
    /// On the profile page.
    Profile(profile::Message),
    /// On the menu page.
    Menu(menu::Message),
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
    /// Show this notice.
    Notice(String),
    /// Give the hub this profile.
    SetProfile(Profile),
    /// Leave the hub.
    LogOut,
    /// Restart the hub hosted here with this new password.
    ChangeHubPassword(String),
    /// Forget the history of the open conversation, or of all.
    ClearHistory {
        /// Every conversation's.
        all: bool,
    },
    /// Run the connection check; its steps come back as [`menu::Message::Found`].
    CheckConnection,
}

/// What the pages show besides their own state.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The app's settings.
    pub settings: &'a Settings,
    /// The hub.
    pub hub: &'a HubInfo,
    /// Our id.
    pub me: ClientId,
    /// Our profile as the hub has it.
    pub profile: &'a Profile,
}

impl Panel {
    /// A closed panel; the profile page starts from `profile`.
    pub fn new(profile: &Profile) -> Self {
        Self {
            tab: None,
            settings: settings::Page::default(),
            profile: profile::Page::new(profile),
            menu: menu::Page::default(),
        }
    }

    /// The profile page shows `profile` again (the hub refused the one saved).
    pub(super) fn reset_profile(&mut self, profile: &Profile) {
        self.profile = profile::Page::new(profile);
    }

    /// Handles a message.
    pub fn update(&mut self, message: Message, settings: &mut Settings, hub: &HubInfo) -> Action {
        match message {
            Message::Open(tab) => self.tab = Some(tab),
            Message::Toggle => {
                self.tab = match self.tab {
                    Some(_) => None,
                    None => Some(Tab::Settings),
                };
            }
            Message::Settings(m) => {
                return self.settings.update(m, settings).lift(Message::Settings);
            }
            Message::Profile(m) => return self.profile.update(m, settings).lift(Message::Profile),
            Message::Menu(m) => return menu::update(&mut self.menu, m, hub).lift(Message::Menu),
        }
        Action::None
    }

    /// Draws the open tab (nothing when closed).
    pub fn view<'a>(&'a self, cx: Context<'a>) -> Option<Element<'a, Message>> {
        let tab = self.tab?;
        let tab_button = |label, t| {
            button(text(label).size(14).center().width(Fill))
                .width(Fill)
                .style(if t == tab {
                    button::primary
                } else {
                    button::text
                })
                .on_press(Message::Open(t))
        };
        let tabs = row![
            tab_button("Settings", Tab::Settings),
            tab_button("Profile", Tab::Profile),
            tab_button("Menu", Tab::Menu),
        ]
        .spacing(4);
        let body = match tab {
            Tab::Settings => self.settings.view(cx.settings).map(Message::Settings),
            Tab::Profile => self.profile.view(cx.me).map(Message::Profile),
            Tab::Menu => menu::view(&self.menu, cx).map(Message::Menu),
        };
        Some(
            column![
                row![
                    text("Panel").size(18).width(Fill),
                    button(text("Close").size(13))
                        .style(button::text)
                        .on_press(Message::Toggle)
                ]
                .align_y(Center),
                tabs,
                // The scrollbar gets its own lane beside the page, so the page's
                // buttons and text never run under it.
                scrollable(body).spacing(6).height(Fill)
            ]
            .spacing(10)
            .padding(12)
            .into(),
        )
    }
}

/// What a page's `update` returns; the panel lifts its messages into its own.
#[derive(Debug)]
enum PageAction<T> {
    None,
    Run(Task<T>),
    SaveSettings,
    Notice(String),
    SetProfile(Profile),
    LogOut,
    ChangeHubPassword(String),
    ClearHistory { all: bool },
    CheckConnection,
}

impl<T: Send + 'static> PageAction<T> {
    fn lift(self, f: fn(T) -> Message) -> Action {
        match self {
            Self::None => Action::None,
            Self::Run(task) => Action::Run(task.map(f)),
            Self::SaveSettings => Action::SaveSettings,
            Self::Notice(n) => Action::Notice(n),
            Self::SetProfile(p) => Action::SetProfile(p),
            Self::LogOut => Action::LogOut,
            Self::ChangeHubPassword(p) => Action::ChangeHubPassword(p),
            Self::ClearHistory { all } => Action::ClearHistory { all },
            Self::CheckConnection => Action::CheckConnection,
        }
    }
}

/// A titled part of a page.
fn section<'a, M: 'a>(title: &'a str, content: impl Into<Element<'a, M>>) -> Element<'a, M> {
    column![text(title).size(13).style(style::dim), content.into()]
        .spacing(6)
        .into()
}
