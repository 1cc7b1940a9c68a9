//! Opening what the session receives: messages (direct, group, everyone; live, stored
//! for us, or from a group's log) and file offers. A room key share is taken silently;
//! what comes before the keys that open it waits in [`Unopened`](super::unopened::Unopened)
//! (bounded); what cannot be opened is reported as [`Event::Unreadable`] (or
//! [`Event::UnreadableOffer`], declined for us when it can never open) and logged, never
//! dropped.

use std::time::Instant;

use super::sealing::OFFER_ID;
use super::unopened::{Held, Sealed, Wait};
use super::{Event, Session};
use crate::proto::{
    ClientFrame, ClientId, Declined, GroupId, IncomingOffer, Manifest, Message, SealedMessage,
    SealedOffer, Target,
};
use crate::seal::{Opened, Payload, Problem};

impl Session {
    /// A message the hub sends live: in a group we know, only its members write (a hub
    /// cannot slip in a stranger's message, nor a removed member's); then opened.
    pub(super) fn open_live(&mut self, m: SealedMessage, now: Instant) {
        if let Target::Group(g) = m.to
            && !self.is_member(g, m.from)
        {
            self.unreadable(m, Problem::NotAMember);
            return;
        }
        self.open_message(m, now);
    }

    /// Whether `who` may write in group `g`: a current member, or a group we do not know.
    fn is_member(&self, g: GroupId, who: ClientId) -> bool {
        Some(who) == self.me
            || self
                .keys
                .members
                .get(&g)
                .is_none_or(|members| members.contains(&who))
    }

    /// A sealed message from the hub: opened and reported, held, or reported unreadable.
    pub(super) fn open_message(&mut self, m: SealedMessage, now: Instant) {
        #[cfg(any(test, feature = "test-util"))]
        if self.keys.plain {
            self.open_plain(m);
            return;
        }
        let wall = self.keys.wall(now);
        let Some(keyring) = self.keys.keyring.as_mut() else {
            self.unreadable(m, Problem::NotForMe);
            return;
        };
        match m.to {
            Target::Client(_) => match keyring.open_direct(m.from, m.id, &m.sealed, wall) {
                // Under a share id (sent in a `Shares` frame, on its own allowance) only
                // a room key is taken: a text there would bypass the chat allowance.
                Ok(Payload::Text(_)) if m.id.is_share() => self.unreadable(m, Problem::Malformed),
                Ok(Payload::Text(text)) => self.opened(m, text),
                Ok(Payload::RoomKey(key)) => {
                    let from = m.from;
                    let room = key.room;
                    let member = match room {
                        Target::Group(g) => self.is_member(g, from),
                        _ => true,
                    };
                    let Some(keyring) = self.keys.keyring.as_mut().filter(|_| member) else {
                        tracing::warn!(
                            from = %from.short(),
                            "a room key share for a group from a non-member was refused"
                        );
                        return;
                    };
                    match keyring.accept_room_key(from, key, wall) {
                        Ok(()) => self.release(Wait::RoomKey(from, room), now),
                        Err(p) => tracing::warn!(
                            from = %from.short(),
                            "a room key share was refused: {p}"
                        ),
                    }
                }
                Ok(Payload::Files(_)) => self.unreadable(m, Problem::Malformed),
                Err(Problem::UnknownSender) => {
                    let from = m.from;
                    self.hold(Wait::Keys(from), Sealed::Message(m), now);
                    self.fetch_keys(from, now);
                }
                Err(p) => self.unreadable(m, p),
            },
            room => match keyring.open_room(m.from, room, m.id, &m.sealed, wall) {
                Ok(Opened {
                    payload: Payload::Text(text),
                    gap,
                    ..
                }) => {
                    // Everyone is never kept for members offline: gaps there are normal.
                    if let (Some(missing), Target::Group(_)) = (gap, room) {
                        tracing::warn!(
                            from = %m.from.short(),
                            "{missing} earlier messages of this sender never arrived"
                        );
                        self.events.push_back(Event::Missing {
                            from: m.from,
                            to: room,
                            count: missing,
                        });
                    }
                    self.opened(m, text);
                }
                Ok(_) => self.unreadable(m, Problem::Malformed),
                Err(Problem::NoRoomKey) => {
                    let wait = Wait::RoomKey(m.from, room);
                    self.hold(wait, Sealed::Message(m), now);
                }
                Err(p) => self.unreadable(m, p),
            },
        }
    }

