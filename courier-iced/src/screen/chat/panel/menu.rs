//! The menu page: the hub, how others join it, its safety code, who we are, log out.

use iced::widget::{button, column, text};
use iced::{Element, Task};

use super::{Context, PageAction, section};
use crate::screen::chat::HubInfo;
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
}

pub(super) fn update(message: Message, hub: &HubInfo) -> PageAction<Message> {
    match message {
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
        Message::LogOut => PageAction::LogOut,
    }
}

pub(super) fn view(cx: Context<'_>) -> Element<'_, Message> {
    let hub = cx.hub;
    let join = if hub.join.is_empty() {
        hub.address.clone()
    } else {
        hub.join.join("\n")
    };
    let hosted = if hub.hosted {
        "This computer hosts the hub. Others join with an address below and the password you chose."
    } else {
        "You joined this hub."
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
        section(
            "You",
            text(format!("{} · id {}", cx.profile.name, cx.me.short())).size(14)
        ),
        button(text(logout).size(14))
            .style(button::danger)
            .on_press(Message::LogOut),
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

/// The app's version and the protocol's it speaks (two Courier programs work together
/// when their protocol versions match).
pub(crate) fn version() -> String {
    format!(
        "Courier {} · protocol {}",
        env!("CARGO_PKG_VERSION"),
        courier_core::proto::PROTOCOL_VERSION
    )
}
