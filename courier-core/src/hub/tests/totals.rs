//! The hub's [`Totals`]: each event counted once, where it happens.
use super::*;
use crate::proto::{FileEntry, Manifest};

fn raw_send(sim: &mut Sim, i: usize, n: u64, to: u8) {
    sim.raw(
        i,
        &ClientFrame::Send {
            id: MsgId(n),
            to: Target::Client(id(to)),
            sealed: crate::proto::Sealed::from(crate::proto::encode(&"x")),
        },
    );
}

#[test]
fn routed_stored_and_refused_messages_are_counted_once_each() {
    let mut sim = Sim::new(PW);
    established(&mut sim, &[3]);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let before = sim.hub.totals();
    for n in 0..3 {
        raw_send(&mut sim, a, n, 2); // bob is online
    }
    for n in 3..5 {
        raw_send(&mut sim, a, n, 3); // carol is away
    }
    raw_send(&mut sim, a, 5, 9); // nobody: neither routed nor stored
    let t = sim.hub.totals();
    assert_eq!(t.messages_routed - before.messages_routed, 3);
    assert_eq!(t.messages_stored - before.messages_stored, 2);
    assert_eq!(stored(&sim, a), 2);
    assert_eq!(t.rate_limited, 0);
    // Past the chat allowance (full again): each refused message counts once.
    sim.advance(Duration::from_secs(60));
    let burst = u64::from(limits::MESSAGE_BURST);
    for n in 100..100 + burst + 4 {
        raw_send(&mut sim, a, n, 2);
    }
    let t = sim.hub.totals();
    assert_eq!(t.rate_limited, 4);
    assert_eq!(t.messages_routed - before.messages_routed, 3 + burst);
    assert_eq!(messages(&sim, b).len() as u64, 3 + burst);
}

#[test]
fn logins_and_their_failures_are_counted() {
    let mut sim = Sim::new(PW);
    let _ = sim.login(1, "alice");
    let _ = sim.login_with(2, "mallory", "guess");
    let _ = sim.login_with(3, "mallory", "guess again");
    let t = sim.hub.totals();
    assert_eq!((t.logins, t.login_failures), (1, 2));
    assert_eq!(sim.hub.stats().failed_logins, 2);
}

#[test]
fn brokered_and_relayed_transfers_are_counted() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let manifest = Manifest {
        files: vec![FileEntry {
            path: "f".into(),
            size: 10,
        }],
        folders: Vec::new(),
        test: None,
    };
    let now = sim.now;
    let addrs = vec!["10.0.0.1:5000".parse().unwrap()];
    sim.clients[a]
        .session
        .offer(1, id(2), manifest, addrs, false, now)
        .unwrap();
    sim.run();
    assert_eq!(sim.hub.totals().transfers_brokered, 1);
    let offered = sim
        .events(b)
        .iter()
        .find_map(|e| match e {
            SEvent::Offer(o) => Some(o.id),
            _ => None,
        })
        .unwrap();
    let now = sim.now;
    sim.clients[b]
        .session
        .accept(offered, vec![0], vec![], now)
        .unwrap();
    sim.run();
    let ticket = super::transfers::tickets(&sim, b)[0].ticket;
    assert_eq!(sim.hub.totals().transfers_relayed, 0);
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
    let ra = sim.connect_from(ip, 1, PW, "relay").unwrap();
    let rb = sim.connect_from(ip, 2, PW, "relay").unwrap();
    sim.raw(ra, &ClientFrame::Relay { ticket });
    sim.raw(rb, &ClientFrame::Relay { ticket });
    assert_eq!(sim.relays.len(), 1);
    assert_eq!(sim.hub.totals().transfers_relayed, 1);
}

#[test]
fn slow_consumers_and_refused_connections_are_counted() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let now = sim.now;
    let conn = sim.clients[a].conn;
    sim.hub.handle_slow_consumer(conn, now);
    // A second report of the same connection is not a second drop.
    sim.hub.handle_slow_consumer(conn, now);
    sim.run();
    assert_eq!(sim.hub.totals().slow_consumers, 1);
    let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)), 4000);
    let refused = (0..limits::MAX_PREAUTH_PER_IP + 3)
        .filter(|_| sim.hub.handle_accept(peer, now).is_err())
        .count();
    assert!(refused >= 3);
    assert_eq!(sim.hub.totals().connections_refused, refused as u64);
}
