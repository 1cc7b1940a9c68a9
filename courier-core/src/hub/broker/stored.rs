//! Offers stored for an offline recipient (offered with `wait`): taken back at start,
//! handed over at the recipient's login, `stored` once written, reclaimed by a sender
//! that comes back, and forgotten when too old or when the owner drops them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::{Brokered, State, StoredSize};
use crate::hub::paced::Paced;
use crate::hub::{Conn, ConnId, Hub, db};
use crate::limits;
use crate::proto::{ClientId, OfferRefusal, ServerFrame, Timestamp, TransferEnd, TransferId};

impl Hub {
    /// One stored offer back from the database.
    pub(in crate::hub) fn restore_offer(&mut self, offer: db::StoredOffer) {
        let members =
            self.directory.get(&offer.from).is_some() && self.directory.get(&offer.to).is_some();
        if !members
            || offer.sealed.is_empty()
            || !offer.sealed.within_bounds()
            || self.broker.transfers.contains_key(&offer.id)
        {
            self.broker.record(db::Record::OfferGone(offer.id));
            return;
        }
        let bytes = offer.sealed.len();
        self.broker.stored_offer_bytes += bytes;
        self.broker.stored_offer_count += 1;
        self.broker.transfers.insert(
            offer.id,
            Brokered {
                digest: crate::proto::offer_digest(&offer.sealed, None),
                from: offer.from,
                from_conn: None,
                to: offer.to,
                addrs: Vec::new(),
                sealed: offer.sealed,
                created: offer.created,
                test: None,
                state: State::Offered,
                stored: Some(StoredSize { bytes }),
            },
        );
    }

    /// Hands `client`, who just logged in on `conn`, the stored offers pending its
    /// answer, oldest first, as its outbox drains.
    pub(in crate::hub) fn hand_over_offers(
        &mut self,
        conn: ConnId,
        client: ClientId,
        now: Instant,
    ) {
        let mut offers: Vec<(Timestamp, TransferId)> = self
            .broker
            .transfers
            .iter()
            .filter(|(_, t)| t.to == client && t.stored.is_some())
            .filter(|(_, t)| matches!(t.state, State::Offered))
            .map(|(id, t)| (t.created, *id))
            .collect();
        offers.sort();
        for (_, id) in offers {
            self.send_paced(conn, Paced::Offer(id), now);
        }
    }

    /// Stored offers were written (or not: `ok` false): their senders hear `stored`, or
    /// that the hub could not store them (then they are dropped).
    pub(in crate::hub) fn offers_stored(
        &mut self,
        batch: Vec<(TransferId, u32, ConnId)>,
        ok: bool,
        now: Instant,
    ) {
        for (id, tag, conn) in batch {
            let frame = if ok {
                if !self.broker.transfers.contains_key(&id) {
                    continue;
                }
                ServerFrame::OfferStored { tag, id }
            } else {
                // Never written: forgetting it on the disk deletes nothing.
                self.broker.remove(id);
                ServerFrame::OfferRefused {
                    tag,
                    reason: OfferRefusal::CouldNotStore,
                }
            };
            if self.conns.get(&conn).is_some_and(Conn::is_ready) {
                self.send(conn, Arc::new(frame), now);
            }
        }
    }

    /// The sender of stored offer `id` is back on `conn` and listens at `addrs`: if the
    /// recipient accepted meanwhile, the tickets go out now.
    pub(in crate::hub) fn reclaim(
        &mut self,
        conn: ConnId,
        client: ClientId,
        id: TransferId,
        addrs: Vec<SocketAddr>,
        now: Instant,
    ) {
        if addrs.len() > limits::MAX_ADDRS {
            return self.refuse_answer(conn, "too many addresses", now);
        }
        let Some(t) = self
            .broker
            .transfers
            .get_mut(&id)
            .filter(|t| t.from == client && t.stored.is_some())
        else {
            // Answered, withdrawn or expired meanwhile (an app coming back may hold many
            // such: not counted against it).
            let end = ServerFrame::TransferEnded {
                id,
                end: TransferEnd::NoLongerStored,
            };
            return self.send(conn, Arc::new(end), now);
        };
        t.from_conn = Some(conn);
        t.addrs = addrs;
        if let State::Answered { .. } = t.state {
            let State::Answered {
                to_conn,
                files,
                addrs,
            } = std::mem::replace(&mut t.state, State::Offered)
            else {
                return;
            };
            self.mint(id, to_conn, files, addrs, now);
        }
    }

    /// Stored offers older than `before` are forgotten, and so are those whose sender has
    /// been away for [`limits::STORED_OFFER_SENDER_AWAY`] (only it can send the files: an
    /// identity that never comes back holds nothing for long); whoever is here hears so.
    pub(in crate::hub) fn expire_offers(&mut self, before: Timestamp, now: Instant) {
        let away = u64::try_from(limits::STORED_OFFER_SENDER_AWAY.as_millis()).unwrap_or(u64::MAX);
        let gone_since = Timestamp(self.wall(now).0.saturating_sub(away));
        // Gone since the hub started at the latest: after a crash, `last_seen` of a
        // sender that was online is when it logged in.
        let start = self.epoch.1;
        let sender_gone = |from: &ClientId| {
            self.directory
                .get(from)
                .is_none_or(|k| k.conns.is_empty() && k.last_seen.max(start) < gone_since)
        };
        let old: Vec<TransferId> = self
            .broker
            .transfers
            .iter()
            .filter(|(_, t)| t.stored.is_some() && (t.created < before || sender_gone(&t.from)))
            .filter(|(_, t)| !matches!(t.state, State::Ticketed { .. }))
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            self.forget_stored_offer(id, now);
        }
    }

    /// Forgets stored offer `id`; whoever of its parties is here hears it is no longer stored.
    fn forget_stored_offer(&mut self, id: TransferId, now: Instant) {
        if let Some(t) = self.broker.remove(id) {
            let end = Arc::new(ServerFrame::TransferEnded {
                id,
                end: TransferEnd::NoLongerStored,
            });
            let mut conns: Vec<ConnId> = t.from_conn.into_iter().collect();
            conns.extend(self.parties(&t, t.from));
            for c in conns {
                self.send(c, end.clone(), now);
            }
        }
    }

    /// The owner dropped what `who` left: its stored offers (and, with `to_too`, those
    /// stored for it) are forgotten, answered or not; whoever is here hears so. Returns
    /// how many.
    pub(in crate::hub) fn drop_stored_offers(
        &mut self,
        who: ClientId,
        to_too: bool,
        now: Instant,
    ) -> usize {
        let gone: Vec<TransferId> = self
            .broker
            .transfers
            .iter()
            .filter(|(_, t)| t.stored.is_some() && (t.from == who || (to_too && t.to == who)))
            .map(|(id, _)| *id)
            .collect();
        for &id in &gone {
            self.forget_stored_offer(id, now);
        }
        gone.len()
    }
}
