//! Messages stored for offline contacts, bounded per recipient and for the whole hub, and
//! shared fairly: each sender may fill only its share of a recipient's mailbox and of
//! the hub's room, and new identities together only the newcomers' part of it. They are
//! handed over at the next login in pages the recipient acknowledges: a page is
//! forgotten only once acknowledged, so a connection that drops mid-handover loses
//! nothing (the next login gets the page again; clients drop duplicates by id).
//!
//! A hub with a database stores the backlog on the disk: a mailbox then holds only its
//! counts, and the page being handed over comes up from the disk
//! ([`Page::Fetch`]) when its recipient is online. A hub without one stores the
//! messages here.

use std::collections::{HashMap, VecDeque};

use super::ConnId;
use crate::limits;
use crate::proto::{ClientId, MsgId, RejectReason, SealedMessage};

/// What a message costs the hub to store: its envelope and a fixed part for ids and time.
fn cost(m: &SealedMessage) -> usize {
    m.sealed.len() + 96
}

#[derive(Debug, Default)]
struct Mailbox {
    /// The oldest messages, in memory (on the disk too, with a database).
    messages: VecDeque<SealedMessage>,
    /// Messages after those, on the disk only.
    on_disk: usize,
    /// A page is being read from the disk.
    fetching: bool,
    /// Messages reserved room for, not yet written to the hub's database.
    pending: usize,
    bytes: usize,
    /// The page on its way: to which connection, how many messages from the front.
    handover: Option<(ConnId, usize)>,
}

impl Mailbox {
    fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.on_disk == 0 && self.pending == 0 && !self.fetching
    }
}

/// What handing over to a recipient takes next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Page {
    /// Nothing: the mailbox is empty, or a page is on its way or being read.
    None,
    /// Send this page.
    Send(Vec<SealedMessage>),
    /// Read up to this many of the oldest messages from the disk first.
    Fetch(usize),
}

/// What each sender has stored: for each recipient, and in all. A sender may fill only
/// its share: a quarter of a recipient's mailbox (so that others can still write to
/// them) and a sixteenth of the hub's room.
#[derive(Debug, Default)]
struct Shares {
    /// Recipient → sender → messages and bytes stored (or reserved): by recipient, so
    /// that a mailbox that goes is forgotten without looking at anyone else's.
    pairs: HashMap<ClientId, HashMap<ClientId, (usize, usize)>>,
    /// Sender → bytes stored (or reserved), for every recipient, and whether it was a
    /// new identity when it stored them.
    senders: HashMap<ClientId, (usize, bool)>,
    /// Bytes stored by new identities, together.
    young: usize,
}

impl Shares {
    fn add(&mut self, to: ClientId, from: ClientId, count: usize, bytes: usize, young: bool) {
        let pair = self.pairs.entry(to).or_default().entry(from).or_default();
        pair.0 += count;
        pair.1 += bytes;
        let sender = self.senders.entry(from).or_insert((0, young));
        if sender.1 && !young {
            // Grown up: what it stores no longer counts against the newcomers' room.
            self.young = self.young.saturating_sub(sender.0);
            sender.1 = false;
        }
        sender.0 += bytes;
        if sender.1 {
            self.young += bytes;
        }
    }

    fn sub(&mut self, to: ClientId, from: ClientId, count: usize, bytes: usize) {
        if let Some(senders) = self.pairs.get_mut(&to) {
            if let Some(pair) = senders.get_mut(&from) {
                pair.0 = pair.0.saturating_sub(count);
                pair.1 = pair.1.saturating_sub(bytes);
                if pair.0 == 0 {
                    senders.remove(&from);
                }
            }
            if senders.is_empty() {
                self.pairs.remove(&to);
            }
        }
        self.sub_sender(from, bytes);
    }

    fn sub_sender(&mut self, from: ClientId, bytes: usize) {
        if let Some(sender) = self.senders.get_mut(&from) {
            let bytes = bytes.min(sender.0);
            sender.0 -= bytes;
            if sender.1 {
                self.young = self.young.saturating_sub(bytes);
            }
            if sender.0 == 0 {
                self.senders.remove(&from);
            }
        }
    }

