//! The transfer drivers: [`send`] and [`receive`] run one transfer each and report it as a
//! stream of [`Update`]s. File reads, writes and hashing run on the `blocking` thread pool,
//! one chunk ahead of the socket, so the link never waits on the disk for long.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use async_net::TcpListener;
use async_tungstenite::tungstenite::Message as WsMessage;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, Stream, StreamExt};
use futures_rustls::{TlsAcceptor, TlsConnector};

use super::link::{self, LinkError, Role, Route, Ws};
use super::recv::{Expected, Receiving, Step, Violation};
use super::source::{Source, SourceError};
use super::store::{self, Downloads, Part};
use super::wire::{self, AbortReason, FileFailure, Incoming, Link};
use crate::limits;
use crate::proto::TicketInfo;
use crate::proto::{
    ClientId, Declined, IncomingOffer, ManifestError, OfferRefusal, TransferEnd, TransferId,
};
use crate::session::handle::Signal;
use crate::session::{self, Handle};

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
    /// Abort when nothing arrives from the other side for this long.
    pub progress_deadline: Duration,
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
        }
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

/// What a transfer stream yields; the last item is always [`Update::Finished`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Update {
    /// Sender: the hub forwarded the offer; waiting for the answer.
    Offered {
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

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The files cannot be offered.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The hub did not forward the offer.
    #[error("the hub refused the offer: {0}")]
    Refused(OfferRefusal),
    /// The receiver declined.
    #[error("declined by the receiver")]
    Declined,
    /// The receiver does not have the space.
    #[error("declined: the receiver does not have enough disk space")]
    NoSpaceAtReceiver,
    /// One side cancelled.
    #[error("cancelled by {}", by.short())]
    Cancelled {
        /// Who.
        by: ClientId,
    },
    /// The other side went offline before the transfer started.
    #[error("the other side went offline")]
    PeerGone,
    /// The hub connection dropped before the transfer had its ticket.
    #[error("lost the connection to the hub before the transfer started")]
    HubLost,
    /// The offer we were asked to accept is not acceptable.
    #[error("invalid offer: {0}")]
    InvalidOffer(ManifestError),
    /// The files chosen are not in the offer.
    #[error("the selected files are not part of the offer")]
    BadSelection,
    /// Not enough free space here.
    #[error("not enough disk space: {needed} bytes needed, {available} available")]
    NotEnoughSpace {
        /// Bytes needed (margin included).
        needed: u64,
        /// Bytes free.
        available: u64,
    },
    /// No way to reach the other side.
    #[error("could not connect to the other side ({0})")]
    NoRoute(String),
    /// The receiver's disk filled up.
    #[error("receiver disk full")]
    DiskFull,
    /// A file being sent changed size.
    #[error("a file changed while it was being sent")]
    SourceChanged,
    /// Files failed verification or saving; the others were saved.
    #[error("{} of {total} files failed: {}", failed.len(), failed.first().map(|f| f.1.to_string()).unwrap_or_default())]
    FilesFailed {
        /// Index and reason of each failed file.
        failed: Vec<(u32, FileFailure)>,
        /// Files accepted.
        total: usize,
    },
    /// The other side broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The other side hit a read or write error.
    #[error("the other side could not read or write a file")]
    RemoteIo,
    /// The connection dropped mid-transfer; received bytes are kept for resuming.
    #[error("connection lost")]
    ConnectionLost,
    /// Nothing arrived for [`Options::progress_deadline`] (30 s by default).
    #[error("the transfer stalled")]
    Stalled,
    /// Local file error.
    #[error("{context}")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing in the download folder failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The session is gone.
    #[error(transparent)]
    Session(#[from] session::Error),
    /// TLS could not be set up.
    #[error("TLS setup")]
    Tls(#[from] crate::tls::Error),
}

impl Error {
    fn io(context: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Io { context, source }
    }
}

impl From<Violation> for Error {
    fn from(v: Violation) -> Self {
        Self::Protocol(v.to_string())
    }
}

/// A running transfer: a stream of [`Update`]s. Dropping it stops the transfer at once;
/// [`Transfer::canceller`] stops it politely, telling the other side.
pub struct Transfer {
    stream: futures::stream::Fuse<Pin<Box<dyn Stream<Item = Update> + Send>>>,
    cancel: Sender<()>,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer").finish_non_exhaustive()
    }
}

/// Cancels a [`Transfer`]; the other side sees "cancelled by" us.
#[derive(Clone, Debug)]
pub struct Canceller(Sender<()>);

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

struct Ctx {
    updates: Sender<Update>,
    cancel: Receiver<()>,
    me: ClientId,
}

impl Ctx {
    async fn update(&self, u: Update) {
        let _ = self.updates.send(u).await;
    }
}

fn spawn_stream<F>(run: impl FnOnce(Ctx) -> F) -> Transfer
where
    F: Future<Output = Result<Summary, Error>> + Send + 'static,
{
    let (updates, rx) = async_channel::bounded(64);
    let (cancel_tx, cancel) = async_channel::bounded(1);
    let ctx = Ctx {
        updates: updates.clone(),
        cancel,
        me: ClientId([0; 32]),
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
    spawn_stream(move |mut ctx| {
        ctx.me = handle.id();
        async move {
            let source = blocking::unblock(move || Source::from_paths(&paths)).await?;
            send_run(&ctx, &handle, to, source, &options).await
        }
    })
}

/// Like [`send`] with a manifest built by the caller: each manifest file is read from
/// the matching entry of `source.paths`.
pub fn send_source(handle: Handle, to: ClientId, source: Source, options: Options) -> Transfer {
    spawn_stream(move |mut ctx| {
        ctx.me = handle.id();
        async move { send_run(&ctx, &handle, to, source, &options).await }
    })
}

/// Accepts `offer` (all files, or the manifest indices in `files`) into `dir` and
/// receives it. Checks free space first and declines with [`Declined::NoSpace`] if the
/// files do not fit. Interrupted transfers leave `.part` files that the next offer of
/// the same files resumes from.
pub fn receive(
    handle: Handle,
    offer: IncomingOffer,
    files: Option<Vec<u32>>,
    dir: PathBuf,
    options: Options,
) -> Transfer {
    spawn_stream(move |mut ctx| {
        ctx.me = handle.id();
        async move { receive_run(&ctx, &handle, offer, files, dir, &options).await }
    })
}

/// The addresses to announce for a listener bound to `local`.
fn advertise(options: &Options, local: SocketAddr) -> Vec<SocketAddr> {
    if let Some(list) = &options.advertise {
        return list.iter().take(limits::MAX_ADDRS).copied().collect();
    }
    if !local.ip().is_unspecified() {
        return vec![local];
    }
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|list| list.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    // Real interfaces first, loopback last (it only helps on the same machine).
    ips.sort_by_key(IpAddr::is_loopback);
    ips.retain(|ip| ip.is_ipv4() || !local.is_ipv4());
    ips.into_iter()
        .take(limits::MAX_ADDRS)
        .map(|ip| SocketAddr::new(ip, local.port()))
        .collect()
}

async fn bind(options: &Options) -> Result<Option<(TcpListener, Vec<SocketAddr>)>, Error> {
    let Some(addr) = options.listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(Error::io("listening for the other side"))?;
    let local = listener
        .local_addr()
        .map_err(Error::io("listening for the other side"))?;
    let addrs = advertise(options, local);
    Ok(Some((listener, addrs)))
}

fn ended(end: TransferEnd) -> Error {
    match end {
        TransferEnd::Declined(Declined::ByUser) => Error::Declined,
        TransferEnd::Declined(Declined::NoSpace) => Error::NoSpaceAtReceiver,
        TransferEnd::Cancelled { by } => Error::Cancelled { by },
        TransferEnd::PeerGone => Error::PeerGone,
    }
}

enum Waited {
    Signal(Signal),
    Cancel,
}

async fn wait(signals: &Receiver<Signal>, cancel: &Receiver<()>) -> Waited {
    futures_lite::future::or(
        async {
            match signals.recv().await {
                Ok(s) => Waited::Signal(s),
                Err(_) => Waited::Signal(Signal::HubLost),
            }
        },
        async {
            match cancel.recv().await {
                Ok(()) => Waited::Cancel,
                Err(_) => std::future::pending().await,
            }
        },
    )
    .await
}

/// Waits for the ticket of transfer `id`.
async fn await_ticket(
    ctx: &Ctx,
    handle: &Handle,
    id: TransferId,
    signals: &Receiver<Signal>,
) -> Result<TicketInfo, Error> {
    loop {
        match wait(signals, &ctx.cancel).await {
            Waited::Signal(Signal::Ticket(info)) => return Ok(info),
            Waited::Signal(Signal::Ended(end)) => return Err(ended(end)),
            Waited::Signal(Signal::HubLost) => return Err(Error::HubLost),
            Waited::Signal(_) => {}
            Waited::Cancel => {
                let _ = handle.cancel_transfer(id).await;
                return Err(Error::Cancelled { by: ctx.me });
            }
        }
    }
}

/// Tries every way to reach the other side and returns the first link that works (see
/// [`link`]): the sender picks it and says `Start` on it, the receiver takes the
/// connection on which `Start` arrives.
#[allow(clippy::too_many_arguments)]
async fn establish(
    ctx: &Ctx,
    handle: &Handle,
    role: Role,
    id: TransferId,
    info: &TicketInfo,
    listener: Option<&TcpListener>,
    options: &Options,
    signals: &Receiver<Signal>,
) -> Result<(Ws, Route), Error> {
    let started = Instant::now();
    let valid_until = started + options.ticket_ttl;
    let identity = handle.identity();
    let acceptor = TlsAcceptor::from(crate::tls::pinned_server_config(identity, info.peer)?);
    let connector = TlsConnector::from(crate::tls::pinned_client_config(identity, info.peer)?);
    let ticket = info.ticket;
    type Try<'a> = Pin<Box<dyn Future<Output = Result<(Ws, Route), LinkError>> + Send + 'a>>;
    let mut tries: FuturesUnordered<Try<'_>> = FuturesUnordered::new();
    if let Some(l) = listener {
        let acceptor = acceptor.clone();
        tries.push(Box::pin(async move {
            Ok((
                link::listen(l, acceptor, ticket, valid_until).await,
                Route::Direct,
            ))
        }));
    }
    if !info.addrs.is_empty() {
        let delay = match role {
            Role::Receiver => Duration::ZERO,
            Role::Sender => options.direct_wait,
        };
        let addrs = info.addrs.clone();
        tries.push(Box::pin(async move {
            async_io::Timer::after(delay).await;
            let ws = link::dial(&addrs, connector, ticket).await?;
            Ok((ws, Route::Direct))
        }));
    }
    if options.relay {
        let delay = options.direct_wait * 2;
        let peer = info.peer;
        tries.push(Box::pin(async move {
            async_io::Timer::after(delay).await;
            let ws = link::relay(handle, role, peer, ticket, valid_until).await?;
            Ok((ws, Route::Relayed))
        }));
    }
    if role == Role::Receiver {
        // A way counts once the sender has chosen it.
        tries = tries
            .into_iter()
            .map(|t| -> Try<'_> {
                Box::pin(async move {
                    let (mut ws, route) = t.await?;
                    let deadline = Instant::now() + options.progress_deadline;
                    match link::recv_control(&mut ws, deadline).await? {
                        Link::Start => Ok((ws, route)),
                        _ => Err(LinkError::Protocol),
                    }
                })
            })
            .collect();
    }
    let deadline = async_io::Timer::at(started + options.connect_deadline);
    let mut deadline = FutureExt::fuse(deadline);
    let mut last = String::from("no address to try");
    loop {
        if tries.is_empty() {
            return Err(Error::NoRoute(last));
        }
        futures::select_biased! {
            done = tries.select_next_some() => match done {
                Ok((mut ws, route)) => {
                    if role == Role::Sender {
                        link::send(&mut ws, &Link::Start).await.map_err(|e| Error::NoRoute(e.to_string()))?;
                    }
                    return Ok((ws, route));
                }
                Err(e) => {
                    tracing::debug!("transfer {id}: a way failed: {e}");
                    last = e.to_string();
                }
            },
            w = wait(signals, &ctx.cancel).fuse() => match w {
                Waited::Signal(Signal::Ended(end)) => return Err(ended(end)),
                Waited::Signal(_) => {}
                Waited::Cancel => {
                    let _ = handle.cancel_transfer(id).await;
                    return Err(Error::Cancelled { by: ctx.me });
                }
            },
            _ = deadline => return Err(Error::NoRoute(format!("timed out; last error: {last}"))),
        }
    }
}

/// Both sides, after the answer: wait for the ticket, report the acceptance, open the
/// link and close the listener. Returns the ticket, the link, its route and when
/// connecting started.
#[allow(clippy::too_many_arguments)]
async fn connect_peer(
    ctx: &Ctx,
    handle: &Handle,
    role: Role,
    id: TransferId,
    peer: ClientId,
    bound: Option<(TcpListener, Vec<SocketAddr>)>,
    options: &Options,
    signals: &Receiver<Signal>,
) -> Result<(TicketInfo, Ws, Route, Instant), Error> {
    let info = await_ticket(ctx, handle, id, signals).await?;
    if info.peer != peer {
        return Err(Error::Protocol("the hub named another peer".into()));
    }
    ctx.update(Update::Accepted {
        files: info.files.clone(),
    })
    .await;
    let started = Instant::now();
    let listener = bound.as_ref().map(|b| &b.0);
    let (ws, route) = establish(ctx, handle, role, id, &info, listener, options, signals).await?;
    drop(bound); // nothing else may connect now
    ctx.update(Update::Connected { route }).await;
    Ok((info, ws, route, started))
}

/// Progress accounting with a smoothed rate.
struct Meter {
    total: u64,
    bytes: u64,
    last_emit: Instant,
    window: (Instant, u64),
    rate: f64,
}

impl Meter {
    fn new(total: u64, already: u64) -> Self {
        let now = Instant::now();
        Self {
            total,
            bytes: already,
            last_emit: now,
            window: (now, already),
            rate: 0.0,
        }
    }

    fn add(&mut self, n: u64) {
        self.bytes = self.bytes.saturating_add(n);
    }

    /// A progress report, at most every 100 ms unless `force`.
    fn report(&mut self, file: Option<(u32, u64, u64)>, force: bool) -> Option<Progress> {
        let now = Instant::now();
        if !force && now.duration_since(self.last_emit) < Duration::from_millis(100) {
            return None;
        }
        self.last_emit = now;
        let dt = now.duration_since(self.window.0).as_secs_f64();
        if dt >= 0.5 {
            let inst = (self.bytes - self.window.1) as f64 / dt;
            self.rate = if self.rate == 0.0 {
                inst
            } else {
                0.7 * self.rate + 0.3 * inst
            };
            self.window = (now, self.bytes);
        }
        let left = self.total.saturating_sub(self.bytes);
        let eta = (self.rate > 0.0).then(|| Duration::from_secs_f64(left as f64 / self.rate));
        let (file, file_bytes, file_size) = match file {
            Some((i, done, size)) => (Some(i), done, size),
            None => (None, 0, 0),
        };
        Some(Progress {
            file,
            file_bytes,
            file_size,
            bytes: self.bytes,
            total: self.total,
            rate: self.rate,
            eta,
        })
    }
}

// ----- sending -----

/// File bytes read, hashed or written per trip to the blocking pool: large enough that
/// the hand-over between threads costs nothing next to the work.
const DISK_BATCH: usize = 2 << 20;

/// Reads one file for sending, hashing everything (the resumed prefix too).
struct FileReader {
    file: std::fs::File,
    hasher: blake3::Hasher,
    size: u64,
    remaining: u64,
}

/// What one read trip yields: data messages, and the file's hash once it is all read.
type Batch = (FileReader, Vec<Vec<u8>>, Option<[u8; 32]>);

impl FileReader {
    /// Opens the file, checks its size, hashes the resumed prefix and reads the first
    /// batch (for a small file, all of it): one trip for most files.
    fn open(path: &std::path::Path, size: u64, offset: u64) -> Result<Batch, Error> {
        let mut file = std::fs::File::open(path).map_err(Error::io("opening a file to send"))?;
        let len = file
            .metadata()
            .map_err(Error::io("reading a file to send"))?
            .len();
        if len != size {
            return Err(Error::SourceChanged);
        }
        let mut hasher = blake3::Hasher::new();
        hash_prefix(&mut file, &mut hasher, offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Error::SourceChanged
            } else {
                Error::io("reading a file to send")(e)
            }
        })?;
        Self {
            file,
            hasher,
            size,
            remaining: size - offset,
        }
        .batch()
    }

    /// Reads up to [`DISK_BATCH`] bytes as data messages of at most [`limits::CHUNK`].
    fn batch(mut self) -> Result<Batch, Error> {
        let mut msgs = Vec::new();
        let mut budget = DISK_BATCH as u64;
        while self.remaining > 0 && budget > 0 {
            let n = self.remaining.min(limits::CHUNK as u64).min(budget);
            let mut buf = Vec::with_capacity(n as usize + 1);
            buf.push(wire::DATA);
            (&mut self.file)
                .take(n)
                .read_to_end(&mut buf)
                .map_err(Error::io("reading a file to send"))?;
            if (buf.len() as u64) != n + 1 {
                return Err(Error::SourceChanged);
            }
            self.hasher.update(buf.get(1..).unwrap_or_default());
            self.remaining -= n;
            budget -= n;
            msgs.push(buf);
        }
        let hash = if self.remaining == 0 {
            let len = self
                .file
                .metadata()
                .map_err(Error::io("reading a file to send"))?
                .len();
            if len != self.size {
                return Err(Error::SourceChanged);
            }
            Some(*self.hasher.finalize().as_bytes())
        } else {
            None
        };
        Ok((self, msgs, hash))
    }
}

