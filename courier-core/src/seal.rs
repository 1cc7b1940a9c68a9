//! End-to-end encryption: what only the addressed devices can open.
//!
//! Pure functions over bytes and keys, below the session (the session seals and opens;
//! nothing here knows a hub or a connection). A [`Keyring`] holds this device's keys
//! (an Ed25519 signing key and rotating X25519 sealing keys), contacts' key bundles that
//! verified, and room sessions.
//!
//! - A **direct envelope** is sealed to one device's sealing key with X25519 +
//!   XChaCha20-Poly1305 (`crypto_box`'s ChaChaBox); it binds the version, both ids, the
//!   message id and both keys.
//! - A **room envelope** (a group, or Everyone) is sealed once with the sender's room
//!   session: a hash ratchet of message keys (BLAKE3), XChaCha20-Poly1305
//!   (`crypto_secretbox`), signed with the sender's Ed25519 key. Members get the session
//!   in a [`Payload::RoomKey`] sealed to them directly; a new session starts whenever the
//!   room's membership changes, so removed members cannot open what follows and added
//!   members cannot open what came before.
//! - A **key bundle** ([`KeyBundle`]) is signed with the certificate's own ECDSA P-256 key
//!   and checked with the certificate it carries (`rustls-webpki`), whose fingerprint
//!   must be the owner's [`ClientId`]: a hub cannot hand out keys of its own.
//!
//! Envelopes are CBOR `{v: 1, ...}`; a later format is a new `v`, not a new protocol.
//! NaCl-style boxes take no associated data, so what an envelope binds is hashed into
//! the first 32 bytes of its plaintext and checked on opening.

#[cfg(test)]
mod bounds_tests;
mod bundle;
#[cfg(test)]
mod bundle_tests;
mod envelope;
mod keyring;
#[cfg(test)]
mod lookup_tests;
#[cfg(test)]
mod prop_tests;
mod room;
mod session_api;
mod store;
#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

pub use keyring::Keyring;

/// A bundle for these public keys signed by `identity` (for the hub's tests, which need
/// bundles of chosen keys and times).
#[cfg(test)]
pub(crate) fn sign_bundle(
    identity: &crate::identity::Identity,
    signing: [u8; 32],
    sealing: [u8; 32],
    created: crate::proto::Timestamp,
    expires: crate::proto::Timestamp,
) -> Result<KeyBundle, KeyError> {
    bundle::sign(identity, signing, sealing, created, expires)
}
pub use room::MAX_JUMP;

use crate::proto::{ClientId, KeyBundle, Manifest, Sealed, Target};

/// How long keys live. See the field docs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyPolicy {
    /// A new sealing key is made when the newest is this old (7 days).
    pub rotate_every: Duration,
    /// A retired sealing key, and a room session not used for this long, is erased
    /// (the hub's offline days plus 7 days of grace).
    pub keep_after: Duration,
    /// A room session seals at most this many messages before a new one starts (10 000).
    pub room_messages: u32,
}

/// A week.
const WEEK: Duration = Duration::from_secs(7 * 24 * 60 * 60);

impl KeyPolicy {
    /// The policy for a hub that keeps offline messages for `offline_days` days.
    pub fn for_offline_days(offline_days: u32) -> Self {
        Self {
            rotate_every: WEEK,
            keep_after: Duration::from_secs(u64::from(offline_days) * 24 * 60 * 60) + WEEK,
            room_messages: 10_000,
        }
    }
}

impl Default for KeyPolicy {
    /// As [`KeyPolicy::for_offline_days`] with the hub's default of 30 days.
    fn default() -> Self {
        Self::for_offline_days(30)
    }
}

/// What an envelope holds (CBOR inside the sealed bytes).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Payload {
    /// A message's text.
    Text(String),
    /// The files of an offer.
    Files(Manifest),
    /// A room session, shared with a member (sealed directly to it).
    RoomKey(RoomKey),
}

/// A room session as shared with one member: from `index` on, that member can open
/// what the sender seals in `room`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomKey {
    /// The room (a group, or Everyone).
    pub room: Target,
    /// The session's random id.
    #[serde(with = "serde_bytes")]
    pub session: [u8; 16],
    /// The first index the chain below opens.
    pub index: u32,
    /// The chain key at `index` (secret).
    #[serde(with = "serde_bytes")]
    pub chain: [u8; 32],
    /// The sender's Ed25519 key that signs the session's messages.
    #[serde(with = "serde_bytes")]
    pub signing: [u8; 32],
}

impl std::fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomKey")
            .field("room", &self.room)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Drop for RoomKey {
    fn drop(&mut self) {
        self.chain.zeroize();
    }
}

