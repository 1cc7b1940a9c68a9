//! Hostile members of groups: one who adds 10 000 people, one who creates groups in a
//! loop, one who reads nothing while in 64 busy groups. Each is held at a bound with its
//! reason, the hub's memory for group logs stays within its budget (its own counters
//! say), and the other members are unaffected.
use super::groups::{change, create, positions};
use super::*;
use crate::proto::{GroupId, GroupOutcome, GroupRefusal};
use crate::session::GroupRequest;

/// A hub without message rate limits (the bounds under test are the groups').
fn unhurried() -> Sim {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.message_rate = 1_000_000;
    config.message_burst = 1_000_000;
    Sim::with_config(config, PW)
}

fn member_id(n: u64) -> ClientId {
    let mut who = [0u8; 32];
    who[..8].copy_from_slice(&n.to_le_bytes());
    ClientId(who)
}

#[test]
fn adding_ten_thousand_people_stops_at_the_group_bound_and_others_carry_on() {
    let mut sim = unhurried();
    known_offline(&mut sim, 1_000, 10_000);
    let m = sim.login(1, "mallory");
    let a = sim.login(2, "alice");
    let b = sim.login(3, "bob");
    let theirs = create(&mut sim, a, "ours", &[3]);
    let g = create(&mut sim, m, "huge", &[]);
    let mut outcomes = Vec::new();
    for batch in 0..40u64 {
        let members = (0..250)
            .map(|k| member_id(1_000 + batch * 250 + k))
            .collect();
        outcomes.push(change(&mut sim, m, GroupRequest::Add { group: g, members }));
    }
    assert_eq!(outcomes[0], GroupOutcome::Done(g), "the first 250 fit");
    assert!(
        outcomes[1..]
            .iter()
            .all(|o| *o == GroupOutcome::Refused(GroupRefusal::GroupFull)),
        "then every add is refused, saying why"
    );
    assert_eq!(sim.hub.stats().groups, 2);
    send(&mut sim, a, 1, Target::Group(theirs), "still here");
    assert_eq!(receipts(&sim, a), [(MsgId(1), Delivery::Delivered)]);
    assert!(messages(&sim, b).iter().any(|m| m.text == "still here"));
}

#[test]
fn creating_groups_in_a_loop_stops_at_the_bound_and_others_still_create() {
    let mut sim = unhurried();
    let m = sim.login(1, "mallory");
    let a = sim.login(2, "alice");
    let mut done = 0;
    let mut refused = Vec::new();
    for k in 0..200 {
        let request = GroupRequest::Create {
            name: format!("spam {k}"),
            members: vec![id(2)],
        };
        match change(&mut sim, m, request) {
            GroupOutcome::Done(_) => done += 1,
            GroupOutcome::Refused(why) => refused.push(why),
        }
    }
    assert_eq!(done, limits::GROUPS_CREATED);
    assert!(refused.iter().all(|r| *r == GroupRefusal::TooManyCreated));
    assert_eq!(sim.hub.stats().groups, limits::GROUPS_CREATED);
    // Alice is in 16 of Mallory's groups and still creates her own.
    create(&mut sim, a, "mine", &[]);
}

#[test]
fn a_member_reading_nothing_in_64_busy_groups_keeps_the_hub_within_its_budget() {
    let mut sim = unhurried();
    let h = sim.login(1, "hoarder");
    let a = sim.login(2, "alice");
    let b = sim.login(3, "bob");
    sim.disconnect(h);
    // Alice may create as many groups as one may be in.
    sim.hub.config.groups_created = limits::GROUPS_PER_MEMBER;
    let groups: Vec<GroupId> = (0..limits::GROUPS_PER_MEMBER)
        .map(|k| create(&mut sim, a, &format!("busy {k}"), &[1, 3]))
        .collect();
    sim.clear();
    let text = "x".repeat(limits::MAX_TEXT);
    let per_group = 20;
    let mut n = 0;
    for g in &groups {
        for _ in 0..per_group {
            n += 1;
            send(&mut sim, a, n, Target::Group(*g), &text);
        }
        sim.clear();
    }
    let stats = sim.hub.stats();
    assert!(
        stats.group_bytes <= limits::GROUP_LOGS_TOTAL_BYTES,
        "{} bytes kept",
        stats.group_bytes
    );
    assert!(stats.group_entries <= groups.len() * limits::GROUP_LOG);
    assert!(
        stats.group_entries < groups.len() * per_group,
        "the bounds held: the oldest of what the hoarder never took were forgotten"
    );
    // Bob read everything live, in every group, while the hoarder held nothing back.
    send(&mut sim, a, n + 1, Target::Group(groups[63]), "last");
    assert!(messages(&sim, b).iter().any(|m| m.text == "last"));
    assert_eq!(
        positions(&sim, b, groups[63]).len(),
        1,
        "Bob is caught up: live, not in pages"
    );
}
