//! A group's log as the hub keeps it: one copy of each entry some member has not been
//! handed yet, bounded in entries and bytes, with each sender's share of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::limits;
use crate::proto::{ClientId, GroupEntry, Seq, Timestamp};

/// What an entry counts against the bounds besides its text: its sender, time and
/// position.
const ENTRY_OVERHEAD: usize = 64;

/// One kept entry.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    /// The entry, shared with the frames and records that carry it; `None` while it is
    /// only on the disk (a hub with a database keeps an entry in memory until it is
    /// written, and again for a moment when a page of it is read back).
    pub(crate) entry: Option<Arc<GroupEntry>>,
    /// Who wrote it (for a change: who made it).
    pub(crate) from: ClientId,
    /// What it counts against the bounds.
    pub(crate) bytes: usize,
    /// When the hub stamped it.
    pub(crate) time: Timestamp,
    /// Whether it is a change (not a message).
    pub(crate) change: bool,
}

/// What each sender holds in every group's log together, in bytes: the hub's pool for
/// the logs gives each sender a share of it ([`crate::hub::Config::group_logs_total`]).
#[derive(Debug, Default)]
pub(crate) struct Pool {
    /// Sender → bytes held, and whether it is a new identity.
    senders: HashMap<ClientId, (usize, bool)>,
    /// Bytes new identities hold, together.
    young: usize,
}

impl Pool {
    fn add(&mut self, from: ClientId, bytes: usize) {
        let s = self.senders.entry(from).or_insert((0, false));
        s.0 += bytes;
        if s.1 {
            self.young += bytes;
        }
    }

    fn sub(&mut self, from: &ClientId, bytes: usize) {
        if let Some(s) = self.senders.get_mut(from) {
            let bytes = bytes.min(s.0);
            s.0 -= bytes;
            if s.1 {
                self.young = self.young.saturating_sub(bytes);
            }
            if s.0 == 0 {
                self.senders.remove(from);
            }
        }
    }

    /// The bytes `from` holds in every log together.
    pub(crate) fn sender(&self, from: &ClientId) -> usize {
        self.senders.get(from).map_or(0, |s| s.0)
    }

    /// The bytes new identities hold, together.
    pub(crate) fn young(&self) -> usize {
        self.young
    }

    /// The new identity holding the most, if any holds anything.
    pub(crate) fn largest_young(&self) -> Option<ClientId> {
        self.senders
            .iter()
            .filter(|(_, (bytes, young))| *young && *bytes > 0)
            .max_by_key(|(_, (bytes, _))| *bytes)
            .map(|(id, _)| *id)
    }

    /// `from`, about to write, is a new identity (`young`) or not: what it holds counts
    /// against the newcomers' part, or no longer.
    pub(crate) fn set_young(&mut self, from: ClientId, young: bool) {
        let s = self.senders.entry(from).or_insert((0, young));
        if s.1 != young {
            if young {
                self.young += s.0;
            } else {
                self.young = self.young.saturating_sub(s.0);
            }
            s.1 = young;
        }
    }

    /// Which senders are new identities now: they grow up, and a restart knows no ages.
    pub(crate) fn reclassify(&mut self, is_young: impl Fn(ClientId) -> bool) {
        self.young = 0;
        for (from, (bytes, young)) in &mut self.senders {
            *young = is_young(*from);
            if *young {
                self.young += *bytes;
            }
        }
    }
}

/// The entries of one group's log that some member has not been handed yet.
#[derive(Debug, Default)]
pub(crate) struct Log {
    entries: BTreeMap<Seq, Kept>,
    bytes: usize,
    /// Entries held in memory (the others are only on the disk).
    in_memory: usize,
    /// Entries and bytes each sender holds in it.
    senders: HashMap<ClientId, (usize, usize)>,
}

/// What an entry counts: its text (or a change's few bytes) and the overhead.
pub(crate) fn size_of(entry: &GroupEntry) -> usize {
    match entry {
        GroupEntry::Message(m) => counted(m.sealed.len(), false),
        GroupEntry::Event(_) => counted(0, true),
    }
}

/// What an entry with a text of `text` bytes (or a change) counts.
pub(crate) fn counted(text: usize, change: bool) -> usize {
    if change {
        ENTRY_OVERHEAD * 2
    } else {
        text + ENTRY_OVERHEAD
    }
}

