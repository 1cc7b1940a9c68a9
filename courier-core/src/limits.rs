//! Every bound Courier enforces, in one place. Each constant has a test that
//! exercises it (see the module that enforces it).

use std::time::Duration;

/// Largest WebSocket message (and frame) the hub accepts from a client, and a client
/// from the hub. An avatar of [`MAX_AVATAR`] bytes plus its envelope fits.
pub const MAX_MESSAGE: usize = 512 * 1024;
/// tungstenite's read buffer per connection: small, so that idle clients are cheap.
pub const WS_READ_BUFFER: usize = 4 * 1024;
/// Most bytes tungstenite may queue for one connection before writes fail.
pub const WS_MAX_WRITE_BUFFER: usize = 1024 * 1024;
/// Deepest CBOR nesting any decoder accepts.
pub const CBOR_RECURSION_LIMIT: usize = 16;
/// Longest chat text, in bytes.
pub const MAX_TEXT: usize = 64 * 1024;
/// Longest display name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest status text, in bytes.
pub const MAX_STATUS_TEXT: usize = 256;
/// Largest avatar image, in bytes.
pub const MAX_AVATAR: usize = 256 * 1024;
/// The whole TCP → TLS → WebSocket → login sequence must finish within this.
pub const LOGIN_DEADLINE: Duration = Duration::from_secs(10);
/// Send a heartbeat after this long without sending anything.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// Drop a connection after this long without receiving anything.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(45);
/// WebSocket pings a client may send per second before it is closed (1008).
pub const MAX_PINGS_PER_SEC: u32 = 10;
/// Connections still in handshake or login, from one source address.
pub const MAX_PREAUTH_PER_IP: usize = 32;
/// Connections still in handshake or login, in total.
pub const MAX_PREAUTH_TOTAL: usize = 256;
/// Unfinished logins beyond [`MAX_PREAUTH_TOTAL`] for addresses where a member logged
/// in lately: strangers filling the total cannot keep members out.
pub const MEMBER_PREAUTH_RESERVE: usize = 64;
/// Of those, how many one address may hold (so that one member cannot take them all).
pub const MEMBER_PREAUTH_RESERVE_PER_ADDRESS: usize = 4;
/// Logged-in connections the hub holds at once.
pub const MAX_CLIENTS: usize = 20_000;
/// Contacts (online or previously seen) the hub remembers.
pub const MAX_KNOWN_CONTACTS: usize = 100_000;
/// Bytes of contacts' pictures the hub keeps (offline contacts' are dropped first).
pub const AVATARS_TOTAL: usize = 16 * 1024 * 1024;
/// Frames queued from the hub to one client; past it that client is dropped as a slow
/// consumer. High, because a burst of small broadcasts is not slowness: bytes and time
/// are what tell a client that does not read.
pub const OUTBOX_FRAMES: usize = 8192;
/// Bytes queued from the hub to one client; past it that client is dropped.
pub const OUTBOX_BYTES: usize = 1024 * 1024;
/// Bytes queued from the hub to all clients together; past it the client holding the
/// most is dropped.
pub const OUTBOX_TOTAL: usize = 128 * 1024 * 1024;
/// Bytes of large frames (pictures, file offers) the hub sends a connection in one
/// round; the next round waits until its outbox has drained.
pub const PACED_ROUND: usize = 128 * 1024;
/// Large frames one connection may be owed at once (pictures asked for, offers waiting
/// to be handed over).
pub const PACED_QUEUE: usize = 1024;
/// A connection's outbox has drained, for pacing, once it holds no more than this.
pub const PACED_LOW_MARK: usize = 128 * 1024;
/// A client whose connection takes nothing for this long while frames wait for it is
/// dropped as a slow consumer.
pub const OUTBOX_STALL: Duration = Duration::from_secs(15);
/// Presence changes (joins, leaves, profile edits) are batched for this long, so that N
/// clients joining cost O(N) frames per batch instead of O(N²) single frames.
pub const PRESENCE_BATCH: Duration = Duration::from_millis(100);
/// Contact cards per presence batch; more wait for the next batch.
pub const PRESENCE_BATCH_CARDS: usize = 256;
/// Contacts per frame in contact lists. Small, because tungstenite keeps its write buffer
/// at the size of the largest frame a connection ever sent; the client pulls each next
/// page, so a contact list of any length costs one page of memory at a time.
pub const CONTACT_PAGE: usize = 16;
/// Contacts per page of a returning client's contact list
/// ([`crate::proto::ServerFrame::Roster`]), and per frame of whereabouts in a presence
/// batch ([`crate::proto::ServerFrame::Seen`]): 41 bytes each, about 10 KiB a frame (a
/// page also holds at most [`CONTACT_PAGE`] cards).
pub const ROSTER_PAGE: usize = 256;
/// Events a client holds back while its contact list comes in (messages and news that
/// arrive between pages); past it the hub is misbehaving and the connection ends.
pub const HELD_EVENTS: usize = 65_536;
/// Messages stored for one offline recipient.
pub const MAILBOX: usize = 256;
/// The most members a group has (the hub's default; `--group-members`).
pub const GROUP_MEMBERS: usize = 256;
/// The most groups one member is in (the hub's default; `--groups-per-member`).
pub const GROUPS_PER_MEMBER: usize = 64;
/// The most groups one member has created and that still exist (the hub's default;
/// `--groups-created`).
pub const GROUPS_CREATED: usize = 16;
/// The most groups in one [`crate::proto::ServerFrame::Groups`] page.
pub const GROUP_PAGE: usize = 8;
/// Entries a group's log keeps for members who have not been handed them yet (members
/// away, or not taking them); past it, the oldest are forgotten (those members miss them).
pub const GROUP_LOG: usize = 4096;
/// Bytes of texts a group's log keeps for members who have not been handed them yet.
pub const GROUP_LOG_BYTES: usize = 4 * 1024 * 1024;
/// One sender may fill this fraction of a group's log (1/4): past it, its own oldest
/// entry makes room, never the others'.
pub const GROUP_SENDER_SHARE: usize = 4;
/// Bytes of every group's log together (on top of [`OFFLINE_TOTAL_BYTES`], which counts
/// direct messages only); past it, the group with the largest log forgets its oldest.
pub const GROUP_LOGS_TOTAL_BYTES: usize = 64 * 1024 * 1024;
/// Entries per [`crate::proto::ServerFrame::GroupPage`].
pub const GROUP_PAGE_ENTRIES: usize = 256;
/// Bytes of texts per group page (a page holds at least one entry).
pub const GROUP_PAGE_BYTES: usize = 256 * 1024;
/// Bytes of messages stored for one offline recipient.
pub const MAILBOX_BYTES: usize = 4 * 1024 * 1024;
/// Bytes of messages stored for all offline recipients together, in memory (a hub
/// without a database).
pub const OFFLINE_TOTAL_BYTES: usize = 32 * 1024 * 1024;
/// Messages stored for one offline recipient by a hub with a database (on the disk).
pub const MAILBOX_ON_DISK: usize = 10_000;
/// Bytes of messages stored for all offline recipients together on the disk.
pub const OFFLINE_DISK_BYTES: usize = 1024 * 1024 * 1024;
/// What waits for a member that logged in once and never came back is forgotten after
/// this long (not [`OFFLINE_MAX_AGE`]) while the room for stored messages is more than half
/// full: throwaway identities do not hold the hub's room for a month.
pub const NEVER_CAME_BACK: Duration = Duration::from_secs(3 * 24 * 3600);
/// One sender may fill this fraction of a recipient's mailbox (1/4): others can still
/// write to someone one member flooded.
pub const OFFLINE_PAIR_SHARE: usize = 4;
/// One sender may fill this fraction of the hub's room for stored messages (1/16).
pub const OFFLINE_SENDER_SHARE: usize = 16;
/// New identities ([`NEWCOMER`] old at most) may fill this fraction of the hub's room
/// together (1/4), one of them a sixteenth of that: throwaway identities made for a
/// flood leave three quarters to members.
pub const OFFLINE_NEWCOMERS_SHARE: usize = 4;
/// New identities together may fill this fraction of one recipient's mailbox (1/2), in
/// messages and bytes: four of them cannot leave a member unreachable to members.
pub const OFFLINE_NEWCOMERS_MAILBOX_SHARE: usize = 2;
/// An identity first seen less than this long ago is new: it shares the newcomers' room.
pub const NEWCOMER: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a message waits for an offline recipient before it is forgotten.
pub const OFFLINE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
/// `delivered` receipts the hub keeps for one offline sender (its stored messages that
/// were taken while it was away), handed over at its next login; past it, the oldest are
/// dropped (those messages still show `stored` to their sender).
pub const OWED_RECEIPTS: usize = 256;
/// `delivered` receipts the hub keeps for all offline senders together (1024 senders'
/// worth, a few MiB): past it, the sender owed the most loses its oldest.
pub const OWED_RECEIPTS_TOTAL: usize = 1024 * OWED_RECEIPTS;
/// Messages per page when a mailbox is handed over at login.
pub const MAILBOX_PAGE: usize = 256;
/// Bytes per page when a mailbox is handed over (a page holds at least one message).
pub const MAILBOX_PAGE_BYTES: usize = 256 * 1024;
/// Sustained rate of chat messages per connection.
pub const MESSAGE_RATE_PER_SEC: u32 = 20;
/// Burst of chat messages allowed above the sustained rate.
pub const MESSAGE_BURST: u32 = 50;
/// Room key shares ([`crate::proto::Share`]) per second per connection, refilled: an
/// allowance of their own, never the chat messages'.
pub const SHARE_RATE_PER_SEC: u32 = 64;
/// Room key shares a connection may send at once: a whole group of
/// [`GROUP_MEMBERS`] four times over (a first message to a few large rooms).
pub const SHARE_BURST: u32 = 4 * GROUP_MEMBERS as u32;
/// Most shares in one [`crate::proto::ClientFrame::Shares`]: one per group member.
pub const SHARES_PER_FRAME: usize = GROUP_MEMBERS;
/// Frames of any kind per second per connection after login (every frame costs one).
pub const FRAME_RATE_PER_SEC: u32 = 100;
/// Frames of any kind a connection may send in a burst above that rate.
pub const FRAME_BURST: u32 = 200;
/// Avatars the hub sends one connection per second.
pub const AVATAR_REQUESTS_PER_SEC: u32 = 10;
/// Avatars it may ask for at once (an app asks for every contact's at login).
pub const AVATAR_REQUEST_BURST: u32 = 100;
/// Key bundle requests ([`crate::proto::ClientFrame::GetKeys`]) per second per connection.
pub const KEY_REQUESTS_PER_SEC: u32 = 20;
/// Key bundle requests at once (a first message to a large group asks for every member's).
pub const KEY_REQUEST_BURST: u32 = 200;
/// A member's picture changes at most this often: every change costs every other member
/// a download.
pub const AVATAR_CHANGE_EVERY: Duration = Duration::from_secs(60);
/// New connections per second from one address (a reconnect storm is refused at accept).
pub const CONNECTS_PER_SEC: u32 = 20;
/// New connections from one address at once.
pub const CONNECT_BURST: u32 = 100;
/// Frames refused by the rate limiter before the hub disconnects the client (less those
/// forgotten meanwhile).
pub const RATE_VIOLATIONS_BEFORE_CLOSE: u32 = 100;
/// Refused frames the hub forgets per second: a client that once went over a limit is
/// not closed for it minutes later.
pub const RATE_VIOLATIONS_FORGOTTEN_PER_SEC: u32 = 1;
/// Read marks wait this long to be sent, so that a batch of messages read costs one
/// mark per contact ("read up to here").
pub const READ_MARK_BATCH: Duration = Duration::from_millis(300);
/// Typing notices per second per connection (a client sends one every few seconds).
pub const TYPING_PER_SEC: u32 = 2;
/// Typing notices at once.
pub const TYPING_BURST: u32 = 10;
/// Profile updates per second per connection.
pub const PROFILE_RATE_PER_SEC: u32 = 1;
/// Failed logins from one address before the hub starts backing off.
pub const LOGIN_FAILURES_FREE: u32 = 3;
/// First backoff after [`LOGIN_FAILURES_FREE`] failures; doubles per failure.
pub const LOGIN_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest login backoff.
pub const LOGIN_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Logins the hub answers per minute from addresses with no member logged in lately
/// (each answer lets a guesser test one password): the global guessing budget. A login
/// takes from it when answered and gives back when the password proves right, so only
/// failures (wrong, abandoned) spend it.
pub const LOGIN_GUESSES_PER_MIN: u32 = 30;
/// Of those, how many may come at once.
pub const LOGIN_GUESS_BURST: u32 = 30;
/// Logins answered and not yet finished, at once, from one address with no recent
/// failure (8 commands or apps logging in together); each failure still remembered
/// leaves one fewer, down to one at a time.
pub const LOGIN_IN_FLIGHT_PER_ADDRESS: u32 = 8;
/// While the global budget is spent, an address with no recent failure (a new member) is
/// still answered outside it, this many logins at a time: others' guessing cannot lock it
/// out, and a guessing address gets this many guesses past the budget before its
/// failure makes it wait for the budget (failures are forgotten after 10 minutes).
pub const LOGIN_IN_FLIGHT_FRESH: u32 = 1;
/// An address where a member logged in is spared the global budget for this long.
pub const MEMBER_ADDRESS_TRUST: Duration = Duration::from_secs(24 * 3600);
/// How long the hub waits for a client's port to answer a reach-back check.
pub const REACHBACK_TIMEOUT: Duration = Duration::from_secs(2);
/// Reach-back checks one connection may ask for a minute.
pub const REACHBACKS_PER_MIN: u32 = 6;
/// Of those, how many at once.
pub const REACHBACK_BURST: u32 = 3;
/// Reach-back checks the hub runs at once, for everyone together.
pub const REACHBACKS_AT_ONCE: usize = 16;
/// Client reconnect backoff: first delay.
pub const RECONNECT_MIN: Duration = Duration::from_millis(500);
/// Client reconnect backoff: longest delay.
pub const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// After a hub said it is shutting down (most likely restarting), clients keep retrying
/// every [`RECONNECT_MIN`] (with jitter) for this long before backing off further.
pub const RESTART_GRACE: Duration = Duration::from_secs(20);