    fn pair(&self, to: ClientId, from: ClientId) -> (usize, usize) {
        self.pairs
            .get(&to)
            .and_then(|s| s.get(&from))
            .copied()
            .unwrap_or_default()
    }

    fn sender(&self, from: ClientId) -> usize {
        self.senders.get(&from).map_or(0, |s| s.0)
    }

    /// What new identities store for `to`, together: messages and bytes.
    fn young_in(&self, to: ClientId) -> (usize, usize) {
        self.pairs.get(&to).map_or((0, 0), |senders| {
            senders
                .iter()
                .filter(|(from, _)| self.senders.get(from).is_some_and(|s| s.1))
                .fold((0, 0), |(n, b), (_, (count, bytes))| (n + count, b + bytes))
        })
    }

    /// Which senders are new identities now (they grow up, and a restart knows no ages
    /// until the members are back): the newcomers' room is counted afresh.
    fn reclassify(&mut self, is_young: impl Fn(ClientId) -> bool) {
        self.young = 0;
        for (from, (bytes, young)) in &mut self.senders {
            *young = is_young(*from);
            if *young {
                self.young += *bytes;
            }
        }
    }

    /// `to`'s mailbox is gone with whatever it still counted.
    fn forget_recipient(&mut self, to: ClientId) {
        for (from, (_, bytes)) in self.pairs.remove(&to).unwrap_or_default() {
            self.sub_sender(from, bytes);
        }
    }
}

/// Every offline contact's mailbox.
#[derive(Debug)]
pub(super) struct Mailboxes {
    boxes: HashMap<ClientId, Mailbox>,
    shares: Shares,
    /// Whether each sender is held to its share (tests of the other bounds turn it off).
    sharing: bool,
    bytes: usize,
    per_recipient: usize,
    per_recipient_bytes: usize,
    total_bytes: usize,
}

impl Mailboxes {
    /// Up to `per_recipient` messages and `per_recipient_bytes` bytes per recipient, and
    /// `total_bytes` for the hub.
    pub(super) fn new(
        per_recipient: usize,
        per_recipient_bytes: usize,
        total_bytes: usize,
    ) -> Self {
        Self {
            boxes: HashMap::new(),
            shares: Shares::default(),
            sharing: true,
            bytes: 0,
            per_recipient,
            per_recipient_bytes,
            total_bytes,
        }
    }

    /// Stores `m` for `to`.
    ///
    /// # Errors
    /// [`RejectReason::MailboxFull`] when the recipient's mailbox or the hub's room for
    /// stored messages is full, or the sender's share of either, or (for a `young`
    /// sender, a new identity) the newcomers' share of the hub's room.
    pub(super) fn store(
        &mut self,
        to: ClientId,
        m: SealedMessage,
        young: bool,
    ) -> Result<(), RejectReason> {
        self.reserve(to, &m, young)?;
        self.commit(to, m);
        Ok(())
    }

    /// Reserves room for `m` to `to`, which is stored in the mailbox only once it is on
    /// the disk ([`Mailboxes::commit`]) or given up ([`Mailboxes::release`]).
    ///
    /// # Errors
    /// [`RejectReason::MailboxFull`], as [`Mailboxes::store`].
    pub(super) fn reserve(
        &mut self,
        to: ClientId,
        m: &SealedMessage,
        young: bool,
    ) -> Result<(), RejectReason> {
        let c = cost(m);
        let (pair_count, pair_bytes) = self.shares.pair(to, m.from);
        let over_share = self.sharing
            && (pair_count >= (self.per_recipient / limits::OFFLINE_PAIR_SHARE).max(1)
                || pair_bytes + c > self.per_recipient_bytes / limits::OFFLINE_PAIR_SHARE
                || self.shares.sender(m.from) + c
                    > self.total_bytes / limits::OFFLINE_SENDER_SHARE
                || (young && self.over_newcomers_share(to, m.from, c)));
        let mailbox = self.boxes.entry(to).or_default();
        if over_share
            || mailbox.messages.len() + mailbox.on_disk + mailbox.pending >= self.per_recipient
            || mailbox.bytes + c > self.per_recipient_bytes
            || self.bytes + c > self.total_bytes
        {
            if mailbox.is_empty() {
                self.boxes.remove(&to);
            }
            return Err(RejectReason::MailboxFull);
        }
        mailbox.bytes += c;
        mailbox.pending += 1;
        self.bytes += c;
        self.shares.add(to, m.from, 1, c, young);
        Ok(())
    }

