//! Brokering direct transfers: offers, answers, tickets and relay pairing. The hub never
//! sees file bytes unless it relays, and then only the peers' end-to-end TLS records.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rand::RngCore;

use super::{CloseReason, ConnId, Hub, Phase, Transmit};
use crate::limits;
use crate::proto::{
    ClientId, Declined, ErrorCode, IncomingOffer, Manifest, OfferRefusal, ServerFrame, Ticket,
    TicketInfo, TransferEnd, TransferId,
};

/// A transfer the hub knows about.
pub(super) struct Brokered {
    /// The offer's [`Manifest::digest`]: tickets are bound to it.
    digest: [u8; 32],
    from: ClientId,
    from_conn: ConnId,
    to: ClientId,
    addrs: Vec<SocketAddr>,
    files: usize,
    state: State,
}

enum State {
    /// Waiting for the receiver's answer.
    Offered,
    /// Accepted; the ticket is out. `waiting` is a relay connection that arrived first.
    Ticketed {
        ticket: Ticket,
        to_conn: ConnId,
        expires: Instant,
        waiting: Option<(ConnId, ClientId)>,
    },
}

/// The brokered transfers and their ticket index.
#[derive(Default)]
pub(super) struct Broker {
    transfers: HashMap<TransferId, Brokered>,
    tickets: HashMap<Ticket, TransferId>,
}

impl Broker {
    pub(super) fn len(&self) -> usize {
        self.transfers.len()
    }

    fn pending_from(&self, who: ClientId) -> usize {
        self.transfers
            .values()
            .filter(|t| t.from == who && matches!(t.state, State::Offered))
            .count()
    }

    fn pending_to(&self, who: ClientId) -> usize {
        self.transfers
            .values()
            .filter(|t| t.to == who && matches!(t.state, State::Offered))
            .count()
    }

    /// A relay connection waiting for its partner went away.
    pub(super) fn relay_gone(&mut self, conn: ConnId) {
        for t in self.transfers.values_mut() {
            if let State::Ticketed { waiting, .. } = &mut t.state
                && waiting.is_some_and(|(c, _)| c == conn)
            {
                *waiting = None;
            }
        }
    }

    fn remove(&mut self, id: TransferId) -> Option<Brokered> {
        let t = self.transfers.remove(&id)?;
        if let State::Ticketed { ticket, .. } = &t.state {
            self.tickets.remove(ticket);
        }
        Some(t)
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
        manifest: Manifest,
        addrs: Vec<SocketAddr>,
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
            self.violation(conn, now);
            return refuse(self, OfferRefusal::RateLimited);
        }
        if addrs.len() > limits::MAX_ADDRS {
            return refuse(self, OfferRefusal::TooManyAddresses);
        }
        if let Err(e) = manifest.validate() {
            return refuse(self, OfferRefusal::Invalid(e));
        }
        let targets = match self.directory.get(&to) {
            Some(known) if to != client && !known.conns.is_empty() => known.conns.clone(),
            _ => return refuse(self, OfferRefusal::NoSuchPeer),
        };
        if self.broker.pending_from(client) >= limits::MAX_PENDING_OFFERS
            || self.broker.pending_to(to) >= limits::MAX_PENDING_PER_RECEIVER
        {
            return refuse(self, OfferRefusal::Busy);
        }
        let id = loop {
            let id = TransferId(self.rng.next_u64());
            if !self.broker.transfers.contains_key(&id) {
                break id;
            }
        };
        let files = manifest.files.len();
        let digest = manifest.digest();
        // The recipient must know the sender's card before the offer.
        if self.presence_pending.contains(&client) {
            self.flush_presence(now);
        }
        let incoming = Arc::new(ServerFrame::Offer(IncomingOffer {
            id,
            from: client,
            manifest,
            addrs: addrs.clone(),
        }));
        self.broker.transfers.insert(
            id,
            Brokered {
                digest,
                from: client,
                from_conn: conn,
                to,
                addrs,
                files,
                state: State::Offered,
            },
        );
        self.send(conn, Arc::new(ServerFrame::OfferSent { tag, id }), now);
        for c in targets {
            self.send(c, incoming.clone(), now);
        }
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
        let valid = (!files.is_empty() || t.files == 0)
            && sorted.len() == files.len()
            && sorted.iter().all(|&i| (i as usize) < t.files)
            && addrs.len() <= limits::MAX_ADDRS;
        if !valid {
            return self.refuse_answer(conn, "invalid answer", now);
        }
        let mut bytes = [0u8; 32];
        self.rng.fill_bytes(&mut bytes);
        let ticket = Ticket(bytes);
        let (from, from_conn, sender_addrs, digest) =
            (t.from, t.from_conn, t.addrs.clone(), t.digest);
        if let Some(t) = self.broker.transfers.get_mut(&id) {
            t.state = State::Ticketed {
                ticket,
                to_conn: conn,
                expires: now + self.config.ticket_ttl,
                waiting: None,
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
        });
        let to_sender = ServerFrame::Ticket(TicketInfo {
            id,
            ticket,
            peer: client,
            files,
            addrs,
            digest,
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
        let ours = self
            .broker
            .transfers
            .get(&id)
            .is_some_and(|t| t.to == client && matches!(t.state, State::Offered));
        if !ours {
            return self.refuse_answer(conn, "no such offer", now);
        }
        if let Some(t) = self.broker.remove(id) {
            let end = TransferEnd::Declined(reason);
            self.send(
                t.from_conn,
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
                State::Ticketed { to_conn, .. } => vec![to_conn],
                State::Offered => self
                    .directory
                    .get(&t.to)
                    .map(|k| k.conns.clone())
                    .unwrap_or_default(),
            }
        } else {
            vec![t.from_conn]
        }
    }

    /// `conn` went away: offers it made, and offers to a client who is now offline, end.
    /// Accepted transfers keep their tickets: their direct connection does not need us.
    pub(super) fn transfers_after_disconnect(&mut self, conn: ConnId, now: Instant) {
        let mut ended = Vec::new();
        for (id, t) in &self.broker.transfers {
            if !matches!(t.state, State::Offered) {
                continue;
            }
            if t.from_conn == conn {
                ended.push((*id, t.to));
            } else if self.directory.get(&t.to).is_none_or(|k| k.conns.is_empty()) {
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
            expires, waiting, ..
        } = &mut t.state
        else {
            return self.close(conn, CloseReason::BadTicket, now);
        };
        if now >= *expires || (client != from && client != to) {
            return self.close(conn, CloseReason::BadTicket, now);
        }
        match *waiting {
            None => {
                *waiting = Some((conn, client));
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
                self.transmits
                    .push_back(Transmit::Relay { a: other, b: conn });
            }
        }
    }
}
