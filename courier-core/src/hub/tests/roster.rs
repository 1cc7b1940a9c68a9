//! A returning client's contact list: only the cards changed since its mark, where
//! everyone is in a few bytes each, contacts the hub forgot dropped, and the same after
//! the hub restarts from its database (the upgrade-restart storm, issue 26).
use super::storing::Disk;
use super::*;
use crate::proto::{Contact, Mark};

/// What client `i` was sent in roster pages: (cards, whereabouts).
fn roster_counts(sim: &Sim, i: usize) -> (usize, usize) {
    let mut counts = (0, 0);
    for f in &sim.clients[i].frames {
        if let ServerFrame::Roster { cards, seen, .. } = f {
            counts.0 += cards.len();
            counts.1 += seen.len();
        }
    }
    counts
}

fn welcome_since(sim: &Sim, i: usize) -> Option<Option<Mark>> {
    sim.clients[i].frames.iter().find_map(|f| match f {
        ServerFrame::Welcome { since, .. } => Some(*since),
        _ => None,
    })
}

/// The contact list client `i` reported at login, by id.
fn listed(sim: &Sim, i: usize) -> Vec<Contact> {
    sim.events(i)
        .iter()
        .find_map(|e| match e {
            SEvent::LoggedIn { contacts, .. } => Some(contacts.clone()),
            _ => None,
        })
        .expect("logged in")
}

#[test]
fn a_returning_client_is_sent_only_the_cards_that_changed() {
    let mut sim = Sim::new(PW);
    known_offline(&mut sim, 5000, limits::CONTACT_PAGE * 3);
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    let a = sim.login(1, "alice");
    assert_eq!(
        welcome_since(&sim, a),
        Some(None),
        "the first login has no mark"
    );
    sim.disconnect(a);
    // While alice is away: bob changes his status, carol leaves, dave is new.
    let mut busy = Profile::with_name("bob");
    busy.status = "in a meeting".into();
    sim.raw(b, &ClientFrame::SetProfile(busy));
    sim.disconnect(c);
    let _d = sim.login(4, "dave");
    let roster = sim.take_roster(a);
    let a2 = sim.login_holding(1, "alice", roster);
    assert!(sim.is_online(a2));
    assert!(matches!(welcome_since(&sim, a2), Some(Some(_))));
    let (cards, seen) = roster_counts(&sim, a2);
    assert_eq!(cards, 2, "bob's new status and dave, nobody else's card");
    assert_eq!(
        seen,
        limits::CONTACT_PAGE * 3 + 3,
        "everyone, where they are"
    );
    // What alice shows is what a client new to the hub is shown.
    let fresh = sim.login(1, "alice");
    let mut shown = listed(&sim, a2);
    let mut expected = listed(&sim, fresh);
    shown.sort_by_key(|c| c.id);
    expected.sort_by_key(|c| c.id);
    assert_eq!(shown.len(), expected.len());
    for (s, e) in shown.iter().zip(&expected) {
        assert_eq!((s.id, &s.profile, s.online), (e.id, &e.profile, e.online));
    }
    let carol = shown.iter().find(|x| x.id == id(3)).unwrap();
    assert!(!carol.online, "carol left while alice was away");
    let bob = shown.iter().find(|x| x.id == id(2)).unwrap();
    assert_eq!(bob.profile.status, "in a meeting");
}

#[test]
fn a_contact_the_hub_forgot_is_dropped_from_a_returning_clients_list() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.max_known = 4;
    let mut sim = Sim::with_config(config, PW);
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    let a = sim.login(1, "alice");
    assert!(listed(&sim, a).iter().any(|c| c.id == id(2)));
    sim.disconnect(a);
    // Three newcomers fill the directory: bob, offline, is forgotten.
    for who in 3..6 {
        let _ = sim.login(who, "x");
    }
    assert!(sim.hub.directory.get(&id(2)).is_none());
    let roster = sim.take_roster(a);
    let a2 = sim.login_holding(1, "alice", roster);
    let shown = listed(&sim, a2);
    assert!(!shown.iter().any(|c| c.id == id(2)), "{shown:?}");
    assert_eq!(shown.len(), 3);
}