/// A room message sealed once for all members, and the sessions to share first.
#[derive(Clone, Debug)]
pub struct RoomSealed {
    /// The room envelope.
    pub sealed: Sealed,
    /// [`Payload::RoomKey`]s to seal directly to these members (with
    /// [`Keyring::seal_direct`]) and send before the room message.
    pub shares: Vec<(ClientId, Payload)>,
    /// Members whose keys were fetched lately and are not usable (none published, or
    /// expired, or not signed): they cannot open this message. Fetched again once the
    /// look-up is older than [`LOOKUP_FRESH`].
    pub unreachable: Vec<ClientId>,
}

/// How long a look-up of a device's keys is trusted: a device without usable keys is
/// fetched again after this (it may have published since, or its bundle expired).
pub const LOOKUP_FRESH: Duration = Duration::from_secs(10 * 60);

/// An opened room message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Opened {
    /// What it holds.
    pub payload: Payload,
    /// Its index in the sender's session.
    pub index: u32,
    /// How many of the sender's messages were skipped just before it (not seen yet).
    pub gap: Option<u32>,
}

/// Why an envelope does not open. Never carries key bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, thiserror::Error, Serialize, Deserialize)]
pub enum Problem {
    /// The bytes are not an envelope.
    #[error("the message is not a valid envelope")]
    Malformed,
    /// A format this build does not know (a newer Courier).
    #[error("the message uses an envelope format this version does not know")]
    UnknownVersion,
    /// The sender's key is in none of its bundles that verified.
    #[error("the message is sealed with a key the sender's device did not sign")]
    UnknownSender,
    /// Sealed to a key this device does not have (unknown, or erased).
    #[error("the message is sealed to a key this device does not have (any more)")]
    NotForMe,
    /// The envelope was changed on the way.
    #[error("the message was changed on the way")]
    Tampered,
    /// The room message's signature does not check.
    #[error("the message's signature does not match its sender")]
    BadSignature,
    /// No room session to open it with (not shared with this device, or erased).
    #[error("the sender has not shared the key to this message with this device")]
    NoRoomKey,
    /// This message was opened before.
    #[error("the message was already received once")]
    Replayed,
    /// Too far ahead of the last message from this sender.
    #[error("the message is too far ahead of the sender's last one")]
    TooFarAhead,
    /// A room message (or a room key share) for a group from someone who is not one of
    /// its members now (said by the session, which knows the members).
    #[error("the sender is not a member of the group")]
    NotAMember,
}

/// Why a message cannot be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// These members' bundles were never fetched: fetch them (`GetKeys`), learn, retry.
    #[error("the keys of {} device(s) must be fetched first", .0.len())]
    NeedKeys(Vec<ClientId>),
    /// The hub has no bundle of this device that verified and is valid.
    #[error("device {} has not published keys that its certificate signed", .0.short())]
    NoKeys(ClientId),
    /// The sealed envelope would be over [`crate::proto::MAX_SEALED`].
    #[error("the message is too large to seal")]
    TooLarge,
    /// The key store failed.
    #[error("the key store failed")]
    Store(#[from] KeyError),
}

/// Why a bundle the hub handed out was not accepted.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum BundleError {
    /// The hub handed out no bundle.
    #[error("the device has not published keys")]
    Missing,
    /// A bundle format this build does not know.
    #[error("the key bundle has unknown version {0}")]
    UnknownVersion(u8),
    /// Over the bounds, or the certificate does not parse.
    #[error("the key bundle is malformed")]
    Malformed,
    /// The certificate is not the owner's (another device's keys).
    #[error("the key bundle's certificate is not the device's")]
    FingerprintMismatch,
    /// The certificate's key did not sign the bundle.
    #[error("the key bundle is not signed by the device's certificate")]
    BadSignature,
    /// Signed, but past its end.
    #[error("the key bundle has expired")]
    Expired,
    /// Signed, but meant to live longer than any Courier makes keys live (400 days).
    #[error("the key bundle claims to be valid for more than 400 days")]
    TooLong,
    /// Signed, but made more than a day ahead of this device's clock.
    #[error("the key bundle was made more than a day in the future")]
    FromTheFuture,
}

/// Checks a key bundle `owner`'s device publishes (the hub can call it on
/// `PublishKeys`): known version, within bounds, its certificate is `owner`'s and
/// signed it, and its lifetime is sane and not over at `now`.
///
/// # Errors
/// The [`BundleError`] that says why the bundle is not acceptable.
pub fn verify_bundle(
    bundle: &KeyBundle,
    owner: ClientId,
    now: crate::proto::Timestamp,
) -> Result<(), BundleError> {
    bundle::verify(owner, bundle)?;
    bundle::check_life(bundle, now)
}

/// The key store failed, or this device's keys cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The identity's key is not an ECDSA P-256 PKCS#8 key.
    #[error("the identity's key cannot sign key bundles")]
    IdentityKey,
    /// Making a key failed (no randomness).
    #[error("making a key failed")]
    Generate,
    /// A stored key is damaged.
    #[error("the key store holds a damaged key")]
    Damaged,
    /// keys.db failed.
    #[error(transparent)]
    Db(#[from] crate::sqlite::Error),
}
