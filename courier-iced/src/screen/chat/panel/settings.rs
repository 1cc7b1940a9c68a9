//! The settings page: download folder, theme, auto-accept, notifications, remembering,
//! answering link tests.

use std::path::PathBuf;

use iced::widget::{button, checkbox, column, row, text, text_input};
use iced::{Element, Task};

use super::{PageAction, section};
use crate::settings::Settings;
use crate::style;

/// A download folder being typed, and why it cannot be used.
#[derive(Debug, Default)]
pub struct Page {
    /// The folder typed, until it is used.
    pub draft: Option<String>,
    /// Why the typed folder cannot be used.
    pub error: Option<String>,
    /// A clearing of history asked for, waiting for its confirmation (`true`: all).
    pub clearing: Option<bool>,
}

/// What the user did on the page, or what its tasks found.
#[derive(Debug, Clone)]
pub enum Message {
    /// Choose the download folder in a dialog.
    Choose,
    /// Folder chosen in the dialog.
    Chosen(Option<PathBuf>),
    /// A download folder typed.
    Typed(String),
    /// Use the typed folder.
    Use,
    /// The typed folder was checked (and made if missing).
    Checked(Result<PathBuf, String>),
    /// Dark theme.
    Dark(bool),
    /// Accept files from trusted contacts without asking.
    AutoAccept(bool),
    /// Desktop notifications.
    Notifications(bool),
    /// Ask hubs to remember this computer.
    Remember(bool),
    /// Show a hub hosted here on the network.
    Advertise(bool),
    /// Answer contacts' link tests.
    AnswerLinkTests(bool),
    /// Asked to clear the open conversation's history (`false`) or all (`true`).
    Clear(bool),
    /// Confirmed the clearing.
    ClearConfirmed,
    /// Changed their mind.
    ClearCancelled,
}

impl Page {
    pub(super) fn update(
        &mut self,
        message: Message,
        settings: &mut Settings,
    ) -> PageAction<Message> {
        match message {
            Message::Choose => {
                if !crate::system::dialogs_available() {
                    return PageAction::Notice(crate::system::NO_DIALOGS.to_owned());
                }
                return PageAction::Run(Task::perform(
                    crate::system::pick_folder("Download folder"),
                    Message::Chosen,
                ));
            }
            Message::Chosen(Some(dir)) => return self.use_folder(dir, settings),
            Message::Chosen(None) => {}
            Message::Typed(text) => {
                self.draft = Some(text);
                self.error = None;
            }
            Message::Use => {
                if let Some(text) = self.draft.clone() {
                    return PageAction::Run(Task::perform(
                        smol::unblock(move || usable_folder(&text)),
                        Message::Checked,
                    ));
                }
            }
            Message::Checked(Ok(dir)) => return self.use_folder(dir, settings),
            Message::Checked(Err(e)) => self.error = Some(e),
            Message::Dark(on) => {
                settings.dark = on;
                return PageAction::SaveSettings;
            }
            Message::AutoAccept(on) => {
                settings.auto_accept_trusted = on;
                return PageAction::SaveSettings;
            }
            Message::Notifications(on) => {
                settings.notifications = on;
                return PageAction::SaveSettings;
            }
            Message::Remember(on) => {
                settings.remember = on;
                return PageAction::SaveSettings;
            }
            Message::Advertise(on) => {
                settings.advertise = on;
                return PageAction::SaveSettings;
            }
            Message::AnswerLinkTests(on) => {
                settings.answer_link_tests = on;
                return PageAction::SaveSettings;
            }
            Message::Clear(all) => self.clearing = Some(all),
            Message::ClearCancelled => self.clearing = None,
            Message::ClearConfirmed => {
                if let Some(all) = self.clearing.take() {
                    return PageAction::ClearHistory { all };
                }
            }
        }
        PageAction::None
    }

    fn use_folder(&mut self, dir: PathBuf, settings: &mut Settings) -> PageAction<Message> {
        settings.download_dir = Some(dir);
        self.draft = None;
        self.error = None;
        PageAction::SaveSettings
    }

    pub(super) fn view<'a>(&'a self, settings: &'a Settings) -> Element<'a, Message> {
        let dir = self
            .draft
            .clone()
            .unwrap_or_else(|| settings.downloads().display().to_string());
        let mut folder = column![
            text_input("A folder for received files", &dir)
                .id("downloads")
                .on_input(Message::Typed)
                .on_submit(Message::Use)
                .padding(6)
                .size(14),
            row![
                button(text("Choose…").size(14))
                    .style(button::secondary)
                    .on_press(Message::Choose),
                button(text("Use this folder").size(14))
                    .style(button::secondary)
                    .on_press_maybe(self.draft.is_some().then_some(Message::Use))
            ]
            .spacing(6)
        ]
        .spacing(6);
        if let Some(e) = &self.error {
            folder = folder.push(text(e.as_str()).size(13).style(style::error));
        }
        column![
            section("Download folder", folder),
            section(
                "Appearance",
                checkbox(settings.dark)
                    .label("Dark theme")
                    .on_toggle(Message::Dark)
            ),
            section(
                "Files",
                checkbox(settings.auto_accept_trusted)
                    .label("Accept files from trusted contacts without asking")
                    .on_toggle(Message::AutoAccept)
            ),
            section(
                "Notifications",
                checkbox(settings.notifications)
                    .label("Notify me of messages when the window is in the background")
                    .on_toggle(Message::Notifications)
            ),
            section(
                "Signing in",
                column![
                    checkbox(settings.remember)
                        .label("Remember this computer: join without the password next time")
                        .on_toggle(Message::Remember),
                    text(
                        "Takes effect at the next password login; a hub's owner can make it forget."
                    )
                    .size(13)
                    .style(style::dim),
                ]
                .spacing(4)
            ),
            section(
                "Hosting",
                column![
                    checkbox(settings.advertise)
                        .label("Show a hub hosted here on the network")
                        .on_toggle(Message::Advertise),
                    text("Others then find it in their list without typing its address.")
                        .size(13)
                        .style(style::dim),
                ]
                .spacing(4)
            ),
            section("History", self.history_view()),
            section(
                "Link tests",
                column![
                    checkbox(settings.answer_link_tests)
                        .label("Answer contacts' link tests")
                        .on_toggle(Message::AnswerLinkTests),
                    text(
                        "A contact's link test connects back only to the address the hub sees \
                         them at, and nothing is shown or saved. Takes effect the next time you \
                         join."
                    )
                    .size(13)
                    .style(style::dim),
                ]
                .spacing(4)
            ),
        ]
        .spacing(18)
        .into()
    }