/// When `entry` was stamped.
pub(crate) fn time_of(entry: &GroupEntry) -> Timestamp {
    match entry {
        GroupEntry::Message(m) => m.time,
        GroupEntry::Event(e) => e.time,
    }
}

impl Log {
    /// Entries kept.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries held in memory.
    pub(crate) fn in_memory(&self) -> usize {
        self.in_memory
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
    pub(crate) fn push(
        &mut self,
        seq: Seq,
        from: ClientId,
        entry: Arc<GroupEntry>,
        pool: &mut Pool,
    ) -> Vec<Seq> {
        let (bytes, time) = (size_of(&entry), time_of(&entry));
        let change = matches!(*entry, GroupEntry::Event(_));
        self.push_kept(
            seq,
            Kept {
                entry: Some(entry),
                from,
                bytes,
                time,
                change,
            },
            pool,
        )
    }

    /// Keeps `kept` at `seq`, making room first as [`Log::push`] does.
    pub(crate) fn push_kept(&mut self, seq: Seq, kept: Kept, pool: &mut Pool) -> Vec<Seq> {
        let (from, bytes) = (kept.from, kept.bytes);
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
            self.remove(oldest, pool);
            gone.push(oldest);
        }
        while !self.entries.is_empty()
            && (self.entries.len() >= limits::GROUP_LOG
                || self.bytes + bytes > limits::GROUP_LOG_BYTES)
        {
            if let Some(oldest) = self.first() {
                self.remove(oldest, pool);
                gone.push(oldest);
            }
        }
        self.bytes += bytes;
        pool.add(from, bytes);
        let s = self.senders.entry(from).or_default();
        s.0 += 1;
        s.1 += bytes;
        if kept.entry.is_some() {
            self.in_memory += 1;
        }
        if let Some(old) = self.entries.insert(seq, kept) {
            // Kept twice (cannot happen: positions are given once); counted once.
            self.bytes = self.bytes.saturating_sub(old.bytes);
            pool.sub(&old.from, old.bytes);
            self.in_memory = self
                .in_memory
                .saturating_sub(usize::from(old.entry.is_some()));
        }
        gone
    }

    /// Lets go of the entry at `seq` in memory (it is on the disk).
    pub(crate) fn holds(&self, seq: Seq) -> bool {
        self.entries.contains_key(&seq)
    }

    /// Lets go of the entry at `seq` in memory (it is on the disk).
    pub(crate) fn evict(&mut self, seq: Seq) {
        if let Some(k) = self.entries.get_mut(&seq)
            && k.entry.take().is_some()
        {
            self.in_memory = self.in_memory.saturating_sub(1);
        }
    }

    /// Holds `entry` (read back from the disk) in memory again, if it is still kept.
    pub(crate) fn fill(&mut self, entry: GroupEntry) {
        if let Some(k) = self.entries.get_mut(&entry.seq())
            && k.entry.is_none()
        {
            k.entry = Some(Arc::new(entry));
            self.in_memory += 1;
        }
    }

    /// Forgets the entry at `seq`; its bytes, if it was kept.
    pub(crate) fn remove(&mut self, seq: Seq, pool: &mut Pool) -> Option<usize> {
        let kept = self.entries.remove(&seq)?;
        self.bytes = self.bytes.saturating_sub(kept.bytes);
        pool.sub(&kept.from, kept.bytes);
        self.in_memory = self
            .in_memory
            .saturating_sub(usize::from(kept.entry.is_some()));
        if let Some(s) = self.senders.get_mut(&kept.from) {
            s.0 = s.0.saturating_sub(1);
            s.1 = s.1.saturating_sub(kept.bytes);
            if s.0 == 0 {
                self.senders.remove(&kept.from);
            }
        }
        Some(kept.bytes)
    }

    /// Forgets every message `from` wrote (not the changes it made); their positions
    /// and the bytes freed.
    pub(crate) fn drop_messages_from(
        &mut self,
        from: &ClientId,
        pool: &mut Pool,
    ) -> (Vec<Seq>, usize) {
        if !self.senders.contains_key(from) {
            return (Vec::new(), 0);
        }
        let gone: Vec<Seq> = self
            .entries
            .iter()
            .filter(|(_, k)| k.from == *from && !k.change)
            .map(|(s, _)| *s)
            .collect();
        let freed = gone.iter().filter_map(|s| self.remove(*s, pool)).sum();
        (gone, freed)
    }

