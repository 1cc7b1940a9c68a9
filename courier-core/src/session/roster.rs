//! The contact list a client keeps across its connections to one hub, and how each
//! login brings it up to date: the whole list the first time, then, from a hub that
//! still knows where the client left off (its [`Mark`]), only the cards changed since
//! and where everyone is ([`crate::proto::ServerFrame::Roster`] pages). The driver lends the
//! [`Roster`] to each connection's session in turn, as it does the keyring.
//!
//! While the list comes in, every card and whereabouts that arrives (in a page or in a
//! presence batch between pages) is applied at once, in the order the hub sent it; a
//! contact no page or batch named is forgotten once the last page came. The mark moves
//! only when the list is complete (and with each [`crate::proto::ServerFrame::Mark`] after), so a
//! connection lost halfway leaves the old mark: the next login is sent the same changes
//! again, which apply twice harmlessly.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Instant;

use super::{Error, Event, Session, State};
use crate::limits;
use crate::proto::{ClientFrame, ClientId, Contact, Mark, Seen, SeenList, Timestamp};

/// The contact list as the last connection left it.
#[derive(Debug, Default)]
pub struct Roster {
    contacts: BTreeMap<ClientId, Contact>,
    /// Every card up to this mark is in `contacts` (`None`: no complete list yet).
    mark: Option<Mark>,
}

impl Roster {
    /// The mark a login gives the hub ([`ClientFrame::LoginFinish`]'s `known`).
    pub(super) fn known(&self) -> Option<Mark> {
        self.mark
    }

    /// The contacts online now.
    pub(super) fn online(&self) -> Vec<ClientId> {
        self.contacts
            .values()
            .filter(|c| c.online)
            .map(|c| c.id)
            .collect()
    }

    /// How many contacts it holds.
    pub fn len(&self) -> usize {
        self.contacts.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty()
    }
}

/// A contact list on its way in.
#[derive(Debug)]
pub(super) struct Listing {
    /// The hub's mark at its welcome: the list is at it once complete.
    mark: Mark,
    /// Whether the pages are roster pages (changes since our mark).
    roster: bool,
    /// The last contact the pages covered (they come in id order).
    after: Option<ClientId>,
    /// Contacts the pages named so far.
    count: usize,
}

impl Session {
    /// The contact list the last connection to this hub left (the driver keeps it for
    /// the next connection: a login then fetches only what changed).
    #[must_use]
    pub fn with_roster(mut self, roster: Roster) -> Self {
        self.roster = roster;
        self
    }

    /// Takes the contact list back, for the next connection.
    pub fn take_roster(&mut self) -> Roster {
        std::mem::take(&mut self.roster)
    }

    /// Welcome: the list starts, with the cards the welcome holds. A hub that answers a
    /// mark we did not give is refused.
    pub(super) fn start_listing(
        &mut self,
        mark: Mark,
        since: Option<Mark>,
        first: Vec<Contact>,
        more: bool,
    ) -> Result<(), Error> {
        if since.is_some() && since != self.roster.mark {
            return Err(Error::Unexpected);
        }
        if since.is_none() {
            // The hub did not take our mark: until this list is whole, we hold none.
            self.roster.mark = None;
        }
        self.listing = Some(Listing {
            mark,
            roster: since.is_some(),
            after: None,
            count: 0,
        });
        if first.is_empty() && more {
            // A returning client's welcome: the pages hold the whole list.
            return Ok(());
        }
        self.listed_cards(first, more)
    }

    /// A page of whole cards ([`crate::proto::ServerFrame::ContactPage`], or the
    /// welcome's first).
    pub(super) fn listed_cards(&mut self, cards: Vec<Contact>, more: bool) -> Result<(), Error> {
        let named: Vec<ClientId> = cards.iter().map(|c| c.id).collect();
        self.cover(&named, more)?;
        for c in cards {
            self.keep_card(c);
        }
        Ok(())
    }

