//! Direct file transfer between clients. The hub only brokers: an offer, an answer, a
//! single-use ticket. The bytes go as [`wire`] frames on mutual TLS straight between the
//! two machines (or, when they cannot reach each other, through the hub's relay with the
//! same end-to-end TLS inside).
//!
//! # Layout
//! The protocol is in pure state machines, tested with synthetic time; the drivers only
//! move bytes:
//! - [`Sender`] and [`Receiver`]: the two sides of a peer connection (what to send next,
//!   what was verified, resume offsets, deadlines, verdicts); `meter.rs` measures their
//!   rate, `sim.rs` (tests) runs the two against each other in synthetic time;
//! - the hub's answers to our offers and accepts (offer → answer → ticket) reach each
//!   transfer through the session ([`crate::session::Handle`] sends them,
//!   [`crate::session::Brokered`] hands back each one's [`crate::session::Answer`]s);
//! - [`send`] / [`send_source`] / [`resume`] / [`receive`]: the drivers, each a
//!   [`Transfer`] stream of [`Update`]s; `race.rs` establishes the connection (listener,
//!   ticket, direct or relayed, over [`peer`]'s pinned TLS), `read_ahead.rs` reads the
//!   sender's files, `write_behind.rs` writes and names the receiver's, `pump.rs` moves
//!   messages, `link.rs` reads and writes them as frames on the TLS stream;
//! - [`many`]: the same files to several recipients, one transfer (a copy) each, with a
//!   coordinator that shares the reading of the source and caps the copies running;
//! - [`link_test`] (the prober) and [`answer_link_tests`] (the wrapper front ends put
//!   around a session's updates to answer others' tests): a transfer with no file;
//! - [`wire`]: the messages on a peer connection; [`source`]: local files → a manifest;
//!   [`name`] and [`store`]: safe names and safe writes in the download folder;
//!   `error.rs`: [`Error`], [`Violation`], [`FileFailed`].

mod error;
mod link;
mod link_test;
pub mod many;
mod meter;
mod pump;
mod race;
mod read_ahead;
mod read_buffer;
mod receive;
mod receiver;
mod send;
mod sender;
#[cfg(test)]
mod sim;
mod spare;
mod write_behind;

pub mod name;
pub mod peer;
pub mod source;
pub mod store;
pub mod wire;

#[cfg(feature = "test-util")]
#[doc(hidden)]
pub use link::LinkReader;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_channel::{Receiver as Inbox, Sender as Outbox};
use futures::{FutureExt, Stream, StreamExt};

pub use error::{Error, FileFailed, Violation};
pub use link_test::{LinkReport, answer_link_tests, link_test};
pub use receiver::{Expected, Job, Named, Receiver, Verdict};
pub use sender::{Outgoing, Sender};

use crate::limits;
use crate::proto::{ClientId, IncomingOffer, TransferId};
use crate::session::Handle;
use source::Source;
use wire::FileFailure;

/// How a transfer connects. [`Options::default`] listens on every interface and allows
/// the relay.
#[derive(Clone, Debug)]
pub struct Options {
    /// Listen for the other side on this address (port 0: chosen by the system); `None`
    /// does not listen (then only outgoing connections and the relay are tried).
    pub listen: Option<SocketAddr>,
    /// Announce these addresses instead of the listener's interface addresses.
    pub advertise: Option<Vec<SocketAddr>>,
    /// How long each direct way gets before the next is tried.
    pub direct_wait: Duration,
    /// Give up connecting after this long.
    pub connect_deadline: Duration,
    /// Whether to fall back to the hub's relay.
    pub relay: bool,
    /// How long a ticket is accepted after it arrived.
    pub ticket_ttl: Duration,
    /// Receiver: free space to keep beyond the offer's size.
    pub free_space_margin: u64,
    /// Abort when the transfer does not move for this long.
    pub progress_deadline: Duration,
    /// Sender: if the recipient is offline, leave the offer at the hub (it reaches them
    /// at their next login) and wait, through hub reconnects, until they answer
    /// ([`Update::Stored`]); cancelling withdraws it.
    pub wait: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)),
            advertise: None,
            direct_wait: limits::DIRECT_WAIT,
            connect_deadline: limits::DIRECT_WAIT * 2 + limits::LOGIN_DEADLINE,
            relay: true,
            ticket_ttl: limits::TICKET_TTL,
            free_space_margin: limits::FREE_SPACE_MARGIN,
            progress_deadline: limits::PROGRESS_DEADLINE,
            wait: false,
        }
    }
}

