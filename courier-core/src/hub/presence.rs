//! The contact directory: every client the hub has seen, and its live connections.
//!
//! Bounded: at most [`Config::max_known`](super::Config::max_known) contacts and
//! [`Config::avatars_total`](super::Config::avatars_total) bytes of pictures (by
//! default [`limits::MAX_KNOWN_CONTACTS`] and [`limits::AVATARS_TOTAL`]). When either is full, identities that never came back (seen at one login only)
//! go first, oldest first, then other offline members, oldest first; online members are
//! never forgotten, and a picture that does not fit is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use serde_bytes::ByteBuf;

use super::ConnId;
use super::db::{Member, Record};
use crate::limits;
use crate::proto::{
    ClientId, Contact, ContactCard, KeyBundle, Mark, Profile, Seen, SeenList, Timestamp,
};

/// One known client.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub(crate) profile: Profile,
    /// Logged-in connections of this identity (a person may run `listen` and `say` at once).
    pub(crate) conns: Vec<ConnId>,
    first_seen: Option<Timestamp>,
    pub(crate) last_seen: Timestamp,
    /// How many times it logged in: once means it never came back.
    logins: u32,
    /// When its picture last changed.
    avatar_changed: Option<Timestamp>,
    /// Since when its device may log in without the password.
    remembered_since: Option<Timestamp>,
    /// Its published keys, newest first (at most [`super::keys::KEPT_BUNDLES`]).
    pub(crate) bundles: Vec<KeyBundle>,
    /// When its card last changed, on the directory's [`Mark`] scale.
    card_mark: Mark,
    /// Online when the hub last stopped, and not back yet: shown online to others until
    /// it is back (its return is then no news) or the grace after the start ends
    /// ([`Directory::end_returns`]). Never a connection: nothing is delivered to it.
    returning: bool,
}

impl Known {
    /// Whether others are shown it online: logged in, or coming back after a restart.
    pub(crate) fn shown_online(&self) -> bool {
        !self.conns.is_empty() || self.returning
    }

    pub(crate) fn contact(&self, id: ClientId) -> Contact {
        let mut profile = ContactCard::from(&self.profile);
        profile.keys = self.bundles.first().map(KeyBundle::key_id);
        Contact {
            id,
            profile,
            online: self.shown_online(),
            last_seen: self.last_seen,
        }
    }

    /// Where it is, without its card (no picture hashed: a returning client's list names
    /// every contact this way).
    pub(crate) fn seen(&self, id: ClientId) -> Seen {
        Seen {
            id,
            online: self.shown_online(),
            last_seen: self.last_seen,
        }
    }

    /// Logged in once, long ago, and never again: a throwaway identity, or someone who
    /// tried Courier once. what waits for it is not stored for the usual month.
    pub(crate) fn never_came_back(&self, since: Timestamp, start: Timestamp) -> bool {
        self.logins <= 1 && self.conns.is_empty() && self.last_seen.max(start) < since
    }

    /// First seen less than `age` before `now` (one the hub kept before it noted first
    /// sightings is not new).
    pub(crate) fn is_new(&self, now: Timestamp, age: std::time::Duration) -> bool {
        let newcomer = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
        self.first_seen
            .is_some_and(|first| now.0.saturating_sub(first.0) < newcomer)
    }