#[test]
fn joins_and_leaves_with_the_same_card_are_sent_as_whereabouts() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    sim.disconnect(b);
    let _b2 = sim.login(2, "bob");
    let mut cards = 0;
    let mut seen = Vec::new();
    let mut marks = 0;
    for f in &sim.clients[a].frames {
        match f {
            ServerFrame::Contacts(list) => cards += list.len(),
            ServerFrame::Seen(list) => seen.extend(list.entries().unwrap().map(|s| s.online)),
            ServerFrame::Mark(_) => marks += 1,
            _ => {}
        }
    }
    assert_eq!(cards, 0, "bob's card did not change");
    assert_eq!(seen, vec![false, true], "he left, then came back");
    // Alice's app still hears both, as whole contacts.
    let online: Vec<bool> = sim
        .events(a)
        .iter()
        .filter_map(|e| match e {
            SEvent::Contact(c) if c.id == id(2) => Some(c.online),
            _ => None,
        })
        .collect();
    assert_eq!(online, vec![false, true]);
    assert_eq!(marks, 0, "no card changed: the mark did not move");
    // A changed card moves the mark, and alice's list follows it.
    let mut away = Profile::with_name("bob");
    away.status = "away".into();
    sim.raw(_b2, &ClientFrame::SetProfile(away));
    sim.advance(limits::PRESENCE_BATCH);
    let mark = sim.clients[a].frames.iter().find_map(|f| match f {
        ServerFrame::Mark(m) => Some(*m),
        _ => None,
    });
    assert_eq!(mark, Some(sim.hub.directory.mark()));
    let roster = sim.take_roster(a);
    let a2 = sim.login_holding(1, "alice", roster);
    assert_eq!(roster_counts(&sim, a2), (0, 1), "alice had it all already");
}

#[test]
fn after_a_restart_returning_clients_are_sent_no_cards() {
    let disk = Disk::new("roster");
    let mut sim = Sim::new(PW);
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    let n = 40u8;
    let clients: Vec<usize> = (1..=n).map(|who| sim.login(who, "member")).collect();
    disk.sync(&mut sim);
    let rosters: Vec<_> = clients.iter().map(|&i| sim.take_roster(i)).collect();
    // The hub stops and starts again from its database.
    let mut sim = Sim::new(PW);
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    let mut cards = 0;
    for (who, roster) in (1..=n).zip(rosters) {
        let i = sim.login_holding(who, "member", roster);
        assert!(sim.is_online(i));
        assert!(matches!(welcome_since(&sim, i), Some(Some(_))));
        cards += roster_counts(&sim, i).0;
        assert_eq!(listed(&sim, i).len(), usize::from(n) - 1);
    }
    assert_eq!(cards, 0, "every card was known from before the restart");
    // Everyone is shown online by the end, from the presence batches.
    let last = sim.clients.len() - 1;
    let first = sim.clients.len() - usize::from(n);
    let online = sim
        .events(first)
        .iter()
        .filter(|e| matches!(e, SEvent::Contact(c) if c.online))
        .count();
    assert_eq!(online, usize::from(n) - 1);
    assert!(sim.is_online(last));
}

/// A hub started from an older copy of its folder (a backup): a client that holds the
/// list at a later mark (it saw bob's new name, which the copy never had) gets the whole
/// list, not changes since a mark this hub never gave, even after new card changes moved
/// the hub's mark past the client's.
#[test]
fn a_hub_started_from_an_older_copy_sends_the_whole_list() {
    let disk = Disk::new("roster-backup");
    let mut sim = Sim::new(PW);
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    // The backup: the members as the database holds them now.
    let copy = disk.db.members().unwrap();
    // Later: bob renames himself; alice's list follows (and her mark with it).
    sim.advance(Duration::from_secs(1));
    sim.raw(b, &ClientFrame::SetProfile(Profile::with_name("bobby")));
    sim.advance(limits::PRESENCE_BATCH);
    let roster = sim.take_roster(a);
    // The hub is started from the copy; a newcomer moves its mark to now.
    let mut sim = Sim::new(PW);
    sim.advance(Duration::from_secs(5));
    sim.hub.restore(copy, Vec::new());
    let _carol = sim.login(3, "carol");
    let a2 = sim.login_holding(1, "alice", roster);
    assert_eq!(welcome_since(&sim, a2), Some(None), "the whole list");
    let bob = listed(&sim, a2)
        .into_iter()
        .find(|c| c.id == id(2))
        .unwrap();
    assert_eq!(bob.profile.name, "bob", "as this hub knows him");
}

