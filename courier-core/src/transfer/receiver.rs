//! The receiving side of a peer connection as a state machine: which file comes next and
//! from which offset, how many bytes each may still take, when verified files get their
//! names (in groups, one sync each), what the sender is told, whether the sender still
//! moves, and how the transfer ended. No I/O and no clock: the driver (`receive.rs`)
//! carries out its [`Job`]s on the disk and passes the time in. A sender that sends the
//! wrong file, too many bytes or too few is caught before any write.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::error::{Error, FileFailed, Violation, verdict};
use super::meter::{FileAt, Meter};
use super::wire::{Control, FileFailure};
use super::{Tally, Update};
use crate::proto::ClientId;

/// Verified files are given their names in groups, after one sync for the group: this
/// many files, or this many bytes.
pub(crate) const NAME_GROUP_FILES: usize = 64;
/// See [`NAME_GROUP_FILES`].
pub(crate) const NAME_GROUP_BYTES: u64 = 64 << 20;
/// Files whose verification may be under way at once.
pub(crate) const MAX_CHECKING: usize = 8;
/// While busy on its disk, the receiver tells the sender it is alive this often.
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(5);
/// A sender that says `Wait` (queued behind its other copies) is believed this long from
/// the link's start at most; then the transfer has stalled (a hostile sender cannot hold
/// a receiver's place with `Wait` for ever). Long, because an honest queue can be: a
/// class of 30 taking a 2 GB file over Wi-Fi, four at a time, waits up to two hours for
/// its last places (ten minutes cut honest copies off and spent their tries); an idle
/// link costs the receiver no more than one a slow sender keeps with a trickle.
pub(crate) const WAIT_LIMIT: Duration = Duration::from_secs(4 * 3600);
/// The receiver acknowledges bytes at most this often.
pub(crate) const ACK_EVERY: Duration = Duration::from_millis(250);

/// One accepted file as the receiver expects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Index in the manifest.
    pub index: u32,
    /// Declared size.
    pub size: u64,
    /// Bytes already on disk (the resume offset announced in `Hello`).
    pub offset: u64,
}

/// Disk work for the driver, in order for the file being written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// Open (or resume) the part of this file; the data that follows goes into it.
    Open(Expected),
    /// The open file is complete: write what is left, then compare its hash with this
    /// one. Answer with [`Receiver::handle_checked`].
    Verify {
        /// The file.
        index: u32,
        /// The sender's BLAKE3 over the whole file.
        hash: [u8; 32],
    },
    /// Give these verified files their final names, after one sync for all. Answer with
    /// [`Receiver::handle_named`].
    Name(Vec<u32>),
    /// Create the offer's empty folders. Answer with [`Receiver::handle_folders`].
    Folders,
    /// Stop writing the open file: keep what arrived for a resume, or delete it. Answer
    /// with [`Receiver::handle_stopped`].
    Stop {
        /// Keep the part.
        keep: bool,
    },
}

/// What verification found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The bytes on disk hash to the sender's hash.
    Intact,
    /// They do not; the part was deleted.
    Mismatch,
}

/// How naming one file went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The file.
    pub index: u32,
    /// Where it was saved, or `None` if it could not be.
    pub path: Option<PathBuf>,
}

