//! The transfers the hub brokers for this session (offer → answer → ticket), as a pure
//! table of where each one's answers go. The connect driver feeds it every transfer
//! event the hub sends; it hands each one to the transfer it belongs to, as that
//! transfer's own [`Answer`], and the event is shown to nobody else. The table holds
//! each transfer's mailbox (any `T`; the driver uses the channel sender a transfer gave
//! it through the [`Handle`](super::Handle)) and knows nothing of I/O.

use std::collections::HashMap;

use super::Event;
use crate::proto::{OfferRefusal, TicketInfo, TransferEnd, TransferId};

/// What the hub said about one of our transfers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The hub forwarded our offer under this id; the receiver's answer follows.
    Offered(TransferId),
    /// The recipient is offline: the hub keeps our offer (sent with `wait`) under this
    /// id and hands it over at their next login.
    Stored(TransferId),
    /// The hub did not forward our offer.
    Refused(OfferRefusal),
    /// The session sealed our offer's names into an envelope with this digest (the one
    /// the ticket must carry); the hub's answer follows.
    Sealed([u8; 32]),
    /// The transfer was accepted: its ticket.
    Ticket(TicketInfo),
    /// The transfer ended at the hub (declined, cancelled, the other side left).
    Ended(TransferEnd),
    /// The connection to the hub dropped; nothing more will come.
    HubLost,
}

/// Which transfer of ours waits for which of the hub's answers. An offer is known by the
/// tag we gave it until the hub names it; then by its id.
///
/// Call order (a small pure machine): [`Brokered::offer`] / [`Brokered::accept`] as a
/// transfer's command goes out (an offer gets the tag to send); for every event of the
/// session, [`Brokered::route`] (deliver the answer it returns to the mailbox it
/// returns), then [`Brokered::settle`]; [`Brokered::retain`] to forget transfers nobody
/// listens to any more; [`Brokered::hub_lost`] when the connection drops (deliver each
/// [`Answer::HubLost`]). [`Brokered::len`] / [`Brokered::is_empty`] are queries.
#[derive(Debug)]
pub struct Brokered<T> {
    next_tag: u32,
    by_tag: HashMap<u32, T>,
    by_id: HashMap<TransferId, T>,
}

impl<T> Default for Brokered<T> {
    fn default() -> Self {
        Self {
            next_tag: 0,
            by_tag: HashMap::new(),
            by_id: HashMap::new(),
        }
    }
}

impl<T> Brokered<T> {
    /// An offer of ours is about to go out: its answers go to `mailbox`. Returns the tag
    /// to send with it.
    pub fn offer(&mut self, mailbox: T) -> u32 {
        self.next_tag = self.next_tag.wrapping_add(1);
        self.by_tag.insert(self.next_tag, mailbox);
        self.next_tag
    }

    /// We accept transfer `id`: its ticket (or its end) goes to `mailbox`.
    pub fn accept(&mut self, id: TransferId, mailbox: T) {
        self.by_id.insert(id, mailbox);
    }

    /// The transfer `event` is about, with what it means for it; `None` when the event
    /// belongs to no transfer of ours (then whoever watches the session handles it).
    ///
    /// A transfer keeps its mailbox after the ticket: a cancel from the other side before
    /// the peer connection is up comes the same way.
    pub fn route(&mut self, event: &Event) -> Option<(&T, Answer)> {
        match event {
            Event::OfferSent { tag, id } => {
                let mailbox = self.by_tag.remove(tag)?;
                let slot = self.by_id.entry(*id).insert_entry(mailbox);
                Some((slot.into_mut(), Answer::Offered(*id)))
            }
            Event::OfferStored { tag, id } => {
                let mailbox = self.by_tag.remove(tag)?;
                let slot = self.by_id.entry(*id).insert_entry(mailbox);
                Some((slot.into_mut(), Answer::Stored(*id)))
            }
            Event::OfferRefused { tag, reason } => {
                Some((self.by_tag.get(tag)?, Answer::Refused(*reason)))
            }
            Event::OfferSealed { tag, digest } => {
                Some((self.by_tag.get(tag)?, Answer::Sealed(*digest)))
            }
            Event::Ticket(info) => Some((self.by_id.get(&info.id)?, Answer::Ticket(info.clone()))),
            Event::TransferEnded { id, end } => Some((self.by_id.get(id)?, Answer::Ended(*end))),
            _ => None,
        }
    }

