//! The session's end-to-end keys: the [`Keyring`] it was given, the clock it is used
//! with, whose keys it asked the hub for, and what it must know to seal to a room (the
//! members of our groups, who is online). Sealing is in `sealing.rs`, opening in
//! `opening.rs`; both call the keyring through [`KeyState`].
//!
//! Keys are bundles each device publishes signed by its certificate key; the hub only
//! hands them out. A contact card names the sealing key of its newest bundle
//! ([`crate::proto::ContactCard::keys`]): when it changes, the bundles are fetched again
//! before the next message is sealed to that contact.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::sealing::Waiting;
use super::unopened::Unopened;
use super::{Event, Session};
use crate::proto::{
    ClientFrame, ClientId, Contact, GroupChange, GroupEvent, GroupId, KeyBundle, KeyId, MsgId,
    Target, Timestamp,
};
use crate::seal::{BundleError, KeyPolicy, Keyring};

/// How often a session that stays logged in asks its keyring whether the sealing key is
/// due for rotation (and publishes the new bundle if it was rotated).
pub(crate) const ROTATION_CHECK: Duration = Duration::from_secs(3600);

/// At most this many key requests are out at once; the rest wait their turn (a message
/// to everyone with hundreds of contacts never known must not trip the hub's limit).
pub(crate) const MAX_FETCHES: usize = 32;

/// The session's keys and what it needs to use them.
#[derive(Default)]
pub(crate) struct KeyState {
    /// This device's keys; `None`: the session can neither seal nor open.
    pub(crate) keyring: Option<Keyring>,
    /// The wall clock, as the driver gave it at a moment of the monotonic one.
    pub(crate) wall: Option<(Instant, Timestamp)>,
    /// The id of the bundle we published last.
    pub(crate) published: Option<KeyId>,
    /// When to ask the keyring about rotation next.
    pub(crate) rotation_due: Option<Instant>,
    /// Contacts whose keys we asked the hub for: when, and how many times so far.
    pub(crate) fetching: BTreeMap<ClientId, (Instant, u32)>,
    /// Contacts whose keys we will ask for when fewer than [`MAX_FETCHES`] are out.
    pub(crate) queued: VecDeque<ClientId>,
    /// Contacts whose card names a key we have not fetched yet.
    pub(crate) stale: BTreeSet<ClientId>,
    /// Contacts the hub has no usable keys for (until their card names a new key).
    pub(crate) keyless: BTreeMap<ClientId, Unusable>,
    /// Outgoing messages and offers waiting for keys, oldest first.
    pub(crate) waiting: Vec<Waiting>,
    /// Received sealed things waiting for what opens them.
    pub(crate) unopened: Unopened,
    /// Ids of the key shares we sent: their receipts are ours, never events.
    /// (which room's key, to whom), so that a refused one is shared again.
    pub(crate) internal: HashMap<MsgId, (Target, ClientId)>,
    /// The members of our groups (without us).
    pub(crate) members: HashMap<GroupId, Vec<ClientId>>,
    /// Plain envelopes for the hub's tests (`plain.rs`).
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) plain: bool,
}

/// Why the hub's keys for a contact cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// It has none.
    None,
    /// None of them verified: signed by another key, or for another device.
    Unsigned,
}

impl KeyState {
    /// The wall-clock time at `now` (the driver's clock moved on by the monotonic one).
    pub(crate) fn wall(&self, now: Instant) -> Timestamp {
        match self.wall {
            Some((at, time)) => {
                let since = now.saturating_duration_since(at).as_millis();
                Timestamp(
                    time.0
                        .saturating_add(u64::try_from(since).unwrap_or(u64::MAX)),
                )
            }
            None => Timestamp(0),
        }
    }
}

impl Session {
    /// Gives the session this device's keys: it publishes them at login, seals what it
    /// sends and opens what it receives. `wall` is the wall-clock time at the `now` the
    /// session was made with (keys expire by the wall clock). Without a keyring a
    /// session can send no message and reports every sealed one as unreadable.
    #[must_use]
    pub fn with_keyring(mut self, keyring: Keyring, wall: Timestamp) -> Self {
        self.keys.keyring = Some(keyring);
        self.keys.wall = Some((self.started, wall));
        #[cfg(any(test, feature = "test-util"))]
        {
            self.keys.plain = false;
        }
        self
    }

