//! The side panel: Settings, Profile and Menu.

use courier_core::proto::Presence;
use iced::widget::{
    button, checkbox, column, container, image, row, scrollable, space, text, text_input,
};
use iced::{Center, Element, Fill};

use super::{Chat, Message};
use crate::settings::Settings;
use crate::style;

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

pub(super) fn view<'a>(chat: &'a Chat, tab: Tab, settings: &'a Settings) -> Element<'a, Message> {
    let tab_button = |label, t| {
        button(text(label).size(14).center().width(Fill))
            .width(Fill)
            .style(if t == tab {
                button::primary
            } else {
                button::text
            })
            .on_press(Message::Panel(t))
    };
    let tabs = row![
        tab_button("Settings", Tab::Settings),
        tab_button("Profile", Tab::Profile),
        tab_button("Menu", Tab::Menu),
    ]
    .spacing(4);
    let body = match tab {
        Tab::Settings => settings_view(chat, settings),
        Tab::Profile => profile_view(chat),
        Tab::Menu => menu_view(chat),
    };
    column![
        row![
            text("Panel").size(18).width(Fill),
            button(text("Close").size(13))
                .style(button::text)
                .on_press(Message::TogglePanel)
        ]
        .align_y(Center),
        tabs,
        scrollable(body).height(Fill)
    ]
    .spacing(10)
    .padding(12)
    .into()
}

fn section<'a>(title: &'a str, content: Element<'a, Message>) -> Element<'a, Message> {
    column![text(title).size(13).style(style::dim), content]
        .spacing(6)
        .into()
}

fn settings_view<'a>(chat: &'a Chat, settings: &'a Settings) -> Element<'a, Message> {
    let dir = chat
        .downloads_draft
        .clone()
        .unwrap_or_else(|| settings.downloads().display().to_string());
    let mut folder = column![
        text_input("A folder for received files", &dir)
            .id("downloads")
            .on_input(Message::DownloadsTyped)
            .on_submit(Message::DownloadsSet)
            .padding(6)
            .size(14),
        row![
            button(text("Choose…").size(14))
                .style(button::secondary)
                .on_press(Message::ChooseDownloads),
            button(text("Use this folder").size(14))
                .style(button::secondary)
                .on_press_maybe(
                    chat.downloads_draft
                        .is_some()
                        .then_some(Message::DownloadsSet)
                )
        ]
        .spacing(6)
    ]
    .spacing(6);
    if let Some(e) = &chat.downloads_error {
        folder = folder.push(text(e.as_str()).size(13).style(style::error));
    }
    column![
        section("Download folder", folder.into()),
        section(
            "Appearance",
            checkbox(settings.dark)
                .label("Dark theme")
                .on_toggle(Message::Dark)
                .into()
        ),
        section(
            "Files",
            checkbox(settings.auto_accept_trusted)
                .label("Accept files from trusted contacts without asking")
                .on_toggle(Message::AutoAccept)
                .into()
        ),
        section(
            "Notifications",
            checkbox(settings.notifications)
                .label("Notify me of messages when the window is in the background")
                .on_toggle(Message::Notifications)
                .into()
        ),
    ]
    .spacing(18)
    .into()
}

fn profile_view(chat: &Chat) -> Element<'_, Message> {
    let d = &chat.draft;
    let presence = |label, p| {
        button(text(label).size(13).center().width(Fill))
            .width(Fill)
            .style(if d.presence == p {
                button::primary
            } else {
                button::secondary
            })
            .on_press(Message::ProfilePresence(p))
    };
    let mut avatars = row![].spacing(6);
    for (n, (png, h)) in chat.builtin.iter().enumerate() {
        let chosen = d.avatar == *png;
        avatars = avatars.push(
            button(image(h.clone()).width(28).height(28))
                .padding(2)
                .style(if chosen {
                    button::primary
                } else {
                    button::text
                })
                .on_press(Message::BuiltinAvatar(n)),
        );
    }
    let current: Element<'_, Message> = match super::avatar_handle(&d.avatar) {
        Some(h) => image(h).width(64).height(64).into(),
        None => super::contacts::avatar_initials(
            &super::contacts::initials(&d.name),
            chat.me.0[0],
            64.0,
        ),
    };
    let mut col = column![
        row![
            current,
            column![
                button(text("Choose an image…").size(13))
                    .style(button::secondary)
                    .on_press(Message::ChooseAvatar),
                button(text("No picture").size(13))
                    .style(button::text)
                    .on_press(Message::NoAvatar)
            ]
            .spacing(4)
        ]
        .spacing(12)
        .align_y(Center),
        scrollable(avatars).direction(scrollable::Direction::Horizontal(
            scrollable::Scrollbar::new().width(4).scroller_width(4)
        )),
        section(
            "Name",
            text_input("Your name", &d.name)
                .id("profile-name")
                .on_input(Message::ProfileName)
                .padding(8)
                .into()
        ),
        section(
            "Status",
            text_input("What are you up to?", &d.status)
                .id("profile-status")
                .on_input(Message::ProfileStatus)
                .on_submit(Message::SaveProfile)
                .padding(8)
                .into()
        ),
        section(
            "Presence",
            row![
                presence("Available", Presence::Available),
                presence("Away", Presence::Away),
                presence("Busy", Presence::Busy)
            ]
            .spacing(4)
            .into()
        ),
    ]
    .spacing(14);
    if let Some(e) = &d.error {
        col = col.push(text(e.as_str()).style(style::error));
    }
    col.push(row![
        space::horizontal(),
        button("Save profile").on_press(Message::SaveProfile)
    ])
    .into()
}

fn menu_view(chat: &Chat) -> Element<'_, Message> {
    let join = if chat.hub.join.is_empty() {
        chat.hub.address.clone()
    } else {
        chat.hub.join.join("\n")
    };
    let hosted = if chat.hub.hosted {
        "This computer hosts the hub. Others join with an address below and the password you chose."
    } else {
        "You joined this hub."
    };
    let logout = if chat.hub.hosted {
        "Log out and stop the hub"
    } else {
        "Log out"
    };
    column![
        section("Hub", text(hosted).size(14).into()),
        section("Join address", text(join).size(14).into()),
        section(
            "Safety code",
            column![
                text(chat.hub.fingerprint.safety_code()).size(20),
                text(
                    "Compare this code with the one others see: the same code means the same hub."
                )
                .size(12)
                .style(style::dim)
            ]
            .spacing(4)
            .into()
        ),
        button(text("Copy join address").size(14))
            .style(button::secondary)
            .on_press(Message::CopyJoin),
        section(
            "You",
            text(format!("{} · id {}", chat.profile.name, chat.me.short()))
                .size(14)
                .into()
        ),
        button(text(logout).size(14))
            .style(button::danger)
            .on_press(Message::LogOut),
        section(
            "About",
            container(
                text(format!(
                    "Courier {} — chat and send files on your network. Files go directly \
                     between computers, verified and resumable.",
                    env!("CARGO_PKG_VERSION")
                ))
                .size(12)
            )
            .into()
        ),
    ]
    .spacing(16)
    .into()
}
