//! Frame types: everything a client and the hub say to each other.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::envelope::{SealedMessage, SealedOffer};
use super::group::{Group, GroupEntry, GroupEvent, GroupId, GroupOutcome, Seq};
use super::id::{ClientId, MsgId, Timestamp};
use super::keys::{KeyBundle, KeyId, Sealed};
use super::transfer::{
    Declined, LinkTest, OfferRefusal, Ticket, TicketInfo, TransferEnd, TransferId,
};

/// Where a message goes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum Target {
    /// One contact.
    Client(ClientId),
    /// Everyone online.
    Everyone,
    /// The members of a group.
    Group(GroupId),
}

/// Availability shown next to a contact.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum Presence {
    /// Ready to chat.
    #[default]
    Available,
    /// Away from the keyboard.
    Away,
    /// Do not disturb.
    Busy,
}

/// What a client tells others about itself. Display-only: never used for routing.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct Profile {
    /// Display name (see [`crate::limits::MAX_NAME_BYTES`]).
    pub name: String,
    /// Availability.
    pub presence: Presence,
    /// Free status text (see [`crate::limits::MAX_STATUS_TEXT`]).
    pub status: String,
    /// Avatar image bytes, possibly empty (see [`crate::limits::MAX_AVATAR`]).
    #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_bytes))]
    pub avatar: ByteBuf,
}

