//! What logged-in members do: every frame after login is charged and dispatched here
//! (transfers go on to the broker, reach-back checks to `reachback.rs`). Handled here:
//! messages (delivered, stored for an offline contact, or refused), typing and read
//! marks, profile updates, contact pages and avatars; and the presence batches that
//! tell everyone else.

use std::sync::Arc;
use std::time::Instant;

use super::conn::Listing;
use super::mailbox::Page;
use super::route::{self, Recipients};
use super::{CloseReason, ConnId, Hub};
use crate::limits;
use crate::proto::{
    ClientFrame, ClientId, Delivery, ErrorCode, MsgId, RejectReason, Sealed, SealedMessage,
    SeenList, ServerFrame, Target, validate_profile,
};

impl Hub {
    pub(super) fn ready_frame(
        &mut self,
        conn: ConnId,
        client: ClientId,
        frame: ClientFrame,
        now: Instant,
    ) {
        // Every frame costs the connection's budget, whatever it asks for, except the
        // pull of a contact or groups page the hub itself announced, and the
        // acknowledgement of the log page on its way: those are finite (one per page the
        // hub sent) and a long list or log must not stall behind the rate limit (nor
        // stop for good, were an acknowledgement dropped).
        let owed = match &frame {
            ClientFrame::NextContacts => self
                .conns
                .get(&conn)
                .is_some_and(|c| c.contacts_next.is_some()),
            ClientFrame::NextGroups => self.is_listing_groups(conn),
            ClientFrame::GroupPageAck { group, .. } => self.page_ack_owed(conn, client, *group),
            _ => false,
        };
        if !owed && !self.charge(conn, now) {
            return;
        }
        match frame {
            ClientFrame::Ping => {}
            // A key share's id is the sessions' own, sent only in `Shares` frames: a
            // message with one is malformed (and would slip past the message counters).
            ClientFrame::Send { id, .. } if id.is_share() => {
                self.violation(conn, now);
                let why = "a message id with the top bit set is a key share's (sent in a \
                           frame of shares, never as a message)";
                self.error(conn, ErrorCode::Unexpected, why, now);
            }
            ClientFrame::Send { id, to, sealed } => {
                if !self.take_chat_token(conn, now) {
                    let status = Delivery::Rejected(RejectReason::RateLimited);
                    self.send(conn, Arc::new(ServerFrame::Receipt { id, status }), now);
                    return;
                }
                // A message stored for an offline contact is answered once it is written.
                if let Some(status) = self.deliver(conn, client, id, to, sealed, now) {
                    self.send(conn, Arc::new(ServerFrame::Receipt { id, status }), now);
                }
            }
            ClientFrame::Shares { items } => self.shares(conn, client, items, now),
            ClientFrame::Typing { to } => {
                // A budget of its own: never the member's messages'. Over it, the
                // notice is dropped (shown for a few seconds, it changes nothing) and
                // counts as a violation: clients send one every few seconds.
                let allowed = self
                    .conns
                    .get_mut(&conn)
                    .is_some_and(|c| c.typing.take(now));
                if !allowed {
                    self.over_allowance(conn, now);
                } else {
                    let frame = ServerFrame::Typing { from: client, to };
                    self.notify(client, to, frame, now);
                }
            }
            // "Read up to here": costs only the frame it is (others talking fast must
            // never spend a reader's budget for its own messages).
            ClientFrame::Read { from, id } => {
                let frame = ServerFrame::Read { by: client, id };
                self.notify(client, Target::Client(from), frame, now);
            }
            ClientFrame::SetProfile(profile) => self.set_profile(conn, client, profile, now),
            ClientFrame::MailboxAck => {
                if let Ok(done) = self.mailboxes.ack(client, conn) {
                    self.tell_senders(&done, now);
                    if self.has_db {
                        self.delivered.push(crate::hub::db::Record::Delivered {
                            to: client,
                            messages: done,
                        });
                    }
                    self.hand_over(conn, client, now);
                } else {
                    self.close(conn, CloseReason::Unexpected, now);
                }
            }
            ClientFrame::NextContacts => {
                let Some(listing) = self.conns.get_mut(&conn).and_then(|c| c.contacts_next) else {
                    return self.close(conn, CloseReason::Unexpected, now);
                };
                let (page, next) = self.contact_page(client, listing);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.contacts_next = next;
                }
                self.send(conn, Arc::new(page), now);
                if next.is_none() {
                    self.groups_after_contacts(conn, client, now);
                }
            }
            ClientFrame::GetAvatar { id } => {
                let allowed = self
                    .conns
                    .get_mut(&conn)
                    .is_some_and(|c| c.avatars.take(now));
                if !allowed {
                    self.over_allowance(conn, now);
                    let why = "pictures are sent at most a few per second: ask again later";
                    return self.error(conn, ErrorCode::RateLimited, why, now);
                }
                if !self.send_paced(conn, super::paced::Paced::Avatar(id), now) {
                    let why = "too many pictures asked for at once: ask again later";
                    self.error(conn, ErrorCode::RateLimited, why, now);
                }
            }
            ClientFrame::Offer {
                tag,
                to,
                sealed,
                test,
                addrs,
                wait,
            } => self.offer(conn, client, tag, to, (sealed, test), addrs, wait, now),
            ClientFrame::PublishKeys(bundle) => self.publish_keys(conn, client, bundle, now),
            ClientFrame::GetKeys { id } => self.get_keys(conn, client, id, now),
            ClientFrame::Reclaim { id, addrs } => self.reclaim(conn, client, id, addrs, now),
            ClientFrame::Accept { id, files, addrs } => {
                self.accept(conn, client, id, files, addrs, now);
            }
            ClientFrame::Decline { id, reason } => self.decline(conn, client, id, reason, now),
            ClientFrame::Cancel { id } => self.cancel(conn, client, id, now),
            ClientFrame::Reachback { port } => self.reachback(conn, port, now),
            frame @ (ClientFrame::GroupCreate { .. }
            | ClientFrame::GroupAdd { .. }
            | ClientFrame::GroupRemove { .. }
            | ClientFrame::GroupLeave { .. }
            | ClientFrame::GroupAdmin { .. }) => self.group_change(conn, client, frame, now),
            ClientFrame::GroupRead { group, upto } => self.group_read(client, group, upto, now),
            ClientFrame::NextGroups => self.next_groups(conn, client, now),
            ClientFrame::GroupPageAck { group, upto } => {
                self.group_page_ack(conn, client, group, upto, now);
            }
            ClientFrame::LoginStart { .. }
            | ClientFrame::LoginRemembered { .. }
            | ClientFrame::LoginFinish { .. }
            | ClientFrame::LoginAbort
            | ClientFrame::Relay { .. } => self.close(conn, CloseReason::Unexpected, now),
        }
    }

    /// Forwards a transient notice (typing, read mark) to online recipients; never stored.
    pub(super) fn notify(
        &mut self,
        client: ClientId,
        to: Target,
        frame: ServerFrame,
        now: Instant,
    ) {
        if let Target::Group(group) = to {
            return self.notify_group(client, group, frame, now);
        }
        if let Recipients::Online(conns) = route::route(&self.directory, client, to) {
            let frame = Arc::new(frame);
            for c in conns {
                self.send(c, frame.clone(), now);
            }
        }
    }

    pub(super) fn take_chat_token(&mut self, conn: ConnId, now: Instant) -> bool {
        let allowed = self.conns.get_mut(&conn).is_some_and(|c| c.chat.take(now));
        if !allowed {
            self.over_allowance(conn, now);
        }
        allowed
    }

    /// Takes a frame's cost from `conn`'s budget; false (and a violation) when it has
    /// none left.
    fn charge(&mut self, conn: ConnId, now: Instant) -> bool {
        let allowed = self
            .conns
            .get_mut(&conn)
            .is_some_and(|c| c.frames.take(now));
        if !allowed {
            self.over_allowance(conn, now);
        }
        allowed
    }

    /// `conn` went over one of its allowances: the frame is refused (counted in
    /// [`super::Totals::rate_limited`]) and it is a [violation](Hub::violation).
    pub(super) fn over_allowance(&mut self, conn: ConnId, now: Instant) {
        self.totals.rate_limited += 1;
        self.violation(conn, now);
    }

    /// `conn` went over a limit or asked for something that makes no sense; past
    /// [`limits::RATE_VIOLATIONS_BEFORE_CLOSE`] of those (less those forgotten, at
    /// [`limits::RATE_VIOLATIONS_FORGOTTEN_PER_SEC`]) it is closed.
    pub(super) fn violation(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.violations.take(now) {
            self.close(conn, CloseReason::RateLimited, now);
        }
    }

    fn set_profile(
        &mut self,
        conn: ConnId,
        client: ClientId,
        profile: crate::proto::Profile,
        now: Instant,
    ) {
        let allowed = self
            .conns
            .get_mut(&conn)
            .is_some_and(|c| c.profile.take(now));
        if !allowed {
            self.over_allowance(conn, now);
            let why = "profile updates are limited to one per second";
            return self.error(conn, ErrorCode::RateLimited, why, now);
        }
        if let Err(e) = validate_profile(&profile) {
            return self.error(conn, ErrorCode::InvalidProfile, &e.to_string(), now);
        }
        let wall = self.wall(now);
        match self.directory.set_profile(client, profile, wall) {
            Ok(true) => self.announce(client, now),
            Ok(false) => {}
            Err(refusal) => self.error(conn, ErrorCode::RateLimited, refusal.text(), now),
        }
    }

    /// Routes a message; its receipt, or `None` when the receipt comes once the
    /// message is written for an offline contact ([`Hub::handle_written`]).
    pub(super) fn deliver(
        &mut self,
        conn: ConnId,
        from: ClientId,
        id: crate::proto::MsgId,
        to: Target,
        sealed: Sealed,
        now: Instant,
    ) -> Option<Delivery> {
        if !sealed.fits_message() {
            return Some(Delivery::Rejected(RejectReason::BadText));
        }
        let time = self.wall(now);
        self.directory.touch(from, time);
        // Recipients must know the sender's card before its first message.
        if self.presence_pending.contains(&from) {
            self.flush_presence(now);
        }
        if let Target::Group(group) = to {
            return self.deliver_group(conn, from, id, group, sealed, now);
        }
        let route = match (route::route(&self.directory, from, to), to) {
            // Connected only through commands that show no messages (`courier who`,
            // `send`, `receive`): away for a message, which waits for a login that shows it.
            (Recipients::Online(conns), Target::Client(id)) => {
                let showing: Vec<ConnId> = conns
                    .into_iter()
                    .filter(|c| self.shows_messages(*c))
                    .collect();
                if showing.is_empty() {
                    Recipients::Offline(id)
                } else {
                    Recipients::Online(showing)
                }
            }
            (route, _) => route,
        };
        let message = SealedMessage {
            id,
            from,
            to,
            sealed,
            time,
            seq: None,
        };
        Some(match route {
            Recipients::NoSuchPeer => Delivery::Rejected(RejectReason::NoSuchPeer),
            Recipients::Online(conns) => {
                if !id.is_share() {
                    self.totals.messages_routed += 1;
                }
                let frame = Arc::new(ServerFrame::Message(message));
                for c in conns {
                    self.send(c, frame.clone(), now);
                }
                Delivery::Delivered
            }
            Recipients::Offline(who) if self.has_db => {
                // A new identity's messages for offline members share the newcomers' room.
                let young = self.is_new(from, time);
                if let Err(reason) = self.mailboxes.reserve(who, &message, young) {
                    return Some(Delivery::Rejected(reason));
                }
                self.unsaved.push(super::Unsaved {
                    to: who,
                    message: Arc::new(message),
                    sender: conn,
                });
                return None;
            }
            Recipients::Offline(who) => {
                let young = self.is_new(from, time);
                match self.mailboxes.store(who, message, young) {
                    Ok(()) => {
                        if !id.is_share() {
                            self.totals.messages_stored += 1;
                        }
                        Delivery::Stored
                    }
                    Err(reason) => Delivery::Rejected(reason),
                }
            }
        })
    }

    /// Whether `who` is a new identity at `now` (its messages for offline members share
    /// the newcomers' room).
    pub(super) fn is_new(&self, who: ClientId, now: crate::proto::Timestamp) -> bool {
        let age = self.config.newcomer_age;
        self.directory.get(&who).is_some_and(|k| k.is_new(now, age))
    }

    /// Whether `conn` shows messages (it asked for its mailbox at login: the app,
    /// `listen`, `chat`), so that messages, mailbox pages and owed receipts may go to it;
    /// a one-shot command's connection gets none of them.
    pub(super) fn shows_messages(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.takes_mailbox)
    }

    /// Sends `client` (on `conn`) the next page of its mailbox, unless one is
    /// on its way already. A connection that did not ask for its mailbox gets none:
    /// the page goes to another of the client's connections that did, if any.
    pub(super) fn hand_over(&mut self, conn: ConnId, client: ClientId, now: Instant) {
        let taker = if self.shows_messages(conn) {
            Some(conn)
        } else {
            let known = self.directory.get(&client);
            known.and_then(|k| k.conns.iter().copied().find(|c| self.shows_messages(*c)))
        };
        let Some(conn) = taker else {
            return;
        };
        match self.mailboxes.next_page(client, conn) {
            Page::None => {}
            Page::Send(page) => self.send(conn, Arc::new(ServerFrame::MailboxPage(page)), now),
            Page::Fetch(limit) => self.fetches.push((client, limit)),
        }
    }

    /// The recipient took these stored messages (sender, id): each sender hears
    /// `delivered` on every connection of it that takes the mailbox (one that shows
    /// messages; a one-shot command would drop it), or is owed it until such a login
    /// ([`Hub::pay_receipts`]).
    fn tell_senders(&mut self, done: &[(ClientId, MsgId)], now: Instant) {
        for &(from, id) in done {
            let conns: Vec<ConnId> = self
                .directory
                .get(&from)
                .map(|k| k.conns.clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|c| self.shows_messages(*c))
                .collect();
            if conns.is_empty() {
                let directory = &self.directory;
                let max = self.config.max_known;
                self.owed.owe(from, id, max, |k| directory.get(k).is_some());
                continue;
            }
            let receipt = Arc::new(ServerFrame::Receipt {
                id,
                status: Delivery::Delivered,
            });
            for c in conns {
                self.send(c, receipt.clone(), now);
            }
        }
    }

    /// Hands `client` (logged in on `conn`) the `delivered` receipts it is owed, when
    /// `conn` takes the mailbox; a one-shot login leaves them owed.
    pub(super) fn pay_receipts(&mut self, conn: ConnId, client: ClientId, now: Instant) {
        if !self.shows_messages(conn) {
            return;
        }
        for id in self.owed.take(client) {
            let status = Delivery::Delivered;
            self.send(conn, Arc::new(ServerFrame::Receipt { id, status }), now);
        }
    }

    /// Queues `client`'s card for the next presence batch.
    pub(super) fn announce(&mut self, client: ClientId, now: Instant) {
        self.presence_pending.insert(client);
        self.presence_due
            .get_or_insert(now + limits::PRESENCE_BATCH);
    }

    /// The next page of the contact list `client` pages through, and where the one
    /// after starts (`None`: this is the last).
    fn contact_page(&self, client: ClientId, listing: Listing) -> (ServerFrame, Option<Listing>) {
        match listing {
            Listing::Cards { after } => {
                let (contacts, next) =
                    self.directory
                        .page(client, Some(after), limits::CONTACT_PAGE);
                let more = next.is_some();
                let next = next.map(|after| Listing::Cards { after });
                (ServerFrame::ContactPage { contacts, more }, next)
            }
            Listing::Roster { since, after } => {
                let (cards, seen, next) = self.directory.roster_page(
                    client,
                    after,
                    since,
                    limits::ROSTER_PAGE,
                    limits::CONTACT_PAGE,
                );
                let more = next.is_some();
                let next = next.map(|after| Listing::Roster {
                    since,
                    after: Some(after),
                });
                (ServerFrame::Roster { cards, seen, more }, next)
            }
        }
    }

    /// Sends everyone online what changed since the last batch: the cards that changed,
    /// then where the others now are (who came or went with the same card), a page per
    /// frame, each frame shared by all recipients; and, once nothing is left for a later
    /// batch, the directory's mark.
    pub(super) fn flush_presence(&mut self, now: Instant) {
        self.presence_due = None;
        // Cards that changed without a join or leave (a dropped picture) go too.
        let unannounced: Vec<ClientId> = self
            .directory
            .cards_changed()
            .iter()
            .filter(|id| !self.presence_pending.contains(id))
            .copied()
            .collect();
        self.presence_pending.extend(unannounced);
        // At most a bounded number of cards per batch: the rest go in the next one, so
        // a storm of joins or renames costs every member a bounded rate of frames.
        let mut pending = std::mem::take(&mut self.presence_pending);
        if pending.len() > limits::PRESENCE_BATCH_CARDS {
            let keep = pending.iter().nth(limits::PRESENCE_BATCH_CARDS).copied();
            if let Some(first_later) = keep {
                self.presence_pending = pending.split_off(&first_later);
                self.presence_due = Some(now + limits::PRESENCE_BATCH);
            }
        }
        let mut cards = Vec::new();
        let mut seen = Vec::new();
        for id in &pending {
            let changed = self.directory.take_card_change(id);
            let Some(known) = self.directory.get(id) else {
                continue;
            };
            // Only a changed card is built (its picture hashed): whereabouts are not.
            if changed {
                cards.push(known.contact(*id));
            } else {
                seen.push(known.seen(*id));
            }
        }
        let mut frames: Vec<Arc<ServerFrame>> = cards
            .chunks(limits::CONTACT_PAGE)
            .map(|page| Arc::new(ServerFrame::Contacts(page.to_vec())))
            .chain(
                seen.chunks(limits::ROSTER_PAGE)
                    .map(|page| Arc::new(ServerFrame::Seen(SeenList::pack(page)))),
            )
            .collect();
        // Every card change is on its way: a client that receives these is at the mark.
        let mark = self.directory.mark();
        if self.presence_pending.is_empty()
            && self.directory.cards_changed().is_empty()
            && self.mark_sent != Some(mark)
        {
            self.mark_sent = Some(mark);
            frames.push(Arc::new(ServerFrame::Mark(mark)));
        }
        let targets: Vec<ConnId> = self
            .directory
            .online()
            .flat_map(|(_, k)| k.conns.iter().copied())
            .collect();
        for c in targets {
            for f in &frames {
                self.send(c, f.clone(), now);
            }
        }
    }

    pub(super) fn error(&mut self, conn: ConnId, code: ErrorCode, detail: &str, now: Instant) {
        self.send(
            conn,
            Arc::new(ServerFrame::Error {
                code,
                detail: detail.to_owned(),
            }),
            now,
        );
    }
}