    /// A roster page: where the contacts of the page are, and the cards that changed.
    /// Where a contact we do not hold is means our list is not what the hub thinks:
    /// this connection ends, and the next asks for the whole list.
    pub(super) fn listed_roster(
        &mut self,
        cards: Vec<Contact>,
        seen: &SeenList,
        more: bool,
    ) -> Result<(), Error> {
        if !self.listing.as_ref().is_some_and(|l| l.roster) {
            return Err(Error::Unexpected);
        }
        let seen: Vec<Seen> = seen.entries().map_err(|_| Error::Unexpected)?.collect();
        let named: Vec<ClientId> = seen.iter().map(|s| s.id).collect();
        self.cover(&named, more)?;
        let carded: Vec<ClientId> = cards.iter().map(|c| c.id).collect();
        for c in cards {
            self.keep_card(c);
        }
        for s in seen {
            if self.keep_seen(s).is_none() && !carded.contains(&s.id) {
                self.roster.mark = None;
                return Err(Error::Unexpected);
            }
        }
        Ok(())
    }

    /// A page names `named` (in id order, after the last page's): contacts we hold in
    /// the range of ids it covers (to the end, for the last page) that it does not name
    /// are ones the hub forgot. A hub (or an impostor) cannot make us take an endless
    /// list, nor one out of order.
    fn cover(&mut self, named: &[ClientId], more: bool) -> Result<(), Error> {
        let Some(listing) = &mut self.listing else {
            return Err(Error::Unexpected);
        };
        let ascending = named.windows(2).all(|w| w[0] < w[1]);
        let after_last = match (listing.after, named.first()) {
            (Some(after), Some(first)) => *first > after,
            _ => true,
        };
        listing.count += named.len();
        if !ascending || !after_last || listing.count > limits::MAX_KNOWN_CONTACTS {
            return Err(Error::Unexpected);
        }
        let from = listing.after.map_or(Bound::Unbounded, Bound::Excluded);
        let to = match (more, named.last()) {
            (false, _) => Bound::Unbounded,
            (true, Some(last)) => Bound::Included(*last),
            // A page that names nobody and promises more would never end.
            (true, None) => return Err(Error::Unexpected),
        };
        listing.after = named.last().copied().or(listing.after);
        let gone: Vec<ClientId> = self
            .roster
            .contacts
            .range((from, to))
            .map(|(id, _)| *id)
            .filter(|id| named.binary_search(id).is_err())
            .collect();
        for id in gone {
            self.roster.contacts.remove(&id);
        }
        Ok(())
    }

    /// The last page came: the list is at the welcome's mark, and the whole of it is
    /// what the login reports.
    pub(super) fn finish_listing(&mut self) -> Vec<Contact> {
        if let Some(listing) = self.listing.take() {
            self.roster.mark = Some(listing.mark);
        }
        let contacts: Vec<Contact> = self.roster.contacts.values().cloned().collect();
        self.track_contacts(&contacts);
        contacts
    }

    fn keep_card(&mut self, c: Contact) {
        if Some(c.id) == self.me {
            return;
        }
        if !self.roster.contacts.contains_key(&c.id)
            && self.roster.contacts.len() >= limits::MAX_KNOWN_CONTACTS
        {
            return;
        }
        self.roster.contacts.insert(c.id, c);
    }

    /// Where a contact we hold is now; `None` if we do not hold it.
    fn keep_seen(&mut self, s: Seen) -> Option<&Contact> {
        let c = self.roster.contacts.get_mut(&s.id)?;
        c.online = s.online;
        c.last_seen = s.last_seen;
        Some(c)
    }

    /// A batch of changed cards, after login or between pages.
    pub(super) fn batch_cards(&mut self, list: Vec<Contact>) {
        self.track_contacts(&list);
        let me = self.me;
        for c in list.into_iter().filter(|c| Some(c.id) != me) {
            self.keep_card(c.clone());
            self.events.push_back(Event::Contact(c));
        }
    }

    /// A batch of whereabouts. One for a contact we do not hold is skipped: between
    /// pages its page is still to come; after login our list is not what the hub
    /// thinks, and the next login asks for the whole list.
    pub(super) fn batch_seen(&mut self, list: &SeenList) -> Result<(), Error> {
        let me = self.me;
        for s in list.entries().map_err(|_| Error::Unexpected)? {
            if Some(s.id) == me {
                continue;
            }
            // Where a contact is changes none of its keys: nothing to track.
            match self.keep_seen(s).cloned() {
                Some(c) => self.events.push_back(Event::Contact(c)),
                None if self.listing.is_none() => self.roster.mark = None,
                None => {}
            }
        }
        Ok(())
    }

