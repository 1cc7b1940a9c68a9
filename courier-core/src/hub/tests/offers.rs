//! File offers stored for an offline recipient (offered with `wait`), on the simulator:
//! `stored` only once written; handed over at the recipient's next login; a sender away
//! reclaims its offer and the tickets wait for it; withdrawn, bounded, expired; and, on
//! a real SQLite file, kept across a restart. Names and sizes only: the hub never sees a
//! file.
use super::storing::Disk;
use super::transfers::{ends, tickets};
use super::*;
use crate::hub::db::Record;
use crate::proto::{FileEntry, Manifest, OfferRefusal, TransferEnd, TransferId};

pub(super) fn files(n: usize) -> Manifest {
    Manifest {
        files: (0..n)
            .map(|i| FileEntry {
                path: format!("report-{i}.pdf"),
                size: 1000 + i as u64,
            })
            .collect(),
        ..Manifest::default()
    }
}

fn addr(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([10, 0, 0, 1], port))
}

/// Client `i` offers `m` to `to`, waiting for them if offline.
pub(super) fn offer_waiting(sim: &mut Sim, i: usize, tag: u32, to: ClientId, m: Manifest) {
    let now = sim.now;
    sim.clients[i]
        .session
        .offer(tag, to, m, vec![addr(5000)], true, now)
        .unwrap();
    sim.run();
}

/// What the hub said to one offer: (tag, stored?, id or refusal).
type Said = (u32, Result<(bool, TransferId), OfferRefusal>);

/// What client `i` heard about its offers.
fn answers(sim: &Sim, i: usize) -> Vec<Said> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::OfferSent { tag, id } => Some((*tag, Ok((false, *id)))),
            SEvent::OfferStored { tag, id } => Some((*tag, Ok((true, *id)))),
            SEvent::OfferRefused { tag, reason } => Some((*tag, Err(*reason))),
            _ => None,
        })
        .collect()
}

fn stored_id(sim: &Sim, i: usize) -> TransferId {
    match answers(sim, i).last() {
        Some((_, Ok((true, id)))) => *id,
        other => unreachable!("no `stored`: {other:?}"),
    }
}

pub(super) fn offers(sim: &Sim, i: usize) -> Vec<crate::proto::IncomingOffer> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::Offer(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

fn accept(sim: &mut Sim, i: usize, id: TransferId, port: u16) {
    sim.raw(
        i,
        &ClientFrame::Accept {
            id,
            files: vec![0],
            addrs: vec![addr(port)],
        },
    );
}

/// Alice online, Bob known and away.
fn alice_and_absent_bob(sim: &mut Sim) -> usize {
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    sim.clear();
    a
}

#[test]
fn an_offer_to_an_offline_member_waits_is_stored_once_written_and_reaches_them() {
    let disk = Disk::new("offer-kept");
    let mut sim = Sim::new(PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let a = alice_and_absent_bob(&mut sim);
    disk.sync(&mut sim);
    sim.clear();

    // Without `wait`, as before: Bob is not online.
    let now = sim.now;
    sim.clients[a]
        .session
        .offer(1, id(2), files(1), vec![], false, now)
        .unwrap();
    sim.run();
    assert_eq!(answers(&sim, a), [(1, Err(OfferRefusal::NoSuchPeer))]);
    sim.clear();

    offer_waiting(&mut sim, a, 2, id(2), files(2));
    assert!(
        answers(&sim, a).is_empty(),
        "nothing said before the disk has it"
    );
    let batch = sim.hub.poll_writes();
    assert!(
        batch.iter().any(|r| matches!(r, Record::Offer(o)
            if o.from == id(1) && o.to == id(2) && !o.sealed.is_empty())),
        "{batch:?}"
    );
    disk.db.write(&batch).unwrap();
    let now = sim.now;
    sim.hub.handle_written(1, true, now);
    sim.run();
    let kept = stored_id(&sim, a);
    assert_eq!(sim.hub.stats().stored_offers, 1);

    // Bob comes back: the offer, from Alice, with where she listens (she is here).
    let b = sim.login(2, "bob");
    let got = offers(&sim, b);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].id, got[0].from), (kept, id(1)));
    assert_eq!(got[0].manifest, files(2));
    assert_eq!(got[0].addrs, [addr(5000)]);

    // He accepts: both get the ticket at once, and the offer is no longer stored.
    accept(&mut sim, b, kept, 6000);
    assert_eq!(tickets(&sim, a).len(), 1);
    assert_eq!(tickets(&sim, b).len(), 1);
    assert_eq!(tickets(&sim, a)[0].addrs, [addr(6000)]);
    assert_eq!(sim.hub.stats().stored_offers, 0);
    let after = sim.hub.poll_writes();
    assert!(
        after
            .iter()
            .any(|r| matches!(r, Record::OfferGone(gone) if *gone == kept)),
        "{after:?}"
    );
}

