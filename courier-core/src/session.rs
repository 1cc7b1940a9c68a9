//! A client's session with a hub: the [`Session`] state machine, the reconnecting
//! driver [`connect`] (which returns the [`Updates`] stream), and the [`Handle`] used to
//! send.
//!
//! # Layout
//! - [`Session`] (this file): one connection's worth of client protocol, pure;
//! - `connect.rs`: [`connect`], [`Config`], [`Updates`] and the reconnect loop;
//!   `connection.rs`: one connection, a select loop of one-line steps into the machine;
//! - `handle.rs`: [`Handle`], the commands it sends to the driver;
//! - `brokered.rs`: [`Brokered`], which transfer waits for which of the hub's answers;
//! - `recent.rs`: the messages seen lately (a repeat after a reconnect is dropped);
//! - `keys.rs`: the end-to-end keys the session was given and what it needs to use
//!   them; `sealing.rs` seals what it sends, `opening.rs` opens what it receives,
//!   `unopened.rs` holds what came before the keys that open it;
//! - `event.rs`, `error.rs`: [`Event`], [`Error`].
//!
//! The session knows nothing of the transfer: a transfer reaches the hub through the
//! [`Handle`] and hears back through [`Brokered`]; link tests are claimed through the
//! handle by the transfer's wrapper around [`Updates`].

mod brokered;
mod connect;
mod connection;
mod error;
mod event;
mod groups;
pub(crate) mod handle;
mod keys;
mod opening;
#[cfg(any(test, feature = "test-util"))]
mod plain;
mod recent;
mod roster;
mod sealing;
mod unopened;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_bytes::ByteBuf;

pub use brokered::{Answer, Brokered};
pub use connect::{Config, KeyStore, Update, Updates, Welcome, connect};
pub use error::Error;
pub use event::Event;
pub use groups::GroupRequest;
pub use handle::Handle;
pub(crate) use recent::Recent;
pub use roster::Roster;

use crate::auth::{ClientLoginState, Password, SessionKey};
use crate::limits;
use crate::proto::{
    ClientFrame, ClientId, Declined, LoginRejection, MsgId, PROTOCOL_VERSION, Profile, ServerFrame,
    Target, Timestamp, TransferId,
};

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
        time: Timestamp,
        held: Vec<Event>,
    },
    Ready,
    Done,
}

