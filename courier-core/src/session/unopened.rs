//! [`Unopened`]: sealed things that arrived before what opens them (a room message before
//! its sender's room key, anything before its sender's keys), held for a while.
//!
//! The hub decides what arrives, so a hostile one could send endless envelopes nobody
//! can open: the buffer is bounded overall and per sender, and whatever it lets go (too
//! many, or waited too long) is handed back to be reported as unreadable, never dropped
//! without a word.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::proto::{ClientId, SealedMessage, SealedOffer, Target};

/// Most things held at once (a mailbox of thousands from a sender whose keys are not
/// fetched yet waits here until they come).
pub(crate) const MAX_UNOPENED: usize = 8192;

/// Most bytes of envelopes held at once.
pub(crate) const MAX_UNOPENED_BYTES: usize = 16 << 20;

/// Most things held for one sender: a share of [`MAX_UNOPENED`], so that one member's
/// flood does not push out everyone else's messages.
pub(crate) const MAX_UNOPENED_PER_SENDER: usize = MAX_UNOPENED / 4;

/// Most bytes held for one sender (a share of [`MAX_UNOPENED_BYTES`]).
pub(crate) const MAX_UNOPENED_BYTES_PER_SENDER: usize = MAX_UNOPENED_BYTES / 4;

/// What holding one thing costs beside its envelope.
const HELD_OVERHEAD: usize = 128;

/// How long a thing waits for what opens it before it is reported as unreadable. The
/// key share of a room message comes just before it (the sender sends it first); a
/// sender's keys come one round trip to the hub after we ask.
pub(crate) const UNOPENED_WITHIN: Duration = Duration::from_secs(20);

/// What a held thing waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The sender's keys (asked of the hub).
    Keys(ClientId),
    /// The sender's key share for this room.
    RoomKey(ClientId, Target),
}

/// A sealed thing that came before what opens it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Sealed {
    /// A message.
    Message(SealedMessage),
    /// A file offer.
    Offer(SealedOffer),
}

impl Sealed {
    fn from(&self) -> ClientId {
        match self {
            Self::Message(m) => m.from,
            Self::Offer(o) => o.from,
        }
    }

    /// What holding it costs, in bytes.
    fn cost(&self) -> usize {
        HELD_OVERHEAD
            + match self {
                Self::Message(m) => m.sealed.len(),
                Self::Offer(o) => o.sealed.len(),
            }
    }
}

/// One held thing.
#[derive(Debug)]
pub(crate) struct Held {
    /// What it waits for.
    pub(crate) wait: Wait,
    /// It.
    pub(crate) sealed: Sealed,
    /// Since when.
    since: Instant,
}

/// Held sealed things, oldest first (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct Unopened {
    held: VecDeque<Held>,
    /// What `held` costs, in bytes.
    bytes: usize,
}

impl Unopened {
    /// Holds `sealed` until `wait` is met. Returns what had to be let go to make room:
    /// the sender's oldest while it holds its whole share, then the oldest of all while
    /// the whole is full.
    pub(crate) fn hold(&mut self, wait: Wait, sealed: Sealed, now: Instant) -> Vec<Held> {
        let from = sealed.from();
        let cost = sealed.cost();
        let mut evicted = Vec::new();
        loop {
            let (count, bytes) = self
                .held
                .iter()
                .filter(|h| h.sealed.from() == from)
                .fold((0, 0), |(n, b), h| (n + 1, b + h.sealed.cost()));
            if count < MAX_UNOPENED_PER_SENDER && bytes + cost <= MAX_UNOPENED_BYTES_PER_SENDER {
                break;
            }
            let Some(at) = self.held.iter().position(|h| h.sealed.from() == from) else {
                break;
            };
            evicted.extend(self.remove(at));
        }
        while !self.held.is_empty()
            && (self.held.len() >= MAX_UNOPENED || self.bytes + cost > MAX_UNOPENED_BYTES)
        {
            evicted.extend(self.remove(0));
        }
        self.bytes += cost;
        self.held.push_back(Held {
            wait,
            sealed,
            since: now,
        });
        evicted
    }

    fn remove(&mut self, at: usize) -> Option<Held> {
        let held = self.held.remove(at)?;
        self.bytes = self.bytes.saturating_sub(held.sealed.cost());
        Some(held)
    }

