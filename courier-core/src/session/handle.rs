//! [`Handle`]: the sending side of a session, cheap to clone.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use async_channel::{Receiver, Sender};

use super::Answer;
use super::Error;
use crate::identity::Identity;
use crate::proto::{
    ClientId, Declined, IncomingOffer, Manifest, MsgId, Profile, Target, TransferId,
};

/// A command for the session driver.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    Send {
        id: MsgId,
        to: Target,
        text: String,
    },
    Typing(Target),
    Read {
        from: ClientId,
        id: MsgId,
    },
    SetProfile(Profile),
    KeepProfile(Profile),
    GetAvatar(ClientId),
    Offer {
        to: ClientId,
        manifest: Manifest,
        addrs: Vec<SocketAddr>,
        wait: bool,
        answers: Sender<Answer>,
    },
    Reclaim {
        id: TransferId,
        addrs: Vec<SocketAddr>,
        answers: Sender<Answer>,
    },
    Accept {
        id: TransferId,
        files: Vec<u32>,
        addrs: Vec<SocketAddr>,
        answers: Sender<Answer>,
    },
    Reachback(u16),
    Decline {
        id: TransferId,
        reason: Declined,
    },
    Cancel(TransferId),
    Group {
        tag: u32,
        request: super::GroupRequest,
    },
    GroupRead {
        group: crate::proto::GroupId,
        upto: crate::proto::Seq,
    },
}

/// Answers one transfer can get: sealed, offered, ticket, ended, and a spare.
const ANSWERS: usize = 5;

/// State shared by the driver and every clone of its handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) hub: String,
    pub(crate) identity: Identity,
    pub(crate) hub_id: Mutex<Option<ClientId>>,
    /// Whether the hub connection of the last login goes over loopback (the hub runs on
    /// this machine).
    pub(crate) hub_on_loopback: Mutex<bool>,
    /// Where link-test offers go to be answered (see [`Handle::receive_link_tests`]);
    /// `None`: nobody answers them, and the driver declines them.
    pub(crate) link_tests: Mutex<Option<Sender<IncomingOffer>>>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends through a running [`super::connect`] stream. Commands given while the session is
