//! Brokering direct transfers: offers, answers, tickets and relay pairing. The hub never
//! sees file bytes unless it relays, and then only the peers' end-to-end TLS records.
//! Offers stored for an offline recipient (offered with `wait`) have their own file,
//! `broker/stored.rs`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use rand::RngCore;

use super::paced::Paced;
use super::{CloseReason, ConnId, Hub, Phase, Transmit, db};
use crate::limits;
use crate::proto::{
    ClientId, Declined, ErrorCode, LinkTest, ManifestError, OfferRefusal, Sealed, SealedOffer,
    ServerFrame, Ticket, TicketInfo, Timestamp, TransferEnd, TransferId,
};

mod stored;

/// A transfer the hub knows about.
pub(super) struct Brokered {
    /// The offer's [`SealedOffer::digest`]: tickets are bound to it.
    digest: [u8; 32],
    from: ClientId,
    /// The sender's connection; `None` while the sender of a stored offer is away.
    from_conn: Option<ConnId>,
    to: ClientId,
    addrs: Vec<SocketAddr>,
    /// What is offered, sealed (the hub never sees the names, sizes or how many): the
    /// recipient is handed it as its outbox drains.
    sealed: Arc<Sealed>,
    /// When it was offered.
    created: Timestamp,
    /// A link test: its way, and the address the hub sees the prober at (the answering
    /// side is told it, dials only there, and its own addresses go to nobody).
    test: Option<(LinkTest, IpAddr)>,
    state: State,
    /// Stored at the hub until answered (offered with `wait`): survives either side going
    /// away, and the hub's restart (in its database).
    stored: Option<StoredSize>,
}

/// What a stored offer counts against: its envelope's size.
pub(super) struct StoredSize {
    bytes: usize,
}

enum State {
    /// Waiting for the receiver's answer.
    Offered,
    /// A stored offer the receiver accepted while its sender was away: the tickets go out
    /// when the sender is back ([`ClientFrame::Reclaim`](crate::proto::ClientFrame)).
    Answered {
        to_conn: ConnId,
        files: Vec<u32>,
        addrs: Vec<SocketAddr>,
    },
    /// Accepted; the ticket is out. `first_relay` is a relay connection that arrived first.
    Ticketed {
        ticket: Ticket,
        to_conn: ConnId,
        expires: Instant,
        first_relay: Option<(ConnId, ClientId)>,
    },
}

/// The brokered transfers and their ticket index.
#[derive(Default)]
pub(super) struct Broker {
    transfers: HashMap<TransferId, Brokered>,
    tickets: HashMap<Ticket, TransferId>,
    /// Bytes of the stored offers' envelopes.
    stored_offer_bytes: usize,
    /// How many offers are stored.
    stored_offer_count: usize,
    /// Stored offers' changes for the hub's database, in order (only for a hub with a
    /// database: [`Broker::has_db`]).
    pub(super) records: Vec<db::Record>,
    /// The hub has a database.
    pub(super) has_db: bool,
    /// Stored offers to offline recipients waiting to be written: their senders hear
    /// `stored` once they are (id, tag, sender's connection).
    pub(super) unsaved: Vec<(TransferId, u32, ConnId)>,
}

impl Broker {
    pub(super) fn len(&self) -> usize {
        self.transfers.len()
    }

    /// Offers waiting for an answer while both sides are here (stored ones count apart).
    fn pending_from(&self, who: ClientId) -> usize {
        self.transfers
            .values()
            .filter(|t| t.from == who && t.stored.is_none() && matches!(t.state, State::Offered))
            .count()
    }

    fn pending_to(&self, who: ClientId) -> usize {
        self.transfers
            .values()
            .filter(|t| t.to == who && t.stored.is_none() && matches!(t.state, State::Offered))
            .count()
    }