    /// Takes back `count` messages of `bytes` text from `from` stored on the disk for
    /// `to` when the hub last ran; they stay there until handed over.
    pub(super) fn restore_on_disk(
        &mut self,
        to: ClientId,
        from: ClientId,
        count: usize,
        bytes: usize,
    ) {
        if count == 0 {
            return;
        }
        let c = bytes + 96 * count;
        let mailbox = self.boxes.entry(to).or_default();
        mailbox.on_disk += count;
        mailbox.bytes += c;
        self.bytes += c;
        self.shares.add(to, from, count, c, false);
    }

    /// Stores a reserved message, now on the disk: in memory too while `to` is online
    /// and nothing older waits on the disk (it is about to be handed over), else on
    /// the disk only.
    pub(super) fn commit_written(&mut self, to: ClientId, m: SealedMessage, online: bool) {
        let mailbox = self.boxes.entry(to).or_default();
        mailbox.pending = mailbox.pending.saturating_sub(1);
        if online && mailbox.on_disk == 0 && !mailbox.fetching {
            mailbox.messages.push_back(m);
        } else {
            mailbox.on_disk += 1;
        }
    }

    /// Stores a reserved message in memory (a hub without a database).
    pub(super) fn commit(&mut self, to: ClientId, m: SealedMessage) {
        let mailbox = self.boxes.entry(to).or_default();
        mailbox.pending = mailbox.pending.saturating_sub(1);
        mailbox.messages.push_back(m);
    }

    /// The oldest messages read from the disk for `to` ([`Page::Fetch`]), and how
    /// many wait after them there (the disk's count wins over ours: rows that did not
    /// read back, or expired, are not waited for). Kept in memory for the handover
    /// while `to` is `online`; otherwise they stay on the disk only.
    pub(super) fn loaded(
        &mut self,
        to: ClientId,
        page: Vec<SealedMessage>,
        remaining: usize,
        online: bool,
    ) {
        let Some(mailbox) = self.boxes.get_mut(&to) else {
            return;
        };
        mailbox.fetching = false;
        if online {
            mailbox.on_disk = remaining;
            mailbox.messages.extend(page);
        } else {
            mailbox.on_disk = remaining + page.len();
        }
        self.drop_if_empty(to);
    }

    /// Messages from `from` to `to` forgotten on the disk (for their age, or dropped).
    pub(super) fn expired(&mut self, to: ClientId, from: ClientId, count: usize, bytes: usize) {
        let Some(mailbox) = self.boxes.get_mut(&to) else {
            return;
        };
        let c = (bytes + 96 * count).min(mailbox.bytes);
        self.shares.sub(to, from, count, c);
        mailbox.on_disk = mailbox.on_disk.saturating_sub(count);
        mailbox.bytes -= c;
        self.bytes = self.bytes.saturating_sub(c);
        self.drop_if_empty(to);
    }

    /// Forgets messages in memory stamped before `before` (a hub without a database;
    /// one with a database forgets them on the disk). Returns how many.
    pub(super) fn expire_in_memory(&mut self, before: crate::proto::Timestamp) -> usize {
        self.forget_in_memory(|_, m| m.time < before)
    }

    /// Forgets the messages in memory that `which` picks (by recipient and message), but
    /// never a page on its way (it is the recipient's now). Returns how many.
    fn forget_in_memory(&mut self, which: impl Fn(ClientId, &SealedMessage) -> bool) -> usize {
        let mut gone = 0;
        let mut emptied = Vec::new();
        for (&to, mailbox) in &mut self.boxes {
            let start = mailbox.handover.map_or(0, |(_, n)| n);
            let mut kept = VecDeque::with_capacity(mailbox.messages.len());
            for (i, m) in mailbox.messages.drain(..).enumerate() {
                if i >= start && which(to, &m) {
                    let c = cost(&m);
                    self.shares.sub(to, m.from, 1, c);
                    mailbox.bytes -= c;
                    self.bytes -= c;
                    gone += 1;
                } else {
                    kept.push_back(m);
                }
            }
            mailbox.messages = kept;
            if mailbox.is_empty() {
                emptied.push(to);
            }
        }
        for to in emptied {
            self.drop_if_empty(to);
        }
        gone
    }

