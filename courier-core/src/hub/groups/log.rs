//! A group's log as the hub keeps it: one copy of each entry some member has not been
//! handed yet, bounded in entries and bytes, with each sender's share of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::limits;
use crate::proto::{ClientId, GroupEntry, Seq};

/// What an entry counts against the bounds besides its text: its sender, time and
/// position.
const ENTRY_OVERHEAD: usize = 64;

/// One kept entry.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    /// The entry, shared with the frames and records that carry it.
    pub(crate) entry: Arc<GroupEntry>,
    /// Who wrote it (for a change: who made it).
    pub(crate) from: ClientId,
    /// What it counts against the bounds.
    pub(crate) bytes: usize,
}

/// The entries of one group's log that some member has not been handed yet.
#[derive(Debug, Default)]
pub(crate) struct Log {
    entries: BTreeMap<Seq, Kept>,
    bytes: usize,
    /// Entries and bytes each sender holds in it.
    senders: HashMap<ClientId, (usize, usize)>,
}

/// What an entry counts: its text (or a change's few bytes) and the overhead.
pub(crate) fn size_of(entry: &GroupEntry) -> usize {
    match entry {
        GroupEntry::Message(m) => m.text.len() + ENTRY_OVERHEAD,
        GroupEntry::Event(_) => ENTRY_OVERHEAD * 2,
    }
}

impl Log {
    /// Entries kept.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes kept, as counted against the bounds.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The oldest kept position.
    pub(crate) fn first(&self) -> Option<Seq> {
        self.entries.keys().next().copied()
    }

    /// Keeps `entry` at `seq`. Room is made first, and what was forgotten for it is
    /// returned (positions): when `from` holds its share ([`limits::GROUP_SENDER_SHARE`])
    /// its own oldest entries go; when the log is full, the oldest.
    pub(crate) fn push(&mut self, seq: Seq, from: ClientId, entry: Arc<GroupEntry>) -> Vec<Seq> {
        let bytes = size_of(&entry);
        let mut gone = Vec::new();
        let share = (
            (limits::GROUP_LOG / limits::GROUP_SENDER_SHARE).max(1),
            limits::GROUP_LOG_BYTES / limits::GROUP_SENDER_SHARE,
        );
        loop {
            let (n, b) = self.senders.get(&from).copied().unwrap_or_default();
            if n == 0 || (n < share.0 && b + bytes <= share.1) {
                break;
            }
            let Some(oldest) = self.entries.iter().find(|(_, k)| k.from == from) else {
                break;
            };
            let oldest = *oldest.0;
            self.remove(oldest);
            gone.push(oldest);
        }
        while !self.entries.is_empty()
            && (self.entries.len() >= limits::GROUP_LOG
                || self.bytes + bytes > limits::GROUP_LOG_BYTES)
        {
            if let Some(oldest) = self.first() {
                self.remove(oldest);
                gone.push(oldest);
            }
        }
        self.bytes += bytes;
        let s = self.senders.entry(from).or_default();
        s.0 += 1;
        s.1 += bytes;
        self.entries.insert(seq, Kept { entry, from, bytes });
        gone
    }

    /// Forgets the entry at `seq`; its bytes, if it was kept.
    pub(crate) fn remove(&mut self, seq: Seq) -> Option<usize> {
        let kept = self.entries.remove(&seq)?;
        self.bytes = self.bytes.saturating_sub(kept.bytes);
        if let Some(s) = self.senders.get_mut(&kept.from) {
            s.0 = s.0.saturating_sub(1);
            s.1 = s.1.saturating_sub(kept.bytes);
            if s.0 == 0 {
                self.senders.remove(&kept.from);
            }
        }
        Some(kept.bytes)
    }

    /// Forgets every entry up to `upto` (everyone was handed them); the bytes freed.
    pub(crate) fn forget_upto(&mut self, upto: Seq) -> usize {
        let gone: Vec<Seq> = self.entries.range(..=upto).map(|(s, _)| *s).collect();
        gone.into_iter().filter_map(|s| self.remove(s)).sum()
    }

    /// The positions of the entries stamped before `before`.
    pub(crate) fn older_than(&self, before: crate::proto::Timestamp) -> Vec<Seq> {
        self.entries
            .iter()
            .filter(|(_, k)| {
                let time = match &*k.entry {
                    GroupEntry::Message(m) => m.time,
                    GroupEntry::Event(e) => e.time,
                };
                time < before
            })
            .map(|(s, _)| *s)
            .collect()
    }

    /// The entries after `after`, oldest first, at most `max` of them and
    /// [`limits::GROUP_PAGE_BYTES`] (at least one).
    pub(crate) fn page(&self, after: Seq, max: usize) -> Vec<&Kept> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for (_, k) in self.entries.range(after.saturating_add(1)..) {
            if out.len() >= max || (!out.is_empty() && bytes + k.bytes > limits::GROUP_PAGE_BYTES) {
                break;
            }
            bytes += k.bytes;
            out.push(k);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Message, MsgId, Target, Timestamp};

    fn message(from: u8, seq: Seq, len: usize) -> Arc<GroupEntry> {
        Arc::new(GroupEntry::Message(Message {
            id: MsgId(seq),
            from: ClientId([from; 32]),
            to: Target::Group(crate::proto::GroupId(1)),
            text: "x".repeat(len),
            time: Timestamp(seq),
            seq: Some(seq),
        }))
    }

    #[test]
    fn a_flooding_sender_pushes_out_only_its_own_entries() {
        let mut log = Log::default();
        let (a, b) = (ClientId([1; 32]), ClientId([2; 32]));
        log.push(1, b, message(2, 1, 10));
        let mut seq = 1;
        for _ in 0..limits::GROUP_LOG {
            seq += 1;
            log.push(seq, a, message(1, seq, 10));
        }
        assert_eq!(log.first(), Some(1), "the other sender's entry stays");
        assert_eq!(
            log.len(),
            limits::GROUP_LOG / limits::GROUP_SENDER_SHARE + 1
        );
    }

    #[test]
    fn a_full_log_forgets_its_oldest_and_pages_are_bounded() {
        let mut log = Log::default();
        let mut seq = 0;
        for round in 0..limits::GROUP_LOG + 10 {
            seq += 1;
            let from = ClientId([u8::try_from(round % 8).unwrap(); 32]);
            log.push(seq, from, message(1, seq, 100));
        }
        assert!(log.len() <= limits::GROUP_LOG);
        assert!(log.bytes() <= limits::GROUP_LOG_BYTES);
        let first = log.first().unwrap();
        assert!(first > 10);
        let page = log.page(0, limits::GROUP_PAGE_ENTRIES);
        assert_eq!(page.len(), limits::GROUP_PAGE_ENTRIES);
        assert_eq!(page[0].entry.seq(), first);
        let freed = log.forget_upto(first + 9);
        assert_eq!(freed, 10 * (100 + ENTRY_OVERHEAD));
    }
}