/// One member coming and going as fast as it can (its card unchanged) costs everyone
/// else at most one entry per presence batch: whereabouts are a set per batch, not a
/// queue one member can fill.
#[test]
fn a_member_flapping_costs_the_others_one_entry_per_batch() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    sim.clear();
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    // Fifty logins and logouts inside one batch window.
    for _ in 0..50 {
        let Some(i) = sim.connect_from(ip, 2, PW, "bob") else {
            break;
        };
        sim.start_login(i);
        sim.run();
        let conn = sim.clients[i].conn;
        sim.hub.handle_disconnect(conn, sim.now);
        sim.run();
    }
    sim.advance(limits::PRESENCE_BATCH);
    let entries: usize = sim.clients[a]
        .frames
        .iter()
        .map(|f| match f {
            ServerFrame::Seen(list) => list.len(),
            ServerFrame::Contacts(list) => list.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(entries, 1, "bob, once, where he ended up");
    assert!(sim.is_online(a));
}

/// What client `i` heard of others' whereabouts in presence batches: (id, online).
fn whereabouts(sim: &Sim, i: usize) -> Vec<(ClientId, bool)> {
    let mut heard = Vec::new();
    for f in &sim.clients[i].frames {
        match f {
            ServerFrame::Seen(list) => {
                heard.extend(list.entries().unwrap().map(|s| (s.id, s.online)));
            }
            ServerFrame::Contacts(list) => heard.extend(list.iter().map(|c| (c.id, c.online))),
            _ => {}
        }
    }
    heard
}

/// A hub with members 1..=n online stops cleanly; returns a hub started again from its
/// database, and the members' lists as they held them.
fn restarted(disk: &Disk, n: u8) -> (Sim, Vec<crate::session::Roster>) {
    restarted_with_clock(disk, n, Timestamp::now())
}

/// As [`restarted`], the first hub's clock starting at `wall`.
fn restarted_with_clock(disk: &Disk, n: u8, wall: Timestamp) -> (Sim, Vec<crate::session::Roster>) {
    let mut sim = Sim::new(PW);
    sim.hub = Hub::new(
        crate::testing::hub_config(&crate::auth::Password::new(PW)),
        sim.now,
        wall,
    );
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    let clients: Vec<usize> = (1..=n).map(|who| sim.login(who, "member")).collect();
    sim.advance(limits::PRESENCE_BATCH);
    disk.sync(&mut sim);
    let rosters = clients.iter().map(|&i| sim.take_roster(i)).collect();
    let now = sim.now;
    sim.hub.shutdown(now, Timestamp::now());
    sim.run();
    disk.sync(&mut sim);
    let mut sim = Sim::new(PW);
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    if let Some(stopped) = disk.db.take_stopped().unwrap() {
        let now = sim.now;
        sim.hub.restore_online(stopped, now, Timestamp::now());
    }
    (sim, rosters)
}

/// An upgrade restart is no news: members online at the stop are shown online while
/// they come back, so thousands of returns cost nobody a presence entry; whoever is not
/// back when the grace ends is then shown offline, as it was since the stop.
#[test]
fn after_an_upgrade_restart_returns_are_no_news() {
    let disk = Disk::new("returns");
    let n = 12u8;
    let (mut sim, rosters) = restarted(&disk, n);
    // Members 11 and 12 do not come back.
    let mut back = Vec::new();
    for (who, roster) in (1..=n).zip(rosters).take(10) {
        let i = sim.login_holding(who, "member", roster);
        assert!(sim.is_online(i));
        let shown = listed(&sim, i);
        assert_eq!(shown.len(), usize::from(n) - 1);
        assert!(
            shown.iter().all(|c| c.online),
            "everyone online at the stop is shown online: {shown:?}"
        );
        back.push(i);
        sim.advance(limits::PRESENCE_BATCH);
    }
    for &i in &back {
        assert_eq!(whereabouts(&sim, i), Vec::new(), "no returns were news");
    }
    // The admin's view is the truth: who is connected.
    assert_eq!(sim.hub.directory.online().count(), 10);
    sim.advance(limits::RESTART_GRACE);
    for &i in &back {
        let mut heard = whereabouts(&sim, i);
        heard.sort();
        assert_eq!(heard, vec![(id(11), false), (id(12), false)]);
    }
    let first = back[0];
    let gone = sim.clients[first]
        .frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Seen(list) => Some(list.entries().unwrap().collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .find(|s| s.id == id(11))
        .unwrap();
    let at_stop = disk
        .db
        .members()
        .unwrap()
        .into_iter()
        .find(|m| m.id == id(11))
        .unwrap()
        .last_seen;
    assert_eq!(gone.last_seen, at_stop, "last seen at the stop");
    // A later return is news again, as any login is.
    let late = sim.login(11, "member");
    sim.advance(limits::PRESENCE_BATCH);
    assert!(sim.is_online(late));
    assert!(whereabouts(&sim, first).contains(&(id(11), true)));
}

/// The stop is written once: a hub that stopped long before it started again (or that
/// crashed, and wrote none) shows nobody online who is not.
#[test]
fn after_a_long_stop_nobody_is_shown_online() {
    let disk = Disk::new("returns-long");
    let (mut sim, _) = restarted(&disk, 3);
    assert!(
        disk.db.take_stopped().unwrap().is_none(),
        "taken at the start"
    );
    let a = sim.login(1, "member");
    assert!(listed(&sim, a).iter().all(|c| c.online), "within the grace");
    // The same stop, read by a hub that starts a minute later.
    let disk = Disk::new("returns-late");
    let (_, _) = restarted(&disk, 3);
    let mut sim = Sim::new(PW);
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    let stop = disk.db.members().unwrap().iter().map(|m| m.last_seen).max();
    let stopped = crate::hub::db::Stopped {
        at: Timestamp(stop.unwrap().0 - 60_000),
        online: vec![id(1), id(2), id(3)],
    };
    let now = sim.now;
    sim.hub.restore_online(stopped, now, Timestamp::now());
    let a = sim.login(1, "member");
    let shown = listed(&sim, a);
    assert_eq!(shown.len(), 2);
    assert!(shown.iter().all(|c| !c.online), "{shown:?}");
}

/// A member the owner bans while the others come back is shown offline at once, not
/// at the end of the grace.
#[test]
fn a_member_banned_during_the_grace_is_shown_offline_at_once() {
    let disk = Disk::new("returns-ban");
    let (mut sim, mut rosters) = restarted(&disk, 3);
    let a = sim.login_holding(1, "member", rosters.remove(0));
    let now = sim.now;
    sim.hub.ban(id(3), now);
    sim.advance(limits::PRESENCE_BATCH);
    assert_eq!(whereabouts(&sim, a), vec![(id(3), false)]);
}

/// The stop is stamped with the real clock: a hub whose own clock fell behind (the
/// machine slept, or the clock was set after the hub started) still gives the grace.
#[test]
fn a_hub_whose_clock_fell_behind_still_gives_the_grace() {
    let disk = Disk::new("returns-clock");
    let hour_ago = Timestamp(Timestamp::now().0 - 3_600_000);
    let (mut sim, mut rosters) = restarted_with_clock(&disk, 3, hour_ago);
    let a = sim.login_holding(1, "member", rosters.remove(0));
    let shown = listed(&sim, a);
    assert!(shown.iter().all(|c| c.online), "{shown:?}");
}