    /// Removes `to`'s mailbox if nothing is left in it, with whatever bytes it still
    /// counted (rows that were lost on the disk).
    fn drop_if_empty(&mut self, to: ClientId) {
        if self
            .boxes
            .get(&to)
            .is_some_and(|b| b.is_empty() && b.handover.is_none())
            && let Some(b) = self.boxes.remove(&to)
        {
            self.bytes = self.bytes.saturating_sub(b.bytes);
            self.shares.forget_recipient(to);
        }
    }

    /// The room for all recipients together: with a database, on the disk.
    pub(super) fn set_total(&mut self, total_bytes: usize) {
        self.total_bytes = total_bytes;
    }

    /// A read from the disk for `to` failed: the next handover asks again.
    pub(super) fn fetch_failed(&mut self, to: ClientId) {
        if let Some(mailbox) = self.boxes.get_mut(&to) {
            mailbox.fetching = false;
        }
    }

    /// Gives up a reserved message (it could not be written).
    pub(super) fn release(&mut self, to: ClientId, m: &SealedMessage) {
        let c = cost(m);
        if let Some(mailbox) = self.boxes.get_mut(&to) {
            mailbox.pending = mailbox.pending.saturating_sub(1);
            mailbox.bytes = mailbox.bytes.saturating_sub(c);
            self.bytes = self.bytes.saturating_sub(c);
            self.shares.sub(to, m.from, 1, c);
        }
        self.drop_if_empty(to);
    }

    /// What handing over to `to` on `conn` takes next: the next page, if there is one
    /// and no page is on its way; or reading it from the disk first.
    pub(super) fn next_page(&mut self, to: ClientId, conn: ConnId) -> Page {
        let Some(mailbox) = self.boxes.get_mut(&to) else {
            return Page::None;
        };
        if mailbox.handover.is_some() || mailbox.fetching {
            return Page::None;
        }
        if mailbox.messages.is_empty() {
            if mailbox.on_disk == 0 {
                return Page::None;
            }
            mailbox.fetching = true;
            return Page::Fetch(limits::MAILBOX_PAGE);
        }
        let mut page = Vec::new();
        let mut bytes = 0;
        for m in &mailbox.messages {
            let c = cost(m);
            if !page.is_empty()
                && (page.len() >= limits::MAILBOX_PAGE || bytes + c > limits::MAILBOX_PAGE_BYTES)
            {
                break;
            }
            bytes += c;
            page.push(m.clone());
        }
        mailbox.handover = Some((conn, page.len()));
        Page::Send(page)
    }

    /// `conn` acknowledged the page it was sent for `to`: it is forgotten. Returns who
    /// sent each message and its id, to forget them on the disk too.
    ///
    /// # Errors
    /// If no page was on its way to `conn` (a protocol violation).
    pub(super) fn ack(&mut self, to: ClientId, conn: ConnId) -> Result<Vec<(ClientId, MsgId)>, ()> {
        let mailbox = self.boxes.get_mut(&to).ok_or(())?;
        match mailbox.handover {
            Some((c, n)) if c == conn => {
                mailbox.handover = None;
                let mut done = Vec::with_capacity(n);
                for m in mailbox.messages.drain(..n) {
                    let c = cost(&m);
                    mailbox.bytes -= c;
                    self.bytes -= c;
                    self.shares.sub(to, m.from, 1, c);
                    done.push((m.from, m.id));
                }
                self.drop_if_empty(to);
                Ok(done)
            }
            _ => Err(()),
        }
    }

    /// `conn` of `to` went away: a page on its way to it was not received.
    pub(super) fn conn_gone(&mut self, to: ClientId, conn: ConnId) {
        if let Some(mailbox) = self.boxes.get_mut(&to)
            && mailbox.handover.is_some_and(|(c, _)| c == conn)
        {
            mailbox.handover = None;
        }
    }

    /// `to` is offline (with a database): what is in memory, and on the disk too, is
    /// left to the disk until its next login.
    pub(super) fn offline(&mut self, to: ClientId) {
        if let Some(mailbox) = self.boxes.get_mut(&to)
            && mailbox.handover.is_none()
        {
            mailbox.on_disk += mailbox.messages.len();
            mailbox.messages = VecDeque::new();
        }
    }

