//! A message stored for an offline contact becomes `delivered` once its recipient comes
//! back and acknowledges it: the sender hears it at once if online, else at its next
//! login (what is owed survives a restart of a hub with a database), and what one
//! sender is owed is bounded, the oldest dropped.
use super::storing::Disk;
use super::*;

fn delivered(sim: &Sim, i: usize) -> Vec<MsgId> {
    receipts(sim, i)
        .into_iter()
        .filter(|(_, d)| *d == Delivery::Delivered)
        .map(|(id, _)| id)
        .collect()
}

/// Alice (1) and Bob (2) known, Bob away: Alice stores `n` messages for him.
fn stored_for_bob(sim: &mut Sim, n: u64) -> usize {
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    for i in 0..n {
        send(sim, a, 100 + i, Target::Client(id(2)), "for later");
    }
    assert_eq!(stored(sim, a), n as usize);
    a
}

#[test]
fn an_online_sender_hears_delivered_when_the_recipient_takes_the_message() {
    let mut sim = Sim::new(PW);
    let a = stored_for_bob(&mut sim, 2);
    assert!(delivered(&sim, a).is_empty());
    let b = sim.login(2, "bob");
    assert_eq!(messages(&sim, b).len(), 2);
    assert_eq!(delivered(&sim, a), vec![MsgId(100), MsgId(101)]);
}

#[test]
fn an_offline_sender_hears_delivered_at_its_next_login_once() {
    let mut sim = Sim::new(PW);
    let a = stored_for_bob(&mut sim, 2);
    sim.disconnect(a);
    let b = sim.login(2, "bob");
    assert_eq!(messages(&sim, b).len(), 2);
    assert!(
        delivered(&sim, b).is_empty(),
        "receipts go to the sender only"
    );
    let a = sim.login(1, "alice");
    assert_eq!(delivered(&sim, a), vec![MsgId(100), MsgId(101)]);
    sim.disconnect(a);
    let a = sim.login(1, "alice");
    assert!(delivered(&sim, a).is_empty(), "handed over once");
}

/// A one-shot command (`courier who`: it leaves the mailbox and shows no messages) is
/// neither paid what its member is owed nor told live: the receipts wait for a login that
/// takes the mailbox (review of issue 22: `who` used them up and they were lost).
#[test]
fn receipts_wait_for_a_login_that_takes_the_mailbox() {
    let mut sim = Sim::new(PW);
    let a = stored_for_bob(&mut sim, 2);
    sim.disconnect(a);
    let b = sim.login(2, "bob");
    assert_eq!(messages(&sim, b).len(), 2);
    let quick = sim.login_one_shot(1, "alice");
    assert!(
        delivered(&sim, quick).is_empty(),
        "not paid to a one-shot login"
    );
    sim.disconnect(quick);
    let a = sim.login(1, "alice");
    assert_eq!(delivered(&sim, a), vec![MsgId(100), MsgId(101)]);

    // Live: Alice's only connection is a one-shot one when Carol takes her message.
    sim.disconnect(a);
    let c = sim.login(3, "carol");
    sim.disconnect(c);
    let a = sim.login(1, "alice");
    send(&mut sim, a, 300, Target::Client(id(3)), "for later");
    sim.disconnect(a);
    let quick = sim.login_one_shot(1, "alice");
    let c = sim.login(3, "carol");
    assert_eq!(messages(&sim, c).len(), 1);
    assert!(
        delivered(&sim, quick).is_empty(),
        "not told to a one-shot login"
    );
    sim.disconnect(quick);
    let a = sim.login(1, "alice");
    assert_eq!(delivered(&sim, a), vec![MsgId(300)]);
}

/// A member connected only through a one-shot command (it shows no messages) is away
/// for a message to it: the message is stored for a login that shows it, not handed to
/// the command (review of issue 22: a long `courier send` took messages no `listen`
/// ever showed).
#[test]
fn a_message_to_a_member_seen_only_by_a_one_shot_command_is_stored() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    let quick = sim.login_one_shot(2, "bob");
    send(&mut sim, a, 500, Target::Client(id(2)), "are you there?");
    assert_eq!(stored(&sim, a), 1, "stored, not delivered to the command");
    assert!(messages(&sim, quick).is_empty());
    let b = sim.login(2, "bob");
    assert_eq!(
        messages(&sim, b).len(),
        1,
        "the next login that shows messages has it"
    );
    assert_eq!(delivered(&sim, a), vec![MsgId(500)]);
}

