//! The hub: logins, contacts, routing and limits, as a sans-IO state machine, plus the
//! async driver [`serve`] that runs it on real sockets.
//!
//! # Driving a [`Hub`]
//!
//! [`Hub`] does no I/O and reads no clock: every input carries `now`. The driver
//! ([`serve`]) feeds it inputs and carries out its outputs.
//!
//! 1. **Start:** [`Hub::new`]. A hub with a database is then given back what it wrote,
//!    before the first connection: [`Hub::restore`] (the backlog's counts; from then on
//!    the hub writes through [`Hub::poll_writes`]), [`Hub::restore_member`] for each
//!    member, [`Hub::restore_offers`], [`Hub::restore_bans`], [`Hub::restore_receipts`]
//!    (the `delivered` receipts owed to offline senders), [`Hub::restore_groups`] (the
//!    groups, their members and logs). A hub never given
//!    [`Hub::restore`] holds everything in memory.
//! 2. **Inputs**, as they happen:
//!    - a connection's life: [`Hub::handle_accept`] (a TCP connection arrived; it may be
//!      [`Refused`]), [`Hub::handle_connect`] (its TLS and WebSocket handshakes
//!      finished), [`Hub::handle_frame`], [`Hub::handle_bad_input`] (input that is not a
//!      frame), [`Hub::handle_slow_consumer`] (its outbox overflowed or stalled),
//!      [`Hub::handle_disconnect`];
//!    - time: [`Hub::handle_timeout`];
//!    - answers to what the hub asked the driver for: [`Hub::handle_drained`] (after a
//!      [`Transmit::WhenDrained`]), [`Hub::handle_reachback`] (after a
//!      [`Transmit::Reachback`]), [`Hub::handle_written`] and then [`Hub::handle_loaded`]
//!      (a batch from [`Hub::poll_writes`] was committed, or failed);
//!    - the owner's requests, which the driver reads from the database (`courier hub
//!      forget`, `ban`, `unban`, `drop --from`, `groups remove`): [`Hub::forget_device`],
//!      [`Hub::ban`], [`Hub::unban`], [`Hub::drop_from`], [`Hub::owner_remove`];
//!    - the end: [`Hub::shutdown`] says goodbye to every client and closes every
//!      connection.
//! 3. **Outputs**, after each input (or batch of inputs), in this order:
//!    1. drain [`Hub::poll_transmit`]: [`Transmit::Frame`], [`Transmit::Close`],
//!       [`Transmit::Relay`], [`Transmit::WhenDrained`], [`Transmit::Reachback`]. A
//!       connection whose outbox overflows goes back in as [`Hub::handle_slow_consumer`],
//!       one already drained as [`Hub::handle_drained`]; then drain again;
//!    2. drain [`Hub::poll_event`] ([`Event`]s, for logs);
//!    3. take [`Hub::poll_writes`] and hand a non-empty batch to the database's writer;
//!       each such batch is answered, in order, by [`Hub::handle_written`];
//!    4. read [`Hub::poll_timeout`] and arm a timer for it.
//!
//! Queries that change nothing: [`Hub::config`], [`Hub::stats`], [`Hub::totals`],
//! [`Hub::online`], [`Hub::is_banned`]. A running hub is looked at from outside its
//! loop through an [`Observer`] ([`Metrics`], who is [`Online`]).
//!
//! # Layout
//! - `hub.rs`: the [`Hub`] itself, its clock and timer, and the plumbing (send, close).
//! - `types.rs`: the words of the contract above: [`ConnId`], [`BadInput`],
//!   [`Transmit`], [`Event`], [`Refused`], [`Stats`], [`Totals`].
//! - `observe.rs`: looking at a running hub ([`Observer`], [`Metrics`]), and
//!   `observe/prometheus.rs`: the metrics as Prometheus text.
//! - `conn.rs`: a connection's life: accept, handshakes, frames by login phase,
//!   disconnect.
//! - `login.rs`: the OPAQUE login, guessing budgets and backoff, the welcome.
//! - `members.rs`: what logged-in members do (messages, notices, profiles, contact pages,
//!   pictures) and the presence batches; `route.rs` is the pure routing rule;
//!   `presence.rs` the directory of everyone the hub has seen.
//! - `groups.rs`: groups, their logs (one copy of each entry), membership, the pages
//!   for members back from away, read marks.
//! - `mailbox.rs`: messages stored for offline members and their shares of the room;
//!   `store.rs`: the hub's side of its database (restore, [`Hub::poll_writes`],
//!   [`Hub::handle_written`], [`Hub::handle_loaded`]); [`db`]: the database itself.
//! - `broker.rs`: brokering direct transfers (offers, tickets, relays), with
//!   `broker/stored.rs` for offers stored for offline recipients; `paced.rs`: large
//!   frames sent as an outbox drains; `reachback.rs`: can others connect to a member?
//! - `owner.rs`: the owner's requests (forget a device, ban, unban, drop);
//!   `limit.rs`: token buckets and backoff; [`Config`] (`config.rs`); [`home`]: a hub's
//!   folder; [`backup`]: a copy of it made while the hub runs.
//! - The driver: `serve.rs` (the loop), `pump.rs` (one connection's socket),
//!   `outbox.rs` (what waits for a connection's writer).

