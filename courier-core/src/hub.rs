//! The hub: logins, contacts, routing and limits, as a sans-IO state machine, plus the
//! async driver [`serve`] that runs it on real sockets.
//!
//! [`Hub`] does no I/O and reads no clock. The driver feeds it inputs and carries out
//! its outputs:
//!
//! 1. inputs: [`Hub::handle_accept`] (a TCP connection arrived), [`Hub::handle_connect`]
//!    (its TLS and WebSocket handshakes finished), [`Hub::handle_frame`],
//!    [`Hub::handle_bad_input`], [`Hub::handle_disconnect`], [`Hub::handle_timeout`],
//!    [`Hub::handle_drained`] (after a [`Transmit::WhenDrained`]),
//!    [`Hub::shutdown`];
//! 2. after each input, drain [`Hub::poll_transmit`], then read [`Hub::poll_timeout`],
//!    then drain [`Hub::poll_event`].

mod bans;
mod broker;
mod config;
pub mod db;
pub mod home;
mod limit;
mod login;
mod mailbox;
mod members;
mod outbox;
mod paced;
mod presence;
mod pump;
mod route;
mod serve;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

pub use bans::Dropped;
pub use config::Config;
pub use home::{Home, generate_password, join_addresses};
pub use serve::{Error, serve};

use self::limit::{Backoff, Bucket};
use self::presence::{Change, Directory};
use crate::auth::HubLogin;
use crate::limits;
use crate::proto::{
    ClientFrame, ClientId, CloseReason, Delivery, LoginRejection, Message, RejectReason,
    ServerFrame, Timestamp,
};

/// A connection's number, unique for the life of a [`Hub`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Input the driver could not turn into a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadInput {
    /// Bytes that do not decode as a [`ClientFrame`].
    Malformed(crate::proto::DecodeError),
    /// A message over the size limit.
    TooBig,
    /// A WebSocket text message.
    Text,
    /// More than [`limits::MAX_PINGS_PER_SEC`] WebSocket pings in a second.
    PingFlood,
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Transmit {
    /// Send a frame on a connection.
    Frame {
        /// The connection.
        conn: ConnId,
        /// The frame, shared between recipients of a broadcast.
        frame: Arc<ServerFrame>,
    },
    /// Close a connection with a code and reason. The hub has already forgotten it.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// After sending what is queued for them, pipe the bytes of these two connections to
    /// each other (a relayed transfer). The hub has already forgotten both.
    Relay {
        /// One side.
        a: ConnId,
        /// The other side.
        b: ConnId,
    },
    /// Call [`Hub::handle_drained`] for `conn` once what is queued for it so far is
    /// written (or little enough of it is left): the hub sends large frames it owes a
    /// connection (pictures, file offers) a round at a time, as its outbox drains.
    WhenDrained {
        /// The connection.
        conn: ConnId,
    },
    /// Try to open a TCP connection to `addr` (the address `conn` comes from, on the
    /// port it asked about), at most [`limits::REACHBACK_TIMEOUT`], then close it; report
    /// with [`Hub::handle_reachback`].
    Reachback {
        /// The connection that asked.
        conn: ConnId,
        /// Where to connect.
        addr: SocketAddr,
    },
}

/// Things worth logging.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A client logged in.
    LoggedIn {
        /// Its connection.
        conn: ConnId,
        /// Its identity.
        client: ClientId,
        /// Its display name (untrusted: log with `{:?}`).
        name: String,
    },
    /// The hub closed a connection.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Its peer address.
        peer: SocketAddr,
        /// Why.
        reason: CloseReason,
    },
    /// A connection went away by itself.
    Disconnected {
        /// The connection.
        conn: ConnId,
        /// Its identity, if it had logged in.
        client: Option<ClientId>,
    },
}

/// Why a new TCP connection was refused at accept.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Refused {
    /// Too many unfinished logins from this address.
    #[error("too many connections in login from this address")]
    PerAddress,
    /// Too many unfinished logins in total.
    #[error("too many connections in login")]
    Total,
    /// New connections from this address come too fast.
    #[error("connections from this address come too fast")]
    TooFast,
}

