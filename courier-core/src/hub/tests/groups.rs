//! Groups on the simulator: membership and its rules, one order for everyone, what a
//! removed or a later member sees, the bounds and their reasons, read marks, the groups
//! list and the pages for members back from away.
use super::*;
use crate::proto::{
    GroupChange, GroupEvent, GroupId, GroupOutcome, GroupRefusal, ProfileError, Role, Seq,
};
use crate::session::GroupRequest;

/// Asks the hub for a group change as client `i`; the outcome.
pub(super) fn change(sim: &mut Sim, i: usize, request: GroupRequest) -> GroupOutcome {
    let now = sim.now;
    let tag = 1000 + u32::try_from(sim.events(i).len()).unwrap();
    sim.clients[i]
        .session
        .change_group(tag, request, now)
        .unwrap();
    sim.run();
    answer(sim, i, tag).expect("the hub answers every change")
}

fn answer(sim: &Sim, i: usize, tag: u32) -> Option<GroupOutcome> {
    sim.events(i).iter().find_map(|e| match e {
        SEvent::GroupAnswer { tag: t, outcome } if *t == tag => Some(*outcome),
        _ => None,
    })
}

/// Client `i` creates a group named `name` with these members; its id.
pub(super) fn create(sim: &mut Sim, i: usize, name: &str, members: &[u8]) -> GroupId {
    let members = members.iter().map(|m| id(*m)).collect();
    let outcome = change(
        sim,
        i,
        GroupRequest::Create {
            name: name.into(),
            members,
        },
    );
    let GroupOutcome::Done(g) = outcome else {
        unreachable!("not created: {outcome:?}");
    };
    g
}

/// The positions of everything client `i` was handed of `group` (events and
/// messages), in the order it came.
pub(super) fn positions(sim: &Sim, i: usize, group: GroupId) -> Vec<Seq> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::GroupEvent(ev) if ev.group == group => Some(ev.seq),
            SEvent::Message(m) if m.to == Target::Group(group) => m.seq,
            _ => None,
        })
        .collect()
}

fn events(sim: &Sim, i: usize, group: GroupId) -> Vec<GroupEvent> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::GroupEvent(ev) if ev.group == group => Some(ev.clone()),
            _ => None,
        })
        .collect()
}

fn texts(sim: &Sim, i: usize, group: GroupId) -> Vec<String> {
    messages(sim, i)
        .into_iter()
        .filter(|m| m.to == Target::Group(group))
        .map(|m| m.text)
        .collect()
}

/// The group as client `i` last heard of it.
fn latest(sim: &Sim, i: usize, group: GroupId) -> Option<crate::proto::Group> {
    sim.events(i).iter().rev().find_map(|e| match e {
        SEvent::Group(g) if g.id == group => Some(g.clone()),
        SEvent::Groups(list) => list.iter().find(|g| g.id == group).cloned(),
        _ => None,
    })
}

fn gone(sim: &Sim, i: usize, group: GroupId) -> bool {
    sim.events(i)
        .iter()
        .any(|e| matches!(e, SEvent::GroupGone(g) if *g == group))
}

/// Alice (0), Bob (1), Carol (2) and Dave (3) online, known to each other.
fn four() -> (Sim, [usize; 4]) {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    let d = sim.login(4, "dave");
    sim.clear();
    (sim, [a, b, c, d])
}

