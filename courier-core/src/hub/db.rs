//! The hub's database: one SQLite file (`hub.db` in the hub's folder, WAL) holding what
//! the hub must not forget when it stops: its members (profiles with pictures, when
//! they first came and were last seen, how often they came, whether their device is
//! remembered), the messages stored for offline members, the groups (members, positions
//! and the one copy of each log entry some member was not handed), the `delivered` receipts owed
//! to offline senders, the file offers stored for their
//! recipients, the identities the owner banned, and the owner's requests (forget a
//! device, ban, unban, drop) for a running hub to take.
//!
//! The [`Hub`](super::Hub) machine does no I/O: it is given back what was written at
//! start ([`Hub::restore`](super::Hub::restore) with [`Db::backlogs`],
//! [`Hub::restore_member`](super::Hub::restore_member) with [`Db::each_member`],
//! [`Hub::restore_offers`](super::Hub::restore_offers) with [`Db::offers`],
//! [`Hub::restore_bans`](super::Hub::restore_bans) with [`Db::bans`],
//! [`Hub::restore_receipts`](super::Hub::restore_receipts) with [`Db::owed_receipts`]), and hands out
//! [`Record`]s ([`Hub::poll_writes`](super::Hub::poll_writes)) that [`Db::write`]
//! commits. The driver ([`serve`](super::serve)) owns the database on a thread of its
//! own and commits what piled up in one transaction, so the routing path never waits
//! on the disk. `courier hub` commands work on the same file beside a running hub.
//!
//! The schema is versioned (`PRAGMA user_version`) and migrated forward in order; the
//! file is marked as Courier's (`PRAGMA application_id`). A file that is damaged, not a
//! database, another program's, from a newer Courier or read-only is a one-line error
//! naming it; the hub never deletes or overwrites it to start over.
//!
//! Here: the records and [`Db`]; `schema.rs`: the migrations; `write.rs`: the record
//! writer ([`Db::write`]); `read.rs`: what is read back at start and for `courier hub`;
//! `owner.rs`: the owner's requests and what senders left; `groups.rs`: the groups.

mod groups;
mod keys;
mod owner;
mod read;
mod schema;
pub(crate) mod snapshot;
mod stopped;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use crate::proto::{
    ClientId, GroupEntry, GroupId, MsgId, Profile, SealedMessage, Seq, Timestamp, TransferId,
};

pub use self::groups::{StoredEntry, StoredGroup, StoredMember};
pub use self::owner::{Left, OwnerRequests, Request};
pub use self::schema::SCHEMA_VERSION;
pub use self::stopped::Stopped;
pub use crate::sqlite::Error;

/// One member as the hub keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's identity (certificate fingerprint).
    pub id: ClientId,
    /// Its profile, picture included.
    pub profile: Profile,
    /// When it first logged in (`None`: before the hub kept that).
    pub first_seen: Option<Timestamp>,
    /// When it was last online.
    pub last_seen: Timestamp,
    /// How many times it logged in (once: it never came back).
    pub logins: u32,
    /// When its picture last changed (pictures change at most once a minute).
    pub avatar_changed: Option<Timestamp>,
    /// Since when its device may log in without the password (`None`: it may not).
    pub remembered_since: Option<Timestamp>,
    /// When its card last changed, on the directory's mark scale (returning clients are
    /// sent only the cards changed since their mark, also after a restart).
    pub card_mark: crate::proto::Mark,
}

/// A file offer the hub stores until its recipient answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOffer {
    /// The hub's id of the transfer.
    pub id: TransferId,
    /// Who offers.
    pub from: ClientId,
    /// To whom.
    pub to: ClientId,
    /// The names and sizes, sealed to the recipient (shared with the hub, which stores
    /// it).
    pub sealed: Arc<crate::proto::Sealed>,
    /// When it was offered.
    pub created: Timestamp,
}