    /// Takes the keyring back (the driver keeps it for the next connection).
    pub fn take_keyring(&mut self) -> Option<Keyring> {
        self.keys.keyring.take()
    }

    /// Welcome: the hub keeps messages for offline members `offline_days` days, so
    /// rotated keys are kept that long plus a grace period
    /// ([`KeyPolicy::for_offline_days`]); then our keys are published.
    pub(super) fn keys_at_welcome(&mut self, offline_days: u32, now: Instant) {
        if let Some(keyring) = &mut self.keys.keyring {
            keyring.set_policy(KeyPolicy::for_offline_days(offline_days));
        }
        self.publish_keys(now);
    }

    /// Publishes our bundle if it is new (first login, or rotated since).
    fn publish_keys(&mut self, now: Instant) {
        let wall = self.keys.wall(now);
        self.keys.rotation_due = Some(now + ROTATION_CHECK);
        let Some(keyring) = &mut self.keys.keyring else {
            return;
        };
        match keyring.bundle(wall) {
            Ok(bundle) => {
                let id = bundle.key_id();
                if self.keys.published != Some(id) {
                    self.keys.published = Some(id);
                    self.transmit(ClientFrame::PublishKeys(bundle), now);
                }
            }
            Err(e) => tracing::warn!("this device's keys cannot be published: {e}"),
        }
    }

    /// Time passed: a rotation due, keys the hub did not send, held things waited out.
    pub(super) fn keys_timeout(&mut self, now: Instant) {
        if self.keys.rotation_due.is_some_and(|due| now >= due) {
            self.publish_keys(now);
        }
        self.fetches_timeout(now);
        self.unopened_timeout(now);
    }