#[test]
fn create_add_remove_leave_and_the_last_one_out_deletes_the_group() {
    let (mut sim, [a, b, c, _]) = four();
    let g = create(&mut sim, a, "#ops", &[2, 1]);
    let group = latest(&sim, b, g).expect("bob hears of the group");
    assert_eq!(group.name, "ops");
    assert_eq!(
        group
            .members
            .iter()
            .map(|m| (m.id, m.role))
            .collect::<Vec<_>>(),
        [(id(1), Role::Creator), (id(2), Role::Member)],
        "the creator first; the creator's own id in the list is ignored"
    );
    // Any member adds.
    let add = GroupRequest::Add {
        group: g,
        members: vec![id(3)],
    };
    assert_eq!(change(&mut sim, b, add), GroupOutcome::Done(g));
    assert_eq!(latest(&sim, c, g).unwrap().members.len(), 3);
    // The creator removes.
    let remove = GroupRequest::Remove {
        group: g,
        member: id(3),
    };
    assert_eq!(change(&mut sim, a, remove), GroupOutcome::Done(g));
    assert!(gone(&sim, c, g));
    // The creator leaves: Bob, the oldest member, becomes the creator.
    assert_eq!(
        change(&mut sim, a, GroupRequest::Leave { group: g }),
        GroupOutcome::Done(g)
    );
    let now = latest(&sim, b, g).unwrap();
    assert_eq!(now.members.len(), 1);
    assert_eq!(now.members[0].role, Role::Creator);
    assert_eq!(sim.hub.stats().groups, 1);
    // The last member leaves: the group is no more.
    assert_eq!(
        change(&mut sim, b, GroupRequest::Leave { group: g }),
        GroupOutcome::Done(g)
    );
    assert!(gone(&sim, b, g));
    assert_eq!(sim.hub.stats().groups, 0);
    assert_eq!(
        change(&mut sim, b, GroupRequest::Leave { group: g }),
        GroupOutcome::Refused(GroupRefusal::NoSuchGroup)
    );
}

#[test]
fn only_the_creator_and_admins_remove_and_admins_never_the_creator() {
    let (mut sim, [a, b, c, _]) = four();
    let g = create(&mut sim, a, "ops", &[2, 3, 4]);
    let remove = |member| GroupRequest::Remove { group: g, member };
    assert_eq!(
        change(&mut sim, b, remove(id(3))),
        GroupOutcome::Refused(GroupRefusal::NotAllowed),
        "a plain member cannot remove"
    );
    let admin = |member, admin| GroupRequest::Admin {
        group: g,
        member,
        admin,
    };
    assert_eq!(
        change(&mut sim, b, admin(id(2), true)),
        GroupOutcome::Refused(GroupRefusal::NotAllowed),
        "only the creator names admins"
    );
    assert_eq!(
        change(&mut sim, a, admin(id(2), true)),
        GroupOutcome::Done(g)
    );
    assert_eq!(
        change(&mut sim, b, remove(id(1))),
        GroupOutcome::Refused(GroupRefusal::NotAllowed),
        "an admin cannot remove the creator"
    );
    assert_eq!(
        change(&mut sim, b, remove(id(9))),
        GroupOutcome::Refused(GroupRefusal::NotInGroup)
    );
    assert_eq!(change(&mut sim, b, remove(id(3))), GroupOutcome::Done(g));
    assert!(gone(&sim, c, g));
    assert_eq!(
        change(&mut sim, c, remove(id(4))),
        GroupOutcome::Refused(GroupRefusal::NoSuchGroup),
        "someone removed can do nothing in the group"
    );
}