    /// Every card up to `mark` reached us: after login, the list is at it.
    pub(super) fn batch_mark(&mut self, mark: Mark) {
        if self.listing.is_none() && self.roster.mark.is_some_and(|m| m <= mark) {
            self.roster.mark = Some(mark);
        }
    }

    /// Asks for the next page, or ends the listing and reports the login.
    pub(super) fn contacts_page(
        &mut self,
        you: ClientId,
        more: bool,
        time: Timestamp,
        held: Vec<Event>,
        now: Instant,
    ) {
        if more {
            self.state = State::AwaitContacts { you, time, held };
            self.listed_at = now;
            self.transmit(ClientFrame::NextContacts, now);
        } else {
            self.state = State::Ready;
            let contacts = self.finish_listing();
            // News held while the list came of a contact the list then dropped.
            let mut held = held;
            held.retain(
                |e| !matches!(e, Event::Contact(c) if !self.roster.contacts.contains_key(&c.id)),
            );
            self.events.push_back(Event::LoggedIn {
                you,
                contacts,
                time,
            });
            self.events.extend(held);
            if !self.keep_profile && !self.profile.avatar.is_empty() {
                self.transmit(ClientFrame::SetProfile(self.profile.clone()), now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_bytes::ByteBuf;

    use super::*;
    use crate::auth::Password;
    use crate::proto::{ContactCard, Profile, ServerFrame};
    use crate::session::Timing;

    fn id(n: u8) -> ClientId {
        ClientId([n; 32])
    }

    /// A session waiting for the welcome of a remembered login, holding `roster`.
    fn waiting(roster: Roster, now: Instant) -> Session {
        let mut s = Session::new(
            Password::new(""),
            Profile::with_name("me"),
            Timing::default(),
            [1; 32],
            now,
        )
        .remembering(true, false)
        .with_roster(roster);
        s.handle_connected([0; 32], now).unwrap();
        s
    }

    fn welcome(mark: u64, since: Option<u64>, more: bool) -> ServerFrame {
        ServerFrame::Welcome {
            you: id(1),
            binding: ByteBuf::new(),
            remembered: true,
            contacts: Vec::new(),
            more,
            time: Timestamp(1),
            offline_days: 30,
            mark: Mark(mark),
            since: since.map(Mark),
        }
    }

    fn contact(n: u8) -> Contact {
        Contact {
            id: id(n),
            profile: ContactCard::default(),
            online: true,
            last_seen: Timestamp(1),
        }
    }

    fn seen(n: u8, online: bool, ms: u64) -> Seen {
        Seen {
            id: id(n),
            online,
            last_seen: Timestamp(ms),
        }
    }

    /// Pages out of id order (or going back over an earlier page's) are refused: a
    /// hub cannot make us walk a list forever. A malformed packed list is refused too.
    #[test]
    fn roster_pages_out_of_order_or_malformed_are_refused() {
        let now = Instant::now();
        let page = |a, b| ServerFrame::Roster {
            cards: Vec::new(),
            seen: SeenList::pack(&[seen(a, true, 1), seen(b, true, 1)]),
            more: true,
        };
        let mut s = waiting(held(7), now);
        s.handle_frame(welcome(9, Some(7), true), now).unwrap();
        s.handle_frame(page(2, 3), now).unwrap();
        assert!(matches!(
            s.handle_frame(page(3, 5), now),
            Err(Error::Unexpected)
        ));
        let mut s = waiting(held(7), now);
        s.handle_frame(welcome(9, Some(7), true), now).unwrap();
        assert!(matches!(
            s.handle_frame(page(3, 2), now),
            Err(Error::Unexpected)
        ));
        let mut bytes = Vec::new();
        ciborium::into_writer(&ByteBuf::from(vec![0u8; 40]), &mut bytes).unwrap();
        let short: SeenList = ciborium::from_reader(&bytes[..]).unwrap();
        let mut s = waiting(held(7), now);
        s.handle_frame(welcome(9, Some(7), true), now).unwrap();
        let bad = ServerFrame::Roster {
            cards: Vec::new(),
            seen: short,
            more: false,
        };
        assert!(matches!(s.handle_frame(bad, now), Err(Error::Unexpected)));
    }

    /// A roster at `mark` holding contacts 2 and 3.
    fn held(mark: u64) -> Roster {
        let mut roster = Roster::default();
        for n in [2, 3] {
            roster.contacts.insert(id(n), contact(n));
        }
        roster.mark = Some(Mark(mark));
        roster
    }

    #[test]
    fn a_login_gives_the_mark_of_the_list_it_holds() {
        let now = Instant::now();
        let mut s = waiting(held(7), now);
        let sent = s.poll_transmit();
        assert!(
            matches!(
                sent,
                Some(ClientFrame::LoginRemembered {
                    known: Some(Mark(7)),
                    ..
                })
            ),
            "{sent:?}"
        );
        let mut s = waiting(Roster::default(), now);
        let sent = s.poll_transmit();
        assert!(matches!(
            sent,
            Some(ClientFrame::LoginRemembered { known: None, .. })
        ));
    }

    /// A hub that answers with changes since a mark this client never gave (an
    /// impostor's, or a confused hub's) is refused: those pages cannot be applied.
    #[test]
    fn changes_since_a_mark_we_did_not_give_are_refused() {
        let now = Instant::now();
        let mut s = waiting(held(7), now);
        assert!(matches!(
            s.handle_frame(welcome(9, Some(6), true), now),
            Err(Error::Unexpected)
        ));
        let mut s = waiting(Roster::default(), now);
        assert!(matches!(
            s.handle_frame(welcome(9, Some(7), true), now),
            Err(Error::Unexpected)
        ));
    }

    /// Where a contact we do not hold is: our list is not what the hub thinks, so the
    /// connection ends and the next login asks for the whole list.
    #[test]
    fn whereabouts_of_a_contact_we_do_not_hold_end_in_a_whole_list_next_time() {
        let now = Instant::now();
        let mut s = waiting(held(7), now);
        s.handle_frame(welcome(9, Some(7), true), now).unwrap();
        let page = ServerFrame::Roster {
            cards: Vec::new(),
            seen: SeenList::pack(&[seen(2, true, 2), seen(4, true, 2)]),
            more: false,
        };
        assert!(matches!(s.handle_frame(page, now), Err(Error::Unexpected)));
        assert_eq!(s.take_roster().known(), None);
    }

    /// A roster page: cards replace, whereabouts update, contacts nobody named go, and
    /// the list is at the welcome's mark once complete.
    #[test]
    fn a_roster_brings_the_list_up_to_the_welcomes_mark() {
        let now = Instant::now();
        let mut s = waiting(held(7), now);
        s.handle_frame(welcome(9, Some(7), true), now).unwrap();
        let mut renamed = contact(4);
        renamed.profile.name = "new".into();
        let page = ServerFrame::Roster {
            cards: vec![renamed.clone()],
            seen: SeenList::pack(&[seen(2, false, 5), seen(4, true, 1)]),
            more: false,
        };
        s.handle_frame(page, now).unwrap();
        assert!(s.is_ready());
        let mut logged_in = None;
        while let Some(e) = s.poll_event() {
            if let Event::LoggedIn { contacts, .. } = e {
                logged_in = Some(contacts);
            }
        }
        let contacts = logged_in.unwrap();
        assert_eq!(contacts.len(), 2, "3 was named by nobody: forgotten");
        assert_eq!(contacts[0].id, id(2));
        assert!(!contacts[0].online);
        assert_eq!(contacts[0].last_seen, Timestamp(5));
        assert_eq!(contacts[1], renamed);
        // Marks after login move the list on; one behind it changes nothing.
        s.handle_frame(ServerFrame::Mark(Mark(12)), now).unwrap();
        s.handle_frame(ServerFrame::Mark(Mark(10)), now).unwrap();
        assert_eq!(s.take_roster().known(), Some(Mark(12)));
    }

    /// The login deadline ends at the welcome: after it, each page must come within
    /// the deadline of the one before, so a long list is never cut short and a stalled
    /// one is given up on as soon as a login would be.
    #[test]
    fn each_page_gets_the_login_deadline_not_the_whole_list() {
        let now = Instant::now();
        let deadline = Timing::default().login_deadline;
        let step = deadline - Duration::from_secs(1);
        let mut s = waiting(Roster::default(), now);
        s.handle_frame(welcome(9, None, true), now).unwrap();
        let mut t = now;
        for n in 2..6 {
            t += step;
            assert!(s.handle_timeout(t).is_ok(), "page {n} is still in time");
            let page = ServerFrame::ContactPage {
                contacts: vec![contact(n)],
                more: true,
            };
            s.handle_frame(page, t).unwrap();
        }
        assert!(
            t - now > deadline,
            "the whole list took longer than one deadline"
        );
        assert_eq!(s.poll_timeout(), Some(t + deadline));
        assert!(matches!(
            s.handle_timeout(t + deadline),
            Err(Error::LoginTimeout)
        ));
        // Before the welcome, the deadline holds as ever.
        let mut s = waiting(Roster::default(), now);
        assert!(matches!(
            s.handle_timeout(now + deadline),
            Err(Error::LoginTimeout)
        ));
    }

    /// A page that names nobody yet promises more would never end: refused.
    #[test]
    fn an_empty_page_that_promises_more_is_refused() {
        let now = Instant::now();
        let mut s = waiting(Roster::default(), now);
        s.handle_frame(welcome(9, None, true), now).unwrap();
        let empty = ServerFrame::ContactPage {
            contacts: Vec::new(),
            more: true,
        };
        assert!(matches!(s.handle_frame(empty, now), Err(Error::Unexpected)));
    }

    /// What the session holds back while the list comes is bounded: a hub that keeps
    /// sending news and never finishes the list is cut off.
    #[test]
    fn news_held_while_the_list_comes_is_bounded() {
        let now = Instant::now();
        let mut s = waiting(Roster::default(), now);
        s.handle_frame(welcome(9, None, true), now).unwrap();
        let typing = || ServerFrame::Typing {
            from: id(2),
            to: crate::proto::Target::Everyone,
        };
        let mut ended = None;
        for n in 0..=limits::HELD_EVENTS {
            if let Err(e) = s.handle_frame(typing(), now) {
                ended = Some((n, e));
                break;
            }
        }
        assert!(
            matches!(ended, Some((n, Error::Unexpected)) if n == limits::HELD_EVENTS),
            "{ended:?}"
        );
    }

    /// News held while the list came of a contact the list then dropped (the hub forgot
    /// it) is not reported after the login: the app would show a contact nobody knows.
    #[test]
    fn held_news_of_a_contact_the_list_dropped_is_not_reported() {
        let now = Instant::now();
        let mut s = waiting(held(7), now);
        s.handle_frame(welcome(9, Some(7), true), now).unwrap();
        s.handle_frame(ServerFrame::Seen(SeenList::pack(&[seen(3, true, 4)])), now)
            .unwrap();
        let page = ServerFrame::Roster {
            cards: Vec::new(),
            seen: SeenList::pack(&[seen(2, true, 1)]),
            more: false,
        };
        s.handle_frame(page, now).unwrap();
        let mut news_of_3 = 0;
        while let Some(e) = s.poll_event() {
            if matches!(&e, Event::Contact(c) if c.id == id(3)) {
                news_of_3 += 1;
            }
        }
        assert_eq!(news_of_3, 0);
    }

    /// A full list (the hub did not take our mark) leaves no mark until it is whole: a
    /// list cut short must not pass for one at the old mark.
    #[test]
    fn a_full_list_cut_short_leaves_no_mark() {
        let now = Instant::now();
        let mut s = waiting(held(7), now);
        s.handle_frame(welcome(9, None, true), now).unwrap();
        assert_eq!(s.take_roster().known(), None);
    }
}
