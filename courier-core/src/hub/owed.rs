//! `delivered` receipts owed to offline senders: when a recipient acknowledges a page of
//! its mailbox, each message's sender hears `delivered` at once if online; an offline
//! sender is owed it until its next login. What is owed is bounded per sender
//! ([`limits::OWED_RECEIPTS`], its oldest dropped) and for the hub
//! ([`limits::OWED_RECEIPTS_TOTAL`], the sender owed the most loses its oldest), and kept
//! only for members the hub knows, so one member, or many identities, cannot fill it.
//! A receipt dropped costs nothing but the word: the message was delivered, its sender
//! still shows `stored`.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::limits;
use crate::proto::{ClientId, MsgId};

/// Every offline sender's owed receipts, oldest first.
#[derive(Debug, Default)]
pub(super) struct Owed {
    by: HashMap<ClientId, VecDeque<MsgId>>,
    total: usize,
    /// Senders whose list changed since [`Owed::take_changed`] (for the disk).
    changed: BTreeSet<ClientId>,
    /// Whether changes are kept for the disk (a hub with a database).
    recording: bool,
}

impl Owed {
    /// From now on, changes are kept for [`Owed::take_changed`].
    pub(super) fn record(&mut self) {
        self.recording = true;
    }

    fn mark(&mut self, from: ClientId) {
        if self.recording {
            self.changed.insert(from);
        }
    }

    /// `from` is owed `id`; `known` says which senders the hub still knows (the others'
    /// lists are forgotten when they would grow past `max_senders`).
    pub(super) fn owe(
        &mut self,
        from: ClientId,
        id: MsgId,
        max_senders: usize,
        known: impl Fn(&ClientId) -> bool,
    ) {
        if !self.by.contains_key(&from) && self.by.len() >= max_senders {
            let gone: Vec<ClientId> = self.by.keys().filter(|k| !known(k)).copied().collect();
            for k in gone {
                self.forget(k);
            }
        }
        let list = self.by.entry(from).or_default();
        list.push_back(id);
        if list.len() > limits::OWED_RECEIPTS {
            list.pop_front();
        } else {
            self.total += 1;
        }
        self.mark(from);
        if self.total > limits::OWED_RECEIPTS_TOTAL
            && let Some(most) = self.by.iter().max_by_key(|(_, l)| l.len()).map(|(k, _)| *k)
            && let Some(list) = self.by.get_mut(&most)
            && list.pop_front().is_some()
        {
            self.total -= 1;
            self.mark(most);
        }
    }

    /// Takes what `from` is owed back from the disk (at start), oldest first.
    pub(super) fn restore(&mut self, owed: impl IntoIterator<Item = (ClientId, MsgId)>) {
        for (from, id) in owed {
            self.owe(from, id, usize::MAX, |_| true);
        }
        self.changed.clear();
    }

    /// Hands over what `from` is owed: it is forgotten.
    pub(super) fn take(&mut self, from: ClientId) -> Vec<MsgId> {
        let Some(list) = self.by.remove(&from) else {
            return Vec::new();
        };
        self.total -= list.len();
        self.mark(from);
        list.into()
    }

    /// Forgets what `from` is owed (a member the hub forgot).
    pub(super) fn forget(&mut self, from: ClientId) {
        if let Some(list) = self.by.remove(&from) {
            self.total -= list.len();
            self.mark(from);
        }
    }

    /// Whether some sender's list changed since the last [`Owed::take_changed`].
    pub(super) fn has_changed(&self) -> bool {
        !self.changed.is_empty()
    }

    /// Each sender whose list changed, with what it is owed now (empty: nothing).
    pub(super) fn take_changed(&mut self) -> Vec<(ClientId, Vec<MsgId>)> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|k| {
                let ids = self
                    .by
                    .get(&k)
                    .map(|l| l.iter().copied().collect())
                    .unwrap_or_default();
                (k, ids)
            })
            .collect()
    }

    /// Receipts owed, in all.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(n: u8) -> ClientId {
        ClientId([n; 32])
    }

    #[test]
    fn bounded_per_sender_and_for_the_hub_and_only_for_known_members() {
        let mut o = Owed::default();
        for n in 0..(limits::OWED_RECEIPTS as u64 + 10) {
            o.owe(who(1), MsgId(n), 10, |_| true);
        }
        assert_eq!(o.len(), limits::OWED_RECEIPTS);
        let ids = o.take(who(1));
        assert_eq!(ids.first(), Some(&MsgId(10)), "the oldest dropped");
        assert_eq!(o.len(), 0);
        // Many senders: the hub's room holds, the one owed the most gives way.
        let senders = limits::OWED_RECEIPTS_TOTAL / limits::OWED_RECEIPTS;
        for s in 0..senders {
            for n in 0..limits::OWED_RECEIPTS as u64 {
                let mut id = [0; 32];
                id[..8].copy_from_slice(&(s as u64).to_le_bytes());
                o.owe(ClientId(id), MsgId(n), usize::MAX, |_| true);
            }
        }
        o.owe(who(9), MsgId(1), usize::MAX, |_| true);
        assert_eq!(o.len(), limits::OWED_RECEIPTS_TOTAL);
        assert_eq!(o.take(who(9)), vec![MsgId(1)]);
        // Past `max_senders`, senders the hub no longer knows are forgotten.
        let mut o = Owed::default();
        o.owe(who(1), MsgId(1), 1, |_| true);
        o.owe(who(2), MsgId(2), 1, |k| *k != who(1));
        assert_eq!(o.len(), 1);
        assert!(o.take(who(1)).is_empty());
    }
}