#[test]
fn two_admins_changing_membership_at_once_give_every_member_the_same_order() {
    let (mut sim, [a, b, c, d]) = four();
    let e = sim.login(5, "eve");
    let g = create(&mut sim, a, "ops", &[2, 3, 4]);
    let make_admin = GroupRequest::Admin {
        group: g,
        member: id(2),
        admin: true,
    };
    change(&mut sim, a, make_admin);
    // In the same tick: Alice adds Eve while Bob removes Dave, and Carol writes.
    let now = sim.now;
    sim.clients[a]
        .session
        .change_group(
            1,
            GroupRequest::Add {
                group: g,
                members: vec![id(5)],
            },
            now,
        )
        .unwrap();
    sim.clients[b]
        .session
        .change_group(
            2,
            GroupRequest::Remove {
                group: g,
                member: id(4),
            },
            now,
        )
        .unwrap();
    sim.clients[c]
        .session
        .send_message(MsgId(7), Target::Group(g), "meanwhile".into(), now)
        .unwrap();
    sim.run();
    let seen: Vec<Vec<Seq>> = [a, b, c]
        .iter()
        .map(|i| {
            let mut p = positions(&sim, *i, g);
            p.retain(|s| *s > 5);
            p
        })
        .collect();
    // Alice and Bob get Carol's message; Carol does not get her own back.
    assert_eq!(seen[0], seen[1], "the same order for every member");
    assert_eq!(seen[0], [6, 7, 8]);
    assert!(seen[2].iter().all(|s| seen[0].contains(s)));
    assert!(seen[2].windows(2).all(|w| w[0] < w[1]));
    let dave = positions(&sim, d, g);
    let eve = positions(&sim, e, g);
    assert!(dave.iter().all(|s| *s <= 8) && gone(&sim, d, g));
    assert!(eve.iter().all(|s| *s >= 6) && !eve.is_empty());
}

#[test]
fn a_removed_member_gets_nothing_written_after_the_removal() {
    let (mut sim, [a, _, c, _]) = four();
    let g = create(&mut sim, a, "ops", &[2, 3]);
    send(&mut sim, a, 1, Target::Group(g), "before");
    let remove = GroupRequest::Remove {
        group: g,
        member: id(3),
    };
    change(&mut sim, a, remove);
    let removed_at = events(&sim, c, g)
        .iter()
        .find(|e| e.change == GroupChange::Removed(id(3)))
        .map(|e| e.seq)
        .expect("carol is handed her removal");
    send(&mut sim, a, 2, Target::Group(g), "after");
    let now = sim.now;
    sim.clients[a]
        .session
        .typing(Target::Group(g), now)
        .unwrap();
    sim.run();
    assert_eq!(texts(&sim, c, g), ["before"]);
    assert!(positions(&sim, c, g).iter().all(|s| *s <= removed_at));
    assert!(
        !sim.events(c)
            .iter()
            .any(|e| matches!(e, SEvent::Typing { .. })),
        "not even typing"
    );
    // Nor when she comes back.
    sim.disconnect(c);
    let c2 = sim.login(3, "carol");
    assert!(texts(&sim, c2, g).is_empty());
    assert!(latest(&sim, c2, g).is_none());
}

#[test]
fn a_member_added_later_sees_nothing_from_before() {
    let (mut sim, [a, _, _, d]) = four();
    let g = create(&mut sim, a, "ops", &[2]);
    send(&mut sim, a, 1, Target::Group(g), "before dave");
    let add = GroupRequest::Add {
        group: g,
        members: vec![id(4)],
    };
    change(&mut sim, a, add);
    send(&mut sim, a, 2, Target::Group(g), "with dave");
    let joined = latest(&sim, d, g).unwrap().member(&id(4)).unwrap().joined;
    assert_eq!(texts(&sim, d, g), ["with dave"]);
    assert!(positions(&sim, d, g).iter().all(|s| *s >= joined));
    // And not at a later login either.
    sim.disconnect(d);
    let d2 = sim.login(4, "dave");
    assert!(positions(&sim, d2, g).is_empty(), "nothing owed");
}

