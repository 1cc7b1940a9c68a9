//! The hub's async driver: owns a [`Hub`] and one pump per connection, all polled from
//! the one future [`serve`] returns (nothing is spawned; the caller picks the executor).
//!
//! Input is taken in batches (a busy hub spends its time routing, not waking up); the
//! connections' readers and writers run between batches. Outboxes are bounded in bytes
//! and judged on their writers' progress, so a burst that fills many outboxes at once
//! drains on the next turn rather than dropping anyone; frames are encoded once however
//! many receive them.
//!
//! Beside the connections, the loop runs the hub's database writer on a thread of its
//! own (what [`Hub::poll_writes`] hands out, answered with [`Hub::handle_written`] and
//! [`Hub::handle_loaded`]), takes the owner's requests that writer finds in the database
//! ([`Hub::forget_device`], [`Hub::ban`], [`Hub::unban`], [`Hub::drop_from`]), and tries
//! the reach-back connections the hub asks for ([`Hub::handle_reachback`]). Each branch
//! of its `select_biased!` is one machine call; then the outputs are drained in the
//! order the [module docs](super) give.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_net::TcpListener;
use async_tungstenite::tungstenite::Bytes;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use futures_rustls::TlsAcceptor;

use super::observe::{self, Shared};
use super::outbox::{Bounds, Full, Outboxes};
use super::pump::{self, FromConn};
use super::{Config, ConnId, Event, Hub, Transmit, db};
use crate::proto::{self, ClientId, Reach, ServerFrame, Timestamp};
use crate::{limits, tls};