    /// The same, without holding senders to their shares (for tests of the other
    /// bounds).
    #[cfg(test)]
    fn unshared(mut self) -> Self {
        self.sharing = false;
        self
    }

    /// Whether `c` more bytes from new identity `from` for `to` would pass the newcomers'
    /// shares: of the hub's room, of it for one of them (a sixteenth), and of `to`'s
    /// mailbox (half, in messages and bytes).
    fn over_newcomers_share(&self, to: ClientId, from: ClientId, c: usize) -> bool {
        let room = self.total_bytes / limits::OFFLINE_NEWCOMERS_SHARE;
        let (count, bytes) = self.shares.young_in(to);
        self.shares.young + c > room
            || self.shares.sender(from) + c > room / limits::OFFLINE_SENDER_SHARE
            || count >= (self.per_recipient / limits::OFFLINE_NEWCOMERS_MAILBOX_SHARE).max(1)
            || bytes + c > self.per_recipient_bytes / limits::OFFLINE_NEWCOMERS_MAILBOX_SHARE
    }

    /// Which senders are new identities now ([`limits::NEWCOMER`]): called as time
    /// passes and after a restart, so that the newcomers' room holds only theirs.
    pub(super) fn reclassify(&mut self, is_young: impl Fn(ClientId) -> bool) {
        self.shares.reclassify(is_young);
    }

    /// More than half the room for stored messages is taken, or more than half of the
    /// newcomers' room (a flood of new identities must not hold it for a month).
    pub(super) fn under_pressure(&self) -> bool {
        self.bytes > self.total_bytes / 2
            || self.shares.young > self.total_bytes / limits::OFFLINE_NEWCOMERS_SHARE / 2
    }

    /// Recipients something waits for.
    pub(super) fn recipients(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.boxes.keys().copied()
    }

    /// Forgets what waits in memory for `to` (a hub without a database), but not a page
    /// on its way. Returns how many messages.
    pub(super) fn drop_in_memory(&mut self, to: ClientId) -> usize {
        self.forget_in_memory(|t, _| t == to)
    }

    /// Forgets what `from` left in memory for anyone (a hub without a database), but
    /// not a page on its way. Returns how many messages.
    pub(super) fn drop_from_in_memory(&mut self, from: ClientId) -> usize {
        self.forget_in_memory(|_, m| m.from == from)
    }

    /// Messages stored (in memory and on the disk).
    pub(super) fn len(&self) -> usize {
        self.boxes
            .values()
            .map(|b| b.messages.len() + b.on_disk)
            .sum()
    }

    /// Messages held in memory.
    pub(super) fn in_memory(&self) -> usize {
        self.boxes.values().map(|b| b.messages.len()).sum()
    }

    /// Bytes stored, as counted against the limits.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::proto::{Target, Timestamp};

    fn msg(n: u64, len: usize) -> SealedMessage {
        SealedMessage {
            id: MsgId(n),
            from: ClientId([1; 32]),
            to: Target::Client(ClientId([2; 32])),
            sealed: crate::proto::Sealed::from(vec![b'x'; len]),
            time: Timestamp(n),
            seq: None,
        }
    }

    /// After a restart the hub knows no ages until its members are back: restored
    /// bytes count as old until the next reclassification, then as what they are, and
    /// a sender's bytes leave the newcomers' room once it has grown up.
    #[test]
    fn the_newcomers_room_is_counted_afresh() {
        let (bob, flood) = (ClientId([2; 32]), ClientId([9; 32]));
        let total = 64 * 1024;
        let mut m = Mailboxes::new(10_000, 1 << 30, total);
        let room = total / limits::OFFLINE_NEWCOMERS_SHARE;
        m.restore_on_disk(bob, flood, 10, room);
        let newcomer = |n| SealedMessage {
            from: ClientId([n; 32]),
            ..msg(u64::from(n), 10)
        };
        assert_eq!(
            m.reserve(bob, &newcomer(3), true),
            Ok(()),
            "not counted yet"
        );
        m.reclassify(|id| id == flood || id == ClientId([3; 32]));
        assert_eq!(
            m.reserve(bob, &newcomer(4), true),
            Err(RejectReason::MailboxFull),
            "the flood's restored bytes fill the newcomers' room"
        );
        assert!(m.under_pressure(), "more than half of the newcomers' room");
        m.reclassify(|id| id == ClientId([3; 32]));
        assert_eq!(
            m.reserve(bob, &newcomer(4), true),
            Ok(()),
            "the flood grew up"
        );
    }

