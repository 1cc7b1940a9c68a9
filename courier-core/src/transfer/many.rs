//! Files to many people at once: the same files offered to several recipients, one
//! ordinary transfer each (so every copy goes direct or relayed, pinned, verified and
//! resumable like any other), with a coordinator on the sending side.
//!
//! The coordinator does three things the transfers cannot do alone:
//! - it **shares the reading** of the source: the transfers read their files through one
//!   block cache (`blocks.rs`), so the disk is read once per block for all the copies
//!   running at that time; the cache holds at most [`Config::cache_blocks`] blocks, and a
//!   copy far behind the others (or resuming elsewhere) reads on its own;
//! - it **caps the copies running** ([`Config::running`], [`RUNNING`] by default) so that a
//!   sender on Wi-Fi does not split its link between everyone at once: the others are
//!   offered as places free up (an offer stored for an offline recipient, or one nobody
//!   answered for [`Config::park`], gives its place back); a copy accepted while the
//!   places are all taken (offers accepted late, say by everyone logging in at once)
//!   waits on its link, before its first file, for a place (`places.rs`), telling the
//!   receiver `Wait` every few seconds so that it does not stall;
//! - it **waits for the offline** (every offer is made as with [`super::Options::wait`]) and
//!   **tries again** a copy whose link was lost ([`Config::attempts`]): the new offer
//!   reaches the recipient now or at their next login, and the copy resumes where it
//!   stopped.
//!
//! The copies of a wave set off together from a start line (`gate.rs`), so that they read
//! together: the line waits for everyone offered with them (at most [`START_LINE`]), and
//! the offers keep to the hub's pace. `schedule.rs` is the pure part (who is offered
//! when, what became of each).

pub(crate) mod blocks;
mod gate;
pub(crate) mod places;
mod schedule;

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_channel::Sender as Outbox;
use futures::stream::SelectAll;
use futures::{FutureExt, Stream, StreamExt};

use super::source::Source;
use super::{Canceller, Error, Options, Summary, shared_stream};
use crate::proto::ClientId;
use crate::session::Handle;
use blocks::Blocks;
use gate::Gate;
pub use gate::START_LINE;
use schedule::Schedule;

/// Copies running at once by default.
pub const RUNNING: usize = 4;

/// Bytes of a block of the shared reader: each copy reads one block per trip to the disk
/// thread (half a lone transfer's batch, so that four copies hold no more than two).
pub const BLOCK: usize = 1 << 20;

/// How a send to many runs. [`Config::default`]: [`RUNNING`] copies at once, a cache of
/// 6 blocks of 1 MiB, 4 tries per recipient.
#[derive(Clone, Debug)]
pub struct Config {
    /// Copies offered or running at once; the others wait for a place. The copies running
    /// together read the source once: with a cap of at least the recipients, it is read
    /// once in all; with less, about once per wave.
    pub running: usize,
    /// Blocks the shared reader keeps (of [`BLOCK`] bytes each).
    pub cache_blocks: usize,
    /// An offer nobody answered for this long gives its place to the next recipient
    /// (it stays valid: if accepted later, that copy runs too).
    pub park: Duration,
    /// Pause before a copy is offered again.
    pub retry_pause: Duration,
    /// Offers per recipient, the first included, when links are lost.
    pub attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            running: RUNNING,
            cache_blocks: 6,
            park: Duration::from_secs(10),
            retry_pause: Duration::from_secs(1),
            attempts: 4,
        }
    }
}

/// What the transfers of one send to many share.
pub(crate) struct Shared {
    /// The shared reader.
    pub(crate) blocks: Arc<Blocks>,
    /// The start line: the copies of a wave set off together (`gate.rs`).
    pub(crate) gate: Gate,
    /// The running places ([`Config::running`] of them).
    pub(crate) places: places::Places,
}

/// What became of one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not settled yet.
    Pending,
    /// Every accepted file arrived and was verified.
    Verified,
    /// They said no (or had no room, or cancelled on their side before accepting).
    Declined,
    /// We cancelled before they had everything.
    Cancelled,
    /// The copy failed (and tries ran out, when it could be tried again), or they
    /// cancelled it after accepting.
    Failed,
}

