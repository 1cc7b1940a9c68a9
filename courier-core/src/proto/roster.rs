//! The contact list kept in step across reconnects: a client that held the list before
//! says up to which [`Mark`] it holds it, and the hub sends only the cards changed since
//! and, packed, where everyone is ([`SeenList`]). A hub restart with thousands of
//! members online then costs each returning client 41 bytes per contact, read without
//! a parser, not a card each.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::{ClientId, Timestamp};

/// The hub's contact directory at one point in its history: every card change has a
/// mark greater than the ones before (a hub clock in milliseconds, never going back, so
/// a hub started again from an older copy of its folder still counts on). A client that
/// holds every card up to a mark is "at" it.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Mark(pub u64);

/// Where a contact is, without its card.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Seen {
    /// Who.
    pub id: ClientId,
    /// Whether at least one of its connections is logged in.
    pub online: bool,
    /// When the hub last heard from it.
    pub last_seen: Timestamp,
}

/// Where contacts are, packed into one byte string: for each, its id (32 bytes), when
/// the hub last heard from it (8 bytes, milliseconds, little-endian) and whether it is
/// online (1 byte, 0 or 1). [`SeenList::ENTRY`] bytes a contact, decoded with no parser.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeenList(
    #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = super::frame::arbitrary_bytes))]
    ByteBuf,
);

/// A [`SeenList`] that is not whole entries, or says "online" with another byte than 0
/// or 1.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("a packed list of whereabouts is malformed")]
pub struct MalformedSeen;

impl SeenList {
    /// Bytes per contact.
    pub const ENTRY: usize = 41;

    /// Packs `entries`, in the order given.
    pub fn pack<'a>(entries: impl IntoIterator<Item = &'a Seen>) -> Self {
        let mut bytes = Vec::new();
        for s in entries {
            bytes.extend_from_slice(&s.id.0);
            bytes.extend_from_slice(&s.last_seen.0.to_le_bytes());
            bytes.push(u8::from(s.online));
        }
        Self(ByteBuf::from(bytes))
    }

    /// How many contacts it holds (whole entries).
    pub fn len(&self) -> usize {
        self.0.len() / Self::ENTRY
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, once the whole list is checked.
    ///
    /// # Errors
    /// [`MalformedSeen`] if the bytes are not whole entries or an "online" byte is not 0
    /// or 1.
    pub fn entries(&self) -> Result<impl Iterator<Item = Seen> + '_, MalformedSeen> {
        if !self.0.len().is_multiple_of(Self::ENTRY)
            || self
                .0
                .chunks_exact(Self::ENTRY)
                .any(|e| e[Self::ENTRY - 1] > 1)
        {
            return Err(MalformedSeen);
        }
        Ok(self.0.chunks_exact(Self::ENTRY).map(|e| {
            let mut id = [0u8; 32];
            id.copy_from_slice(&e[..32]);
            let mut ms = [0u8; 8];
            ms.copy_from_slice(&e[32..40]);
            Seen {
                id: ClientId(id),
                online: e[40] == 1,
                last_seen: Timestamp(u64::from_le_bytes(ms)),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(n: u8, online: bool, ms: u64) -> Seen {
        Seen {
            id: ClientId([n; 32]),
            online,
            last_seen: Timestamp(ms),
        }
    }

    #[test]
    fn a_packed_list_reads_back_and_costs_41_bytes_a_contact() {
        let list = vec![seen(1, true, u64::MAX), seen(2, false, 7)];
        let packed = SeenList::pack(&list);
        assert_eq!(packed.len(), 2);
        assert_eq!(packed.0.len(), 82);
        assert_eq!(packed.entries().unwrap().collect::<Vec<_>>(), list);
        let mut cbor = Vec::new();
        ciborium::into_writer(&packed, &mut cbor).unwrap();
        assert!(cbor.len() <= 82 + 3, "{} bytes", cbor.len());
    }

    #[test]
    fn a_malformed_packed_list_is_refused() {
        let packed = SeenList::pack(&[seen(1, true, 1)]);
        let mut short = packed.clone();
        short.0.pop();
        assert_eq!(short.entries().err(), Some(MalformedSeen));
        let mut odd = packed;
        if let Some(last) = odd.0.last_mut() {
            *last = 2;
        }
        assert_eq!(odd.entries().err(), Some(MalformedSeen));
    }
}
