//! The receiving driver: check the offer and the free space, accept through the hub,
//! establish the connection, then feed the [`Receiver`] machine what happens (sender
//! messages, finished disk work, time) and carry out its jobs with [`WriteBehind`]. The
//! sender is read only while the machine and the disk want more, so a fast sender waits
//! for a slow disk instead of our memory growing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::error::{Error, Violation};
use super::peer::Role;
use super::pump::{Alarm, Alarms, Inbound, Pump};
use super::race;
use super::receiver::{Expected, Receiver};
use super::store::{Claim, Downloads};
use super::wire::{self, Incoming};
use super::write_behind::{Done, Target, WriteBehind};
use super::{Ctx, Options, Summary, Tally};
use crate::proto::{ClientId, Declined, IncomingOffer};

/// How long the last messages (`Finished` or an `Abort`, the close) may take to go out.
const GOODBYE: Duration = Duration::from_secs(5);

/// What woke the driver.
enum Input {
    Peer(Inbound),
    WriteFailed,
    Disk(Done),
    Alarm(Alarm),
}

/// One accepted file: what the machine expects, where the disk side puts it, and the
/// reservation of its part for this transfer.
struct Planned {
    expected: Expected,
    target: Target,
    claim: Claim,
}

pub(crate) async fn run(
    ctx: &Ctx,
    offer: IncomingOffer,
    files: Option<Vec<u32>>,
    dir: PathBuf,
    options: &Options,
) -> Result<Summary, Error> {
    let id = offer.id;
    if let Err(e) = offer.manifest.validate() {
        let _ = ctx.handle.decline(id, Declined::ByUser).await;
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
    let manifest = offer.manifest;
    let offer_digest = offer.digest;
    let downloads = Arc::new(blocking::unblock(move || Downloads::open(&dir)).await?);
    // What is already here (in parts this transfer reserves), and whether the rest fits.
    let key = ctx
        .handle
        .identity()
        .derive_key("courier 2026 receiver part tags");
    let plan: Vec<Planned> = {
        let downloads = downloads.clone();
        let entries: Vec<_> = accepted
            .iter()
            .filter_map(|&i| Some((i, manifest.files.get(i as usize)?.clone())))
            .collect();
        blocking::unblock(move || {
            entries
                .into_iter()
                .map(|(index, entry)| {
                    let claim = downloads
                        .claim(&entry.path, &part_tag(&key, from, &entry.path, entry.size));
                    let offset = if claim.offset <= entry.size {
                        claim.offset
                    } else {
                        0
                    };
                    Planned {
                        expected: Expected {
                            index,
                            size: entry.size,
                            offset,
                        },
                        target: Target {
                            path: entry.path,
                            tag: claim.tag.clone(),
                        },
                        claim,
                    }
                })
                .collect()
        })
        .await
    };
    let total: u64 = plan.iter().map(|p| p.expected.size).sum();
    let resumed: u64 = plan.iter().map(|p| p.expected.offset).sum();
    let needed = (total - resumed).saturating_add(options.free_space_margin);
    let available = downloads.free_space()?;
    if available < needed {
        let _ = ctx.handle.decline(id, Declined::NoSpace).await;
        return Err(Error::NotEnoughSpace { needed, available });
    }
    let listening = race::bind(options).await?;
    let addrs = listening
        .as_ref()
        .map(|l| l.addrs.clone())
        .unwrap_or_default();
    let mut answers = ctx.handle.accept(id, accepted, addrs).await?;
    let digest = Some(offer_digest);
    let link = race::connect(
        ctx,
        Role::Receiver,
        id,
        from,
        digest,
        listening,
        options,
        &mut answers,
    )
    .await?;
    let mut claims = Vec::with_capacity(plan.len());
    let (expected, targets): (Vec<Expected>, HashMap<u32, Target>) = plan
        .into_iter()
        .map(|p| {
            claims.push(p.claim);
            (p.expected, (p.expected.index, p.target))
        })
        .unzip();
    let receiver = Receiver::new(from, expected, options.progress_deadline, Instant::now());
    let disk = WriteBehind::new(downloads, targets, manifest.folders);
    let tally = stream(ctx, receiver, disk, Pump::new(link.ws)).await;
    drop(claims); // the parts are done with, kept or not
    let tally = tally?;
    Ok(Summary::new(id, link.route, link.started.elapsed(), tally))
}

/// Runs the connection and the disk until the machine knows the outcome.
async fn stream(
    ctx: &Ctx,
    mut receiver: Receiver,
    mut disk: WriteBehind,
    mut pump: Pump,
) -> Result<Tally, Error> {
    let mut alarms = Alarms::new(&ctx.cancel);
    let mut link_up = true;
    loop {
        while let Some(job) = receiver.poll_job() {
            disk.job(job);
        }
        while let Some(msg) = receiver.poll_transmit() {
            if link_up {
                pump.push_control(&msg);
            }
        }
        while let Some(u) = receiver.poll_update() {
            ctx.update(u).await;
        }
        if let Some(outcome) = receiver.poll_outcome() {
            if link_up {
                pump.close(GOODBYE).await;
            }
            return outcome;
        }
        alarms.set(receiver.poll_timeout());
        let input = futures::future::poll_fn(|cx| {
            // Alarms first: a peer that floods us must not keep the deadline from firing.
            if let Poll::Ready(alarm) = alarms.poll(cx) {
                return Poll::Ready(Input::Alarm(alarm));
            }
            if link_up && matches!(pump.poll_write(cx), Poll::Ready(Err(_))) {
                return Poll::Ready(Input::WriteFailed);
            }
            if let Poll::Ready(done) = disk.poll_done(cx) {
                return Poll::Ready(Input::Disk(done));
            }
            // Asked after the disk made room, which it may do without a result to report.
            let reading = link_up && receiver.wants_input() && disk.has_room();
            if reading && let Poll::Ready(m) = pump.poll_read(cx) {
                return Poll::Ready(Input::Peer(m));
            }
            Poll::Pending
        })
        .await;
        let now = Instant::now();
        match input {
            Input::Peer(Inbound::Message(bytes)) => match wire::decode(&bytes) {
                Ok(Incoming::Data(data)) => {
                    if receiver.handle_data(data.len(), now) {
                        disk.data(bytes);
                    }
                }
                Ok(Incoming::Control(msg)) => receiver.handle_control(msg, now),
                Err(e) => receiver.fail(Violation::Malformed(e).into()),
            },
            Input::Peer(Inbound::Gone) | Input::WriteFailed => {
                link_up = false;
                receiver.handle_link_lost();
            }
            Input::Disk(Done::Checked { index, result }) => {
                receiver.handle_checked(index, result, now);
            }
            Input::Disk(Done::Named(group)) => receiver.handle_named(group, now),
            Input::Disk(Done::Folders(result)) => receiver.handle_folders(result, now),
            Input::Disk(Done::Stopped) => receiver.handle_stopped(now),
            Input::Disk(Done::Failed(e)) => receiver.fail(e),
            Input::Alarm(Alarm::Timer) => receiver.handle_timeout(now),
            Input::Alarm(Alarm::Cancel) => receiver.fail(Error::Cancelled { by: ctx.me }),
        }
    }
}

/// The `.part` tag of a file: the same sender, path and size find the same part again,
/// and nobody but this receiver can tell which name that is (a keyed hash, with a key
/// only our identity has), so nobody can plant a part for another sender's transfer.
fn part_tag(key: &[u8; 32], from: ClientId, path: &str, size: u64) -> String {
    let mut h = blake3::Hasher::new_keyed(key);
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
