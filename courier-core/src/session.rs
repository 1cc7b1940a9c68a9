//! A client's session with a hub: the [`Session`] state machine, the reconnecting
//! driver [`connect`], and the [`Handle`] used to send.
//!
//! [`Session`] call order: [`Session::handle_connected`] once the TLS connection is up,
//! then [`Session::handle_frame`] / [`Session::handle_timeout`] and the command methods
//! ([`Session::send_message`], …); after each call drain [`Session::poll_transmit`],
//! read [`Session::poll_timeout`], drain [`Session::poll_event`].

mod connect;
pub(crate) mod handle;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_bytes::ByteBuf;

pub use connect::{Config, Update, Welcome, connect};
pub use handle::Handle;

use crate::auth::{ClientLoginState, Password, SessionKey};
use crate::limits;
use crate::proto::{
    ClientFrame, ClientId, Contact, Declined, Delivery, ErrorCode, IncomingOffer, LoginRejection,
    Manifest, Message, MsgId, OfferRefusal, PROTOCOL_VERSION, Profile, ProfileError, Reach,
    ServerFrame, Target, TicketInfo, Timestamp, TransferEnd, TransferId,
};

/// Why a session ended or a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The hub did not accept the password.
    #[error("{}", LoginRejection::WrongPassword)]
    WrongPassword,
    /// The login was relayed through another TLS connection.
    #[error("{}", LoginRejection::ChannelBindingMismatch)]
    Interception,
    /// The hub's certificate differs from the one pinned at first contact.
    #[error(
        "the hub's identity changed: pinned safety code {}, this hub shows {}. \
         This may be an impostor. If the hub was reinstalled, remove the pin and connect again",
        pinned.safety_code(), presented.safety_code()
    )]
    HubChanged {
        /// The pinned fingerprint.
        pinned: ClientId,
        /// The fingerprint this hub presented.
        presented: ClientId,
    },
    /// Client and hub speak different protocol versions.
    #[error("{}", LoginRejection::VersionMismatch { hub: *hub, client: *client })]
    VersionMismatch {
        /// The hub's version.
        hub: u32,
        /// Ours.
        client: u32,
    },
    /// Too many failed logins from this address.
    #[error("{}", LoginRejection::TooManyAttempts {
        retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
    })]
    TooManyAttempts {
        /// When to try again.
        retry_in: Duration,
    },
    /// The hub refused our profile.
    #[error("{}", LoginRejection::InvalidProfile(*.0))]
    InvalidProfile(#[source] ProfileError),
    /// The hub is full.
    #[error("{}", LoginRejection::HubFull)]
    HubFull,
    /// Login did not complete in time.
    #[error("login timed out")]
    LoginTimeout,
    /// Nothing heard from the hub within the heartbeat timeout.
    #[error("the hub stopped answering")]
    HeartbeatTimeout,
    /// The hub said it is shutting down.
    #[error("the hub shut down")]
    HubShutdown,
    /// The hub closed the connection.
    #[error("the hub closed the connection ({code}: {reason})")]
    Closed {
        /// WebSocket close code.
        code: u16,
        /// Close reason text.
        reason: String,
    },
    /// The connection dropped.
    #[error("connection lost")]
    ConnectionLost,
    /// The hub sent something we cannot parse.
    #[error("the hub sent a malformed frame")]
    Malformed(#[from] crate::proto::DecodeError),
    /// The hub sent a frame that makes no sense now.
    #[error("the hub sent an unexpected frame")]
    Unexpected,
    /// The login exchange failed.
    #[error("login failed")]
    Auth(#[source] crate::auth::Error),
    /// Connecting failed.
    #[error("cannot reach the hub")]
    Net(#[from] crate::net::Error),
    /// TLS could not be configured.
    #[error("TLS setup")]
    Tls(#[from] crate::tls::Error),
    /// The identity or pin store could not be read or written.
    #[error("identity storage")]
    Identity(#[from] crate::identity::Error),
    /// The session is gone; the command was not sent.
    #[error("not connected to the hub")]
    NotConnected,
    /// The hub does not remember this device (any more), and no password was given.
    #[error("{}", LoginRejection::NotRemembered)]
    NotRemembered,
    /// The hub's owner banned this device: no password lets it in.
    #[error("{}", crate::proto::CloseReason::Banned)]
    Banned,
}

impl Error {
    /// Whether reconnecting cannot help (wrong password, impostor hub, …).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::WrongPassword
                | Self::NotRemembered
                | Self::Banned
                | Self::Interception
                | Self::HubChanged { .. }
                | Self::VersionMismatch { .. }
                | Self::InvalidProfile(_)
                | Self::Tls(_)
                | Self::Identity(_)
        )
    }
}

/// What a session reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Login succeeded.
    LoggedIn {
        /// Our id as the hub sees it.
        you: ClientId,
        /// Every other contact the hub knows.
        contacts: Vec<Contact>,
        /// The hub's clock at login.
        time: Timestamp,
    },
    /// A message for us.
    Message(Message),
    /// What became of a message we sent.
    Receipt {
        /// Our id for it.
        id: MsgId,
        /// The outcome.
        status: Delivery,
    },
    /// Someone is typing.
    Typing {
        /// Who.
        from: ClientId,
        /// To us, or to everyone.
        to: Target,
    },
    /// Someone read a message we sent.
    Read {
        /// The reader.
        by: ClientId,
        /// Our id for the message.
        id: MsgId,
    },
    /// A contact joined, left (`online: false`) or changed its card.
    Contact(Contact),
    /// A contact's avatar bytes, as asked for with [`Session::request_avatar`].
    Avatar {
        /// Whose.
        id: ClientId,
        /// The image (empty: none).
        bytes: Vec<u8>,
    },
    /// The hub refused something without closing (invalid profile, rate limit).
    HubError {
        /// What kind.
        code: ErrorCode,
        /// Its explanation.
        detail: String,
    },
    /// Someone offers us files: answer with [`crate::transfer::receive`] or
    /// [`Handle::decline`].
    Offer(IncomingOffer),
    /// The hub forwarded an offer of ours.
    OfferSent {
        /// Our tag for it.
        tag: u32,
        /// The hub's id.
        id: TransferId,
    },
    /// The recipient of an offer of ours (sent with `wait`) is offline: the hub keeps it.
    OfferStored {
        /// Our tag for it.
        tag: u32,
        /// The hub's id.
        id: TransferId,
    },
    /// The hub did not forward an offer of ours.
    OfferRefused {
        /// Our tag for it.
        tag: u32,
        /// Why.
        reason: OfferRefusal,
    },
    /// A transfer was accepted; here is its ticket.
    Ticket(TicketInfo),
    /// A brokered transfer ended (declined, cancelled, the other side went away).
    TransferEnded {
        /// The transfer.
        id: TransferId,
        /// How.
        end: TransferEnd,
    },
    /// The hub's answer to [`Handle::reachback`].
    Reachback {
        /// The address the hub sees us at.
        seen: std::net::SocketAddr,
        /// The port it tried.
        port: u16,
        /// Whether it got through.
        outcome: Reach,
    },
}

/// Session timing; [`Timing::default`] uses [`crate::limits`].
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Send a heartbeat after this long without sending.
    pub heartbeat_interval: Duration,
    /// Give up on the hub after this long without hearing from it.
    pub heartbeat_timeout: Duration,
    /// The whole connect and login must finish within this.
    pub login_deadline: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            heartbeat_interval: limits::HEARTBEAT_INTERVAL,
            heartbeat_timeout: limits::HEARTBEAT_TIMEOUT,
            login_deadline: limits::LOGIN_DEADLINE,
        }
    }
}

