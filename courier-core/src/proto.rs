//! The wire protocol: frame types ([`ClientFrame`], [`ServerFrame`]), the transfer
//! brokering types, ids and timestamps, the reasons a hub closes a connection
//! ([`CloseReason`]), and the CBOR codec.
//!
//! One WebSocket binary message carries exactly one CBOR-encoded frame. Clients never
//! write who they are: the hub stamps the sender of everything it relays.

mod close;
mod codec;
mod envelope;
mod frame;
mod group;
mod id;
mod keys;
mod roster;
mod rules;
mod sentence;
mod share;
mod transfer;

pub use close::CloseReason;
pub use codec::{DecodeError, decode_client, decode_server, encode};
pub(crate) use codec::{decode_any, encode_into};
pub use envelope::{SealedMessage, SealedOffer, offer_digest};
#[cfg(test)]
pub(crate) use frame::HASHED;
pub use frame::{
    AvatarId, ClientFrame, Contact, ContactCard, Delivery, ErrorCode, ID_LIKE_NAME, LoginRejection,
    Message, Presence, Profile, ProfileError, Reach, RejectReason, ServerFrame, Target,
    is_invisible, looks_like_id, validate_profile, validate_text,
};
pub use group::{
    Group, GroupChange, GroupEntry, GroupEvent, GroupId, GroupMember, GroupOutcome, GroupRefusal,
    MAX_ADD_AT_ONCE, Role, Seq, clean_group_name,
};
pub use id::{ClientId, MsgId, Timestamp};
pub use keys::{
    BUNDLE_VERSION, KeyBundle, KeyId, MAX_BUNDLE_CERT, MAX_BUNDLE_SIGNATURE, MAX_SEALED,
    MAX_SEALED_TEXT, Sealed,
};
pub use roster::{MalformedSeen, Mark, Seen, SeenList};
pub use share::{MAX_SHARE, MAX_SHARES, Share};
pub use transfer::{
    Declined, FileEntry, IncomingOffer, LinkTest, Manifest, ManifestError, OfferRefusal, Ticket,
    TicketInfo, TransferEnd, TransferId,
};

/// The protocol version this build speaks; carried by the first frame of each side.
pub const PROTOCOL_VERSION: u32 = 12;
/// The only WebSocket path the hub answers.
pub const WS_PATH: &str = "/courier/v1";