/// Files and folders in one offer.
pub const MAX_OFFER_FILES: usize = 1000;
/// Longest relative path in an offer, in bytes.
pub const MAX_OFFER_PATH: usize = 1024;
/// Largest offer (names and sizes, CBOR-encoded): far below [`MAX_MESSAGE`] and
/// [`OUTBOX_BYTES`], so that the hub's forwarded offer, with its envelope and addresses,
/// always reaches the recipient whole, and a few at once never fill its outbox.
pub const MAX_MANIFEST_BYTES: usize = 128 * 1024;
/// Addresses a peer may announce for one transfer.
pub const MAX_ADDRS: usize = 16;
/// Offers of one sender waiting for an answer.
pub const MAX_PENDING_OFFERS: usize = 8;
/// Offers to one receiver waiting for an answer.
pub const MAX_PENDING_PER_RECEIVER: usize = 16;
/// Offers per second one connection may make (burst [`MAX_PENDING_OFFERS`]).
pub const OFFER_RATE_PER_SEC: u32 = 2;
/// File offers stored at the hub for one recipient (and from one sender) until answered.
pub const STORED_OFFERS: usize = 100;
/// Bytes of stored offers' names and sizes one sender may have stored: a sixteenth of the
/// hub's room, so that one member cannot fill it for everyone.
pub const STORED_OFFERS_SENDER_BYTES: usize = STORED_OFFERS_BYTES / 16;
/// A stored offer whose sender has not been online for this long is forgotten (only its
/// sender can send the files; the app offers them again when it comes back).
pub const STORED_OFFER_SENDER_AWAY: Duration = Duration::from_secs(7 * 24 * 3600);
/// File offers stored at the hub, for the whole hub (tiny offers would otherwise be
/// bounded only by their bytes).
pub const STORED_OFFERS_TOTAL: usize = 10_000;
/// Bytes of stored offers' names and sizes, for the whole hub (they are in its memory).
pub const STORED_OFFERS_BYTES: usize = 32 << 20;
/// A ticket is good for this long after the hub minted it.
pub const TICKET_TTL: Duration = Duration::from_secs(60);
/// A transfer that moves no byte for this long is aborted.
pub const PROGRESS_DEADLINE: Duration = Duration::from_secs(30);
/// How long each side waits for a direct connection before trying the next way.
pub const DIRECT_WAIT: Duration = Duration::from_secs(3);
/// Largest frame payload on a transfer link (checked from its header): a data chunk
/// plus room.
pub const MAX_LINK_MESSAGE: usize = 512 * 1024;
/// Bytes of file data per data frame on a transfer link.
pub const CHUNK: usize = 256 * 1024;
/// Largest control frame payload on a transfer link (checked from its header): the
/// largest control message is a `Hello` for a whole offer, [`MAX_OFFER_FILES`] offsets
/// of at most 9 bytes each; this is nearly twice that.
pub const MAX_LINK_CONTROL: usize = 16 * 1024;
/// Largest frame payload on a transfer link before the knock is accepted (the knock, a
/// ticket and a digest, or the answer to it): the peer has proved nothing yet.
pub const MAX_LINK_KNOCK: usize = 256;
/// A link test (`courier doctor --peer`) sends data for this long on each way.
pub const LINK_TEST_RUN: Duration = Duration::from_secs(2);
/// A link test gives each way this long to connect.
pub const LINK_TEST_CONNECT: Duration = Duration::from_secs(3);
/// The side answering a link test ends it after this long connected, whatever the
/// prober does.
pub const LINK_TEST_MAX_TIME: Duration = Duration::from_secs(10);
/// Link tests a session answers per minute; past that (or while one runs and another
/// waits) they are declined.
pub const LINK_TESTS_PER_MINUTE: usize = 10;
/// Data one link test may carry: the prober stops there (a 1 Gbit/s link is measured in
/// about 2 s), and the answering side cuts a test that goes past it.
pub const LINK_TEST_MAX_BYTES: u64 = 256 << 20;
/// Messages one link test may carry (its data in whole chunks, its pings and the rest):
/// a flood of tiny messages costs the answering side little more than the data would.
pub const LINK_TEST_MAX_MESSAGES: u64 = LINK_TEST_MAX_BYTES / CHUNK as u64 + 64;
/// Data a session takes in link tests in a minute, whoever probes: a test is declined
/// when the last minute's tests and a whole new one would pass it.
pub const LINK_TEST_BYTES_PER_MINUTE: u64 = 4 * LINK_TEST_MAX_BYTES;
/// Connections the answering side of a direct link test makes: to the address the hub
/// sees the prober at, on as many of the ports it listed.
pub const LINK_TEST_DIALS: usize = 4;
/// Link tests one prober may have answered a minute (a `doctor --peer` run takes two):
/// its share of [`LINK_TESTS_PER_MINUTE`].
pub const LINK_TESTS_PER_PROBER: usize = 3;
/// Data one prober's link tests may push in a minute: its share of
/// [`LINK_TEST_BYTES_PER_MINUTE`].
pub const LINK_TEST_BYTES_PER_PROBER: u64 = 2 * LINK_TEST_MAX_BYTES;
/// Free space the receiver keeps beyond the offer's size.
pub const FREE_SPACE_MARGIN: u64 = 64 * 1024 * 1024;