enum State {
    Idle,
    /// Asked to be let in as a remembered device.
    AwaitRemembered,
    AwaitChallenge(Box<ClientLoginState>),
    AwaitWelcome(SessionKey),
    /// Paging through the contact list; other frames are handled and their events held
    /// back until `LoggedIn` is reported.
    AwaitContacts {
        you: ClientId,
        contacts: Vec<Contact>,
        time: Timestamp,
        held: Vec<Event>,
    },
    Ready,
    Done,
}

/// One connection's worth of client protocol. See the [module docs](self).
pub struct Session {
    password: Password,
    /// Try a remembered login first.
    try_remembered: bool,
    /// Ask the hub to remember this device at a password login.
    remember: bool,
    /// What the hub said: it remembers this device.
    remembered: bool,
    profile: Profile,
    timing: Timing,
    rng: StdRng,
    state: State,
    channel: [u8; 32],
    me: Option<ClientId>,
    started: Instant,
    last_rx: Instant,
    last_tx: Instant,
    transmits: VecDeque<ClientFrame>,
    events: VecDeque<Event>,
    /// Read marks not yet sent: for each contact, the newest message read ("read up to
    /// here"), sent once for a batch when `reads_due` comes.
    reads: std::collections::BTreeMap<ClientId, MsgId>,
    reads_due: Option<Instant>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session that will log in with `password` and show `profile`.
    pub fn new(password: Password, profile: Profile, timing: Timing, now: Instant) -> Self {
        Self {
            password,
            try_remembered: false,
            remember: false,
            remembered: false,
            profile,
            timing,
            rng: StdRng::from_entropy(),
            state: State::Idle,
            channel: [0; 32],
            me: None,
            started: now,
            last_rx: now,
            last_tx: now,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            reads: std::collections::BTreeMap::new(),
            reads_due: None,
        }
    }