#[cfg(any(test, feature = "arbitrary"))]
pub(super) fn arbitrary_bytes(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<ByteBuf> {
    Ok(ByteBuf::from(<Vec<u8> as arbitrary::Arbitrary>::arbitrary(
        u,
    )?))
}

impl Profile {
    /// A profile with just a name.
    pub fn with_name(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// SHA-256 of an avatar image: contact lists carry this, and clients fetch the bytes on
/// demand ([`ClientFrame::GetAvatar`]), so lists stay small whatever the avatars weigh.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct AvatarId(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl AvatarId {
    /// The id of these avatar bytes, or `None` for no avatar.
    pub fn of(bytes: &[u8]) -> Option<Self> {
        use sha2::Digest;
        #[cfg(test)]
        HASHED.with(|n| n.set(n.get() + usize::from(!bytes.is_empty())));
        (!bytes.is_empty()).then(|| Self(sha2::Sha256::digest(bytes).into()))
    }
}

#[cfg(test)]
thread_local! {
    /// Pictures hashed on this thread (tests count what a code path costs).
    pub(crate) static HASHED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The part of a profile the hub shares in contact lists.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactCard {
    /// Display name.
    pub name: String,
    /// Availability.
    pub presence: Presence,
    /// Status text.
    pub status: String,
    /// The avatar's id, if the contact has one.
    pub avatar: Option<AvatarId>,
    /// The id of the sealing key of the contact's newest published [`KeyBundle`]: when it
    /// changes, clients fetch the bundles again ([`ClientFrame::GetKeys`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeyId>,
}

impl From<&Profile> for ContactCard {
    fn from(p: &Profile) -> Self {
        Self {
            name: p.name.clone(),
            presence: p.presence,
            status: p.status.clone(),
            avatar: AvatarId::of(&p.avatar),
            keys: None,
        }
    }
}

/// A contact as the hub shares it: identity, card and whether it is online.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// The contact's certificate fingerprint.
    pub id: ClientId,
    /// What the contact says about itself (avatar by id).
    pub profile: ContactCard,
    /// Whether at least one of its connections is logged in.
    pub online: bool,
    /// When the hub last heard from it.
    pub last_seen: Timestamp,
}

/// A chat message as the session hands it up, opened: the sender and time are stamped
/// by the hub. On the wire it is a [`SealedMessage`].
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// The sender's id for this message.
    pub id: MsgId,
    /// Who sent it (from the TLS handshake of the sender's connection).
    pub from: ClientId,
    /// Where it was addressed.
    pub to: Target,
    /// The text.
    pub text: String,
    /// When the hub accepted it.
    pub time: Timestamp,
    /// For a message to a group: its position in the group's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
}

/// For fields that are left out of the encoding when false (as older clients sent them).
#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
const fn is_false(b: &bool) -> bool {
    !*b
}

/// Frames a client sends to the hub.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum ClientFrame {
    /// First frame: protocol version and the OPAQUE credential request (KE1).
    LoginStart {
        /// [`super::PROTOCOL_VERSION`] of the client.
        version: u32,
        /// Serialized OPAQUE `CredentialRequest`.
        #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_bytes))]
        request: ByteBuf,
    },
    /// Second frame: OPAQUE finalization (KE3), channel binding, and the client's profile.
    LoginFinish {
        /// Serialized OPAQUE `CredentialFinalization`.
        #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_bytes))]
        finalization: ByteBuf,
        /// HMAC over the TLS exporter keyed by the OPAQUE session key.
        #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_bytes))]
        binding: ByteBuf,
        /// The profile to show to others.
        profile: Profile,
        /// Asks the hub to remember this device (its certificate), so that its next
        /// logins need no password ([`ClientFrame::LoginRemembered`]).
        remember: bool,
        /// Keep the profile the hub knows this client by; `profile` is only for a client
        /// the hub does not know yet. (A one-shot command given no name renames nobody.)
        #[serde(default, skip_serializing_if = "is_false")]
        keep_profile: bool,
        /// Do not hand over the messages stored for this client: they stay stored, for a
        /// connection that shows messages. (A one-shot command takes nobody's mail.)
        #[serde(default, skip_serializing_if = "is_false")]
        leave_mailbox: bool,
        /// The mark up to which this client holds the hub's contact list (from its last
        /// connection): the hub then sends only what changed since
        /// ([`ServerFrame::Roster`] pages). `None`: send the whole list.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        known: Option<super::Mark>,
    },
    /// First frame, instead of [`ClientFrame::LoginStart`], from a device the hub
    /// remembers: the TLS handshake proved the device's certificate, and that is the
    /// login. A hub that does not remember it answers
    /// [`LoginRejection::NotRemembered`] and waits for a `LoginStart`.
    LoginRemembered {
        /// [`super::PROTOCOL_VERSION`] of the client.
        version: u32,
        /// The profile to show to others.
        profile: Profile,
        /// As in [`ClientFrame::LoginFinish`].
        #[serde(default, skip_serializing_if = "is_false")]
        keep_profile: bool,
        /// As in [`ClientFrame::LoginFinish`].
        #[serde(default, skip_serializing_if = "is_false")]
        leave_mailbox: bool,
        /// As in [`ClientFrame::LoginFinish`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        known: Option<super::Mark>,
    },
    /// The client could not open the hub's login answer: its password is wrong.
    LoginAbort,
    /// A chat message, sealed.
    Send {
        /// Sender-chosen id, echoed in the receipt.
        id: MsgId,
        /// Recipient.
        to: Target,
        /// The envelope: not empty, at most [`super::MAX_SEALED_TEXT`] bytes.
        sealed: Sealed,
    },
    /// Room key shares, each routed like a direct [`ClientFrame::Send`] to its member
    /// and answered by its own [`ServerFrame::Receipt`]: at most
    /// [`super::MAX_SHARES`] items, each well formed ([`super::Share::is_well_formed`]),
    /// else the whole frame is refused. An allowance of their own, not the chat one.
    Shares {
        /// The shares, at most [`super::MAX_SHARES`].
        items: Vec<super::Share>,
    },
    /// This device's public keys, signed by its certificate key: sent right after
    /// [`ServerFrame::Welcome`] and after each rotation. The hub keeps the newest few.
    PublishKeys(KeyBundle),
    /// Ask for a contact's published keys ([`ServerFrame::Keys`] answers).
    GetKeys {
        /// Whose.
        id: ClientId,
    },
    /// "I am typing" to a contact or everyone.
    Typing {
        /// Who should see it.
        to: Target,
    },
    /// A read mark for a message received from `from`.
    Read {
        /// The sender of the message that was read.
        from: ClientId,
        /// The message id.
        id: MsgId,
    },
    /// Replace this client's profile.
    SetProfile(Profile),
    /// Ask for the next page of the contact list sent at login ([`ServerFrame::ContactPage`]
    /// or [`ServerFrame::Roster`]).
    NextContacts,
    /// The last [`ServerFrame::MailboxPage`] page arrived: the hub may forget it and send the
    /// next.
    #[serde(rename = "StoredAck")]
    MailboxAck,
    /// Ask for a contact's avatar bytes.
    GetAvatar {
        /// Whose.
        id: ClientId,
    },
    /// Offer files to a contact. The hub answers [`ServerFrame::OfferSent`] or
    /// [`ServerFrame::OfferRefused`] with the same `tag`, or, for an offer that waits
    /// for a contact who is offline, [`ServerFrame::OfferStored`].
    Offer {
        /// Sender-chosen number to match the answer.
        tag: u32,
        /// The recipient.
        to: ClientId,
        /// The files (the manifest, sealed to the recipient; empty for a link test), at
        /// most [`super::MAX_SEALED`] bytes.
        sealed: Sealed,
        /// Set: not files but a test of the link (`sealed` is then empty).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test: Option<LinkTest>,
        /// Where the sender listens for this transfer.
        #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = super::transfer::arbitrary_addrs))]
        addrs: Vec<std::net::SocketAddr>,
        /// Store the offer at the hub until the recipient answers it (the sealed
        /// envelope only, in the hub's database): it reaches a recipient who is offline at
        /// their next login, and survives the sender going away (it then says
        /// [`ClientFrame::Reclaim`] when back).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        wait: bool,
    },
    /// The sender of a stored offer is back (after a reconnect): it still offers it, and
    /// listens at `addrs` now. If the recipient accepted meanwhile, the tickets follow;
    /// an offer the hub no longer stores is answered [`ServerFrame::TransferEnded`] with
    /// [`TransferEnd::NoLongerStored`](super::TransferEnd::NoLongerStored).
    Reclaim {
        /// The hub's id of the offer.
        id: TransferId,
        /// Where the sender listens for this transfer now.
        #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = super::transfer::arbitrary_addrs))]
        addrs: Vec<std::net::SocketAddr>,
    },
    /// Accept some files of an offer (indices into its manifest's files; folders always
    /// come along).
    Accept {
        /// The offer.
        id: TransferId,
        /// Accepted file indices.
        files: Vec<u32>,
        /// Where the receiver listens, in case the sender has to connect.
        #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = super::transfer::arbitrary_addrs))]
        addrs: Vec<std::net::SocketAddr>,
    },
    /// Decline an offer.
    Decline {
        /// The offer.
        id: TransferId,
        /// Why.
        reason: Declined,
    },
    /// Cancel a transfer this client sends or receives.
    Cancel {
        /// The transfer.
        id: TransferId,
    },
    /// First and only frame of a relay connection: pipe me to the other side of the
    /// transfer this ticket belongs to.
    Relay {
        /// The ticket the hub minted.
        ticket: Ticket,
    },
    /// Ask the hub to open a TCP connection back to this client, at the address the hub
    /// sees it at, on `port` (where it would take files): can others reach it directly?
    /// Answered by [`ServerFrame::Reachback`]; a few a minute.
    Reachback {
        /// The port to try.
        port: u16,
    },
    /// Create a group with this name and these members besides us (at most
    /// [`super::group::MAX_ADD_AT_ONCE`]). Answered by [`ServerFrame::GroupAnswer`] with
    /// the same `tag`.
    GroupCreate {
        /// Sender-chosen number to match the answer.
        tag: u32,
        /// The name ([`super::clean_group_name`]).
        name: String,
        /// The first members besides the creator.
        members: Vec<ClientId>,
    },
    /// Add members to a group we are in (at most [`super::group::MAX_ADD_AT_ONCE`]).
    GroupAdd {
        /// Sender-chosen number to match the answer.
        tag: u32,
        /// Which group.
        group: GroupId,
        /// Whom.
        members: Vec<ClientId>,
    },
    /// Remove a member from a group (its creator and admins may).
    GroupRemove {
        /// Sender-chosen number to match the answer.
        tag: u32,
        /// Which group.
        group: GroupId,
        /// Whom.
        member: ClientId,
    },
    /// Leave a group.
    GroupLeave {
        /// Sender-chosen number to match the answer.
        tag: u32,
        /// Which group.
        group: GroupId,
    },
    /// Make a member an admin, or a plain member again (the group's creator may).
    GroupAdmin {
        /// Sender-chosen number to match the answer.
        tag: u32,
        /// Which group.
        group: GroupId,
        /// Whom.
        member: ClientId,
        /// Admin or not.
        admin: bool,
    },
    /// "I have read this group up to here": one mark for a batch of messages.
    GroupRead {
        /// Which group.
        group: GroupId,
        /// The position read up to.
        upto: Seq,
    },
    /// Ask for the next page of groups sent at login ([`ServerFrame::Groups`]).
    NextGroups,
    /// The last [`ServerFrame::GroupPage`] arrived: the hub may send the next.
    GroupPageAck {
        /// Which group it was for.
        group: GroupId,
        /// The position of its last entry.
        upto: Seq,
    },
    /// Keep-alive; no answer.
    Ping,
}