#[derive(Debug)]
enum Phase {
    /// Files are arriving.
    Receiving,
    /// The sender said `Done`; verifying, naming and folders remain.
    Draining,
    /// Stopped by this error; verified files still get their names.
    Stopping(Error),
    /// The outcome is known.
    Over,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Folders {
    Due,
    Creating,
    Made,
}

/// The receiver's protocol. Call order:
///
/// 1. [`Receiver::new`] once the peer connection is chosen (it transmits `Hello`);
/// 2. inputs: [`Receiver::handle_control`] and [`Receiver::handle_data`] for what the
///    sender sends (read only while [`Receiver::wants_input`]; data only while
///    [`Receiver::wants_data`], and written only if `handle_data` says so), the disk
///    answers [`Receiver::handle_checked`] (to [`Job::Verify`]), [`Receiver::handle_named`]
///    (to [`Job::Name`]), [`Receiver::handle_folders`] (to [`Job::Folders`]),
///    [`Receiver::handle_stopped`] (to [`Job::Stop`]), and [`Receiver::handle_timeout`],
///    [`Receiver::handle_link_lost`], and [`Receiver::fail`] for local trouble (cancel);
/// 3. after each input, drain [`Receiver::poll_job`] (in order), [`Receiver::poll_transmit`]
///    and [`Receiver::poll_update`], take [`Receiver::poll_outcome`] once it is there, and
///    read [`Receiver::poll_timeout`].
///
/// Queries: [`Receiver::files`], [`Receiver::position`] (the open file and its bytes so
/// far), [`Receiver::is_over`], [`Receiver::wants_input`], [`Receiver::wants_data`].
#[derive(Debug)]
pub struct Receiver {
    peer: ClientId,
    files: Vec<Expected>,
    /// The next file the sender must announce.
    next: usize,
    /// The file being received and how far it got (offset included).
    current: Option<(Expected, u64)>,
    phase: Phase,
    deadline: Duration,
    /// When the link was up (the bound on `Wait` counts from here).
    started: Instant,
    /// The sender said `Wait` and no file was announced since.
    waiting: bool,
    last_rx: Instant,
    last_tx: Instant,
    last_ack: Instant,
    moved: u64,
    checking: usize,
    ready: Vec<u32>,
    ready_bytes: u64,
    naming: bool,
    folders: Folders,
    writer_stopped: bool,
    saved: Vec<PathBuf>,
    failed: Vec<FileFailed>,
    meter: Meter,
    jobs: VecDeque<Job>,
    transmits: VecDeque<Control>,
    updates: VecDeque<Update>,
    outcome: Option<Result<Tally, Error>>,
}

impl Receiver {
    /// Expects `files` from `peer`, in this order; a sender silent for `deadline` has
    /// stalled. Transmits `Hello` with the resume offsets.
    pub fn new(peer: ClientId, files: Vec<Expected>, deadline: Duration, now: Instant) -> Self {
        let total = files.iter().map(|f| f.size).sum();
        let resumed = files.iter().map(|f| f.offset).sum();
        let hello = Control::Hello {
            offsets: files.iter().map(|f| f.offset).collect(),
        };
        Self {
            peer,
            files,
            next: 0,
            current: None,
            phase: Phase::Receiving,
            deadline,
            started: now,
            waiting: false,
            last_rx: now,
            last_tx: now,
            last_ack: now,
            moved: 0,
            checking: 0,
            ready: Vec::new(),
            ready_bytes: 0,
            naming: false,
            folders: Folders::Due,
            writer_stopped: false,
            saved: Vec::new(),
            failed: Vec::new(),
            meter: Meter::new(total, resumed, now),
            jobs: VecDeque::new(),
            transmits: VecDeque::from([hello]),
            updates: VecDeque::new(),
            outcome: None,
        }
    }

    /// The files, in order.
    pub fn files(&self) -> &[Expected] {
        &self.files
    }

    /// The file being received and its bytes so far (offset included).
    pub fn position(&self) -> Option<(u32, u64)> {
        self.current.map(|(e, at)| (e.index, at))
    }