#[test]
fn a_stored_offer_outlasts_its_sender_and_the_tickets_wait_for_it_to_come_back() {
    let mut sim = Sim::new(PW);
    let a = alice_and_absent_bob(&mut sim);
    offer_waiting(&mut sim, a, 1, id(2), files(1));
    // A hub without a database keeps it in memory: `stored` at once.
    let kept = stored_id(&sim, a);
    sim.disconnect(a);

    let b = sim.login(2, "bob");
    let got = offers(&sim, b);
    assert_eq!(got.len(), 1, "handed over though Alice is away");
    assert!(got[0].addrs.is_empty(), "she listens nowhere now");
    accept(&mut sim, b, kept, 6000);
    assert!(
        tickets(&sim, b).is_empty(),
        "no ticket while the sender is away"
    );

    // Alice is back, and reclaims it listening elsewhere: now the tickets go out.
    let a2 = sim.login(1, "alice");
    sim.raw(
        a2,
        &ClientFrame::Reclaim {
            id: kept,
            addrs: vec![addr(7000)],
        },
    );
    let to_bob = tickets(&sim, b);
    let to_alice = tickets(&sim, a2);
    assert_eq!((to_bob.len(), to_alice.len()), (1, 1));
    assert_eq!(to_bob[0].addrs, [addr(7000)], "where Alice listens now");
    assert_eq!(to_alice[0].addrs, [addr(6000)]);
    assert_eq!(to_bob[0].ticket, to_alice[0].ticket);
}

#[test]
fn an_answer_while_the_sender_is_away_is_dropped_if_the_recipient_leaves_too() {
    let mut sim = Sim::new(PW);
    let a = alice_and_absent_bob(&mut sim);
    offer_waiting(&mut sim, a, 1, id(2), files(1));
    let kept = stored_id(&sim, a);
    sim.disconnect(a);
    let b = sim.login(2, "bob");
    accept(&mut sim, b, kept, 6000);
    sim.disconnect(b);
    // Alice back: no ticket for a recipient who left; the offer waits for Bob again.
    let a2 = sim.login(1, "alice");
    sim.raw(
        a2,
        &ClientFrame::Reclaim {
            id: kept,
            addrs: vec![addr(7000)],
        },
    );
    assert!(tickets(&sim, a2).is_empty());
    let b2 = sim.login(2, "bob");
    assert_eq!(offers(&sim, b2).len(), 1, "handed over again");
}

#[test]
fn a_reclaim_of_an_offer_the_hub_no_longer_keeps_is_told_so() {
    let mut sim = Sim::new(PW);
    let a = alice_and_absent_bob(&mut sim);
    offer_waiting(&mut sim, a, 1, id(2), files(1));
    let kept = stored_id(&sim, a);
    sim.disconnect(a);
    // Bob declines while Alice is away.
    let b = sim.login(2, "bob");
    sim.raw(
        b,
        &ClientFrame::Decline {
            id: kept,
            reason: crate::proto::Declined::ByUser,
        },
    );
    let a2 = sim.login(1, "alice");
    sim.raw(
        a2,
        &ClientFrame::Reclaim {
            id: kept,
            addrs: vec![],
        },
    );
    // And someone else's, or a made-up one.
    sim.raw(
        a2,
        &ClientFrame::Reclaim {
            id: TransferId(12345),
            addrs: vec![],
        },
    );
    assert_eq!(
        ends(&sim, a2),
        [
            (kept, TransferEnd::NoLongerStored),
            (TransferId(12345), TransferEnd::NoLongerStored)
        ]
    );
    assert_eq!(sim.hub.stats().stored_offers, 0);
}

