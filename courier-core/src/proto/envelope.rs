//! Sealed things as the wire carries them: a message ([`SealedMessage`]) and a file offer
//! ([`SealedOffer`]) whose content only the addressed devices can open. The session opens
//! them into [`Message`](super::Message) and [`IncomingOffer`](super::IncomingOffer).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::frame::Target;
use super::group::Seq;
use super::id::{ClientId, MsgId, Timestamp};
use super::keys::Sealed;
use super::transfer::{LinkTest, TransferId};

/// A chat message as the hub routes, stores and delivers it: who, to whom, when, and an
/// envelope it cannot open. The sender and time are stamped by the hub.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedMessage {
    /// The sender's id for this message.
    pub id: MsgId,
    /// Who sent it (from the TLS handshake of the sender's connection).
    pub from: ClientId,
    /// Where it was addressed.
    pub to: Target,
    /// The envelope (the text, sealed by the sender).
    pub sealed: Sealed,
    /// When the hub accepted it.
    pub time: Timestamp,
    /// For a message to a group: its position in the group's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
}

/// A file offer as the hub hands it to its recipient: the names and sizes are sealed
/// (the hub never sees them); a link test carries no envelope and says which way.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct SealedOffer {
    /// The hub's id for the transfer.
    pub id: TransferId,
    /// Who offers (from the sender's TLS certificate, stamped by the hub).
    pub from: ClientId,
    /// The manifest, sealed by the sender (empty for a link test).
    pub sealed: Sealed,
    /// Set: a test of the link, not files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<LinkTest>,
    /// Where the sender listens for this transfer.
    #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = super::transfer::arbitrary_addrs))]
    pub addrs: Vec<SocketAddr>,
    /// When it was offered, stamped by the hub (a stored offer is handed over later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
}

impl SealedOffer {
    /// The digest a ticket for this offer carries: BLAKE3 of the envelope's bytes
    /// (both sides hold them; the hub never sees the names), or for a link test the
    /// digest of its `{test}` manifest.
    pub fn digest(&self) -> [u8; 32] {
        offer_digest(&self.sealed, self.test)
    }
}

/// See [`SealedOffer::digest`]: what the hub, the sender and the receiver each compute.
pub fn offer_digest(sealed: &Sealed, test: Option<LinkTest>) -> [u8; 32] {
    match test {
        Some(way) => super::Manifest {
            test: Some(way),
            ..super::Manifest::default()
        }
        .digest(),
        None => *blake3::hash(sealed.as_bytes()).as_bytes(),
    }
}