#[test]
fn what_is_owed_to_an_offline_sender_survives_a_restart() {
    let disk = Disk::new("owed");
    let mut sim = Sim::new(PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let a = stored_for_bob(&mut sim, 0);
    send(&mut sim, a, 7, Target::Client(id(2)), "for later");
    disk.sync(&mut sim);
    assert_eq!(stored(&sim, a), 1);
    sim.disconnect(a);
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    assert_eq!(messages(&sim, b).len(), 1);
    sim.disconnect(b);
    disk.sync(&mut sim);
    // The hub stops and starts again on the same file.
    let mut sim = Sim::new(PW);
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    sim.hub.restore_receipts(disk.db.owed_receipts().unwrap());
    let a = sim.login(1, "alice");
    disk.sync(&mut sim);
    assert_eq!(delivered(&sim, a), vec![MsgId(7)]);
    // Handed over: forgotten on the disk too.
    assert!(disk.db.owed_receipts().unwrap().is_empty());
}

/// Alice (1, established) stores more than her share of receipts' worth of messages for
/// contacts 10.. (and `others` store one each for contact 10 first); then every contact
/// takes its messages while Alice and the others are away. Returns Alice's next id.
fn alice_is_owed_more_than_her_share(sim: &mut Sim, disk: &Disk, others: &[u8]) -> u64 {
    let mut members = vec![1];
    members.extend_from_slice(others);
    // Not new identities: their messages are held to the shares of any member.
    established(sim, &members);
    let cap = limits::OWED_RECEIPTS as u64;
    let contacts = 3 * cap / (limits::MAILBOX as u64 / limits::OFFLINE_PAIR_SHARE as u64) + 1;
    for who in 0..contacts {
        let c = sim.login(10 + who as u8, "contact");
        sim.disconnect(c);
    }
    for &o in others {
        let i = sim.login(o, "other");
        send(
            sim,
            i,
            1_000_000 + u64::from(o),
            Target::Client(id(10)),
            "mine",
        );
        disk.sync(sim);
        sim.disconnect(i);
    }
    let a = sim.login(1, "alice");
    let mut next = 0;
    for who in 0..contacts {
        for _ in 0..limits::MAILBOX / limits::OFFLINE_PAIR_SHARE {
            send(sim, a, next, Target::Client(id(10 + who as u8)), "x");
            next += 1;
        }
        disk.sync(sim);
    }
    sim.disconnect(a);
    for who in 0..contacts {
        let c = sim.login(10 + who as u8, "contact");
        disk.sync(sim);
        sim.disconnect(c);
    }
    disk.sync(sim);
    next
}

/// One member sends as much as its share lets it to many offline contacts, leaves, and
/// they all take theirs: what it is owed stays bounded, the newest kept.
#[test]
fn what_one_sender_is_owed_is_bounded_the_oldest_dropped() {
    let disk = Disk::new("owed-bound");
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.message_rate = 100_000;
    config.message_burst = 100_000;
    let mut sim = Sim::with_config(config, PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let next = alice_is_owed_more_than_her_share(&mut sim, &disk, &[]);
    assert_eq!(
        disk.db.owed_receipts().unwrap().len(),
        limits::OWED_RECEIPTS
    );
    let a = sim.login(1, "alice");
    disk.sync(&mut sim);
    let got = delivered(&sim, a);
    assert_eq!(got.len(), limits::OWED_RECEIPTS, "bounded");
    assert_eq!(got.last(), Some(&MsgId(next - 1)), "the newest kept");
}

/// One member owed more than its share (Alice, flooding) cannot push out what another
/// sender is owed: each sender keeps its own share of the owed receipts.
#[test]
fn one_sender_owed_too_much_leaves_the_others_theirs() {
    let disk = Disk::new("owed-share");
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.message_rate = 100_000;
    config.message_burst = 100_000;
    let mut sim = Sim::with_config(config, PW);
    sim.hub.restore(Vec::new(), Vec::new());
    alice_is_owed_more_than_her_share(&mut sim, &disk, &[2, 3]);
    for (who, name) in [(2, "carol"), (3, "dave")] {
        let i = sim.login(who, name);
        assert_eq!(
            delivered(&sim, i),
            vec![MsgId(1_000_000 + u64::from(who))],
            "{name} still hears its message was taken"
        );
    }
    let a = sim.login(1, "alice");
    assert_eq!(
        delivered(&sim, a).len(),
        limits::OWED_RECEIPTS,
        "alice: her share only"
    );
}