/// Errors that stop the hub.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TLS configuration could not be built from the identity.
    #[error("building the hub's TLS configuration")]
    Tls(#[from] tls::Error),
    /// The hub's database could not be read at start.
    #[error(transparent)]
    Db(#[from] db::Error),
}

/// Writes what the hub hands out to be written, on a thread of its own: whatever piled up while
/// the last commit ran goes in the next one, so the disk sets the batch size and the
/// routing loop never waits on it. Between writes, at least every
/// [`FORGET_CHECK`], it picks up the owner's requests to forget a device
/// (`courier hub forget`, from another process), to ban or unban one and to drop what
/// a sender left (`courier hub ban`, `unban`, `drop`), and hands them to the loop.
struct Writer {
    batches: Option<std::sync::mpsc::Sender<Vec<db::Record>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the writer looks for requests to forget a device.
const FORGET_CHECK: Duration = Duration::from_secs(1);

impl Writer {
    fn start(
        db: db::Db,
        forgets: async_channel::Sender<Vec<ClientId>>,
        owner: async_channel::Sender<db::OwnerRequests>,
        committed: async_channel::Sender<(usize, Result<db::Written, ()>)>,
        counted: Arc<Shared>,
    ) -> Self {
        use std::sync::mpsc::RecvTimeoutError;
        let (tx, rx) = std::sync::mpsc::channel::<Vec<db::Record>>();
        let thread = std::thread::Builder::new()
            .name("courier-hub-db".into())
            .spawn(move || {
                let mut last_check = Instant::now();
                loop {
                    match rx.recv_timeout(FORGET_CHECK) {
                        Ok(mut batch) => {
                            let mut batches = 1;
                            while let Ok(more) = rx.try_recv() {
                                batch.extend(more);
                                batches += 1;
                            }
                            // One transaction, one sync, for all of them.
                            let start = Instant::now();
                            let written = db.write(&batch);
                            counted.commit_took(start.elapsed());
                            let result = match written {
                                Ok(pages) => Ok(pages),
                                Err(e) => {
                                    // The senders of its messages hear they were not
                                    // stored; members are written again at their next
                                    // change; the hub carries on serving.
                                    tracing::warn!("not written: {e}");
                                    Err(())
                                }
                            };
                            let _ = committed.send_blocking((batches, result));
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if last_check.elapsed() >= FORGET_CHECK {
                        last_check = Instant::now();
                        match db.take_forget_requests() {
                            Ok(ids) if !ids.is_empty() => {
                                let _ = forgets.try_send(ids);
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!("reading forget requests: {e}"),
                        }
                        let requests = db.take_owner_requests().and_then(|mut r| {
                            r.group_removes = db.take_group_remove_requests()?;
                            Ok(r)
                        });
                        match requests {
                            Ok(requests) if !requests.is_empty() => {
                                let _ = owner.try_send(requests);
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!("reading the owner's requests: {e}"),
                        }
                    }
                }
            });
        match thread {
            Ok(thread) => Self {
                batches: Some(tx),
                thread: Some(thread),
            },
            Err(e) => {
                tracing::warn!(
                    "no thread for the hub's database ({e}): nothing is written to disk"
                );
                Self {
                    batches: None,
                    thread: None,
                }
            }
        }
    }

    fn keep(&self, hub: &mut Hub) {
        let records = hub.poll_writes();
        if records.is_empty() {
            return;
        }
        let sent = self
            .batches
            .as_ref()
            .is_some_and(|tx| tx.send(records).is_ok());
        if !sent {
            // No writer: nothing is stored, and the senders hear so.
            hub.handle_written(1, false, Instant::now());
        }
    }

    /// Writes what is left and waits for it to be on the disk.
    async fn finish(mut self) {
        self.batches = None;
        if let Some(thread) = self.thread.take() {
            let _ = blocking::unblock(move || thread.join()).await;
        }
    }
}

/// Input handled per turn.
const BATCH: usize = 256;
/// How often writers are checked for being stuck.
const STALL_CHECK: Duration = Duration::from_secs(1);

/// Runs a hub on `listener` until `shutdown` completes; then tells every client and
/// closes every connection.
///
/// # Errors
/// Only if the hub cannot start (bad identity). Per-connection failures close that
/// connection and never stop the hub.
///
/// # Examples
/// ```no_run
/// # use courier_core::{auth::{HubSecret, Password}, hub, identity::Identity};
/// smol::block_on(async {
///     let listener = async_net::TcpListener::bind("127.0.0.1:0").await?;
///     let secret = HubSecret::register(&mut rand::thread_rng(), &Password::new("pw"))?;
///     let config = hub::Config::new(Identity::generate()?, secret);
///     hub::serve(listener, config, futures::future::pending()).await?;
///     # Ok::<(), Box<dyn std::error::Error>>(())
/// });
/// ```
pub async fn serve(
    listener: TcpListener,
    mut config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let acceptor = TlsAcceptor::from(tls::server_config(&config.identity)?);
    let bounds = Bounds {
        bytes: config.outbox_bytes.max(1),
        frames: config.outbox_frames.max(1),
        total: config.outbox_total.max(1),
        stall: config.outbox_stall,
    };
    #[cfg(feature = "test-util")]
    let tap = config.relay_tap.clone();
    #[cfg(not(feature = "test-util"))]
    let tap: Option<pump::Tap> = None;
    let login_deadline = config.login_deadline;
    let database = config.db.clone();
    let observed = config.observed.take().unwrap_or_else(observe::unobserved);
    let mut questions = pin!(observed.requests);
    let started = Instant::now();
    let mut hub = Hub::new(config, Instant::now(), Timestamp::now());
    // A stream that ends (and is then never polled again) when the writer stops.
    let (forgets_tx, forgets) = async_channel::bounded::<Vec<ClientId>>(16);
    let mut forgets = pin!(forgets);
    let (owner_tx, owner) = async_channel::bounded::<db::OwnerRequests>(16);
    let mut owner = pin!(owner);
    let (committed_tx, committed) = async_channel::unbounded::<(usize, Result<db::Written, ()>)>();
    let mut committed = pin!(committed);
    let writer = match database {
        Some(database) => {
            // Read on the blocking pool, straight into the hub: a member at a time,
            // the backlog as counts (its messages stay on the disk).
            let read = database.clone();
            let (back, members, messages, pending, stopped) = blocking::unblock(move || {
                // Requests made while the hub was stopped are already in the members.
                read.take_forget_requests()?;
                let backlogs = read.backlogs()?;
                let messages: usize = backlogs.iter().map(|w| w.count).sum();
                hub.restore(std::iter::empty(), backlogs);
                let mut members = 0usize;
                read.each_member(|m| {
                    members += 1;
                    hub.restore_member(m);
                })?;
                hub.restore_keys(read.bundles()?);
                let stopped = read.take_stopped()?;
                // After the members: an offer is stored only between members.
                let offers = read.offers()?;
                let count = offers.len();
                hub.restore_offers(offers);
                hub.restore_bans(read.bans()?.into_iter().map(|(id, _)| id));
                hub.restore_receipts(read.owed_receipts()?);
                let (groups, next_group) = read.groups()?;
                hub.restore_groups(groups, next_group);
                // Asked while the hub was stopped, and not yet carried out.
                let mut pending = read.take_owner_requests()?;
                pending.group_removes = read.take_group_remove_requests()?;
                Ok::<_, db::Error>((hub, members, (messages, count), pending, stopped))
            })
            .await?;
            hub = back;
            // The grace for members coming back starts now, as the hub listens: not
            // before a long read of its database.
            if let Some(stopped) = stopped {
                hub.restore_online(stopped, Instant::now(), Timestamp::now());
            }
            apply(&mut hub, pending, Instant::now());
            let (messages, offers) = messages;
            tracing::info!(members, messages, offers, "read back from the last run");
            let counted = observed.shared.clone();
            Some(Writer::start(
                database,
                forgets_tx,
                owner_tx,
                committed_tx,
                counted,
            ))
        }
        None => None,
    };
    let (to_hub, from_conns) = async_channel::bounded::<FromConn>(4096);
    let mut outboxes = Outboxes::new(bounds);
    let mut pumps = FuturesUnordered::new();
    let mut shutdown = pin!(shutdown.fuse());
    let mut timer = async_io::Timer::never();
    let mut armed: Option<Instant> = None;
    let mut stall_check = async_io::Timer::interval(STALL_CHECK);
    let mut asked = Vec::new();
    let mut reachbacks = FuturesUnordered::new();

    loop {
        // Re-armed only when the hub's next deadline moves earlier: an early wake-up just
        // asks the hub, which knows its real deadlines.
        if let Some(at) = hub.poll_timeout()
            && armed.is_none_or(|a| at < a)
        {
            timer.set_at(at);
            armed = Some(at);
        }
        futures::select_biased! {
            () = shutdown => break,
            // The pumps first: each turn moves what earlier input queued for the
            // sockets before more input is taken (a frame waits behind one batch of
            // input, not behind every batch that is ready).
            () = pumps.select_next_some() => {}
            msg = from_conns.recv().fuse() => {
                let Ok(msg) = msg else { continue };
                let now = Instant::now();
                handle(&mut hub, &mut outboxes, msg, now);
                for _ in 1..BATCH {
                    match from_conns.try_recv() {
                        Ok(msg) => handle(&mut hub, &mut outboxes, msg, now),
                        Err(_) => break,
                    }
                }
            }
            accepted = listener.accept().fuse() => match accepted {
                Ok((tcp, peer)) => {
                    let now = Instant::now();
                    match hub.handle_accept(peer, now) {
                        Ok(conn) => {
                            let lines = outboxes.open(conn);
                            let deadline = now + login_deadline;
                            let io = pump::Io { to_hub: to_hub.clone(), lines, tap: tap.clone(), counted: observed.shared.clone() };
                            pumps.push(pump::run(conn, tcp, acceptor.clone(), deadline, io));
                        }
                        Err(e) => tracing::debug!(%peer, "refused: {e}"),
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!("accept failed: {e}");
                    async_io::Timer::after(Duration::from_millis(50)).await;
                }
            },
            _ = FutureExt::fuse(&mut timer) => {
                armed = None;
                hub.handle_timeout(Instant::now());
            }
            (batches, result) = committed.select_next_some() => {
                let now = Instant::now();
                hub.handle_written(batches, result.is_ok(), now);
                if let Ok(written) = result {
                    hub.handle_loaded(written, now);
                }
            }
            ids = forgets.select_next_some() => {
                let now = Instant::now();
                for id in ids {
                    if hub.forget_device(id, now) {
                        tracing::info!(device = %id.short(), "device forgotten by the owner");
                    }
                }
            }
            requests = owner.select_next_some() => apply(&mut hub, requests, Instant::now()),
            (conn, addr, outcome) = reachbacks.select_next_some() => {
                hub.handle_reachback(conn, addr, outcome, Instant::now());
            }
            request = questions.select_next_some() => observe::answer(&hub, request, started),
            _ = stall_check.next().fuse() => {
                let now = Instant::now();
                for conn in outboxes.stalled(now) {
                    hub.handle_slow_consumer(conn, now);
                }
            }
        }
        flush(&mut hub, &mut outboxes, &mut asked);
        for (conn, addr) in asked.drain(..) {
            reachbacks.push(reach(conn, addr));
        }
        if let Some(writer) = &writer {
            writer.keep(&mut hub);
        }
    }

    hub.shutdown(Instant::now(), Timestamp::now());
    flush(&mut hub, &mut outboxes, &mut asked);
    if let Some(writer) = writer {
        writer.keep(&mut hub);
        writer.finish().await;
    }
    // Let the pumps deliver the goodbyes, briefly.
    let drain = async { while pumps.next().await.is_some() {} };
    futures_lite::future::or(drain, async {
        async_io::Timer::after(Duration::from_secs(2)).await;
    })
    .await;
    Ok(())
}

/// Carries out the owner's bans, unbans and drops.
fn apply(hub: &mut Hub, requests: db::OwnerRequests, now: Instant) {
    for id in requests.bans {
        let dropped = hub.ban(id, now);
        tracing::info!(device = %id.short(), offers = dropped.offers, group_messages = dropped.group_entries, "banned by the owner");
    }
    for id in requests.unbans {
        if hub.unban(id) {
            tracing::info!(device = %id.short(), "no longer banned");
        }
    }
    for id in requests.drops {
        let dropped = hub.drop_from(id, now);
        tracing::info!(sender = %id.short(), offers = dropped.offers, group_messages = dropped.group_entries, "what it left was dropped by the owner");
    }
    for (group, member) in requests.group_removes {
        if hub.owner_remove(group, member, now) {
            tracing::info!(%group, member = %member.short(), "removed from a group by the owner");
        }
    }
}

/// Opens a TCP connection to `addr` and closes it at once: can others reach `conn`?
async fn reach(conn: ConnId, addr: SocketAddr) -> (ConnId, SocketAddr, Reach) {
    let attempt = async { Some(async_net::TcpStream::connect(addr).await) };
    let timeout = async {
        async_io::Timer::after(limits::REACHBACK_TIMEOUT).await;
        None
    };
    let outcome = match futures_lite::future::or(attempt, timeout).await {
        Some(Ok(_stream)) => Reach::Connected,
        Some(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Reach::Refused,
        Some(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => Reach::NoAnswer,
        Some(Err(_)) => Reach::Unreachable,
        None => Reach::NoAnswer,
    };
    (conn, addr, outcome)
}

fn handle(hub: &mut Hub, outboxes: &mut Outboxes, msg: FromConn, now: Instant) {
    match msg {
        FromConn::Connected {
            conn,
            client,
            channel,
            allowance,
        } => {
            outboxes.allow(conn, allowance);
            hub.handle_connect(conn, client, channel, now);
        }
        FromConn::Frame { conn, frame } => {
            #[cfg(feature = "stage-trace")]
            if let crate::proto::ClientFrame::Send { id, .. } = &frame
                && let Some(from) = hub.client_of(conn)
            {
                super::stages::stamp(&from, *id, super::stages::Stage::Handled);
            }
            hub.handle_frame(conn, frame, now);
        }
        FromConn::Bad { conn, input } => hub.handle_bad_input(conn, input, now),
        FromConn::Gone { conn } => hub.handle_disconnect(conn, now),
        FromConn::Drained { conn } => hub.handle_drained(conn, now),
    }
}

/// Carries out the hub's transmits. A frame for many receivers is encoded once; a
/// connection whose outbox overflows is a slow consumer, and when all outboxes together
/// overflow, the connection holding the most is.
/// Reach-back checks asked for are pushed onto `reachbacks`.
fn flush(hub: &mut Hub, outboxes: &mut Outboxes, reachbacks: &mut Vec<(ConnId, SocketAddr)>) {
    // The last frame encoded, while others may still send it (a broadcast is encoded once).
    let mut encoded: Option<(Arc<ServerFrame>, Bytes)> = None;
    let mut scratch = Vec::with_capacity(256);
    loop {
        let mut slow = Vec::new();
        let mut drained = Vec::new();
        let now = Instant::now();
        while let Some(t) = hub.poll_transmit() {
            match t {
                Transmit::Frame { conn, frame } => {
                    #[cfg(feature = "stage-trace")]
                    super::stages::stamp_frame(&frame, super::stages::Stage::Queued);
                    let bytes = match &encoded {
                        Some((f, b)) if Arc::ptr_eq(f, &frame) => b.clone(),
                        _ => {
                            scratch.clear();
                            proto::encode_into(&*frame, &mut scratch);
                            // An exact-size copy; shared only when another send holds it.
                            let b = Bytes::copy_from_slice(&scratch);
                            encoded = (Arc::strong_count(&frame) > 1).then(|| (frame, b.clone()));
                            b
                        }
                    };
                    if bytes.len() > limits::MAX_MESSAGE {
                        // The client would refuse it and reconnect to be sent it again,
                        // forever: every input that makes a frame is bounded below this.
                        tracing::error!("{conn}: a frame of {} bytes not sent", bytes.len());
                        continue;
                    }
                    match outboxes.push(conn, bytes, now) {
                        Ok(()) => {}
                        Err(Full::Connection) => slow.push(conn),
                        Err(Full::Hub) => slow.extend(outboxes.largest()),
                    }
                }
                Transmit::Close { conn, reason } => outboxes.close(conn, reason),
                Transmit::Relay { a, b } => outboxes.relay(a, b),
                Transmit::Reachback { conn, addr } => reachbacks.push((conn, addr)),
                Transmit::WhenDrained { conn } => {
                    if outboxes.watch(conn) {
                        drained.push(conn);
                    }
                }
            }
        }
        if slow.is_empty() && drained.is_empty() {
            break;
        }
        for conn in drained {
            hub.handle_drained(conn, now);
        }
        slow.sort();
        slow.dedup();
        for conn in slow {
            hub.handle_slow_consumer(conn, now);
        }
    }
    while let Some(event) = hub.poll_event() {
        match event {
            Event::LoggedIn { conn, client, name } => {
                // Logged in: from now on it may send messages of any allowed size.
                outboxes.lift(conn);
                tracing::info!("{conn} logged in as {client} {name:?}");
            }
            Event::Closed { conn, peer, reason } => {
                tracing::info!("{conn} {peer} closed: {reason}");
            }
            Event::Disconnected { conn, client } => {
                tracing::debug!("{conn} {client:?} disconnected");
            }
        }
    }
}
