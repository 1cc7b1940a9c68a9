//! One order for everyone, checked over random runs: members write, join, are removed,
//! leave and come and go (their pages at login included), while a witness who never
//! leaves sees the whole log. Every member sees each position at most once, in
//! increasing order, only while a member, with the same entry as the witness; a member
//! in the group and online at the end has everything since they last joined.
use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, SeedableRng};

use super::groups::create;
use super::*;
use crate::proto::{GroupChange, GroupEntry, GroupId, Seq};
use crate::session::GroupRequest;

/// What client `i` was handed of `group`, in order: position and entry.
fn handed(sim: &Sim, i: usize, group: GroupId) -> Vec<(Seq, GroupEntry)> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::GroupEvent(ev) if ev.group == group => {
                Some((ev.seq, GroupEntry::Event(ev.clone())))
            }
            SEvent::Message(m) if m.to == Target::Group(group) => {
                let m = crate::proto::SealedMessage {
                    id: m.id,
                    from: m.from,
                    to: m.to,
                    sealed: crate::proto::Sealed::default(),
                    time: m.time,
                    seq: m.seq,
                };
                Some((m.seq.unwrap_or(0), GroupEntry::Message(m)))
            }
            _ => None,
        })
        .collect()
}

/// Who is in the group by the log the witness saw, and each member's stretches in it
/// (from the position that added them to the one that took them out, if any).
fn membership(log: &[(Seq, GroupEntry)]) -> BTreeMap<ClientId, Vec<(Seq, Option<Seq>)>> {
    let mut stretches: BTreeMap<ClientId, Vec<(Seq, Option<Seq>)>> = BTreeMap::new();
    for (seq, entry) in log {
        let GroupEntry::Event(e) = entry else {
            continue;
        };
        let (who, joins) = match &e.change {
            GroupChange::Created { .. } => (e.by, true),
            GroupChange::Added(who) => (*who, true),
            GroupChange::Removed(who) => (*who, false),
            GroupChange::Left | GroupChange::RemovedByOwner => (e.by, false),
            GroupChange::Admin { .. } => continue,
        };
        let list = stretches.entry(who).or_default();
        if joins {
            list.push((*seq, None));
        } else if let Some(last) = list.last_mut() {
            last.1 = Some(*seq);
        }
    }
    stretches
}

fn is_in(stretches: &[(Seq, Option<Seq>)]) -> bool {
    stretches.last().is_some_and(|(_, end)| end.is_none())
}

/// One run; how many pages of the log went to members back from away.
fn run(seed: u64) -> usize {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.message_rate = 1_000_000;
    config.message_burst = 1_000_000;
    let mut sim = Sim::with_config(config, PW);
    let witness = sim.login(1, "witness");
    // Each member's connections over the run, the last one live if `online`.
    let mut conns: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
    let mut online: BTreeSet<u8> = BTreeSet::new();
    for who in 2..=5u8 {
        conns.insert(who, vec![sim.login(who, "member")]);
        online.insert(who);
    }
    let g = create(&mut sim, witness, "ops", &[2, 3, 4]);
    let make_admin = GroupRequest::Admin {
        group: g,
        member: id(2),
        admin: true,
    };
    super::groups::change(&mut sim, witness, make_admin);
    let mut next_id = 0u64;
    for _ in 0..150 {
        let log = handed(&sim, witness, g);
        let members = membership(&log);
        let inside = |who: u8| members.get(&id(who)).is_some_and(|s| is_in(s));
        let who: u8 = rng.gen_range(2..=5);
        let roll: u32 = rng.gen_range(0..100);
        let me = conns[&who].last().copied().unwrap();
        let now = sim.now;
        if roll < 15 {
            // Comes or goes.
            if online.remove(&who) {
                sim.disconnect(me);
            } else {
                let i = sim.login(who, "member");
                conns.entry(who).or_default().push(i);
                online.insert(who);
            }
        } else if !online.contains(&who) {
            continue;
        } else if roll < 65 {
            next_id += 1;
            let text = format!("m{next_id}");
            sim.clients[me]
                .session
                .send_message(MsgId(next_id), Target::Group(g), text, now)
                .unwrap();
        } else if roll < 75 {
            let other: u8 = rng.gen_range(2..=5);
            let request = GroupRequest::Add {
                group: g,
                members: vec![id(other)],
            };
            let _ = sim.clients[me].session.change_group(0, request, now);
        } else if roll < 90 {
            let other: u8 = rng.gen_range(2..=5);
            let request = GroupRequest::Remove {
                group: g,
                member: id(other),
            };
            // The witness removes too (it is the creator), in the same tick.
            let _ = sim.clients[me]
                .session
                .change_group(0, request.clone(), now);
            if rng.gen_bool(0.5) && inside(other) {
                let _ = sim.clients[witness].session.change_group(0, request, now);
            }
        } else if inside(who) {
            let _ = sim.clients[me]
                .session
                .change_group(0, GroupRequest::Leave { group: g }, now);
        }
        sim.run();
    }
    // Everyone comes back: what they missed comes in pages.
    for who in 2..=5u8 {
        if online.insert(who) {
            let i = sim.login(who, "member");
            conns.entry(who).or_default().push(i);
        }
    }
    let log = handed(&sim, witness, g);
    let positions: Vec<Seq> = log.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        positions,
        (1..=positions.len() as Seq).collect::<Vec<_>>(),
        "seed {seed}: the witness sees the whole log, in order"
    );
    let by_seq: BTreeMap<Seq, &GroupEntry> = log.iter().map(|(s, e)| (*s, e)).collect();
    let members = membership(&log);
    for (who, list) in &conns {
        let member = id(*who);
        let got: Vec<(Seq, GroupEntry)> = list.iter().flat_map(|i| handed(&sim, *i, g)).collect();
        let stretches = members.get(&member).cloned().unwrap_or_default();
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "seed {seed}: member {who} got positions out of order or twice: {:?}",
            got.iter().map(|(s, _)| s).collect::<Vec<_>>()
        );
        for (seq, entry) in &got {
            assert!(
                stretches
                    .iter()
                    .any(|(from, to)| seq >= from && to.is_none_or(|t| *seq <= t)),
                "seed {seed}: member {who} got {seq} while not a member ({stretches:?})"
            );
            assert_eq!(
                by_seq.get(seq),
                Some(&entry),
                "seed {seed}: the same entry for everyone"
            );
        }
        if let Some((from, None)) = stretches.last() {
            let have: BTreeSet<Seq> = got.iter().map(|(s, _)| *s).collect();
            let own = |s: &Seq| matches!(by_seq[s], GroupEntry::Message(m) if m.from == member);
            let missing: Vec<Seq> = (*from..=positions.len() as Seq)
                .filter(|s| !have.contains(s) && !own(s))
                .collect();
            assert!(
                missing.is_empty(),
                "seed {seed}: member {who} misses {missing:?}"
            );
        }
    }
    sim.clients
        .iter()
        .flat_map(|c| &c.frames)
        .filter(|f| matches!(f, ServerFrame::GroupPage { .. }))
        .count()
}

#[test]
fn members_coming_going_and_changing_the_group_all_see_one_order() {
    let pages: usize = (0..6).map(run).sum();
    assert!(pages > 0, "members came back to pages of the log");
}