    #[test]
    fn pages_are_forgotten_only_when_acknowledged() {
        let bob = ClientId([2; 32]);
        let (a, b) = (ConnId(1), ConnId(2));
        let mut m = Mailboxes::new(1000, 1 << 30, 1 << 30).unshared();
        for n in 0..(limits::MAILBOX_PAGE as u64 + 5) {
            m.store(bob, msg(n, 10), false).unwrap();
        }
        let Page::Send(page) = m.next_page(bob, a) else {
            panic!("a page")
        };
        assert_eq!(page.len(), limits::MAILBOX_PAGE);
        assert_eq!(
            m.next_page(bob, b),
            Page::None,
            "one page on its way at a time"
        );
        assert_eq!(m.ack(bob, b), Err(()), "not b's page");
        // a drops before acknowledging: the page is sent again, whole.
        m.conn_gone(bob, a);
        assert_eq!(m.next_page(bob, b), Page::Send(page));
        assert_eq!(m.ack(bob, b).unwrap().len(), limits::MAILBOX_PAGE);
        assert_eq!(m.len(), 5);
        let Page::Send(rest) = m.next_page(bob, b) else {
            panic!("the rest")
        };
        assert_eq!(
            rest.first().map(|x| x.id),
            Some(MsgId(limits::MAILBOX_PAGE as u64))
        );
        m.ack(bob, b).unwrap();
        assert_eq!((m.len(), m.bytes()), (0, 0));
        assert_eq!(m.ack(bob, b), Err(()), "nothing on its way");
    }

    #[test]
    fn pages_fit_in_bytes_but_always_carry_one_message() {
        let bob = ClientId([2; 32]);
        let mut m = Mailboxes::new(1000, 1 << 30, 1 << 30).unshared();
        let big = limits::MAILBOX_PAGE_BYTES;
        m.store(bob, msg(1, big), false).unwrap();
        m.store(bob, msg(2, 10), false).unwrap();
        assert!(matches!(m.next_page(bob, ConnId(1)), Page::Send(p) if p.len() == 1));
    }

    #[test]
    fn bounded_per_recipient_in_count_and_bytes_and_for_the_hub() {
        let (bob, carol) = (ClientId([2; 32]), ClientId([3; 32]));
        let mut m = Mailboxes::new(3, 1000, 1500).unshared();
        for n in 0..3 {
            m.store(bob, msg(n, 10), false).unwrap();
        }
        assert_eq!(
            m.store(bob, msg(9, 10), false),
            Err(RejectReason::MailboxFull),
            "count"
        );
        assert_eq!(
            m.store(carol, msg(1, 950), false),
            Err(RejectReason::MailboxFull),
            "bytes"
        );
        m.store(carol, msg(1, 800), false).unwrap();
        let dave = ClientId([4; 32]);
        assert_eq!(
            m.store(dave, msg(1, 500), false),
            Err(RejectReason::MailboxFull),
            "hub total"
        );
    }