/// How the bytes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// Straight between the two machines.
    Direct,
    /// Through the hub, end-to-end encrypted.
    Relayed,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Direct => "direct",
            Self::Relayed => "relayed through the hub",
        })
    }
}

/// Where a transfer stands.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// The file being moved (manifest index), if any.
    pub file: Option<u32>,
    /// Bytes of that file done.
    pub file_bytes: u64,
    /// Its size.
    pub file_size: u64,
    /// Bytes done over all accepted files (resumed bytes included).
    pub bytes: u64,
    /// Total bytes of all accepted files.
    pub total: u64,
    /// Recent rate in bytes per second.
    pub rate: f64,
    /// Estimated time left.
    pub eta: Option<Duration>,
}

/// What a side's state machine counted by the end of a transfer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Accepted files verified (receiver: and saved).
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Bytes that crossed the connection this time.
    pub moved: u64,
    /// Bytes that were already on the receiver's disk (resumed).
    pub resumed: u64,
    /// Receiver: where each file was saved (absolute paths), in the order they were.
    pub saved: Vec<PathBuf>,
}

/// How a finished transfer went.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The transfer.
    pub id: TransferId,
    /// Direct or relayed.
    pub route: Route,
    /// Accepted files, all verified.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Bytes that crossed the link this time.
    pub moved: u64,
    /// Bytes that were already on the receiver's disk (resumed).
    pub resumed: u64,
    /// Wall time from the first connection attempt.
    pub elapsed: Duration,
    /// Receiver: where each file was saved (absolute paths), in order.
    pub saved: Vec<PathBuf>,
}

impl Summary {
    fn new(id: TransferId, route: Route, elapsed: Duration, tally: Tally) -> Self {
        Self {
            id,
            route,
            files: tally.files,
            bytes: tally.bytes,
            moved: tally.moved,
            resumed: tally.resumed,
            elapsed,
            saved: tally.saved,
        }
    }
}

/// What a transfer stream yields; the last item is always [`Update::Finished`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Update {
    /// Sender: the hub forwarded the offer; waiting for the answer.
    Offered {
        /// The hub's id.
        id: TransferId,
    },
    /// Sender: the recipient is offline; the hub keeps the offer and hands it over at
    /// their next login. The transfer starts by itself once they accept.
    Stored {
        /// The hub's id.
        id: TransferId,
    },
    /// The offer was accepted (these file indices); connecting.
    Accepted {
        /// Accepted indices.
        files: Vec<u32>,
    },
    /// Connected to the other side.
    Connected {
        /// How.
        route: Route,
    },
    /// Receiver: connected, and the sender holds this copy back until one of its other
    /// copies is done (a send to many beyond its running cap); it keeps the link alive
    /// meanwhile and the bytes follow. Cleared by the next `Progress`.
    Waiting,
    /// Bytes moved.
    Progress(Progress),
    /// One file was verified (receiver: and saved at `path`).
    FileDone {
        /// Manifest index.
        index: u32,
        /// Receiver: where it was saved.
        path: Option<PathBuf>,
    },
    /// One file failed; the others go on.
    FileFailed {
        /// Manifest index.
        index: u32,
        /// Why.
        reason: FileFailure,
    },
    /// The end.
    Finished(Result<Summary, Arc<Error>>),
}

/// A running transfer: a stream of [`Update`]s. Dropping it stops the transfer at once;
/// [`Transfer::canceller`] stops it politely, telling the other side.
pub struct Transfer {
    stream: futures::stream::Fuse<Pin<Box<dyn Stream<Item = Update> + Send>>>,
    cancel: Outbox<()>,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer").finish_non_exhaustive()
    }
}

/// Cancels a [`Transfer`]; the other side sees "cancelled by" us.
#[derive(Clone, Debug)]
pub struct Canceller(Outbox<()>);

impl Canceller {
    /// Asks the transfer to stop.
    pub fn cancel(&self) {
        let _ = self.0.try_send(());
    }
}

impl Transfer {
    /// A handle that cancels this transfer.
    pub fn canceller(&self) -> Canceller {
        Canceller(self.cancel.clone())
    }
}

impl Stream for Transfer {
    type Item = Update;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Update>> {
        self.stream.poll_next_unpin(cx)
    }
}

impl futures::stream::FusedStream for Transfer {
    fn is_terminated(&self) -> bool {
        self.stream.is_terminated()
    }
}

