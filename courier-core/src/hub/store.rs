//! The hub's side of its database: what it wrote is given back at start; what must be
//! written is handed out in batches ([`Hub::poll_writes`]) for the driver to commit; a
//! commit's result ([`Hub::handle_written`]) releases the `stored` receipts it promised,
//! and what it read back ([`Hub::handle_loaded`]) goes to the recipients. The machine
//! never touches the disk.

use std::sync::Arc;
use std::time::Instant;

use super::{Conn, ConnId, Hub, db};
use crate::limits;
use crate::proto::{ClientId, Delivery, RejectReason, SealedMessage, ServerFrame, Timestamp};

/// A batch handed out to be written: its messages, the pages it reads, and the stored
/// offers whose senders hear `stored` once it is written.
pub(super) type Saving = (
    Vec<Unsaved>,
    Vec<ClientId>,
    Vec<(crate::proto::TransferId, u32, ConnId)>,
);

/// A message for an offline contact on its way to the disk; its sender hears `stored`
/// (or why not) once it is written.
#[derive(Debug)]
pub(super) struct Unsaved {
    pub(super) to: ClientId,
    pub(super) message: Arc<SealedMessage>,
    pub(super) sender: ConnId,
}

impl Hub {
    /// Takes back what the hub's database holds from when it last ran, before the first
    /// connection: the members (they show in everyone's contact list as offline, with
    /// their profiles and pictures, and are known when they come back) and how many
    /// messages wait for each of them (those stay on the disk and are read a page at a
    /// time as they are handed over, with their original sender and time). Members are
    /// bounded as ever ([`Config::max_known`](super::Config::max_known), [`Config::avatars_total`](super::Config::avatars_total)); stored
    /// messages are all taken back, whatever the limits now, since the hub promised
    /// them. From then on the hub records what changes for [`Hub::poll_writes`], and a
    /// message for an offline contact is acknowledged `stored` only once written
    /// ([`Hub::handle_written`]); a hub never given this holds everything in memory.
    pub fn restore(
        &mut self,
        members: impl IntoIterator<Item = db::Member>,
        backlogs: Vec<db::Backlog>,
    ) {
        self.has_db = true;
        self.broker.has_db = true;
        self.owed.record();
        self.mailboxes.set_total(self.config.offline_disk_bytes);
        self.directory.restore(members, self.epoch.1);
        for w in backlogs {
            self.mailboxes
                .restore_on_disk(w.to, w.from, w.count, w.bytes);
        }
    }

    /// Takes back the `delivered` receipts owed to offline senders ([`db::Db::owed_receipts`],
    /// after [`Hub::restore`]): each sender hears them at its next login.
    pub fn restore_receipts(&mut self, owed: Vec<(ClientId, crate::proto::MsgId)>) {
        self.owed.restore(owed);
    }

    /// Takes back the file offers stored in the hub's database ([`db::Db::offers`]): each
    /// waits for its recipient's answer as before, its sender away until it reclaims it
    /// ([`ClientFrame::Reclaim`](crate::proto::ClientFrame)). One whose sender or
    /// recipient is no longer a member is forgotten.
    pub fn restore_offers(&mut self, offers: Vec<db::StoredOffer>) {
        for offer in offers {
            self.restore_offer(offer);
        }
    }

    /// Takes back who was online when the hub last stopped ([`db::Db::take_stopped`],
    /// after the members), as the hub starts listening at `now` (`wall`: the real clock
    /// then). If the stop was less than [`limits::RESTART_GRACE`] before (an upgrade
    /// restart), each is shown online to the others until it is back, so that thousands
    /// of returns are no news to anyone, or until the grace after `now` ends, when those
    /// not back are shown offline as they were since the stop. After a longer stop,
    /// nobody is.
    pub fn restore_online(&mut self, stopped: db::Stopped, now: Instant, wall: Timestamp) {
        let grace = u64::try_from(limits::RESTART_GRACE.as_millis()).unwrap_or(u64::MAX);
        if wall.0.abs_diff(stopped.at.0) > grace {
            return;
        }
        self.directory.expect_returns(stopped.online);
        self.returns_until = Some(now + limits::RESTART_GRACE);
    }

    /// Takes back one more member from the database after [`Hub::restore`] (members read one at a
    /// time from the database, in keep order: [`db::Db::each_member`]).
    pub fn restore_member(&mut self, member: db::Member) {
        self.directory.restore_one(member, self.epoch.1);
    }

