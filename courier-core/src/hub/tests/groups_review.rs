//! Groups under a hostile review: what a failed or mixed batch leaves on the disk, acks
//! that must not stop paging or close a connection, a banned sender's entries, the
//! shares of the logs' pool, and adds that a flooder cannot block.
use super::groups::{change, create, positions};
use super::groups_disk::restarted;
use super::storing::Disk;
use super::*;
use crate::proto::{GroupId, GroupOutcome, GroupRefusal};
use crate::session::GroupRequest;

/// Whether client `i` was listed `group` at login.
fn listed(sim: &Sim, i: usize, group: GroupId) -> bool {
    sim.events(i)
        .iter()
        .any(|e| matches!(e, SEvent::Groups(l) if l.iter().any(|g| g.id == group)))
}

/// Alice online, Bob in "ops" with her and away; all on the disk.
fn pair(disk: &Disk) -> (Sim, usize, GroupId) {
    let mut sim = Sim::new(PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let g = create(&mut sim, a, "ops", &[2]);
    sim.disconnect(b);
    disk.sync(&mut sim);
    sim.clear();
    (sim, a, g)
}

fn remove(sim: &mut Sim, i: usize, group: GroupId, member: u8) {
    let request = GroupRequest::Remove {
        group,
        member: id(member),
    };
    assert_eq!(change(sim, i, request), GroupOutcome::Done(group));
}

/// A removal whose batch failed to write was lost: the next batch must write it, or
/// a restart brings the removed member back and pages him what came after.
#[test]
fn a_removal_whose_batch_failed_is_written_with_the_next() {
    let disk = Disk::new("review-failed-removal");
    let (mut sim, a, g) = pair(&disk);
    remove(&mut sim, a, g, 2);
    let _ = sim.hub.poll_writes();
    let now = sim.now;
    sim.hub.handle_written(1, false, now);
    sim.run();
    send(&mut sim, a, 1, Target::Group(g), "after bob");
    disk.sync(&mut sim);
    drop(sim);
    let mut sim = restarted(&disk);
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    assert!(!listed(&sim, b, g), "Bob is no longer in the group");
    assert!(positions(&sim, b, g).is_empty(), "and gets nothing of it");
}

/// Removed and added again in one batch: the member row was written before the
/// deletion, so the disk lost a member memory has.
#[test]
fn removed_and_added_again_in_one_batch_is_still_in_after_a_restart() {
    let disk = Disk::new("review-remove-readd");
    let (mut sim, a, g) = pair(&disk);
    remove(&mut sim, a, g, 2);
    let add = GroupRequest::Add {
        group: g,
        members: vec![id(2)],
    };
    assert_eq!(change(&mut sim, a, add), GroupOutcome::Done(g));
    let records = sim.hub.poll_writes();
    disk.db.write(&records).unwrap();
    drop(sim);
    let mut sim = restarted(&disk);
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    assert!(listed(&sim, b, g), "Bob is in the group, as he was");
}

/// Bob away from "ops" while Alice writes more than a page; all on the disk.
fn backlog(disk: &Disk) -> (Sim, usize, GroupId) {
    let (mut sim, a, g) = pair(disk);
    for k in 0..limits::GROUP_PAGE_ENTRIES + 10 {
        send(&mut sim, a, k as u64, Target::Group(g), &format!("m{k}"));
        if k % 40 == 39 {
            sim.advance(Duration::from_secs(3));
        }
    }
    disk.sync(&mut sim);
    (sim, a, g)
}

fn pages(sim: &Sim, i: usize) -> usize {
    sim.clients[i]
        .frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::GroupPage { .. }))
        .count()
}

/// The acknowledgement of the page on its way was charged like any frame: with the
/// budget spent it was dropped, and no page ever came again on that connection.
#[test]
fn an_acknowledgement_over_the_frame_budget_still_brings_the_next_page() {
    let disk = Disk::new("review-ack-budget");
    let (mut sim, _, g) = backlog(&disk);
    let b = sim.login(2, "bob");
    // The first page is read from the disk; Bob does not see it come, and spends his
    // frame budget.
    sim.mute(b);
    disk.sync(&mut sim);
    for _ in 0..limits::FRAME_BURST + 10 {
        sim.raw(b, &ClientFrame::Ping);
    }
    sim.clients[b].muted = false;
    let upto = u64::try_from(limits::GROUP_PAGE_ENTRIES).unwrap();
    sim.raw(b, &ClientFrame::GroupPageAck { group: g, upto });
    disk.sync(&mut sim);
    assert_eq!(sim.clients[b].closed, None);
    assert_eq!(pages(&sim, b), 1, "the next page came");
}

