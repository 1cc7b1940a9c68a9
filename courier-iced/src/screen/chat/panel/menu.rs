//! The menu page: the hub, how others join it, its safety code, who we are, log out;
//! for a hub hosted here, its password (shown on request) and changing it. What
//! disconnects everyone on the hub (stopping it, a new password) is asked first.

use iced::widget::{button, column, row, text, text_input};
use iced::{Element, Task};

use super::{Context, PageAction, section};
use crate::screen::chat::hub::HubInfo;
use crate::screen::check::{self, Check};
use crate::style;

/// What the user did on the page.
#[derive(Debug, Clone)]
pub enum Message {
    /// Copy the join address.
    CopyJoin,
    /// The address is on the clipboard.
    Copied(String),
    /// Log out.
    LogOut,
    /// Typed a new password for the hosted hub.
    NewPassword(String),
    /// Asked for a generated one.
    Generate,
    /// Set it (asks first).
    ChangePassword,
    /// Show or hide the hosted hub's password.
    TogglePassword,
    /// Copy the hosted hub's password.
    CopyPassword,
    /// The password is on the clipboard.
    PasswordCopied,
    /// Yes: do what was asked about.
    Confirm,
    /// No: keep everything as it is.
    Cancel,
    /// Run the connection check.
    CheckConnection,
    /// A step of the connection check.
    Found(courier_core::doctor::Finding),
    /// The connection check finished.
    Checked,
}

/// What the page asks before doing it: both disconnect everyone on the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Log out and stop the hub hosted here.
    StopHub,
    /// Restart it with the new password.
    ChangePassword,
}

/// The page's own state: a new hub password being typed.
#[derive(Debug, Default)]
pub struct Page {
    /// The question awaiting Yes or Cancel.
    pub ask: Option<Ask>,
    /// Whether the hosted hub's password is shown.
    pub show_password: bool,
    /// The new password (hosted hub only).
    pub new_password: String,
    /// Why it cannot be used.
    pub error: Option<String>,
    /// The connection check (`None`: never run).
    pub check: Option<Check>,
}

/// The widget id of the new-password field.
pub(crate) const NEW_PASSWORD: &str = "menu-new-password";

pub(super) fn update(page: &mut Page, message: Message, hub: &HubInfo) -> PageAction<Message> {
    match message {
        Message::NewPassword(text) => {
            page.new_password = text;
            page.error = None;
            page.ask = page.ask.filter(|a| *a != Ask::ChangePassword);
            PageAction::None
        }
        Message::Generate => {
            page.new_password = courier_core::hub::generate_password();
            page.error = None;
            page.ask = page.ask.filter(|a| *a != Ask::ChangePassword);
            PageAction::None
        }
        Message::TogglePassword => {
            page.show_password = !page.show_password;
            PageAction::None
        }
        Message::CopyPassword => match &hub.password {
            Some(password) => PageAction::Run(
                iced::clipboard::write(password.clone()).chain(Task::done(Message::PasswordCopied)),
            ),
            None => PageAction::None,
        },
        Message::PasswordCopied => PageAction::Notice("Copied the hub password".to_owned()),
        Message::Confirm => match page.ask.take() {
            Some(Ask::StopHub) => PageAction::LogOut,
            Some(Ask::ChangePassword) if hub.hosted => {
                PageAction::ChangeHubPassword(std::mem::take(&mut page.new_password))
            }
            _ => PageAction::None,
        },
        Message::Cancel => {
            page.ask = None;
            PageAction::None
        }
        Message::ChangePassword => {
            let min = crate::screen::login::MIN_HOST_PASSWORD;
            if !hub.hosted {
                PageAction::None
            } else if page.new_password.chars().count() < min {
                page.error = Some(format!(
                    "Choose a password of at least {min} characters, or press Generate."
                ));
                PageAction::None
            } else {
                page.error = None;
                page.ask = Some(Ask::ChangePassword);
                PageAction::None
            }
        }
        Message::CopyJoin => {
            let text = hub
                .join
                .first()
                .cloned()
                .unwrap_or_else(|| hub.address.clone());
            PageAction::Run(
                iced::clipboard::write(text.clone()).chain(Task::done(Message::Copied(text))),
            )
        }
        Message::Copied(text) => PageAction::Notice(format!("Copied {text}")),
        // Stopping the hub disconnects everyone: asked first.
        Message::LogOut if hub.hosted => {
            page.ask = Some(Ask::StopHub);
            PageAction::None
        }
        Message::LogOut => PageAction::LogOut,
        Message::CheckConnection => {
            if Check::start(&mut page.check) {
                PageAction::CheckConnection
            } else {
                PageAction::None
            }
        }
        Message::Found(finding) => {
            Check::found(&mut page.check, finding);
            PageAction::None
        }
        Message::Checked => {
            Check::done(&mut page.check);
            PageAction::None
        }
    }
}

/// The connection check: a button, then each step as it is checked.
fn connection_check(page: &Page) -> Element<'_, Message> {
    let body = check::view(
        page.check.as_ref(),
        Some(Message::CheckConnection),
        Some(
            "Can't see someone, or files go slowly? Checks every step from this computer to \
             the hub and back, and says what to do. With a contact's conversation open, it \
             also tests the link to them: direct and through the hub, with its speed.",
        ),
    );
    section("Connection check", body)
}

