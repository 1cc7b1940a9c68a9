//! A test of the link to a contact (`courier doctor --peer`): brokered by the hub like a
//! transfer (offer, answer, ticket, the same race and end-to-end TLS), but with no file.
//! The prober asks for one way at a time ([`LinkTest::Direct`] or
//! [`LinkTest::Relayed`]), measures the round-trip time with a few pings, then sends
//! in-memory data for [`limits::LINK_TEST_RUN`] and divides the bytes the other side
//! confirms by the time they took. The answering side is the other member's session,
//! which answers when its front end wraps the session in [`answer_link_tests`] (the CLI
//! and the app do, unless their user turned that off): it echoes pings and counts bytes,
//! never touches a disk, and ends the test after [`limits::LINK_TEST_MAX_TIME`],
//! [`limits::LINK_TEST_MAX_BYTES`] or [`limits::LINK_TEST_MAX_MESSAGES`], whatever the
//! prober does.
//!
//! Any member may probe, so answering must cost little and reach nothing else: the
//! answering side dials the prober only at the address the hub sees the prober's
//! connection at ([`LinkTest::dialable`], checked by the hub and again here), on at most
//! [`limits::LINK_TEST_DIALS`] of the ports listed; it listens as a transfer's receiver
//! would, and the hub passes the prober only its addresses at the one the hub sees it at
//! (the prober learns none of its other interfaces). So a walled prober that can dial out
//! is measured as a transfer would find it. A side behind a NAT (the hub sees another
//! address than it lists) is not dialled.
//!
//! # Exchange, in order
//! 1. Brokering, as a transfer: the prober's offer (a [`Manifest`] with `test` set and no
//!    file) through the [`Handle`]; the hub's [`crate::session::Answer`]s (offered or
//!    refused, then the ticket or the end); the answering side accepts (or declines:
//!    busy, or [`Declined::NoLinkTests`]).
//! 2. The race for that one way (`race.rs`: `Knock`, `Start`), as a transfer's.
//! 3. On the link, prober → answerer: [`Control::Ping`] ×[`PINGS`], each answered by
//!    [`Control::Pong`]; then data messages for the run; then [`Control::Done`],
//!    answered by [`Control::Got`] with the bytes counted. Either side may send
//!    [`Control::Abort`] instead; the answerer also stops at its caps.
//! 4. The answering side's admission ([`answering`]'s `Answered`): one test at a time,
//!    within the minute's and the prober's shares.

mod answering;

use std::time::{Duration, Instant};

use super::error::{Error, Violation};
use super::peer::{self, Link, Role};
use super::race::{self, Waited};
use super::wire::{self, AbortReason, Control, Incoming};
use super::{Ctx, Options, Route};
use crate::limits;
use crate::net;
use crate::proto::{ClientId, Declined, IncomingOffer, LinkTest, Manifest};
use crate::session::Answer;
use crate::session::Handle;

pub use answering::answer_link_tests;

/// Pings sent to measure the round-trip time.
const PINGS: u32 = 5;
/// How long one ping's answer (and the final count) may take.
const ANSWER: Duration = Duration::from_secs(2);

/// What a link test measured on one way.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkReport {
    /// The way asked for.
    pub way: LinkTest,
    /// The way the connection took.
    pub route: Route,
    /// How long connecting took (hub answer, ticket, race).
    pub connect: Duration,
    /// Median round-trip time of the pings, over the whole stack (TLS and the link's frames).
    pub rtt: Duration,
    /// Bytes the other side confirmed.
    pub bytes: u64,
    /// From the first data byte sent to the other side's confirmation of the last.
    pub elapsed: Duration,
}

impl LinkReport {
    /// Bytes per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / secs
        } else {
            0.0
        }
    }
}