    /// Forgets what [`Brokered::route`] said is over: a refused offer, an ended
    /// transfer. Call after delivering the answer.
    pub fn settle(&mut self, event: &Event) {
        match event {
            Event::OfferRefused { tag, .. } => {
                self.by_tag.remove(tag);
            }
            Event::TransferEnded { id, .. } => {
                self.by_id.remove(id);
            }
            _ => {}
        }
    }

    /// Keeps only the transfers whose mailbox `alive` says someone still reads.
    pub fn retain(&mut self, mut alive: impl FnMut(&T) -> bool) {
        self.by_tag.retain(|_, m| alive(m));
        self.by_id.retain(|_, m| alive(m));
    }

    /// The hub connection dropped: every transfer still waiting hears [`Answer::HubLost`];
    /// the table is empty afterwards.
    pub fn hub_lost(&mut self) -> impl Iterator<Item = (T, Answer)> + '_ {
        self.by_tag
            .drain()
            .map(|(_, m)| m)
            .chain(self.by_id.drain().map(|(_, m)| m))
            .map(|m| (m, Answer::HubLost))
    }

    /// Transfers waiting for answers.
    pub fn len(&self) -> usize {
        self.by_tag.len() + self.by_id.len()
    }

    /// Whether no transfer waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ClientId, Declined, Ticket};

    fn ticket(id: u64) -> Event {
        Event::Ticket(TicketInfo {
            id: TransferId(id),
            ticket: Ticket([1; 32]),
            peer: ClientId([2; 32]),
            files: vec![0],
            addrs: Vec::new(),
            digest: [0; 32],
            seen: None,
        })
    }

    #[test]
    fn each_transfer_hears_only_its_own_answers() {
        let mut table = Brokered::default();
        let a = table.offer("a");
        let b = table.offer("b");
        assert_ne!(a, b);
        let sent = Event::OfferSent {
            tag: b,
            id: TransferId(7),
        };
        assert_eq!(
            table.route(&sent),
            Some((&"b", Answer::Offered(TransferId(7))))
        );
        let refused = Event::OfferRefused {
            tag: a,
            reason: OfferRefusal::Busy,
        };
        assert_eq!(
            table.route(&refused),
            Some((&"a", Answer::Refused(OfferRefusal::Busy)))
        );
        table.settle(&refused);
        assert_eq!(table.route(&refused), None, "a refusal ends the offer");
        table.accept(TransferId(9), "c");
        assert!(matches!(
            table.route(&ticket(9)),
            Some((&"c", Answer::Ticket(_)))
        ));
        assert!(matches!(
            table.route(&ticket(7)),
            Some((&"b", Answer::Ticket(_)))
        ));
        assert_eq!(table.route(&ticket(8)), None, "someone else's");
        let ended = Event::TransferEnded {
            id: TransferId(7),
            end: TransferEnd::Declined(Declined::ByUser),
        };
        assert!(matches!(
            table.route(&ended),
            Some((&"b", Answer::Ended(_)))
        ));
        table.settle(&ended);
        assert_eq!(table.route(&ended), None);
        assert_eq!(
            table.route(&Event::Typing {
                from: ClientId([0; 32]),
                to: crate::proto::Target::Everyone
            }),
            None
        );
        assert_eq!(table.len(), 1);
        let lost: Vec<_> = table.hub_lost().collect();
        assert_eq!(lost, [("c", Answer::HubLost)]);
        assert!(table.is_empty());
    }

    /// A stored offer (the recipient is offline) is named by `stored` as an online one is
    /// by `sent`: its ticket later finds the same mailbox, and a reclaim after a lost
    /// hub connection registers a new one under its id.
    #[test]
    fn a_stored_offer_is_known_by_its_id_and_reclaimed_after_a_lost_hub() {
        let mut table = Brokered::default();
        let tag = table.offer("first");
        let stored = Event::OfferStored {
            tag,
            id: TransferId(5),
        };
        assert_eq!(
            table.route(&stored),
            Some((&"first", Answer::Stored(TransferId(5))))
        );
        assert_eq!(table.route(&stored), None, "the tag is used up");
        let lost: Vec<_> = table.hub_lost().collect();
        assert_eq!(lost, [("first", Answer::HubLost)]);
        table.accept(TransferId(5), "reclaimed");
        assert!(matches!(
            table.route(&ticket(5)),
            Some((&"reclaimed", Answer::Ticket(_)))
        ));
    }

    #[test]
    fn mailboxes_nobody_reads_are_forgotten() {
        let mut table = Brokered::default();
        table.offer(1);
        table.accept(TransferId(1), 2);
        table.retain(|m| *m == 2);
        assert_eq!(table.len(), 1);
    }
}