/// What became of a [`ClientFrame::Reachback`].
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Reach {
    /// The hub's connection was accepted.
    Connected,
    /// Refused: nothing listens there, or a firewall rejects it.
    Refused,
    /// No answer within [`crate::limits::REACHBACK_TIMEOUT`]: a firewall drops it.
    NoAnswer,
    /// The hub could not try (no route, or another network error).
    Unreachable,
    /// Not tried: asked too often, or the hub is busy trying others.
    TooSoon,
}

/// Why the hub refused a login.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum LoginRejection {
    /// The password does not match (or the client gave up).
    WrongPassword,
    /// The login was relayed over a different TLS connection: someone is in the middle.
    ChannelBindingMismatch,
    /// The client speaks another protocol version.
    VersionMismatch {
        /// The hub's version.
        hub: u32,
        /// The client's version.
        client: u32,
    },
    /// Too many failed logins from this address; try again later.
    TooManyAttempts {
        /// Milliseconds until the next attempt is allowed.
        retry_in_ms: u64,
    },
    /// The profile sent at login is not acceptable.
    InvalidProfile(ProfileError),
    /// The hub holds as many clients as it may.
    HubFull,
    /// The hub does not remember this device (never did, or its owner forgot it): log
    /// in with the password. Unlike the others, the connection stays open for it.
    NotRemembered,
}