    /// Whether a stored offer of `bytes` from `from` to `to` fits every share: the
    /// recipient's (`max` offers), the sender's (`max` offers,
    /// [`limits::STORED_OFFERS_SENDER_BYTES`]), the pair's (a quarter of the recipient's,
    /// so that one sender cannot fill it for everyone else) and the hub's
    /// ([`limits::STORED_OFFERS_BYTES`], [`limits::STORED_OFFERS_TOTAL`]: the count bounds
    /// this scan).
    fn stored_offer_fits(&self, from: ClientId, to: ClientId, bytes: usize, max: usize) -> bool {
        if self.stored_offer_count >= limits::STORED_OFFERS_TOTAL {
            return false;
        }
        let (mut by_sender, mut sender_bytes, mut to_recipient, mut pair) = (0, 0, 0, 0);
        for t in self.transfers.values() {
            let Some(k) = &t.stored else { continue };
            if t.from == from {
                by_sender += 1;
                sender_bytes += k.bytes;
                pair += usize::from(t.to == to);
            }
            to_recipient += usize::from(t.to == to);
        }
        by_sender < max
            && to_recipient < max
            && pair < (max / 4).max(1)
            && sender_bytes + bytes <= limits::STORED_OFFERS_SENDER_BYTES
            && self.stored_offer_bytes + bytes <= limits::STORED_OFFERS_BYTES
    }

    /// How many offers are stored (for stats and tests).
    pub(super) fn stored_offers(&self) -> usize {
        self.stored_offer_count
    }

    /// A relay connection waiting for its partner went away.
    pub(super) fn relay_gone(&mut self, conn: ConnId) {
        for t in self.transfers.values_mut() {
            if let State::Ticketed { first_relay, .. } = &mut t.state
                && first_relay.is_some_and(|(c, _)| c == conn)
            {
                *first_relay = None;
            }
        }
    }

    fn remove(&mut self, id: TransferId) -> Option<Brokered> {
        self.unkeep(id);
        let t = self.transfers.remove(&id)?;
        if let State::Ticketed { ticket, .. } = &t.state {
            self.tickets.remove(ticket);
        }
        Some(t)
    }

    /// Transfer `id` is no longer stored (answered or gone): forget it on the disk too.
    fn unkeep(&mut self, id: TransferId) {
        let Some(k) = self.transfers.get_mut(&id).and_then(|t| t.stored.take()) else {
            return;
        };
        self.stored_offer_bytes = self.stored_offer_bytes.saturating_sub(k.bytes);
        self.stored_offer_count = self.stored_offer_count.saturating_sub(1);
        self.record(db::Record::OfferGone(id));
        self.unsaved.retain(|(u, _, _)| *u != id);
    }

    /// A change to write, for a hub with a database.
    fn record(&mut self, r: db::Record) {
        if self.has_db {
            self.records.push(r);
        }
    }
}

