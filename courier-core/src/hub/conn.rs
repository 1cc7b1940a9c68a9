//! A connection's life in the hub: accepted (or refused) under the pre-login limits,
//! its handshakes, its frames dispatched by login phase, and its end, whichever side
//! ends it.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::limit::{Backoff, Bucket};
use super::presence::Change;
use super::{BadInput, Config, ConnId, Event, Hub, Refused, login, paced};
use crate::auth::HubLogin;
use crate::limits;
use crate::proto::{ClientFrame, ClientId, CloseReason, LoginRejection};

pub(super) enum Phase {
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

/// Where a client paging through the contact list is.
#[derive(Clone, Copy, Debug)]
pub(super) enum Listing {
    /// The whole list, every card ([`crate::proto::ServerFrame::ContactPage`]): the
    /// next page starts after this contact.
    Cards { after: ClientId },
    /// A returning client's list ([`crate::proto::ServerFrame::Roster`]): cards changed
    /// since its mark, where the others are; the next page starts after `after`.
    Roster {
        since: crate::proto::Mark,
        after: Option<ClientId>,
    },
}

pub(super) struct Conn {
    pub(super) peer: SocketAddr,
    pub(super) phase: Phase,
    /// Where the next contact page starts, while the client pages through the list.
    pub(super) contacts_next: Option<Listing>,
    pub(super) accepted: Instant,
    pub(super) last_rx: Instant,
    pub(super) last_tx: Instant,
    /// Every frame after login costs one.
    pub(super) frames: Bucket,
    pub(super) chat: Bucket,
    /// Room key shares ([`crate::proto::Share`]): their own allowance, never chat's.
    pub(super) shares: Bucket,
    pub(super) profile: Bucket,
    /// Key bundles published.
    pub(super) publish: Bucket,
    /// Key bundles asked for.
    pub(super) keys: Bucket,
    pub(super) offers: Bucket,
    pub(super) avatars: Bucket,
    /// Typing notices (each fans out to its conversation): a small budget of their own,
    /// never the member's messages'.
    pub(super) typing: Bucket,
    /// Frames refused for a rate or that made no sense: each takes one; the connection
    /// is closed when none is left. Refills, so old mistakes are forgotten.
    pub(super) violations: Bucket,
    /// Large frames owed to it, sent as its outbox drains.
    pub(super) paced: paced::Queue,
    /// A login the hub answered and that has not proved its password: a guess in flight,
    /// counted as a failure if the connection ends before it does.
    pub(super) guess: Option<login::Guess>,
    /// Whether its login asked for the messages stored for it (a one-shot command does
    /// not: they stay stored for a connection that shows them).
    pub(super) takes_mailbox: bool,
}

impl Conn {
    /// A connection just accepted from `peer`, with full budgets.
    pub(super) fn new(peer: SocketAddr, config: &Config, now: Instant) -> Self {
        Self {
            peer,
            phase: Phase::Handshake,
            contacts_next: None,
            accepted: now,
            last_rx: now,
            last_tx: now,
            frames: Bucket::new(
                limits::FRAME_RATE_PER_SEC.max(config.message_rate),
                limits::FRAME_BURST.max(config.message_burst),
                now,
            ),
            chat: Bucket::new(config.message_rate, config.message_burst, now),
            shares: Bucket::new(limits::SHARE_RATE_PER_SEC, limits::SHARE_BURST, now),
            avatars: Bucket::new(
                limits::AVATAR_REQUESTS_PER_SEC,
                limits::AVATAR_REQUEST_BURST,
                now,
            ),
            profile: Bucket::new(limits::PROFILE_RATE_PER_SEC, 1, now),
            publish: Bucket::new(limits::PROFILE_RATE_PER_SEC, 2, now),
            keys: Bucket::new(limits::KEY_REQUESTS_PER_SEC, limits::KEY_REQUEST_BURST, now),
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
            takes_mailbox: true,
        }
    }