#[test]
fn each_bound_refuses_with_its_reason() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.group_members = 3;
    config.groups_per_member = 2;
    config.groups_created = 1;
    let mut sim = Sim::with_config(config, PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let _c = sim.login(3, "carol");
    let _d = sim.login(4, "dave");
    let create_req = |name: &str, members: &[u8]| GroupRequest::Create {
        name: name.into(),
        members: members.iter().map(|m| id(*m)).collect(),
    };
    assert_eq!(
        change(&mut sim, a, create_req("  ", &[])),
        GroupOutcome::Refused(GroupRefusal::BadName(ProfileError::EmptyName))
    );
    assert_eq!(
        change(&mut sim, a, create_req("ops", &[9])),
        GroupOutcome::Refused(GroupRefusal::NoSuchMember)
    );
    assert_eq!(
        change(&mut sim, a, create_req("ops", &[2, 3, 4])),
        GroupOutcome::Refused(GroupRefusal::GroupFull)
    );
    let g = create(&mut sim, a, "ops", &[2, 3]);
    assert_eq!(
        change(
            &mut sim,
            b,
            GroupRequest::Add {
                group: g,
                members: vec![id(4)]
            }
        ),
        GroupOutcome::Refused(GroupRefusal::GroupFull)
    );
    assert_eq!(
        change(&mut sim, a, create_req("more", &[])),
        GroupOutcome::Refused(GroupRefusal::TooManyCreated)
    );
    // Bob is in one group; he creates a second; a third would be too many for him:
    // Carol's group is created without him, and adding him alone is refused.
    create(&mut sim, b, "two", &[]);
    let c_index = 2;
    let three = create(&mut sim, c_index, "three", &[2]);
    assert_eq!(latest(&sim, c_index, three).unwrap().members.len(), 1);
    assert_eq!(
        change(
            &mut sim,
            c_index,
            GroupRequest::Add {
                group: three,
                members: vec![id(2)]
            }
        ),
        GroupOutcome::Refused(GroupRefusal::TooManyGroups)
    );
    // Bob creating a third himself is refused.
    assert_eq!(
        change(&mut sim, b, create_req("four", &[])),
        GroupOutcome::Refused(GroupRefusal::TooManyGroups)
    );
    assert_eq!(sim.hub.stats().groups, 3);
}

/// Client `i` marks `group` read up to `upto`; the batch goes out.
fn mark(sim: &mut Sim, i: usize, group: GroupId, upto: Seq) {
    let now = sim.now;
    sim.clients[i]
        .session
        .mark_group_read(group, upto, now)
        .unwrap();
    sim.now += limits::READ_MARK_BATCH;
    let later = sim.now;
    sim.clients[i].session.handle_timeout(later).unwrap();
    sim.run();
}

/// The writer is told each of its messages' positions (the others' read marks name
/// positions): the one the others received it at, whoever else writes in between.
#[test]
fn the_writer_learns_the_position_of_each_of_its_messages() {
    let (mut sim, [a, b, c, _]) = four();
    let g = create(&mut sim, a, "ops", &[2, 3]);
    send(&mut sim, a, 1, Target::Group(g), "one");
    send(&mut sim, b, 7, Target::Group(g), "bob's");
    send(&mut sim, a, 2, Target::Group(g), "two");
    let placed: Vec<(MsgId, Seq)> = sim
        .events(a)
        .iter()
        .filter_map(|e| match e {
            SEvent::Placed { group, id, seq } if *group == g => Some((*id, *seq)),
            _ => None,
        })
        .collect();
    let at_carol: Vec<(MsgId, Seq)> = messages(&sim, c)
        .into_iter()
        .filter(|m| m.from == id(1))
        .filter_map(|m| Some((m.id, m.seq?)))
        .collect();
    assert_eq!(placed.len(), 2);
    assert_eq!(placed, at_carol);
}

#[test]
fn read_marks_are_kept_within_what_a_member_sees_and_told_to_the_others() {
    let (mut sim, [a, b, _, _]) = four();
    let g = create(&mut sim, a, "ops", &[2]);
    send(&mut sim, a, 1, Target::Group(g), "one");
    send(&mut sim, a, 2, Target::Group(g), "two");
    let last = *positions(&sim, b, g).last().unwrap();
    mark(&mut sim, b, g, 1_000);
    let heard: Vec<(ClientId, Seq)> = sim
        .events(a)
        .iter()
        .filter_map(|e| match e {
            SEvent::GroupRead { group, by, upto } if *group == g => Some((*by, *upto)),
            _ => None,
        })
        .collect();
    assert_eq!(heard, [(id(2), last)], "held to the last position");
    // Going back changes nothing.
    mark(&mut sim, b, g, 1);
    let b2 = sim.login(2, "bob");
    assert_eq!(
        latest(&sim, b2, g).unwrap().member(&id(2)).unwrap().read,
        last
    );
}