/// One recipient's outcome.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The recipient.
    pub to: ClientId,
    /// How it ended.
    pub status: Status,
    /// They were offline when offered (the hub kept the offer for their next login).
    pub offline: bool,
    /// Files they accepted (once they did).
    pub accepted: Option<usize>,
    /// Files verified.
    pub verified: usize,
    /// Bytes they have (resumed included), of `total`.
    pub bytes: u64,
    /// Bytes of the files they accepted.
    pub total: u64,
    /// Offers made to them.
    pub attempts: u32,
    /// The last transfer's summary, when it succeeded.
    pub summary: Option<Summary>,
    /// The last error, if any (for a verified copy: one that was tried again).
    pub error: Option<Arc<Error>>,
}

impl Outcome {
    fn new(to: ClientId) -> Self {
        Self {
            to,
            status: Status::Pending,
            offline: false,
            accepted: None,
            verified: 0,
            bytes: 0,
            total: 0,
            attempts: 0,
            summary: None,
            error: None,
        }
    }
}

/// How a send to many went.
#[derive(Clone, Debug)]
pub struct Report {
    /// Each recipient, in the order given.
    pub outcomes: Vec<Outcome>,
    /// Bytes the shared reader read from disk (resumed prefixes, hashed by each copy on
    /// its own, are not counted).
    pub read_from_disk: u64,
}

impl Report {
    /// Whether every recipient who accepted has verified every file they accepted (and
    /// nothing failed or was cancelled). Declines are not failures.
    pub fn all_verified(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| matches!(o.status, Status::Verified | Status::Declined))
    }
}

/// What a send to many yields; the last item is always [`Update::Finished`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Update {
    /// An offer to `to` is being made (`attempt` from 1).
    Started {
        /// The recipient.
        to: ClientId,
        /// Which try.
        attempt: u32,
    },
    /// What the transfer to `to` reports (never its `Finished`: see [`Update::Settled`]
    /// and [`Update::Retrying`]).
    Transfer {
        /// The recipient.
        to: ClientId,
        /// The update.
        update: super::Update,
    },
    /// The copy to `to` failed and will be offered again.
    Retrying {
        /// The recipient.
        to: ClientId,
        /// Why it failed.
        error: Arc<Error>,
    },
    /// A recipient is settled.
    Settled(Outcome),
    /// The end: every recipient's outcome.
    Finished(Result<Report, Arc<Error>>),
}

/// A running send to many: a stream of [`Update`]s. Dropping it stops every copy;
/// [`Many::canceller`] stops them politely.
pub struct Many {
    stream: futures::stream::Fuse<Pin<Box<dyn Stream<Item = Update> + Send>>>,
    cancel: Outbox<()>,
}

impl std::fmt::Debug for Many {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Many").finish_non_exhaustive()
    }
}

impl Many {
    /// A handle that cancels every copy (and withdraws offers still waiting).
    pub fn canceller(&self) -> Canceller {
        Canceller(self.cancel.clone())
    }
}

impl Stream for Many {
    type Item = Update;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Update>> {
        self.stream.poll_next_unpin(cx)
    }
}

/// Offers `paths` (files and folders) to every one of `to` and sends each copy once that
/// recipient accepts; see the [module docs](self). `options` apply to each copy
/// (`wait` is always on). Nothing is spawned: the copies run while the stream is polled.
///
/// The session behind `handle` must be running (its stream polled).
pub fn send(
    handle: Handle,
    to: Vec<ClientId>,
    paths: Vec<PathBuf>,
    options: Options,
    config: Config,
) -> Many {
    let (updates, rx) = async_channel::bounded(64);
    let (cancel_tx, cancel) = async_channel::bounded(1);
    let out = updates.clone();
    let driver = async move {
        let report = run(handle, to, paths, options, config, &out, cancel).await;
        let _ = out.send(Update::Finished(report.map_err(Arc::new))).await;
    }
    .into_stream()
    .filter_map(|()| std::future::ready(None));
    drop(updates);
    let stream: Pin<Box<dyn Stream<Item = Update> + Send>> =
        Box::pin(futures::stream::select(driver, rx));
    Many {
        stream: stream.fuse(),
        cancel: cancel_tx,
    }
}