    /// Forgets every entry up to `upto` (everyone was handed them); the bytes freed.
    pub(crate) fn forget_upto(&mut self, upto: Seq, pool: &mut Pool) -> usize {
        let gone: Vec<Seq> = self.entries.range(..=upto).map(|(s, _)| *s).collect();
        gone.into_iter().filter_map(|s| self.remove(s, pool)).sum()
    }

    /// The oldest entry `from` holds here: when it was stamped, and its position.
    pub(crate) fn oldest_of(&self, from: &ClientId) -> Option<(Timestamp, Seq)> {
        if !self.senders.contains_key(from) {
            return None;
        }
        self.entries
            .iter()
            .find(|(_, k)| k.from == *from)
            .map(|(s, k)| (k.time, *s))
    }

    /// The log is forgotten as a whole: what its senders held no longer counts.
    pub(crate) fn release(&self, pool: &mut Pool) {
        for (from, (_, bytes)) in &self.senders {
            pool.sub(from, *bytes);
        }
    }

    /// The positions after `after` (up to `upto`, if given) of the entries only on the
    /// disk.
    pub(crate) fn missing(&self, after: Seq, upto: Option<Seq>) -> Vec<Seq> {
        self.entries
            .range(after.saturating_add(1)..=upto.unwrap_or(Seq::MAX))
            .filter(|(_, k)| k.entry.is_none())
            .map(|(s, _)| *s)
            .collect()
    }

    /// The positions of the entries stamped before `before`.
    pub(crate) fn older_than(&self, before: Timestamp) -> Vec<Seq> {
        self.entries
            .iter()
            .filter(|(_, k)| k.time < before)
            .map(|(s, _)| *s)
            .collect()
    }

    /// The entries after `after`, oldest first, at most `max` of them and
    /// [`limits::GROUP_PAGE_BYTES`] (at least one); `None` when one of them is only on
    /// the disk (read it back first).
    pub(crate) fn page(&self, after: Seq, max: usize) -> Option<Vec<Arc<GroupEntry>>> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for (_, k) in self.entries.range(after.saturating_add(1)..) {
            if out.len() >= max || (!out.is_empty() && bytes + k.bytes > limits::GROUP_PAGE_BYTES) {
                break;
            }
            bytes += k.bytes;
            out.push(k.entry.clone()?);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{MsgId, SealedMessage, Target, Timestamp};

    fn message(from: u8, seq: Seq, len: usize) -> Arc<GroupEntry> {
        Arc::new(GroupEntry::Message(SealedMessage {
            id: MsgId(seq),
            from: ClientId([from; 32]),
            to: Target::Group(crate::proto::GroupId(1)),
            sealed: crate::proto::Sealed::from(vec![b'x'; len]),
            time: Timestamp(seq),
            seq: Some(seq),
        }))
    }

    #[test]
    fn a_flooding_sender_pushes_out_only_its_own_entries() {
        let mut log = Log::default();
        let mut pool = Pool::default();
        let (a, b) = (ClientId([1; 32]), ClientId([2; 32]));
        log.push(1, b, message(2, 1, 10), &mut pool);
        let mut seq = 1;
        for _ in 0..limits::GROUP_LOG {
            seq += 1;
            log.push(seq, a, message(1, seq, 10), &mut pool);
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
        let mut pool = Pool::default();
        let mut seq = 0;
        for round in 0..limits::GROUP_LOG + 10 {
            seq += 1;
            let from = ClientId([u8::try_from(round % 8).unwrap(); 32]);
            log.push(seq, from, message(1, seq, 100), &mut pool);
        }
        assert!(log.len() <= limits::GROUP_LOG);
        assert!(log.bytes() <= limits::GROUP_LOG_BYTES);
        let first = log.first().unwrap();
        assert!(first > 10);
        let page = log.page(0, limits::GROUP_PAGE_ENTRIES).unwrap();
        assert_eq!(page.len(), limits::GROUP_PAGE_ENTRIES);
        assert_eq!(page[0].seq(), first);
        log.evict(first);
        assert!(
            log.page(0, 1).is_none(),
            "on the disk only: read back first"
        );
        log.fill((*page[0]).clone());
        assert_eq!(log.page(0, 1).unwrap().len(), 1);
        let freed = log.forget_upto(first + 9, &mut pool);
        assert_eq!(freed, 10 * (100 + ENTRY_OVERHEAD));
    }
}
