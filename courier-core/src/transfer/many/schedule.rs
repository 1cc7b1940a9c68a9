//! Who gets their offer when, and what became of each recipient: the pure part of a send
//! to many. No I/O and no clock; the driver (`many.rs`) starts the transfers it says and
//! tells it what they report.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Outcome, Status};
use crate::proto::{ClientId, OfferRefusal};
use crate::transfer::{Error, Summary, Update};

/// Where one recipient stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not offered yet (waiting for a running place, or to try again at `at`).
    Queued { at: Option<Instant> },
    /// Offered at `since`, no answer yet.
    Offered { since: Instant },
    /// Offline: the hub keeps the offer for their next login.
    Stored,
    /// Accepted: the bytes move.
    Running,
    /// Settled.
    Done,
}

#[derive(Debug)]
struct Rec {
    to: ClientId,
    phase: Phase,
    /// Offers made so far, and tries refused because the hub was busy.
    attempts: u32,
    busy: u32,
    outcome: Outcome,
}

/// The schedule of one send to many. Call order: [`Schedule::new`]; then drain
/// [`Schedule::poll_start`] (start each transfer it names); feed every transfer's updates
/// to [`Schedule::handle_update`] and its end to [`Schedule::handle_finished`], the timer
/// (at [`Schedule::poll_timeout`]) to [`Schedule::handle_timeout`], a cancel to
/// [`Schedule::cancel`]; after each input drain [`Schedule::poll_start`] and
/// [`Schedule::poll_settled`] again. It is over when [`Schedule::is_over`].
#[derive(Debug)]
pub(crate) struct Schedule {
    running: usize,
    park: Duration,
    pause: Duration,
    attempts: u32,
    me: ClientId,
    recs: Vec<Rec>,
    cancelled: bool,
    settled: VecDeque<Outcome>,
    /// The hub's pace for offers, as we count it: offers we may make now, and when that
    /// was counted.
    tokens: f64,
    counted: Option<Instant>,
}

/// Offers the hub takes at once from one connection, then per second: the schedule keeps
/// to that pace rather than be refused (and counted as a flood).
const BURST: f64 = crate::limits::MAX_PENDING_OFFERS as f64;
const PER_SEC: f64 = crate::limits::OFFER_RATE_PER_SEC as f64;

/// Refusals because the hub is busy are tried again this many times.
const BUSY_TRIES: u32 = 60;

impl Schedule {
    /// Offers to `to` (duplicates dropped), at most `config.running` running at once.
    pub(crate) fn new(me: ClientId, to: &[ClientId], config: &super::Config) -> Self {
        let mut recs: Vec<Rec> = Vec::new();
        for &who in to {
            if recs.iter().all(|r| r.to != who) {
                recs.push(Rec {
                    to: who,
                    phase: Phase::Queued { at: None },
                    attempts: 0,
                    busy: 0,
                    outcome: Outcome::new(who),
                });
            }
        }
        Self {
            running: config.running.max(1),
            park: config.park,
            pause: config.retry_pause,
            attempts: config.attempts.max(1),
            me,
            recs,
            cancelled: false,
            settled: VecDeque::new(),
            tokens: BURST,
            counted: None,
        }
    }

    /// The hub's pace counted up to `now`.
    fn refill(&mut self, now: Instant) {
        if let Some(then) = self.counted {
            let secs = now.saturating_duration_since(then).as_secs_f64();
            self.tokens = (self.tokens + secs * PER_SEC).min(BURST);
        }
        self.counted = Some(now);
    }

    /// When the next offer keeps to the hub's pace.
    fn paced_at(&self) -> Option<Instant> {
        let then = self.counted?;
        (self.tokens < 1.0).then(|| then + Duration::from_secs_f64((1.0 - self.tokens) / PER_SEC))
    }

