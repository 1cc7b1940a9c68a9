//! Sending: what is written goes to the session, or, while the hub is away, stays here
//! unsent (and in the history, under the id it will be sent with) until it can go.

use courier_core::proto::{ClientId, MsgId, Target, Timestamp};
use courier_core::session::Handle;
use iced::widget::text_editor;

use super::{Action, Bubble, BubbleState, Conversations, Item, Outlet};

impl Conversations {
    pub(super) fn send(&mut self, me: ClientId, outlet: Outlet<'_>) -> Action {
        let text = self.composer.text();
        let text = text.trim_matches(|c: char| c == '\n' || c == '\r');
        if text.trim().is_empty() {
            return Action::None;
        }
        if text.len() > courier_core::limits::MAX_TEXT {
            return Action::Notice(format!(
                "The message is too long ({}); the limit is {}.",
                courier_core::units::size(text.len() as u64),
                courier_core::units::size(courier_core::limits::MAX_TEXT as u64)
            ));
        }
        let Some(handle) = outlet.handle else {
            return Action::Notice("Not connected to the hub.".into());
        };
        let target = self.selected;
        let text = text.to_owned();
        if !outlet.online {
            // Held here rather than in the session's queue: after a hub restart the
            // recipient may not be back yet, and the hub would refuse it as unknown.
            // Kept in the history at once (under the id it will be sent with): a
            // stopped or killed app sends it at its next start.
            let id = MsgId::random();
            self.unsent.push((id, target, text.clone()));
            let time = self.push_mine(me, target, id, text.clone(), BubbleState::Unsent);
            let kept = text.clone();
            self.write(move |h| h.unsent(me, id, target, &kept, time).map(|_| ()));
        } else {
            match handle.try_send_message(target, text.as_str()) {
                Ok(id) => {
                    self.sent.insert(id, target);
                    let time = self.push_mine(me, target, id, text.clone(), BubbleState::Sent);
                    let kept = text.clone();
                    self.write(move |h| h.sent(me, id, target, &kept, time).map(|_| ()));
                }
                // The text stays in the composer: nothing typed is lost.
                Err(e) => {
                    return Action::Notice(format!("Not sent ({e}); your text is still there."));
                }
            }
        }
        self.composer = text_editor::Content::new();
        self.last_typing = None;
        self.thread(target).jump = None;
        Action::None
    }

    fn push_mine(
        &mut self,
        me: ClientId,
        target: Target,
        id: MsgId,
        text: String,
        state: BubbleState,
    ) -> Timestamp {
        let time = Timestamp::now();
        let bubble = Bubble {
            id,
            from: me,
            text,
            time,
            state,
        };
        self.thread(target).items.push(Item::Message(bubble));
        time
    }

    /// Sends the unsent messages (written while the hub was away), to everyone and to
    /// each recipient `known` says the hub knows again; the rest stays unsent until its
    /// recipient is back.
    pub fn flush_unsent(
        &mut self,
        me: ClientId,
        handle: &Handle,
        known: impl Fn(&ClientId) -> bool,
    ) {
        let unsent = std::mem::take(&mut self.unsent);
        for (id, target, text) in unsent {
            let ready = match target {
                Target::Everyone | Target::Group(_) => true,
                Target::Client(peer) => known(&peer),
            };
            if !ready
                || handle
                    .try_send_message_as(id, target, text.as_str())
                    .is_err()
            {
                self.unsent.push((id, target, text));
                continue;
            }
            self.sent.insert(id, target);
            // The bubble, if its conversation is loaded (else its page shows it sent).
            if let Some(c) = self.threads.get_mut(&target) {
                for item in &mut c.items {
                    if let Item::Message(b) = item
                        && b.id == id
                        && b.from == me
                    {
                        b.state = BubbleState::Sent;
                    }
                }
            }
            self.write(move |h| h.set_state(me, id, &courier_core::history::State::Sent));
        }
    }

    /// Whether unsent messages wait for the hub.
    pub fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }
}
