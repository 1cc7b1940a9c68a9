//! One connection of the session driver: connect, check the pin, log in, then a select
//! loop of one-line steps (a frame from the hub, a command from a [`Handle`], the timer),
//! each one call into the [`Session`] machine, then one [`Connection::flush`] that sends
//! what it queued and hands its events on: to the transfer they belong to
//! ([`Brokered`]), to the link-test answerer, or to whoever reads the updates.
//!
//! What must outlive a connection (the in-memory pin, the transfers waiting for the hub,
//! the messages seen lately, the profile set lately) lives in [`Lasting`], owned by the
//! reconnect loop.

use std::time::Instant;

use async_channel::{Receiver, Sender, TrySendError};
use async_tungstenite::tungstenite::Message as WsMessage;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use futures::{FutureExt, SinkExt, StreamExt};
use futures_rustls::TlsConnector;

use super::connect::{Config, Update, Welcome};
use super::handle::{Command, lock};
use super::{Answer, Brokered, Error, Event, Handle, Recent, Session};
use crate::net::{self, ClientStream};
use crate::proto::{
    self, ClientId, CloseReason, Contact, Declined, IncomingOffer, Profile, Timestamp,
    validate_profile,
};
use crate::seal::Keyring;

/// What one connection hands to the next.
#[derive(Debug, Default)]
pub(super) struct Lasting {
    /// The hub's fingerprint, pinned in memory when there is no pin store.
    pub(super) memory_pin: Option<ClientId>,
    /// Which transfers wait for which hub answers.
    pub(super) brokered: Brokered<Sender<Answer>>,
    /// Messages seen lately, across reconnects: a repeated one is dropped.
    pub(super) recent: Recent,
    /// The profile last set through the [`Handle`]: the next logins show it, not the
    /// one the session started with.
    pub(super) profile: Option<Profile>,
    /// This device's end-to-end keys, lent to each connection's session in turn.
    pub(super) keyring: Option<Keyring>,
    /// The contact list as the last connection left it, lent likewise: a reconnect
    /// fetches only what changed.
    pub(super) roster: super::Roster,
}

/// How a connection ended.
pub(super) struct Ended {
    /// Why.
    pub(super) error: Error,
    /// Whether it got as far as a login (then the backoff starts over).
    pub(super) logged_in: bool,
}

/// Runs one connection until it fails; what it learned goes into `lasting`.
pub(super) async fn once(
    config: &Config,
    tls: &TlsConnector,
    updates: &Sender<Update>,
    commands: &Receiver<Command>,
    handle: &Handle,
    lasting: &mut Lasting,
) -> Ended {
    let (mut ws, mut connection) = match open(config, tls, updates, handle, lasting).await {
        Ok(opened) => opened,
        Err(error) => {
            return Ended {
                error,
                logged_in: false,
            };
        }
    };
    let error = connection.run(&mut ws, commands).await;
    connection.closed().await;
    connection.lasting.keyring = connection.session.take_keyring();
    connection.lasting.roster = connection.session.take_roster();
    Ended {
        error,
        logged_in: connection.logged_in,
    }
}

/// Connects over TLS, checks the pin before a single login byte is sent, upgrades to a
/// WebSocket and starts the login.
async fn open<'a>(
    config: &'a Config,
    tls: &TlsConnector,
    updates: &'a Sender<Update>,
    handle: &'a Handle,
    lasting: &'a mut Lasting,
) -> Result<(ClientStream, Connection<'a>), Error> {
    let start = Instant::now();
    let deadline = start + config.timing.login_deadline;
    let (stream, info) = net::until(deadline, net::connect_tls(&config.hub, tls.clone())).await?;
    let on_loopback = stream
        .get_ref()
        .0
        .peer_addr()
        .is_ok_and(|a| a.ip().to_canonical().is_loopback());
    *lock(&handle.shared.hub_on_loopback) = on_loopback;
    let pinned = match &config.pins {
        Some(store) => store.get(&config.hub)?,
        None => lasting.memory_pin,
    };
    if let Some(pinned) = pinned
        && pinned != info.hub
    {
        return Err(Error::HubChanged {
            pinned,
            presented: info.hub,
        });
    }
    let ws = net::until(deadline, net::upgrade(stream)).await?;
    // A hub we logged in to before (its pin is known) may remember this device: try
    // that first; the password (if any) follows on the same connection if not.
    let (profile, keep_profile) = match &lasting.profile {
        Some(set) => (set.clone(), false),
        None => (config.profile.clone(), config.keep_profile),
    };
    let mut session = Session::new(
        config.password.clone(),
        profile,
        config.timing,
        rand::random(),
        start,
    )
    .remembering(pinned.is_some(), config.remember)
    .asking(keep_profile, config.take_mailbox);
    if let Some(keyring) = lasting.keyring.take() {
        session = session.with_keyring(keyring, Timestamp::now());
    }
    session = session.with_roster(std::mem::take(&mut lasting.roster));
    if let Err(e) = session.handle_connected(info.channel, Instant::now()) {
        lasting.keyring = session.take_keyring();
        lasting.roster = session.take_roster();
        return Err(e);
    }
    let connection = Connection {
        config,
        updates,
        handle,
        lasting,
        session,
        hub: info.hub,
        pinned,
        logged_in: false,
    };
    Ok((ws, connection))
}

