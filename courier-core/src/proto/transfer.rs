//! Wire types for brokering direct transfers through the hub: offers, answers, tickets.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::id::ClientId;
use crate::limits;

/// A transfer's number, chosen at random by the hub when it accepts an offer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct TransferId(pub u64);

impl fmt::Debug for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{:016x}", self.0)
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A single-use, short-lived secret the hub mints when an offer is accepted. Whoever
/// opens the direct connection presents it; it is bound to one transfer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct Ticket(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl Ticket {
    /// Compares in constant time.
    pub fn matches(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ticket(..)")
    }
}

/// One file in an offer: its path relative to the offer (folders keep their structure;
/// `/` separates components) and its exact size.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct FileEntry {
    /// Relative path. Untrusted on the receiving side: a suggestion, never a path.
    pub path: String,
    /// Size in bytes, enforced exactly.
    pub size: u64,
}

/// What an offer contains.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct Manifest {
    /// The files, in the order they are sent.
    pub files: Vec<FileEntry>,
    /// Folders that contain no file but are part of the offer (kept as empty folders).
    pub folders: Vec<String>,
    /// Set: not files but a test of the link (`courier doctor --peer`): no file and no
    /// folder, answered automatically by the receiver's session, which then only counts
    /// bytes and echoes pings (see [`crate::transfer::link_test`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<LinkTest>,
}

/// Which way a link test connects: each is measured on its own.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum LinkTest {
    /// Straight between the two machines only (no relay).
    Direct,
    /// Through the hub's relay only (no direct attempt).
    Relayed,
}

impl LinkTest {
    /// Which of the prober's `listed` addresses the answering side may dial for this way.
    /// The list is the prober's word and may name anyone's machine (the answerer's own
    /// services included), so: only those at `seen`, the address the hub sees the prober's
    /// connection at, at most [`limits::LINK_TEST_DIALS`] of them; none for the relayed
    /// way; and a loopback `seen` only for an answerer on the hub's machine too
    /// (`answerer_on_loopback`), since elsewhere it would be the answerer's own machine.
    /// The hub filters with it and the answering side again.
    pub fn dialable(
        self,
        listed: &[SocketAddr],
        seen: std::net::IpAddr,
        answerer_on_loopback: bool,
    ) -> Vec<SocketAddr> {
        let seen = seen.to_canonical();
        if self == Self::Relayed || (seen.is_loopback() && !answerer_on_loopback) {
            return Vec::new();
        }
        let mut dial: Vec<SocketAddr> = Vec::new();
        for a in listed {
            let a = SocketAddr::new(a.ip().to_canonical(), a.port());
            if a.ip() == seen && a.port() != 0 && !dial.contains(&a) {
                dial.push(a);
            }
        }
        dial.truncate(limits::LINK_TEST_DIALS);
        dial
    }
}

/// Why a manifest is not acceptable.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum ManifestError {
    /// No file and no folder.
    #[error("the offer is empty")]
    Empty,
    /// More entries than [`limits::MAX_OFFER_FILES`].
    #[error("an offer holds at most {} files and folders", limits::MAX_OFFER_FILES)]
    TooManyFiles,
    /// A path is empty or longer than [`limits::MAX_OFFER_PATH`] bytes.
    #[error("a file name is empty or longer than {} bytes", limits::MAX_OFFER_PATH)]
    BadPath,
    /// The sizes add up to more than a `u64` holds.
    #[error("the sizes overflow")]
    TooLarge,
    /// A link test that also holds files or folders.
    #[error("a link test carries no files")]
    TestWithFiles,
    /// The names and sizes take more than [`limits::MAX_MANIFEST_BYTES`] encoded.
    #[error(
        "the list of names is too long ({} KiB at most): send fewer files at once",
        limits::MAX_MANIFEST_BYTES / 1024
    )]
    TooLong,
}

impl Manifest {
    /// Total bytes of every file.
    pub fn total(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |sum, f| sum.saturating_add(f.size))
    }

    /// Entries (files and folders).
    pub fn len(&self) -> usize {
        self.files.len() + self.folders.len()
    }

    /// Whether the offer holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the limits every side enforces before anything else looks at an offer.
    ///
    /// # Errors
    /// The first limit broken.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.test.is_some() {
            return if self.is_empty() {
                Ok(())
            } else {
                Err(ManifestError::TestWithFiles)
            };
        }
        if self.is_empty() {
            return Err(ManifestError::Empty);
        }
        if self.len() > limits::MAX_OFFER_FILES {
            return Err(ManifestError::TooManyFiles);
        }
        let paths = self
            .files
            .iter()
            .map(|f| &f.path)
            .chain(self.folders.iter());
        for p in paths {
            if p.is_empty() || p.len() > limits::MAX_OFFER_PATH {
                return Err(ManifestError::BadPath);
            }
        }
        self.files
            .iter()
            .try_fold(0u64, |sum, f| sum.checked_add(f.size))
            .ok_or(ManifestError::TooLarge)?;
        if super::encode(self).len() > limits::MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLong);
        }
        Ok(())
    }

    /// A digest that binds a ticket to exactly this list of names and sizes.
    pub fn digest(&self) -> [u8; 32] {
        *blake3::hash(&super::encode(self)).as_bytes()
    }
}