/// What the hub asks to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// A member joined or changed: keep it as it now is.
    Member(Member),
    /// The hub forgot a member (its directory was full): forget it here too.
    Forget(ClientId),
    /// A member's published keys changed: keep these (newest first), and only these.
    Keys {
        /// The member.
        id: ClientId,
        /// Its bundles.
        bundles: Vec<crate::proto::KeyBundle>,
    },
    /// A message for `to`, who is offline: store it until they acknowledge it. Only
    /// once it is written does the sender hear `stored`.
    Message {
        /// The recipient.
        to: ClientId,
        /// The message, with its sender and time as the hub stamped them (shared with
        /// the hub, which stores it: its text is not copied to be written).
        message: std::sync::Arc<SealedMessage>,
    },
    /// `to` acknowledged these messages (sender, id): forget them.
    Delivered {
        /// The recipient.
        to: ClientId,
        /// Each message's sender and id.
        messages: Vec<(ClientId, MsgId)>,
    },
    /// What `to` is owed now, oldest first: `delivered` receipts for messages it stored
    /// that were taken while it was away (empty: nothing). Replaces what was kept.
    Owed {
        /// The sender the receipts are for.
        to: ClientId,
        /// Its messages' ids.
        ids: Vec<MsgId>,
    },
    /// Not a write: read back the oldest `limit` messages stored for `to` and hand them
    /// to the hub ([`Hub::handle_loaded`](super::Hub::handle_loaded)). Fetches run after
    /// every other record of the same [`Db::write`], so they see what it wrote and not
    /// what it delivered. The backlog for offline contacts stays on the disk; a page
    /// comes up as it is handed over.
    Fetch {
        /// The recipient.
        to: ClientId,
        /// At most this many.
        limit: usize,
    },
    /// Forget every stored message stamped before `before` (older than the hub stores
    /// them); what was forgotten goes back to the hub.
    Expire {
        /// The cut-off.
        before: Timestamp,
    },
    /// Forget every stored message to a recipient (a member that never came back), or
    /// from a sender (the owner dropped what a member left); what was forgotten goes
    /// back to the hub like an [`Record::Expire`]'s.
    Drop(Whose),
    /// Store a file offer until its recipient answers it.
    Offer(StoredOffer),
    /// The offer was answered, withdrawn or is too old: forget it.
    OfferGone(TransferId),
    /// A group was created or changed: keep its row as it now is.
    Group {
        /// Its id.
        id: GroupId,
        /// Its name.
        name: String,
        /// Who created it.
        created_by: ClientId,
        /// Its newest position.
        last: Seq,
    },
    /// A member of a group joined or changed (role, positions): keep it as it now is.
    GroupMember {
        /// The group.
        group: GroupId,
        /// The member.
        member: StoredMember,
    },
    /// A member is no longer in a group.
    GroupMemberGone {
        /// The group.
        group: GroupId,
        /// The member.
        member: ClientId,
    },
    /// An entry of a group's log that some member has not been handed: one copy for all
    /// of them. A message's sender hears `stored` once it is written.
    GroupEntry {
        /// The group.
        group: GroupId,
        /// Who wrote it (for a change: who made it).
        from: ClientId,
        /// The entry (shared with the hub, which keeps it too).
        entry: std::sync::Arc<GroupEntry>,
    },
    /// Every member was handed a group's log up to here: forget its entries up to it.
    GroupForget {
        /// The group.
        group: GroupId,
        /// The position.
        upto: Seq,
    },
    /// These entries of a group's log were forgotten (pushed out, or too old).
    GroupDrop {
        /// The group.
        group: GroupId,
        /// Their positions.
        seqs: Vec<Seq>,
    },
    /// A group's last member left: forget it, its members and its log.
    GroupGone(GroupId),
    /// The hub is stopping: who was online ([`Db::take_stopped`] at the next start).
    Stopped(Stopped),
    /// Not a write: read back up to `limit` entries of a group's log after a position
    /// and hand them to the hub ([`Written::group_pages`]), which keeps a group's log
    /// on the disk and reads a page as it hands it over.
    GroupFetch {
        /// The group.
        group: GroupId,
        /// The entries after this position.
        after: Seq,
        /// At most this many.
        limit: usize,
    },
}

/// Which stored messages a [`Record::Drop`] means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// Every message stored for this recipient.
    To(ClientId),
    /// Every message stored from this sender.
    From(ClientId),
}

/// What a [`Db::write`] read or forgot for the hub.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// Each [`Record::Fetch`]'s page.
    pub loaded: Vec<Loaded>,
    /// What [`Record::Expire`] and [`Record::Drop`] forgot, per recipient and sender.
    pub expired: Vec<Backlog>,
    /// Each [`Record::GroupFetch`]'s entries: the group and its entries, oldest first.
    pub group_pages: Vec<(GroupId, Vec<GroupEntry>)>,
}

/// A page of the backlog read for [`Record::Fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The recipient.
    pub to: ClientId,
    /// Its oldest messages.
    pub messages: Vec<SealedMessage>,
    /// How many more wait after them.
    pub remaining: usize,
}

/// What waits on the disk for one offline contact from one sender (read at start,
/// instead of the messages themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// The recipient.
    pub to: ClientId,
    /// The sender.
    pub from: ClientId,
    /// How many messages.
    pub count: usize,
    /// Their envelopes' bytes (sealed texts).
    pub bytes: usize,
}

/// An open hub database. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Db {
    inner: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Db {
    /// Opens the database at `path`, creating it if it does not exist and migrating an
    /// older schema forward.
    ///
    /// # Errors
    /// See [`Error`]: damaged, foreign, newer and read-only files are refused and left
    /// untouched.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let conn = crate::sqlite::open(path, &schema::SCHEMA)?;
        schema::after_sealing(&conn, path)?;
        Ok(Self {
            inner: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests;
