//! The sending driver: offer through the hub, establish the connection, then feed the
//! [`Sender`] machine what happens (receiver messages, bytes gone out, files read to their
//! end, time) and carry out what it says. File bytes come from [`ReadAhead`], only while
//! the connection's queue is short, so memory stays bounded whatever the receiver does.

use std::task::Poll;
use std::time::{Duration, Instant};

use super::error::{Error, Violation};
use super::peer::Role;
use super::pump::{Alarm, Alarms, Inbound, Pump};
use super::race::{self, Waited};
use super::read_ahead::{Batch, DISK_BATCH, Planned, ReadAhead};
use super::sender::{Outgoing, Sender};
use super::source::{self, Source};
use super::wire::{self, Incoming};
use super::{Ctx, Options, Summary, Update};
use crate::proto::{ClientId, TransferId};
use crate::session::Answer;

/// How long the last messages (an `Abort`, the close) may take to go out.
const GOODBYE: Duration = Duration::from_secs(5);
/// After a failed write, how long the receiver's last words are waited for.
const LAST_WORDS: Duration = Duration::from_secs(1);

/// What woke the driver.
enum Input {
    Sent(u64),
    Peer(Inbound),
    WriteFailed,
    Batch(Result<Batch, Error>),
    Alarm(Alarm),
    /// A copy of a send to many got its running place.
    Place(Option<super::many::places::Place>),
}

/// A place being waited for.
type Asking =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<super::many::places::Place>> + Send>>;

pub(crate) async fn run(
    ctx: &Ctx,
    to: ClientId,
    source: Source,
    options: &Options,
) -> Result<Summary, Error> {
    let (listening, addrs) = prepare(&source, options).await?;
    let answers = ctx
        .handle
        .offer(to, source.manifest.clone(), addrs, options.wait)
        .await?;
    // The session says what it sealed before the hub names the offer.
    let mut sealed = None;
    let id = loop {
        match race::wait(&answers, &ctx.cancel).await {
            Waited::Answer(Answer::Sealed(digest)) => sealed = Some(digest),
            Waited::Answer(Answer::Offered(id)) => {
                ctx.update(Update::Offered { id }).await;
                break id;
            }
            Waited::Answer(Answer::Stored(id)) => {
                ctx.update(Update::Stored { id }).await;
                break id;
            }
            Waited::Answer(Answer::Refused(r)) => return Err(Error::Refused(r)),
            Waited::Answer(Answer::HubLost) => return Err(Error::HubLost),
            Waited::Answer(_) => {}
            Waited::Cancel => return Err(Error::Cancelled { by: ctx.me }),
        }
    };
    deliver(ctx, to, id, sealed, source, (listening, answers), options).await
}

/// The sender of stored offer `id` (its files read again from `source`, which must make
/// the same manifest) is back: reclaims it at the hub and waits, as [`run`] does after
/// the hub stored it.
pub(crate) async fn resume(
    ctx: &Ctx,
    to: ClientId,
    id: TransferId,
    source: Source,
    options: &Options,
) -> Result<Summary, Error> {
    let options = Options {
        wait: true,
        ..options.clone()
    };
    let (listening, addrs) = prepare(&source, &options).await?;
    let answers = ctx.handle.reclaim(id, addrs).await?;
    ctx.update(Update::Offered { id }).await;
    // Sealed in an earlier run: the envelope is gone with it (the receiver checks).
    deliver(ctx, to, id, None, source, (listening, answers), &options).await
}

/// Checks `source` and listens for the receiver as `options` say: the listener and the
/// addresses to announce.
async fn prepare(
    source: &Source,
    options: &Options,
) -> Result<(Option<race::Listening>, Vec<std::net::SocketAddr>), Error> {
    source.manifest.validate().map_err(source::Error::from)?;
    if source.paths.len() != source.manifest.files.len() {
        return Err(Error::BadSelection);
    }
    let listening = race::bind(options).await?;
    let addrs = listening
        .as_ref()
        .map(|l| l.addrs.clone())
        .unwrap_or_default();
    Ok((listening, addrs))
}

/// After the hub named the offer: the ticket, the connection, the files.
async fn deliver(
    ctx: &Ctx,
    to: ClientId,
    id: TransferId,
    digest: Option<[u8; 32]>,
    source: Source,
    (listening, mut answers): (Option<race::Listening>, async_channel::Receiver<Answer>),
    options: &Options,
) -> Result<Summary, Error> {
    let link = race::connect(
        ctx,
        Role::Sender,
        id,
        to,
        digest,
        listening,
        options,
        &mut answers,
    )
    .await?;
    // The accepted files, in the order the receiver accepted them.
    let plan: Vec<(Outgoing, std::path::PathBuf)> = link
        .info
        .files
        .iter()
        .map(|&index| {
            let entry = source.manifest.files.get(index as usize)?;
            let path = source.paths.get(index as usize)?;
            Some((
                Outgoing {
                    index,
                    size: entry.size,
                },
                path.clone(),
            ))
        })
        .collect::<Option<_>>()
        .ok_or(Error::BadSelection)?;
    let (files, paths): (Vec<Outgoing>, Vec<_>) = plan.into_iter().unzip();
    let sender = Sender::new(
        link.info.peer,
        files,
        options.progress_deadline,
        Instant::now(),
    );
    let tally = stream(ctx, to, sender, paths, Pump::new(link.ws)).await?;
    Ok(Summary::new(id, link.route, link.started.elapsed(), tally))
}

