//! The sending side of a peer connection as a state machine: which file goes next and from
//! where, what the receiver verified, whether the transfer still moves, and how it ended.
//! No I/O and no clock: the driver (`send.rs`) reads the files, moves the bytes and passes
//! the time in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::error::{Error, FileFailed, Violation, verdict};
use super::meter::{FileAt, Meter};
use super::wire::Control;
use super::{Tally, Update};
use crate::proto::ClientId;

/// A held sender tells the receiver it waits this often at most (and at most every third
/// of its own progress deadline): well within the receiver's stall deadline.
pub(crate) const WAIT_EVERY: Duration = super::receiver::KEEPALIVE;

/// One accepted file, in the order it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Its index in the manifest.
    pub index: u32,
    /// Its declared size.
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the receiver's resume offsets.
    AwaitHello,
    /// Held back (see [`Sender::hold`]): the offsets are known, no file is announced until
    /// [`Sender::handle_place`]; the next `Wait` goes out at `next_wait`.
    Held { next_wait: Instant },
    /// Sending file `k` of the plan; `done` of its bytes are out (resumed ones included).
    Streaming { k: usize, done: u64 },
    /// Everything is sent; waiting for the receiver to account for every file.
    Draining,
    /// The outcome is known.
    Over,
}

/// The sender's protocol. Call order:
///
/// 1. [`Sender::new`] once the peer connection is chosen (and [`Sender::hold`] for a copy
///    that must wait for a place: then [`Sender::handle_place`] when it has one);
/// 2. inputs: [`Sender::handle_control`] for every message from the receiver,
///    [`Sender::handle_sent`] as file bytes go out, [`Sender::handle_streamed`] when a file
///    was read to its end, [`Sender::handle_timeout`], [`Sender::handle_link_lost`], and
///    [`Sender::fail`] for local trouble (cancel, an unreadable or changed file);
/// 3. after each input, drain [`Sender::poll_transmit`] (in order, before any further file
///    bytes), then [`Sender::poll_update`], read [`Sender::poll_timeout`], and take
///    [`Sender::poll_outcome`] once it is there.
///
/// After the receiver's `Hello`, [`Sender::offsets`] says where each file resumes: the
/// driver reads the files in plan order from there, and after each `File` message it
/// transmits sends that file's bytes. [`Sender::files`] (the plan) and
/// [`Sender::is_over`] are queries.
#[derive(Debug)]
pub struct Sender {
    peer: ClientId,
    files: Vec<Outgoing>,
    offsets: Option<Vec<u64>>,
    phase: Phase,
    deadline: Duration,
    /// Wait for [`Sender::handle_place`] after the `Hello`.
    hold: bool,
    /// When the transfer last moved: bytes acknowledged, or a file accounted for.
    last_progress: Instant,
    /// Bytes the receiver says it has taken this session.
    acked: u64,
    /// Bytes handed to the connection this session.
    moved: u64,
    /// Files whose `End` went out.
    ended: usize,
    /// Which of the ended files the receiver reported on.
    reported: Vec<bool>,
    verified: usize,
    failed: Vec<FileFailed>,
    meter: Option<Meter>,
    transmits: VecDeque<Control>,
    updates: VecDeque<Update>,
    outcome: Option<Result<Tally, Error>>,
}

impl Sender {
    /// Sends `files` (in this order) to `peer`; gives up when nothing moves for `deadline`.
    pub fn new(peer: ClientId, files: Vec<Outgoing>, deadline: Duration, now: Instant) -> Self {
        let reported = vec![false; files.len()];
        Self {
            peer,
            files,
            offsets: None,
            phase: Phase::AwaitHello,
            deadline,
            hold: false,
            last_progress: now,
            acked: 0,
            moved: 0,
            ended: 0,
            reported,
            verified: 0,
            failed: Vec::new(),
            meter: None,
            transmits: VecDeque::new(),
            updates: VecDeque::new(),
            outcome: None,
        }
    }

    /// Makes this a copy that waits for a place (one of a send to many beyond its running
    /// cap): once the receiver's `Hello` is in, no file is announced until
    /// [`Sender::handle_place`]; meanwhile a `Wait` goes out at once (when the timer is
    /// next handled) and then every few seconds, and the silence of the receiver is not a
    /// stall. Call before the `Hello`. A sender never held never sends `Wait`.
    pub fn hold(&mut self) {
        self.hold = true;
    }

    /// Whether the sender waits for [`Sender::handle_place`] (held, and the `Hello` in).
    pub fn is_held(&self) -> bool {
        matches!(self.phase, Phase::Held { .. })
    }