    #[test]
    fn a_backlog_on_the_disk_comes_up_a_page_at_a_time_in_order() {
        let bob = ClientId([2; 32]);
        let conn = ConnId(1);
        let mut m = Mailboxes::new(10_000, 1 << 30, 1 << 30).unshared();
        // 600 from the last run, on the disk; 2 written while Bob is offline.
        m.restore_on_disk(bob, ClientId([7; 32]), 600, 6000);
        for n in 0..2 {
            m.reserve(bob, &msg(100 + n, 10), false).unwrap();
            m.commit_written(bob, msg(100 + n, 10), false);
        }
        assert_eq!((m.len(), m.in_memory()), (602, 0), "nothing in memory");
        assert_eq!(m.bytes(), 600 * 96 + 6000 + 2 * 106);
        // Bob logs in: the first page is read, then sent.
        assert_eq!(m.next_page(bob, conn), Page::Fetch(limits::MAILBOX_PAGE));
        assert_eq!(m.next_page(bob, conn), Page::None, "one read at a time");
        // A message written meanwhile waits behind the backlog, on the disk.
        m.reserve(bob, &msg(200, 10), false).unwrap();
        m.commit_written(bob, msg(200, 10), true);
        let first: Vec<SealedMessage> = (0..limits::MAILBOX_PAGE as u64)
            .map(|n| msg(n, 10))
            .collect();
        m.loaded(bob, first.clone(), 603 - limits::MAILBOX_PAGE, true);
        assert_eq!(m.next_page(bob, conn), Page::Send(first));
        assert_eq!(m.ack(bob, conn).unwrap().len(), limits::MAILBOX_PAGE);
        assert_eq!(m.len(), 603 - limits::MAILBOX_PAGE);
        assert_eq!(m.next_page(bob, conn), Page::Fetch(limits::MAILBOX_PAGE));
        // Bob leaves while the read is on its way: the page stays on the disk.
        m.offline(bob);
        let second: Vec<SealedMessage> = (0..limits::MAILBOX_PAGE as u64)
            .map(|n| msg(n, 10))
            .collect();
        m.loaded(bob, second, 603 - 2 * limits::MAILBOX_PAGE, false);
        assert_eq!((m.len(), m.in_memory()), (603 - limits::MAILBOX_PAGE, 0));
    }

    #[test]
    fn messages_on_the_disk_count_against_the_recipient_s_limit() {
        let bob = ClientId([2; 32]);
        let mut m = Mailboxes::new(10, 1 << 30, 1 << 30).unshared();
        m.restore_on_disk(bob, ClientId([7; 32]), 9, 90);
        m.reserve(bob, &msg(1, 10), false).unwrap();
        m.commit_written(bob, msg(1, 10), false);
        assert_eq!(
            m.reserve(bob, &msg(2, 10), false),
            Err(RejectReason::MailboxFull)
        );
        assert_eq!(m.len(), 10);
    }

    #[test]
    fn rows_that_did_not_read_back_are_not_waited_for_forever() {
        let bob = ClientId([2; 32]);
        let mut m = Mailboxes::new(10_000, 1 << 30, 1 << 30).unshared();
        m.restore_on_disk(bob, ClientId([7; 32]), 5, 50);
        assert_eq!(
            m.next_page(bob, ConnId(1)),
            Page::Fetch(limits::MAILBOX_PAGE)
        );
        // Two rows were damaged: three came back, none is left.
        let page: Vec<SealedMessage> = (0..3).map(|n| msg(n, 10)).collect();
        m.loaded(bob, page, 0, true);
        assert_eq!(m.len(), 3);
        assert!(matches!(m.next_page(bob, ConnId(1)), Page::Send(p) if p.len() == 3));
        m.ack(bob, ConnId(1)).unwrap();
        assert_eq!(m.len(), 0);
        assert_eq!(m.bytes(), 0, "the lost rows' room is given back too");
        assert_eq!(m.next_page(bob, ConnId(1)), Page::None);
    }

    #[test]
    fn old_messages_are_forgotten_but_not_a_page_on_its_way() {
        let bob = ClientId([2; 32]);
        let mut m = Mailboxes::new(10_000, 1 << 30, 1 << 30).unshared();
        for n in 0..4 {
            m.store(bob, msg(n, 10), false).unwrap();
        }
        assert!(matches!(m.next_page(bob, ConnId(1)), Page::Send(p) if p.len() == 4));
        m.conn_gone(bob, ConnId(1));
        m.store(bob, msg(9, 10), false).unwrap();
        // Stamped 0..3 and 9: the first three are older than 3.
        assert_eq!(m.expire_in_memory(crate::proto::Timestamp(3)), 3);
        assert_eq!((m.len(), m.bytes()), (2, 2 * 106));
        // On the disk: the count and room follow what the database forgot.
        let carol = ClientId([3; 32]);
        m.restore_on_disk(carol, ClientId([7; 32]), 10, 100);
        m.expired(carol, ClientId([7; 32]), 10, 100);
        assert_eq!((m.len(), m.bytes()), (2, 2 * 106));
    }
}