    /// What should now be written to the hub's database ([`db::Db::write`]), as one
    /// batch: each changed member once, as it now is; messages for offline contacts;
    /// deliveries to forget; and, last, pages of the backlog to read
    /// ([`db::Record::Fetch`], answered by [`Hub::handle_loaded`]). Empty when nothing
    /// changed, and always for a hub never given [`Hub::restore`]. Each non-empty batch
    /// must be answered, in order, by [`Hub::handle_written`].
    pub fn poll_writes(&mut self) -> Vec<db::Record> {
        let mut records = self.directory.take_records();
        let others = !records.is_empty()
            || !self.delivered.is_empty()
            || !self.drops.is_empty()
            || !self.broker.records.is_empty()
            || !self.unsaved.is_empty()
            || self.expire.is_some()
            || !self.fetches.is_empty()
            || self.owed.has_changed();
        records.append(&mut self.take_group_records(others));
        records.append(&mut self.delivered);
        records.extend(
            self.owed
                .take_changed()
                .into_iter()
                .map(|(to, ids)| db::Record::Owed { to, ids }),
        );
        records.append(&mut self.drops);
        records.append(&mut self.broker.records);
        records.extend(self.unsaved.iter().map(|u| db::Record::Message {
            to: u.to,
            message: u.message.clone(),
        }));
        if let Some(before) = self.expire.take() {
            records.push(db::Record::Expire { before });
        }
        records.extend(self.stopped.take().map(db::Record::Stopped));
        let fetches = std::mem::take(&mut self.fetches);
        records.extend(
            fetches
                .iter()
                .map(|&(to, limit)| db::Record::Fetch { to, limit }),
        );
        if !records.is_empty() {
            self.groups_batch_out();
            let fetched = fetches.into_iter().map(|(to, _)| to).collect();
            self.saving.push_back((
                std::mem::take(&mut self.unsaved),
                fetched,
                std::mem::take(&mut self.broker.unsaved),
            ));
        }
        records
    }

    /// The oldest `batches` batches from [`Hub::poll_writes`] were written (`ok`), or
    /// could not be (a full or failing disk). Their senders hear `stored`, and a
    /// recipient who came online meanwhile gets the messages now; or, if not written,
    /// the senders hear why and the messages are dropped. Routing to online contacts
    /// never waited for this.
    pub fn handle_written(&mut self, batches: usize, ok: bool, now: Instant) {
        for _ in 0..batches {
            let Some((batch, fetched, offers)) = self.saving.pop_front() else {
                return;
            };
            self.groups_batch_written(ok, now);
            self.offers_stored(offers, ok, now);
            if !ok {
                // Asked again at the recipient's next acknowledgement or login.
                for to in fetched {
                    self.mailboxes.fetch_failed(to);
                }
            }
            let mut arrived = Vec::new();
            for u in batch {
                let id = u.message.id;
                let status = if ok {
                    // The writer is done with it: its text moves, it is not copied.
                    let message = Arc::try_unwrap(u.message).unwrap_or_else(|m| (*m).clone());
                    let online = self
                        .directory
                        .get(&u.to)
                        .is_some_and(|k| !k.conns.is_empty());
                    self.mailboxes.commit_written(u.to, message, online);
                    if !id.is_share() {
                        self.totals.messages_stored += 1;
                    }
                    arrived.push(u.to);
                    Delivery::Stored
                } else {
                    self.mailboxes.release(u.to, &u.message);
                    Delivery::Rejected(RejectReason::CouldNotStore)
                };
                if self.conns.get(&u.sender).is_some_and(Conn::is_ready) {
                    let receipt = ServerFrame::Receipt { id, status };
                    self.send(u.sender, Arc::new(receipt), now);
                }
            }
            arrived.sort();
            arrived.dedup();
            for to in arrived {
                self.hand_over_to(to, now);
            }
        }
    }

    /// What a written batch read and forgot ([`db::Db::write`], given after
    /// [`Hub::handle_written`] of its batches): pages of the backlog for
    /// [`db::Record::Fetch`]es, handed over to their recipients if still online; and
    /// messages forgotten for their age ([`db::Record::Expire`]).
    pub fn handle_loaded(&mut self, written: db::Written, now: Instant) {
        self.groups_loaded(written.group_pages, now);
        for w in written.expired {
            self.mailboxes.expired(w.to, w.from, w.count, w.bytes);
        }
        for page in written.loaded {
            let online = self
                .directory
                .get(&page.to)
                .is_some_and(|k| !k.conns.is_empty());
            self.mailboxes
                .loaded(page.to, page.messages, page.remaining, online);
            if online {
                self.hand_over_to(page.to, now);
            }
        }
    }

    /// Hands the next page over to `to` on its first connection, if online.
    fn hand_over_to(&mut self, to: ClientId, now: Instant) {
        if let Some(conn) = self.directory.get(&to).and_then(|k| k.conns.first()) {
            let conn = *conn;
            self.hand_over(conn, to, now);
        }
    }

    /// While the room for stored messages is more than half full, what waits for members
    /// that logged in once and never came back, for [`limits::NEVER_CAME_BACK`], is
    /// forgotten: throwaway identities do not hold the hub's room for a month. (With
    /// room to spare, a newcomer's mail keeps its month like anyone's.)
    pub(super) fn forget_for_the_gone(&mut self, now: Instant) {
        if !self.mailboxes.under_pressure() {
            return;
        }
        let away = u64::try_from(limits::NEVER_CAME_BACK.as_millis()).unwrap_or(u64::MAX);
        let since = Timestamp(self.wall(now).0.saturating_sub(away));
        // Gone since the hub started at the latest: after a crash, `last_seen` of a
        // member that was online is when it logged in.
        let start = self.epoch.1;
        let gone: Vec<ClientId> = self
            .mailboxes
            .recipients()
            .filter(|to| {
                self.directory
                    .get(to)
                    .is_some_and(|k| k.never_came_back(since, start))
            })
            .collect();
        for to in gone {
            if self.has_db {
                self.drops.push(db::Record::Drop(db::Whose::To(to)));
            } else {
                self.mailboxes.drop_in_memory(to);
            }
        }
    }
}
