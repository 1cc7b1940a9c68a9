//! The contact list kept in step across reconnects: a client that held the list before
//! says up to which [`Mark`] it holds it, and the hub sends only the cards changed since
//! and, compactly, where everyone is now ([`Seen`]). A hub restart with thousands of
//! members online then costs each returning client a few bytes per contact, not a
//! card each.

use serde::{Deserialize, Serialize};

use super::{ClientId, Contact, Timestamp};

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

/// Where a contact is, without its card: whether it is online and when the hub last
/// heard from it. Encoded as a three-item array (id, online, last seen), so that a list
/// of everyone costs about 50 bytes a contact.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Seen(
    /// Who.
    pub ClientId,
    /// Whether at least one of its connections is logged in.
    pub bool,
    /// When the hub last heard from it.
    pub Timestamp,
);

impl Seen {
    /// Where `contact` is.
    pub fn of(contact: &Contact) -> Self {
        Self(contact.id, contact.online, contact.last_seen)
    }

    /// Who.
    pub fn id(&self) -> ClientId {
        self.0
    }
}

/// One contact in a [`super::ServerFrame::Roster`] page: its card when it changed since
/// the client's mark, else only where it is.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum RosterEntry {
    /// Changed since the client's mark (or new to it): the whole card.
    Card(Contact),
    /// Unchanged: where it is.
    Seen(Seen),
}

impl RosterEntry {
    /// Whose entry this is.
    pub fn id(&self) -> ClientId {
        match self {
            Self::Card(c) => c.id,
            Self::Seen(s) => s.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compact form is what it claims: a contact's whereabouts in about 50
    /// bytes (a card with field names costs twice that and more).
    #[test]
    fn a_seen_entry_is_compact() {
        let entry = RosterEntry::Seen(Seen(ClientId([7; 32]), true, Timestamp(u64::MAX)));
        let mut bytes = Vec::new();
        ciborium::into_writer(&entry, &mut bytes).unwrap();
        assert!(bytes.len() <= 52, "{} bytes", bytes.len());
        let back: RosterEntry = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(back, entry);
    }
}