    /// The held sender got its place: the files go now.
    pub fn handle_place(&mut self, now: Instant) {
        if self.is_held() {
            self.last_progress = now;
            self.start(0);
        }
    }

    /// The files, in sending order.
    pub fn files(&self) -> &[Outgoing] {
        &self.files
    }

    /// Where each file starts (bytes the receiver already has), once it said so.
    pub fn offsets(&self) -> Option<&[u64]> {
        self.offsets.as_deref()
    }

    /// Whether the outcome is known.
    pub fn is_over(&self) -> bool {
        self.phase == Phase::Over
    }

    /// A message from the receiver.
    pub fn handle_control(&mut self, msg: Control, now: Instant) {
        if self.is_over() {
            return;
        }
        let result = match msg {
            Control::Hello { offsets } => self.hello(offsets, now),
            Control::Got { bytes } => self.got(bytes, now),
            Control::Verified { index } => self.report(index, None, now),
            Control::Failed { index, reason } => self.report(index, Some(reason), now),
            Control::Finished => self.finished(),
            Control::Abort { reason } => {
                self.end(Err(Error::aborted_by(self.peer, reason)));
                Ok(())
            }
            Control::Knock { .. }
            | Control::Welcome
            | Control::Start
            | Control::File { .. }
            | Control::End { .. }
            | Control::Done
            | Control::Ping { .. }
            | Control::Pong { .. }
            | Control::Wait => Err(Violation::Unexpected),
        };
        if let Err(v) = result {
            self.fail(Error::Protocol(v));
        }
    }

    fn hello(&mut self, offsets: Vec<u64>, now: Instant) -> Result<(), Violation> {
        if self.phase != Phase::AwaitHello {
            return Err(Violation::Unexpected);
        }
        let fits = offsets.len() == self.files.len()
            && offsets.iter().zip(&self.files).all(|(o, f)| *o <= f.size);
        if !fits {
            return Err(Violation::BadOffsets);
        }
        let total = self.files.iter().map(|f| f.size).sum();
        let resumed = offsets.iter().sum();
        self.meter = Some(Meter::new(total, resumed, now));
        self.offsets = Some(offsets);
        self.last_progress = now;
        if self.hold {
            self.phase = Phase::Held { next_wait: now };
        } else {
            self.start(0);
        }
        Ok(())
    }

    /// Announces file `k` of the plan, or the end.
    fn start(&mut self, k: usize) {
        let (Some(file), Some(&offset)) = (
            self.files.get(k),
            self.offsets.as_ref().and_then(|o| o.get(k)),
        ) else {
            self.transmits.push_back(Control::Done);
            self.phase = Phase::Draining;
            self.progress(None, true, self.last_progress);
            return;
        };
        self.transmits.push_back(Control::File {
            index: file.index,
            offset,
        });
        self.phase = Phase::Streaming { k, done: offset };
    }

    fn got(&mut self, bytes: u64, now: Instant) -> Result<(), Violation> {
        if bytes > self.moved {
            return Err(Violation::PhantomBytes);
        }
        // While bytes are still to go, only bytes taken count: a receiver that keeps
        // saying "alive" without reading does not keep us waiting. Once all is sent, the
        // receiver's keep-alives say it is still busy verifying and saving.
        if bytes > self.acked || self.phase == Phase::Draining {
            self.last_progress = now;
        }
        self.acked = self.acked.max(bytes);
        Ok(())
    }

    fn report(
        &mut self,
        index: u32,
        failure: Option<super::wire::FileFailure>,
        now: Instant,
    ) -> Result<(), Violation> {
        let k = self
            .files
            .iter()
            .take(self.ended)
            .position(|f| f.index == index)
            .ok_or(Violation::UnknownFile)?;
        let seen = self.reported.get_mut(k).ok_or(Violation::UnknownFile)?;
        if std::mem::replace(seen, true) {
            return Err(Violation::UnknownFile);
        }
        self.last_progress = now;
        match failure {
            None => {
                self.verified += 1;
                self.updates
                    .push_back(Update::FileDone { index, path: None });
            }
            Some(reason) => {
                self.failed.push(FileFailed { index, reason });
                self.updates.push_back(Update::FileFailed { index, reason });
            }
        }
        Ok(())
    }