    fn history_view(&self) -> Element<'_, Message> {
        match self.clearing {
            None => column![
                text("Messages are kept on this computer, for this hub.")
                    .size(13)
                    .style(style::dim),
                row![
                    button(text("Clear this conversation").size(14))
                        .style(button::secondary)
                        .on_press(Message::Clear(false)),
                    button(text("Clear all history").size(14))
                        .style(button::secondary)
                        .on_press(Message::Clear(true)),
                ]
                .spacing(6),
            ]
            .spacing(6)
            .into(),
            Some(all) => column![
                text(if all {
                    "Forget every message of every conversation on this computer?"
                } else {
                    "Forget every message of the open conversation on this computer?"
                })
                .size(14),
                row![
                    button(text("Clear").size(14))
                        .style(button::danger)
                        .on_press(Message::ClearConfirmed),
                    button(text("Keep").size(14))
                        .style(button::secondary)
                        .on_press(Message::ClearCancelled),
                ]
                .spacing(6),
            ]
            .spacing(6)
            .into(),
        }
    }
}

/// A typed download folder: absolute (a leading `~/` means the home folder), and a
/// folder that exists or can be made (it is made).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::chat::panel::{self, Tab};
    use crate::screen::chat::tests::{chat_with, interact};
    use crate::screen::chat::{self, Action};

    fn page(m: Message) -> chat::Message {
        chat::Message::Panel(panel::Message::Settings(m))
    }

    /// Uses the typed folder as the app would: the check runs as a task, whose result
    /// comes back as a message.
    fn use_typed(chat: &mut chat::Chat, settings: &mut Settings) -> Action {
        let text = chat.panel.settings.draft.clone().unwrap_or_default();
        assert!(matches!(
            chat.update(page(Message::Use), settings),
            Action::Run(_)
        ));
        chat.update(page(Message::Checked(usable_folder(&text))), settings)
    }

    #[test]
    fn download_folder_can_be_typed_and_is_checked() -> Result<(), Box<dyn std::error::Error>> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![]);
        chat.panel.tab = Some(Tab::Settings);
        let dir = std::env::temp_dir().join(format!("courier-iced-dl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);

        let len = Settings::default()
            .downloads()
            .display()
            .to_string()
            .chars()
            .count();
        let actions = interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click(iced::widget::Id::new("downloads"));
            // Select what is there and type over it.
            ui.tap_key(iced::keyboard::Key::Named(iced::keyboard::key::Named::End));
            for _ in 0..len {
                ui.tap_key(iced::keyboard::Key::Named(
                    iced::keyboard::key::Named::Backspace,
                ));
            }
            ui.typewrite("relative/path");
        });
        assert!(actions.iter().all(|a| matches!(a, Action::None)));
        assert_eq!(chat.panel.settings.draft.as_deref(), Some("relative/path"));
        assert!(matches!(use_typed(&mut chat, &mut settings), Action::None));
        assert!(
            chat.panel
                .settings
                .error
                .as_deref()
                .is_some_and(|e| e.contains("whole path"))
        );
        assert!(settings.download_dir.is_none(), "nothing changed");

        chat.update(
            page(Message::Typed(dir.display().to_string())),
            &mut settings,
        );
        let action = use_typed(&mut chat, &mut settings);
        assert!(matches!(action, Action::SaveSettings));
        assert_eq!(settings.download_dir.as_deref(), Some(dir.as_path()));
        assert!(dir.is_dir(), "the folder was made");
        assert!(chat.panel.settings.draft.is_none());
        std::fs::remove_dir_all(&dir)?;

        // A file where the folder should be is refused with a reason.
        let file =
            std::env::temp_dir().join(format!("courier-iced-dl-file-{}", std::process::id()));
        std::fs::write(&file, b"x")?;
        chat.update(
            page(Message::Typed(file.display().to_string())),
            &mut settings,
        );
        use_typed(&mut chat, &mut settings);
        assert!(chat.panel.settings.error.is_some());
        assert_eq!(
            settings.download_dir.as_deref(),
            Some(dir.as_path()),
            "left as it was"
        );
        let _ = std::fs::remove_file(&file);
        Ok(())
    }

    #[test]
    fn settings_toggles_change_and_ask_to_save() {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![]);
        chat.panel.tab = Some(Tab::Settings);
        let actions = interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click("Dark theme");
        });
        assert!(settings.dark);
        assert!(matches!(actions.as_slice(), [Action::SaveSettings]));
    }
}