impl Hub {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn offer(
        &mut self,
        conn: ConnId,
        client: ClientId,
        tag: u32,
        to: ClientId,
        (sealed, test): (Sealed, Option<LinkTest>),
        addrs: Vec<SocketAddr>,
        wait: bool,
        now: Instant,
    ) {
        let refuse = |hub: &mut Self, reason| {
            hub.send(
                conn,
                Arc::new(ServerFrame::OfferRefused { tag, reason }),
                now,
            );
        };
        let allowed = self
            .conns
            .get_mut(&conn)
            .is_some_and(|c| c.offers.take(now));
        if !allowed {
            self.over_allowance(conn, now);
            return refuse(self, OfferRefusal::RateLimited);
        }
        if addrs.len() > limits::MAX_ADDRS {
            return refuse(self, OfferRefusal::TooManyAddresses);
        }
        // The envelope's bounds are all the hub checks: names, sizes and how many files are
        // sealed (the sender refuses an answer that names a file it did not offer).
        let invalid = match test {
            Some(_) if !sealed.is_empty() => Some(ManifestError::TestWithFiles),
            None if sealed.is_empty() => Some(ManifestError::Empty),
            _ if !sealed.within_bounds() => Some(ManifestError::TooLong),
            _ => None,
        };
        if let Some(e) = invalid {
            return refuse(self, OfferRefusal::Invalid(e));
        }
        // A link test is for now or never.
        let mut wait = wait && test.is_none();
        // Its answering side dials the prober back: only where we see the prober (its list
        // may name anyone's machine).
        let test = match (test, self.conns.get(&conn)) {
            (None, _) => None,
            (Some(way), Some(c)) => Some((way, c.peer.ip().to_canonical())),
            (Some(_), None) => return,
        };
        let addrs = match test {
            Some((way, seen)) => way.dialable(&addrs, seen, true),
            None => addrs,
        };
        let (targets, online) = match self.directory.get(&to) {
            Some(known) if to != client && (wait || !known.conns.is_empty()) => {
                (known.conns.clone(), !known.conns.is_empty())
            }
            _ => return refuse(self, OfferRefusal::NoSuchPeer),
        };
        let bytes = sealed.len();
        // What the recipient will read must fit its frame limit, envelope and all (the
        // envelope's own bound keeps this far off; this is the check at the edge).
        let forwarded = ServerFrame::Offer(SealedOffer {
            id: TransferId(u64::MAX),
            from: client,
            sealed,
            test: test.map(|(way, _)| way),
            addrs: addrs.clone(),
            time: Some(Timestamp(u64::MAX)),
        });
        if crate::proto::encode(&forwarded).len() > limits::MAX_MESSAGE / 2 {
            return refuse(self, OfferRefusal::Invalid(ManifestError::TooLong));
        }
        let ServerFrame::Offer(offer) = forwarded else {
            return;
        };
        let digest = offer.digest();
        let sealed = offer.sealed;
        if wait
            && !self
                .broker
                .stored_offer_fits(client, to, bytes, self.config.stored_offers)
        {
            // Stored offers never stand in the way of one to someone who is here: it
            // goes as a live offer (ended if they leave before answering).
            if !online {
                return refuse(self, OfferRefusal::Busy);
            }
            wait = false;
        }
        if !wait
            && (self.broker.pending_from(client) >= limits::MAX_PENDING_OFFERS
                || self.broker.pending_to(to) >= limits::MAX_PENDING_PER_RECEIVER)
        {
            return refuse(self, OfferRefusal::Busy);
        }
        let id = loop {
            let id = TransferId(self.rng.next_u64());
            if !self.broker.transfers.contains_key(&id) {
                break id;
            }
        };
        if test.is_none() {
            self.totals.transfers_brokered += 1;
        }
        // The recipient must know the sender's card before the offer.
        if self.presence_pending.contains(&client) {
            self.flush_presence(now);
        }
        let sealed = Arc::new(sealed);
        let created = self.wall(now);
        let stored = wait.then_some(StoredSize { bytes });
        if let Some(k) = &stored {
            self.broker.stored_offer_bytes += k.bytes;
            self.broker.stored_offer_count += 1;
            self.broker.record(db::Record::Offer(db::StoredOffer {
                id,
                from: client,
                to,
                sealed: sealed.clone(),
                created,
            }));
        }
        self.broker.transfers.insert(
            id,
            Brokered {
                digest,
                from: client,
                from_conn: Some(conn),
                to,
                addrs,
                sealed,
                created,
                test,
                state: State::Offered,
                stored,
            },
        );
        if targets.is_empty() {
            // Stored for an offline recipient: `stored` once it is on the disk (at once
            // for a hub without a database).
            if self.has_db {
                self.broker.unsaved.push((id, tag, conn));
            } else {
                self.send(conn, Arc::new(ServerFrame::OfferStored { tag, id }), now);
            }
            return;
        }
        self.send(conn, Arc::new(ServerFrame::OfferSent { tag, id }), now);
        // As the recipient's outbox drains: offers from many senders at once must not
        // make it a slow consumer.
        for c in targets {
            self.send_paced(c, Paced::Offer(id), now);
        }
    }

    /// The frame that hands offer `id` to `client`, if it still waits for its answer.
    pub(super) fn offer_frame(&self, id: TransferId, client: ClientId) -> Option<ServerFrame> {
        let t = self
            .broker
            .transfers
            .get(&id)
            .filter(|t| t.to == client && matches!(t.state, State::Offered))?;
        Some(ServerFrame::Offer(SealedOffer {
            id,
            from: t.from,
            sealed: (*t.sealed).clone(),
            test: t.test.map(|(way, _)| way),
            // A stored offer's sender that is away listens nowhere yet.
            addrs: if t.from_conn.is_some() {
                t.addrs.clone()
            } else {
                Vec::new()
            },
            time: Some(t.created),
        }))
    }