    fn finished(&mut self) -> Result<(), Violation> {
        if self.phase != Phase::Draining || self.reported.iter().any(|r| !r) {
            return Err(Violation::Unexpected);
        }
        let failed = std::mem::take(&mut self.failed);
        let outcome = verdict(self.tally(), failed, self.files.len());
        self.end(outcome);
        Ok(())
    }

    fn tally(&self) -> Tally {
        let resumed = self.offsets.as_ref().map_or(0, |o| o.iter().sum());
        Tally {
            files: self.verified,
            bytes: self.files.iter().map(|f| f.size).sum(),
            moved: self.moved,
            resumed,
            saved: Vec::new(),
        }
    }

    /// `n` bytes of the current file were handed to the connection.
    pub fn handle_sent(&mut self, n: u64, now: Instant) {
        if self.is_over() {
            return;
        }
        self.moved = self.moved.saturating_add(n);
        if let Some(m) = &mut self.meter {
            m.add(n);
        }
        // Bytes still queued may belong to the file before: the per-file figure is
        // approximate at a file's first bytes, the total is exact.
        let at = match &mut self.phase {
            Phase::Streaming { k, done } => {
                *done = done.saturating_add(n);
                self.files.get(*k).map(|f| FileAt {
                    index: f.index,
                    done: (*done).min(f.size),
                    size: f.size,
                })
            }
            _ => None,
        };
        self.progress(at, false, now);
    }

    /// The current file was read to its end: `read` bytes from its offset, all queued for
    /// the connection; `hash` is BLAKE3 over the whole file (the resumed prefix too).
    ///
    /// A file whose bytes do not add up to its declared size changed while being sent.
    pub fn handle_streamed(&mut self, index: u32, read: u64, hash: [u8; 32], now: Instant) {
        let Phase::Streaming { k, .. } = self.phase else {
            return;
        };
        let offset = self.offsets.as_ref().and_then(|o| o.get(k)).copied();
        match (self.files.get(k), offset) {
            (Some(f), Some(o)) if f.index == index && o.checked_add(read) == Some(f.size) => {}
            _ => return self.fail(Error::SourceChanged),
        }
        self.transmits.push_back(Control::End { index, hash });
        self.ended = k + 1;
        self.start(k + 1);
        if self.phase == Phase::Draining {
            self.last_progress = now;
        }
    }