/// Removed and added again while a page of the group was on its way: Bob's
/// acknowledgement of that page was taken for one of no page, and his connection closed.
#[test]
fn an_acknowledgement_of_a_page_from_before_a_removal_and_re_add_is_ignored() {
    let disk = Disk::new("review-ack-readd");
    let (mut sim, a, g) = backlog(&disk);
    let b = sim.login(2, "bob");
    sim.mute(b);
    disk.sync(&mut sim);
    remove(&mut sim, a, g, 2);
    let add = GroupRequest::Add {
        group: g,
        members: vec![id(2)],
    };
    assert_eq!(change(&mut sim, a, add), GroupOutcome::Done(g));
    disk.sync(&mut sim);
    sim.clients[b].muted = false;
    let upto = u64::try_from(limits::GROUP_PAGE_ENTRIES).unwrap();
    sim.raw(b, &ClientFrame::GroupPageAck { group: g, upto });
    disk.sync(&mut sim);
    assert_eq!(sim.clients[b].closed, None, "Bob stays connected");
    send(&mut sim, a, 9999, Target::Group(g), "welcome back");
    disk.sync(&mut sim);
    let got: Vec<String> = messages(&sim, b).into_iter().map(|m| m.text).collect();
    assert_eq!(got, ["welcome back"], "and gets what is written since");
}

/// A ban forgot the spammer's direct messages but not what it wrote to groups: the
/// members away still got all of it, from memory or from the disk after a restart.
#[test]
fn a_banned_senders_group_messages_are_dropped_for_members_away() {
    let disk = Disk::new("review-ban");
    let mut sim = Sim::new(PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let m = sim.login(5, "mallory");
    let g = create(&mut sim, a, "ops", &[2, 5]);
    sim.disconnect(b);
    disk.sync(&mut sim);
    for k in 0..10 {
        send(&mut sim, m, k, Target::Group(g), "spam");
    }
    send(&mut sim, a, 1, Target::Group(g), "real");
    disk.sync(&mut sim);
    let now = sim.now;
    let dropped = sim.hub.ban(id(5), now);
    assert_eq!(dropped.group_entries, 10, "counted");
    disk.sync(&mut sim);
    drop(sim);
    let mut sim = restarted(&disk);
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    let got: Vec<String> = messages(&sim, b).into_iter().map(|m| m.text).collect();
    assert_eq!(
        got,
        ["real"],
        "none of the banned sender's, all of the others'"
    );
}

/// `hub drop --from` on a hub without a database: the sender's group messages go too.
#[test]
fn dropping_what_a_sender_left_drops_its_group_messages_too() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let m = sim.login(5, "mallory");
    let g = create(&mut sim, a, "ops", &[2, 5]);
    sim.disconnect(b);
    send(&mut sim, m, 1, Target::Group(g), "spam");
    send(&mut sim, a, 1, Target::Group(g), "real");
    let now = sim.now;
    assert_eq!(sim.hub.drop_from(id(5), now).group_entries, 1);
    let b = sim.login(2, "bob");
    let got: Vec<String> = messages(&sim, b).into_iter().map(|m| m.text).collect();
    assert_eq!(got, ["real"]);
}

/// One sender's entries in many groups filled the pool for every log, and the hub
/// then trimmed the largest log, whoever filled it: a real team's member away lost
/// messages acknowledged stored. A sender now holds at most its share of the pool,
/// across all its groups; over it, its own oldest entries go.
#[test]
fn a_sender_filling_the_pool_across_groups_loses_its_own_oldest_not_others() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.message_rate = 1_000_000;
    config.message_burst = 1_000_000;
    config.groups_created = 64;
    config.group_logs_total = 128 * 1024;
    // Nobody is new here: the newcomers' part is the next test's.
    config.newcomer_age = Duration::ZERO;
    let mut sim = Sim::with_config(config, PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    let f = sim.login(5, "flooder");
    let team = create(&mut sim, a, "team", &[2]);
    let floods: Vec<GroupId> = (0..32)
        .map(|k| create(&mut sim, f, &format!("f{k}"), &[3]))
        .collect();
    sim.disconnect(b);
    sim.disconnect(c);
    let text = |tag: String| format!("{tag}{}", "x".repeat(1000));
    let ours: Vec<String> = (0..5).map(|k| text(format!("a{k:02}"))).collect();
    for (k, t) in ours.iter().enumerate() {
        send(&mut sim, a, k as u64, Target::Group(team), t);
    }
    assert_eq!(stored(&sim, a), 5);
    let mut flood = Vec::new();
    for (n, g) in floods.iter().enumerate() {
        for k in 0..4 {
            let t = text(format!("f{n:02}{k}"));
            send(&mut sim, f, (n * 4 + k) as u64, Target::Group(*g), &t);
            flood.push(t);
        }
        sim.advance(Duration::from_secs(3));
    }
    let b = sim.login(2, "bob");
    let got: Vec<String> = messages(&sim, b).into_iter().map(|m| m.text).collect();
    assert_eq!(got, ours, "everything acknowledged stored for Bob");
    let c = sim.login(3, "carol");
    let got: Vec<String> = messages(&sim, c).into_iter().map(|m| m.text).collect();
    assert!(!got.is_empty() && got.len() < flood.len());
    assert_eq!(
        got,
        flood[flood.len() - got.len()..],
        "the flooder's newest stay, its oldest went"
    );
}

/// The members of `group` as client `i` last saw it.
fn members_seen(sim: &Sim, i: usize, group: GroupId) -> Vec<ClientId> {
    let last = sim.events(i).iter().rev().find_map(|e| match e {
        SEvent::Group(g) if g.id == group => Some(g.clone()),
        _ => None,
    });
    last.map(|g| g.members.iter().map(|m| m.id).collect())
        .unwrap_or_default()
}

