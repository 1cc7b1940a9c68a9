//! The composer: the text being written (Enter sends, Shift+Enter breaks the line),
//! typing signals, and the Attach and Send buttons.

use std::time::Instant;

use courier_core::proto::Target;
use courier_core::session::Handle;
use iced::keyboard::{Key, key::Named};
use iced::widget::text_editor::{Binding, KeyPress};
use iced::widget::{button, container, row, text, text_editor};
use iced::{Element, Fill};

use super::super::groups::Groups;
use super::super::people::People;
use super::{Conversations, Message, TYPING_EVERY};

impl Conversations {
    /// The composer was edited; an edit tells the contact we are typing.
    pub(super) fn edit(&mut self, action: text_editor::Action, handle: Option<&Handle>) {
        let edit = action.is_edit();
        self.composer.perform(action);
        if edit {
            self.signal_typing(handle);
        }
    }

    fn signal_typing(&mut self, handle: Option<&Handle>) {
        let now = Instant::now();
        if self
            .last_typing
            .is_some_and(|t| now.duration_since(t) < TYPING_EVERY)
        {
            return;
        }
        if let Some(h) = handle
            && h.typing(self.selected).is_ok()
        {
            self.last_typing = Some(now);
        }
    }

    /// The composer: Attach, the text, Send.
    pub fn composer<'a>(&'a self, people: &'a People, groups: &Groups) -> Element<'a, Message> {
        let placeholder = match self.selected {
            Target::Everyone => "Message everyone (Enter sends)".to_owned(),
            Target::Group(g) => format!("Message {} (Enter sends)", groups.label(&g)),
            Target::Client(id) => format!(
                "Message {} (Enter sends)",
                people
                    .get(&id)
                    .map_or_else(|| id.short(), |_| people.name_of(&id))
            ),
        };
        let editor = text_editor(&self.composer)
            .id("composer")
            .placeholder(placeholder)
            .on_action(Message::Edit)
            .key_binding(enter_sends)
            .padding(8)
            .height(iced::Length::Shrink)
            .max_height(160);
        let attach = button(text("Attach"))
            .style(button::secondary)
            .on_press_maybe(
                matches!(self.selected, Target::Client(_) | Target::Group(_))
                    .then_some(Message::Attach),
            );
        container(
            row![attach, editor, button(text("Send")).on_press(Message::Send)]
                .spacing(8)
                .align_y(iced::Bottom),
        )
        .padding([8, 12])
        .align_right(Fill)
        .into()
    }
}

/// Enter sends; Shift+Enter (and everything else) edits as usual.
fn enter_sends(press: KeyPress) -> Option<Binding<Message>> {
    if matches!(press.status, text_editor::Status::Focused { .. })
        && let Key::Named(Named::Enter) = press.key
        && !press.modifiers.shift()
    {
        return Some(Binding::Custom(Message::Send));
    }
    Binding::from_key_press(press)
}