    /// Whether the outcome is known.
    pub fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Over)
    }

    /// Whether to read from the sender now. False while the disk is behind (too many
    /// verifications under way, or a full group waiting for the previous one's names),
    /// so that the sender waits instead of our memory growing.
    pub fn wants_data(&self) -> bool {
        matches!(self.phase, Phase::Receiving)
            && self.checking < MAX_CHECKING
            && !(self.naming && self.group_full())
    }

    /// Whether to read from the sender at all: while data is wanted, and after `Done`
    /// (when only an `Abort` can come).
    pub fn wants_input(&self) -> bool {
        self.wants_data() || matches!(self.phase, Phase::Draining)
    }

    fn group_full(&self) -> bool {
        self.ready.len() >= NAME_GROUP_FILES || self.ready_bytes >= NAME_GROUP_BYTES
    }

    /// A control message from the sender.
    pub fn handle_control(&mut self, msg: Control, now: Instant) {
        match self.phase {
            Phase::Receiving | Phase::Draining => {}
            Phase::Stopping(_) | Phase::Over => return,
        }
        self.last_rx = now;
        let result = match msg {
            Control::Abort { reason } => {
                self.stop(Error::aborted_by(self.peer, reason), false);
                return;
            }
            _ if !matches!(self.phase, Phase::Receiving) => Err(Violation::Unexpected),
            Control::Wait => self.wait(now),
            Control::File { index, offset } => self.file(index, offset),
            Control::End { index, hash } => self.end(index, hash),
            Control::Done => self.done(),
            _ => Err(Violation::Unexpected),
        };
        if let Err(v) = result {
            self.fail(Error::Protocol(v));
        }
    }

    /// The sender holds us back before its first file; its `Wait` counts as life (the
    /// stall clock was reset) until [`WAIT_LIMIT`] after the start.
    fn wait(&mut self, now: Instant) -> Result<(), Violation> {
        if self.next != 0 || self.current.is_some() {
            return Err(Violation::Unexpected);
        }
        if now >= self.started + WAIT_LIMIT {
            self.stop(Error::Stalled, false);
            return Ok(());
        }
        if !std::mem::replace(&mut self.waiting, true) {
            self.updates.push_back(Update::Waiting);
        }
        Ok(())
    }

    fn file(&mut self, index: u32, offset: u64) -> Result<(), Violation> {
        let expected = *self.files.get(self.next).ok_or(Violation::WrongFile)?;
        if self.current.is_some() || expected.index != index || expected.offset != offset {
            return Err(Violation::WrongFile);
        }
        self.current = Some((expected, offset));
        self.waiting = false;
        self.jobs.push_back(Job::Open(expected));
        Ok(())
    }

    fn end(&mut self, index: u32, hash: [u8; 32]) -> Result<(), Violation> {
        let (expected, at) = self.current.ok_or(Violation::Unexpected)?;
        if expected.index != index {
            return Err(Violation::WrongFile);
        }
        if at != expected.size {
            return Err(Violation::Incomplete);
        }
        self.current = None;
        self.next += 1;
        self.checking += 1;
        self.jobs.push_back(Job::Verify { index, hash });
        Ok(())
    }

    fn done(&mut self) -> Result<(), Violation> {
        if self.current.is_some() {
            return Err(Violation::Incomplete);
        }
        if self.next != self.files.len() {
            return Err(Violation::Missing);
        }
        self.phase = Phase::Draining;
        self.advance(self.last_rx);
        Ok(())
    }

    /// `len` bytes of data for the open file. Returns whether to write them; `false`
    /// means the sender broke the protocol and the transfer is stopping. Only bytes
    /// (`len` > 0) reset the stall clock.
    pub fn handle_data(&mut self, len: usize, now: Instant) -> bool {
        if !matches!(self.phase, Phase::Receiving) {
            if matches!(self.phase, Phase::Draining) {
                self.fail(Error::Protocol(Violation::StrayData));
            }
            return false;
        }
        // Only bytes are progress: empty frames do not hold off the stall.
        if len > 0 {
            self.last_rx = now;
        }
        let Some((expected, at)) = self.current.as_mut() else {
            self.fail(Error::Protocol(Violation::StrayData));
            return false;
        };
        let Some(end) = at
            .checked_add(len as u64)
            .filter(|&end| end <= expected.size)
        else {
            self.fail(Error::Protocol(Violation::TooMuch));
            return false;
        };
        *at = end;
        let at = FileAt {
            index: expected.index,
            done: end,
            size: expected.size,
        };
        self.moved += len as u64;
        self.meter.add(len as u64);
        if now.saturating_duration_since(self.last_ack) >= ACK_EVERY {
            self.last_ack = now;
            self.transmit(Control::Got { bytes: self.moved }, now);
        }
        if let Some(p) = self.meter.report(Some(at), false, now) {
            self.updates.push_back(Update::Progress(p));
        }
        true
    }

    /// A [`Job::Verify`] finished (or failed to run).
    pub fn handle_checked(&mut self, index: u32, result: Result<Verdict, Error>, now: Instant) {
        let was = self.wants_data();
        self.checking = self.checking.saturating_sub(1);
        match result {
            Ok(Verdict::Intact) => {
                self.ready.push(index);
                self.ready_bytes += self.size_of(index);
            }
            Ok(Verdict::Mismatch) => self.file_failed(index, FileFailure::Integrity, now),
            Err(e) => self.fail(e),
        }
        self.resume_clock(was, now);
        self.advance(now);
    }

    /// A [`Job::Name`] group finished.
    pub fn handle_named(&mut self, group: Vec<Named>, now: Instant) {
        let was = self.wants_data();
        self.naming = false;
        for Named { index, path } in group {
            match path {
                Some(path) => {
                    self.saved.push(path.clone());
                    if !self.is_stopping() {
                        self.transmit(Control::Verified { index }, now);
                    }
                    self.updates.push_back(Update::FileDone {
                        index,
                        path: Some(path),
                    });
                }
                None => self.file_failed(index, FileFailure::Storage, now),
            }
        }
        self.resume_clock(was, now);
        self.advance(now);
    }

    /// [`Job::Folders`] finished.
    pub fn handle_folders(&mut self, result: Result<(), Error>, now: Instant) {
        match result {
            Ok(()) => self.folders = Folders::Made,
            Err(e) => self.fail(e),
        }
        self.advance(now);
    }

    /// [`Job::Stop`] finished.
    pub fn handle_stopped(&mut self, now: Instant) {
        self.writer_stopped = true;
        self.advance(now);
    }

    /// Time passed: a silent sender has stalled (and one that kept saying `Wait` for
    /// [`WAIT_LIMIT`]); a busy disk sends keep-alives.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.wants_data() && now >= self.last_rx + self.deadline {
            return self.stop(Error::Stalled, false);
        }
        if self.waiting && now >= self.started + WAIT_LIMIT {
            return self.stop(Error::Stalled, false);
        }
        if self.disk_busy() && now >= self.last_tx + KEEPALIVE {
            self.transmit(Control::Got { bytes: self.moved }, now);
        }
    }

    /// The connection broke: what arrived of the open file is kept for a resume.
    pub fn handle_link_lost(&mut self) {
        self.stop(Error::ConnectionLost, false);
    }

    /// Local trouble (cancel, a disk error) stops the transfer; the sender is told why.
    pub fn fail(&mut self, error: Error) {
        self.stop(error, true);
    }

    fn stop(&mut self, error: Error, tell: bool) {
        if self.is_stopping() || self.is_over() {
            return;
        }
        if tell && let Some(reason) = error.abort_reason() {
            self.transmits.push_back(Control::Abort { reason });
        }
        self.jobs.push_back(Job::Stop {
            keep: error.keeps_part(),
        });
        self.phase = Phase::Stopping(error);
        self.advance(self.last_rx);
    }

    fn is_stopping(&self) -> bool {
        matches!(self.phase, Phase::Stopping(_))
    }

    fn disk_busy(&self) -> bool {
        self.checking > 0 || self.naming || self.folders == Folders::Creating
    }

    /// Reading again after the disk held us: the sender's silence meanwhile was ours.
    fn resume_clock(&mut self, was: bool, now: Instant) {
        if !was && self.wants_data() {
            self.last_rx = now;
        }
    }

    fn size_of(&self, index: u32) -> u64 {
        self.files
            .iter()
            .find(|f| f.index == index)
            .map_or(0, |f| f.size)
    }

    fn file_failed(&mut self, index: u32, reason: FileFailure, now: Instant) {
        self.failed.push(FileFailed { index, reason });
        if !self.is_stopping() {
            self.transmit(Control::Failed { index, reason }, now);
        }
        self.updates.push_back(Update::FileFailed { index, reason });
    }

    fn transmit(&mut self, msg: Control, now: Instant) {
        self.last_tx = now;
        self.transmits.push_back(msg);
    }

    /// Starts what can start (a naming group, the folders) and ends what is finished.
    fn advance(&mut self, now: Instant) {
        let receiving = matches!(self.phase, Phase::Receiving);
        let settled = self.checking == 0;
        if !self.naming && !self.ready.is_empty() && (self.group_full() || (!receiving && settled))
        {
            self.naming = true;
            self.ready_bytes = 0;
            self.jobs
                .push_back(Job::Name(std::mem::take(&mut self.ready)));
        }
        if receiving || !settled || self.naming || !self.ready.is_empty() {
            return;
        }
        match &self.phase {
            Phase::Draining => match self.folders {
                Folders::Due => {
                    self.folders = Folders::Creating;
                    self.jobs.push_back(Job::Folders);
                }
                Folders::Creating => {}
                Folders::Made => {
                    if let Some(p) = self.meter.report(None, true, now) {
                        self.updates.push_back(Update::Progress(p));
                    }
                    self.transmit(Control::Finished, now);
                    let failed = std::mem::take(&mut self.failed);
                    let outcome = verdict(self.tally(), failed, self.files.len());
                    self.phase = Phase::Over;
                    self.outcome = Some(outcome);
                }
            },
            Phase::Stopping(_) if self.writer_stopped => {
                if let Phase::Stopping(e) = std::mem::replace(&mut self.phase, Phase::Over) {
                    self.outcome = Some(Err(e));
                }
            }
            _ => {}
        }
    }

    fn tally(&mut self) -> Tally {
        Tally {
            files: self.saved.len(),
            bytes: self.files.iter().map(|f| f.size).sum(),
            moved: self.moved,
            resumed: self.files.iter().map(|f| f.offset).sum(),
            saved: std::mem::take(&mut self.saved),
        }
    }

    /// The next disk job.
    pub fn poll_job(&mut self) -> Option<Job> {
        self.jobs.pop_front()
    }

    /// The next message for the sender.
    pub fn poll_transmit(&mut self) -> Option<Control> {
        self.transmits.pop_front()
    }

    /// The next update for whoever watches the transfer.
    pub fn poll_update(&mut self) -> Option<Update> {
        self.updates.pop_front()
    }

    /// When [`Receiver::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let stall = self.wants_data().then(|| {
            let silent = self.last_rx + self.deadline;
            match self.waiting {
                true => silent.min(self.started + WAIT_LIMIT),
                false => silent,
            }
        });
        let alive = self.disk_busy().then(|| self.last_tx + KEEPALIVE);
        match (stall, alive) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How the transfer ended, once (taken by the first call).
    pub fn poll_outcome(&mut self) -> Option<Result<Tally, Error>> {
        self.outcome.take()
    }
}

#[cfg(test)]
mod tests;