    pub(super) fn accept(
        &mut self,
        conn: ConnId,
        client: ClientId,
        id: TransferId,
        files: Vec<u32>,
        addrs: Vec<SocketAddr>,
        now: Instant,
    ) {
        let Some(t) = self.broker.transfers.get(&id) else {
            return self.refuse_answer(conn, "no such offer", now);
        };
        if t.to != client || !matches!(t.state, State::Offered) {
            return self.refuse_answer(conn, "no such offer", now);
        }
        let mut sorted = files.clone();
        sorted.sort_unstable();
        sorted.dedup();
        // The hub does not know how many files an offer holds (they are sealed): it checks
        // the answer's shape, and the sender refuses indices past its list.
        let valid = (t.test.is_none() || files.is_empty())
            && sorted.len() == files.len()
            && sorted
                .iter()
                .all(|&i| (i as usize) < limits::MAX_OFFER_FILES)
            && addrs.len() <= limits::MAX_ADDRS;
        if !valid {
            return self.refuse_answer(conn, "invalid answer", now);
        }
        if t.from_conn.is_none() {
            // A stored offer whose sender is away: the answer waits for them.
            if let Some(t) = self.broker.transfers.get_mut(&id) {
                t.state = State::Answered {
                    to_conn: conn,
                    files,
                    addrs,
                };
            }
            return;
        }
        self.mint(id, conn, files, addrs, now);
    }

    /// Both sides are here and the receiver (on `conn`) accepted `files`: the ticket.
    fn mint(
        &mut self,
        id: TransferId,
        conn: ConnId,
        files: Vec<u32>,
        addrs: Vec<SocketAddr>,
        now: Instant,
    ) {
        let Some(t) = self.broker.transfers.get(&id) else {
            return;
        };
        let Some(from_conn) = t.from_conn else {
            return;
        };
        let client = t.to;
        let mut bytes = [0u8; 32];
        self.rng.fill_bytes(&mut bytes);
        let ticket = Ticket(bytes);
        let (from, digest, test) = (t.from, t.digest, t.test);
        let (sender_addrs, addrs) = match test {
            Some((way, seen)) => {
                let on_loopback =
                    |c: ConnId| self.conns.get(&c).is_some_and(|c| c.source().is_loopback());
                let answerer = self.conns.get(&conn).map(|c| c.source());
                // Each side dials the other only at the address the hub sees it at: a
                // prober's list may name anyone's machine, and an answerer's other
                // interfaces are nobody's business.
                let to_prober = answerer.map_or_else(Vec::new, |answerer| {
                    way.dialable(&addrs, answerer, on_loopback(from_conn))
                });
                (way.dialable(&t.addrs, seen, on_loopback(conn)), to_prober)
            }
            None => (t.addrs.clone(), addrs),
        };
        // Answered: a stored offer is no longer stored (a failed transfer is offered again by
        // its sender).
        self.broker.unkeep(id);
        if let Some(t) = self.broker.transfers.get_mut(&id) {
            t.state = State::Ticketed {
                ticket,
                to_conn: conn,
                expires: now + self.config.ticket_ttl,
                first_relay: None,
            };
        }
        self.broker.tickets.insert(ticket, id);
        let to_receiver = ServerFrame::Ticket(TicketInfo {
            id,
            ticket,
            peer: from,
            files: files.clone(),
            addrs: sender_addrs,
            digest,
            seen: test.map(|(_, seen)| seen),
        });
        let to_sender = ServerFrame::Ticket(TicketInfo {
            id,
            ticket,
            peer: client,
            files,
            addrs,
            digest,
            seen: None,
        });
        self.send(conn, Arc::new(to_receiver), now);
        self.send(from_conn, Arc::new(to_sender), now);
    }

    pub(super) fn decline(
        &mut self,
        conn: ConnId,
        client: ClientId,
        id: TransferId,
        reason: Declined,
        now: Instant,
    ) {
        let ours = self.broker.transfers.get(&id).is_some_and(|t| {
            t.to == client && matches!(t.state, State::Offered | State::Answered { .. })
        });
        if !ours {
            return self.refuse_answer(conn, "no such offer", now);
        }
        if let Some(t) = self.broker.remove(id)
            && let Some(from_conn) = t.from_conn
        {
            let end = TransferEnd::Declined(reason);
            self.send(
                from_conn,
                Arc::new(ServerFrame::TransferEnded { id, end }),
                now,
            );
        }
    }

    /// An answer about a transfer that is not the client's to answer: an error, and a
    /// violation (a flood of made-up ids gets the connection closed).
    fn refuse_answer(&mut self, conn: ConnId, why: &str, now: Instant) {
        self.violation(conn, now);
        self.error(conn, ErrorCode::Unexpected, why, now);
    }