    /// Recipients to offer to now, places free, that wait only for the hub's pace.
    fn due(&self, now: Instant) -> impl Iterator<Item = &Rec> {
        let free = self.running.saturating_sub(self.busy_places(now));
        let cancelled = self.cancelled;
        self.recs
            .iter()
            .filter(move |r| {
                !cancelled
                    && matches!(r.phase, Phase::Queued { at } if at.is_none_or(|at| at <= now))
            })
            .take(free)
    }

    /// Who the start line waits for now: offered and not answered (for less than
    /// `park`), accepted (some may be past the line already), or due to be offered as
    /// soon as the hub's pace allows; and who is next for a place (in order, at most
    /// the cap), for when places free.
    pub(crate) fn coming(&self, now: Instant) -> (Vec<ClientId>, Vec<ClientId>) {
        let due: Vec<ClientId> = self.due(now).map(|r| r.to).collect();
        let coming = self
            .recs
            .iter()
            .filter(|r| match r.phase {
                Phase::Offered { since } => now < since + self.park,
                Phase::Running => true,
                _ => false,
            })
            .map(|r| r.to)
            .chain(due.iter().copied())
            .collect();
        let next = self
            .recs
            .iter()
            .filter(|r| {
                !self.cancelled && matches!(r.phase, Phase::Queued { .. }) && !due.contains(&r.to)
            })
            .map(|r| r.to)
            .take(self.running)
            .collect();
        (coming, next)
    }

    /// Recipients taking a running place: offered for less than `park`, or accepted
    /// (sending, or waiting on their link for one of the places in `places.rs`).
    fn busy_places(&self, now: Instant) -> usize {
        self.recs
            .iter()
            .filter(|r| match r.phase {
                Phase::Offered { since } => now < since + self.park,
                Phase::Running => true,
                _ => false,
            })
            .count()
    }

    /// The next recipient to offer to now, if a place is free.
    pub(crate) fn poll_start(&mut self, now: Instant) -> Option<ClientId> {
        if self.cancelled || self.busy_places(now) >= self.running {
            return None;
        }
        self.refill(now);
        if self.tokens < 1.0 {
            return None;
        }
        let rec = self
            .recs
            .iter_mut()
            .find(|r| matches!(r.phase, Phase::Queued { at } if at.is_none_or(|at| at <= now)))?;
        rec.phase = Phase::Offered { since: now };
        rec.attempts += 1;
        rec.outcome.attempts = rec.attempts;
        let to = rec.to;
        self.tokens -= 1.0;
        Some(to)
    }

    /// Offers made to `to` so far.
    pub(crate) fn attempts_of(&self, to: ClientId) -> u32 {
        self.recs
            .iter()
            .find(|r| r.to == to)
            .map_or(0, |r| r.attempts)
    }