/// The options of one way: only that way is tried, and it gets
/// [`limits::LINK_TEST_CONNECT`] to connect. `base` gives the listening address.
fn options_for(way: LinkTest, base: &Options) -> Options {
    let mut o = base.clone();
    o.connect_deadline = limits::LINK_TEST_CONNECT;
    o.progress_deadline = limits::LINK_TEST_MAX_TIME;
    o.wait = false;
    match way {
        LinkTest::Direct => {
            o.relay = false;
            // The receiver dials at once; the sender follows soon (either may be walled).
            o.direct_wait = Duration::from_millis(500);
        }
        LinkTest::Relayed => {
            o.listen = None;
            o.advertise = None;
            o.relay = true;
            o.direct_wait = Duration::ZERO;
        }
    }
    o
}

/// A context for the race with nobody listening for updates and no cancel button;
/// `answering` for the side answering a test of that way.
fn quiet_ctx(handle: Handle, answering: Option<LinkTest>) -> Ctx {
    let (updates, _) = async_channel::bounded(1);
    let (_, cancel) = async_channel::bounded(1);
    Ctx {
        me: handle.id(),
        handle,
        cancel,
        updates,
        answering,
        shared: None,
    }
}

/// Tests one way of the link to `to` (the contact must be online, and its session
/// answering link tests, as every Courier front end's does): connects only that way,
/// measures the round-trip time and then the speed over `run` of in-memory data. `base`
/// says where a direct test listens (as for a transfer).
///
/// The session behind `handle` must be running (its stream polled).
///
/// # Errors
/// As a transfer's: the hub refused the offer, the contact declined (busy or too many
/// tests), [`Error::NoRoute`] when that way does not connect, or a protocol error.
pub async fn link_test(
    handle: Handle,
    to: ClientId,
    way: LinkTest,
    base: &Options,
    run: Duration,
) -> Result<LinkReport, Error> {
    let options = options_for(way, base);
    let ctx = quiet_ctx(handle, None);
    let manifest = Manifest {
        test: Some(way),
        ..Manifest::default()
    };
    let started = Instant::now();
    let listening = race::bind(&options).await?;
    let addrs = listening
        .as_ref()
        .map(|l| l.addrs.clone())
        .unwrap_or_default();
    let mut answers = ctx.handle.offer(to, manifest.clone(), addrs, false).await?;
    let id = loop {
        match race::wait(&answers, &ctx.cancel).await {
            Waited::Answer(Answer::Offered(id)) => break id,
            Waited::Answer(Answer::Refused(r)) => return Err(Error::Refused(r)),
            Waited::Answer(Answer::HubLost) => return Err(Error::HubLost),
            Waited::Answer(_) => {}
            Waited::Cancel => return Err(Error::Cancelled { by: ctx.me }),
        }
    };
    let link = match race::connect(
        &ctx,
        Role::Sender,
        id,
        to,
        Some(manifest.digest()),
        listening,
        &options,
        &mut answers,
    )
    .await
    {
        Ok(link) => link,
        Err(e) => {
            // The other side may still be trying: tell it to stop, so the next test
            // (the other way) finds it free.
            let _ = ctx.handle.cancel_transfer(id).await;
            return Err(e);
        }
    };
    let connect = started.elapsed();
    let mut ws = link.ws;
    let measured = measure(&mut ws, run).await;
    if measured.is_err() {
        let _ = peer::send(
            &mut ws,
            &Control::Abort {
                reason: AbortReason::Protocol,
            },
        )
        .await;
    }
    let _ = net::until(Instant::now() + ANSWER, async { Ok(ws.close().await?) }).await;
    let (rtt, bytes, elapsed) = measured?;
    Ok(LinkReport {
        way,
        route: link.route,
        connect,
        rtt,
        bytes,
        elapsed,
    })
}