    /// A sealed file offer: opened into an [`IncomingOffer`], held, or reported and
    /// declined.
    pub(super) fn open_offer(&mut self, o: SealedOffer, now: Instant) {
        if let Some(test) = o.test {
            let manifest = Manifest {
                test: Some(test),
                ..Manifest::default()
            };
            self.events.push_back(Event::Offer(incoming(o, manifest)));
            return;
        }
        #[cfg(any(test, feature = "test-util"))]
        if self.keys.plain {
            self.open_plain_offer(o);
            return;
        }
        let wall = self.keys.wall(now);
        let opened = match self.keys.keyring.as_mut() {
            Some(keyring) => keyring.open_direct(o.from, OFFER_ID, &o.sealed, wall),
            None => Err(Problem::NotForMe),
        };
        match opened {
            Ok(Payload::Files(manifest)) if manifest.test.is_none() => {
                self.events.push_back(Event::Offer(incoming(o, manifest)));
            }
            Ok(_) => self.unreadable_offer(o, Problem::Malformed, now),
            Err(Problem::UnknownSender) => {
                let from = o.from;
                self.hold(Wait::Keys(from), Sealed::Offer(o), now);
                self.fetch_keys(from, now);
            }
            Err(p) => self.unreadable_offer(o, p, now),
        }
    }

    fn opened(&mut self, m: SealedMessage, text: String) {
        self.events.push_back(Event::Message(Message {
            id: m.id,
            from: m.from,
            to: m.to,
            text,
            time: m.time,
            seq: m.seq,
        }));
    }

    fn unreadable(&mut self, m: SealedMessage, problem: Problem) {
        tracing::warn!(
            from = %m.from.short(),
            id = %m.id,
            "a message could not be opened: {problem}"
        );
        self.events.push_back(Event::Unreadable {
            id: m.id,
            from: m.from,
            to: m.to,
            time: m.time,
            seq: m.seq,
            problem,
        });
    }

    fn unreadable_offer(&mut self, o: SealedOffer, problem: Problem, now: Instant) {
        tracing::warn!(from = %o.from.short(), "a file offer could not be opened: {problem}");
        self.events.push_back(Event::UnreadableOffer {
            id: o.id,
            from: o.from,
            problem,
        });
        // The sender's keys not (yet) known is temporary (not fetched, the hub limiting us):
        // the offer stays pending. What can never open is declined, so the sender hears.
        if matches!(problem, Problem::UnknownSender | Problem::NoRoomKey) {
            return;
        }
        self.transmit(
            ClientFrame::Decline {
                id: o.id,
                reason: Declined::ByUser,
            },
            now,
        );
    }

    fn hold(&mut self, wait: Wait, sealed: Sealed, now: Instant) {
        for evicted in self.keys.unopened.hold(wait, sealed, now) {
            self.give_up(evicted, now);
        }
    }

    /// What waited for `wait` is opened again (it may wait again, for something else).
    fn release(&mut self, wait: Wait, now: Instant) {
        for held in self.keys.unopened.take(wait) {
            match held.sealed {
                Sealed::Message(m) => self.open_message(m, now),
                Sealed::Offer(o) => self.open_offer(o, now),
            }
        }
    }

    /// `whose` keys came (or will not): what waited for them is opened again, or, if the
    /// hub has none that verify, reported.
    pub(super) fn release_keys(&mut self, whose: crate::proto::ClientId, now: Instant) {
        if self.keys.keyless.contains_key(&whose) {
            for held in self.keys.unopened.take(Wait::Keys(whose)) {
                self.give_up(held, now);
            }
        } else {
            self.release(Wait::Keys(whose), now);
        }
    }

    /// Held things that waited too long are reported.
    pub(super) fn unopened_timeout(&mut self, now: Instant) {
        for held in self.keys.unopened.expired(now) {
            self.give_up(held, now);
        }
    }

    /// Everything held is reported (the connection ended).
    pub(super) fn give_up_all(&mut self, now: Instant) {
        for held in self.keys.unopened.drain() {
            self.give_up(held, now);
        }
    }

    fn give_up(&mut self, held: Held, now: Instant) {
        let problem = match held.wait {
            Wait::Keys(_) => Problem::UnknownSender,
            Wait::RoomKey(..) => Problem::NoRoomKey,
        };
        match held.sealed {
            Sealed::Message(m) => self.unreadable(m, problem),
            Sealed::Offer(o) => self.unreadable_offer(o, problem, now),
        }
    }
}

fn incoming(o: SealedOffer, manifest: Manifest) -> IncomingOffer {
    IncomingOffer {
        digest: o.digest(),
        id: o.id,
        from: o.from,
        manifest,
        addrs: o.addrs,
        time: o.time,
    }
}
