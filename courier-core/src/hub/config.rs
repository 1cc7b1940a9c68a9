//! The hub's settings, with their defaults from [`crate::limits`].

use std::time::Duration;

#[cfg(feature = "test-util")]
use super::ConnId;
use super::db::Db;
use super::observe::{Inbox, Observer};
use crate::auth::HubSecret;
use crate::identity::Identity;
use crate::limits;

/// Hub settings. [`Config::new`] gives the defaults from [`crate::limits`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The hub's certificate and key (its fingerprint is the safety code).
    pub identity: Identity,
    /// The OPAQUE record of the hub password.
    pub secret: HubSecret,
    /// Send a heartbeat after this long without sending.
    pub heartbeat_interval: Duration,
    /// Drop a connection after this long without receiving.
    pub heartbeat_timeout: Duration,
    /// TCP → TLS → WebSocket → login must finish within this.
    pub login_deadline: Duration,
    /// Most logged-in connections.
    pub max_clients: usize,
    /// Most connections in handshake or login from one address.
    pub max_preauth_per_ip: usize,
    /// Most connections in handshake or login in total.
    pub max_preauth_total: usize,
    /// New connections per second from one address.
    pub connects_per_sec: u32,
    /// New connections from one address at once.
    pub connect_burst: u32,
    /// Frames queued towards one client before it is dropped as too slow.
    pub outbox_frames: usize,
    /// Bytes queued towards one client before it is dropped as too slow.
    pub outbox_bytes: usize,
    /// Bytes queued towards all clients together; over it, the client holding the most
    /// is dropped.
    pub outbox_total: usize,
    /// A client whose writer made no progress for this long while frames waited is
    /// dropped as too slow.
    pub outbox_stall: Duration,
    /// Contacts (online or seen before) the hub remembers.
    pub max_known: usize,
    /// Bytes of contacts' pictures the hub keeps.
    pub avatars_total: usize,
    /// Messages stored for one offline contact.
    pub mailbox: usize,
    /// Bytes of messages stored for one offline contact.
    pub mailbox_bytes: usize,
    /// Bytes of messages stored for all offline contacts together, in memory (a hub
    /// without a database).
    pub offline_total_bytes: usize,
    /// Bytes of messages stored for all offline contacts together on the disk (a hub
    /// with a database stores them there).
    pub offline_disk_bytes: usize,
    /// Messages and file offers stored for an offline contact longer than this are
    /// forgotten.
    pub offline_max_age: Duration,
    /// File offers stored for one recipient (and from one sender) until answered.
    pub stored_offers: usize,
    /// An identity first seen less than this long ago is new: its messages for offline
    /// members share the newcomers' room ([`limits::NEWCOMER`]; zero: nobody is new).
    pub newcomer_age: Duration,
    /// The most members a group has.
    pub group_members: usize,
    /// The most groups one member is in.
    pub groups_per_member: usize,
    /// The most groups one member created that still exist.
    pub groups_created: usize,
    /// Bytes every group's log together keeps for members not handed them yet
    /// ([`limits::GROUP_LOGS_TOTAL_BYTES`]); one sender holds at most
    /// 1/[`limits::OFFLINE_SENDER_SHARE`] of it, across all its groups.
    pub group_logs_total: usize,
    /// Sustained chat frames per second per connection.
    pub message_rate: u32,
    /// Chat frames a connection may send in a burst above the rate.
    pub message_burst: u32,
    /// Seed for the hub's random numbers; `None` seeds from the operating system.
    pub rng_seed: Option<[u8; 32]>,
    /// Whether the hub pipes transfers whose peers cannot reach each other directly.
    pub relay: bool,
    /// How long a transfer ticket stays valid.
    pub ticket_ttl: Duration,
    /// Where the hub keeps its members across restarts ([`Home::database`]); `None`:
    /// it forgets them when it stops.
    ///
    /// [`Home::database`]: super::home::Home::database
    pub db: Option<Db>,
    /// Test hook: receives a copy of every message the hub relays, with the connection
    /// it came from, so tests can check that it only ever sees the peers' TLS records.
    #[cfg(feature = "test-util")]
    pub relay_tap: Option<async_channel::Sender<(ConnId, Vec<u8>)>>,
    /// Where the serve loop answers its [`Observer`]s ([`Config::observe`]).
    pub(super) observed: Option<Inbox>,
}

impl Config {
    /// Defaults for a hub with this identity and password record.
    pub fn new(identity: Identity, secret: HubSecret) -> Self {
        Self {
            identity,
            secret,
            heartbeat_interval: limits::HEARTBEAT_INTERVAL,
            heartbeat_timeout: limits::HEARTBEAT_TIMEOUT,
            login_deadline: limits::LOGIN_DEADLINE,
            max_clients: limits::MAX_CLIENTS,
            max_preauth_per_ip: limits::MAX_PREAUTH_PER_IP,
            max_preauth_total: limits::MAX_PREAUTH_TOTAL,
            connects_per_sec: limits::CONNECTS_PER_SEC,
            connect_burst: limits::CONNECT_BURST,
            outbox_frames: limits::OUTBOX_FRAMES,
            outbox_bytes: limits::OUTBOX_BYTES,
            outbox_total: limits::OUTBOX_TOTAL,
            outbox_stall: limits::OUTBOX_STALL,
            max_known: limits::MAX_KNOWN_CONTACTS,
            avatars_total: limits::AVATARS_TOTAL,
            mailbox: limits::MAILBOX,
            mailbox_bytes: limits::MAILBOX_BYTES,
            offline_total_bytes: limits::OFFLINE_TOTAL_BYTES,
            offline_disk_bytes: limits::OFFLINE_DISK_BYTES,
            offline_max_age: limits::OFFLINE_MAX_AGE,
            newcomer_age: limits::NEWCOMER,
            stored_offers: limits::STORED_OFFERS,
            group_members: limits::GROUP_MEMBERS,
            groups_per_member: limits::GROUPS_PER_MEMBER,
            groups_created: limits::GROUPS_CREATED,
            group_logs_total: limits::GROUP_LOGS_TOTAL_BYTES,
            message_rate: limits::MESSAGE_RATE_PER_SEC,
            message_burst: limits::MESSAGE_BURST,
            rng_seed: None,
            relay: true,
            ticket_ttl: limits::TICKET_TTL,
            db: None,
            #[cfg(feature = "test-util")]
            relay_tap: None,
            observed: None,
        }
    }

    /// A handle to look at the hub this config runs ([`Observer::metrics`],
    /// [`Observer::online`]), from any task while [`serve`](super::serve) runs. Ask
    /// before serving; asking again replaces the earlier handle (which then gets no
    /// answers).
    pub fn observe(&mut self) -> Observer {
        let (observer, inbox) = super::observe::pair();
        self.observed = Some(inbox);
        observer
    }
}