    /// Order of forgetting: identities that never came back first, then the oldest.
    fn keep_rank(&self) -> (bool, Timestamp) {
        (self.logins > 1, self.last_seen)
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

/// Why a new picture was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AvatarRefused {
    /// The last change was less than [`limits::AVATAR_CHANGE_EVERY`] ago.
    TooSoon,
    /// The hub's room for pictures is full of online members' pictures.
    NoRoom,
}

impl AvatarRefused {
    pub(crate) fn text(self) -> &'static str {
        match self {
            Self::TooSoon => "a picture can change once a minute; the rest was saved",
            Self::NoRoom => "the hub keeps no more pictures now; the rest was saved",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Directory {
    known: BTreeMap<ClientId, Known>,
    max_known: usize,
    avatar_bytes: usize,
    max_avatar_bytes: usize,
    /// Members changed since the last [`Directory::take_records`]: each is written once
    /// per batch however often it changed.
    dirty: BTreeSet<ClientId>,
    /// Members whose published keys changed since the last write.
    keys_dirty: BTreeSet<ClientId>,
    /// Members forgotten since then.
    forgotten: Vec<ClientId>,
    /// Whether changes are recorded at all (a hub with a database); without, nothing
    /// piles up for a [`Directory::take_records`] that never comes.
    recording: bool,
    /// The newest card change's mark.
    mark: Mark,
    /// The newest mark the database held when this hub started.
    restored: Mark,
    /// The first mark this run gave (`None`: no card changed yet).
    run_first: Option<Mark>,
    /// Members whose card changed since the last presence batch took them
    /// ([`Directory::take_card_change`]).
    cards_changed: BTreeSet<ClientId>,
}

impl Default for Directory {
    fn default() -> Self {
        Self::new(limits::MAX_KNOWN_CONTACTS, limits::AVATARS_TOTAL)
    }
}

impl Directory {
    /// At most `max_known` contacts and `max_avatar_bytes` of pictures.
    pub(crate) fn new(max_known: usize, max_avatar_bytes: usize) -> Self {
        Self {
            known: BTreeMap::new(),
            max_known,
            avatar_bytes: 0,
            max_avatar_bytes,
            dirty: BTreeSet::new(),
            keys_dirty: BTreeSet::new(),
            forgotten: Vec::new(),
            recording: false,
            mark: Mark::default(),
            restored: Mark::default(),
            run_first: None,
            cards_changed: BTreeSet::new(),
        }
    }

    /// The newest card change's mark: a client that has every card as it is now is at it.
    pub(crate) fn mark(&self) -> Mark {
        self.mark
    }

    /// Whether a client that holds the list at `known` may be sent only what changed
    /// since: its mark is one this run gave, or one the database had when it started.
    /// Not one between: that is a list from a future this hub never saw (it was started
    /// from an older copy of its folder, or lost its last writes), whose cards may be
    /// newer than the hub's; that client gets the whole list.
    pub(crate) fn knows_mark(&self, known: Mark) -> bool {
        known <= self.restored || self.run_first.is_some_and(|first| known >= first)
    }

    /// `id`'s card changed at `now`: it gets the next mark (the wall clock in
    /// milliseconds, or one past the last mark if the clock is behind it), and waits for
    /// the next presence batch.
    fn card_changed(&mut self, id: ClientId, now: Timestamp) {
        let Some(k) = self.known.get_mut(&id) else {
            return;
        };
        self.mark = Mark(self.mark.0.saturating_add(1).max(now.0));
        self.run_first.get_or_insert(self.mark);
        k.card_mark = self.mark;
        self.cards_changed.insert(id);
        if self.recording {
            self.dirty.insert(id);
        }
    }

    /// Whether `id`'s card changed since the last batch that took it (and takes it: the
    /// batch sends the card).
    pub(crate) fn take_card_change(&mut self, id: &ClientId) -> bool {
        self.cards_changed.remove(id)
    }

    /// Members whose card changed and that no batch took yet.
    pub(crate) fn cards_changed(&self) -> &BTreeSet<ClientId> {
        &self.cards_changed
    }

    /// Takes back the members the database held when the hub last ran (all offline), best given
    /// in keep order (as [`crate::hub::db::Db::each_member`] gives them). Within the
    /// same bounds as ever: past them the ones that matter least are left out, and
    /// pictures past the budget are dropped (in keep order, the least kept members').
    /// From then on changes are recorded for [`Directory::take_records`].
    /// `started` is the hub's start: a card changed while restoring (a picture dropped)
    /// is marked then.
    pub(crate) fn restore(
        &mut self,
        members: impl IntoIterator<Item = Member>,
        started: Timestamp,
    ) {
        self.recording = true;
        for m in members {
            self.restore_one(m, started);
        }
    }

    /// Takes back one member from the database (see [`Directory::restore`]).
    pub(crate) fn restore_one(&mut self, m: Member, started: Timestamp) {
        self.recording = true;
        if self.known.len() >= self.max_known && !self.known.contains_key(&m.id) {
            // Full: the least kept of all is left out, this one unless it ranks higher
            // (in keep order it never does, and this costs nothing more).
            let rank = (m.logins > 1, m.last_seen);
            let worst = self
                .known
                .iter()
                .filter(|(_, k)| k.conns.is_empty())
                .min_by_key(|(_, k)| k.keep_rank())
                .map(|(id, k)| (*id, k.keep_rank()));
            match worst {
                Some((out, its)) if its < rank => {
                    if let Some(old) = self.known.remove(&out) {
                        self.avatar_bytes -= old.profile.avatar.len();
                    }
                    self.cards_changed.remove(&out);
                    self.forgotten.push(out);
                }
                _ => {
                    self.forgotten.push(m.id);
                    return;
                }
            }
        }
        let mut profile = m.profile;
        let dropped = self.avatar_bytes + profile.avatar.len() > self.max_avatar_bytes;
        if dropped {
            profile.avatar = ByteBuf::new();
            self.note_changed(m.id);
        }
        self.avatar_bytes += profile.avatar.len();
        let known = Known {
            profile,
            conns: Vec::new(),
            first_seen: m.first_seen,
            last_seen: m.last_seen,
            logins: m.logins,
            avatar_changed: m.avatar_changed,
            remembered_since: m.remembered_since,
            bundles: Vec::new(),
            card_mark: m.card_mark,
            returning: false,
        };
        self.mark = self.mark.max(m.card_mark);
        self.restored = self.restored.max(m.card_mark);
        if let Some(old) = self.known.insert(m.id, known) {
            self.avatar_bytes -= old.profile.avatar.len();
        }
        if dropped {
            self.card_changed(m.id, started);
        }
    }

    /// Replaces `id`'s published keys (newest first), to be written; a new newest key
    /// changes its card.
    pub(crate) fn set_bundles(&mut self, id: ClientId, bundles: Vec<KeyBundle>, now: Timestamp) {
        if let Some(k) = self.known.get_mut(&id) {
            let newest = bundles.first().map(KeyBundle::key_id);
            let changed = k.bundles.first().map(KeyBundle::key_id) != newest;
            k.bundles = bundles;
            if self.recording {
                self.keys_dirty.insert(id);
            }
            if changed {
                self.card_changed(id, now);
            }
        }
    }

    /// Takes back `id`'s published keys from the database.
    pub(crate) fn restore_bundles(&mut self, id: ClientId, bundles: Vec<KeyBundle>) {
        if let Some(k) = self.known.get_mut(&id) {
            k.bundles = bundles;
        }
    }

    /// These members were online when the hub last stopped: each one known is shown
    /// online until it is back or [`Directory::end_returns`].
    pub(crate) fn expect_returns(&mut self, ids: impl IntoIterator<Item = ClientId>) {
        for id in ids {
            if let Some(k) = self.known.get_mut(&id) {
                k.returning = k.conns.is_empty();
            }
        }
    }

    /// `id` is no longer expected back (the owner banned it); returns whether it was.
    pub(crate) fn end_return(&mut self, id: &ClientId) -> bool {
        self.known
            .get_mut(id)
            .is_some_and(|k| std::mem::take(&mut k.returning))
    }

    /// The grace after a restart ended: the members still expected back are offline
    /// now (as they were since the stop). Returns them, for others to hear.
    pub(crate) fn end_returns(&mut self) -> Vec<ClientId> {
        self.known
            .iter_mut()
            .filter_map(|(id, k)| std::mem::take(&mut k.returning).then_some(*id))
            .collect()
    }

    fn note_changed(&mut self, id: ClientId) {
        if self.recording {
            self.dirty.insert(id);
        }
    }

    /// What changed since the last call, to be written to the hub's database.
    pub(crate) fn take_records(&mut self) -> Vec<Record> {
        let mut records: Vec<Record> = self.forgotten.drain(..).map(Record::Forget).collect();
        for id in std::mem::take(&mut self.dirty) {
            if let Some(k) = self.known.get(&id) {
                records.push(Record::Member(Member {
                    id,
                    profile: k.profile.clone(),
                    first_seen: k.first_seen,
                    last_seen: k.last_seen,
                    logins: k.logins,
                    avatar_changed: k.avatar_changed,
                    remembered_since: k.remembered_since,
                    card_mark: k.card_mark,
                }));
            }
        }
        for id in std::mem::take(&mut self.keys_dirty) {
            if let Some(k) = self.known.get(&id) {
                records.push(Record::Keys {
                    id,
                    bundles: k.bundles.clone(),
                });
            }
        }
        records
    }

    pub(crate) fn get(&self, id: &ClientId) -> Option<&Known> {
        self.known.get(id)
    }

    pub(crate) fn online(&self) -> impl Iterator<Item = (&ClientId, &Known)> {
        self.known.iter().filter(|(_, k)| !k.conns.is_empty())
    }

    /// Contacts known.
    pub(crate) fn len(&self) -> usize {
        self.known.len()
    }

    /// Bytes of pictures kept.
    pub(crate) fn avatar_bytes(&self) -> usize {
        self.avatar_bytes
    }

    /// Up to `n` contacts after `after` (by id), leaving out `me`, and where the next
    /// page starts (`None`: this was the last). A cursor, not a snapshot: a connection
    /// paging through the list holds one id, whatever the list's length.
    pub(crate) fn page(
        &self,
        me: ClientId,
        after: Option<ClientId>,
        n: usize,
    ) -> (Vec<Contact>, Option<ClientId>) {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rest = self
            .known
            .range((start, Bound::Unbounded))
            .filter(|(id, _)| **id != me);
        let page: Vec<Contact> = rest
            .by_ref()
            .take(n)
            .map(|(id, k)| k.contact(*id))
            .collect();
        let next = match (rest.next(), page.last()) {
            (Some(_), Some(last)) => Some(last.id),
            _ => None,
        };
        (page, next)
    }

    /// The next page of a returning client's list: up to `n` contacts after `after` (by
    /// id), leaving out `me`, each where it is, with the cards of those whose card
    /// changed after `since` (at most `cards` of them: the page ends before the one
    /// past); and where the next page starts (`None`: this was the last). A cursor, as
    /// [`Directory::page`].
    pub(crate) fn roster_page(
        &self,
        me: ClientId,
        after: Option<ClientId>,
        since: Mark,
        n: usize,
        cards: usize,
    ) -> (Vec<Contact>, SeenList, Option<ClientId>) {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rest = self
            .known
            .range((start, Bound::Unbounded))
            .filter(|(id, _)| **id != me)
            .peekable();
        let mut changed = Vec::new();
        let mut seen = Vec::new();
        while let Some((id, k)) = rest.peek() {
            let card = k.card_mark > since;
            if seen.len() >= n || (card && changed.len() >= cards) {
                break;
            }
            seen.push(k.seen(**id));
            if card {
                changed.push(k.contact(**id));
            }
            rest.next();
        }
        let next = match (rest.peek(), seen.last()) {
            (Some(_), Some(last)) => Some(last.id),
            _ => None,
        };
        (changed, SeenList::pack(&seen), next)
    }

    /// `id` logged in on `conn` with `profile` (whose picture, if any, is ignored: the
    /// picture arrives with a profile update after login; the one known is kept).
    pub(crate) fn login(
        &mut self,
        id: ClientId,
        conn: ConnId,
        mut profile: Profile,
        now: Timestamp,
    ) -> Change {
        if !self.known.contains_key(&id) && self.known.len() >= self.max_known {
            self.forget_one();
        }
        let new = !self.known.contains_key(&id);
        let known = self.known.entry(id).or_insert_with(|| Known {
            profile: Profile::default(),
            conns: Vec::new(),
            first_seen: Some(now),
            last_seen: now,
            logins: 0,
            avatar_changed: None,
            remembered_since: None,
            bundles: Vec::new(),
            card_mark: Mark::default(),
            returning: false,
        });
        profile.avatar = std::mem::take(&mut known.profile.avatar);
        known.last_seen = now;
        known.logins = known.logins.saturating_add(1);
        // One coming back after a restart was shown online all along.
        let was_online = known.shown_online();
        known.returning = false;
        let changed = known.profile != profile;
        known.profile = profile;
        known.conns.push(conn);
        self.note_changed(id);
        if changed || new {
            self.card_changed(id, now);
        }
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
            self.note_changed(id);
            Change::WentOffline
        } else {
            Change::Nothing
        }
    }

    /// Replaces `id`'s profile; returns whether it changed. A new picture must wait
    /// [`limits::AVATAR_CHANGE_EVERY`] after the last and fit the hub's room for
    /// pictures: otherwise the rest of the profile is taken and the picture refused.
    pub(crate) fn set_profile(
        &mut self,
        id: ClientId,
        mut profile: Profile,
        now: Timestamp,
    ) -> Result<bool, AvatarRefused> {
        let Some(known) = self.known.get(&id) else {
            return Ok(false);
        };
        let mut refused = None;
        if profile.avatar != known.profile.avatar {
            let every = u64::try_from(limits::AVATAR_CHANGE_EVERY.as_millis()).unwrap_or(u64::MAX);
            let too_soon = known
                .avatar_changed
                .is_some_and(|t| now.0.saturating_sub(t.0) < every);
            let old = known.profile.avatar.len();
            let new = profile.avatar.len();
            if too_soon {
                refused = Some(AvatarRefused::TooSoon);
            } else if new > old && !self.make_room(new - old, id, now) {
                refused = Some(AvatarRefused::NoRoom);
            }
            match refused {
                Some(_) => profile.avatar = known_avatar(&self.known, &id),
                None => {
                    self.avatar_bytes = self.avatar_bytes + new - old;
                    if let Some(k) = self.known.get_mut(&id) {
                        k.avatar_changed = Some(now);
                    }
                }
            }
        }
        let Some(known) = self.known.get_mut(&id) else {
            return Ok(false);
        };
        let changed = known.profile != profile;
        known.profile = profile;
        if changed {
            self.card_changed(id, now);
        }
        match refused {
            Some(r) => Err(r),
            None => Ok(changed),
        }
    }

    /// Frees `bytes` of the picture budget by dropping offline contacts' pictures (never
    /// `keep`'s); false if even that is not enough.
    fn make_room(&mut self, bytes: usize, keep: ClientId, now: Timestamp) -> bool {
        while self.avatar_bytes + bytes > self.max_avatar_bytes {
            let victim = self
                .known
                .iter()
                .filter(|(id, k)| {
                    **id != keep && k.conns.is_empty() && !k.profile.avatar.is_empty()
                })
                .min_by_key(|(_, k)| k.keep_rank())
                .map(|(id, _)| *id);
            let Some(victim) = victim else {
                return false;
            };
            if let Some(k) = self.known.get_mut(&victim) {
                self.avatar_bytes -= k.profile.avatar.len();
                k.profile.avatar = ByteBuf::new();
                self.card_changed(victim, now);
            }
        }
        true
    }

    /// Whether `id`'s device may log in without the password.
    pub(crate) fn is_remembered(&self, id: &ClientId) -> bool {
        self.known
            .get(id)
            .is_some_and(|k| k.remembered_since.is_some())
    }

    /// Remembers `id`'s device from `now` (if not already).
    pub(crate) fn remember(&mut self, id: ClientId, now: Timestamp) {
        if let Some(k) = self.known.get_mut(&id)
            && k.remembered_since.is_none()
        {
            k.remembered_since = Some(now);
            self.note_changed(id);
        }
    }

    /// Stops remembering `id`'s device; returns whether it was, and its connections.
    pub(crate) fn forget_device(&mut self, id: ClientId) -> (bool, Vec<ConnId>) {
        let Some(k) = self.known.get_mut(&id) else {
            return (false, Vec::new());
        };
        let was = k.remembered_since.take().is_some();
        let conns = k.conns.clone();
        if was {
            self.note_changed(id);
        }
        (was, conns)
    }

    pub(crate) fn touch(&mut self, id: ClientId, now: Timestamp) {
        if let Some(k) = self.known.get_mut(&id) {
            k.last_seen = now;
        }
    }

    /// Forgets the offline contact that matters least (not one shown online while it
    /// comes back after a restart: others were told it is online).
    fn forget_one(&mut self) {
        let victim = self
            .known
            .iter()
            .filter(|(_, k)| !k.shown_online())
            .min_by_key(|(_, k)| k.keep_rank())
            .map(|(id, _)| *id);
        if let Some(id) = victim
            && let Some(k) = self.known.remove(&id)
        {
            self.avatar_bytes -= k.profile.avatar.len();
            self.dirty.remove(&id);
            self.keys_dirty.remove(&id);
            self.cards_changed.remove(&id);
            if self.recording {
                self.forgotten.push(id);
            }
        }
    }
}

fn known_avatar(known: &BTreeMap<ClientId, Known>, id: &ClientId) -> ByteBuf {
    known
        .get(id)
        .map(|k| k.profile.avatar.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> ClientId {
        let mut b = [0u8; 32];
        b[..2].copy_from_slice(&n.to_le_bytes());
        ClientId(b)
    }

    fn pictured(name: &str, bytes: usize) -> Profile {
        Profile {
            avatar: ByteBuf::from(vec![7u8; bytes]),
            ..Profile::with_name(name)
        }
    }

    const MINUTE: u64 = 60_000;

    #[test]
    fn throwaways_go_first_and_pictures_stay_within_budget() {
        let mut d = Directory::new(10, 1000);
        // A member: came back once, has a picture, is offline now.
        let member = id(1);
        for t in [1, 2] {
            d.login(
                member,
                ConnId(t),
                Profile::with_name("member"),
                Timestamp(t),
            );
            d.logout(member, ConnId(t), Timestamp(t));
        }
        d.login(
            member,
            ConnId(3),
            Profile::with_name("member"),
            Timestamp(3),
        );
        d.set_profile(member, pictured("member", 400), Timestamp(3))
            .unwrap();
        d.logout(member, ConnId(3), Timestamp(3));
        // Twenty throwaway identities with pictures, one login each.
        for n in 0..20u16 {
            let t = Timestamp(10 + u64::from(n));
            d.login(
                id(100 + n),
                ConnId(100 + u64::from(n)),
                Profile::with_name("t"),
                t,
            );
            assert_eq!(d.set_profile(id(100 + n), pictured("t", 300), t), Ok(true));
            d.logout(id(100 + n), ConnId(100 + u64::from(n)), t);
            assert!(d.avatar_bytes() <= 1000, "pictures over budget");
            assert!(d.len() <= 10, "contacts over the cap");
        }
        let kept = d.get(&member).expect("the member is remembered");
        assert_eq!(kept.profile.avatar.len(), 400, "and keeps its picture");
        // Online members' pictures are never dropped: one that does not fit is refused,
        // and the rest of the profile is taken.
        let mut d = Directory::new(10, 1000);
        d.login(id(1), ConnId(1), Profile::with_name("a"), Timestamp(0));
        d.set_profile(id(1), pictured("a", 900), Timestamp(0))
            .unwrap();
        d.login(id(2), ConnId(2), Profile::with_name("b"), Timestamp(0));
        assert_eq!(
            d.set_profile(id(2), pictured("b2", 900), Timestamp(0)),
            Err(AvatarRefused::NoRoom)
        );
        assert_eq!(d.get(&id(2)).map(|k| k.profile.name.as_str()), Some("b2"));
        assert_eq!(d.avatar_bytes(), 900);
    }

    #[test]
    fn a_picture_changes_at_most_once_a_minute() {
        let mut d = Directory::new(10, 1 << 20);
        d.login(id(1), ConnId(1), Profile::with_name("a"), Timestamp(0));
        assert_eq!(
            d.set_profile(id(1), pictured("a", 10), Timestamp(0)),
            Ok(true)
        );
        assert_eq!(
            d.set_profile(id(1), pictured("a", 20), Timestamp(MINUTE - 1)),
            Err(AvatarRefused::TooSoon)
        );
        assert_eq!(d.get(&id(1)).map(|k| k.profile.avatar.len()), Some(10));
        assert_eq!(
            d.set_profile(id(1), pictured("a", 20), Timestamp(MINUTE)),
            Ok(true)
        );
        // A login keeps the picture the hub has; the profile's own is not sent at login.
        d.logout(id(1), ConnId(1), Timestamp(MINUTE));
        d.login(
            id(1),
            ConnId(2),
            Profile::with_name("a"),
            Timestamp(MINUTE + 1),
        );
        assert_eq!(d.get(&id(1)).map(|k| k.profile.avatar.len()), Some(20));
    }

    #[test]
    fn pages_follow_a_cursor_and_leave_out_the_asker() {
        let mut d = Directory::new(100, 1 << 20);
        for n in 0..10 {
            d.login(
                id(n),
                ConnId(u64::from(n)),
                Profile::with_name("x"),
                Timestamp(0),
            );
        }
        let me = id(3);
        let (p1, next) = d.page(me, None, 4);
        assert_eq!(p1.len(), 4);
        let (p2, next) = d.page(me, next, 4);
        let (p3, next) = d.page(me, next, 4);
        assert_eq!(next, None);
        let all: Vec<ClientId> = p1.iter().chain(&p2).chain(&p3).map(|c| c.id).collect();
        assert_eq!(all.len(), 9);
        assert!(!all.contains(&me));
    }

    /// A returning client's list names every contact by where it is: no picture is
    /// hashed for a contact whose card did not change (a card names its picture by a
    /// SHA-256, and a hub keeps up to 16 MiB of pictures: hashing them all for each of
    /// thousands of returning clients would be the storm's whole cost).
    #[test]
    fn a_roster_hashes_no_picture_of_an_unchanged_card() {
        let mut d = Directory::new(1000, 1 << 24);
        for n in 0..300u16 {
            d.login(
                id(n),
                ConnId(u64::from(n)),
                Profile::with_name("x"),
                Timestamp(1),
            );
            d.set_profile(id(n), pictured("x", 8 * 1024), Timestamp(2))
                .unwrap();
        }
        let since = d.mark();
        // One card changes after the mark: its picture, and only its, is hashed.
        d.set_profile(id(7), pictured("renamed", 8 * 1024), Timestamp(MINUTE * 2))
            .unwrap();
        let before = crate::proto::HASHED.with(std::cell::Cell::get);
        let (mut after, mut cards, mut named) = (None, 0, 0);
        loop {
            let (changed, seen, next) = d.roster_page(id(999), after, since, 256, 16);
            cards += changed.len();
            named += seen.len();
            after = next;
            if after.is_none() {
                break;
            }
        }
        let hashed = crate::proto::HASHED.with(std::cell::Cell::get) - before;
        assert_eq!((cards, named), (1, 300));
        assert_eq!(hashed, 1, "only the changed card's picture");
    }

    fn restored(id: ClientId, name: &str, logins: u32, last_seen: u64) -> Member {
        Member {
            id,
            profile: Profile::with_name(name),
            first_seen: Some(Timestamp(1)),
            last_seen: Timestamp(last_seen),
            logins,
            avatar_changed: None,
            remembered_since: None,
            card_mark: Default::default(),
        }
    }

    #[test]
    fn without_a_database_nothing_is_recorded() {
        let mut d = Directory::new(2, 1000);
        for n in 1..=5 {
            d.login(
                id(n),
                ConnId(u64::from(n)),
                Profile::with_name("x"),
                Timestamp(1),
            );
            d.logout(id(n), ConnId(u64::from(n)), Timestamp(2));
        }
        assert!(d.take_records().is_empty());
    }

    /// A member shown online while it comes back after a restart is not the one forgotten
    /// to make room for a newcomer: the others were told it is online.
    #[test]
    fn a_member_expected_back_is_not_forgotten_for_a_newcomer() {
        let mut d = Directory::new(2, 1 << 20);
        d.restore(
            [restored(id(1), "a", 1, 100), restored(id(2), "b", 5, 50)],
            Timestamp(200),
        );
        d.expect_returns([id(1)]);
        d.login(id(3), ConnId(3), Profile::with_name("c"), Timestamp(300));
        assert!(d.get(&id(1)).is_some(), "expected back: kept");
        assert!(d.get(&id(2)).is_none(), "the offline one went");
    }

    #[test]
    fn restored_members_are_offline_and_changes_come_out_once_per_batch() {
        let mut d = Directory::new(10, 1000);
        d.restore(
            vec![restored(id(1), "Ada", 3, 50), restored(id(2), "Bob", 1, 60)],
            Timestamp(1000),
        );
        assert_eq!(d.len(), 2);
        assert_eq!(d.online().count(), 0);
        assert!(d.take_records().is_empty(), "restoring writes nothing back");
        assert_eq!(d.get(&id(1)).map(|k| k.profile.name.as_str()), Some("Ada"));

        // Ada logs in, changes her status twice, logs out: one record, the last state.
        d.login(id(1), ConnId(1), Profile::with_name("Ada"), Timestamp(100));
        let mut busy = Profile::with_name("Ada");
        busy.status = "busy".into();
        d.set_profile(id(1), busy.clone(), Timestamp(101)).unwrap();
        busy.status = "away".into();
        d.set_profile(id(1), busy.clone(), Timestamp(102)).unwrap();
        d.logout(id(1), ConnId(1), Timestamp(103));
        let records = d.take_records();
        assert_eq!(
            records,
            vec![Record::Member(Member {
                id: id(1),
                profile: busy,
                first_seen: Some(Timestamp(1)),
                last_seen: Timestamp(103),
                logins: 4,
                avatar_changed: None,
                remembered_since: None,
                card_mark: Mark(102),
            })]
        );
        assert!(d.take_records().is_empty());
    }

    #[test]
    fn forgetting_and_overflow_at_restore_are_recorded() {
        let mut d = Directory::new(2, 1000);
        // Three kept, room for two: the one that never came back is left out.
        d.restore(
            vec![
                restored(id(1), "Ada", 3, 50),
                restored(id(2), "Bob", 1, 60),
                restored(id(3), "Cy", 2, 40),
            ],
            Timestamp(1000),
        );
        assert_eq!(d.take_records(), vec![Record::Forget(id(2))]);
        // A newcomer when full pushes out the least kept offline member.
        d.login(id(4), ConnId(4), Profile::with_name("Dee"), Timestamp(70));
        let records = d.take_records();
        assert!(records.contains(&Record::Forget(id(3))), "{records:?}");
        assert!(
            records
                .iter()
                .any(|r| matches!(r, Record::Member(m) if m.id == id(4))),
            "{records:?}"
        );
    }
}
