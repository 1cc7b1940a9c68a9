//! The profile page: name, status, presence and picture, checked before the hub sees them.

use courier_core::proto::{ClientId, Presence, Profile, validate_profile};
use iced::widget::{button, column, image, row, scrollable, space, text, text_input};
use iced::{Center, Element, Task};

use super::{PageAction, section};
use crate::format::capitalize;
use crate::screen::chat::people::{avatar_handle, avatar_initials, initials};
use crate::settings::Settings;
use crate::{avatar, style};

/// The profile being edited.
#[derive(Debug)]
pub struct Page {
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
    /// Whether `error` says why the draft cannot be saved (it goes once it can).
    invalid: bool,
    /// The built-in pictures: PNG bytes and what is drawn.
    builtin: Vec<(Vec<u8>, image::Handle)>,
}

/// What the user did on the page, or what its tasks found.
#[derive(Debug, Clone)]
pub enum Message {
    /// Typed the name.
    Name(String),
    /// Typed the status.
    Status(String),
    /// Picked a presence.
    Presence(Presence),
    /// Picked a built-in picture.
    Builtin(usize),
    /// Remove the picture.
    NoAvatar,
    /// Choose an image file.
    Choose,
    /// The image file's bytes.
    Chosen(Option<Vec<u8>>),
    /// Save the profile.
    Save,
}

impl Page {
    pub(super) fn new(profile: &Profile) -> Self {
        let builtin = (0..avatar::BUILTIN)
            .filter_map(|n| {
                let png = avatar::builtin(n);
                let h = avatar_handle(&png)?;
                Some((png, h))
            })
            .collect();
        Self {
            name: profile.name.clone(),
            status: profile.status.clone(),
            presence: profile.presence,
            avatar: profile.avatar.to_vec(),
            error: None,
            invalid: false,
            builtin,
        }
    }

    pub(super) fn update(
        &mut self,
        message: Message,
        settings: &mut Settings,
    ) -> PageAction<Message> {
        match message {
            Message::Name(n) => {
                self.name = n;
                self.revalidate();
            }
            Message::Status(s) => {
                self.status = s;
                self.revalidate();
            }
            Message::Presence(p) => self.presence = p,
            Message::Builtin(n) => {
                if let Some((png, _)) = self.builtin.get(n) {
                    self.avatar = png.clone();
                }
            }
            Message::NoAvatar => self.avatar.clear(),
            Message::Choose => {
                if !crate::system::dialogs_available() {
                    self.error = Some(crate::system::NO_DIALOGS.to_owned());
                    return PageAction::None;
                }
                return PageAction::Run(Task::perform(
                    crate::system::pick_image(),
                    Message::Chosen,
                ));
            }
            Message::Chosen(Some(bytes)) => match avatar::from_image(&bytes) {
                Ok(png) => {
                    self.avatar = png;
                    self.error = None;
                }
                Err(e) => self.error = Some(e.to_string()),
            },
            Message::Chosen(None) => {}
            Message::Save => {
                let profile = self.draft();
                if let Err(e) = validate_profile(&profile) {
                    self.error = Some(capitalize(&e.to_string()));
                    self.invalid = true;
                    return PageAction::None;
                }
                self.error = None;
                self.invalid = false;
                settings.name = profile.name.clone();
                settings.status = profile.status.clone();
                settings.presence = profile.presence;
                return PageAction::SetProfile(profile);
            }
        }
        PageAction::None
    }

    /// The profile as drafted.
    fn draft(&self) -> Profile {
        Profile {
            name: self.name.trim().to_owned(),
            presence: self.presence,
            status: self.status.trim().to_owned(),
            avatar: serde_bytes::ByteBuf::from(self.avatar.clone()),
        }
    }

    /// After an edit: the reason the draft could not be saved goes once it can (or
    /// says what is wrong now).
    fn revalidate(&mut self) {
        if self.invalid {
            match validate_profile(&self.draft()) {
                Ok(()) => {
                    self.error = None;
                    self.invalid = false;
                }
                Err(e) => self.error = Some(capitalize(&e.to_string())),
            }
        }
    }