#[test]
fn the_sender_withdraws_a_stored_offer_and_it_never_arrives() {
    let mut sim = Sim::new(PW);
    let a = alice_and_absent_bob(&mut sim);
    offer_waiting(&mut sim, a, 1, id(2), files(1));
    let kept = stored_id(&sim, a);
    sim.raw(a, &ClientFrame::Cancel { id: kept });
    assert_eq!(sim.hub.stats().stored_offers, 0);
    assert!(
        sim.hub.poll_writes().is_empty(),
        "a hub without a database piles nothing up to write"
    );
    let b = sim.login(2, "bob");
    assert!(offers(&sim, b).is_empty());
}

#[test]
fn stored_offers_are_bounded_per_recipient_refused_when_not_written_and_expire() {
    let disk = Disk::new("offer-bounds");
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    // A sender may keep a quarter of what a recipient may: 2 of 8.
    config.stored_offers = 8;
    let mut sim = Sim::with_config(config, PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let a = alice_and_absent_bob(&mut sim);
    disk.sync(&mut sim);
    sim.clear();
    for tag in 1..=3 {
        offer_waiting(&mut sim, a, tag, id(2), files(1));
    }
    assert_eq!(answers(&sim, a), [(3, Err(OfferRefusal::Busy))]);
    disk.sync(&mut sim);
    assert_eq!(answers(&sim, a).len(), 3, "the first two stored");
    assert_eq!(sim.hub.stats().stored_offers, 2);

    // A disk that fails: refused with the reason, and not kept.
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.stored_offers = 5;
    let mut failing = Sim::with_config(config, PW);
    failing.hub.restore(Vec::new(), Vec::new());
    let fa = alice_and_absent_bob(&mut failing);
    failing.hub.poll_writes();
    let now = failing.now;
    failing.hub.handle_written(1, true, now);
    offer_waiting(&mut failing, fa, 9, id(2), files(1));
    assert!(!failing.hub.poll_writes().is_empty());
    let now = failing.now;
    failing.hub.handle_written(1, false, now);
    failing.run();
    assert_eq!(
        answers(&failing, fa),
        [(9, Err(OfferRefusal::CouldNotStore))]
    );
    assert_eq!(failing.hub.stats().stored_offers, 0);

    // Past the age messages are stored for, offers are forgotten too.
    sim.advance(crate::limits::OFFLINE_MAX_AGE + Duration::from_secs(3600));
    assert_eq!(sim.hub.stats().stored_offers, 0);
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    assert!(offers(&sim, b).is_empty());
    assert!(
        disk.db.offers().unwrap().is_empty(),
        "forgotten on the disk"
    );
}

#[test]
fn stored_offers_survive_a_restart_and_reach_the_recipient_with_their_sender() {
    let disk = Disk::new("offer-restart");
    let kept = {
        let mut sim = Sim::new(PW);
        sim.hub.restore(Vec::new(), Vec::new());
        let a = alice_and_absent_bob(&mut sim);
        disk.sync(&mut sim);
        sim.clear();
        offer_waiting(&mut sim, a, 1, id(2), files(3));
        disk.sync(&mut sim);
        stored_id(&sim, a)
    };
    let created = disk.db.offers().unwrap()[0].created;
    // The hub restarts from its database: members, then the offers.
    let mut sim = Sim::new(PW);
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    sim.hub.restore_offers(disk.db.offers().unwrap());
    assert_eq!(sim.hub.stats().stored_offers, 1);
    let b = sim.login(2, "bob");
    let got = offers(&sim, b);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].id, got[0].from), (kept, id(1)));
    assert_eq!(got[0].manifest, files(3));
    assert_eq!(got[0].time, Some(created), "when it was offered, not now");
    accept(&mut sim, b, kept, 6000);
    let a = sim.login(1, "alice");
    sim.raw(
        a,
        &ClientFrame::Reclaim {
            id: kept,
            addrs: vec![addr(7000)],
        },
    );
    assert_eq!(tickets(&sim, a).len(), 1);
    assert_eq!(tickets(&sim, b).len(), 1);
    disk.sync(&mut sim);
    assert!(disk.db.offers().unwrap().is_empty(), "answered: forgotten");
}