    pub(super) fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready { .. })
    }

    /// Where it comes from, as limits count addresses ([`source`]).
    pub(super) fn source(&self) -> IpAddr {
        source(self.peer.ip())
    }

    pub(super) fn client(&self) -> Option<ClientId> {
        match &self.phase {
            Phase::Handshake | Phase::Relay => None,
            Phase::AwaitStart { client, .. }
            | Phase::AwaitPassword { client, .. }
            | Phase::AwaitFinish { client, .. }
            | Phase::Ready { client } => Some(*client),
        }
    }
}

pub(super) struct Address {
    pub(super) preauth: usize,
    /// New connections from here: a reconnect storm is refused at accept.
    pub(super) connects: Bucket,
    pub(super) backoff: Backoff,
    /// Logins answered from here and not yet finished.
    pub(super) in_flight: u32,
    /// When a member last logged in from here: such an address is spared the global
    /// guessing budget, so others' guessing cannot lock members out.
    pub(super) last_login: Option<Instant>,
}

impl Address {
    pub(super) fn new(config: &Config, now: Instant) -> Self {
        Self {
            preauth: 0,
            connects: Bucket::new(config.connects_per_sec, config.connect_burst, now),
            backoff: Backoff::default(),
            in_flight: 0,
            last_login: None,
        }
    }

    pub(super) fn is_members(&self, now: Instant) -> bool {
        self.last_login
            .is_some_and(|t| now.saturating_duration_since(t) < limits::MEMBER_ADDRESS_TRUST)
    }
}

impl Hub {
    /// A TCP connection arrived from `peer`. Refused when too many logins are unfinished,
    /// from that address or in total; the driver then drops the socket.
    ///
    /// # Errors
    /// [`Refused`] when over a pre-login connection limit.
    pub fn handle_accept(&mut self, peer: SocketAddr, now: Instant) -> Result<ConnId, Refused> {
        let admitted = self.let_in(peer, now);
        if admitted.is_err() {
            self.totals.connections_refused += 1;
        }
        admitted
    }

    fn let_in(&mut self, peer: SocketAddr, now: Instant) -> Result<ConnId, Refused> {
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
        self.conns.insert(conn, Conn::new(peer, &self.config, now));
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
                ClientFrame::LoginRemembered {
                    version,
                    profile,
                    keep_profile,
                    leave_mailbox,
                    known,
                },
            ) => {
                let asks = login::Asks {
                    profile,
                    keep_profile,
                    take_mailbox: !leave_mailbox,
                    known,
                };
                self.login_remembered(conn, client, channel, version, asks, now);
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
                    keep_profile,
                    leave_mailbox,
                    known,
                },
            ) => {
                let answer = login::Finish {
                    finalization: &finalization,
                    binding: &binding,
                    remember,
                    asks: login::Asks {
                        profile,
                        keep_profile,
                        take_mailbox: !leave_mailbox,
                        known,
                    },
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
        if self.conns.contains_key(&conn) {
            self.totals.slow_consumers += 1;
        }
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

    pub(super) fn leave_preauth(&mut self, ip: IpAddr) {
        self.preauth = self.preauth.saturating_sub(1);
        if let Some(a) = self.addresses.get_mut(&ip) {
            a.preauth = a.preauth.saturating_sub(1);
        }
    }

    /// Removes `conn` from every table and tells others if its identity went offline.
    pub(super) fn forget(&mut self, conn: ConnId, now: Instant) {
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
                self.groups_conn_gone(conn, client, now);
                // A page on its way to it goes to another of its connections, if any.
                self.mailboxes.conn_gone(client, conn);
                if let Some(other) = self.directory.get(&client).and_then(|k| k.conns.first()) {
                    self.hand_over(*other, client, now);
                } else if self.has_db {
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

/// An address as the per-address limits count it: an IPv4 address mapped into IPv6 is
/// that IPv4 address. (Not an IPv6 /64: every host of a LAN shares its /64, so one
/// stranger would lock out every IPv6 member.)
fn source(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}