/// Hashes the first `len` bytes of `file` and leaves it positioned after them.
fn hash_prefix<F: Read + Seek>(
    file: &mut F,
    hasher: &mut blake3::Hasher,
    len: u64,
) -> io::Result<()> {
    file.seek(SeekFrom::Start(0))?;
    if len == 0 {
        return Ok(());
    }
    let mut buf = vec![0u8; 1024 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        let chunk = buf.get_mut(..n).unwrap_or_default();
        file.read_exact(chunk)?;
        hasher.update(chunk);
        left -= n as u64;
    }
    Ok(())
}

/// Handles what the receiver said while sending; `Err` stops the transfer.
fn on_event(
    event: Result<Link, Error>,
    peer: ClientId,
    failed: &mut Vec<(u32, FileFailure)>,
    verified: &mut usize,
    finished: &mut bool,
) -> Result<Option<Update>, Error> {
    match event? {
        Link::Got { .. } => Ok(None),
        Link::Verified { index } => {
            *verified += 1;
            Ok(Some(Update::FileDone { index, path: None }))
        }
        Link::Failed { index, reason } => {
            failed.push((index, reason));
            Ok(Some(Update::FileFailed { index, reason }))
        }
        Link::Finished => {
            *finished = true;
            Ok(None)
        }
        Link::Abort { reason } => Err(abort_error(reason, peer)),
        _ => Err(Error::Protocol(
            "unexpected message from the receiver".into(),
        )),
    }
}