/// The prober's side on a connected link: pings, then data, then the count.
async fn measure(ws: &mut Link, run: Duration) -> Result<(Duration, u64, Duration), Error> {
    let mut rtts = Vec::with_capacity(PINGS as usize);
    for n in 0..PINGS {
        let sent = Instant::now();
        peer::send(ws, &Control::Ping { n })
            .await
            .map_err(Error::NoRoute)?;
        match recv(ws, Instant::now() + ANSWER, &mut 0, u64::MAX).await? {
            Heard::Control(Control::Pong { n: m }) if m == n => rtts.push(sent.elapsed()),
            Heard::Control(Control::Abort { .. }) => return Err(Violation::Reported.into()),
            _ => return Err(Violation::Unexpected.into()),
        }
    }
    rtts.sort_unstable();
    let rtt = rtts.get(rtts.len() / 2).copied().unwrap_or_default();

    // Not all zeros: nothing on the way may make it cheaper than file data.
    let bytes: Vec<u8> = (1..=limits::CHUNK)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let chunk = wire::data(&bytes);
    let started = Instant::now();
    let mut sent = 0u64;
    // The answering side takes no more (a fast link is measured on less time).
    while started.elapsed() < run && sent + (limits::CHUNK as u64) <= limits::LINK_TEST_MAX_BYTES {
        ws.send(&chunk)
            .await
            .map_err(|e| Error::NoRoute(e.into()))?;
        sent += limits::CHUNK as u64;
    }
    peer::send(ws, &Control::Done)
        .await
        .map_err(Error::NoRoute)?;
    let bytes = match recv(ws, Instant::now() + ANSWER.max(run), &mut 0, u64::MAX).await? {
        Heard::Control(Control::Got { bytes }) if bytes == sent => bytes,
        Heard::Control(Control::Got { .. }) => return Err(Violation::PhantomBytes.into()),
        Heard::Control(Control::Abort { .. }) => return Err(Violation::Reported.into()),
        _ => return Err(Violation::Unexpected.into()),
    };
    Ok((rtt, bytes, started.elapsed()))
}

/// One message from the other side.
enum Heard {
    Control(Control),
    Data(usize),
}

/// The next message, within `deadline`. `read` counts every message read; past `most`
/// the other side is cut off.
async fn recv(ws: &mut Link, deadline: Instant, read: &mut u64, most: u64) -> Result<Heard, Error> {
    *read += 1;
    if *read > most {
        return Err(Violation::LinkTestTooBig.into());
    }
    match net::until(deadline, async { Ok(ws.next_frame().await?) }).await {
        Err(net::Error::Timeout) => Err(Error::NoRoute(peer::Error::Timeout)),
        Err(e) => Err(Error::NoRoute(e.into())),
        Ok(Some(bytes)) => match wire::decode(&bytes) {
            Ok(Incoming::Control(c)) => Ok(Heard::Control(c)),
            Ok(Incoming::Data(d)) => Ok(Heard::Data(d.len())),
            Err(e) => Err(Violation::Malformed(e).into()),
        },
        Ok(None) => Err(Error::NoRoute(peer::Error::Protocol)),
    }
}