    /// Time passed: a transfer that has not moved for the deadline has stalled; a held
    /// sender sends its `Wait` when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Phase::Held { next_wait } = self.phase {
            // The receiver has nothing to say meanwhile: only our `Wait`s keep it.
            if now >= next_wait {
                self.transmits.push_back(Control::Wait);
                let every = WAIT_EVERY.min(self.deadline / 3);
                self.phase = Phase::Held {
                    next_wait: now + every,
                };
            }
            return;
        }
        if !self.is_over() && now >= self.last_progress + self.deadline {
            self.fail(Error::Stalled);
        }
    }

    /// The connection broke.
    pub fn handle_link_lost(&mut self) {
        self.fail(Error::ConnectionLost);
    }

    /// Local trouble stops the transfer; the receiver is told why when it can be.
    pub fn fail(&mut self, error: Error) {
        if self.is_over() {
            return;
        }
        if let Some(reason) = error.abort_reason() {
            self.transmits.push_back(Control::Abort { reason });
        }
        self.end(Err(error));
    }

    fn end(&mut self, outcome: Result<Tally, Error>) {
        self.phase = Phase::Over;
        self.outcome = Some(outcome);
    }

    fn progress(&mut self, at: Option<FileAt>, force: bool, now: Instant) {
        if let Some(p) = self.meter.as_mut().and_then(|m| m.report(at, force, now)) {
            self.updates.push_back(Update::Progress(p));
        }
    }

    /// The next message for the receiver.
    pub fn poll_transmit(&mut self) -> Option<Control> {
        self.transmits.pop_front()
    }

    /// The next update for whoever watches the transfer.
    pub fn poll_update(&mut self) -> Option<Update> {
        self.updates.pop_front()
    }

    /// When [`Sender::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Phase::Held { next_wait } = self.phase {
            return Some(next_wait);
        }
        (!self.is_over()).then(|| self.last_progress + self.deadline)
    }

    /// How the transfer ended, once (taken by the first call).
    pub fn poll_outcome(&mut self) -> Option<Result<Tally, Error>> {
        self.outcome.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::wire::{AbortReason, FileFailure};

    const PEER: ClientId = ClientId([9; 32]);
    const DEADLINE: Duration = Duration::from_secs(30);

    fn two(now: Instant) -> Sender {
        let files = vec![
            Outgoing { index: 0, size: 10 },
            Outgoing { index: 2, size: 0 },
        ];
        Sender::new(PEER, files, DEADLINE, now)
    }

    /// [`two`] after a `Hello` with nothing on the receiver's disk yet.
    fn started(now: Instant) -> Sender {
        let mut s = two(now);
        s.handle_control(
            Control::Hello {
                offsets: vec![0, 0],
            },
            now,
        );
        s
    }

    fn transmits(s: &mut Sender) -> Vec<Control> {
        std::iter::from_fn(|| s.poll_transmit()).collect()
    }

    fn err(s: &mut Sender) -> String {
        match s.poll_outcome() {
            Some(Err(e)) => e.to_string(),
            other => unreachable!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn sends_each_file_from_its_offset_then_waits_for_every_verdict() {
        let t0 = Instant::now();
        let mut s = two(t0);
        assert!(transmits(&mut s).is_empty(), "nothing before Hello");
        s.handle_control(
            Control::Hello {
                offsets: vec![4, 0],
            },
            t0,
        );
        assert_eq!(s.offsets(), Some(&[4, 0][..]));
        assert_eq!(
            transmits(&mut s),
            [Control::File {
                index: 0,
                offset: 4
            }]
        );
        s.handle_sent(6, t0);
        s.handle_streamed(0, 6, [1; 32], t0);
        s.handle_streamed(2, 0, [2; 32], t0);
        assert_eq!(
            transmits(&mut s),
            [
                Control::End {
                    index: 0,
                    hash: [1; 32]
                },
                Control::File {
                    index: 2,
                    offset: 0
                },
                Control::End {
                    index: 2,
                    hash: [2; 32]
                },
                Control::Done,
            ]
        );
        s.handle_control(Control::Got { bytes: 6 }, t0);
        s.handle_control(Control::Verified { index: 2 }, t0);
        s.handle_control(
            Control::Failed {
                index: 0,
                reason: FileFailure::Integrity,
            },
            t0,
        );
        assert!(s.poll_outcome().is_none());
        s.handle_control(Control::Finished, t0);
        match s.poll_outcome() {
            Some(Err(Error::FilesFailed { failed, total })) => {
                assert_eq!(
                    failed,
                    [FileFailed {
                        index: 0,
                        reason: FileFailure::Integrity
                    }]
                );
                assert_eq!(total, 2);
            }
            other => unreachable!("{other:?}"),
        }
        let updates: Vec<Update> = std::iter::from_fn(|| s.poll_update()).collect();
        assert!(
            updates
                .iter()
                .any(|u| matches!(u, Update::FileDone { index: 2, .. }))
        );
        assert!(
            updates
                .iter()
                .any(|u| matches!(u, Update::FileFailed { index: 0, .. }))
        );
    }

    #[test]
    fn a_clean_run_tallies_moved_and_resumed_bytes() {
        let t0 = Instant::now();
        let mut s = two(t0);
        s.handle_control(
            Control::Hello {
                offsets: vec![4, 0],
            },
            t0,
        );
        s.handle_sent(6, t0);
        s.handle_streamed(0, 6, [0; 32], t0);
        s.handle_streamed(2, 0, [0; 32], t0);
        for index in [0, 2] {
            s.handle_control(Control::Verified { index }, t0);
        }
        s.handle_control(Control::Finished, t0);
        let tally = s.poll_outcome().unwrap().unwrap();
        assert_eq!(
            (tally.files, tally.bytes, tally.moved, tally.resumed),
            (2, 10, 6, 4)
        );
        assert!(s.is_over() && s.poll_timeout().is_none());
    }

    #[test]
    fn hostile_receiver_messages_stop_the_transfer() {
        let t0 = Instant::now();
        let hello = Control::Hello {
            offsets: vec![0, 0],
        };
        let cases: Vec<(Vec<Control>, &str)> = vec![
            (
                vec![Control::Hello {
                    offsets: vec![11, 0],
                }],
                "impossible resume offsets",
            ),
            (
                vec![Control::Hello { offsets: vec![0] }],
                "impossible resume offsets",
            ),
            (vec![hello.clone(), hello.clone()], "unexpected message"),
            (
                vec![hello.clone(), Control::Got { bytes: 1 }],
                "bytes never sent",
            ),
            (
                vec![hello.clone(), Control::Verified { index: 0 }],
                "unknown file",
            ),
            (
                vec![hello.clone(), Control::Verified { index: 7 }],
                "unknown file",
            ),
            (vec![hello.clone(), Control::Finished], "unexpected message"),
            (vec![hello.clone(), Control::Done], "unexpected message"),
            (vec![Control::Start], "unexpected message"),
        ];
        for (msgs, want) in cases {
            let mut s = two(t0);
            for m in msgs {
                s.handle_control(m, t0);
            }
            let e = err(&mut s);
            assert!(e.contains(want), "{e} should say {want}");
            assert_eq!(
                transmits(&mut s).last(),
                Some(&Control::Abort {
                    reason: AbortReason::Protocol
                }),
                "{want}: the receiver is told"
            );
        }
    }

    #[test]
    fn a_file_reported_twice_or_finished_early_is_a_violation() {
        let t0 = Instant::now();
        let mut s = started(t0);
        s.handle_sent(10, t0);
        s.handle_streamed(0, 10, [0; 32], t0);
        s.handle_control(Control::Verified { index: 0 }, t0);
        s.handle_control(Control::Verified { index: 0 }, t0);
        assert!(err(&mut s).contains("unknown file"));

        let mut s = started(t0);
        s.handle_sent(10, t0);
        s.handle_streamed(0, 10, [0; 32], t0);
        s.handle_streamed(2, 0, [0; 32], t0);
        s.handle_control(Control::Verified { index: 0 }, t0);
        s.handle_control(Control::Finished, t0);
        assert!(err(&mut s).contains("unexpected"), "file 2 unaccounted for");
    }

    #[test]
    fn a_file_that_yields_other_than_its_size_changed() {
        let t0 = Instant::now();
        let mut s = started(t0);
        s.handle_sent(9, t0);
        s.handle_streamed(0, 9, [0; 32], t0);
        assert_eq!(err(&mut s), "a file changed while it was being sent");
        assert_eq!(
            transmits(&mut s).last(),
            Some(&Control::Abort {
                reason: AbortReason::SourceChanged
            })
        );
    }

    /// SECURITY (issue 10 #7): a receiver that says "alive" but takes no bytes stalls.
    #[test]
    fn keepalives_without_bytes_do_not_hold_a_stream_open() {
        let t0 = Instant::now();
        let mut s = started(t0);
        s.handle_sent(8, t0);
        s.handle_control(Control::Got { bytes: 8 }, t0 + Duration::from_secs(1));
        for secs in (5..60).step_by(5) {
            let t = t0 + Duration::from_secs(secs);
            s.handle_control(Control::Got { bytes: 8 }, t);
            s.handle_timeout(t);
        }
        assert_eq!(err(&mut s), "the transfer stalled");
        assert!(
            transmits(&mut s)
                .iter()
                .all(|c| !matches!(c, Control::Abort { .. }))
        );
    }

    #[test]
    fn keepalives_count_while_the_receiver_finishes() {
        let t0 = Instant::now();
        let mut s = started(t0);
        s.handle_sent(10, t0);
        s.handle_streamed(0, 10, [0; 32], t0);
        s.handle_streamed(2, 0, [0; 32], t0);
        let mut t = t0;
        for _ in 0..20 {
            t += Duration::from_secs(20);
            s.handle_control(Control::Got { bytes: 10 }, t);
            s.handle_timeout(t);
        }
        assert!(!s.is_over(), "the receiver is syncing a slow disk");
        assert_eq!(s.poll_timeout(), Some(t + DEADLINE));
        s.handle_timeout(t + DEADLINE);
        assert_eq!(err(&mut s), "the transfer stalled");
    }

    #[test]
    fn an_abort_from_the_receiver_is_not_echoed() {
        let t0 = Instant::now();
        let mut s = started(t0);
        transmits(&mut s);
        s.handle_control(
            Control::Abort {
                reason: AbortReason::DiskFull,
            },
            t0,
        );
        assert_eq!(err(&mut s), "receiver disk full");
        assert!(transmits(&mut s).is_empty());
        s.handle_control(Control::Finished, t0);
        assert!(s.poll_outcome().is_none(), "over is over");
    }

    #[test]
    fn cancelling_tells_the_receiver() {
        let t0 = Instant::now();
        let mut s = two(t0);
        s.fail(Error::Cancelled {
            by: ClientId([1; 32]),
        });
        assert_eq!(
            transmits(&mut s),
            [Control::Abort {
                reason: AbortReason::Cancelled
            }]
        );
        let mut s = two(t0);
        s.handle_link_lost();
        assert_eq!(err(&mut s), "connection lost");
        assert!(transmits(&mut s).is_empty());
    }
}

#[cfg(test)]
mod held;
