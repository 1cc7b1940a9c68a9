//! Establishing the peer connection once the hub has answered: the listener each side
//! announces, the ticket, and the race between the ways to connect. The receiver dials the
//! sender's addresses at once; after [`super::Options::direct_wait`] the sender dials the
//! receiver's; after twice that both go to the hub's relay. The sender takes the first way
//! that works and says `Start` on it; the receiver takes the way `Start` arrives on.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::{Duration, Instant};

use async_channel::Receiver;
use async_net::TcpListener;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use futures_rustls::{TlsAcceptor, TlsConnector};

use super::error::{Error, Violation};
use super::peer::{self, Link, Role};
use super::wire::Control;
use super::{Ctx, Options, Route};
use crate::limits;
use crate::proto::{ClientId, Declined, TicketInfo, TransferEnd, TransferId};
use crate::session::Answer;

/// Our listener for the other side, and the addresses announced for it.
pub(crate) struct Listening {
    listener: TcpListener,
    pub(crate) addrs: Vec<SocketAddr>,
}

/// Listens as `options` say (or not at all).
pub(crate) async fn bind(options: &Options) -> Result<Option<Listening>, Error> {
    let Some(addr) = options.listen else {
        return Ok(None);
    };
    let listening = Error::io("listening for the other side");
    let listener = TcpListener::bind(addr).await.map_err(listening)?;
    let local = listener
        .local_addr()
        .map_err(Error::io("listening for the other side"))?;
    let addrs = advertise(options, local);
    Ok(Some(Listening { listener, addrs }))
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

/// The error a transfer's end at the hub stands for.
pub(crate) fn ended(end: TransferEnd) -> Error {
    match end {
        TransferEnd::Declined(Declined::ByUser) => Error::Declined,
        TransferEnd::Declined(Declined::NoSpace) => Error::NoSpaceAtReceiver,
        TransferEnd::Declined(Declined::NoLinkTests) => Error::NoLinkTests,
        TransferEnd::Cancelled { by } => Error::Cancelled { by },
        TransferEnd::PeerGone => Error::PeerGone,
        TransferEnd::NoLongerStored => Error::NoLongerStored,
    }
}

/// What came first: a hub answer or the user's cancel.
pub(crate) enum Waited {
    Answer(Answer),
    Cancel,
}

/// Waits for the hub's next answer about this transfer, or a cancel.
pub(crate) async fn wait(answers: &Receiver<Answer>, cancel: &Receiver<()>) -> Waited {
    futures_lite::future::or(
        async { Waited::Answer(answers.recv().await.unwrap_or(Answer::HubLost)) },
        async {
            match cancel.recv().await {
                Ok(()) => Waited::Cancel,
                Err(_) => std::future::pending().await,
            }
        },
    )
    .await
}

/// Cancels at the hub (before the peer connection exists) and says who cancelled.
async fn cancelled(ctx: &Ctx, id: TransferId) -> Error {
    let _ = ctx.handle.cancel_transfer(id).await;
    Error::Cancelled { by: ctx.me }
}

/// Waits for the ticket of transfer `id`. With `reclaim` (the sender of a stored offer,
/// listening there), a lost hub connection is waited out: once the session is back, the
/// offer is reclaimed and the wait goes on.
pub(crate) async fn await_ticket(
    ctx: &Ctx,
    id: TransferId,
    answers: &mut Receiver<Answer>,
    reclaim: Option<&[std::net::SocketAddr]>,
) -> Result<TicketInfo, Error> {
    loop {
        match wait(answers, &ctx.cancel).await {
            Waited::Answer(Answer::Ticket(info)) => return Ok(info),
            Waited::Answer(Answer::Ended(end)) => return Err(ended(end)),
            Waited::Answer(Answer::HubLost) => match reclaim {
                Some(addrs) => *answers = ctx.handle.reclaim(id, addrs.to_vec()).await?,
                None => return Err(Error::HubLost),
            },
            Waited::Answer(
                Answer::Offered(_) | Answer::Stored(_) | Answer::Refused(_) | Answer::Sealed(_),
            ) => {}
            Waited::Cancel => return Err(cancelled(ctx, id).await),
        }
    }
}

/// The ticket, then the race: the chosen connection and how it goes.
pub(crate) struct Established {
    pub(crate) info: TicketInfo,
    pub(crate) ws: Link,
    pub(crate) route: Route,
    /// When connecting started.
    pub(crate) started: Instant,
}

/// Both sides, after the answer: wait for the ticket, report the acceptance, open the
/// connection and close the listener.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn connect(
    ctx: &Ctx,
    role: Role,
    id: TransferId,
    peer: ClientId,
    digest: Option<[u8; 32]>,
    listening: Option<Listening>,
    options: &Options,
    answers: &mut Receiver<Answer>,
) -> Result<Established, Error> {
    // A sender that waits for an offline recipient outlasts the hub connection.
    let reclaim = (role == Role::Sender && options.wait).then(|| {
        listening
            .as_ref()
            .map(|l| l.addrs.clone())
            .unwrap_or_default()
    });
    let mut info = await_ticket(ctx, id, answers, reclaim.as_deref()).await?;
    if info.peer != peer {
        return Err(Violation::WrongPeer.into());
    }
    // The ticket must be for the files this side offered or was offered (a sender back
    // for an offer it sealed in an earlier run no longer knows the envelope: the
    // receiver checks).
    if digest.is_some_and(|d| d != info.digest) {
        return Err(Violation::OtherFiles.into());
    }
    // Answering a link test: the prober's list is its word; dial only where the hub
    // sees it (nowhere if the hub does not say), whatever the hub passed on.
    if let Some(way) = ctx.answering {
        info.addrs = match info.seen {
            Some(seen) => way.dialable(&info.addrs, seen, ctx.handle.hub_on_loopback()),
            None => Vec::new(),
        };
    }
    ctx.update(super::Update::Accepted {
        files: info.files.clone(),
    })
    .await;
    let started = Instant::now();
    let listener = listening.as_ref().map(|l| &l.listener);
    let (ws, route) = race(ctx, role, &info, listener, options, answers).await?;
    drop(listening); // nothing else may connect now
    ctx.update(super::Update::Connected { route }).await;
    Ok(Established {
        info,
        ws,
        route,
        started,
    })
}