/// Anyone may add anyone: a flooder who filled a victim's places in groups made every
/// create or add naming the victim refused as a whole, locking others out of groups.
/// Now those at their bound are skipped and everyone else is added.
#[test]
fn a_member_at_the_groups_bound_is_skipped_not_a_reason_to_refuse_the_others() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.groups_per_member = 2;
    let mut sim = Sim::with_config(config, PW);
    let a = sim.login(1, "alice");
    let _victim = sim.login(2, "victim");
    let _w = sim.login(3, "walter");
    let f = sim.login(5, "flooder");
    create(&mut sim, f, "spam1", &[2]);
    create(&mut sim, f, "spam2", &[2]);
    let g = create(&mut sim, a, "ours", &[2, 3]);
    assert_eq!(
        members_seen(&sim, a, g),
        [id(1), id(3)],
        "the group exists with Walter, and without the victim"
    );
    // An add naming only people at their bound adds nobody: refused, saying why.
    let add = |members: Vec<ClientId>| GroupRequest::Add { group: g, members };
    assert_eq!(
        change(&mut sim, a, add(vec![id(2)])),
        GroupOutcome::Refused(GroupRefusal::TooManyGroups)
    );
    // An add naming the victim and someone else adds the other.
    let _d = sim.login(4, "dave");
    assert_eq!(
        change(&mut sim, a, add(vec![id(2), id(4)])),
        GroupOutcome::Done(g)
    );
    assert_eq!(members_seen(&sim, a, g), [id(1), id(3), id(4)]);
}

/// Throwaway identities, each within its own share, together filled the pool for every
/// log, and the hub trimmed the largest log: a real team's. New identities together
/// now hold at most a quarter of the pool (each a sixteenth of that), and over it the
/// newcomer holding the most loses its oldest.
#[test]
fn new_identities_together_fill_only_the_newcomers_part_of_the_logs_pool() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.message_rate = 1_000_000;
    config.message_burst = 1_000_000;
    config.group_logs_total = 256 * 1024;
    let mut sim = Sim::with_config(config, PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    // A week on, Alice, Bob and Carol are members of long standing.
    sim.advance(limits::NEWCOMER);
    let team = create(&mut sim, a, "team", &[2]);
    sim.disconnect(b);
    let text = |tag: String| format!("{tag}{}", "x".repeat(1000));
    let ours: Vec<String> = (0..12).map(|k| text(format!("a{k:02}"))).collect();
    for (k, t) in ours.iter().enumerate() {
        send(&mut sim, a, k as u64, Target::Group(team), t);
    }
    assert_eq!(stored(&sim, a), 12);
    // Thirty new identities, each with a group of its own with Carol, who is away.
    let newcomers: Vec<(usize, GroupId)> = (0..30u8)
        .map(|n| {
            let i = sim.login(100 + n, "throwaway");
            (i, create(&mut sim, i, &format!("t{n}"), &[3]))
        })
        .collect();
    sim.disconnect(c);
    for (i, g) in &newcomers {
        for k in 0..10 {
            send(&mut sim, *i, k, Target::Group(*g), &text(format!("n{k}")));
        }
        sim.advance(Duration::from_secs(3));
    }
    let room = 256 * 1024 / limits::OFFLINE_NEWCOMERS_SHARE;
    let kept = sim.hub.stats().group_bytes;
    assert!(kept <= room + 12 * (1000 + 3 + 64), "{kept} bytes kept");
    let b = sim.login(2, "bob");
    let got: Vec<String> = messages(&sim, b).into_iter().map(|m| m.text).collect();
    assert_eq!(got, ours, "everything acknowledged stored for Bob");
}

/// Second review: a failed group write is written again with the next change, not at
/// once (on a full disk that was a tight loop: every failure handed the same records out
/// again, the driver wrote them, they failed in a millisecond, and so on); and two failed
/// batches go out again oldest first.
#[test]
fn a_failed_group_write_waits_for_the_next_change_and_keeps_its_order() {
    let disk = Disk::new("review-retry-loop");
    let (mut sim, a, g) = pair(&disk);
    send(&mut sim, a, 1, Target::Group(g), "first");
    let first = sim.hub.poll_writes();
    assert!(!first.is_empty());
    send(&mut sim, a, 2, Target::Group(g), "second");
    let second = sim.hub.poll_writes();
    assert!(!second.is_empty());
    let now = sim.now;
    sim.hub.handle_written(2, false, now);
    sim.run();
    assert!(
        sim.hub.poll_writes().is_empty(),
        "nothing new: the failed work waits for the next change"
    );
    // The next change takes it along; what failed first goes first.
    let b = sim.login(3, "carol");
    let _ = b;
    let again = sim.hub.poll_writes();
    let order: Vec<u64> = again
        .iter()
        .filter_map(|r| match r {
            crate::hub::db::Record::GroupEntry { entry, .. } => Some(entry.seq()),
            _ => None,
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted, "oldest first: {order:?}");
}