/// reconnecting wait (bounded) and go out after the next login.
#[derive(Debug, Clone)]
pub struct Handle {
    pub(crate) commands: Sender<Command>,
    pub(crate) me: ClientId,
    pub(crate) shared: Arc<Shared>,
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
        self.try_send_message_as(id, to, text)?;
        Ok(id)
    }

    /// Like [`Handle::try_send_message`] with an id chosen beforehand (a message
    /// written while the hub was away keeps the id it was kept under; sent twice, the
    /// receiver drops the repeat by this id).
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the queue is full or the session is gone.
    pub fn try_send_message_as(
        &self,
        id: MsgId,
        to: Target,
        text: impl Into<String>,
    ) -> Result<(), Error> {
        self.commands
            .try_send(Command::Send {
                id,
                to,
                text: text.into(),
            })
            .map_err(|_| Error::NotConnected)
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

    /// Sets the profile the next logins use (after a reconnect) without sending it now:
    /// for a front end that puts back what the hub has after the hub refused a change
    /// (sending it again so soon would be refused as too frequent).
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the session is gone.
    pub async fn keep_profile(&self, profile: Profile) -> Result<(), Error> {
        self.commands
            .send(Command::KeepProfile(profile))
            .await
            .map_err(|_| Error::NotConnected)
    }

    /// Declines an incoming offer; the sender sees why.
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the session is gone.
    pub async fn decline(&self, id: TransferId, reason: Declined) -> Result<(), Error> {
        self.command(Command::Decline { id, reason }).await
    }

    /// Cancels a transfer at the hub (before its direct connection exists). A running
    /// transfer is cancelled by dropping its stream.
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the session is gone.
    pub async fn cancel_transfer(&self, id: TransferId) -> Result<(), Error> {
        self.command(Command::Cancel(id)).await
    }

    /// Asks the hub to open a TCP connection back to this computer on `port` (where it
    /// would take files), at the address the hub sees it at: can others reach it
    /// directly? The answer comes as [`super::Event::Reachback`] within
    /// [`crate::limits::REACHBACK_TIMEOUT`] or so; a few a minute.
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the session is gone.
    pub async fn reachback(&self, port: u16) -> Result<(), Error> {
        self.command(Command::Reachback(port)).await
    }

    /// Asks the hub for a change to a group. Returns the tag the answer
    /// ([`super::Event::GroupAnswer`]) will carry.
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the session is gone.
    pub async fn change_group(&self, request: super::GroupRequest) -> Result<u32, Error> {
        let tag = rand::random();
        self.command(Command::Group { tag, request }).await?;
        Ok(tag)
    }

    /// Marks a group read up to position `upto` (sent once for a batch).
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the session is gone.
    pub async fn mark_group_read(
        &self,
        group: crate::proto::GroupId,
        upto: crate::proto::Seq,
    ) -> Result<(), Error> {
        self.command(Command::GroupRead { group, upto }).await
    }

    async fn command(&self, command: Command) -> Result<(), Error> {
        self.commands
            .send(command)
            .await
            .map_err(|_| Error::NotConnected)
    }

    /// Sends an offer; the returned channel gets the hub's answers for it.
    pub(crate) async fn offer(
        &self,
        to: ClientId,
        manifest: Manifest,
        addrs: Vec<SocketAddr>,
        wait: bool,
    ) -> Result<Receiver<Answer>, Error> {
        let (answers, rx) = async_channel::bounded(ANSWERS);
        self.command(Command::Offer {
            to,
            manifest,
            addrs,
            wait,
            answers,
        })
        .await?;
        Ok(rx)
    }

    /// Says we still offer stored offer `id` (after the hub connection came back); the
    /// returned channel gets its ticket or its end. Waits for the session to be logged
    /// in again.
    pub(crate) async fn reclaim(
        &self,
        id: TransferId,
        addrs: Vec<SocketAddr>,
    ) -> Result<Receiver<Answer>, Error> {
        let (answers, rx) = async_channel::bounded(ANSWERS);
        self.command(Command::Reclaim { id, addrs, answers })
            .await?;
        Ok(rx)
    }

    /// Accepts an offer; the returned channel gets the ticket (or the end).
    pub(crate) async fn accept(
        &self,
        id: TransferId,
        files: Vec<u32>,
        addrs: Vec<SocketAddr>,
    ) -> Result<Receiver<Answer>, Error> {
        let (answers, rx) = async_channel::bounded(ANSWERS);
        self.command(Command::Accept {
            id,
            files,
            addrs,
            answers,
        })
        .await?;
        Ok(rx)
    }

    /// From now on, link-test offers ([`Manifest::test`]) go to the returned channel
    /// instead of being declined with [`Declined::NoLinkTests`]; they never show as
    /// [`super::Event::Offer`]. The channel holds one: a test that comes while one waits
    /// is declined as busy ([`Declined::ByUser`]). A later call replaces this channel;
    /// once it is dropped, tests are declined with [`Declined::NoLinkTests`] again.
    pub(crate) fn receive_link_tests(&self) -> Receiver<IncomingOffer> {
        let (tests, rx) = async_channel::bounded(1);
        *lock(&self.shared.link_tests) = Some(tests);
        rx
    }

    /// Our identity (for direct connections).
    pub(crate) fn identity(&self) -> &Identity {
        &self.shared.identity
    }

    /// The hub's address and its fingerprint as pinned at the last login.
    pub(crate) fn hub(&self) -> (String, Option<ClientId>) {
        (self.shared.hub.clone(), *lock(&self.shared.hub_id))
    }

    /// Whether the hub runs on this machine (the last login's connection went over
    /// loopback): only then is a prober the hub sees on loopback on this machine too.
    pub(crate) fn hub_on_loopback(&self) -> bool {
        *lock(&self.shared.hub_on_loopback)
    }
}