    pub(super) fn view(&self, me: ClientId) -> Element<'_, Message> {
        let presence = |label, p| {
            button(text(label).size(13).center().width(iced::Fill))
                .width(iced::Fill)
                .style(if self.presence == p {
                    button::primary
                } else {
                    button::secondary
                })
                .on_press(Message::Presence(p))
        };
        let mut avatars = row![].spacing(6);
        for (n, (png, h)) in self.builtin.iter().enumerate() {
            let chosen = self.avatar == *png;
            avatars = avatars.push(
                button(image(h.clone()).width(28).height(28))
                    .padding(2)
                    .style(if chosen {
                        button::primary
                    } else {
                        button::text
                    })
                    .on_press(Message::Builtin(n)),
            );
        }
        let current: Element<'_, Message> = match avatar_handle(&self.avatar) {
            Some(h) => image(h).width(64).height(64).into(),
            None => avatar_initials(&initials(&self.name), me.0[0], 64.0),
        };
        let mut col = column![
            row![
                current,
                column![
                    button(text("Choose an image…").size(13))
                        .style(button::secondary)
                        .on_press(Message::Choose),
                ]
                .push(
                    // Only a picture set can be removed.
                    (!self.avatar.is_empty()).then(|| {
                        button(text("Remove picture").size(13))
                            .style(button::text)
                            .on_press(Message::NoAvatar)
                    })
                )
                .spacing(4)
            ]
            .spacing(12)
            .align_y(Center),
            scrollable(avatars).direction(scrollable::Direction::Horizontal(
                scrollable::Scrollbar::new().width(4).scroller_width(4)
            )),
            section(
                "Name",
                text_input("Your name", &self.name)
                    .id("profile-name")
                    .on_input(Message::Name)
                    .padding(8)
            ),
            section(
                "Status",
                text_input("What are you up to?", &self.status)
                    .id("profile-status")
                    .on_input(Message::Status)
                    .on_submit(Message::Save)
                    .padding(8)
            ),
            section(
                "Presence",
                row![
                    presence("Available", Presence::Available),
                    presence("Away", Presence::Away),
                    presence("Busy", Presence::Busy)
                ]
                .spacing(4)
            ),
        ]
        .spacing(14);
        if let Some(e) = &self.error {
            col = col.push(text(e.as_str()).style(style::error));
        }
        col.push(row![
            space::horizontal(),
            button("Save profile").on_press(Message::Save)
        ])
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::chat::panel::{self, Tab};
    use crate::screen::chat::tests::{chat_with, interact};
    use crate::screen::chat::{self, Action};

    fn page(m: Message) -> chat::Message {
        chat::Message::Panel(panel::Message::Profile(m))
    }

    #[test]
    fn profile_changes_are_validated_and_kept() -> Result<(), iced_test::Error> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![]);
        chat.panel.tab = Some(Tab::Profile);
        let actions = interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click(iced::widget::Id::new("profile-status"));
            ui.typewrite("in a meeting");
            let _ = ui.click("Busy");
        });
        assert!(actions.iter().all(|a| matches!(a, Action::None)));
        let draft = &chat.panel.profile;
        assert_eq!(draft.status, "in a meeting");
        assert_eq!(draft.presence, Presence::Busy);
        chat.update(page(Message::Builtin(3)), &mut settings);
        assert_eq!(chat.panel.profile.avatar, avatar::builtin(3));

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
        chat.update(page(Message::Name("   ".into())), &mut settings);
        let action = chat.update(page(Message::Save), &mut settings);
        assert!(matches!(action, Action::None));
        assert!(chat.panel.profile.error.is_some());
        assert_eq!(chat.profile.name, "Ada");
        // Issue 22: fixed, the reason goes at once (before Save is pressed again).
        chat.update(page(Message::Name("Ada Lovelace".into())), &mut settings);
        assert_eq!(chat.panel.profile.error, None, "fixed: no error left");
        // An image that is not one is refused too.
        chat.update(
            page(Message::Chosen(Some(b"not an image".to_vec()))),
            &mut settings,
        );
        assert!(
            chat.panel
                .profile
                .error
                .as_deref()
                .is_some_and(|e| e.contains("image"))
        );
        Ok(())
    }

    /// Issue 22: a picture the hub refuses is not kept as ours (the panel, the window
    /// and the file show the one before), and "Remove picture" shows only while one is
    /// set.
    #[test]
    fn a_refused_picture_is_not_kept_and_only_a_set_one_can_be_removed() {
        use courier_core::proto::ErrorCode;
        use courier_core::session::Event;
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![]);
        chat.panel.tab = Some(Tab::Profile);
        let shows = |chat: &chat::Chat, text: &str| {
            crate::screen::chat::tests::shows(chat, &Settings::default(), text)
        };
        assert!(!shows(&chat, "Remove picture"), "no picture to remove");
        assert!(!shows(&chat, "No picture"));
        chat.update(page(Message::Builtin(3)), &mut settings);
        assert!(shows(&chat, "Remove picture"));
        let action = chat.update(page(Message::Save), &mut settings);
        assert!(matches!(action, Action::SaveSettings));
        assert!(chat.people.avatar(&chat.me()).is_some());

        let refused = Event::HubError {
            code: ErrorCode::InvalidProfile,
            detail: "the avatar is not a picture".into(),
        };
        let action = chat.session_event(refused, &settings);
        assert!(
            matches!(action, Action::SaveSettings),
            "the old one is saved"
        );
        assert!(chat.profile.avatar.is_empty(), "the old profile is back");
        assert!(
            chat.people.avatar(&chat.me()).is_none(),
            "not shown as ours"
        );
        assert!(chat.panel.profile.avatar.is_empty());
        assert!(chat.notice().is_some_and(|n| n.contains("refused")));
        assert!(!shows(&chat, "Remove picture"));
    }
}