/// Runs the connection until the machine knows the outcome.
async fn stream(
    ctx: &Ctx,
    to: ClientId,
    mut sender: Sender,
    paths: Vec<std::path::PathBuf>,
    mut pump: Pump,
) -> Result<super::Tally, Error> {
    let mut reading: Option<ReadAhead> = None;
    // The plan position of the file being read, and its bytes read so far.
    let (mut k, mut read) = (0usize, 0u64);
    let mut alarms = Alarms::new(&ctx.cancel);
    // One of several copies queues one block at most, so that their sum stays small.
    let high_water = match ctx.shared {
        Some(_) => super::many::BLOCK,
        None => DISK_BATCH,
    };
    // A copy of a send to many sends only with a running place, kept to its end.
    if ctx.shared.is_some() {
        sender.hold();
    }
    let (mut _place, mut asking): (_, Option<Asking>) = (None, None);
    loop {
        if sender.is_held()
            && asking.is_none()
            && let Some(shared) = &ctx.shared
        {
            match shared.places.try_take() {
                Some(p) => {
                    _place = Some(p);
                    sender.handle_place(Instant::now());
                }
                None => asking = Some(Box::pin(shared.places.take())),
            }
        }
        while let Some(msg) = sender.poll_transmit() {
            pump.push_control(&msg);
        }
        while let Some(u) = sender.poll_update() {
            ctx.update(u).await;
        }
        if let Some(outcome) = sender.poll_outcome() {
            pump.close(GOODBYE).await;
            return outcome;
        }
        if reading.is_none()
            && !sender.is_held()
            && let Some(offsets) = sender.offsets()
        {
            if let Some(shared) = &ctx.shared {
                // Sets off with the other copies of its wave.
                shared.gate.line(to).await;
            }
            let plan = sender
                .files()
                .iter()
                .zip(offsets)
                .zip(&paths)
                .map(|((f, &offset), path)| Planned {
                    index: f.index,
                    path: path.clone(),
                    size: f.size,
                    offset,
                })
                .collect();
            let blocks = ctx.shared.as_ref().map(|s| s.blocks.clone());
            reading = Some(ReadAhead::shared(plan, blocks));
        }
        alarms.set(sender.poll_timeout());
        let input = futures::future::poll_fn(|cx| {
            // Alarms first: a peer that floods us must not keep the deadline from firing.
            if let Poll::Ready(alarm) = alarms.poll(cx) {
                return Poll::Ready(Input::Alarm(alarm));
            }
            if matches!(pump.poll_write(cx), Poll::Ready(Err(_))) {
                return Poll::Ready(Input::WriteFailed);
            }
            let sent = pump.take_sent();
            if sent > 0 {
                return Poll::Ready(Input::Sent(sent));
            }
            if let Poll::Ready(m) = pump.poll_read(cx) {
                return Poll::Ready(Input::Peer(m));
            }
            if let Some(a) = asking.as_mut()
                && let Poll::Ready(p) = a.as_mut().poll(cx)
            {
                return Poll::Ready(Input::Place(p));
            }
            if pump.queued() < high_water
                && let Some(r) = reading.as_mut()
                && let Poll::Ready(Some(b)) = r.poll_batch(cx)
            {
                return Poll::Ready(Input::Batch(b));
            }
            Poll::Pending
        })
        .await;
        let now = Instant::now();
        match input {
            Input::Sent(n) => sender.handle_sent(n, now),
            Input::Peer(Inbound::Message(bytes)) => heard(&mut sender, &bytes, now),
            Input::Peer(Inbound::Gone) => sender.handle_link_lost(),
            Input::WriteFailed => {
                // The receiver may have said why before it hung up.
                for bytes in pump.leftovers(LAST_WORDS).await {
                    heard(&mut sender, &bytes, now);
                }
                sender.handle_link_lost();
            }
            Input::Batch(Ok(mut batch)) => {
                for msg in batch.take_msgs() {
                    read += (msg.len() - wire::HEADER) as u64;
                    pump.push(msg);
                }
                if let Some(hash) = batch.hash {
                    let index = sender.files().get(k).map_or(u32::MAX, |f| f.index);
                    sender.handle_streamed(index, std::mem::take(&mut read), hash, now);
                    k += 1;
                }
            }
            Input::Batch(Err(e)) => sender.fail(e),
            Input::Alarm(Alarm::Timer) => sender.handle_timeout(now),
            Input::Alarm(Alarm::Cancel) => sender.fail(Error::Cancelled { by: ctx.me }),
            Input::Place(p) => {
                asking = None;
                _place = p;
                sender.handle_place(now);
            }
        }
    }
}

/// A message from the receiver.
fn heard(sender: &mut Sender, bytes: &[u8], now: Instant) {
    match wire::decode(bytes) {
        Ok(Incoming::Control(msg)) => sender.handle_control(msg, now),
        Ok(Incoming::Data(_)) => sender.fail(Violation::Unexpected.into()),
        Err(e) => sender.fail(Violation::Malformed(e).into()),
    }
}
