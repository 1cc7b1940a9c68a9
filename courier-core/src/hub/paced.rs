//! Large frames a member asked for, or that others sent it (pictures, file offers), go
//! out as its outbox drains, never in one batch: what a client asks for, or what many
//! senders offer it at once, can never make it a slow consumer.
//!
//! Each connection has a queue of what it is owed. The hub sends from it up to
//! [`limits::PACED_ROUND`] bytes, then emits [`Transmit::WhenDrained`] and waits for
//! [`Hub::handle_drained`] before the next round. The queue names what to send (a
//! contact's picture, an offer's id), not the bytes: the frame is made when it goes out,
//! so it costs nothing while it waits, and a withdrawn offer is never sent.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::{ConnId, Hub, Transmit};
use crate::limits;
use crate::proto::{ClientId, ServerFrame, TransferId};

/// Something owed to a connection, sent when its outbox has room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Paced {
    /// A contact's picture, as it is when it goes out.
    Avatar(ClientId),
    /// A file offer, if it still waits for this recipient's answer.
    Offer(TransferId),
    /// A member's published keys, as they are when they go out.
    Keys(ClientId),
}

/// One connection's queue of what it is owed.
#[derive(Debug, Default)]
pub(super) struct Queue {
    items: VecDeque<Paced>,
    /// A round went out; the next waits for [`Hub::handle_drained`].
    in_flight: bool,
}

impl Queue {
    /// Whether `item` waits already (a picture asked for twice goes once).
    fn holds(&self, item: Paced) -> bool {
        self.items.contains(&item)
    }
}

impl Hub {
    /// Queues `item` for `conn` and sends it now if nothing else is on its way.
    /// Returns false (and queues nothing) for a picture when the queue is full; offers
    /// are bounded where they are made.
    pub(super) fn send_paced(&mut self, conn: ConnId, item: Paced, now: Instant) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return true;
        };
        if c.paced.holds(item) {
            return true;
        }
        if matches!(item, Paced::Avatar(_) | Paced::Keys(_))
            && c.paced.items.len() >= limits::PACED_QUEUE
        {
            return false;
        }
        c.paced.items.push_back(item);
        if !c.paced.in_flight {
            self.pace(conn, now);
        }
        true
    }

    /// `conn`'s outbox drained since the last [`Transmit::WhenDrained`]: the next round
    /// of what it is owed goes out.
    pub fn handle_drained(&mut self, conn: ConnId, now: Instant) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.paced.in_flight = false;
            self.pace(conn, now);
        }
    }

    /// Sends `conn` a round of what it is owed: items until [`limits::PACED_ROUND`]
    /// bytes (at least one), then asks to hear when they are written.
    fn pace(&mut self, conn: ConnId, now: Instant) {
        let Some(client) = self.conns.get(&conn).and_then(super::Conn::client) else {
            return;
        };
        let mut sent = 0usize;
        while sent < limits::PACED_ROUND {
            let Some(item) = self
                .conns
                .get_mut(&conn)
                .and_then(|c| c.paced.items.pop_front())
            else {
                break;
            };
            let frame = match item {
                Paced::Avatar(id) => {
                    let avatar = self
                        .directory
                        .get(&id)
                        .map(|k| k.profile.avatar.clone())
                        .unwrap_or_default();
                    sent += avatar.len() + 64;
                    ServerFrame::Avatar { id, avatar }
                }
                Paced::Keys(id) => {
                    let frame = self.keys_frame(id);
                    sent += crate::proto::encode(&frame).len();
                    frame
                }
                Paced::Offer(id) => {
                    let Some(frame) = self.offer_frame(id, client) else {
                        continue;
                    };
                    sent += crate::proto::encode(&frame).len();
                    frame
                }
            };
            self.send(conn, Arc::new(frame), now);
        }
        if sent > 0
            && let Some(c) = self.conns.get_mut(&conn)
        {
            c.paced.in_flight = true;
            self.transmits.push_back(Transmit::WhenDrained { conn });
        }
    }
}
