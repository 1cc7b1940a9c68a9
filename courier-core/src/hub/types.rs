//! The words of the hub's call contract: connection numbers, what the driver could not
//! read, what the hub asks the driver to do, what it reports, and its counters.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::proto::{ClientId, CloseReason, ServerFrame};

/// A connection's number, unique for the life of a [`Hub`](super::Hub).
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
    /// Bytes that do not decode as a [`ClientFrame`](crate::proto::ClientFrame).
    Malformed(crate::proto::DecodeError),
    /// A message over the size limit.
    TooBig,
    /// A WebSocket text message.
    Text,
    /// More than [`crate::limits::MAX_PINGS_PER_SEC`] WebSocket pings in a second.
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
    /// Call [`super::Hub::handle_drained`] for `conn` once what is queued for it so far is
    /// written (or little enough of it is left): the hub sends large frames it owes a
    /// connection (pictures, file offers) a round at a time, as its outbox drains.
    WhenDrained {
        /// The connection.
        conn: ConnId,
    },
    /// Try to open a TCP connection to `addr` (the address `conn` comes from, on the
    /// port it asked about), at most [`crate::limits::REACHBACK_TIMEOUT`], then close it; report
    /// with [`super::Hub::handle_reachback`].
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
    /// Of those, file offers stored until their recipient answers.
    pub stored_offers: usize,
    /// Logins answered that did not succeed (wrong passwords, abandoned guesses), since
    /// start ([`Totals::login_failures`]).
    pub failed_logins: u64,
    /// Contacts remembered, online or not.
    pub known: usize,
    /// Bytes of contacts' pictures kept.
    pub avatar_bytes: usize,
    /// Groups.
    pub groups: usize,
    /// Entries kept in groups' logs for members not handed them yet (one copy each).
    pub group_entries: usize,
    /// Their bytes, as counted against the limits.
    pub group_bytes: usize,
    /// Of those entries, how many are held in memory (with a database, the rest wait on
    /// the disk and are read a page at a time as they are handed over).
    pub group_entries_in_memory: usize,
}

/// Events the hub counted since it started, each in the one place it happens: plain
/// additions in the machine, never a name or a message's content. The driver adds what
/// only it sees ([`Metrics`](super::Metrics)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Direct messages handed to their recipient's live connections (one per message,
    /// however many connections it went to; room key shares are not counted).
    pub messages_routed: u64,
    /// Direct messages stored for an offline recipient (with a database: once written).
    pub messages_stored: u64,
    /// Messages taken into a group's log (delivered live or kept for those away).
    pub group_messages: u64,
    /// File offers the hub passed on or stored (link tests are not counted).
    pub transfers_brokered: u64,
    /// Transfers whose two sides the hub paired for its relay.
    pub transfers_relayed: u64,
    /// Logins that succeeded.
    pub logins: u64,
    /// Logins answered that did not succeed (wrong passwords, abandoned guesses).
    pub login_failures: u64,
    /// Frames refused because their connection was over one of its allowances (chat,
    /// frames, typing, pictures, profiles, keys, offers, shares).
    pub rate_limited: u64,
    /// TCP connections refused at accept ([`Refused`]: too many unfinished logins, or
    /// connecting too fast).
    pub connections_refused: u64,
    /// Connections dropped as too slow to take what was sent to them.
    pub slow_consumers: u64,
}