/// What became of a message.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Delivery {
    /// Handed to every online recipient connection.
    Delivered,
    /// The recipient is offline; the hub stores it and delivers at their next login.
    Stored,
    /// Not delivered.
    Rejected(RejectReason),
}

/// Why a message was not delivered.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum RejectReason {
    /// The recipient is not a contact the hub knows (or is the sender).
    NoSuchPeer,
    /// The envelope is empty or longer than [`super::MAX_SEALED_TEXT`].
    BadText,
    /// The sender is over its rate limit.
    RateLimited,
    /// The recipient's mailbox is full.
    #[serde(rename = "QueueFull")]
    MailboxFull,
    /// The recipient is offline and the hub could not store the message (its disk is
    /// full or failing).
    #[serde(rename = "NotKept")]
    CouldNotStore,
    /// Not sealed (said by the sending session, never by the hub): the recipient's
    /// device has published no keys.
    NoKeys,
    /// Not sealed (said by the sending session): the hub handed out keys the recipient's
    /// device did not sign.
    UnsignedKeys,
    /// Not sealed (said by the sending session): this device's key store failed.
    KeyStore,
    /// Not sent (said by the sending session): the connection ended while it waited for
    /// the recipients' keys.
    Unsent,
}

impl RejectReason {
    /// A short code for scripts and files (`queue_full`, `not_kept`, …).
    pub fn code(self) -> &'static str {
        match self {
            Self::NoSuchPeer => "no_such_peer",
            Self::BadText => "bad_text",
            Self::RateLimited => "rate_limited",
            Self::MailboxFull => "queue_full",
            Self::CouldNotStore => "not_kept",
            Self::NoKeys => "no_keys",
            Self::UnsignedKeys => "unsigned_keys",
            Self::KeyStore => "key_store",
            Self::Unsent => "unsent",
        }
    }

    /// The reason a [`RejectReason::code`] names; `None` for a code this version does
    /// not know.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::NoSuchPeer,
            Self::BadText,
            Self::RateLimited,
            Self::MailboxFull,
            Self::CouldNotStore,
            Self::NoKeys,
            Self::UnsignedKeys,
            Self::KeyStore,
            Self::Unsent,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