enum Phase {
    /// TCP accepted; TLS and WebSocket handshakes under way.
    Handshake,
    /// Waiting for `LoginStart` (or `LoginRemembered`).
    AwaitStart { client: ClientId, channel: [u8; 32] },
    /// The hub did not remember the device: waiting for `LoginStart` only.
    AwaitPassword { client: ClientId, channel: [u8; 32] },
    /// Waiting for `LoginFinish`.
    AwaitFinish {
        client: ClientId,
        channel: [u8; 32],
        login: HubLogin,
    },
    /// Logged in.
    Ready { client: ClientId },
    /// A relay connection waiting for the other side of its transfer.
    Relay,
}

struct Conn {
    peer: SocketAddr,
    phase: Phase,
    /// Where the next contact page starts, while the client pages through the list.
    contacts_next: Option<ClientId>,
    accepted: Instant,
    last_rx: Instant,
    last_tx: Instant,
    /// Every frame after login costs one.
    frames: Bucket,
    chat: Bucket,
    profile: Bucket,
    offers: Bucket,
    avatars: Bucket,
    /// Typing notices (each fans out to its conversation): a small budget of their own,
    /// never the member's messages'.
    typing: Bucket,
    /// Frames refused for a rate or that made no sense: each takes one; the connection
    /// is closed when none is left. Refills, so old mistakes are forgotten.
    violations: Bucket,
    /// Large frames owed to it, sent as its outbox drains.
    paced: paced::Queue,
    /// A login the hub answered and that has not proved its password: a guess in flight,
    /// counted as a failure if the connection ends before it does.
    guess: Option<login::Guess>,
}

impl Conn {
    fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready { .. })
    }

    /// Where it comes from, as limits count addresses ([`source`]).
    fn source(&self) -> IpAddr {
        source(self.peer.ip())
    }

    fn client(&self) -> Option<ClientId> {
        match &self.phase {
            Phase::Handshake | Phase::Relay => None,
            Phase::AwaitStart { client, .. }
            | Phase::AwaitPassword { client, .. }
            | Phase::AwaitFinish { client, .. }
            | Phase::Ready { client } => Some(*client),
        }
    }
}

struct Address {
    preauth: usize,
    /// New connections from here: a reconnect storm is refused at accept.
    connects: Bucket,
    backoff: Backoff,
    /// Logins answered from here and not yet finished.
    in_flight: u32,
    /// When a member last logged in from here: such an address is spared the global
    /// guessing budget, so others' guessing cannot lock members out.
    last_login: Option<Instant>,
}

impl Address {
    fn new(config: &Config, now: Instant) -> Self {
        Self {
            preauth: 0,
            connects: Bucket::new(config.connects_per_sec, config.connect_burst, now),
            backoff: Backoff::default(),
            in_flight: 0,
            last_login: None,
        }
    }

    fn is_members(&self, now: Instant) -> bool {
        self.last_login
            .is_some_and(|t| now.saturating_duration_since(t) < limits::MEMBER_ADDRESS_TRUST)
    }
}

/// Counters for tests, benchmarks and status displays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Open connections, logged in or not.
    pub connections: usize,
    /// Logged-in connections.
    pub logged_in: usize,
    /// Connections still in handshake or login.
    pub preauth: usize,
    /// Messages waiting for offline contacts.
    pub stored: usize,
    /// Of those, how many are held in memory (with a database, the rest wait on the
    /// disk: at most a page for each recipient online).
    pub stored_in_memory: usize,
    /// Their bytes, as counted against the limits.
    pub stored_bytes: usize,
    /// Transfers offered or accepted and not yet connected.
    pub transfers: usize,
    /// Of those, file offers kept until their recipient answers.
    pub kept_offers: usize,
    /// Logins answered that did not succeed (wrong passwords, abandoned guesses), since
    /// start.
    pub failed_logins: u64,
    /// Contacts remembered, online or not.
    pub known: usize,
    /// Bytes of contacts' pictures kept.
    pub avatar_bytes: usize,
}