/// What a driver needs besides its arguments: the session, who we are, the cancel line
/// and where updates go.
pub(crate) struct Ctx {
    pub(crate) handle: Handle,
    pub(crate) me: ClientId,
    pub(crate) cancel: Inbox<()>,
    updates: Outbox<Update>,
    /// Answering a link test of this way: dial the prober only where the hub sees it.
    pub(crate) answering: Option<crate::proto::LinkTest>,
    /// One of the transfers of a send to many: their shared reader and running slots.
    pub(crate) shared: Option<Arc<many::Shared>>,
}

impl Ctx {
    pub(crate) async fn update(&self, u: Update) {
        let _ = self.updates.send(u).await;
    }
}

/// Runs a driver as a [`Transfer`]: its updates, then [`Update::Finished`] with its result.
/// Nothing is spawned; the driver runs while the stream is polled.
fn transfer_stream<F>(handle: Handle, run: impl FnOnce(Ctx) -> F) -> Transfer
where
    F: Future<Output = Result<Summary, Error>> + Send + 'static,
{
    shared_stream(handle, None, run)
}

/// [`transfer_stream`] for one of the transfers of a send to many.
fn shared_stream<F>(
    handle: Handle,
    shared: Option<Arc<many::Shared>>,
    run: impl FnOnce(Ctx) -> F,
) -> Transfer
where
    F: Future<Output = Result<Summary, Error>> + Send + 'static,
{
    let (updates, rx) = async_channel::bounded(64);
    let (cancel_tx, cancel) = async_channel::bounded(1);
    let ctx = Ctx {
        me: handle.id(),
        handle,
        cancel,
        updates: updates.clone(),
        answering: None,
        shared,
    };
    let fut = run(ctx);
    let driver = async move {
        let result = fut.await.map_err(Arc::new);
        let _ = updates.send(Update::Finished(result)).await;
    }
    .into_stream()
    .filter_map(|()| std::future::ready(None));
    // The driver ends after sending `Finished`; the channel then ends the stream.
    let stream = futures::stream::select(driver, rx);
    let stream: Pin<Box<dyn Stream<Item = Update> + Send>> = Box::pin(stream);
    Transfer {
        stream: stream.fuse(),
        cancel: cancel_tx,
    }
}

/// Offers `paths` (files and folders) to `to` and sends them once accepted.
///
/// The session behind `handle` must be running (its stream polled).
pub fn send(handle: Handle, to: ClientId, paths: Vec<PathBuf>, options: Options) -> Transfer {
    transfer_stream(handle, move |ctx| async move {
        let source = blocking::unblock(move || Source::from_paths(&paths)).await?;
        send::run(&ctx, to, source, &options).await
    })
}

/// Like [`send`] with a manifest built by the caller: each manifest file is read from
/// the matching entry of `source.paths`.
pub fn send_source(handle: Handle, to: ClientId, source: Source, options: Options) -> Transfer {
    transfer_stream(handle, move |ctx| async move {
        send::run(&ctx, to, source, &options).await
    })
}

/// Offers again, after a restart of this program, the files of an offer the hub keeps
/// for `to` (sent with [`Options::wait`]; [`Update::Stored`] or [`Update::Offered`]
/// named its `id`): reclaims it ([`Update::Offered`] once asked) and waits for the
/// answer as [`send`] does, then sends
/// `source` (the same files read again: if they changed, their manifest is not the one
/// kept and the transfer fails before a byte goes). Ends with [`Error::NoLongerStored`] when
/// the hub no longer has it (answered, withdrawn or expired meanwhile).
pub fn resume(
    handle: Handle,
    to: ClientId,
    id: TransferId,
    source: Source,
    options: Options,
) -> Transfer {
    transfer_stream(handle, move |ctx| async move {
        send::resume(&ctx, to, id, source, &options).await
    })
}

/// Accepts `offer` (all files, or the manifest indices in `files`) into `dir` and
/// receives it. Checks free space first and declines with
/// [`crate::proto::Declined::NoSpace`] if the files do not fit. Interrupted transfers
/// leave `.part` files that the next offer of the same files resumes from.
pub fn receive(
    handle: Handle,
    offer: IncomingOffer,
    files: Option<Vec<u32>>,
    dir: PathBuf,
    options: Options,
) -> Transfer {
    transfer_stream(handle, move |ctx| async move {
        receive::run(&ctx, offer, files, dir, &options).await
    })
}