pub mod backup;
mod broker;
mod config;
mod conn;
pub mod db;
mod groups;
pub mod home;
mod keys;
mod limit;
mod login;
mod mailbox;
mod members;
mod observe;
mod outbox;
mod owed;
mod owner;
mod paced;
mod presence;
mod pump;
mod reachback;
mod route;
mod serve;
mod shares;
#[cfg(feature = "stage-trace")]
pub mod stages;
mod store;
mod types;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

pub use config::Config;
pub use home::{Home, generate_password, join_addresses};
pub use observe::{Commits, Metrics, Observer, Online};
pub use owner::Dropped;
pub use serve::{Error, serve};
pub use types::{BadInput, ConnId, Event, Refused, Stats, Totals, Transmit};

use self::conn::{Address, Conn, Phase};
use self::limit::Bucket;
use self::presence::Directory;
use self::store::{Saving, Unsaved};
use crate::limits;
use crate::proto::{ClientId, CloseReason, ServerFrame, Timestamp};

/// The hub state machine. In short (the [module docs](self) give every call): build
/// with [`Hub::new`] and the `restore*` calls; feed it `handle_*` inputs, the owner's
/// requests and [`Hub::shutdown`]; after each, drain [`Hub::poll_transmit`] and
/// [`Hub::poll_event`], take [`Hub::poll_writes`], and read [`Hub::poll_timeout`].
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
    /// The directory mark the last presence batch ended with.
    mark_sent: Option<crate::proto::Mark>,
    /// When the pending presence batch goes out.
    presence_due: Option<Instant>,
    /// Until when members online at the last stop are shown online while they come
    /// back ([`Hub::restore_online`]).
    returns_until: Option<Instant>,
    /// Who was online at the stop, to be written ([`Hub::shutdown`]).
    stopped: Option<db::Stopped>,
    broker: broker::Broker,
    /// The global guessing budget: logins answered from addresses without a member take
    /// from it, and give back when the password proves right.
    guesses: Bucket,
    /// Events counted since the hub started.
    totals: Totals,
    /// The hub has a database: messages for offline contacts are `stored` only once
    /// written ([`Hub::poll_writes`], [`Hub::handle_written`]).
    has_db: bool,
    /// Messages for offline contacts not yet handed out to be written.
    unsaved: Vec<Unsaved>,
    /// Batches handed out and not yet written, oldest first: their messages and the
    /// pages they read.
    saving: VecDeque<Saving>,
    /// Pages of the backlog to read from the disk: recipient, how many.
    fetches: Vec<(ClientId, usize)>,
    /// Stored messages stamped before this are to be forgotten on the disk.
    expire: Option<Timestamp>,
    /// When stored messages are next checked for their age.
    next_expiry: Instant,
    /// Acknowledged deliveries to forget on the disk.
    delivered: Vec<db::Record>,
    /// Stored messages to forget on the disk, by recipient or sender.
    drops: Vec<db::Record>,
    /// `delivered` receipts owed to offline senders, handed over at their next login.
    owed: owed::Owed,
    /// Reach-back checks handed to the driver and not yet answered.
    reaching: usize,
    /// Reach-back checks each member may still ask for: a member's, whatever number of
    /// connections it opens.
    reachbacks: HashMap<ClientId, Bucket>,
    /// Identities the owner banned: refused at every login.
    banned: HashSet<ClientId>,
    /// The groups, their logs and what is under way for them.
    groups: groups::Groups,
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
            config.mailbox,
            config.mailbox_bytes,
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
            mark_sent: None,
            presence_due: None,
            returns_until: None,
            stopped: None,
            broker: broker::Broker::default(),
            guesses: Bucket::new_per_minute(
                limits::LOGIN_GUESSES_PER_MIN,
                limits::LOGIN_GUESS_BURST,
                now,
            ),
            totals: Totals::default(),
            has_db: false,
            unsaved: Vec::new(),
            saving: VecDeque::new(),
            fetches: Vec::new(),
            expire: None,
            next_expiry: now,
            delivered: Vec::new(),
            drops: Vec::new(),
            owed: owed::Owed::default(),
            reaching: 0,
            reachbacks: HashMap::new(),
            banned: HashSet::new(),
            groups: groups::Groups::default(),
        }
    }

    /// The hub's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What the hub counted since it started.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        let (groups, group_entries, group_bytes, group_entries_in_memory) = self.groups.counts();
        Stats {
            groups,
            group_entries,
            group_bytes,
            group_entries_in_memory,
            connections: self.conns.len(),
            logged_in: self.logged_in,
            preauth: self.preauth,
            stored: self.mailboxes.len(),
            stored_in_memory: self.mailboxes.in_memory(),
            stored_bytes: self.mailboxes.bytes(),
            transfers: self.broker.len(),
            stored_offers: self.broker.stored_offers(),
            failed_logins: self.totals.login_failures,
            known: self.directory.len(),
            avatar_bytes: self.directory.avatar_bytes(),
        }
    }

    fn wall(&self, now: Instant) -> Timestamp {
        let ms = u64::try_from(now.saturating_duration_since(self.epoch.0).as_millis())
            .unwrap_or(u64::MAX);
        Timestamp(self.epoch.1.0.saturating_add(ms))
    }

    /// Time passed: sends the presence batch that is due; expires unfinished logins,
    /// sends heartbeats and closes silent connections; about hourly, forgets stored
    /// messages and offers past their age, counts the newcomers' room afresh and, under
    /// pressure, forgets what waits for members that never came back; forgets idle
    /// addresses and expired tickets.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.returns_until.is_some_and(|until| now >= until) {
            // The grace after a restart is over: who is not back is offline.
            self.returns_until = None;
            for id in self.directory.end_returns() {
                self.announce(id, now);
            }
        }
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
            if self.has_db {
                self.expire = Some(before);
            } else {
                self.mailboxes.expire_in_memory(before);
            }
            self.expire_group_entries(before);
            self.expire_offers(before, now);
            let wall = self.wall(now);
            let (directory, age) = (&self.directory, self.config.newcomer_age);
            self.mailboxes
                .reclassify(|id| directory.get(&id).is_some_and(|k| k.is_new(wall, age)));
            self.reclassify_group_senders(wall);
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
    /// `wall` is the real clock now: who is online is kept with it for the next start
    /// ([`Hub::restore_online`] compares its own real clock with it; the hub's clock,
    /// counted from its start, stands still while the machine sleeps).
    pub fn shutdown(&mut self, now: Instant, wall: Timestamp) {
        if self.has_db {
            // Kept for the next start: they are expected back (an upgrade restart).
            let online = self.directory.online().map(|(id, _)| *id).collect();
            self.stopped = Some(db::Stopped { at: wall, online });
        }
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

    /// When [`Hub::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = self
            .presence_due
            .map_or(self.next_tick, |due| due.min(self.next_tick));
        Some(self.returns_until.map_or(next, |until| until.min(next)))
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
}

/// How often, at most, stored messages are checked for their age (more often when they
/// are stored for less than a day).
const EXPIRY_CHECK: Duration = Duration::from_secs(3600);

fn tick_of(config: &Config) -> Duration {
    let t = config.heartbeat_interval.min(config.login_deadline) / 4;
    t.clamp(Duration::from_millis(5), Duration::from_secs(1))
}

#[cfg(test)]
mod tests;