/// One logged-in (or logging-in) connection: the machine and what its steps need.
struct Connection<'a> {
    config: &'a Config,
    /// Where updates for the front end go.
    updates: &'a Sender<Update>,
    /// The handle given out at login (its shared state is updated here).
    handle: &'a Handle,
    lasting: &'a mut Lasting,
    session: Session,
    /// The fingerprint the hub presented.
    hub: ClientId,
    /// The pin it was checked against; `None`: first contact.
    pinned: Option<ClientId>,
    logged_in: bool,
}

impl Connection<'_> {
    /// The select loop: each branch is one step into the machine, then one flush.
    async fn run(&mut self, ws: &mut ClientStream, commands: &Receiver<Command>) -> Error {
        let mut timer = async_io::Timer::never();
        loop {
            if let Err(error) = self.flush(ws).await {
                return error;
            }
            if let Some(at) = self.session.poll_timeout() {
                timer.set_at(at);
            }
            // While many messages wait for keys, commands wait in the handle's queue.
            let ready = self.session.is_ready() && !self.session.is_busy();
            let step = futures::select_biased! {
                message = ws.next().fuse() => self.on_message(message),
                command = next_command(commands, ready).fuse() => self.on_command(command),
                _ = FutureExt::fuse(&mut timer) => self.session.handle_timeout(Instant::now()),
            };
            if let Err(error) = step {
                return self.goodbye(ws, error).await;
            }
        }
    }

    /// Sends what the session queued, hands on its events, then sends what handling
    /// them queued (a declined link test).
    async fn flush(&mut self, ws: &mut ClientStream) -> Result<(), Error> {
        self.transmit(ws).await?;
        while let Some(event) = self.session.poll_event() {
            if let Some(update) = self.on_event(event)? {
                self.updates
                    .send(update)
                    .await
                    .map_err(|_| Error::NotConnected)?;
            }
        }
        self.transmit(ws).await
    }

    /// The connection ended: what the session still held is reported (never lost
    /// silently); nothing more goes to the hub.
    async fn closed(&mut self) {
        self.session.handle_closed(Instant::now());
        while self.session.poll_transmit().is_some() {}
        while let Some(event) = self.session.poll_event() {
            if let Ok(Some(update)) = self.on_event(event)
                && self.updates.send(update).await.is_err()
            {
                return;
            }
        }
    }

    /// Sends the frames the session queued, in order.
    async fn transmit(&mut self, ws: &mut ClientStream) -> Result<(), Error> {
        let mut wrote = false;
        while let Some(frame) = self.session.poll_transmit() {
            ws.feed(WsMessage::Binary(proto::encode(&frame).into()))
                .await
                .map_err(|_| Error::ConnectionLost)?;
            wrote = true;
        }
        if wrote {
            ws.flush().await.map_err(|_| Error::ConnectionLost)?;
        }
        Ok(())
    }

    /// Where one of the session's events goes; `Some`: to the front end, as this update.
    fn on_event(&mut self, event: Event) -> Result<Option<Update>, Error> {
        match event {
            Event::LoggedIn {
                you,
                contacts,
                time,
            } => self.on_login(you, contacts, time).map(Some),
            Event::Message(m) if !self.lasting.recent.first_time(m.from, m.id) => Ok(None),
            // A repeat of a message already shown opens as a replay: it is the same one.
            Event::Unreadable { from, id, .. } if !self.lasting.recent.first_time(from, id) => {
                Ok(None)
            }
            Event::Offer(offer) if offer.manifest.test.is_some() => {
                self.on_link_test(offer).map(|()| None)
            }
            other => Ok(self.for_transfer(other).map(Update::Event)),
        }
    }

    /// Logged in: pins a hub met for the first time and says who we are.
    fn on_login(
        &mut self,
        you: ClientId,
        contacts: Vec<Contact>,
        time: Timestamp,
    ) -> Result<Update, Error> {
        let first_contact = self.pinned.is_none();
        if first_contact {
            self.lasting.memory_pin = Some(self.hub);
            if let Some(store) = &self.config.pins {
                store.set(&self.config.hub, self.hub)?;
            }
        }
        self.logged_in = true;
        *lock(&self.handle.shared.hub_id) = Some(self.hub);
        let welcome = Welcome {
            you,
            hub: self.hub,
            first_contact,
            remembered: self.session.is_remembered(),
            contacts,
            time,
        };
        Ok(Update::Connected {
            handle: self.handle.clone(),
            welcome,
        })
    }

    /// A link test is never shown: it goes to the answerer the front end put around the
    /// updates (`transfer::answer_link_tests`), or is declined: busy while one waits,
    /// [`Declined::NoLinkTests`] when nobody answers them.
    fn on_link_test(&mut self, offer: IncomingOffer) -> Result<(), Error> {
        let id = offer.id;
        let reason = match lock(&self.handle.shared.link_tests).as_ref() {
            Some(answerer) => match answerer.try_send(offer) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => Declined::ByUser,
                Err(TrySendError::Closed(_)) => Declined::NoLinkTests,
            },
            None => Declined::NoLinkTests,
        };
        self.session.decline(id, reason, Instant::now())
    }

    /// A transfer's own answers go to it alone; `Some`: the event is nobody's transfer's.
    fn for_transfer(&mut self, event: Event) -> Option<Event> {
        let brokered = &mut self.lasting.brokered;
        let Some((mailbox, answer)) = brokered.route(&event) else {
            return Some(event);
        };
        let _ = mailbox.try_send(answer);
        brokered.settle(&event);
        brokered.retain(|m| !m.is_closed());
        None
    }

    /// A WebSocket message from the hub.
    fn on_message<E>(&mut self, message: Option<Result<WsMessage, E>>) -> Result<(), Error> {
        match message {
            Some(Ok(WsMessage::Binary(bytes))) => {
                let frame = proto::decode_server(&bytes)?;
                self.session.handle_frame(frame, Instant::now())
            }
            Some(Ok(WsMessage::Close(frame))) => Err(closed(frame)),
            Some(Ok(WsMessage::Text(_))) => Err(Error::Unexpected),
            Some(Ok(_)) => Ok(()),
            Some(Err(_)) | None => Err(Error::ConnectionLost),
        }
    }

    /// A command from a [`Handle`]; a transfer's command registers where its answers go.
    fn on_command(&mut self, command: Option<Command>) -> Result<(), Error> {
        let now = Instant::now();
        let session = &mut self.session;
        let brokered = &mut self.lasting.brokered;
        match command {
            Some(Command::Send { id, to, text }) => session.send_message(id, to, text, now),
            Some(Command::Typing(to)) => session.typing(to, now),
            Some(Command::Read { from, id }) => session.mark_read(from, id, now),
            Some(Command::SetProfile(p)) => {
                // Kept for the next logins unless the hub would refuse it there (it
                // refuses it here too, with an error that ends nothing).
                if validate_profile(&p).is_ok() {
                    self.lasting.profile = Some(p.clone());
                }
                session.set_profile(p, now)
            }
            Some(Command::KeepProfile(p)) => {
                if validate_profile(&p).is_ok() {
                    self.lasting.profile = Some(p);
                }
                Ok(())
            }
            Some(Command::GetAvatar(id)) => session.request_avatar(id, now),
            Some(Command::Offer {
                to,
                manifest,
                addrs,
                wait,
                answers,
            }) => {
                let tag = brokered.offer(answers);
                session.offer(tag, to, manifest, addrs, wait, now)
            }
            Some(Command::Reclaim { id, addrs, answers }) => {
                brokered.accept(id, answers);
                session.reclaim(id, addrs, now)
            }
            Some(Command::Accept {
                id,
                files,
                addrs,
                answers,
            }) => {
                brokered.accept(id, answers);
                session.accept(id, files, addrs, now)
            }
            Some(Command::Decline { id, reason }) => session.decline(id, reason, now),
            Some(Command::Cancel(id)) => session.cancel(id, now),
            Some(Command::Reachback(port)) => session.reachback(port, now),
            Some(Command::Group { tag, request }) => session.change_group(tag, request, now),
            Some(Command::GroupRead { group, upto }) => session.mark_group_read(group, upto, now),
            None => Ok(()),
        }
    }

    /// Says goodbye properly (a `LoginAbort`, for instance) before giving up.
    async fn goodbye(&mut self, ws: &mut ClientStream, error: Error) -> Error {
        while let Some(frame) = self.session.poll_transmit() {
            let _ = ws
                .feed(WsMessage::Binary(proto::encode(&frame).into()))
                .await;
        }
        let _ = ws.close(None).await;
        error
    }
}

/// The next command from a [`Handle`]; none before login (they wait in the channel).
async fn next_command(commands: &Receiver<Command>, ready: bool) -> Option<Command> {
    if ready {
        commands.recv().await.ok()
    } else {
        std::future::pending().await
    }
}

/// What the hub's close frame means.
fn closed(frame: Option<CloseFrame>) -> Error {
    match frame {
        Some(f) if CloseReason::from_text(&f.reason) == Some(CloseReason::Banned) => Error::Banned,
        Some(f) => Error::Closed {
            code: f.code.into(),
            reason: f.reason.to_string(),
        },
        None => Error::ConnectionLost,
    }
}
