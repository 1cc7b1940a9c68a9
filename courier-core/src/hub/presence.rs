//! The contact directory: every client the hub has seen, and its live connections.

use std::collections::HashMap;

use super::ConnId;
use crate::limits;
use crate::proto::{Card, ClientId, Contact, Profile, Timestamp};

/// One known client.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub(crate) profile: Profile,
    /// Logged-in connections of this identity (a person may run `listen` and `say` at once).
    pub(crate) conns: Vec<ConnId>,
    pub(crate) last_seen: Timestamp,
}

impl Known {
    pub(crate) fn contact(&self, id: ClientId) -> Contact {
        Contact {
            id,
            profile: Card::from(&self.profile),
            online: !self.conns.is_empty(),
            last_seen: self.last_seen,
        }
    }
}

/// What a login or logout changed, so the hub knows what to tell others.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// First connection of this identity: it came online.
    CameOnline,
    /// Another connection of an online identity, with a different profile.
    ProfileChanged,
    /// Nothing others need to hear about.
    Nothing,
    /// The last connection went away.
    WentOffline,
}

#[derive(Debug, Default)]
pub(crate) struct Directory {
    known: HashMap<ClientId, Known>,
}

impl Directory {
    pub(crate) fn get(&self, id: &ClientId) -> Option<&Known> {
        self.known.get(id)
    }

    pub(crate) fn online(&self) -> impl Iterator<Item = (&ClientId, &Known)> {
        self.known.iter().filter(|(_, k)| !k.conns.is_empty())
    }

    pub(crate) fn contacts_except(&self, me: ClientId) -> Vec<Contact> {
        let mut list: Vec<Contact> = self
            .known
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(id, k)| k.contact(*id))
            .collect();
        list.sort_by(|a, b| a.profile.name.cmp(&b.profile.name).then(a.id.cmp(&b.id)));
        list
    }

    pub(crate) fn login(
        &mut self,
        id: ClientId,
        conn: ConnId,
        profile: Profile,
        now: Timestamp,
    ) -> Change {
        if !self.known.contains_key(&id) && self.known.len() >= limits::MAX_KNOWN_CONTACTS {
            self.forget_oldest_offline();
        }
        let known = self.known.entry(id).or_insert_with(|| Known {
            profile: profile.clone(),
            conns: Vec::new(),
            last_seen: now,
        });
        known.last_seen = now;
        let was_online = !known.conns.is_empty();
        let changed = known.profile != profile;
        known.profile = profile;
        known.conns.push(conn);
        match (was_online, changed) {
            (false, _) => Change::CameOnline,
            (true, true) => Change::ProfileChanged,
            (true, false) => Change::Nothing,
        }
    }

    pub(crate) fn logout(&mut self, id: ClientId, conn: ConnId, now: Timestamp) -> Change {
        let Some(known) = self.known.get_mut(&id) else {
            return Change::Nothing;
        };
        let before = known.conns.len();
        known.conns.retain(|c| *c != conn);
        known.last_seen = now;
        if before > 0 && known.conns.is_empty() {
            Change::WentOffline
        } else {
            Change::Nothing
        }
    }

    pub(crate) fn set_profile(&mut self, id: ClientId, profile: Profile) -> bool {
        match self.known.get_mut(&id) {
            Some(k) if k.profile != profile => {
                k.profile = profile;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn touch(&mut self, id: ClientId, now: Timestamp) {
        if let Some(k) = self.known.get_mut(&id) {
            k.last_seen = now;
        }
    }

    fn forget_oldest_offline(&mut self) {
        let oldest = self
            .known
            .iter()
            .filter(|(_, k)| k.conns.is_empty())
            .min_by_key(|(_, k)| k.last_seen)
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.known.remove(&id);
        }
    }
}
