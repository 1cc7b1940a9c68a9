//! Groups on a hub with a database, on the simulator writing to a real SQLite file as
//! the driver does: a message to a group with members away is `stored` only once its
//! batch is written; groups, members, positions and the log survive a restart; one copy
//! of each entry, whatever the number of members away.
use super::groups::{change, create, positions};
use super::storing::Disk;
use super::*;
use crate::proto::{GroupId, GroupOutcome};
use crate::session::GroupRequest;

/// A hub that keeps its groups on `disk`, with everything it kept there before.
pub(super) fn restarted(disk: &Disk) -> Sim {
    let mut sim = Sim::new(PW);
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    let (groups, next) = disk.db.groups().unwrap();
    sim.hub.restore_groups(groups, next);
    sim
}

fn texts(sim: &Sim, i: usize, group: GroupId) -> Vec<String> {
    messages(sim, i)
        .into_iter()
        .filter(|m| m.to == Target::Group(group))
        .map(|m| m.text)
        .collect()
}

/// Alice online, Bob and Carol in "ops" with her; Bob away.
fn ops(disk: &Disk) -> (Sim, usize, usize, GroupId) {
    let mut sim = Sim::new(PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    let g = create(&mut sim, a, "ops", &[2, 3]);
    sim.disconnect(b);
    disk.sync(&mut sim);
    sim.clear();
    (sim, a, c, g)
}

#[test]
fn a_group_message_for_members_away_is_stored_only_once_written() {
    let disk = Disk::new("group-said");
    let (mut sim, a, c, g) = ops(&disk);
    send(&mut sim, a, 1, Target::Group(g), "hello");
    assert!(
        receipts(&sim, a).is_empty(),
        "nothing said before the disk has it"
    );
    assert_eq!(
        texts(&sim, c, g),
        ["hello"],
        "Carol, online, did not wait for the disk"
    );
    disk.sync(&mut sim);
    assert_eq!(receipts(&sim, a), [(MsgId(1), Delivery::Stored)]);
}

#[test]
fn a_failed_write_is_said_and_the_message_is_not_kept_for_those_away() {
    let disk = Disk::new("group-failed");
    let (mut sim, a, _, g) = ops(&disk);
    send(&mut sim, a, 1, Target::Group(g), "lost");
    let _ = sim.hub.poll_writes();
    let now = sim.now;
    sim.hub.handle_written(1, false, now);
    sim.run();
    assert_eq!(
        receipts(&sim, a),
        [(MsgId(1), Delivery::Rejected(RejectReason::CouldNotStore))]
    );
    assert_eq!(sim.hub.stats().group_entries, 0);
}

#[test]
fn groups_members_and_what_waits_survive_a_restart_and_arrive_once() {
    let disk = Disk::new("group-restart");
    let (mut sim, a, _, g) = ops(&disk);
    for k in 0..5 {
        send(&mut sim, a, k, Target::Group(g), &format!("m{k}"));
    }
    disk.sync(&mut sim);
    assert_eq!(stored(&sim, a), 5);
    let stats = sim.hub.stats();
    assert_eq!(
        (stats.group_entries, stats.group_entries_in_memory),
        (5, 0),
        "written: the texts wait on the disk, not in memory"
    );
    // Bob comes, and his connection drops before his page arrives: it waits for him.
    let b = sim.login(2, "bob");
    assert!(texts(&sim, b, g).is_empty(), "read from the disk first");
    sim.mute(b);
    disk.sync(&mut sim);
    sim.disconnect(b);
    disk.sync(&mut sim);
    drop(sim);
    let mut sim = restarted(&disk);
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    assert_eq!(texts(&sim, b, g), ["m0", "m1", "m2", "m3", "m4"]);
    let listed = sim.events(b).iter().any(
        |e| matches!(e, SEvent::Groups(l) if l.len() == 1 && l[0].id == g && l[0].members.len() == 3),
    );
    assert!(listed, "the group and its members came back");
    // Handed over and acknowledged: not again, after another restart either.
    sim.disconnect(b);
    disk.sync(&mut sim);
    drop(sim);
    let mut sim = restarted(&disk);
    let b = sim.login(2, "bob");
    assert!(texts(&sim, b, g).is_empty());
    // A new group after the restart does not take an old id.
    let again = create(&mut sim, b, "new", &[]);
    assert!(again > g);
}

#[test]
fn a_member_removed_while_away_gets_nothing_after_a_restart() {
    let disk = Disk::new("group-removed");
    let (mut sim, a, _, g) = ops(&disk);
    send(&mut sim, a, 1, Target::Group(g), "for bob");
    let remove = GroupRequest::Remove {
        group: g,
        member: id(2),
    };
    assert_eq!(change(&mut sim, a, remove), GroupOutcome::Done(g));
    send(&mut sim, a, 2, Target::Group(g), "after bob");
    disk.sync(&mut sim);
    drop(sim);
    let mut sim = restarted(&disk);
    let b = sim.login(2, "bob");
    assert!(
        texts(&sim, b, g).is_empty(),
        "nothing from a group he is no longer in"
    );
    assert!(positions(&sim, b, g).is_empty());
    let c = sim.login(3, "carol");
    assert!(texts(&sim, c, g).is_empty(), "Carol had it all live");
}

#[test]
fn one_copy_of_each_entry_whatever_the_members_away() {
    let disk = Disk::new("group-one-copy");
    let mut sim = Sim::new(PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let a = sim.login(1, "alice");
    let away: Vec<u8> = (2..12).collect();
    for n in &away {
        let i = sim.login(*n, "member");
        sim.disconnect(i);
    }
    let g = create(&mut sim, a, "ops", &away);
    for k in 0..20 {
        send(&mut sim, a, k, Target::Group(g), "x");
    }
    disk.sync(&mut sim);
    let stats = sim.hub.stats();
    // Ten adds and twenty messages (the creation was handed to its only member): one
    // entry each, not one per member away.
    assert_eq!(stats.group_entries, 30);
    let (groups, _) = disk.db.groups().unwrap();
    assert_eq!(groups[0].entries.len(), 30);
}

#[test]
fn a_group_whose_creator_the_hub_no_longer_knows_gets_a_new_creator_at_start() {
    use crate::hub::db::{Record as R, StoredMember};
    use crate::proto::Role;
    let disk = Disk::new("group-heir");
    let (sim, _, _, g) = ops(&disk);
    drop(sim);
    // Alice (the creator) is gone from the hub's members; Carol is an admin.
    let carol = StoredMember {
        id: id(3),
        role: Role::Admin,
        joined: 3,
        got: 3,
        read: 3,
    };
    disk.db
        .write(&[
            R::Forget(id(1)),
            R::GroupMember {
                group: g,
                member: carol,
            },
        ])
        .unwrap();
    let mut sim = restarted(&disk);
    let b = sim.login(2, "bob");
    let group = sim
        .events(b)
        .iter()
        .find_map(|e| match e {
            SEvent::Groups(l) => l.iter().find(|x| x.id == g).cloned(),
            _ => None,
        })
        .expect("the group came back");
    assert_eq!(
        group
            .members
            .iter()
            .map(|m| (m.id, m.role))
            .collect::<Vec<_>>(),
        [(id(3), Role::Creator), (id(2), Role::Member)]
    );
    // And so it is kept.
    disk.sync(&mut sim);
    let (groups, _) = disk.db.groups().unwrap();
    let carol = groups[0].members.iter().find(|m| m.id == id(3)).unwrap();
    assert_eq!(carol.role, Role::Creator);
}

/// A page read from the disk says nothing of entries written after the read: an entry
/// appended while Bob's page was being read, and handed to Carol from memory (which lets
/// go of it there) before the read came back, must still reach Bob.
#[test]
fn an_entry_appended_while_a_page_is_read_is_not_taken_for_forgotten() {
    let disk = Disk::new("group-read-race");
    let mut sim = Sim::new(PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    let g = create(&mut sim, a, "ops", &[2, 3]);
    sim.disconnect(b);
    disk.sync(&mut sim);
    send(&mut sim, a, 1, Target::Group(g), "m1");
    send(&mut sim, a, 2, Target::Group(g), "m2");
    disk.sync(&mut sim);
    assert_eq!(texts(&sim, c, g), ["m1", "m2"], "Carol had them live");
    sim.disconnect(c);
    disk.sync(&mut sim);
    // Bob is back: his page is on the disk, and the read runs now...
    let b = sim.login(2, "bob");
    let records = sim.hub.poll_writes();
    let read = disk.db.write(&records).unwrap();
    // ...while Alice writes again and Carol, back too, is handed that from memory.
    send(&mut sim, a, 3, Target::Group(g), "m3");
    let c = sim.login(3, "carol");
    assert_eq!(texts(&sim, c, g), ["m3"]);
    // The read comes back (it could not have seen m3).
    let now = sim.now;
    sim.hub.handle_written(1, true, now);
    sim.hub.handle_loaded(read, now);
    sim.run();
    disk.sync(&mut sim);
    assert_eq!(
        texts(&sim, b, g),
        ["m1", "m2", "m3"],
        "nothing lost for Bob"
    );
}