    /// The next deadline of the key work.
    pub(super) fn keys_deadline(&self) -> Option<Instant> {
        let fetch = self
            .keys
            .fetching
            .values()
            .map(|&(at, _)| at)
            .min()
            .map(|at| at + super::sealing::KEYS_WITHIN);
        [self.keys.rotation_due, fetch, self.keys.unopened.deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Asks the hub for `whose` keys, unless that question is out (or queued) already;
    /// at most [`MAX_FETCHES`] questions are out at once.
    pub(super) fn fetch_keys(&mut self, whose: ClientId, now: Instant) {
        if self.keys.fetching.contains_key(&whose) || self.keys.queued.contains(&whose) {
            return;
        }
        if self.keys.fetching.len() >= MAX_FETCHES {
            self.keys.queued.push_back(whose);
            return;
        }
        self.keys.fetching.insert(whose, (now, 1));
        self.transmit(ClientFrame::GetKeys { id: whose }, now);
    }

    /// A question ended: the next queued ones go out.
    fn fetch_queued(&mut self, now: Instant) {
        while self.keys.fetching.len() < MAX_FETCHES {
            let Some(whose) = self.keys.queued.pop_front() else {
                break;
            };
            self.fetch_keys(whose, now);
        }
    }

    /// The hub's answer to [`ClientFrame::GetKeys`]. Only answers to questions we have out
    /// count (a hostile hub's answers nobody asked for are dropped, so they can neither
    /// mark a contact keyless nor grow our maps); an answer without keys never discards
    /// verified keys we hold. Then whatever waited for them goes on.
    pub(super) fn on_keys(&mut self, whose: ClientId, bundles: &[KeyBundle], now: Instant) {
        let wall = self.keys.wall(now);
        if self.keys.fetching.remove(&whose).is_none() {
            tracing::debug!(contact = %whose.short(), "keys nobody asked for: dropped");
            return;
        }
        self.fetch_queued(now);
        let outcome = match &mut self.keys.keyring {
            None => Err(Unusable::None),
            Some(keyring) => keyring.learn(whose, bundles, wall).map_err(|e| match e {
                BundleError::Missing | BundleError::Expired => Unusable::None,
                other => {
                    tracing::warn!(
                        contact = %whose.short(),
                        "keys the hub handed out do not verify: {other}"
                    );
                    Unusable::Unsigned
                }
            }),
        };
        match outcome {
            Ok(()) => {
                self.keys.keyless.remove(&whose);
                self.keys.stale.remove(&whose);
            }
            // Keys verified before still seal (the hub's answer may be a lie).
            Err(Unusable::None)
                if self
                    .keys
                    .keyring
                    .as_ref()
                    .is_some_and(|k| k.can_seal_to(whose, wall)) =>
            {
                self.keys.stale.remove(&whose);
            }
            Err(why) => {
                self.keys.keyless.insert(whose, why);
            }
        }
        self.keys_arrived(whose, now);
        self.release_keys(whose, now);
    }

    /// Keys asked for and not answered (the hub refuses requests that come too fast,
    /// without saying which): asked again, a few times; then what waits for them goes on
    /// without.
    fn fetches_timeout(&mut self, now: Instant) {
        let late: Vec<(ClientId, u32)> = self
            .keys
            .fetching
            .iter()
            .filter(|&(_, &(at, _))| {
                now.saturating_duration_since(at) >= super::sealing::KEYS_WITHIN
            })
            .map(|(&id, &(_, tries))| (id, tries))
            .collect();
        for (whose, tries) in late {
            if tries < super::sealing::KEY_REQUESTS {
                self.keys.fetching.insert(whose, (now, tries + 1));
                self.transmit(ClientFrame::GetKeys { id: whose }, now);
                continue;
            }
            self.keys.fetching.remove(&whose);
            self.fetch_queued(now);
            self.keys.keyless.entry(whose).or_insert(Unusable::None);
            self.keys_arrived(whose, now);
            self.release_keys(whose, now);
        }
    }

    /// Keeps which key each contact names current, from the contact list at login and
    /// the cards that change after (who is online is in the contact list itself).
    pub(super) fn track_contacts<'a>(&mut self, contacts: impl IntoIterator<Item = &'a Contact>) {
        let stale: Vec<ClientId> = contacts
            .into_iter()
            .filter(|c| Some(c.id) != self.me)
            .filter(|c| match (&self.keys.keyring, c.profile.keys) {
                (Some(keyring), Some(key)) => !keyring.knows_key(c.id, key),
                _ => false,
            })
            .map(|c| c.id)
            .collect();
        for id in &stale {
            self.keys.keyless.remove(id);
        }
        if self.keys.stale.is_empty() {
            // The whole list at login: built at once, in order.
            self.keys.stale = stale.into_iter().collect();
        } else {
            self.keys.stale.extend(stale);
        }
    }

    /// Keeps the members of our groups current; a membership change ends our room
    /// session for that group (the next message starts a new one, shared with the members
    /// of then only: a removed member cannot read on, an added one cannot read back).
    pub(super) fn track_groups(&mut self, event: &Event) {
        let me = self.me;
        let others = |g: &crate::proto::Group| -> Vec<ClientId> {
            g.members
                .iter()
                .map(|m| m.id)
                .filter(|id| Some(*id) != me)
                .collect()
        };
        match event {
            Event::Groups(all) => {
                self.keys.members = all.iter().map(|g| (g.id, others(g))).collect();
            }
            Event::Group(g) => {
                self.keys.members.insert(g.id, others(g));
            }
            Event::GroupGone(id) => {
                self.keys.members.remove(id);
                self.end_room(*id);
            }
            Event::GroupEvent(GroupEvent { group, change, .. }) => match change {
                GroupChange::Added(_)
                | GroupChange::Removed(_)
                | GroupChange::Left
                | GroupChange::RemovedByOwner => self.end_room(*group),
                GroupChange::Created { .. } | GroupChange::Admin { .. } => {}
            },
            _ => {}
        }
    }

    fn end_room(&mut self, group: GroupId) {
        if let Some(keyring) = &mut self.keys.keyring {
            keyring.end_room(Target::Group(group));
        }
    }

    /// Who a room message goes to: the members of a group, or everyone online.
    pub(super) fn room_members(&self, room: Target) -> Vec<ClientId> {
        match room {
            Target::Group(g) => self.keys.members.get(&g).cloned().unwrap_or_default(),
            Target::Everyone => self.roster.online(),
            Target::Client(c) => vec![c],
        }
    }
}