    /// How to use the hub's memory of this device: `try_first` logs in by certificate
    /// alone and falls back to the password (if there is one) when the hub does not
    /// remember it; `remember` asks the hub to remember it at a password login.
    #[must_use]
    pub fn remembering(mut self, try_first: bool, remember: bool) -> Self {
        self.try_remembered = try_first;
        self.remember = remember;
        self
    }

    /// Whether the hub said, at login, that it remembers this device.
    pub fn is_remembered(&self) -> bool {
        self.remembered
    }

    /// Whether login has completed.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready)
    }

    /// The TLS connection is up; `channel` is its exporter value. Starts the login.
    ///
    /// # Errors
    /// If the login request cannot be built.
    pub fn handle_connected(&mut self, channel: [u8; 32], now: Instant) -> Result<(), Error> {
        self.channel = channel;
        self.started = now;
        self.last_rx = now;
        if self.try_remembered {
            let profile = Profile {
                avatar: ByteBuf::new(),
                ..self.profile.clone()
            };
            self.state = State::AwaitRemembered;
            self.transmit(
                ClientFrame::LoginRemembered {
                    version: PROTOCOL_VERSION,
                    profile,
                },
                now,
            );
            return Ok(());
        }
        self.start_password(now)
    }

    /// Starts the password login (OPAQUE).
    fn start_password(&mut self, now: Instant) -> Result<(), Error> {
        let (state, request) =
            ClientLoginState::start(&mut self.rng, &self.password).map_err(Error::Auth)?;
        self.state = State::AwaitChallenge(Box::new(state));
        self.transmit(
            ClientFrame::LoginStart {
                version: PROTOCOL_VERSION,
                request: ByteBuf::from(request),
            },
            now,
        );
        Ok(())
    }

    /// A frame from the hub.
    ///
    /// # Errors
    /// A fatal condition for this connection; transmits queued before it (such as
    /// `LoginAbort`) should still be sent.
    pub fn handle_frame(&mut self, frame: ServerFrame, now: Instant) -> Result<(), Error> {
        self.last_rx = now;
        let state = std::mem::replace(&mut self.state, State::Done);
        match (state, frame) {
            (State::AwaitChallenge(login), ServerFrame::LoginChallenge { version, response }) => {
                if version != PROTOCOL_VERSION {
                    return Err(Error::VersionMismatch {
                        hub: version,
                        client: PROTOCOL_VERSION,
                    });
                }
                match login.finish(&self.password, &response) {
                    Ok((finalization, key)) => {
                        let binding = key.client_binding(&self.channel);
                        // The picture goes after login: before it, the hub reads only a
                        // few kilobytes from anyone.
                        let profile = Profile {
                            avatar: ByteBuf::new(),
                            ..self.profile.clone()
                        };
                        self.transmit(
                            ClientFrame::LoginFinish {
                                finalization: ByteBuf::from(finalization),
                                binding: ByteBuf::from(binding),
                                profile,
                                remember: self.remember,
                            },
                            now,
                        );
                        self.state = State::AwaitWelcome(key);
                        Ok(())
                    }
                    Err(crate::auth::Error::WrongPassword) => {
                        self.transmit(ClientFrame::LoginAbort, now);
                        Err(Error::WrongPassword)
                    }
                    Err(e) => Err(Error::Auth(e)),
                }
            }
            (
                state @ (State::AwaitWelcome(_) | State::AwaitRemembered),
                ServerFrame::Welcome {
                    you,
                    binding,
                    remembered,
                    contacts,
                    more,
                    time,
                },
            ) => {
                match &state {
                    State::AwaitWelcome(key) if !key.check_hub_binding(&self.channel, &binding) => {
                        return Err(Error::Interception);
                    }
                    // No password was used, so there is no session key to bind: the hub
                    // is the one whose certificate is pinned (checked before login).
                    State::AwaitRemembered if !binding.is_empty() || !remembered => {
                        return Err(Error::Unexpected);
                    }
                    _ => {}
                }
                self.remembered = remembered;
                self.me = Some(you);
                self.contacts_page(you, contacts, more, time, Vec::new(), now);
                Ok(())
            }
            (
                State::AwaitContacts {
                    you,
                    contacts: mut list,
                    time,
                    held,
                },
                ServerFrame::ContactPage { contacts, more },
            ) => {
                // A hub (or an impostor) cannot make us hold an endless list.
                if list.len() + contacts.len() > limits::MAX_KNOWN_CONTACTS {
                    return Err(Error::Unexpected);
                }
                list.extend(contacts);
                self.contacts_page(you, list, more, time, held, now);
                Ok(())
            }
            (
                State::AwaitContacts {
                    you,
                    contacts,
                    time,
                    mut held,
                },
                frame,
            ) if !matches!(frame, ServerFrame::LoginRejected(_) | ServerFrame::Closing) => {
                // Offline messages and presence batches may arrive between pages.
                let before = self.events.len();
                let result = self.ready_frame(frame, now);
                held.extend(self.events.drain(before..));
                self.state = State::AwaitContacts {
                    you,
                    contacts,
                    time,
                    held,
                };
                result
            }
            (State::AwaitRemembered, ServerFrame::LoginRejected(LoginRejection::NotRemembered)) => {
                if self.password.expose().is_empty() {
                    return Err(Error::NotRemembered);
                }
                self.start_password(now)
            }
            (_, ServerFrame::LoginRejected(rejection)) => Err(match rejection {
                LoginRejection::NotRemembered => Error::NotRemembered,
                LoginRejection::WrongPassword => Error::WrongPassword,
                LoginRejection::ChannelBindingMismatch => Error::Interception,
                LoginRejection::VersionMismatch { hub, client } => {
                    Error::VersionMismatch { hub, client }
                }
                LoginRejection::TooManyAttempts { retry_in_ms } => Error::TooManyAttempts {
                    retry_in: Duration::from_millis(retry_in_ms),
                },
                LoginRejection::InvalidProfile(e) => Error::InvalidProfile(e),
                LoginRejection::HubFull => Error::HubFull,
            }),
            (_, ServerFrame::Closing) => Err(Error::HubShutdown),
            (State::Ready, frame) => {
                self.state = State::Ready;
                self.ready_frame(frame, now)
            }
            _ => Err(Error::Unexpected),
        }
    }

    fn contacts_page(
        &mut self,
        you: ClientId,
        contacts: Vec<Contact>,
        more: bool,
        time: Timestamp,
        held: Vec<Event>,
        now: Instant,
    ) {
        if more {
            self.state = State::AwaitContacts {
                you,
                contacts,
                time,
                held,
            };
            self.transmit(ClientFrame::NextContacts, now);
        } else {
            self.state = State::Ready;
            self.events.push_back(Event::LoggedIn {
                you,
                contacts,
                time,
            });
            self.events.extend(held);
            if !self.profile.avatar.is_empty() {
                self.transmit(ClientFrame::SetProfile(self.profile.clone()), now);
            }
        }
    }

    fn ready_frame(&mut self, frame: ServerFrame, now: Instant) -> Result<(), Error> {
        let event = match frame {
            ServerFrame::Ping => {
                // Answer, so the hub's own heartbeat proves we are alive whatever our timing.
                self.transmit(ClientFrame::Ping, now);
                return Ok(());
            }
            ServerFrame::Message(m) => Event::Message(m),
            ServerFrame::MailboxPage(page) => {
                self.events.extend(page.into_iter().map(Event::Message));
                self.transmit(ClientFrame::MailboxAck, now);
                return Ok(());
            }
            ServerFrame::Receipt { id, status } => Event::Receipt { id, status },
            ServerFrame::Typing { from, to } => Event::Typing { from, to },
            ServerFrame::Read { by, id } => Event::Read { by, id },
            ServerFrame::Contacts(list) => {
                for c in list.into_iter().filter(|c| Some(c.id) != self.me) {
                    self.events.push_back(Event::Contact(c));
                }
                return Ok(());
            }
            ServerFrame::Avatar { id, avatar } => Event::Avatar {
                id,
                bytes: avatar.into_vec(),
            },
            ServerFrame::Error { code, detail } => Event::HubError { code, detail },
            ServerFrame::Offer(offer) => Event::Offer(offer),
            ServerFrame::OfferSent { tag, id } => Event::OfferSent { tag, id },
            ServerFrame::OfferStored { tag, id } => Event::OfferStored { tag, id },
            ServerFrame::OfferRefused { tag, reason } => Event::OfferRefused { tag, reason },
            ServerFrame::Ticket(info) => Event::Ticket(info),
            ServerFrame::TransferEnded { id, end } => Event::TransferEnded { id, end },
            ServerFrame::Reachback {
                seen,
                port,
                outcome,
            } => Event::Reachback {
                seen,
                port,
                outcome,
            },
            ServerFrame::RelayReady
            | ServerFrame::LoginChallenge { .. }
            | ServerFrame::Welcome { .. }
            | ServerFrame::ContactPage { .. }
            | ServerFrame::LoginRejected(_)
            | ServerFrame::Closing => return Err(Error::Unexpected),
        };
        self.events.push_back(event);
        Ok(())
    }

    /// Time passed: login deadline, heartbeats.
    ///
    /// # Errors
    /// [`Error::LoginTimeout`] or [`Error::HeartbeatTimeout`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        if !self.is_ready() {
            if now.saturating_duration_since(self.started) >= self.timing.login_deadline {
                return Err(Error::LoginTimeout);
            }
            return Ok(());
        }
        if now.saturating_duration_since(self.last_rx) >= self.timing.heartbeat_timeout {
            return Err(Error::HeartbeatTimeout);
        }
        if self.reads_due.is_some_and(|due| now >= due) {
            self.reads_due = None;
            for (from, id) in std::mem::take(&mut self.reads) {
                self.transmit(ClientFrame::Read { from, id }, now);
            }
        }
        if now.saturating_duration_since(self.last_tx) >= self.timing.heartbeat_interval {
            self.transmit(ClientFrame::Ping, now);
        }
        Ok(())
    }

    fn ready_or(&self) -> Result<(), Error> {
        if self.is_ready() {
            Ok(())
        } else {
            Err(Error::NotConnected)
        }
    }

    /// Sends a chat message with the caller's id.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn send_message(
        &mut self,
        id: MsgId,
        to: Target,
        text: String,
        now: Instant,
    ) -> Result<(), Error> {
        self.ready_or()?;
        self.transmit(ClientFrame::Send { id, to, text }, now);
        Ok(())
    }

    /// Shows "typing" to `to`.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn typing(&mut self, to: Target, now: Instant) -> Result<(), Error> {
        self.ready_or()?;
        self.transmit(ClientFrame::Typing { to }, now);
        Ok(())
    }

    /// Marks message `id` from `from`, and every earlier one, as read. Marks are sent
    /// once for a batch, within [`limits::READ_MARK_BATCH`](crate::limits::READ_MARK_BATCH):
    /// only the newest for each contact, so reading a fast conversation costs a mark
    /// now and then, not one per message.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn mark_read(&mut self, from: ClientId, id: MsgId, now: Instant) -> Result<(), Error> {
        self.ready_or()?;
        self.reads.insert(from, id);
        self.reads_due
            .get_or_insert(now + crate::limits::READ_MARK_BATCH);
        Ok(())
    }

    /// Asks the hub for `id`'s avatar bytes.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn request_avatar(&mut self, id: ClientId, now: Instant) -> Result<(), Error> {
        self.ready_or()?;
        self.transmit(ClientFrame::GetAvatar { id }, now);
        Ok(())
    }

    /// Replaces our profile (also used at the next login).
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn set_profile(&mut self, profile: Profile, now: Instant) -> Result<(), Error> {
        self.ready_or()?;
        self.profile = profile.clone();
        self.transmit(ClientFrame::SetProfile(profile), now);
        Ok(())
    }

    /// Offers `manifest` to `to`; the answer carries `tag`.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn offer(
        &mut self,
        tag: u32,
        to: ClientId,
        manifest: Manifest,
        addrs: Vec<std::net::SocketAddr>,
        wait: bool,
        now: Instant,
    ) -> Result<(), Error> {
        self.ready_or()?;
        let frame = ClientFrame::Offer {
            tag,
            to,
            manifest,
            addrs,
            wait,
        };
        self.transmit(frame, now);
        Ok(())
    }

    /// Says we still offer kept offer `id` (after a reconnect), listening at `addrs`.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn reclaim(
        &mut self,
        id: TransferId,
        addrs: Vec<std::net::SocketAddr>,
        now: Instant,
    ) -> Result<(), Error> {
        self.ready_or()?;
        self.transmit(ClientFrame::Reclaim { id, addrs }, now);
        Ok(())
    }

    /// Accepts files `files` of offer `id`.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn accept(
        &mut self,
        id: TransferId,
        files: Vec<u32>,
        addrs: Vec<std::net::SocketAddr>,
        now: Instant,
    ) -> Result<(), Error> {
        self.ready_or()?;
        self.transmit(ClientFrame::Accept { id, files, addrs }, now);
        Ok(())
    }

    /// Declines offer `id`.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn decline(&mut self, id: TransferId, reason: Declined, now: Instant) -> Result<(), Error> {
        self.ready_or()?;
        self.transmit(ClientFrame::Decline { id, reason }, now);
        Ok(())
    }

    /// Cancels transfer `id` at the hub.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn cancel(&mut self, id: TransferId, now: Instant) -> Result<(), Error> {
        self.ready_or()?;
        self.transmit(ClientFrame::Cancel { id }, now);
        Ok(())
    }

    /// Asks the hub to try connecting back to us on `port`; the answer comes as
    /// [`Event::Reachback`].
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn reachback(&mut self, port: u16, now: Instant) -> Result<(), Error> {
        self.ready_or()?;
        self.transmit(ClientFrame::Reachback { port }, now);
        Ok(())
    }

    fn transmit(&mut self, frame: ClientFrame, now: Instant) {
        self.last_tx = now;
        self.transmits.push_back(frame);
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<ClientFrame> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_ready() {
            let ping = self.last_tx + self.timing.heartbeat_interval;
            let dead = self.last_rx + self.timing.heartbeat_timeout;
            let next = ping.min(dead);
            Some(self.reads_due.map_or(next, |due| due.min(next)))
        } else {
            Some(self.started + self.timing.login_deadline)
        }
    }
}

/// Messages seen lately, by sender and id, to drop the duplicates a handover that was
/// cut short causes (the hub sends the unacknowledged page again). Bounded: the oldest
/// are forgotten first.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    order: VecDeque<(ClientId, MsgId)>,
    seen: std::collections::HashSet<(ClientId, MsgId)>,
}

/// Messages [`Recent`] remembers: more than a few pages of a mailbox.
const RECENT: usize = 4096;

impl Recent {
    /// Whether this is the first time the message shows up.
    pub(crate) fn first_time(&mut self, m: &Message) -> bool {
        let key = (m.from, m.id);
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > RECENT
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

/// Shared by [`Update`] so GUI messages stay `Clone`.
pub type SharedError = Arc<Error>;