pub(super) fn view<'a>(page: &'a Page, cx: Context<'a>) -> Element<'a, Message> {
    let hub = cx.hub;
    let join = if hub.join.is_empty() {
        hub.address.clone()
    } else {
        hub.join.join("\n")
    };
    let hosted = match (hub.hosted, &hub.advertised) {
        (true, Some(name)) => format!(
            "This computer hosts the hub. Others find it on the network as \"{}\" (or join \
             with an address below) with the password you chose.",
            courier_core::text::visible(name, false)
        ),
        (true, None) => "This computer hosts the hub. Others join with an address below and \
                         the password you chose."
            .to_owned(),
        (false, _) => "You joined this hub.".to_owned(),
    };
    let logout = if hub.hosted {
        "Log out and stop the hub"
    } else {
        "Log out"
    };
    column![
        section("Hub", text(hosted).size(14)),
        section("Join address", text(join).size(14)),
        section(
            "Safety code",
            column![
                text(hub.fingerprint.safety_code()).size(20),
                text(
                    "Compare this code with the one others see: the same code means the same hub."
                )
                .size(12)
                .style(style::dim)
            ]
            .spacing(4)
        ),
        button(text("Copy join address").size(14))
            .style(button::secondary)
            .on_press(Message::CopyJoin),
        change_password(page, hub),
        connection_check(page),
        section(
            "You",
            text(format!("{} · id {}", cx.profile.name, cx.me.short())).size(14)
        ),
        asked(
            page.ask == Some(Ask::StopHub),
            button(text(logout).size(14))
                .style(button::danger)
                .on_press(Message::LogOut)
                .into(),
            "Everyone on this hub is disconnected, and nobody can join until you host it \
             again. Stop it?",
            "Yes, stop the hub",
        ),
        section(
            "About",
            column![
                text(version()).size(12),
                text(
                    "Chat and send files on your network. Files go directly between \
                     computers, verified and resumable."
                )
                .size(12),
            ]
            .spacing(4)
        ),
    ]
    .spacing(16)
    .into()
}

/// For a hub hosted here: set a new password (the hub restarts; everyone, this computer
/// included, gives the new password once). Nothing for a joined hub.
fn change_password<'a>(page: &'a Page, hub: &'a HubInfo) -> Element<'a, Message> {
    if !hub.hosted {
        return column![].into();
    }
    let mut body = column![
        current_password(page, hub.password.as_deref()),
        row![
            text_input("A new password", &page.new_password)
                .id(NEW_PASSWORD)
                .on_input(Message::NewPassword)
                .on_submit(Message::ChangePassword)
                .padding(6)
                .size(14),
            button(text("Generate").size(14))
                .style(button::secondary)
                .on_press(Message::Generate),
        ]
        .spacing(6),
        asked(
            page.ask == Some(Ask::ChangePassword),
            button(text("Change the hub password").size(14))
                .style(button::secondary)
                .on_press(Message::ChangePassword)
                .into(),
            "The hub restarts: everyone on it is disconnected and must give the new \
             password. Change it?",
            "Yes, change the password",
        ),
        text(
            "The hub restarts with the new password. Remembered computers must give it once; \
             tell it to the others."
        )
        .size(12)
        .style(style::dim),
    ]
    .spacing(6);
    if let Some(e) = &page.error {
        body = body.push(text(e.as_str()).size(13).style(style::error));
    }
    section("Hub password", body)
}

/// The hosted hub's password, hidden until asked, with Copy; or why it cannot be shown.
fn current_password<'a>(page: &Page, password: Option<&'a str>) -> Element<'a, Message> {
    let Some(password) = password else {
        return text(
            "The password was set in an earlier run and is not kept on this computer. To \
             tell it to someone, set a new one.",
        )
        .size(12)
        .style(style::dim)
        .into();
    };
    let (shown, toggle) = if page.show_password {
        (password.to_owned(), "Hide")
    } else {
        ("•".repeat(12), "Show password")
    };
    row![
        text(shown).size(14).width(iced::Fill),
        button(text(toggle).size(14))
            .style(button::secondary)
            .on_press(Message::TogglePassword),
        button(text("Copy password").size(14))
            .style(button::secondary)
            .on_press(Message::CopyPassword),
    ]
    .spacing(6)
    .align_y(iced::Center)
    .into()
}

/// `action`, or, while it is asked about, the question with Yes and Cancel.
fn asked<'a>(
    asking: bool,
    action: Element<'a, Message>,
    question: &'a str,
    yes: &'a str,
) -> Element<'a, Message> {
    if !asking {
        return action;
    }
    column![
        text(question).size(13),
        row![
            button(text(yes).size(14))
                .style(button::danger)
                .on_press(Message::Confirm),
            button(text("Cancel").size(14))
                .style(button::secondary)
                .on_press(Message::Cancel),
        ]
        .spacing(6),
    ]
    .spacing(6)
    .into()
}

/// The app's version and the protocol's it speaks (two Courier programs work together
/// when their protocol versions match).
pub(crate) fn version() -> String {
    format!(
        "Courier {} · protocol {}",
        env!("CARGO_PKG_VERSION"),
        courier_core::proto::PROTOCOL_VERSION
    )
}