/// Errors the hub reports without closing the connection.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ErrorCode {
    /// A profile update was refused.
    InvalidProfile,
    /// Published keys were refused (unknown version, too large, or not this device's
    /// certificate).
    InvalidKeys,
    /// The client is over a rate limit.
    RateLimited,
    /// The frame is not valid in this state.
    Unexpected,
}

/// Frames the hub sends to a client.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ServerFrame {
    /// Answer to `LoginStart`: the hub's version and the OPAQUE credential response (KE2).
    LoginChallenge {
        /// [`super::PROTOCOL_VERSION`] of the hub.
        version: u32,
        /// Serialized OPAQUE `CredentialResponse`.
        #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_bytes))]
        response: ByteBuf,
    },
    /// Login succeeded.
    Welcome {
        /// The client's own id, as the hub sees it.
        you: ClientId,
        /// HMAC over the hub's TLS exporter keyed by the OPAQUE session key; empty after
        /// a [`ClientFrame::LoginRemembered`] (no password, no session key).
        #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_bytes))]
        binding: ByteBuf,
        /// Whether the hub remembers this device from now on.
        remembered: bool,
        /// The first page of every other contact the hub knows, online or not; empty
        /// when `since` is set (the list comes in [`ServerFrame::Roster`] pages).
        contacts: Vec<Contact>,
        /// Whether more pages follow ([`ClientFrame::NextContacts`] asks for each).
        more: bool,
        /// The hub's directory mark now: once the list is complete, the client holds
        /// every card up to it (and later [`ServerFrame::Mark`]s move it on).
        mark: super::Mark,
        /// The `known` mark of the login, when the hub sends only what changed since it:
        /// the pages are [`ServerFrame::Roster`] pages, which name every contact the hub
        /// knows (a contact the client holds that none names is forgotten).
        since: Option<super::Mark>,
        /// The hub's clock.
        time: Timestamp,
        /// How many days the hub keeps messages for offline members (`--offline-days`):
        /// clients keep rotated private keys that long, plus a grace period.
        offline_days: u32,
    },
    /// A further page of the contact list sent at login.
    ContactPage {
        /// The contacts.
        contacts: Vec<Contact>,
        /// Whether more pages follow.
        more: bool,
    },
    /// Login refused; the hub closes the connection next.
    LoginRejected(LoginRejection),
    /// A chat message for this client.
    Message(SealedMessage),
    /// A page of messages stored for us while we were offline, oldest first. Answer with
    /// [`ClientFrame::MailboxAck`]; until then the hub stores them (a lost connection gets
    /// them again at the next login: drop duplicates by sender and id).
    #[serde(rename = "Stored")]
    MailboxPage(Vec<SealedMessage>),
    /// What became of a message this client sent.
    Receipt {
        /// The id the client gave the message.
        id: MsgId,
        /// The outcome.
        status: Delivery,
    },
    /// Someone is typing.
    Typing {
        /// Who.
        from: ClientId,
        /// To whom (this client, or everyone).
        to: Target,
    },
    /// A recipient read a message this client sent.
    Read {
        /// The reader.
        by: ClientId,
        /// The message id.
        id: MsgId,
    },
    /// Contacts whose card changed (or that are new), batched.
    Contacts(Vec<Contact>),
    /// Contacts that came online or went offline with their card unchanged, batched:
    /// the client holds their cards already.
    Seen(super::SeenList),
    /// Every card change up to this mark has reached this connection (in its contact
    /// list or in a batch before this frame).
    Mark(super::Mark),
    /// A page of the contact list of a login that gave a `known` mark
    /// ([`ServerFrame::Welcome`] with `since`): the next contacts the hub knows, in id
    /// order after the last page's, each where it is; and the cards of those whose card
    /// changed since the mark. A contact the client holds in the range of ids a page
    /// covers and that the page does not name is one the hub forgot.
    Roster {
        /// The cards changed since the mark (or new to the client).
        cards: Vec<Contact>,
        /// Every contact of the page, in id order, where it is.
        seen: super::SeenList,
        /// Whether more pages follow.
        more: bool,
    },
    /// A contact's avatar bytes (empty if it has none or is unknown).
    Avatar {
        /// Whose.
        id: ClientId,
        /// The image bytes.
        #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_bytes))]
        avatar: ByteBuf,
    },
    /// A recoverable error; the connection stays open.
    Error {
        /// What kind.
        code: ErrorCode,
        /// Human-readable detail.
        detail: String,
    },
    /// The hub forwarded our offer under this id.
    OfferSent {
        /// Our tag from [`ClientFrame::Offer`].
        tag: u32,
        /// The hub's id for the transfer.
        id: TransferId,
    },
    /// The recipient of our offer (sent with `wait`) is offline: the hub stores it on
    /// its disk and hands it over at their next login.
    OfferStored {
        /// Our tag from [`ClientFrame::Offer`].
        tag: u32,
        /// The hub's id for the transfer.
        id: TransferId,
    },
    /// The hub did not forward our offer.
    OfferRefused {
        /// Our tag.
        tag: u32,
        /// Why.
        reason: OfferRefusal,
    },
    /// Someone offers us files.
    Offer(SealedOffer),
    /// The answer to [`ClientFrame::GetKeys`]: the contact's published bundles, newest
    /// first (empty for a contact without any, or an id the hub does not know).
    Keys {
        /// Whose.
        id: ClientId,
        /// The bundles, as their owner published them (check them before use).
        bundles: Vec<KeyBundle>,
    },
    /// The offer was accepted: both sides get the ticket and each other's identity.
    Ticket(TicketInfo),
    /// A brokered transfer ended before its direct connection took over.
    TransferEnded {
        /// The transfer.
        id: TransferId,
        /// How.
        end: TransferEnd,
    },
    /// On a relay connection: the other side is here; from now on bytes are piped.
    RelayReady,
    /// The answer to [`ClientFrame::Reachback`].
    Reachback {
        /// The address the hub sees this connection come from (an IPv6 address loses
        /// its flow label and scope on the wire).
        #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = super::transfer::arbitrary_addr))]
        seen: std::net::SocketAddr,
        /// The port tried.
        port: u16,
        /// What happened.
        outcome: Reach,
    },
    /// After login (once the contact list is complete): a page of the groups this client
    /// is in. Answer [`ClientFrame::NextGroups`] while `more`.
    Groups {
        /// The groups.
        groups: Vec<Group>,
        /// Whether more pages follow.
        more: bool,
    },
    /// A group this client is in, as it is now (after a change to it, or when added).
    Group(Group),
    /// This client is no longer in this group (it left, was removed, or the group is gone).
    GroupGone {
        /// Which group.
        group: GroupId,
    },
    /// A membership change, in the group's order among its messages.
    GroupEvent(GroupEvent),
    /// The answer to a group change this client asked for.
    GroupAnswer {
        /// The tag it gave.
        tag: u32,
        /// What became of it.
        outcome: GroupOutcome,
    },
    /// Our message `id` to a group took this position in its log (sent at once, before
    /// its receipt, which may wait for the disk): read marks name positions, so this is
    /// how a writer knows who read its message.
    Placed {
        /// Which group.
        group: GroupId,
        /// Our id for the message.
        id: MsgId,
        /// Its position.
        seq: Seq,
    },
    /// A member read a group up to here.
    GroupRead {
        /// Which group.
        group: GroupId,
        /// Who.
        by: ClientId,
        /// Up to which position.
        upto: Seq,
    },
    /// A page of a group's log this client has not had yet (it was away), oldest first.
    /// Answer with [`ClientFrame::GroupPageAck`]; until then the hub does not count it as
    /// handed over (a lost connection gets it again: drop duplicates by position).
    GroupPage {
        /// Which group.
        group: GroupId,
        /// The entries.
        entries: Vec<GroupEntry>,
    },
    /// Keep-alive; no answer.
    Ping,
    /// The hub is shutting down.
    Closing,
}

pub use super::rules::{
    ID_LIKE_NAME, ProfileError, is_invisible, looks_like_id, validate_profile, validate_text,
};

#[cfg(test)]
mod tests;