    pub(super) fn cancel(&mut self, conn: ConnId, client: ClientId, id: TransferId, now: Instant) {
        let ours = self
            .broker
            .transfers
            .get(&id)
            .is_some_and(|t| t.from == client || t.to == client);
        if !ours {
            // Already over (nothing to tell anyone), or never was: counted, in case it is
            // one of a flood.
            return self.violation(conn, now);
        }
        if let Some(t) = self.broker.remove(id) {
            let end = Arc::new(ServerFrame::TransferEnded {
                id,
                end: TransferEnd::Cancelled { by: client },
            });
            for c in self.parties(&t, client) {
                self.send(c, end.clone(), now);
            }
        }
    }

    /// The connections of `t` that are not `who`'s.
    fn parties(&self, t: &Brokered, who: ClientId) -> Vec<ConnId> {
        if t.from == who {
            match t.state {
                State::Ticketed { to_conn, .. } | State::Answered { to_conn, .. } => {
                    vec![to_conn]
                }
                State::Offered => self
                    .directory
                    .get(&t.to)
                    .map(|k| k.conns.clone())
                    .unwrap_or_default(),
            }
        } else {
            t.from_conn.into_iter().collect()
        }
    }

    /// `conn` went away: offers it made, and offers to a client who is now offline, end.
    /// Accepted transfers keep their tickets: their direct connection does not need us.
    /// Stored offers stay: their sender is away (it reclaims them when back), or their
    /// recipient answers at the next login.
    pub(super) fn transfers_after_disconnect(&mut self, conn: ConnId, now: Instant) {
        let mut ended = Vec::new();
        let directory = &self.directory;
        for (id, t) in &mut self.broker.transfers {
            if t.stored.is_some() {
                if t.from_conn == Some(conn) {
                    t.from_conn = None;
                }
                if matches!(t.state, State::Answered { to_conn, .. } if to_conn == conn) {
                    t.state = State::Offered;
                }
                continue;
            }
            if !matches!(t.state, State::Offered) {
                continue;
            }
            if t.from_conn == Some(conn) {
                ended.push((*id, t.to));
            } else if directory.get(&t.to).is_none_or(|k| k.conns.is_empty()) {
                ended.push((*id, t.from));
            }
        }
        ended.sort();
        for (id, gone_side) in ended {
            if let Some(t) = self.broker.remove(id) {
                let frame = Arc::new(ServerFrame::TransferEnded {
                    id,
                    end: TransferEnd::PeerGone,
                });
                let other = if gone_side == t.to { t.from } else { t.to };
                for c in self.parties(&t, other) {
                    self.send(c, frame.clone(), now);
                }
            }
        }
    }

    /// Forgets tickets past their lifetime.
    pub(super) fn expire_tickets(&mut self, now: Instant) {
        let expired: Vec<TransferId> = self
            .broker
            .transfers
            .iter()
            .filter(|(_, t)| matches!(t.state, State::Ticketed { expires, .. } if now >= expires))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.broker.remove(id);
        }
    }

    /// A fresh connection asks to be piped to the other side of `ticket`'s transfer.
    pub(super) fn relay(&mut self, conn: ConnId, client: ClientId, ticket: Ticket, now: Instant) {
        if !self.config.relay {
            return self.close(conn, CloseReason::RelayDisabled, now);
        }
        let found = self.broker.tickets.get(&ticket).copied();
        let Some((id, t)) = found.and_then(|id| Some((id, self.broker.transfers.get_mut(&id)?)))
        else {
            return self.close(conn, CloseReason::BadTicket, now);
        };
        let (from, to) = (t.from, t.to);
        let State::Ticketed {
            expires,
            first_relay,
            ..
        } = &mut t.state
        else {
            return self.close(conn, CloseReason::BadTicket, now);
        };
        if now >= *expires || (client != from && client != to) {
            return self.close(conn, CloseReason::BadTicket, now);
        }
        match *first_relay {
            None => {
                *first_relay = Some((conn, client));
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.phase = Phase::Relay;
                }
            }
            Some((_, same)) if same == client => self.close(conn, CloseReason::BadTicket, now),
            Some((other, _)) => {
                // Paired: the ticket is used up, and both connections leave the hub's
                // tables for the driver's pipe.
                self.broker.remove(id);
                let ready = Arc::new(ServerFrame::RelayReady);
                self.send(other, ready.clone(), now);
                self.send(conn, ready, now);
                self.forget(other, now);
                self.forget(conn, now);
                self.totals.transfers_relayed += 1;
                self.transmits
                    .push_back(Transmit::Relay { a: other, b: conn });
            }
        }
    }
}