/// A manifest of about `kib` KiB of names.
fn big(kib: usize) -> Manifest {
    Manifest {
        files: (0..kib)
            .map(|i| FileEntry {
                path: format!("{i:04}-{}", "n".repeat(1000)),
                size: 1,
            })
            .collect(),
        ..Manifest::default()
    }
}

/// Hardening round 2, N3: one member stored offers as fast as it could, filled the hub's
/// room for them (32 MiB) in 51 s, and from then on every `send --wait` on the hub, to
/// online contacts too, was refused. Now each sender has a share of the hub's room and
/// a quarter of each recipient's, and an offer to someone online is never refused for
/// stored ones.
#[test]
fn one_sender_fills_only_its_own_share_of_stored_offers() {
    let mut sim = Sim::new(PW);
    let mallory = sim.login(1, "mallory");
    let alice = sim.login(3, "alice");
    let carol = sim.login(4, "carol");
    let away: Vec<u8> = (10..40).collect();
    for &who in std::iter::once(&2u8).chain(&away) {
        let i = sim.login(who, "away");
        sim.disconnect(i);
    }
    sim.clear();
    let mut tag = 0;
    let mut keep = |sim: &mut Sim, from: usize, to: u8, m: Manifest| {
        tag += 1;
        sim.advance(Duration::from_millis(600)); // within the offer rate
        offer_waiting(sim, from, tag, id(to), m);
        answers(sim, from).pop().map(|(_, r)| r)
    };
    // Bob is away: Mallory keeps offers for him until her share of his is full.
    let mut kept_for_bob = 0;
    while let Some(Ok(_)) = keep(&mut sim, mallory, 2, files(1)) {
        kept_for_bob += 1;
        assert!(kept_for_bob <= limits::STORED_OFFERS, "never refused");
    }
    assert_eq!(
        kept_for_bob,
        limits::STORED_OFFERS / 4,
        "a quarter of bob's"
    );
    assert!(
        matches!(keep(&mut sim, alice, 2, files(1)), Some(Ok((true, _)))),
        "alice still keeps one for bob"
    );
    // Big offers to everyone away: Mallory's share of the hub's room runs out.
    let mut big_ones = 0;
    for &to in away.iter().cycle().take(200) {
        match keep(&mut sim, mallory, to, big(120)) {
            Some(Ok(_)) => big_ones += 1,
            Some(Err(OfferRefusal::Busy)) => break,
            other => unreachable!("{other:?}"),
        }
    }
    let share = limits::STORED_OFFERS_SENDER_BYTES / (120 * 1024);
    assert!(
        big_ones <= share,
        "{big_ones} big offers kept, share {share}"
    );
    // Her offer to Carol, who is here, still goes (as a live one).
    assert!(
        matches!(keep(&mut sim, mallory, 4, files(1)), Some(Ok((false, _)))),
        "an offer to someone online is never refused for kept ones"
    );
    assert_eq!(offers(&sim, carol).len(), 1);
    // Others still keep offers for people away.
    assert!(matches!(
        keep(&mut sim, alice, 10, big(120)),
        Some(Ok((true, _)))
    ));
}

/// An identity that never comes back holds nothing for long: its stored offers are
/// forgotten once it has been away for a week (only it could send the files).
#[test]
fn stored_offers_of_a_sender_gone_for_a_week_are_forgotten() {
    let mut sim = Sim::new(PW);
    let a = alice_and_absent_bob(&mut sim);
    offer_waiting(&mut sim, a, 1, id(2), files(1));
    assert_eq!(sim.hub.stats().stored_offers, 1);
    sim.disconnect(a);
    sim.advance(limits::STORED_OFFER_SENDER_AWAY - Duration::from_secs(2 * 3600));
    assert_eq!(
        sim.hub.stats().stored_offers,
        1,
        "a few days away: still kept"
    );
    sim.advance(Duration::from_secs(3 * 3600));
    assert_eq!(sim.hub.stats().stored_offers, 0);
}
