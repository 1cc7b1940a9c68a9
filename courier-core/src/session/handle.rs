//! [`Handle`]: the sending side of a session, cheap to clone.

use async_channel::Sender;

use super::Error;
use crate::proto::{ClientId, MsgId, Profile, Target};

/// A command for the session driver.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    Send { id: MsgId, to: Target, text: String },
    Typing(Target),
    Read { from: ClientId, id: MsgId },
    SetProfile(Profile),
    GetAvatar(ClientId),
}

/// Sends through a running [`super::connect`] stream. Commands given while the session is
/// reconnecting wait (bounded) and go out after the next login.
#[derive(Debug, Clone)]
pub struct Handle {
    pub(crate) commands: Sender<Command>,
    pub(crate) me: ClientId,
}

impl Handle {
    /// Our own id (the fingerprint of our certificate).
    pub fn id(&self) -> ClientId {
        self.me
    }

    /// Queues a message; returns its id, which the receipt will carry.
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the session stream was dropped.
    pub async fn send_message(&self, to: Target, text: impl Into<String>) -> Result<MsgId, Error> {
        let id = MsgId::random();
        self.commands
            .send(Command::Send {
                id,
                to,
                text: text.into(),
            })
            .await
            .map_err(|_| Error::NotConnected)?;
        Ok(id)
    }

    /// Like [`Handle::send_message`] without waiting: fails when the queue is full.
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the queue is full or the session is gone.
    pub fn try_send_message(&self, to: Target, text: impl Into<String>) -> Result<MsgId, Error> {
        let id = MsgId::random();
        self.commands
            .try_send(Command::Send {
                id,
                to,
                text: text.into(),
            })
            .map_err(|_| Error::NotConnected)?;
        Ok(id)
    }

    /// Shows "typing" to `to`.
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the session is gone or busy.
    pub fn typing(&self, to: Target) -> Result<(), Error> {
        self.commands
            .try_send(Command::Typing(to))
            .map_err(|_| Error::NotConnected)
    }

    /// Tells `from` we read its message `id`.
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the session is gone.
    pub async fn mark_read(&self, from: ClientId, id: MsgId) -> Result<(), Error> {
        self.commands
            .send(Command::Read { from, id })
            .await
            .map_err(|_| Error::NotConnected)
    }

    /// Asks for a contact's avatar; it arrives as [`super::Event::Avatar`].
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the session is gone.
    pub async fn request_avatar(&self, id: ClientId) -> Result<(), Error> {
        self.commands
            .send(Command::GetAvatar(id))
            .await
            .map_err(|_| Error::NotConnected)
    }

    /// Replaces our profile.
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the session is gone.
    pub async fn set_profile(&self, profile: Profile) -> Result<(), Error> {
        self.commands
            .send(Command::SetProfile(profile))
            .await
            .map_err(|_| Error::NotConnected)
    }
}