    /// Takes, in arrival order, everything waiting for `wait`.
    pub(crate) fn take(&mut self, wait: Wait) -> Vec<Held> {
        let (met, rest): (VecDeque<Held>, VecDeque<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.wait == wait);
        self.held = rest;
        self.bytes = self.held.iter().map(|h| h.sealed.cost()).sum();
        met.into()
    }

    /// Takes what has waited [`UNOPENED_WITHIN`] or longer.
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<Held> {
        let (old, rest): (VecDeque<Held>, VecDeque<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| now.saturating_duration_since(h.since) >= UNOPENED_WITHIN);
        self.held = rest;
        self.bytes = self.held.iter().map(|h| h.sealed.cost()).sum();
        old.into()
    }

    /// Takes everything held, oldest first.
    pub(crate) fn drain(&mut self) -> Vec<Held> {
        self.bytes = 0;
        std::mem::take(&mut self.held).into()
    }

    /// When the oldest held thing expires.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.held.front().map(|h| h.since + UNOPENED_WITHIN)
    }

    /// How many things are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{MsgId, Timestamp};

    fn message(from: u8, id: u64) -> Sealed {
        Sealed::Message(SealedMessage {
            id: MsgId(id),
            from: ClientId([from; 32]),
            to: Target::Everyone,
            sealed: vec![1, 2, 3].into(),
            time: Timestamp(1),
            seq: None,
        })
    }

    fn room(from: u8) -> Wait {
        Wait::RoomKey(ClientId([from; 32]), Target::Everyone)
    }

    /// A hostile hub's flood from one sender pushes out only that sender's own oldest
    /// message; another sender's message stays held.
    #[test]
    fn one_senders_flood_evicts_only_its_own_and_the_whole_is_bounded() {
        let mut unopened = Unopened::default();
        let now = Instant::now();
        assert!(unopened.hold(room(2), message(2, 0), now).is_empty());
        for i in 0..MAX_UNOPENED_PER_SENDER as u64 {
            assert!(unopened.hold(room(1), message(1, i), now).is_empty());
        }
        let evicted = unopened.hold(room(1), message(1, 999), now);
        assert_eq!(
            evicted.into_iter().map(|h| h.sealed).collect::<Vec<_>>(),
            [message(1, 0)],
            "the flooder's oldest goes"
        );
        assert_eq!(unopened.take(room(2)).len(), 1, "the other sender's stays");
        // Many senders: the whole stays within its bound.
        for who in 10..=250u8 {
            for i in 0..40 {
                unopened.hold(room(who), message(who, i), now);
            }
        }
        assert_eq!(unopened.len(), MAX_UNOPENED, "full, and no more");
        // Big envelopes: bounded by bytes as well.
        let big = |from: u8, id: u64| {
            let Sealed::Message(mut m) = message(from, id) else {
                unreachable!()
            };
            m.sealed = vec![0; 60_000].into();
            Sealed::Message(m)
        };
        let mut bytes = Unopened::default();
        for i in 0..1000 {
            bytes.hold(room(3), big(3, i), now);
        }
        assert!(
            bytes.bytes <= MAX_UNOPENED_BYTES_PER_SENDER,
            "one sender's share"
        );
        for who in 4..20u8 {
            for i in 0..100 {
                bytes.hold(room(who), big(who, i), now);
            }
        }
        assert!(bytes.bytes <= MAX_UNOPENED_BYTES, "the whole");
    }

    /// What waits for a share is released by that share alone, in order; what waits too
    /// long is let go to be reported.
    #[test]
    fn held_things_are_released_by_their_key_or_expire() {
        let mut unopened = Unopened::default();
        let t0 = Instant::now();
        unopened.hold(room(1), message(1, 1), t0);
        unopened.hold(Wait::Keys(ClientId([3; 32])), message(3, 1), t0);
        unopened.hold(room(1), message(1, 2), t0 + Duration::from_secs(1));
        let ids: Vec<_> = unopened
            .take(room(1))
            .into_iter()
            .map(|h| h.sealed)
            .collect();
        assert_eq!(ids, [message(1, 1), message(1, 2)]);
        assert_eq!(unopened.deadline(), Some(t0 + UNOPENED_WITHIN));
        assert!(unopened.expired(t0 + UNOPENED_WITHIN / 2).is_empty());
        assert_eq!(unopened.expired(t0 + UNOPENED_WITHIN).len(), 1);
        assert_eq!(unopened.len(), 0);
    }
}