    /// When to call [`Schedule::handle_timeout`]: an offer stops taking a place, or a
    /// recipient may be tried again, or the hub's pace allows the next offer. Always after
    /// `now`: what is already due waits for a
    /// place, which only a transfer's end or answer frees (a time in the past would wake
    /// the driver at once, again and again).
    pub(crate) fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        self.recs
            .iter()
            .filter_map(|r| match r.phase {
                Phase::Offered { since } => Some(since + self.park),
                Phase::Queued { at } => at,
                _ => None,
            })
            .chain(self.due(now).next().and(self.paced_at()))
            .filter(|at| *at > now)
            .min()
    }

    /// Time passed (nothing to do: [`Schedule::poll_start`] looks at the clock).
    pub(crate) fn handle_timeout(&mut self, _now: Instant) {}

    /// Something a recipient's transfer reported.
    pub(crate) fn handle_update(&mut self, to: ClientId, update: &Update) {
        let Some(rec) = self.recs.iter_mut().find(|r| r.to == to) else {
            return;
        };
        match update {
            Update::Stored { .. } => {
                rec.phase = Phase::Stored;
                rec.outcome.offline = true;
            }
            Update::Accepted { files } => {
                rec.phase = Phase::Running;
                rec.outcome.accepted = Some(files.len());
            }
            Update::Progress(p) => {
                rec.outcome.bytes = p.bytes;
                rec.outcome.total = p.total;
            }
            Update::FileDone { .. } => rec.outcome.verified += 1,
            _ => {}
        }
    }

    /// A recipient's transfer ended: settles them, or queues them to be tried again
    /// (returns the error then).
    pub(crate) fn handle_finished(
        &mut self,
        to: ClientId,
        result: &Result<Summary, Arc<Error>>,
        now: Instant,
    ) -> Option<Arc<Error>> {
        let (me, pause, attempts, cancelled) = (self.me, self.pause, self.attempts, self.cancelled);
        let rec = self.recs.iter_mut().find(|r| r.to == to)?;
        let status = match result {
            Ok(summary) => {
                rec.outcome.bytes = summary.bytes;
                rec.outcome.total = summary.bytes;
                rec.outcome.verified = summary.files;
                rec.outcome.summary = Some(summary.clone());
                Status::Verified
            }
            Err(e) => {
                rec.outcome.error = Some(e.clone());
                match &**e {
                    Error::Declined | Error::NoSpaceAtReceiver => Status::Declined,
                    Error::Cancelled { by } if *by == me => Status::Cancelled,
                    // Once they accepted, stopping is not a decline: they lack the files.
                    Error::Cancelled { .. } if rec.outcome.accepted.is_some() => Status::Failed,
                    Error::Cancelled { .. } => Status::Declined,
                    _ if cancelled => Status::Cancelled,
                    Error::Refused(OfferRefusal::RateLimited) if rec.busy < BUSY_TRIES => {
                        // The hub counted more offers than we did (others of this
                        // connection): start the count again from its empty bucket, a
                        // little under, and offer again at its pace (not a try either).
                        rec.busy += 1;
                        rec.attempts -= 1;
                        rec.phase = Phase::Queued { at: None };
                        self.tokens = -0.2;
                        self.counted = Some(now);
                        return Some(e.clone());
                    }
                    Error::Refused(OfferRefusal::Busy) if rec.busy < BUSY_TRIES => {
                        // Not the recipient's doing: does not count as a try.
                        rec.busy += 1;
                        rec.attempts -= 1;
                        rec.phase = Phase::Queued {
                            at: Some(now + pause),
                        };
                        return Some(e.clone());
                    }
                    Error::ConnectionLost
                    | Error::Stalled
                    | Error::PeerGone
                    | Error::HubLost
                    | Error::NoRoute(_)
                        if rec.attempts < attempts =>
                    {
                        // Offered again, waiting if they are gone: their copy resumes.
                        rec.phase = Phase::Queued {
                            at: Some(now + pause),
                        };
                        return Some(e.clone());
                    }
                    _ => Status::Failed,
                }
            }
        };
        rec.phase = Phase::Done;
        rec.outcome.status = status;
        self.settled.push_back(rec.outcome.clone());
        None
    }

    /// The user cancelled: nobody else is offered to; the transfers running end as
    /// cancelled (the driver cancels them).
    pub(crate) fn cancel(&mut self) {
        self.cancelled = true;
        for rec in &mut self.recs {
            if matches!(rec.phase, Phase::Queued { .. }) {
                rec.phase = Phase::Done;
                rec.outcome.status = Status::Cancelled;
                self.settled.push_back(rec.outcome.clone());
            }
        }
    }

    /// A recipient whose outcome is now known.
    pub(crate) fn poll_settled(&mut self) -> Option<Outcome> {
        self.settled.pop_front()
    }

    /// Every recipient settled.
    pub(crate) fn is_over(&self) -> bool {
        self.recs.iter().all(|r| r.phase == Phase::Done)
    }

    /// Every recipient's outcome, in the order given.
    pub(crate) fn outcomes(&self) -> Vec<Outcome> {
        self.recs.iter().map(|r| r.outcome.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::many::Config;

    fn id(n: u8) -> ClientId {
        ClientId([n; 32])
    }

    fn ids(n: u8) -> Vec<ClientId> {
        (1..=n).map(id).collect()
    }

    fn config() -> Config {
        Config {
            running: 2,
            park: Duration::from_secs(10),
            retry_pause: Duration::from_secs(1),
            attempts: 3,
            ..Config::default()
        }
    }

    /// The running cap holds: two places, a third recipient waits until one is free;
    /// an offline recipient (stored) gives its place back.
    #[test]
    fn at_most_the_cap_run_and_stored_offers_free_their_place() {
        let t0 = Instant::now();
        let mut s = Schedule::new(id(99), &ids(4), &config());
        assert_eq!(s.poll_start(t0), Some(id(1)));
        assert_eq!(s.poll_start(t0), Some(id(2)));
        assert_eq!(s.poll_start(t0), None, "two places");
        s.handle_update(id(1), &Update::Accepted { files: vec![0] });
        s.handle_update(
            id(2),
            &Update::Stored {
                id: crate::proto::TransferId(7),
            },
        );
        assert_eq!(s.poll_start(t0), Some(id(3)), "the stored offer freed one");
        assert_eq!(s.poll_start(t0), None);
        // An offer nobody answers for `park` stops holding its place.
        assert_eq!(s.poll_timeout(t0), Some(t0 + Duration::from_secs(10)));
        assert_eq!(s.poll_start(t0 + Duration::from_secs(10)), Some(id(4)));
    }

    /// A lost link is tried again (the copy resumes), up to the attempts; a decline is
    /// settled at once and is not a failure of the others.
    #[test]
    fn lost_links_are_retried_and_declines_settle() {
        let t0 = Instant::now();
        let mut s = Schedule::new(id(99), &ids(2), &config());
        s.poll_start(t0);
        s.poll_start(t0);
        assert!(
            s.handle_finished(id(2), &Err(Arc::new(Error::Declined)), t0)
                .is_none()
        );
        assert_eq!(s.poll_settled().unwrap().status, Status::Declined);
        for attempt in 1..=3 {
            s.handle_update(id(1), &Update::Accepted { files: vec![0] });
            let lost = Err(Arc::new(Error::ConnectionLost));
            let retried = s.handle_finished(id(1), &lost, t0);
            if attempt < 3 {
                assert!(retried.is_some(), "attempt {attempt} is tried again");
                assert_eq!(s.poll_start(t0), None, "after a pause");
                assert_eq!(s.poll_start(t0 + Duration::from_secs(1)), Some(id(1)));
            } else {
                assert!(retried.is_none());
            }
        }
        let failed = s.poll_settled().unwrap();
        assert_eq!((failed.status, failed.attempts), (Status::Failed, 3));
        assert!(s.is_over());
    }

    /// A recipient who cancels before accepting declined; one who accepted and then
    /// cancelled did not get the files: not a decline (the send must not say all went).
    #[test]
    fn a_recipient_who_cancels_after_accepting_did_not_decline() {
        let t0 = Instant::now();
        let mut s = Schedule::new(id(99), &ids(2), &config());
        s.poll_start(t0);
        s.poll_start(t0);
        let theirs = |n| Err(Arc::new(Error::Cancelled { by: id(n) }));
        s.handle_finished(id(1), &theirs(1), t0);
        assert_eq!(s.poll_settled().unwrap().status, Status::Declined);
        s.handle_update(id(2), &Update::Accepted { files: vec![0] });
        s.handle_finished(id(2), &theirs(2), t0);
        assert_eq!(s.poll_settled().unwrap().status, Status::Failed);
        let report = super::super::Report {
            outcomes: s.outcomes(),
            read_from_disk: 0,
        };
        assert!(!report.all_verified());
    }

    /// The driver sleeps until the time named: a time already past would wake it at once,
    /// forever (a busy loop while an offer waits past `park` for its answer, or a copy to
    /// try again waits for a place). Neither names a timer once due.
    #[test]
    fn no_timeout_is_named_in_the_past() {
        let t0 = Instant::now();
        let mut s = Schedule::new(id(99), &ids(3), &config());
        assert_eq!(s.poll_start(t0), Some(id(1)));
        assert_eq!(s.poll_start(t0), Some(id(2)));
        s.handle_update(id(2), &Update::Accepted { files: vec![0] });
        let parked = t0 + Duration::from_secs(10);
        assert_eq!(s.poll_timeout(t0), Some(parked));
        // Id 1 has not answered for `park`: id 3 takes its place; only id 3's park is
        // timed, not id 1's, past.
        assert_eq!(s.poll_start(parked), Some(id(3)));
        assert_eq!(
            s.poll_timeout(parked),
            Some(parked + Duration::from_secs(10))
        );
        // Id 3's link is lost: it may be tried again in a second, but both places are
        // taken (id 1's late accept took one back): no timer once that second is past.
        s.handle_update(id(3), &Update::Accepted { files: vec![0] });
        s.handle_update(id(1), &Update::Accepted { files: vec![0] });
        let lost = Err(Arc::new(Error::ConnectionLost));
        assert!(s.handle_finished(id(3), &lost, parked).is_some());
        let again = parked + Duration::from_secs(1);
        assert_eq!(s.poll_timeout(parked), Some(again));
        assert_eq!(s.poll_start(again), None, "no place");
        assert_eq!(s.poll_timeout(again), None);
        // A place frees: it is offered again.
        s.handle_finished(id(2), &Err(Arc::new(Error::Declined)), again);
        assert_eq!(s.poll_start(again), Some(id(3)));
    }

    /// Ten at once keep to the hub's pace (eight offers, then two a second) instead of
    /// being refused as a flood, and the start line waits for all ten: the two still to
    /// be offered are coming too.
    #[test]
    fn offers_keep_to_the_hub_s_pace_and_the_paced_are_coming() {
        let t0 = Instant::now();
        let config = Config {
            running: 10,
            ..config()
        };
        let mut s = Schedule::new(id(99), &ids(10), &config);
        for n in 1..=8 {
            assert_eq!(s.poll_start(t0), Some(id(n)));
        }
        assert_eq!(s.poll_start(t0), None, "the hub's burst is spent");
        assert_eq!(s.coming(t0).0.len(), 10, "the two paced ones are coming");
        let next = t0 + Duration::from_millis(500);
        assert_eq!(s.poll_timeout(t0), Some(next));
        assert_eq!(s.poll_start(next), Some(id(9)));
        assert_eq!(s.poll_start(next), None);
        assert_eq!(s.poll_timeout(next), Some(t0 + Duration::from_secs(1)));
        assert_eq!(s.poll_start(t0 + Duration::from_secs(1)), Some(id(10)));
        // Answered: the accepted are coming (until at the line), the stored are not.
        s.handle_update(id(1), &Update::Accepted { files: vec![0] });
        s.handle_update(
            id(2),
            &Update::Stored {
                id: crate::proto::TransferId(1),
            },
        );
        let (coming, _) = s.coming(t0 + Duration::from_secs(1));
        assert!(coming.contains(&id(1)) && !coming.contains(&id(2)));
    }

    #[test]
    fn cancel_settles_the_queued_and_starts_nobody() {
        let t0 = Instant::now();
        let mut s = Schedule::new(id(99), &[id(1), id(1), id(2), id(3)], &config());
        assert_eq!(s.outcomes().len(), 3, "duplicates dropped");
        s.poll_start(t0);
        s.cancel();
        assert_eq!(s.poll_start(t0), None);
        assert_eq!(s.poll_settled().unwrap().status, Status::Cancelled);
        assert!(!s.is_over(), "the running one ends first");
        let e = Err(Arc::new(Error::Cancelled { by: id(99) }));
        s.handle_finished(id(1), &e, t0);
        assert!(s.is_over());
    }
}
