//! Drawing the window: the screen, and above it the hub-changed warning or the safety
//! code to confirm.

use iced::widget::{button, center, column, container, opaque, row, space, stack, text};
use iced::{Element, Fill, Theme};

use super::{Courier, Message, Screen};
use crate::style;

impl Courier {
    /// Draws the window.
    pub fn view(&self) -> Element<'_, Message> {
        let base: Element<'_, Message> = match &self.screen {
            Screen::Login(login) => login.view().map(Message::Login),
            Screen::Chat(chat) => chat.view(&self.settings).map(Message::Chat),
        };
        if let Some(warning) = &self.warning {
            return modal(
                base,
                column![
                    text("Warning: this may not be your hub").size(22),
                    text(warning.as_str()),
                    row![
                        space::horizontal(),
                        button("I understand")
                            .style(button::danger)
                            .on_press(Message::DismissWarning)
                    ]
                ]
                .spacing(14),
            );
        }
        if let Some(hub) = &self.confirm {
            return modal(
                base,
                column![
                    text("Is this the right hub?").size(22),
                    text("This is the first time you join this hub. Its safety code is:"),
                    text(hub.safety_code()).size(28),
                    text(
                        "Ask the person who runs the hub to read you the code their hub shows. \
                         If it is the same, confirm. From now on Courier checks it by itself."
                    )
                    .size(14),
                    row![
                        space::horizontal(),
                        button("It does not match")
                            .style(button::danger)
                            .on_press(Message::ConfirmHub(false)),
                        button("The code matches").on_press(Message::ConfirmHub(true))
                    ]
                    .spacing(8)
                ]
                .spacing(14),
            );
        }
        base
    }
}

fn modal<'a>(
    base: Element<'a, Message>,
    content: impl Into<Element<'a, Message>>,
) -> Element<'a, Message> {
    let dialog = container(content)
        .padding(24)
        .max_width(520)
        .style(style::card);
    stack![
        base,
        opaque(center(dialog).style(|_theme: &Theme| {
            container::Style {
                background: Some(
                    iced::Color {
                        a: 0.6,
                        ..iced::Color::BLACK
                    }
                    .into(),
                ),
                ..container::Style::default()
            }
        }))
    ]
    .width(Fill)
    .height(Fill)
    .into()
}