fn abort_error(reason: AbortReason, peer: ClientId) -> Error {
    match reason {
        AbortReason::Cancelled => Error::Cancelled { by: peer },
        AbortReason::DiskFull => Error::DiskFull,
        AbortReason::SourceChanged => Error::SourceChanged,
        AbortReason::Io => Error::RemoteIo,
        AbortReason::Protocol => Error::Protocol("the other side reported a protocol error".into()),
    }
}

fn local_abort(e: &Error) -> AbortReason {
    match e {
        Error::Cancelled { .. } => AbortReason::Cancelled,
        Error::DiskFull => AbortReason::DiskFull,
        Error::SourceChanged => AbortReason::SourceChanged,
        Error::Protocol(_) => AbortReason::Protocol,
        _ => AbortReason::Io,
    }
}

async fn send_run(
    ctx: &Ctx,
    handle: &Handle,
    to: ClientId,
    source: Source,
    options: &Options,
) -> Result<Summary, Error> {
    source.manifest.validate().map_err(SourceError::from)?;
    if source.paths.len() != source.manifest.files.len() {
        return Err(Error::BadSelection);
    }
    let bound = bind(options).await?;
    let addrs = bound.as_ref().map(|b| b.1.clone()).unwrap_or_default();
    let signals = handle.offer(to, source.manifest.clone(), addrs).await?;
    let id = loop {
        match wait(&signals, &ctx.cancel).await {
            Waited::Signal(Signal::Sent(id)) => break id,
            Waited::Signal(Signal::Refused(r)) => return Err(Error::Refused(r)),
            Waited::Signal(Signal::HubLost) => return Err(Error::HubLost),
            Waited::Signal(_) => {}
            Waited::Cancel => return Err(Error::Cancelled { by: ctx.me }),
        }
    };
    ctx.update(Update::Offered { id }).await;
    let (info, mut ws, route, started) =
        connect_peer(ctx, handle, Role::Sender, id, to, bound, options, &signals).await?;
    let deadline = Instant::now() + options.progress_deadline;
    let offsets = match link::recv_control(&mut ws, deadline).await {
        Ok(Link::Hello { offsets }) => offsets,
        Ok(Link::Abort { reason }) => return Err(abort_error(reason, info.peer)),
        Ok(_) => return Err(Error::Protocol("expected Hello".into())),
        Err(_) => return Err(Error::ConnectionLost),
    };
    let mut plan = Vec::new();
    for (k, &index) in info.files.iter().enumerate() {
        let entry = source.manifest.files.get(index as usize);
        let path = source.paths.get(index as usize);
        let offset = offsets.get(k).copied();
        match (entry, path, offset) {
            (Some(e), Some(p), Some(o)) if o <= e.size => plan.push((index, p.clone(), e.size, o)),
            _ => return Err(Error::Protocol("bad resume offsets".into())),
        }
    }
    if offsets.len() != plan.len() {
        return Err(Error::Protocol("bad resume offsets".into()));
    }
    let total: u64 = plan.iter().map(|p| p.2).sum();
    let resumed: u64 = plan.iter().map(|p| p.3).sum();
    let (mut sink, mut stream) = ws.split();
    let (events_tx, events) = async_channel::unbounded::<Result<Link, Error>>();
    let reader = async {
        loop {
            let next = futures_lite::future::or(async { Some(stream.next().await) }, async {
                async_io::Timer::after(options.progress_deadline).await;
                None
            })
            .await;
            // The receiver's news goes to the writer; what ends the transfer also ends
            // it here, since the writer may be stuck sending to a peer that vanished.
            let link = match next {
                None => return Err(Error::Stalled),
                Some(Some(Ok(WsMessage::Binary(b)))) => match wire::decode(&b) {
                    Ok(Incoming::Control(link)) => link,
                    _ => {
                        return Err(Error::Protocol("unexpected data from the receiver".into()));
                    }
                },
                Some(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => continue,
                Some(_) => return Err(Error::ConnectionLost),
            };
            match link {
                Link::Got { .. } | Link::Verified { .. } | Link::Failed { .. } => {
                    let _ = events_tx.send(Ok(link)).await;
                }
                Link::Finished => {
                    let _ = events_tx.send(Ok(link)).await;
                    return std::future::pending::<Result<Summary, Error>>().await;
                }
                Link::Abort { reason } => return Err(abort_error(reason, info.peer)),
                _ => {
                    return Err(Error::Protocol(
                        "unexpected message from the receiver".into(),
                    ));
                }
            }
        }
    };
    let writer = async {
        let mut meter = Meter::new(total, resumed);
        let mut moved = 0u64;
        let mut failed = Vec::new();
        let mut verified = 0usize;
        let mut finished = false;
        let peer = info.peer;
        let result: Result<(), Error> = async {
            let open = |k: usize| {
                plan.get(k).cloned().map(|(_, path, size, offset)| {
                    blocking::unblock(move || FileReader::open(&path, size, offset))
                })
            };
            // The next file's first batch is read while the current file goes out, so
            // many small files stream without a pause between them.
            let mut upcoming = open(0);
            for (k, &(index, _, size, offset)) in plan.iter().enumerate() {
                let file_link = Link::File { index, offset };
                sink.send(WsMessage::Binary(wire::encode(&file_link).into()))
                    .await
                    .map_err(|_| Error::ConnectionLost)?;
                let mut next = upcoming.take();
                let mut done = offset;
                let mut hash = None;
                while let Some(task) = next.take() {
                    let (reader, msgs, complete) = task.await?;
                    // Read the next batch (or file) while this one goes out.
                    if complete.is_none() {
                        next = Some(blocking::unblock(move || reader.batch()));
                    } else {
                        upcoming = open(k + 1);
                    }
                    hash = complete;
                    for msg in msgs {
                        let n = (msg.len() - 1) as u64;
                        sink.send(WsMessage::Binary(msg.into()))
                            .await
                            .map_err(|_| Error::ConnectionLost)?;
                        moved += n;
                        done += n;
                        meter.add(n);
                    }
                    while let Ok(event) = events.try_recv() {
                        let u = on_event(event, peer, &mut failed, &mut verified, &mut finished)?;
                        if let Some(u) = u {
                            ctx.update(u).await;
                        }
                    }
                    if ctx.cancel.try_recv().is_ok() {
                        return Err(Error::Cancelled { by: ctx.me });
                    }
                    if let Some(p) = meter.report(Some((index, done, size)), false) {
                        ctx.update(Update::Progress(p)).await;
                    }
                }
                let hash = hash.ok_or(Error::SourceChanged)?;
                let end = Link::End { index, hash };
                sink.send(WsMessage::Binary(wire::encode(&end).into()))
                    .await
                    .map_err(|_| Error::ConnectionLost)?;
            }
            sink.send(WsMessage::Binary(wire::encode(&Link::Done).into()))
                .await
                .map_err(|_| Error::ConnectionLost)?;
            if let Some(p) = meter.report(None, true) {
                ctx.update(Update::Progress(p)).await;
            }
            while !finished {
                let event = futures_lite::future::or(
                    async { events.recv().await.map_err(|_| Error::ConnectionLost) },
                    async {
                        let _ = ctx.cancel.recv().await;
                        Err(Error::Cancelled { by: ctx.me })
                    },
                )
                .await?;
                let u = on_event(event, peer, &mut failed, &mut verified, &mut finished)?;
                if let Some(u) = u {
                    ctx.update(u).await;
                }
            }
            Ok(())
        }
        .await;
        if let Err(mut e) = result {
            if matches!(e, Error::ConnectionLost) {
                // The receiver may have said why before it hung up: give the reader a
                // moment to pass it on.
                let deadline = Instant::now() + Duration::from_secs(1);
                while let Ok(Ok(event)) =
                    crate::net::until(deadline, async { Ok(events.recv().await.map_err(|_| ())) })
                        .await
                {
                    match event {
                        Ok(Link::Abort { reason }) => {
                            e = abort_error(reason, peer);
                            break;
                        }
                        Err(_) => break,
                        Ok(_) => {}
                    }
                }
            }
            let abort = Link::Abort {
                reason: local_abort(&e),
            };
            if !matches!(e, Error::ConnectionLost | Error::Stalled) {
                let _ = sink
                    .send(WsMessage::Binary(wire::encode(&abort).into()))
                    .await;
                let _ = sink.close(None).await;
            }
            return Err(e);
        }
        let _ = sink.close(None).await;
        let summary = Summary {
            id,
            route,
            files: verified,
            bytes: total,
            moved,
            resumed,
            elapsed: started.elapsed(),
            saved: Vec::new(),
        };
        outcome(summary, failed, plan.len())
    };
    futures_lite::future::or(writer, reader).await
}

// ----- receiving -----

/// The `.part` tag of a file: the same sender, path and size find the same part again.
fn part_tag(from: ClientId, path: &str, size: u64) -> String {
    let mut h = blake3::Hasher::new();
    h.update(&from.0);
    h.update(path.as_bytes());
    h.update(&size.to_le_bytes());
    h.finalize()
        .to_hex()
        .as_str()
        .get(..16)
        .unwrap_or_default()
        .to_owned()
}

/// The open file and its running hash, moved to the blocking pool for each write.
type Open = Box<OpenPart>;

/// A part being written: the file, its running hash, and its early write-back.
struct OpenPart {
    part: Part,
    hasher: blake3::Hasher,
    /// Bytes written since write-back was last started.
    unsynced: u64,
    /// Whether a write-back is running.
    syncing: Arc<std::sync::atomic::AtomicBool>,
}

/// A large file's data is pushed to the disk every this many bytes, in the background,
/// so the sync before it gets its name (durability) has little left to do.
const WRITE_BACK: u64 = 64 << 20;

/// The file being received: where it goes, and its bytes not yet on disk.
#[derive(Clone)]
struct Spec {
    path: String,
    tag: String,
    expected: Expected,
}

/// Opens (or resumes) the part of `spec`, hashing what is already there.
fn open_part(downloads: &Downloads, spec: &Spec) -> Result<Open, Error> {
    let mut part = downloads.part(&spec.path, &spec.tag)?;
    let offset = spec.expected.offset;
    if part.offset != offset {
        // Changed since we looked: keep only what we announced.
        part.file
            .set_len(offset)
            .map_err(Error::io("resuming a received file"))?;
        part.file
            .seek(SeekFrom::Start(offset))
            .map_err(Error::io("resuming a received file"))?;
        part.offset = offset;
    }
    let mut hasher = blake3::Hasher::new();
    hash_prefix(&mut part.file, &mut hasher, offset)
        .map_err(Error::io("resuming a received file"))?;
    Ok(Box::new(OpenPart {
        part,
        hasher,
        unsynced: 0,
        syncing: Arc::default(),
    }))
}

fn write_error(e: io::Error) -> Error {
    if is_disk_full(&e) {
        Error::DiskFull
    } else {
        Error::io("writing a received file")(e)
    }
}

/// Opens the part if needed and writes `pending` to it, hashing as it goes.
fn write_batch(
    downloads: &Downloads,
    spec: &Spec,
    open: Option<Open>,
    pending: &[async_tungstenite::tungstenite::Bytes],
) -> Written {
    let mut open = match open {
        Some(o) => o,
        None => match open_part(downloads, spec) {
            Ok(o) => o,
            Err(e) => return (None, Err(e)),
        },
    };
    for b in pending {
        let data = b.get(1..).unwrap_or_default();
        if let Err(e) = open.part.file.write_all(data) {
            return (Some(open), Err(write_error(e)));
        }
        open.hasher.update(data);
        open.unsynced += data.len() as u64;
    }
    if open.unsynced >= WRITE_BACK
        && !open.syncing.load(std::sync::atomic::Ordering::Acquire)
        && let Ok(clone) = open.part.file.try_clone()
    {
        open.unsynced = 0;
        open.syncing
            .store(true, std::sync::atomic::Ordering::Release);
        let syncing = open.syncing.clone();
        blocking::unblock(move || {
            let _ = clone.sync_data();
            syncing.store(false, std::sync::atomic::Ordering::Release);
        })
        .detach();
    }
    (Some(open), Ok(()))
}

/// Disk work for the file being received, off the socket's path: data is gathered into
/// batches of [`DISK_BATCH`] and written (and hashed) on the blocking pool while the
/// next batch arrives. A small file costs one trip: open, write, verify.
struct Writer {
    downloads: Arc<Downloads>,
    spec: Option<Spec>,
    open: Option<Open>,
    pending: Vec<async_tungstenite::tungstenite::Bytes>,
    pending_len: usize,
    busy: Option<blocking::Task<Written>>,
}

/// A disk job's result: the open part (if it could be opened) and how the write went.
type Written = (Option<Open>, Result<(), Error>);

/// How a file ended: verified (its part, to be given its name) or not.
enum Checked {
    Good(Part),
    Mismatch,
}

impl Writer {
    fn new(downloads: Arc<Downloads>) -> Self {
        Self {
            downloads,
            spec: None,
            open: None,
            pending: Vec::new(),
            pending_len: 0,
            busy: None,
        }
    }

    async fn settle(&mut self) -> Result<(), Error> {
        if let Some(task) = self.busy.take() {
            let (open, result) = task.await;
            self.open = open;
            result?;
        }
        Ok(())
    }

    fn start(&mut self, spec: Spec) {
        self.spec = Some(spec);
    }

    async fn data(&mut self, bytes: async_tungstenite::tungstenite::Bytes) -> Result<(), Error> {
        self.pending_len += bytes.len();
        self.pending.push(bytes);
        if self.pending_len >= DISK_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Error> {
        self.settle().await?;
        let Some(spec) = self.spec.clone() else {
            return Err(Error::Protocol("data outside a file".into()));
        };
        let pending = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        let open = self.open.take();
        let downloads = self.downloads.clone();
        self.busy = Some(blocking::unblock(move || {
            write_batch(&downloads, &spec, open, &pending)
        }));
        Ok(())
    }

    /// The file is complete: write what is left and compare hashes (a mismatch deletes
    /// it), on the blocking pool; the returned task says how it went, while the next
    /// file already streams in.
    async fn end(
        &mut self,
        hash: [u8; 32],
    ) -> Result<blocking::Task<Result<Checked, Error>>, Error> {
        self.settle().await?;
        let spec = self
            .spec
            .take()
            .ok_or_else(|| Error::Protocol("no file open".into()))?;
        let pending = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        let open = self.open.take();
        let downloads = self.downloads.clone();
        Ok(blocking::unblock(move || {
            let (open, written) = write_batch(&downloads, &spec, open, &pending);
            let Some(open) = open else {
                return Err(written.err().unwrap_or(Error::Protocol("no file".into())));
            };
            let OpenPart { part, hasher, .. } = *open;
            if let Err(e) = written {
                let _ = downloads.discard(part);
                return Err(e);
            }
            if hasher.finalize() == blake3::Hash::from_bytes(hash) {
                Ok(Checked::Good(part))
            } else {
                downloads.discard(part)?;
                Ok(Checked::Mismatch)
            }
        }))
    }

    /// The transfer stopped mid-file. With `keep`, what arrived is written and synced
    /// for resuming; otherwise the part is deleted.
    async fn stop(&mut self, keep: bool) {
        let flushed = if keep && !self.pending.is_empty() {
            self.flush().await
        } else {
            Ok(())
        };
        let settled = self.settle().await;
        let Some(open) = self.open.take() else { return };
        let OpenPart { part, .. } = *open;
        let downloads = self.downloads.clone();
        let keep = keep && flushed.is_ok() && settled.is_ok();
        let _ = blocking::unblock(move || {
            if keep {
                part.file.sync_data().map_err(store::Error::from)
            } else {
                downloads.discard(part)
            }
        })
        .await;
    }
}

/// Verified files are given their names in groups, after one sync for the group: this
/// many files, or this many bytes.
const LINK_BATCH: usize = 64;
const LINK_BATCH_BYTES: u64 = 64 << 20;

/// Files whose verification may run on the blocking pool at once.
const MAX_CHECKING: usize = 8;

/// A verified file waits for its name; a mismatch is reported (the reply for the sender).
async fn sort_checked(
    ctx: &Ctx,
    index: u32,
    checked: Checked,
    ready: &mut Vec<(u32, Part)>,
    failed: &mut Vec<(u32, FileFailure)>,
) -> Option<Link> {
    match checked {
        Checked::Good(part) => {
            ready.push((index, part));
            None
        }
        Checked::Mismatch => {
            let reason = FileFailure::Integrity;
            failed.push((index, reason));
            ctx.update(Update::FileFailed { index, reason }).await;
            Some(Link::Failed { index, reason })
        }
    }
}

/// While the receiver is busy on disk, it tells the sender it is alive this often.
const KEEPALIVE: Duration = Duration::from_secs(5);

fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

#[allow(clippy::too_many_lines)]
async fn receive_run(
    ctx: &Ctx,
    handle: &Handle,
    offer: IncomingOffer,
    files: Option<Vec<u32>>,
    dir: PathBuf,
    options: &Options,
) -> Result<Summary, Error> {
    let id = offer.id;
    if let Err(e) = offer.manifest.validate() {
        let _ = handle.decline(id, Declined::ByUser).await;
        return Err(Error::InvalidOffer(e));
    }
    let count = offer.manifest.files.len() as u32;
    let accepted = files.unwrap_or_else(|| (0..count).collect());
    let mut unique = accepted.clone();
    unique.sort_unstable();
    unique.dedup();
    if (accepted.is_empty() && count > 0)
        || unique.len() != accepted.len()
        || accepted.iter().any(|&i| i >= count)
    {
        return Err(Error::BadSelection);
    }
    let from = offer.from;
    let manifest = Arc::new(offer.manifest);
    let downloads = {
        let dir = dir.clone();
        Arc::new(blocking::unblock(move || Downloads::open(&dir)).await?)
    };
    // What is already here, and whether the rest fits.
    let plan: Vec<(Expected, String, String)> = {
        let (downloads, manifest, accepted) =
            (downloads.clone(), manifest.clone(), accepted.clone());
        blocking::unblock(move || -> Result<_, Error> {
            let mut plan = Vec::new();
            for index in accepted {
                let Some(entry) = manifest.files.get(index as usize) else {
                    return Err(Error::BadSelection);
                };
                let tag = part_tag(from, &entry.path, entry.size);
                let have = downloads.existing(&entry.path, &tag);
                let offset = if have <= entry.size { have } else { 0 };
                plan.push((
                    Expected {
                        index,
                        size: entry.size,
                        offset,
                    },
                    entry.path.clone(),
                    tag,
                ));
            }
            Ok(plan)
        })
        .await?
    };
    let total: u64 = plan.iter().map(|p| p.0.size).sum();
    let resumed: u64 = plan.iter().map(|p| p.0.offset).sum();
    let needed = (total - resumed).saturating_add(options.free_space_margin);
    let available = downloads.free_space()?;
    if available < needed {
        let _ = handle.decline(id, Declined::NoSpace).await;
        return Err(Error::NotEnoughSpace { needed, available });
    }
    let bound = bind(options).await?;
    let addrs = bound.as_ref().map(|b| b.1.clone()).unwrap_or_default();
    let signals = handle.accept(id, accepted.clone(), addrs).await?;
    let (info, mut ws, route, started) = connect_peer(
        ctx,
        handle,
        Role::Receiver,
        id,
        from,
        bound,
        options,
        &signals,
    )
    .await?;
    let hello = Link::Hello {
        offsets: plan.iter().map(|p| p.0.offset).collect(),
    };
    link::send(&mut ws, &hello)
        .await
        .map_err(|_| Error::ConnectionLost)?;
    let mut state = Receiving::new(plan.iter().map(|p| p.0).collect());
    let mut meter = Meter::new(total, resumed);
    let mut writer = Writer::new(downloads.clone());
    let mut ready: Vec<(u32, Part)> = Vec::new();
    let mut ready_bytes = 0u64;
    let mut naming: Option<Naming> = None;
    let mut checking: std::collections::VecDeque<(u32, blocking::Task<Result<Checked, Error>>)> =
        std::collections::VecDeque::new();
    let mut saved = Vec::new();
    let mut failed = Vec::new();
    let mut moved = 0u64;
    let mut last_got = Instant::now();
    let mut current: Option<(u32, u64, u64)> = None;
    let peer = info.peer;
    let result: Result<(), Error> = async {
        loop {
            let next = futures_lite::future::or(
                async { Ok(ws.next().await) },
                futures_lite::future::or(
                    async {
                        async_io::Timer::after(options.progress_deadline).await;
                        Err(Error::Stalled)
                    },
                    async {
                        let _ = ctx.cancel.recv().await;
                        Err(Error::Cancelled { by: ctx.me })
                    },
                ),
            )
            .await?;
            let bytes = match next {
                Some(Ok(WsMessage::Binary(b))) => b,
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Ok(_) | Err(_)) | None => return Err(Error::ConnectionLost),
            };
            let step = match wire::decode(&bytes) {
                Ok(Incoming::Data(data)) => {
                    let n = data.len() as u64;
                    state.data(data.len())?;
                    writer.data(bytes).await?;
                    moved += n;
                    meter.add(n);
                    if let Some((_, at, _)) = current.as_mut() {
                        *at += n;
                    }
                    if last_got.elapsed() >= Duration::from_millis(250) {
                        last_got = Instant::now();
                        link::send(&mut ws, &Link::Got { bytes: moved })
                            .await
                            .map_err(|_| Error::ConnectionLost)?;
                    }
                    if let Some(p) = meter.report(current, false) {
                        ctx.update(Update::Progress(p)).await;
                    }
                    continue;
                }
                Ok(Incoming::Control(Link::Abort { reason })) => {
                    return Err(abort_error(reason, peer));
                }
                Ok(Incoming::Control(link)) => state.control(&link)?,
                Err(e) => return Err(Error::Protocol(e.to_string())),
            };
            match step {
                Step::Open(expected) => {
                    let spec = plan
                        .iter()
                        .find(|p| p.0.index == expected.index)
                        .map(|p| Spec {
                            path: p.1.clone(),
                            tag: p.2.clone(),
                            expected,
                        })
                        .ok_or_else(|| Error::Protocol("unknown file".into()))?;
                    writer.start(spec);
                    current = Some((expected.index, expected.offset, expected.size));
                }
                Step::Write => {}
                Step::Verify { index, hash } => {
                    current = None;
                    checking.push_back((index, writer.end(hash).await?));
                    // Collect what is done; wait only when too much is in flight.
                    while let Some((_, task)) = checking.front() {
                        if !task.is_finished() && checking.len() < MAX_CHECKING {
                            break;
                        }
                        let Some((index, task)) = checking.pop_front() else {
                            break;
                        };
                        let checked = task.await?;
                        if let Some(reply) =
                            sort_checked(ctx, index, checked, &mut ready, &mut failed).await
                        {
                            link::send(&mut ws, &reply)
                                .await
                                .map_err(|_| Error::ConnectionLost)?;
                        } else {
                            ready_bytes += plan
                                .iter()
                                .find(|p| p.0.index == index)
                                .map_or(0, |p| p.0.size);
                        }
                    }
                    if ready.len() >= LINK_BATCH || ready_bytes >= LINK_BATCH_BYTES {
                        // Name this group while the next files stream in; wait only for
                        // the group before it.
                        let previous = naming.take();
                        finish_naming(
                            ctx,
                            &downloads,
                            previous,
                            &mut saved,
                            &mut failed,
                            Some(&mut ws),
                        )
                        .await?;
                        naming = start_naming(&downloads, std::mem::take(&mut ready));
                        ready_bytes = 0;
                    }
                }
                Step::Done => {
                    while let Some((index, task)) = checking.pop_front() {
                        let checked = task.await?;
                        if let Some(reply) =
                            sort_checked(ctx, index, checked, &mut ready, &mut failed).await
                        {
                            link::send(&mut ws, &reply)
                                .await
                                .map_err(|_| Error::ConnectionLost)?;
                        }
                    }
                    let previous = naming.take();
                    finish_naming(
                        ctx,
                        &downloads,
                        previous,
                        &mut saved,
                        &mut failed,
                        Some(&mut ws),
                    )
                    .await?;
                    let last = start_naming(&downloads, std::mem::take(&mut ready));
                    finish_naming(
                        ctx,
                        &downloads,
                        last,
                        &mut saved,
                        &mut failed,
                        Some(&mut ws),
                    )
                    .await?;
                    let folders = manifest.folders.clone();
                    let downloads = downloads.clone();
                    blocking::unblock(move || -> Result<(), Error> {
                        for f in folders {
                            downloads.folder(&f)?;
                        }
                        Ok(())
                    })
                    .await?;
                    if let Some(p) = meter.report(None, true) {
                        ctx.update(Update::Progress(p)).await;
                    }
                    link::send(&mut ws, &Link::Finished)
                        .await
                        .map_err(|_| Error::ConnectionLost)?;
                    return Ok(());
                }
            }
        }
    }
    .await;
    if let Err(e) = result {
        // Complete, verified files keep them whatever happened next.
        while let Some((index, task)) = checking.pop_front() {
            if let Ok(checked) = task.await {
                let _ = sort_checked(ctx, index, checked, &mut ready, &mut failed).await;
            }
        }
        let previous = naming.take();
        let _ = finish_naming(ctx, &downloads, previous, &mut saved, &mut failed, None).await;
        let last = start_naming(&downloads, std::mem::take(&mut ready));
        let _ = finish_naming(ctx, &downloads, last, &mut saved, &mut failed, None).await;
        // The open part: kept for resuming after a lost connection, deleted otherwise.
        let keep = matches!(e, Error::ConnectionLost | Error::Stalled);
        writer.stop(keep).await;
        if !keep {
            let abort = Link::Abort {
                reason: local_abort(&e),
            };
            let _ = link::send(&mut ws, &abort).await;
        }
        let _ = ws.close(None).await;
        return Err(e);
    }
    let _ = ws.close(None).await;
    let summary = Summary {
        id,
        route,
        files: saved.len(),
        bytes: total,
        moved,
        resumed,
        elapsed: started.elapsed(),
        saved,
    };
    outcome(summary, failed, plan.len())
}

/// A transfer that reached its end succeeded only if no file failed.
fn outcome(
    summary: Summary,
    failed: Vec<(u32, FileFailure)>,
    total: usize,
) -> Result<Summary, Error> {
    if failed.is_empty() {
        Ok(summary)
    } else {
        Err(Error::FilesFailed { failed, total })
    }
}

/// A group of verified parts being synced and named on the blocking pool.
type Naming = blocking::Task<(Vec<u32>, Vec<Result<PathBuf, store::Error>>)>;

/// Starts giving verified parts their final names, one sync for the group.
fn start_naming(downloads: &Arc<Downloads>, batch: Vec<(u32, Part)>) -> Option<Naming> {
    if batch.is_empty() {
        return None;
    }
    let (indices, parts): (Vec<u32>, Vec<Part>) = batch.into_iter().unzip();
    let dl = downloads.clone();
    Some(blocking::unblock(move || (indices, dl.finish_all(parts))))
}

/// Waits for a naming group and tells the sender (and our stream) how each file ended.
async fn finish_naming(
    ctx: &Ctx,
    downloads: &Arc<Downloads>,
    naming: Option<Naming>,
    saved: &mut Vec<PathBuf>,
    failed: &mut Vec<(u32, FileFailure)>,
    mut ws: Option<&mut Ws>,
) -> Result<(), Error> {
    let Some(task) = naming else { return Ok(()) };
    let mut task = std::pin::pin!(task);
    // Syncing a large group can take a while on a slow disk: keep the sender's
    // progress deadline from firing meanwhile.
    let (indices, results) = loop {
        let tick = async {
            async_io::Timer::after(KEEPALIVE).await;
            None
        };
        match futures_lite::future::or(async { Some((&mut task).await) }, tick).await {
            Some(done) => break done,
            None => {
                if let Some(ws) = ws.as_deref_mut() {
                    let got = Link::Got { bytes: 0 };
                    link::send(ws, &got)
                        .await
                        .map_err(|_| Error::ConnectionLost)?;
                }
            }
        }
    };
    for (index, result) in indices.into_iter().zip(results) {
        let reply = match result {
            Ok(rel) => {
                let path = downloads.path().join(rel);
                saved.push(path.clone());
                let path = Some(path);
                ctx.update(Update::FileDone { index, path }).await;
                Link::Verified { index }
            }
            Err(e) => {
                tracing::warn!("saving a received file: {e}");
                let reason = FileFailure::Storage;
                failed.push((index, reason));
                ctx.update(Update::FileFailed { index, reason }).await;
                Link::Failed { index, reason }
            }
        };
        if let Some(ws) = ws.as_deref_mut() {
            link::send(ws, &reply)
                .await
                .map_err(|_| Error::ConnectionLost)?;
        }
    }
    Ok(())
}