type Copy = Pin<Box<dyn Stream<Item = (ClientId, super::Update)> + Send>>;

/// What woke the coordinator.
enum Input {
    Cancel,
    Copy(ClientId, super::Update),
    /// A copy's stream ended after its `Finished`: look again whether all is over.
    CopyGone,
    Timer,
}

async fn run(
    handle: Handle,
    to: Vec<ClientId>,
    paths: Vec<PathBuf>,
    options: Options,
    config: Config,
    out: &Outbox<Update>,
    cancel: async_channel::Receiver<()>,
) -> Result<Report, Error> {
    let source = blocking::unblock(move || Source::from_paths(&paths)).await?;
    let blocks = Arc::new(Blocks::new(BLOCK, config.cache_blocks));
    let shared = Arc::new(Shared {
        blocks: blocks.clone(),
        gate: Gate::default(),
        places: places::Places::new(config.running),
    });
    let options = Options {
        wait: true,
        ..options
    };
    let mut schedule = Schedule::new(handle.id(), &to, &config);
    let mut copies: SelectAll<Copy> = SelectAll::new();
    let mut cancellers: Vec<(ClientId, Canceller)> = Vec::new();
    let mut cancelled = false;
    loop {
        let now = Instant::now();
        while let Some(to) = schedule.poll_start(now) {
            let (source, options) = (source.clone(), options.clone());
            let copy = shared_stream(
                handle.clone(),
                Some(shared.clone()),
                move |ctx| async move { super::send::run(&ctx, to, source, &options).await },
            );
            cancellers.push((to, copy.canceller()));
            copies.push(Box::pin(copy.map(move |u| (to, u))));
            let attempt = schedule.attempts_of(to);
            let _ = out.send(Update::Started { to, attempt }).await;
        }
        // Who the copies at the start line wait for.
        let (coming, next) = schedule.coming(now);
        shared.gate.expect(coming, next);
        while let Some(outcome) = schedule.poll_settled() {
            let _ = out.send(Update::Settled(outcome)).await;
        }
        if schedule.is_over() && copies.is_empty() {
            break;
        }
        let mut timer = match schedule.poll_timeout(Instant::now()) {
            Some(at) => async_io::Timer::at(at),
            None => async_io::Timer::never(),
        };
        let mut cancel_wait = std::pin::pin!(cancel.recv());
        let input = futures::future::poll_fn(|cx| {
            // A closed cancel line (the stream's owner went) also stops everything.
            if !cancelled && cancel_wait.poll_unpin(cx).is_ready() {
                return Poll::Ready(Input::Cancel);
            }
            if !copies.is_empty()
                && let Poll::Ready(next) = copies.poll_next_unpin(cx)
            {
                return Poll::Ready(match next {
                    Some((to, u)) => Input::Copy(to, u),
                    None => Input::CopyGone,
                });
            }
            if timer.poll_unpin(cx).is_ready() {
                return Poll::Ready(Input::Timer);
            }
            Poll::Pending
        })
        .await;
        let now = Instant::now();
        match input {
            Input::Cancel => {
                cancelled = true;
                schedule.cancel();
                for (_, c) in &cancellers {
                    c.cancel();
                }
            }
            Input::Copy(to, super::Update::Finished(result)) => {
                cancellers.retain(|(who, _)| *who != to);
                shared.gate.left(to);
                if let Some(error) = schedule.handle_finished(to, &result, now) {
                    let _ = out.send(Update::Retrying { to, error }).await;
                }
            }
            Input::Copy(to, update) => {
                schedule.handle_update(to, &update);
                let _ = out.send(Update::Transfer { to, update }).await;
            }
            Input::CopyGone => {}
            Input::Timer => schedule.handle_timeout(now),
        }
    }
    Ok(Report {
        outcomes: schedule.outcomes(),
        read_from_disk: blocks.counts().read_bytes,
    })
}
