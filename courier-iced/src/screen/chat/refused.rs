//! Our new profile refused by the hub: what it kept is put back.

use courier_core::proto::{ErrorCode, Profile};
use iced::Task;

use super::{Action, Chat, Message};

impl Chat {
    /// A refusal of the profile last sent (invalid; or, reported as rate limited, its
    /// new picture, too soon or with no room, the rest being taken) puts back what the
    /// hub kept, here as for everyone, and in the session, which logs in with it again.
    pub(super) fn profile_refused(&mut self, code: ErrorCode) -> Action {
        let picture = std::mem::take(&mut self.picture_sent);
        let kept = match (code, self.sent_before.take()) {
            (ErrorCode::InvalidProfile, Some(before)) => before,
            (ErrorCode::RateLimited, Some(before)) if picture => Profile {
                avatar: before.avatar,
                ..self.profile.clone()
            },
            (_, before) => {
                self.sent_before = before;
                return Action::None;
            }
        };
        self.panel.reset_profile(&kept);
        self.set_profile(kept.clone());
        let Some(handle) = self.handle.clone() else {
            return Action::SaveSettings;
        };
        // What the hub has is what the next logins send (sending it now would be
        // refused as a second change within a second).
        let resend = Task::future(async move {
            let kept = handle.keep_profile(kept).await;
            kept.err()
                .map(|e| Message::Failed(format!("The profile was not put back: {e}")))
        });
        Action::And(Box::new(Action::SaveSettings), resend.and_then(Task::done))
    }
}