/// The hub state machine. See the [module docs](self) for the call order.
pub struct Hub {
    config: Config,
    rng: StdRng,
    conns: HashMap<ConnId, Conn>,
    addresses: HashMap<IpAddr, Address>,
    directory: Directory,
    mailboxes: mailbox::Mailboxes,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_conn: u64,
    preauth: usize,
    logged_in: usize,
    epoch: (Instant, Timestamp),
    next_tick: Instant,
    /// Contacts whose card changed since the last presence batch.
    presence_pending: BTreeSet<ClientId>,
    /// When the pending presence batch goes out.
    presence_due: Option<Instant>,
    broker: broker::Broker,
    /// The global guessing budget: logins answered from addresses without a member take
    /// from it, and give back when the password proves right.
    guesses: Bucket,
    /// Logins answered that failed, since the hub started.
    failed_logins: u64,
    /// The hub has a database: messages for offline contacts are `stored` only once
    /// written ([`Hub::poll_store`], [`Hub::handle_stored`]).
    keeping: bool,
    /// Messages for offline contacts not yet handed out to be written.
    unsaved: Vec<Unsaved>,
    /// Batches handed out and not yet written, oldest first: their messages and the
    /// pages they read.
    saving: VecDeque<Saving>,
    /// Pages of the backlog to read from the disk: recipient, how many.
    fetches: Vec<(ClientId, usize)>,
    /// Kept messages stamped before this are to be forgotten on the disk.
    expire: Option<Timestamp>,
    /// When kept messages are next checked for their age.
    next_expiry: Instant,
    /// Acknowledged deliveries to forget on the disk.
    delivered: Vec<db::Record>,
    /// Kept messages to forget on the disk, by recipient or sender.
    drops: Vec<db::Record>,
    /// Reach-back checks handed to the driver and not yet answered.
    reaching: usize,
    /// Reach-back checks each member may still ask for: a member's, whatever number of
    /// connections it opens.
    reachbacks: HashMap<ClientId, Bucket>,
    /// Identities the owner banned: refused at every login.
    banned: HashSet<ClientId>,
}

/// A batch handed out to be written: its messages, the pages it reads, and the kept
/// offers whose senders hear `stored` once it is written.
type Saving = (
    Vec<Unsaved>,
    Vec<ClientId>,
    Vec<(crate::proto::TransferId, u32, ConnId)>,
);

/// A message for an offline contact on its way to the disk; its sender hears `stored`
/// (or why not) once it is written.
#[derive(Debug)]
struct Unsaved {
    to: ClientId,
    message: Arc<Message>,
    sender: ConnId,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub with no connections. `now` and `wall` anchor its clocks: deadlines run on the
    /// monotonic clock, message stamps are `wall` plus monotonic time elapsed.
    pub fn new(config: Config, now: Instant, wall: Timestamp) -> Self {
        let rng = match config.rng_seed {
            Some(seed) => StdRng::from_seed(seed),
            None => StdRng::from_entropy(),
        };
        let tick = tick_of(&config);
        let directory = Directory::new(config.max_known, config.avatars_total);
        let mailboxes = mailbox::Mailboxes::new(
            config.offline_queue,
            config.offline_queue_bytes,
            config.offline_total_bytes,
        );
        Self {
            config,
            rng,
            conns: HashMap::new(),
            addresses: HashMap::new(),
            directory,
            mailboxes,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_conn: 0,
            preauth: 0,
            logged_in: 0,
            epoch: (now, wall),
            next_tick: now + tick,
            presence_pending: BTreeSet::new(),
            presence_due: None,
            broker: broker::Broker::default(),
            guesses: Bucket::new_per_minute(
                limits::LOGIN_GUESSES_PER_MIN,
                limits::LOGIN_GUESS_BURST,
                now,
            ),
            failed_logins: 0,
            keeping: false,
            unsaved: Vec::new(),
            saving: VecDeque::new(),
            fetches: Vec::new(),
            expire: None,
            next_expiry: now,
            delivered: Vec::new(),
            drops: Vec::new(),
            reaching: 0,
            reachbacks: HashMap::new(),
            banned: HashSet::new(),
        }
    }

