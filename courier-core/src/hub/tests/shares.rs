//! Hardening round 2, N4: the room for messages stored for offline members is shared per
//! sender and per recipient, so one party can fill only its own share; and members that
//! logged in once and never came back do not hold it for a month.
use super::storing::Disk;
use super::*;

/// One sender fills Bob's mailbox (4 MiB, 256 messages), and then everyone else's
/// messages to Bob were refused. Now it fills only a quarter of it.
#[test]
fn one_sender_fills_only_its_share_of_a_recipients_mailbox() {
    let mut sim = Sim::new(PW);
    established(&mut sim, &[1, 3]);
    let mallory = sim.login(1, "mallory");
    let alice = sim.login(3, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    sim.clear();
    for n in 0..300u64 {
        // Within the message rate: one a second.
        sim.advance(Duration::from_millis(100));
        send(&mut sim, mallory, n, Target::Client(id(2)), "flood");
    }
    assert_eq!(
        stored(&sim, mallory),
        limits::MAILBOX / limits::OFFLINE_PAIR_SHARE
    );
    assert!(
        receipts(&sim, mallory)
            .iter()
            .any(|(_, d)| *d == Delivery::Rejected(RejectReason::MailboxFull))
    );
    send(
        &mut sim,
        alice,
        1000,
        Target::Client(id(2)),
        "still reaches bob",
    );
    assert_eq!(stored(&sim, alice), 1, "others still write to bob");
}

/// One sender with big messages to many members who are away fills only its share of
/// the hub's room (a sixteenth), not the room itself.
#[test]
fn one_sender_fills_only_its_share_of_the_hubs_room() {
    let mut sim = Sim::new(PW);
    established(&mut sim, &[1, 3]);
    let mallory = sim.login(1, "mallory");
    let alice = sim.login(3, "alice");
    let away: Vec<u8> = (10..60).collect();
    for &n in &away {
        let i = sim.login(n, "away");
        sim.disconnect(i);
    }
    sim.clear();
    let big = "x".repeat(60 * 1024);
    let mut n = 0;
    for &to in away.iter().cycle().take(400) {
        n += 1;
        sim.advance(Duration::from_millis(100));
        send(&mut sim, mallory, n, Target::Client(id(to)), &big);
    }
    let kept = stored(&sim, mallory) * (big.len() + 96);
    let share = limits::OFFLINE_TOTAL_BYTES / limits::OFFLINE_SENDER_SHARE;
    assert!(kept <= share, "{kept} bytes kept, share {share}");
    assert!(
        kept + big.len() + 96 > share,
        "the share is used up: {kept}"
    );
    assert!(sim.hub.stats().stored_bytes < limits::OFFLINE_TOTAL_BYTES / 8);
    send(&mut sim, alice, 1, Target::Client(id(10)), &big);
    assert_eq!(stored(&sim, alice), 1, "others still keep messages");
}

/// What waits for an identity that logged in once and never came back is forgotten
/// after a few days, on the disk too, once the hub's room is under pressure (more than
/// half full); a member that came back keeps its month, and so does a newcomer while
/// the room has space (one long first session and a long weekend lose nothing).
#[test]
fn what_waits_for_an_identity_that_never_came_back_is_forgotten() {
    let disk = Disk::new("never-came-back");
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.offline_disk_bytes = 64 * 1024;
    let mut sim = Sim::with_config(config, PW);
    sim.hub.restore(Vec::new(), Vec::new());
    // Members of long standing (new identities share a quarter of the room).
    for n in 10..22 {
        let s = sim.login(n, "sender");
        sim.disconnect(s);
    }
    sim.advance(limits::NEWCOMER);
    let senders: Vec<usize> = (10..22).map(|n| sim.login(n, "sender")).collect();
    let a = senders[0];
    let once = sim.login(2, "once");
    sim.disconnect(once);
    let twice = sim.login(3, "twice");
    sim.disconnect(twice);
    let twice = sim.login(3, "twice");
    sim.disconnect(twice);
    disk.sync(&mut sim);
    sim.clear();
    send(&mut sim, a, 1, Target::Client(id(2)), "to the throwaway");
    send(&mut sim, a, 2, Target::Client(id(3)), "to a member");
    disk.sync(&mut sim);
    assert_eq!(stored(&sim, a), 2);
    assert_eq!(sim.hub.stats().stored, 2);
    sim.advance(limits::NEVER_CAME_BACK + Duration::from_secs(2 * 3600));
    disk.sync(&mut sim);
    assert_eq!(
        sim.hub.stats().stored,
        2,
        "room to spare: a newcomer's mail is kept"
    );
    // Others fill more than half the room with mail for the throwaway.
    let text = "x".repeat(3 * 1024);
    for (n, &s) in senders.iter().enumerate().skip(1) {
        send(&mut sim, s, 100 + n as u64, Target::Client(id(2)), &text);
    }
    disk.sync(&mut sim);
    assert!(sim.hub.stats().stored_bytes > 32 * 1024);
    sim.advance(Duration::from_secs(2 * 3600));
    disk.sync(&mut sim);
    assert_eq!(sim.hub.stats().stored, 1, "only the member's is kept");
    let on_disk: Vec<ClientId> = disk.db.backlogs().unwrap().iter().map(|w| w.to).collect();
    assert_eq!(on_disk, vec![id(3)], "forgotten on the disk too");
    // The member still gets it.
    let t = sim.login(3, "twice");
    disk.sync(&mut sim);
    assert_eq!(messages(&sim, t).len(), 1);
}

/// Throwaway identities made for a flood are new: together they fill at most a quarter
/// of the hub's room, and members of long standing still keep messages for others; once
/// they are a week old, what they keep no longer counts against the newcomers' room, so
/// a new colleague is not locked out for a month.
#[test]
fn new_identities_together_fill_only_the_newcomers_room() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.offline_total_bytes = 256 * 1024;
    let mut sim = Sim::with_config(config, PW);
    let old = sim.login(1, "old hand");
    sim.disconnect(old);
    // A member that comes back (the 3-day rule is not for it).
    for _ in 0..2 {
        let away = sim.login(2, "away");
        sim.disconnect(away);
    }
    sim.advance(limits::NEWCOMER);
    let old = sim.login(1, "old hand");
    let text = "x".repeat(3 * 1024);
    let mut kept = 0;
    for n in 0..40u8 {
        let s = sim.login(100 + n, "throwaway");
        for k in 0..4 {
            send(
                &mut sim,
                s,
                u64::from(n) * 10 + k,
                Target::Client(id(2)),
                &text,
            );
        }
        let by_one = stored(&sim, s);
        assert!(
            by_one * (text.len() + 96) <= 256 * 1024 / 4 / 16,
            "one newcomer's share"
        );
        kept += by_one;
    }
    let room = 256 * 1024 / limits::OFFLINE_NEWCOMERS_SHARE;
    assert!(kept * (text.len() + 96) <= room, "{kept} kept by newcomers");
    assert!(
        (kept + 1) * (text.len() + 96) > room,
        "their room is used up: {kept}"
    );
    send(&mut sim, old, 1, Target::Client(id(2)), &text);
    assert_eq!(
        stored(&sim, old),
        1,
        "a member of long standing still keeps one"
    );
    // A week on, the flood's identities are newcomers no more: a new colleague keeps one.
    sim.advance(limits::NEWCOMER + Duration::from_secs(3600));
    let colleague = sim.login(200, "new colleague");
    send(&mut sim, colleague, 1, Target::Client(id(2)), &text);
    assert_eq!(stored(&sim, colleague), 1);
}

/// New identities together fill at most half of one member's mailbox (in messages too),
/// so a few of them cannot leave Bob unreachable to members.
#[test]
fn new_identities_together_fill_only_half_a_mailbox() {
    let mut sim = Sim::new(PW);
    let old = sim.login(1, "old hand");
    sim.disconnect(old);
    let bob = sim.login(2, "bob");
    sim.disconnect(bob);
    sim.advance(limits::NEWCOMER);
    let old = sim.login(1, "old hand");
    let mut kept = 0;
    for n in 0..8u8 {
        let s = sim.login(100 + n, "throwaway");
        for k in 0..70u64 {
            sim.advance(Duration::from_millis(60));
            send(
                &mut sim,
                s,
                u64::from(n) * 100 + k,
                Target::Client(id(2)),
                "flood",
            );
        }
        kept += stored(&sim, s);
    }
    assert_eq!(
        kept,
        limits::MAILBOX / limits::OFFLINE_NEWCOMERS_MAILBOX_SHARE
    );
    send(&mut sim, old, 1, Target::Client(id(2)), "for bob");
    assert_eq!(stored(&sim, old), 1, "a member still writes to bob");
}
