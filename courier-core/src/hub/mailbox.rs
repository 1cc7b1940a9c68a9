//! Messages kept for offline contacts, bounded per recipient and for the whole hub, and
//! handed over at the next login in pages the recipient acknowledges: a page is
//! forgotten only once acknowledged, so a connection that drops mid-handover loses
//! nothing (the next login gets the page again; clients drop duplicates by id).

use std::collections::{HashMap, VecDeque};

use super::ConnId;
use crate::limits;
use crate::proto::{ClientId, Message, MsgId, RejectReason};

/// What a message costs the hub to keep: its text and a fixed part for ids and time.
fn cost(m: &Message) -> usize {
    m.text.len() + 96
}

#[derive(Debug, Default)]
struct Mailbox {
    messages: VecDeque<Message>,
    /// Messages reserved room for, not yet written to the hub's database.
    pending: usize,
    bytes: usize,
    /// The page on its way: to which connection, how many messages from the front.
    handover: Option<(ConnId, usize)>,
}

/// Every offline contact's mailbox.
#[derive(Debug)]
pub(super) struct Mailboxes {
    boxes: HashMap<ClientId, Mailbox>,
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
            bytes: 0,
            per_recipient,
            per_recipient_bytes,
            total_bytes,
        }
    }

    /// Keeps `m` for `to`.
    ///
    /// # Errors
    /// [`RejectReason::QueueFull`] when the recipient's mailbox or the hub's room for
    /// stored messages is full.
    pub(super) fn store(&mut self, to: ClientId, m: Message) -> Result<(), RejectReason> {
        self.reserve(to, &m)?;
        self.commit(to, m);
        Ok(())
    }

    /// Reserves room for `m` to `to`, which is kept in the mailbox only once it is on
    /// the disk ([`Mailboxes::commit`]) or given up ([`Mailboxes::release`]).
    ///
    /// # Errors
    /// [`RejectReason::QueueFull`], as [`Mailboxes::store`].
    pub(super) fn reserve(&mut self, to: ClientId, m: &Message) -> Result<(), RejectReason> {
        let c = cost(m);
        let mailbox = self.boxes.entry(to).or_default();
        if mailbox.messages.len() + mailbox.pending >= self.per_recipient
            || mailbox.bytes + c > self.per_recipient_bytes
            || self.bytes + c > self.total_bytes
        {
            if mailbox.messages.is_empty() && mailbox.pending == 0 {
                self.boxes.remove(&to);
            }
            return Err(RejectReason::QueueFull);
        }
        mailbox.bytes += c;
        mailbox.pending += 1;
        self.bytes += c;
        Ok(())
    }

    /// Takes back a message kept on the disk when the hub last ran, whatever the
    /// limits now (the hub promised it).
    pub(super) fn restore(&mut self, to: ClientId, m: Message) {
        let c = cost(&m);
        let mailbox = self.boxes.entry(to).or_default();
        mailbox.bytes += c;
        self.bytes += c;
        mailbox.messages.push_back(m);
    }

    /// Keeps a reserved message.
    pub(super) fn commit(&mut self, to: ClientId, m: Message) {
        let mailbox = self.boxes.entry(to).or_default();
        mailbox.pending = mailbox.pending.saturating_sub(1);
        mailbox.messages.push_back(m);
    }

    /// Gives up a reserved message (it could not be written).
    pub(super) fn release(&mut self, to: ClientId, m: &Message) {
        let c = cost(m);
        if let Some(mailbox) = self.boxes.get_mut(&to) {
            mailbox.pending = mailbox.pending.saturating_sub(1);
            mailbox.bytes = mailbox.bytes.saturating_sub(c);
            self.bytes = self.bytes.saturating_sub(c);
            if mailbox.messages.is_empty() && mailbox.pending == 0 {
                self.boxes.remove(&to);
            }
        }
    }

    /// The next page for `to` on `conn`, if there is one and no page is on its way.
    pub(super) fn next_page(&mut self, to: ClientId, conn: ConnId) -> Option<Vec<Message>> {
        let mailbox = self.boxes.get_mut(&to)?;
        if mailbox.handover.is_some() || mailbox.messages.is_empty() {
            return None;
        }
        let mut page = Vec::new();
        let mut bytes = 0;
        for m in &mailbox.messages {
            let c = cost(m);
            if !page.is_empty()
                && (page.len() >= limits::STORED_PAGE || bytes + c > limits::STORED_PAGE_BYTES)
            {
                break;
            }
            bytes += c;
            page.push(m.clone());
        }
        mailbox.handover = Some((conn, page.len()));
        Some(page)
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
                    done.push((m.from, m.id));
                }
                if mailbox.messages.is_empty() && mailbox.pending == 0 {
                    self.boxes.remove(&to);
                }
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

    /// Messages kept.
    pub(super) fn len(&self) -> usize {
        self.boxes.values().map(|b| b.messages.len()).sum()
    }

    /// Bytes kept, as counted against the limits.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Target, Timestamp};

    fn msg(n: u64, len: usize) -> Message {
        Message {
            id: MsgId(n),
            from: ClientId([1; 32]),
            to: Target::Client(ClientId([2; 32])),
            text: "x".repeat(len),
            time: Timestamp(n),
        }
    }

    #[test]
    fn pages_are_forgotten_only_when_acknowledged() {
        let bob = ClientId([2; 32]);
        let (a, b) = (ConnId(1), ConnId(2));
        let mut m = Mailboxes::new(1000, 1 << 30, 1 << 30);
        for n in 0..(limits::STORED_PAGE as u64 + 5) {
            m.store(bob, msg(n, 10)).unwrap();
        }
        let page = m.next_page(bob, a).unwrap();
        assert_eq!(page.len(), limits::STORED_PAGE);
        assert_eq!(m.next_page(bob, b), None, "one page on its way at a time");
        assert_eq!(m.ack(bob, b), Err(()), "not b's page");
        // a drops before acknowledging: the page is sent again, whole.
        m.conn_gone(bob, a);
        assert_eq!(m.next_page(bob, b).unwrap(), page);
        assert_eq!(m.ack(bob, b).unwrap().len(), limits::STORED_PAGE);
        assert_eq!(m.len(), 5);
        let rest = m.next_page(bob, b).unwrap();
        assert_eq!(
            rest.first().map(|x| x.id),
            Some(MsgId(limits::STORED_PAGE as u64))
        );
        m.ack(bob, b).unwrap();
        assert_eq!((m.len(), m.bytes()), (0, 0));
        assert_eq!(m.ack(bob, b), Err(()), "nothing on its way");
    }

    #[test]
    fn pages_fit_in_bytes_but_always_carry_one_message() {
        let bob = ClientId([2; 32]);
        let mut m = Mailboxes::new(1000, 1 << 30, 1 << 30);
        let big = limits::STORED_PAGE_BYTES;
        m.store(bob, msg(1, big)).unwrap();
        m.store(bob, msg(2, 10)).unwrap();
        assert_eq!(m.next_page(bob, ConnId(1)).unwrap().len(), 1);
    }

    #[test]
    fn bounded_per_recipient_in_count_and_bytes_and_for_the_hub() {
        let (bob, carol) = (ClientId([2; 32]), ClientId([3; 32]));
        let mut m = Mailboxes::new(3, 1000, 1500);
        for n in 0..3 {
            m.store(bob, msg(n, 10)).unwrap();
        }
        assert_eq!(
            m.store(bob, msg(9, 10)),
            Err(RejectReason::QueueFull),
            "count"
        );
        assert_eq!(
            m.store(carol, msg(1, 950)),
            Err(RejectReason::QueueFull),
            "bytes"
        );
        m.store(carol, msg(1, 800)).unwrap();
        let dave = ClientId([4; 32]);
        assert_eq!(
            m.store(dave, msg(1, 500)),
            Err(RejectReason::QueueFull),
            "hub total"
        );
    }
}