    /// The hub's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        Stats {
            connections: self.conns.len(),
            logged_in: self.logged_in,
            preauth: self.preauth,
            stored: self.mailboxes.len(),
            stored_in_memory: self.mailboxes.in_memory(),
            stored_bytes: self.mailboxes.bytes(),
            transfers: self.broker.len(),
            kept_offers: self.broker.kept(),
            failed_logins: self.failed_logins,
            known: self.directory.len(),
            avatar_bytes: self.directory.avatar_bytes(),
        }
    }

    fn wall(&self, now: Instant) -> Timestamp {
        let ms = u64::try_from(now.saturating_duration_since(self.epoch.0).as_millis())
            .unwrap_or(u64::MAX);
        Timestamp(self.epoch.1.0.saturating_add(ms))
    }

    /// A TCP connection arrived from `peer`. Refused when too many logins are unfinished,
    /// from that address or in total; the driver then drops the socket.
    ///
    /// # Errors
    /// [`Refused`] when over a pre-login connection limit.
    pub fn handle_accept(&mut self, peer: SocketAddr, now: Instant) -> Result<ConnId, Refused> {
        let address = self
            .addresses
            .entry(source(peer.ip()))
            .or_insert_with(|| Address::new(&self.config, now));
        // Past the total, only addresses where a member logged in lately get in, into a
        // room of their own: strangers holding every unfinished login open must not
        // keep the members out.
        if self.preauth >= self.config.max_preauth_total
            && !(address.is_members(now)
                && address.preauth < limits::MEMBER_PREAUTH_RESERVE_PER_ADDRESS
                && self.preauth < self.config.max_preauth_total + limits::MEMBER_PREAUTH_RESERVE)
        {
            return Err(Refused::Total);
        }
        if address.preauth >= self.config.max_preauth_per_ip {
            return Err(Refused::PerAddress);
        }
        if !address.connects.take(now) {
            return Err(Refused::TooFast);
        }
        address.preauth += 1;
        self.preauth += 1;
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        self.conns.insert(
            conn,
            Conn {
                peer,
                phase: Phase::Handshake,
                contacts_next: None,
                accepted: now,
                last_rx: now,
                last_tx: now,
                frames: Bucket::new(
                    limits::FRAME_RATE_PER_SEC.max(self.config.message_rate),
                    limits::FRAME_BURST.max(self.config.message_burst),
                    now,
                ),
                chat: Bucket::new(self.config.message_rate, self.config.message_burst, now),
                avatars: Bucket::new(
                    limits::AVATAR_REQUESTS_PER_SEC,
                    limits::AVATAR_REQUEST_BURST,
                    now,
                ),
                profile: Bucket::new(limits::PROFILE_RATE_PER_SEC, 1, now),
                offers: Bucket::new(
                    limits::OFFER_RATE_PER_SEC,
                    limits::MAX_PENDING_OFFERS as u32,
                    now,
                ),
                typing: Bucket::new(limits::TYPING_PER_SEC, limits::TYPING_BURST, now),
                violations: Bucket::new(
                    limits::RATE_VIOLATIONS_FORGOTTEN_PER_SEC,
                    limits::RATE_VIOLATIONS_BEFORE_CLOSE,
                    now,
                ),
                paced: paced::Queue::default(),
                guess: None,
            },
        );
        Ok(conn)
    }

    /// The TLS and WebSocket handshakes of `conn` finished. `client` is the fingerprint of
    /// the certificate the client presented; `channel` is the TLS exporter value.
    pub fn handle_connect(
        &mut self,
        conn: ConnId,
        client: ClientId,
        channel: [u8; 32],
        now: Instant,
    ) {
        if let Some(c) = self.conns.get_mut(&conn)
            && matches!(c.phase, Phase::Handshake)
        {
            c.phase = Phase::AwaitStart { client, channel };
            c.last_rx = now;
        }
        if self.banned.contains(&client) {
            // Its certificate proves who it is: no login is answered, no guess spent.
            self.close(conn, CloseReason::Banned, now);
        }
    }

    /// A frame arrived on `conn`.
    pub fn handle_frame(&mut self, conn: ConnId, frame: ClientFrame, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.last_rx = now;
        let phase = std::mem::replace(&mut c.phase, Phase::Handshake);
        match (phase, frame) {
            (
                Phase::AwaitStart { client, channel } | Phase::AwaitPassword { client, channel },
                ClientFrame::LoginStart { version, request },
            ) => {
                self.login_start(conn, client, channel, version, &request, now);
            }
            (
                Phase::AwaitStart { client, channel },
                ClientFrame::LoginRemembered { version, profile },
            ) => {
                self.login_remembered(conn, client, channel, version, profile, now);
            }
            (
                Phase::AwaitFinish {
                    client,
                    channel,
                    login,
                },
                ClientFrame::LoginFinish {
                    finalization,
                    binding,
                    profile,
                    remember,
                },
            ) => {
                let answer = login::Finish {
                    finalization: &finalization,
                    binding: &binding,
                    profile,
                    remember,
                };
                self.login_finish(conn, client, channel, login, answer, now);
            }
            (Phase::AwaitStart { client, .. }, ClientFrame::Relay { ticket }) => {
                self.relay(conn, client, ticket, now);
            }
            (Phase::AwaitFinish { .. }, ClientFrame::LoginAbort) => {
                self.login_failed(
                    conn,
                    LoginRejection::WrongPassword,
                    CloseReason::WrongPassword,
                    now,
                );
            }
            (Phase::Ready { client }, frame) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.phase = Phase::Ready { client };
                }
                self.ready_frame(conn, client, frame, now);
            }
            (_, _) => {
                // Anything else before login is a violation: nothing is processed. (A
                // login under way counts as a failed guess as its connection goes.)
                self.close(conn, CloseReason::Unexpected, now);
            }
        }
    }

    /// The driver could not decode input on `conn`: close it.
    pub fn handle_bad_input(&mut self, conn: ConnId, input: BadInput, now: Instant) {
        let reason = match input {
            BadInput::Malformed(_) => CloseReason::Malformed,
            BadInput::TooBig => CloseReason::TooBig,
            BadInput::Text => CloseReason::TextFrame,
            BadInput::PingFlood => CloseReason::PingFlood,
        };
        self.close(conn, reason, now);
    }

    /// The driver could not queue a frame for `conn` because its outbox is full.
    pub fn handle_slow_consumer(&mut self, conn: ConnId, now: Instant) {
        self.close(conn, CloseReason::SlowConsumer, now);
    }

    /// `conn` went away (closed, reset, or failed its handshake). Idempotent.
    pub fn handle_disconnect(&mut self, conn: ConnId, now: Instant) {
        if self.conns.contains_key(&conn) {
            let client = self.conns.get(&conn).and_then(Conn::client);
            let logged_in = self.conns.get(&conn).is_some_and(Conn::is_ready);
            self.forget(conn, now);
            self.events.push_back(Event::Disconnected {
                conn,
                client: if logged_in { client } else { None },
            });
        }
    }

    /// Time passed: expire logins, send heartbeats, drop silent connections.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.presence_due.is_some_and(|due| now >= due) {
            self.flush_presence(now);
        }
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + tick_of(&self.config);
        if now >= self.next_expiry {
            self.next_expiry = now
                + (self.config.offline_max_age / 24).clamp(Duration::from_secs(1), EXPIRY_CHECK);
            let max_age =
                u64::try_from(self.config.offline_max_age.as_millis()).unwrap_or(u64::MAX);
            let before = Timestamp(self.wall(now).0.saturating_sub(max_age));
            if self.keeping {
                self.expire = Some(before);
            } else {
                self.mailboxes.expire_in_memory(before);
            }
            self.expire_offers(before, now);
            let wall = self.wall(now);
            let (directory, age) = (&self.directory, self.config.newcomer_age);
            self.mailboxes
                .reclassify(|id| directory.get(&id).is_some_and(|k| k.is_new(wall, age)));
            self.forget_for_the_gone(now);
        }
        let mut expired = Vec::new();
        let mut ping = Vec::new();
        for (id, c) in &self.conns {
            if !c.is_ready() {
                if now.saturating_duration_since(c.accepted) >= self.config.login_deadline {
                    expired.push((*id, CloseReason::LoginTimeout));
                }
            } else if now.saturating_duration_since(c.last_rx) >= self.config.heartbeat_timeout {
                expired.push((*id, CloseReason::HeartbeatTimeout));
            } else if now.saturating_duration_since(c.last_tx) >= self.config.heartbeat_interval {
                ping.push(*id);
            }
        }
        expired.sort_by_key(|(id, _)| *id);
        for (id, reason) in expired {
            self.close(id, reason, now);
        }
        let frame = Arc::new(ServerFrame::Ping);
        ping.sort();
        for id in ping {
            self.send(id, frame.clone(), now);
        }
        // An address is forgotten only when nothing about it would differ from a new one:
        // forgetting a half-empty connect bucket would let a storm start afresh.
        self.addresses.retain(|_, a| {
            a.preauth > 0
                || !a.backoff.is_stale(now)
                || a.is_members(now)
                || !a.connects.is_full(now)
        });
        // A full bucket is what a new one would be.
        self.reachbacks.retain(|_, b| !b.is_full(now));
        self.expire_tickets(now);
    }

    /// Tells every logged-in client the hub is going away and closes every connection.
    pub fn shutdown(&mut self, now: Instant) {
        let mut ids: Vec<ConnId> = self.conns.keys().copied().collect();
        ids.sort();
        let closing = Arc::new(ServerFrame::Closing);
        for id in ids {
            if self.conns.get(&id).is_some_and(Conn::is_ready) {
                self.send(id, closing.clone(), now);
            }
            self.close(id, CloseReason::Shutdown, now);
        }
    }

    /// The next thing to send or close.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next loggable event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The driver tried a [`Transmit::Reachback`] for `conn`: tells it (if still here).
    pub fn handle_reachback(
        &mut self,
        conn: ConnId,
        addr: SocketAddr,
        outcome: crate::proto::Reach,
        now: Instant,
    ) {
        self.reaching = self.reaching.saturating_sub(1);
        let Some(seen) = self
            .conns
            .get(&conn)
            .filter(|c| c.is_ready())
            .map(|c| c.peer)
        else {
            return;
        };
        let frame = ServerFrame::Reachback {
            seen,
            port: addr.port(),
            outcome,
        };
        self.send(conn, Arc::new(frame), now);
    }

    /// Forgets that `id`'s device may log in without the password (the hub's owner
    /// asked, `courier hub forget`): if it is online, each of its connections is closed
    /// ([`CloseReason::Forgotten`]); its next login needs the password. Returns whether
    /// the hub remembered it.
    pub fn forget_device(&mut self, id: ClientId, now: Instant) -> bool {
        let (was, conns) = self.directory.forget_device(id);
        for conn in conns {
            self.close(conn, CloseReason::Forgotten, now);
        }
        was
    }

    /// Takes back what the hub's database kept when it last ran, before the first
    /// connection: the members (they show in everyone's contact list as offline, with
    /// their profiles and pictures, and are known when they come back) and how many
    /// messages wait for each of them (those stay on the disk and are read a page at a
    /// time as they are handed over, with their original sender and time). Members are
    /// bounded as ever ([`Config::max_known`], [`Config::avatars_total`]); kept
    /// messages are all taken back, whatever the limits now, since the hub promised
    /// them. From then on the hub records what changes for [`Hub::poll_store`], and a
    /// message for an offline contact is acknowledged `stored` only once written
    /// ([`Hub::handle_stored`]); a hub never given this keeps everything in memory.
    pub fn restore(
        &mut self,
        members: impl IntoIterator<Item = db::Member>,
        waiting: Vec<db::Waiting>,
    ) {
        self.keeping = true;
        self.broker.keeping = true;
        self.mailboxes.set_total(self.config.offline_disk_bytes);
        self.directory.restore(members);
        for w in waiting {
            self.mailboxes
                .restore_on_disk(w.to, w.from, w.count, w.bytes);
        }
    }

    /// Takes back the file offers the hub's database kept ([`db::Db::offers`]): each
    /// waits for its recipient's answer as before, its sender away until it reclaims it
    /// ([`ClientFrame::Reclaim`](crate::proto::ClientFrame)). One whose sender or
    /// recipient is no longer a member is forgotten.
    pub fn restore_offers(&mut self, offers: Vec<db::KeptOffer>) {
        for offer in offers {
            self.restore_offer(offer);
        }
    }

    /// Takes back one more kept member after [`Hub::restore`] (members read one at a
    /// time from the database, in keep order: [`db::Db::each_member`]).
    pub fn restore_member(&mut self, member: db::Member) {
        self.directory.restore_one(member);
    }

    /// What should now be written to the hub's database ([`db::Db::write`]), as one
    /// batch: each changed member once, as it now is; messages for offline contacts;
    /// deliveries to forget; and, last, pages of the backlog to read
    /// ([`db::Record::Fetch`], answered by [`Hub::handle_loaded`]). Empty when nothing
    /// changed, and always for a hub never given [`Hub::restore`]. Each non-empty batch
    /// must be answered, in order, by [`Hub::handle_stored`].
    pub fn poll_store(&mut self) -> Vec<db::Record> {
        let mut records = self.directory.take_records();
        records.append(&mut self.delivered);
        records.append(&mut self.drops);
        records.append(&mut self.broker.records);
        records.extend(self.unsaved.iter().map(|u| db::Record::Message {
            to: u.to,
            message: u.message.clone(),
        }));
        if let Some(before) = self.expire.take() {
            records.push(db::Record::Expire { before });
        }
        let fetches = std::mem::take(&mut self.fetches);
        records.extend(
            fetches
                .iter()
                .map(|&(to, limit)| db::Record::Fetch { to, limit }),
        );
        if !records.is_empty() {
            let fetched = fetches.into_iter().map(|(to, _)| to).collect();
            self.saving.push_back((
                std::mem::take(&mut self.unsaved),
                fetched,
                std::mem::take(&mut self.broker.unsaved),
            ));
        }
        records
    }

    /// The oldest `batches` batches from [`Hub::poll_store`] were written (`ok`), or
    /// could not be (a full or failing disk). Their senders hear `stored`, and a
    /// recipient who came online meanwhile gets the messages now; or, if not written,
    /// the senders hear why and the messages are dropped. Routing to online contacts
    /// never waited for this.
    pub fn handle_stored(&mut self, batches: usize, ok: bool, now: Instant) {
        for _ in 0..batches {
            let Some((batch, fetched, offers)) = self.saving.pop_front() else {
                return;
            };
            self.offers_stored(offers, ok, now);
            if !ok {
                // Asked again at the recipient's next acknowledgement or login.
                for to in fetched {
                    self.mailboxes.fetch_failed(to);
                }
            }
            let mut arrived = Vec::new();
            for u in batch {
                let id = u.message.id;
                let status = if ok {
                    // The writer is done with it: its text moves, it is not copied.
                    let message = Arc::try_unwrap(u.message).unwrap_or_else(|m| (*m).clone());
                    let online = self
                        .directory
                        .get(&u.to)
                        .is_some_and(|k| !k.conns.is_empty());
                    self.mailboxes.commit_written(u.to, message, online);
                    arrived.push(u.to);
                    Delivery::Stored
                } else {
                    self.mailboxes.release(u.to, &u.message);
                    Delivery::Rejected(RejectReason::NotKept)
                };
                if self.conns.get(&u.sender).is_some_and(Conn::is_ready) {
                    let receipt = ServerFrame::Receipt { id, status };
                    self.send(u.sender, Arc::new(receipt), now);
                }
            }
            arrived.sort();
            arrived.dedup();
            for to in arrived {
                self.hand_over_to(to, now);
            }
        }
    }

    /// What a written batch read and forgot ([`db::Db::write`], given after
    /// [`Hub::handle_stored`] of its batches): pages of the backlog for
    /// [`db::Record::Fetch`]es, handed over to their recipients if still online; and
    /// messages forgotten for their age ([`db::Record::Expire`]).
    pub fn handle_loaded(&mut self, written: db::Written, now: Instant) {
        for w in written.expired {
            self.mailboxes.expired(w.to, w.from, w.count, w.bytes);
        }
        for page in written.loaded {
            let online = self
                .directory
                .get(&page.to)
                .is_some_and(|k| !k.conns.is_empty());
            self.mailboxes
                .loaded(page.to, page.messages, page.remaining, online);
            if online {
                self.hand_over_to(page.to, now);
            }
        }
    }

    /// Hands the next page over to `to` on its first connection, if online.
    fn hand_over_to(&mut self, to: ClientId, now: Instant) {
        if let Some(conn) = self.directory.get(&to).and_then(|k| k.conns.first()) {
            let conn = *conn;
            self.hand_over(conn, to, now);
        }
    }

    /// While the room for kept messages is more than half full, what waits for members
    /// that logged in once and never came back, for [`limits::NEVER_CAME_BACK`], is
    /// forgotten: throwaway identities do not hold the hub's room for a month. (With
    /// room to spare, a newcomer's mail keeps its month like anyone's.)
    fn forget_for_the_gone(&mut self, now: Instant) {
        if !self.mailboxes.under_pressure() {
            return;
        }
        let away = u64::try_from(limits::NEVER_CAME_BACK.as_millis()).unwrap_or(u64::MAX);
        let since = Timestamp(self.wall(now).0.saturating_sub(away));
        // Gone since the hub started at the latest: after a crash, `last_seen` of a
        // member that was online is when it logged in.
        let start = self.epoch.1;
        let gone: Vec<ClientId> = self
            .mailboxes
            .recipients()
            .filter(|to| {
                self.directory
                    .get(to)
                    .is_some_and(|k| k.never_came_back(since, start))
            })
            .collect();
        for to in gone {
            if self.keeping {
                self.drops.push(db::Record::Drop(db::Whose::To(to)));
            } else {
                self.mailboxes.drop_in_memory(to);
            }
        }
    }

    /// When [`Hub::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(
            self.presence_due
                .map_or(self.next_tick, |due| due.min(self.next_tick)),
        )
    }

    // ----- plumbing -----

    fn send(&mut self, conn: ConnId, frame: Arc<ServerFrame>, now: Instant) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_tx = now;
            self.transmits.push_back(Transmit::Frame { conn, frame });
        }
    }

    fn close(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        let Some(peer) = self.conns.get(&conn).map(|c| c.peer) else {
            return;
        };
        self.forget(conn, now);
        self.transmits.push_back(Transmit::Close { conn, reason });
        self.events.push_back(Event::Closed { conn, peer, reason });
    }

    fn leave_preauth(&mut self, ip: IpAddr) {
        self.preauth = self.preauth.saturating_sub(1);
        if let Some(a) = self.addresses.get_mut(&ip) {
            a.preauth = a.preauth.saturating_sub(1);
        }
    }

    /// Removes `conn` from every table and tells others if its identity went offline.
    fn forget(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(guess) = c.guess {
            self.guess_failed(c.source(), guess, now);
        }
        match c.phase {
            Phase::Ready { client } => {
                self.logged_in = self.logged_in.saturating_sub(1);
                let wall = self.wall(now);
                if self.directory.logout(client, conn, wall) == Change::WentOffline {
                    self.announce(client, now);
                }
                // A page on its way to it goes to another of its connections, if any.
                self.mailboxes.conn_gone(client, conn);
                if let Some(other) = self.directory.get(&client).and_then(|k| k.conns.first()) {
                    self.hand_over(*other, client, now);
                } else if self.keeping {
                    self.mailboxes.offline(client);
                }
                self.transfers_after_disconnect(conn, now);
            }
            Phase::Relay => {
                self.broker.relay_gone(conn);
                self.leave_preauth(c.source());
            }
            _ => self.leave_preauth(c.source()),
        }
    }
}

/// How often, at most, kept messages are checked for their age (more often when they
/// are kept for less than a day).
const EXPIRY_CHECK: Duration = Duration::from_secs(3600);

/// An address as the per-address limits count it: an IPv4 address mapped into IPv6 is
/// that IPv4 address. (Not an IPv6 /64: every host of a LAN shares its /64, so one
/// stranger would lock out every IPv6 member.)
fn source(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn tick_of(config: &Config) -> Duration {
    let t = config.heartbeat_interval.min(config.login_deadline) / 4;
    t.clamp(Duration::from_millis(5), Duration::from_secs(1))
}

#[cfg(test)]
mod tests;