#[test]
fn a_member_away_gets_the_log_in_pages_at_login_exactly_once() {
    let (mut sim, [a, b, _, _]) = four();
    let g = create(&mut sim, a, "ops", &[2, 3]);
    sim.disconnect(b);
    sim.clear();
    let n = limits::GROUP_PAGE_ENTRIES + 10;
    for k in 0..n {
        send(&mut sim, a, k as u64, Target::Group(g), &format!("m{k}"));
        if k % 40 == 39 {
            sim.advance(Duration::from_secs(3));
        }
    }
    // Carol was online: delivered; Bob away: stored.
    assert_eq!(stored(&sim, a), n, "stored for Bob, who is away");
    let b2 = sim.login(2, "bob");
    let got = texts(&sim, b2, g);
    assert_eq!(got.len(), n, "everything, once");
    assert_eq!(got.first().map(String::as_str), Some("m0"));
    let pages = sim.clients[b2]
        .frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::GroupPage { .. }))
        .count();
    assert_eq!(pages, 2, "in pages");
    assert_eq!(sim.hub.stats().group_entries, 0, "handed to all: forgotten");
    sim.disconnect(b2);
    let b3 = sim.login(2, "bob");
    assert!(texts(&sim, b3, g).is_empty(), "not again");
}

#[test]
fn every_connection_gets_the_groups_list_in_pages_after_the_contacts() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let _b = sim.login(2, "bob");
    for k in 0..limits::GROUP_PAGE + 2 {
        create(&mut sim, a, &format!("g{k}"), &[]);
        if k % 4 == 3 {
            sim.advance(Duration::from_secs(3));
        }
    }
    let shot = sim.login_one_shot(1, "alice");
    let lists: Vec<usize> = sim
        .events(shot)
        .iter()
        .filter_map(|e| match e {
            SEvent::Groups(list) => Some(list.len()),
            _ => None,
        })
        .collect();
    assert_eq!(lists, [limits::GROUP_PAGE + 2], "one list, whole");
    let b = sim.login(2, "bob");
    assert!(
        sim.events(b)
            .iter()
            .any(|e| matches!(e, SEvent::Groups(l) if l.is_empty())),
        "an empty list is still sent"
    );
}

#[test]
fn each_connection_that_shows_messages_gets_the_group_live_and_one_shots_do_not() {
    let (mut sim, [a, b, _, _]) = four();
    let g = create(&mut sim, a, "ops", &[2]);
    let b2 = sim.login(2, "bob");
    let shot = sim.login_one_shot(2, "bob");
    send(&mut sim, a, 1, Target::Group(g), "to both");
    assert_eq!(texts(&sim, b, g), ["to both"]);
    assert_eq!(texts(&sim, b2, g), ["to both"]);
    assert!(
        texts(&sim, shot, g).is_empty(),
        "a one-shot command shows no messages"
    );
    assert_eq!(receipts(&sim, a), [(MsgId(1), Delivery::Delivered)]);
    sim.disconnect(b);
    send(&mut sim, a, 2, Target::Group(g), "to one");
    assert_eq!(texts(&sim, b2, g), ["to both", "to one"]);
    assert_eq!(receipts(&sim, a)[1], (MsgId(2), Delivery::Delivered));
    sim.disconnect(b2);
    send(&mut sim, a, 3, Target::Group(g), "to none");
    assert_eq!(receipts(&sim, a)[2], (MsgId(3), Delivery::Stored));
}