type Try<'a> = Pin<Box<dyn Future<Output = Result<(Link, Route), peer::Error>> + Send + 'a>>;

/// Tries every way to reach the other side and returns the first that works.
async fn race(
    ctx: &Ctx,
    role: Role,
    info: &TicketInfo,
    listener: Option<&TcpListener>,
    options: &Options,
    answers: &Receiver<Answer>,
) -> Result<(Link, Route), Error> {
    let started = Instant::now();
    let valid_until = started + options.ticket_ttl;
    let identity = ctx.handle.identity();
    let acceptor = TlsAcceptor::from(crate::tls::pinned_server_config(identity, info.peer)?);
    let connector = TlsConnector::from(crate::tls::pinned_client_config(identity, info.peer)?);
    let ticket = peer::Pass {
        ticket: info.ticket,
        digest: info.digest,
    };
    let mut tries: FuturesUnordered<Try<'_>> = FuturesUnordered::new();
    if let Some(l) = listener {
        tries.push(Box::pin(async move {
            Ok((
                peer::listen(l, acceptor, ticket, valid_until).await,
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
            let ws = peer::dial(&addrs, connector, ticket).await?;
            Ok((ws, Route::Direct))
        }));
    }
    if options.relay {
        let delay = options.direct_wait * 2;
        let (handle, peer_id) = (&ctx.handle, info.peer);
        tries.push(Box::pin(async move {
            async_io::Timer::after(delay).await;
            let ws = peer::relay(handle, role, peer_id, ticket, valid_until).await?;
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
                    match peer::recv_control(&mut ws, deadline).await? {
                        Control::Start => Ok((ws, route)),
                        _ => Err(peer::Error::Protocol),
                    }
                })
            })
            .collect();
    }
    let mut deadline = FutureExt::fuse(async_io::Timer::at(started + options.connect_deadline));
    let mut last = None;
    loop {
        if tries.is_empty() {
            return Err(Error::NoRoute(last.unwrap_or(peer::Error::NoAddress)));
        }
        futures::select_biased! {
            done = tries.select_next_some() => match done {
                Ok((mut ws, route)) => {
                    if role == Role::Sender {
                        peer::send(&mut ws, &Control::Start).await.map_err(Error::NoRoute)?;
                    }
                    return Ok((ws, route));
                }
                Err(e) => {
                    tracing::debug!("transfer {}: a way failed: {e}", info.id);
                    last = Some(e);
                }
            },
            w = wait(answers, &ctx.cancel).fuse() => match w {
                Waited::Answer(Answer::Ended(end)) => return Err(ended(end)),
                Waited::Answer(_) => {}
                Waited::Cancel => return Err(cancelled(ctx, info.id).await),
            },
            _ = deadline => return Err(Error::NoRoute(peer::Error::GaveUp(last.map(Box::new)))),
        }
    }
}