/// An offer as the receiver sees it, with the hub-stamped sender.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct IncomingOffer {
    /// The hub's id for the transfer.
    pub id: TransferId,
    /// Who offers (from the sender's TLS certificate, stamped by the hub).
    pub from: ClientId,
    /// What.
    pub manifest: Manifest,
    /// Where the sender listens for this transfer.
    #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_addrs))]
    pub addrs: Vec<SocketAddr>,
    /// When it was offered, stamped by the hub (a stored offer is handed over later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<super::Timestamp>,
    /// The digest its ticket must carry: of the sealed envelope the hub carried (both
    /// sides hold it; the hub never saw the names), or of the link test's manifest.
    #[serde(default, with = "serde_bytes")]
    pub digest: [u8; 32],
}

/// Addresses as they survive the wire (IPv6 flow info and scope are not carried).
#[cfg(any(test, feature = "arbitrary"))]
pub(crate) fn arbitrary_addrs(
    u: &mut arbitrary::Unstructured<'_>,
) -> arbitrary::Result<Vec<SocketAddr>> {
    let list: Vec<SocketAddr> = arbitrary::Arbitrary::arbitrary(u)?;
    Ok(list
        .into_iter()
        .map(|a| SocketAddr::new(a.ip(), a.port()))
        .collect())
}

/// One address as the wire carries it (see [`arbitrary_addrs`]).
#[cfg(any(test, feature = "arbitrary"))]
pub(crate) fn arbitrary_addr(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<SocketAddr> {
    let a: SocketAddr = arbitrary::Arbitrary::arbitrary(u)?;
    Ok(SocketAddr::new(a.ip(), a.port()))
}

/// Why the hub did not forward an offer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum OfferRefusal {
    /// The recipient is unknown, offline, or the sender itself.
    #[error("the recipient is not online")]
    NoSuchPeer,
    /// Too many offers of this sender (or to this recipient) are waiting for an answer.
    #[error("too many offers are waiting for an answer")]
    Busy,
    /// Offers are coming too fast.
    #[error("offers are coming too fast")]
    RateLimited,
    /// The manifest breaks a limit.
    #[error("invalid offer: {0}")]
    Invalid(ManifestError),
    /// Too many addresses announced.
    #[error("too many addresses")]
    TooManyAddresses,
    /// The hub could not store the offer for the offline recipient (its disk is full or
    /// failing).
    #[error("the hub could not store the offer (its disk is full or failing)")]
    #[serde(rename = "NotKept")]
    CouldNotStore,
    /// Not sealed (said by the sending session, never by the hub): the recipient's
    /// device has published no keys.
    #[error("their device has not published its encryption keys yet")]
    NoKeys,
    /// Not sealed (said by the sending session): the hub handed out keys the recipient's
    /// device did not sign.
    #[error("the hub handed out an encryption key their device did not sign")]
    UnsignedKeys,
    /// Not sealed (said by the sending session): this device's key store failed.
    #[error("this device's encryption keys cannot be used")]
    KeyStore,
    /// Not sent (said by the sending session): the connection ended while it waited for
    /// the recipient's keys.
    #[error("the connection to the hub ended while it waited for keys")]
    Unsent,
}

/// Why the receiver said no.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum Declined {
    /// The person declined.
    ByUser,
    /// The files do not fit on the receiver's disk.
    NoSpace,
    /// A link test to someone who turned answering them off.
    NoLinkTests,
}

/// How a brokered transfer ended at the hub, before or instead of its direct connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum TransferEnd {
    /// The receiver declined.
    Declined(Declined),
    /// One side cancelled.
    Cancelled {
        /// Who.
        by: ClientId,
    },
    /// The other side went offline.
    PeerGone,
    /// The hub no longer stores this offer: it was answered, withdrawn or expired while
    /// its sender was away.
    #[serde(rename = "NotKept")]
    NoLongerStored,
}

/// What the hub hands both sides of an accepted transfer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct TicketInfo {
    /// The transfer.
    pub id: TransferId,
    /// The single-use secret for its connection.
    pub ticket: Ticket,
    /// The other side's certificate fingerprint (pin it).
    pub peer: ClientId,
    /// Accepted file indices.
    pub files: Vec<u32>,
    /// The other side's announced addresses.
    #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_addrs))]
    pub addrs: Vec<SocketAddr>,
    /// [`Manifest::digest`] of the offer the ticket is for: both sides check it against
    /// the offer they hold, and the connecting side presents it with the ticket.
    #[serde(with = "serde_bytes")]
    pub digest: [u8; 32],
    /// A link test's answering side only: the address the hub sees the prober's
    /// connection at. The answering side dials only there (the prober's other addresses
    /// may be anyone's); a hub that does not say means nothing is dialled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<std::net::IpAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn a_link_test_dials_only_where_the_hub_sees_the_prober() {
        let seen = "192.168.1.7".parse().unwrap();
        let listed = addrs(&[
            "127.0.0.1:22",
            "10.0.0.5:80",
            "192.168.1.7:4000",
            "192.168.1.7:4000",
            "[::ffff:192.168.1.7]:4001",
            "192.168.1.7:0",
            "192.168.1.7:4002",
            "192.168.1.7:4003",
            "192.168.1.7:4004",
        ]);
        assert_eq!(
            LinkTest::Direct.dialable(&listed, seen, false),
            addrs(&[
                "192.168.1.7:4000",
                "192.168.1.7:4001",
                "192.168.1.7:4002",
                "192.168.1.7:4003"
            ])
        );
        assert_eq!(LinkTest::Relayed.dialable(&listed, seen, false), vec![]);
        // A prober on the hub's machine is the answerer's own machine unless it is there too.
        let here = addrs(&["127.0.0.1:4000"]);
        let lo = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(LinkTest::Direct.dialable(&here, lo, false), vec![]);
        assert_eq!(LinkTest::Direct.dialable(&here, lo, true), here);
    }
}
