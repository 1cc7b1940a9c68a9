//! Hardening round 2, N13: `forget` was not a ban, and nothing removed what a member
//! left behind. A banned identity is refused at every login, with the password or
//! remembered, and what it left (and what waited for it) is forgotten; a drop by
//! sender frees that sender's share and leaves the others' messages.
use super::offers::{files, offer_waiting, offers};
use super::storing::Disk;
use super::transfers::ends;
use super::*;

fn texts(sim: &Sim, i: usize) -> Vec<String> {
    messages(sim, i).into_iter().map(|m| m.text).collect()
}

#[test]
fn a_banned_identity_is_refused_with_the_password_and_when_remembered() {
    let mut sim = Sim::new(PW);
    let first = sim.login_remembered(1, "mallory", PW);
    assert!(sim.clients[first].session.is_remembered());
    let bob = sim.login(2, "bob");
    sim.clear();

    let now = sim.now;
    sim.hub.ban(id(1), now);
    sim.run();
    assert_eq!(sim.clients[first].closed, Some(CloseReason::Banned));
    assert!(sim.hub.is_banned(&id(1)));
    assert!(sim.clients[bob].closed.is_none(), "nobody else is touched");
    let failed = sim.hub.stats().failed_logins;

    let remembered = sim.login_remembered(1, "mallory", "");
    assert_eq!(sim.clients[remembered].closed, Some(CloseReason::Banned));
    let with_password = sim.login_with(1, "mallory", PW);
    assert_eq!(sim.clients[with_password].closed, Some(CloseReason::Banned));
    assert!(!sim.is_online(with_password));
    assert_eq!(
        sim.hub.stats().failed_logins,
        failed,
        "refused before any password is tested"
    );
    assert_eq!(
        CloseReason::Banned.text(),
        "this device is banned from the hub"
    );
    assert_eq!(
        CloseReason::from_text("this device is banned from the hub"),
        Some(CloseReason::Banned)
    );

    // Unbanned, it is a newcomer: the password, not its old memory, lets it in.
    assert!(sim.hub.unban(id(1)));
    let again = sim.login_remembered(1, "mallory", "");
    assert!(!sim.is_online(again) || sim.clients[again].error.is_some());
    let back = sim.login_with(1, "mallory", PW);
    assert!(sim.is_online(back), "{:?}", sim.clients[back].error);
}

/// Mallory (1) and Alice (3) online, Bob (2) known and away, on a hub with a disk.
fn three(disk: &Disk) -> (Sim, usize, usize) {
    let mut sim = Sim::new(PW);
    sim.hub.restore(Vec::new(), Vec::new());
    established(&mut sim, &[1, 3]);
    let mallory = sim.login(1, "mallory");
    let alice = sim.login(3, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    disk.sync(&mut sim);
    sim.clear();
    (sim, mallory, alice)
}

#[test]
fn a_ban_forgets_the_messages_and_stored_offers_it_left() {
    let disk = Disk::new("ban");
    let (mut sim, mallory, alice) = three(&disk);
    for n in 0..3 {
        sim.advance(Duration::from_millis(500));
        send(&mut sim, mallory, n, Target::Client(id(2)), "from mallory");
    }
    send(&mut sim, alice, 100, Target::Client(id(2)), "from alice");
    offer_waiting(&mut sim, mallory, 1, id(2), files(1));
    disk.sync(&mut sim);
    assert_eq!(stored(&sim, mallory), 3);
    assert_eq!(sim.hub.stats().stored_offers, 1);
    assert_eq!(disk.db.offers().unwrap().len(), 1);

    let now = sim.now;
    sim.hub.ban(id(1), now);
    sim.run();
    disk.sync(&mut sim);
    assert_eq!(sim.clients[mallory].closed, Some(CloseReason::Banned));
    assert_eq!(sim.hub.stats().stored_offers, 0);
    assert!(disk.db.offers().unwrap().is_empty());
    let backlogs = disk.db.backlogs().unwrap();
    assert!(backlogs.iter().all(|w| w.from != id(1)), "{backlogs:?}");
    assert_eq!(sim.hub.stats().stored, 1, "Alice's message stays");

    let bob = sim.login(2, "bob");
    disk.sync(&mut sim);
    assert_eq!(texts(&sim, bob), ["from alice"]);
    assert!(offers(&sim, bob).is_empty());
}

#[test]
fn dropping_a_senders_messages_frees_its_share_and_leaves_the_others() {
    let disk = Disk::new("drop");
    let (mut sim, mallory, alice) = three(&disk);
    send(&mut sim, alice, 1000, Target::Client(id(2)), "from alice");
    let share = limits::MAILBOX / limits::OFFLINE_PAIR_SHARE;
    for n in 0..=share as u64 {
        sim.advance(Duration::from_millis(100));
        send(&mut sim, mallory, n, Target::Client(id(2)), "flood");
    }
    offer_waiting(&mut sim, mallory, 1, id(2), files(1));
    disk.sync(&mut sim);
    assert_eq!(stored(&sim, mallory), share);
    assert!(
        receipts(&sim, mallory)
            .iter()
            .any(|(_, d)| *d == Delivery::Rejected(RejectReason::MailboxFull))
    );
    sim.clear();

    let now = sim.now;
    let dropped = sim.hub.drop_from(id(1), now);
    assert_eq!(dropped.offers, 1);
    sim.run();
    disk.sync(&mut sim);
    assert_eq!(sim.hub.stats().stored, 1, "only Alice's message is left");
    assert_eq!(sim.hub.stats().stored_offers, 0);
    assert!(sim.clients[mallory].closed.is_none(), "a drop is not a ban");
    assert!(
        ends(&sim, mallory)
            .iter()
            .any(|(_, end)| *end == crate::proto::TransferEnd::NoLongerStored),
        "the sender hears its offer is no longer kept"
    );

    // Its share is free again.
    sim.advance(Duration::from_secs(5));
    send(
        &mut sim,
        mallory,
        5000,
        Target::Client(id(2)),
        "after the drop",
    );
    disk.sync(&mut sim);
    assert_eq!(stored(&sim, mallory), 1);

    let bob = sim.login(2, "bob");
    disk.sync(&mut sim);
    assert_eq!(texts(&sim, bob), ["from alice", "after the drop"]);
}

#[test]
fn a_hub_without_a_disk_drops_in_memory() {
    let mut sim = Sim::new(PW);
    let mallory = sim.login(1, "mallory");
    let alice = sim.login(3, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    send(&mut sim, mallory, 1, Target::Client(id(2)), "from mallory");
    send(&mut sim, alice, 2, Target::Client(id(2)), "from alice");
    let now = sim.now;
    assert_eq!(sim.hub.drop_from(id(1), now).messages, 1);
    let bob = sim.login(2, "bob");
    assert_eq!(texts(&sim, bob), ["from alice"]);
}