/// Answers the link test `offer` (the receiving side): connects the way it asks, the
/// direct way by dialling the prober only where the hub sees it and by listening (the
/// hub tells the prober only this side's address it sees), echoes pings and counts data until the prober is done, at most
/// [`limits::LINK_TEST_MAX_TIME`], [`limits::LINK_TEST_MAX_BYTES`] and
/// [`limits::LINK_TEST_MAX_MESSAGES`]. Returns the way connected; `taken` grows by the
/// data read, whatever the outcome. Declines an offer that is not a valid link test.
///
/// # Errors
/// As [`link_test`]'s, [`Error::BadSelection`] for an offer that is not one, and
/// [`Violation::LinkTestTooBig`] for a prober that sends past the caps.
pub(crate) async fn answer(
    handle: Handle,
    offer: IncomingOffer,
    base: &Options,
    taken: &mut u64,
) -> Result<Route, Error> {
    let (Some(way), Ok(())) = (offer.manifest.test, offer.manifest.validate()) else {
        let _ = handle.decline(offer.id, Declined::ByUser).await;
        return Err(Error::BadSelection);
    };
    let ctx = quiet_ctx(handle, Some(way));
    // As a transfer's receiver would: the hub passes on only the addresses at the one it
    // sees this side at.
    let options = options_for(way, base);
    // It listens too, as a transfer's receiver does, so that a walled prober that can
    // still dial out is measured as a transfer would find it; the hub passes on only
    // its addresses at the one the hub sees this side at.
    // A port that cannot be had (a sandbox, none left): answer by dialling only.
    let listening = race::bind(&options).await.unwrap_or(None);
    let addrs = listening
        .as_ref()
        .map(|l| l.addrs.clone())
        .unwrap_or_default();
    let mut answers = ctx.handle.accept(offer.id, Vec::new(), addrs).await?;
    let link = race::connect(
        &ctx,
        Role::Receiver,
        offer.id,
        offer.from,
        Some(offer.manifest.digest()),
        listening,
        &options,
        &mut answers,
    )
    .await?;
    let mut ws = link.ws;
    let result = echo(&mut ws, taken).await;
    if let Err(e) = &result {
        let reason = match e {
            Error::NoRoute(_) => None,
            _ => Some(AbortReason::Protocol),
        };
        if let Some(reason) = reason {
            // Bounded: a prober that reads nothing must not hold this side.
            futures_lite::future::or(
                async {
                    let _ = peer::send(&mut ws, &Control::Abort { reason }).await;
                },
                async {
                    async_io::Timer::after(ANSWER).await;
                },
            )
            .await;
        }
    }
    let _ = net::until(Instant::now() + ANSWER, async { Ok(ws.close().await?) }).await;
    result.map(|_| link.route)
}

/// The answering side on a connected link: everything it does, sending included, ends
/// at [`limits::LINK_TEST_MAX_TIME`]; a prober past the caps is cut off there, before
/// the next message is read. `taken` counts the data.
async fn echo(ws: &mut Link, taken: &mut u64) -> Result<u64, Error> {
    let deadline = Instant::now() + limits::LINK_TEST_MAX_TIME;
    let mut count = 0u64;
    let mut read = 0u64;
    let work = async {
        loop {
            match recv(ws, deadline, &mut read, limits::LINK_TEST_MAX_MESSAGES).await? {
                Heard::Data(n) => {
                    count = count.saturating_add(n as u64);
                    *taken = taken.saturating_add(n as u64);
                    if count > limits::LINK_TEST_MAX_BYTES {
                        return Err(Violation::LinkTestTooBig.into());
                    }
                }
                Heard::Control(Control::Ping { n }) => peer::send(ws, &Control::Pong { n })
                    .await
                    .map_err(Error::NoRoute)?,
                Heard::Control(Control::Done) => {
                    peer::send(ws, &Control::Got { bytes: count })
                        .await
                        .map_err(Error::NoRoute)?;
                    return Ok(count);
                }
                Heard::Control(Control::Abort { .. }) => return Err(Violation::Reported.into()),
                Heard::Control(_) => return Err(Violation::Unexpected.into()),
            }
        }
    };
    futures_lite::future::or(work, async {
        async_io::Timer::at(deadline).await;
        Err(Error::NoRoute(peer::Error::Timeout))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_is_tried_alone_and_briefly() {
        let base = Options::default();
        let direct = options_for(LinkTest::Direct, &base);
        assert!(!direct.relay);
        assert_eq!(direct.listen, base.listen);
        assert_eq!(direct.connect_deadline, limits::LINK_TEST_CONNECT);
        let relayed = options_for(LinkTest::Relayed, &base);
        assert!(relayed.relay);
        assert_eq!(relayed.listen, None);
        assert_eq!(relayed.direct_wait, Duration::ZERO);
    }

    #[test]
    fn the_rate_divides_bytes_by_time() {
        let report = LinkReport {
            way: LinkTest::Direct,
            route: Route::Direct,
            connect: Duration::ZERO,
            rtt: Duration::ZERO,
            bytes: 3_000_000,
            elapsed: Duration::from_millis(1500),
        };
        assert!((report.rate() - 2_000_000.0).abs() < 1.0);
        let none = LinkReport {
            elapsed: Duration::ZERO,
            ..report
        };
        assert!(none.rate().abs() < f64::EPSILON);
    }
}
