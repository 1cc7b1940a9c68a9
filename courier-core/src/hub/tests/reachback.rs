//! Reach-back checks on the simulator: the hub connects back only to the address a member
//! comes from, a few times a minute each, a bounded number at once, and answers what
//! the driver found.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::*;
use crate::proto::Reach;

fn answers(sim: &Sim, i: usize) -> Vec<(SocketAddr, u16, Reach)> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::Reachback {
                seen,
                port,
                outcome,
            } => Some((*seen, *port, *outcome)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_hub_connects_back_only_to_the_members_own_address_and_reports_what_it_found() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "ada");
    sim.clear();
    sim.raw(a, &ClientFrame::Reachback { port: 9100 });
    let conn = sim.clients[a].conn;
    let seen = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 9100);
    // Asked of the driver, with the member's own address; nothing answered yet.
    assert_eq!(sim.reachbacks, vec![(conn, seen)]);
    assert!(answers(&sim, a).is_empty());

    let now = sim.now;
    sim.hub.handle_reachback(conn, seen, Reach::NoAnswer, now);
    sim.run();
    let got = answers(&sim, a);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.ip(), seen.ip(), "the address the hub sees");
    assert_eq!((got[0].1, got[0].2), (9100, Reach::NoAnswer));
    assert!(sim.is_online(a));
}

#[test]
fn port_zero_is_answered_without_trying() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "ada");
    sim.raw(a, &ClientFrame::Reachback { port: 0 });
    assert!(sim.reachbacks.is_empty());
    assert_eq!(answers(&sim, a)[0].2, Reach::Unreachable);
}

#[test]
fn a_member_gets_a_few_a_minute_and_then_too_soon_without_a_try() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "ada");
    let burst = crate::limits::REACHBACK_BURST as usize;
    for _ in 0..=burst {
        sim.raw(a, &ClientFrame::Reachback { port: 9100 });
    }
    assert_eq!(sim.reachbacks.len(), burst, "the burst is tried");
    let got = answers(&sim, a);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, Reach::TooSoon, "the one past the burst is not");
    assert!(
        sim.is_online(a),
        "asking too often is not a reason to close"
    );

    // A token comes back after a minute's share.
    sim.advance(Duration::from_secs(
        60 / u64::from(crate::limits::REACHBACKS_PER_MIN) + 1,
    ));
    sim.raw(a, &ClientFrame::Reachback { port: 9100 });
    assert_eq!(sim.reachbacks.len(), burst + 1);
}

#[test]
fn the_whole_hub_runs_a_bounded_number_at_once_and_an_answer_frees_a_place() {
    let mut sim = Sim::new(PW);
    let at_once = crate::limits::REACHBACKS_AT_ONCE;
    let per = crate::limits::REACHBACK_BURST as usize;
    let members: Vec<usize> = (0..at_once / per + 1)
        .map(|i| sim.login(u8::try_from(i + 1).unwrap(), &format!("m{i}")))
        .collect();
    for &m in &members {
        for _ in 0..per {
            sim.raw(m, &ClientFrame::Reachback { port: 9100 });
        }
    }
    assert_eq!(sim.reachbacks.len(), at_once);
    let refused: usize = members
        .iter()
        .map(|&m| {
            answers(&sim, m)
                .iter()
                .filter(|r| r.2 == Reach::TooSoon)
                .count()
        })
        .sum();
    assert_eq!(refused, members.len() * per - at_once);

    // One answered (its member gone meanwhile: nothing is sent to it) frees a place.
    let (conn, addr) = sim.reachbacks[0];
    sim.disconnect(members[0]);
    let now = sim.now;
    sim.hub.handle_reachback(conn, addr, Reach::Connected, now);
    sim.run();
    assert!(
        answers(&sim, members[0])
            .iter()
            .all(|r| r.2 == Reach::TooSoon)
    );
    let late = sim.login(200, "late");
    sim.raw(late, &ClientFrame::Reachback { port: 9100 });
    assert_eq!(sim.reachbacks.len(), at_once + 1);
}

#[test]
fn asking_before_login_closes_the_connection() {
    let mut sim = Sim::new(PW);
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
    let c = sim.connect_from(ip, 9, PW, "early").unwrap();
    sim.raw(c, &ClientFrame::Reachback { port: 9100 });
    assert!(sim.reachbacks.is_empty());
    assert_eq!(sim.clients[c].closed, Some(CloseReason::Unexpected));
}

/// Hardening round 2, N11: the budget is the member's, not each connection's: forty
/// connections of one member gave it forty budgets (320 checks a minute).
#[test]
fn a_member_s_many_connections_share_one_budget() {
    let mut sim = Sim::new(PW);
    let conns: Vec<usize> = (0..10).map(|_| sim.login(1, "ada")).collect();
    for &c in &conns {
        for _ in 0..crate::limits::REACHBACK_BURST {
            sim.raw(c, &ClientFrame::Reachback { port: 9100 });
        }
    }
    assert_eq!(
        sim.reachbacks.len(),
        crate::limits::REACHBACK_BURST as usize,
        "one member's burst, whatever its connections"
    );
    // Another member has its own.
    let b = sim.login(2, "bob");
    sim.raw(b, &ClientFrame::Reachback { port: 9100 });
    assert_eq!(
        sim.reachbacks.len(),
        crate::limits::REACHBACK_BURST as usize + 1
    );
}