/// One connection's worth of client protocol: login (remembered device or password, with
/// channel binding), the contact list, heartbeats, read marks and the frames of a
/// logged-in client. No I/O and no clock: the driver passes the time and the randomness
/// in. Call order:
///
/// 1. [`Session::new`] (a seed for the login's randomness), optionally
///    [`Session::remembering`], and [`Session::with_keyring`] (this device's end-to-end
///    keys: without them it sends no message and opens none), once the TLS connection is
///    up and the hub's pin checked; [`Session::take_keyring`] takes the keys back after;
/// 2. inputs: [`Session::handle_connected`] once, first; then [`Session::handle_frame`]
///    for every frame from the hub and [`Session::handle_timeout`] when the deadline of
///    [`Session::poll_timeout`] passes; after login ([`Session::is_ready`]) the commands
///    [`Session::send_message`], [`Session::typing`], [`Session::mark_read`],
///    [`Session::request_avatar`], [`Session::set_profile`], [`Session::offer`],
///    [`Session::reclaim`], [`Session::accept`], [`Session::decline`],
///    [`Session::cancel`] and [`Session::reachback`] (before it they fail with
///    [`Error::NotConnected`]; while [`Session::is_busy`], give none: messages wait for
///    keys);
/// 3. after each input, drain [`Session::poll_transmit`] (in order), then
///    [`Session::poll_event`] (a command given while handling an event, such as declining
///    an offer, queues more to transmit: drain that too), then read
///    [`Session::poll_timeout`]. An input that returns an error ends the connection:
///    still send what `poll_transmit` holds (a `LoginAbort`), then close.
///
/// [`Session::is_ready`], [`Session::is_busy`] and [`Session::is_remembered`] are queries.
pub struct Session {
    password: Password,
    /// Try a remembered login first.
    try_remembered: bool,
    /// Ask the hub to remember this device at a password login.
    remember: bool,
    /// What the hub said: it remembers this device.
    remembered: bool,
    profile: Profile,
    /// Ask the hub to keep the profile it has for us (`profile` is for a hub new to us).
    keep_profile: bool,
    /// Ask the hub for the messages it stored for us.
    take_mailbox: bool,
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
    /// Group read marks not yet sent: for each group, the position read up to.
    group_reads: std::collections::BTreeMap<crate::proto::GroupId, crate::proto::Seq>,
    reads_due: Option<Instant>,
    /// The groups list sent at login, until its last page.
    groups_so_far: Vec<crate::proto::Group>,
    /// End-to-end keys: the keyring, and what sealing and opening wait for.
    keys: keys::KeyState,
    /// The contact list, kept across connections ([`Session::with_roster`]).
    roster: Roster,
    /// The contact list on its way in, during login.
    listing: Option<roster::Listing>,
    /// When the last page of it came (each must come within the login deadline).
    listed_at: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session that will log in with `password` and show `profile`. `seed` seeds the
    /// login's randomness: the driver passes fresh entropy ([`connect`] does); tests pass
    /// a fixed seed to replay a login exactly.
    pub fn new(
        password: Password,
        profile: Profile,
        timing: Timing,
        seed: [u8; 32],
        now: Instant,
    ) -> Self {
        Self {
            password,
            try_remembered: false,
            remember: false,
            remembered: false,
            profile,
            keep_profile: false,
            take_mailbox: true,
            timing,
            rng: StdRng::from_seed(seed),
            state: State::Idle,
            channel: [0; 32],
            me: None,
            started: now,
            last_rx: now,
            last_tx: now,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            reads: std::collections::BTreeMap::new(),
            group_reads: std::collections::BTreeMap::new(),
            reads_due: None,
            groups_so_far: Vec::new(),
            keys: keys::KeyState::default(),
            roster: Roster::default(),
            listing: None,
            listed_at: now,
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

    /// What the login asks of the hub besides letting us in: with `keep_profile`, to keep
    /// the profile it knows us by (the session's profile is only for a hub that does not
    /// know us yet, and nothing of it is sent after login); without `take_mailbox`, to
    /// leave the messages it stored for us where they are (for a command that shows no
    /// messages). By default the profile is ours to set and the mailbox is taken.
    #[must_use]
    pub fn asking(mut self, keep_profile: bool, take_mailbox: bool) -> Self {
        self.keep_profile = keep_profile;
        self.take_mailbox = take_mailbox;
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
                    keep_profile: self.keep_profile,
                    leave_mailbox: !self.take_mailbox,
                    known: self.roster.known(),
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
                                keep_profile: self.keep_profile,
                                leave_mailbox: !self.take_mailbox,
                                known: self.roster.known(),
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
                    offline_days,
                    mark,
                    since,
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
                self.start_listing(mark, since, contacts, more)?;
                self.contacts_page(you, more, time, Vec::new(), now);
                self.keys_at_welcome(offline_days, now);
                Ok(())
            }
            (
                State::AwaitContacts { you, time, held },
                ServerFrame::ContactPage { contacts, more },
            ) => {
                self.listed_cards(contacts, more)?;
                self.contacts_page(you, more, time, held, now);
                Ok(())
            }
            (
                State::AwaitContacts { you, time, held },
                ServerFrame::Roster { cards, seen, more },
            ) => {
                self.listed_roster(cards, &seen, more)?;
                self.contacts_page(you, more, time, held, now);
                Ok(())
            }
            (State::AwaitContacts { held, .. }, _) if held.len() >= limits::HELD_EVENTS => {
                Err(Error::Unexpected)
            }
            (
                State::AwaitContacts {
                    you,
                    time,
                    mut held,
                },
                frame,
            ) if !matches!(frame, ServerFrame::LoginRejected(_) | ServerFrame::Closing) => {
                // Offline messages and presence batches may arrive between pages.
                let before = self.events.len();
                let result = self.ready_frame(frame, now);
                held.extend(self.events.drain(before..));
                self.state = State::AwaitContacts { you, time, held };
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

    fn ready_frame(&mut self, frame: ServerFrame, now: Instant) -> Result<(), Error> {
        let event = match frame {
            ServerFrame::Ping => {
                // Answer, so the hub's own heartbeat proves we are alive whatever our timing.
                self.transmit(ClientFrame::Ping, now);
                return Ok(());
            }
            ServerFrame::Message(m) => {
                self.open_live(m, now);
                return Ok(());
            }
            ServerFrame::MailboxPage(page) => {
                for m in page {
                    self.open_message(m, now);
                }
                self.transmit(ClientFrame::MailboxAck, now);
                return Ok(());
            }
            ServerFrame::Receipt { id, status } if self.share_receipt(id, &status) => {
                return Ok(());
            }
            ServerFrame::Receipt { id, status } => Event::Receipt { id, status },
            ServerFrame::Keys { id, bundles } => {
                self.on_keys(id, &bundles, now);
                return Ok(());
            }
            ServerFrame::Typing { from, to } => Event::Typing { from, to },
            ServerFrame::Read { by, id } => Event::Read { by, id },
            ServerFrame::Contacts(list) => {
                self.batch_cards(list);
                return Ok(());
            }
            ServerFrame::Seen(list) => return self.batch_seen(&list),
            ServerFrame::Mark(mark) => {
                self.batch_mark(mark);
                return Ok(());
            }
            ServerFrame::Avatar { id, avatar } => Event::Avatar {
                id,
                bytes: avatar.into_vec(),
            },
            ServerFrame::Error { code, detail } => Event::HubError { code, detail },
            ServerFrame::Offer(offer) => {
                self.open_offer(offer, now);
                return Ok(());
            }
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
            ServerFrame::Groups { groups, more } => {
                self.groups_page(groups, more, now);
                return Ok(());
            }
            ServerFrame::Group(group) => Event::Group(group),
            ServerFrame::GroupGone { group } => Event::GroupGone(group),
            ServerFrame::GroupEvent(e) => Event::GroupEvent(e),
            ServerFrame::GroupAnswer { tag, outcome } => Event::GroupAnswer { tag, outcome },
            ServerFrame::GroupRead { group, by, upto } => Event::GroupRead { group, by, upto },
            ServerFrame::Placed { group, id, seq } => Event::Placed { group, id, seq },
            ServerFrame::GroupPage { group, entries } => {
                self.group_page(group, entries, now);
                return Ok(());
            }
            ServerFrame::RelayReady
            | ServerFrame::LoginChallenge { .. }
            | ServerFrame::Welcome { .. }
            | ServerFrame::ContactPage { .. }
            | ServerFrame::Roster { .. }
            | ServerFrame::LoginRejected(_)
            | ServerFrame::Closing => return Err(Error::Unexpected),
        };
        self.track_groups(&event);
        self.events.push_back(event);
        Ok(())
    }

    /// Time passed: login deadline, heartbeats.
    ///
    /// # Errors
    /// [`Error::LoginTimeout`] or [`Error::HeartbeatTimeout`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        // The login deadline ends at the welcome: a long contact list then comes page
        // by page, each within the deadline of the one before (a list of any length,
        // never a stalled one).
        let listing = matches!(self.state, State::AwaitContacts { .. });
        if !self.is_ready() && !listing {
            if now.saturating_duration_since(self.started) >= self.timing.login_deadline {
                return Err(Error::LoginTimeout);
            }
            return Ok(());
        }
        if listing {
            if now.saturating_duration_since(self.listed_at) >= self.timing.login_deadline {
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
            self.flush_group_reads(now);
        }
        self.keys_timeout(now);
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
    /// once for a batch, within [`limits::READ_MARK_BATCH`]:
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

    /// Replaces our profile (also used at the next login, which then asserts it even if
    /// this session was [`Session::asking`] the hub to keep its own).
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn set_profile(&mut self, profile: Profile, now: Instant) -> Result<(), Error> {
        self.ready_or()?;
        self.profile = profile.clone();
        self.keep_profile = false;
        self.transmit(ClientFrame::SetProfile(profile), now);
        Ok(())
    }

    /// Says we still offer stored offer `id` (after a reconnect), listening at `addrs`.
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
            let next = [Some(ping.min(dead)), self.reads_due, self.keys_deadline()]
                .into_iter()
                .flatten()
                .min();
            next.or(Some(dead))
        } else if matches!(self.state, State::AwaitContacts { .. }) {
            Some(self.listed_at + self.timing.login_deadline)
        } else {
            Some(self.started + self.timing.login_deadline)
        }
    }
}

/// Shared by [`Update`] so GUI messages stay `Clone`.
pub type SharedError = Arc<Error>;

#[cfg(test)]
mod tests;
