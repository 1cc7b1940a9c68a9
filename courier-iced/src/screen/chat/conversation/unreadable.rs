//! Messages that could not be opened: shown in their conversation as a placeholder
//! bubble that says why, never left out.

use courier_core::proto::{ClientId, Message as ChatMessage, MsgId, Seq, Target, Timestamp};

use super::{BubbleState, Conversations};

/// The text a bubble of a message that could not be opened shows.
pub(super) const PLACEHOLDER: &str = "(a message that could not be opened)";

impl Conversations {
    /// Someone's message arrived but could not be opened: a placeholder bubble takes its
    /// place (once: a repeat of one shown already is dropped), counted unread.
    pub fn unreadable(
        &mut self,
        id: MsgId,
        from: ClientId,
        to: Target,
        time: Timestamp,
        seq: Option<Seq>,
        why: String,
    ) {
        let m = ChatMessage {
            id,
            from,
            to,
            text: PLACEHOLDER.to_owned(),
            time,
            seq,
        };
        let target = Self::target_of(&m);
        if self.shown(target, &m) {
            return;
        }
        self.show_bubble(m, BubbleState::Unreadable(why));
    }
}

#[cfg(test)]
mod tests {
    use courier_core::proto::{ClientId, MsgId, Target, Timestamp};
    use courier_core::seal::Problem;
    use courier_core::session::Event;

    use super::super::{BubbleState, Item};
    use crate::screen::chat::select;
    use crate::screen::chat::tests::{chat_with, contact, shows};
    use crate::settings::Settings;

    /// A message from Bob that could not be opened is a bubble in his conversation that
    /// says so and why; it is not left out.
    #[test]
    fn a_message_that_could_not_be_opened_is_a_bubble_that_says_why() {
        let bob = ClientId([2; 32]);
        let mut chat = chat_with(vec![contact(2, "Bob")]);
        let settings = Settings::default();
        let _ = chat.update(select(Target::Client(bob)), &mut Settings::default());
        let _ = chat.session_event(
            Event::Unreadable {
                id: MsgId(7),
                from: bob,
                to: Target::Client(ClientId([1; 32])),
                time: Timestamp(1_700_000_000_000),
                seq: None,
                problem: Problem::Tampered,
            },
            &settings,
        );
        assert!(shows(&chat, &settings, super::PLACEHOLDER));
        let thread = chat.conversations_mut().thread(Target::Client(bob));
        assert!(matches!(
            thread.items.as_slice(),
            [Item::Message(b)] if b.state == BubbleState::Unreadable(Problem::Tampered.to_string())
        ));
    }
}
