//! Brokering on the simulator: offers, answers, tickets, relays.
use super::*;
use crate::proto::{
    ClientId, Declined, FileEntry, LinkTest, Manifest, ManifestError, OfferRefusal, Ticket,
    TransferEnd, TransferId,
};

fn manifest(n: usize) -> Manifest {
    Manifest {
        files: (0..n)
            .map(|i| FileEntry {
                path: format!("f{i}"),
                size: 10,
            })
            .collect(),
        folders: Vec::new(),
        test: None,
    }
}

fn offer(sim: &mut Sim, i: usize, tag: u32, to: ClientId, m: Manifest) {
    let now = sim.now;
    sim.clients[i]
        .session
        .offer(
            tag,
            to,
            m,
            vec!["10.0.0.1:5000".parse().unwrap()],
            false,
            now,
        )
        .unwrap();
    sim.run();
}

/// An offer as a client sends it: `sealed` stands for the sealed names.
fn raw_offer(
    sim: &mut Sim,
    i: usize,
    tag: u32,
    to: ClientId,
    sealed: Vec<u8>,
    test: Option<LinkTest>,
) {
    sim.raw(
        i,
        &ClientFrame::Offer {
            tag,
            to,
            sealed: crate::proto::Sealed::from(sealed),
            test,
            addrs: vec!["10.0.0.1:5000".parse().unwrap()],
            wait: false,
        },
    );
}

fn sent(sim: &Sim, i: usize) -> Vec<(u32, Result<TransferId, OfferRefusal>)> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::OfferSent { tag, id } => Some((*tag, Ok(*id))),
            SEvent::OfferRefused { tag, reason } => Some((*tag, Err(*reason))),
            _ => None,
        })
        .collect()
}

pub(super) fn tickets(sim: &Sim, i: usize) -> Vec<crate::proto::TicketInfo> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::Ticket(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn ends(sim: &Sim, i: usize) -> Vec<(TransferId, TransferEnd)> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::TransferEnded { id, end } => Some((*id, *end)),
            _ => None,
        })
        .collect()
}

fn offered(sim: &mut Sim, a: usize, b: usize) -> TransferId {
    let to = sim.clients[b].id;
    offer(sim, a, 1, to, manifest(2));
    let last = sent(sim, a).last().cloned();
    assert!(matches!(last, Some((_, Ok(_)))), "offer refused: {last:?}");
    last.and_then(|(_, r)| r.ok()).unwrap()
}

#[test]
fn offer_is_forwarded_with_the_true_sender_and_accept_mints_one_ticket() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let id = offered(&mut sim, a, b);
    let incoming: Vec<_> = sim
        .events(b)
        .iter()
        .filter_map(|e| match e {
            SEvent::Offer(o) => Some(o.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0].id, id);
    assert_eq!(incoming[0].from, ClientId([1; 32]));
    let now = sim.now;
    sim.clients[b]
        .session
        .accept(id, vec![1], vec!["10.0.0.2:6000".parse().unwrap()], now)
        .unwrap();
    sim.run();
    let (ta, tb) = (tickets(&sim, a), tickets(&sim, b));
    assert_eq!((ta.len(), tb.len()), (1, 1));
    assert_eq!(ta[0].ticket, tb[0].ticket);
    assert_eq!(ta[0].peer, ClientId([2; 32]));
    assert_eq!(tb[0].peer, ClientId([1; 32]));
    assert_eq!(ta[0].addrs, ["10.0.0.2:6000".parse().unwrap()]);
    assert_eq!(tb[0].addrs, ["10.0.0.1:5000".parse().unwrap()]);
    assert_eq!(ta[0].files, [1]);
    // A second answer to the same offer is refused.
    sim.raw(
        b,
        &ClientFrame::Accept {
            id,
            files: vec![0],
            addrs: vec![],
        },
    );
    assert_eq!(tickets(&sim, a).len(), 1);
    // Tickets expire.
    assert_eq!(sim.hub.stats().transfers, 1);
    sim.advance(limits::TICKET_TTL + Duration::from_secs(1));
    assert_eq!(sim.hub.stats().transfers, 0);
}

/// The hub never sees an offer's names: it forwards the envelope as it came, and binds
/// the ticket to BLAKE3 of the envelope's bytes (which both sides hold). It does not know
/// how many files there are: an index past the list is the sender's to refuse.
#[test]
fn a_sealed_offer_is_forwarded_as_is_and_its_ticket_binds_the_envelope() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let bob = sim.clients[b].id;
    let envelope = vec![0xA5; 300];
    raw_offer(&mut sim, a, 1, bob, envelope.clone(), None);
    let forwarded = sim.clients[b].frames.iter().find_map(|f| match f {
        ServerFrame::Offer(o) => Some(o.clone()),
        _ => None,
    });
    let forwarded = forwarded.expect("bob got the offer");
    assert_eq!(forwarded.sealed.as_bytes(), &envelope[..]);
    assert_eq!(forwarded.from, sim.clients[a].id);
    sim.raw(
        b,
        &ClientFrame::Accept {
            id: forwarded.id,
            files: vec![41],
            addrs: vec![],
        },
    );
    let digest = *blake3::hash(&envelope).as_bytes();
    assert_eq!(tickets(&sim, a).first().map(|t| t.digest), Some(digest));
    assert_eq!(tickets(&sim, b).first().map(|t| t.digest), Some(digest));
    assert_eq!(tickets(&sim, a)[0].files, vec![41]);
}

/// A link test is no files at all: one that carries a file is refused; an empty one
/// goes through and is answered with no file chosen.
#[test]
fn link_test_offers_carry_no_files() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let bob = sim.clients[b].id;
    // Sealed names with a link test.
    raw_offer(&mut sim, a, 1, bob, vec![1; 40], Some(LinkTest::Relayed));
    let test = Manifest {
        test: Some(LinkTest::Direct),
        ..Manifest::default()
    };
    offer(&mut sim, a, 2, bob, test.clone());
    let all = sent(&sim, a);
    assert_eq!(
        all.first(),
        Some(&(1, Err(OfferRefusal::Invalid(ManifestError::TestWithFiles))))
    );
    let id = match all.get(1) {
        Some(&(2, Ok(id))) => id,
        other => unreachable!("the empty link test was refused: {other:?}"),
    };
    let incoming: Vec<Manifest> = sim
        .events(b)
        .iter()
        .filter_map(|e| match e {
            SEvent::Offer(o) => Some(o.manifest.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(incoming, std::slice::from_ref(&test));
    sim.raw(
        b,
        &ClientFrame::Accept {
            id,
            files: vec![],
            addrs: vec![],
        },
    );
    let ticket = tickets(&sim, a);
    assert_eq!(ticket.len(), 1);
    assert!(ticket[0].files.is_empty());
    assert_eq!(ticket[0].digest, test.digest());
}

/// Finding N6: the hub hands a link test's answering side only the prober's addresses at
/// the address it sees the prober at (the list may name anyone's machine), says that
/// address, and hands the prober only the answering side's at the address it sees that
/// side at (its other interfaces are its own business), whatever the clients send.
#[test]
fn a_link_test_is_dialled_only_where_the_hub_sees_the_prober() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let bob = sim.clients[b].id;
    let now = sim.now;
    let listed: Vec<std::net::SocketAddr> = ["10.0.0.9:22", "127.0.0.1:631", "10.0.0.1:5000"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    let test = Manifest {
        test: Some(LinkTest::Direct),
        ..Manifest::default()
    };
    sim.clients[a]
        .session
        .offer(1, bob, test, listed, false, now)
        .unwrap();
    sim.run();
    let Some(&(1, Ok(id))) = sent(&sim, a).first() else {
        unreachable!("the link test was refused")
    };
    let seen_at: std::net::SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let offered: Vec<_> = sim
        .events(b)
        .iter()
        .filter_map(|e| match e {
            SEvent::Offer(o) => Some(o.addrs.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(offered, vec![vec![seen_at]]);
    sim.raw(
        b,
        &ClientFrame::Accept {
            id,
            files: vec![],
            addrs: vec![
                "10.0.0.2:7000".parse().unwrap(),
                "10.0.0.1:7001".parse().unwrap(),
            ],
        },
    );
    let to_bob = tickets(&sim, b);
    assert_eq!(to_bob.len(), 1);
    assert_eq!(to_bob[0].addrs, vec![seen_at]);
    assert_eq!(to_bob[0].seen, Some(seen_at.ip()));
    let to_alice = tickets(&sim, a);
    assert_eq!(to_alice.len(), 1);
    assert_eq!(
        to_alice[0].addrs,
        vec!["10.0.0.1:7001".parse().unwrap()],
        "only Bob's address where the hub sees him"
    );
    assert_eq!(to_alice[0].seen, None);
}

#[test]
fn offer_limits() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let bob = sim.clients[b].id;
    // Unknown recipient, self, invalid envelopes. The names, sizes and how many files
    // are sealed: their limits are the sender's (`transfer::send` validates the
    // manifest before it offers); the hub checks the envelope's bounds.
    offer(&mut sim, a, 1, ClientId([9; 32]), manifest(1));
    offer(&mut sim, a, 2, ClientId([1; 32]), manifest(1));
    raw_offer(&mut sim, a, 3, bob, Vec::new(), None);
    raw_offer(
        &mut sim,
        a,
        4,
        bob,
        vec![1; crate::proto::MAX_SEALED + 1],
        None,
    );
    assert_eq!(
        sent(&sim, a),
        [
            (1, Err(OfferRefusal::NoSuchPeer)),
            (2, Err(OfferRefusal::NoSuchPeer)),
            (3, Err(OfferRefusal::Invalid(ManifestError::Empty))),
            (4, Err(OfferRefusal::Invalid(ManifestError::TooLong))),
        ]
    );
    // At most 8 pending per sender (D8); the rate limit allows the burst.
    sim.clear();
    sim.advance(Duration::from_secs(10));
    for tag in 0..9 {
        offer(&mut sim, a, tag, bob, manifest(1));
        sim.advance(Duration::from_millis(500));
    }
    let results = sent(&sim, a);
    assert_eq!(results.iter().filter(|r| r.1.is_ok()).count(), 8);
    assert_eq!(results[8], (8, Err(OfferRefusal::Busy)));
    // A flood is rate limited.
    sim.clear();
    let c = sim.login(3, "carol");
    let bob2 = sim.login(4, "bob2");
    let to = sim.clients[bob2].id;
    for tag in 0..20 {
        offer(&mut sim, c, tag, to, manifest(1));
    }
    assert!(sent(&sim, c).contains(&(19, Err(OfferRefusal::RateLimited))));
    assert!(
        sim.is_online(c),
        "offers over the limit are refused, not fatal"
    );
}

#[test]
fn decline_cancel_and_leaving_end_offers() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let id = offered(&mut sim, a, b);
    // Only the recipient may answer.
    sim.raw(
        a,
        &ClientFrame::Decline {
            id,
            reason: Declined::ByUser,
        },
    );
    assert!(ends(&sim, a).is_empty());
    let now = sim.now;
    sim.clients[b]
        .session
        .decline(id, Declined::NoSpace, now)
        .unwrap();
    sim.run();
    assert_eq!(
        ends(&sim, a),
        [(id, TransferEnd::Declined(Declined::NoSpace))]
    );

    sim.clear();
    let id = offered(&mut sim, a, b);
    let now = sim.now;
    sim.clients[a].session.cancel(id, now).unwrap();
    sim.run();
    assert_eq!(
        ends(&sim, b),
        [(
            id,
            TransferEnd::Cancelled {
                by: ClientId([1; 32])
            }
        )]
    );

    sim.clear();
    let id = offered(&mut sim, a, b);
    sim.disconnect(a);
    assert_eq!(ends(&sim, b), [(id, TransferEnd::PeerGone)]);
    assert_eq!(sim.hub.stats().transfers, 0);
}

fn ticketed(sim: &mut Sim) -> (usize, usize, Ticket) {
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let id = offered(sim, a, b);
    let now = sim.now;
    sim.clients[b]
        .session
        .accept(id, vec![0], vec![], now)
        .unwrap();
    sim.run();
    (a, b, tickets(sim, b)[0].ticket)
}

fn relay_conn(sim: &mut Sim, who: u8) -> usize {
    sim.connect_from(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), who, PW, "relay")
        .unwrap()
}

#[test]
fn relay_pairs_the_two_sides_once() {
    let mut sim = Sim::new(PW);
    let (_, _, ticket) = ticketed(&mut sim);
    let ra = relay_conn(&mut sim, 1);
    let rb = relay_conn(&mut sim, 2);
    sim.raw(ra, &ClientFrame::Relay { ticket });
    assert!(sim.relays.is_empty());
    assert!(sim.clients[ra].closed.is_none());
    sim.raw(rb, &ClientFrame::Relay { ticket });
    assert_eq!(sim.relays, [(sim.clients[ra].conn, sim.clients[rb].conn)]);
    assert!(sim.clients[ra].frames.contains(&ServerFrame::RelayReady));
    assert!(sim.clients[rb].frames.contains(&ServerFrame::RelayReady));
    // Used up: a replay is refused.
    let again = relay_conn(&mut sim, 2);
    sim.raw(again, &ClientFrame::Relay { ticket });
    assert_eq!(sim.clients[again].closed, Some(CloseReason::BadTicket));
    assert_eq!(
        sim.hub.stats().preauth,
        0,
        "paired relays leave the hub's tables"
    );
}

#[test]
fn relay_refuses_strangers_wrong_expired_and_same_side_twice() {
    let mut sim = Sim::new(PW);
    let (_, _, ticket) = ticketed(&mut sim);
    let stranger = relay_conn(&mut sim, 7);
    sim.raw(stranger, &ClientFrame::Relay { ticket });
    assert_eq!(sim.clients[stranger].closed, Some(CloseReason::BadTicket));
    let wrong = relay_conn(&mut sim, 1);
    sim.raw(
        wrong,
        &ClientFrame::Relay {
            ticket: Ticket([0; 32]),
        },
    );
    assert_eq!(sim.clients[wrong].closed, Some(CloseReason::BadTicket));
    let first = relay_conn(&mut sim, 1);
    sim.raw(first, &ClientFrame::Relay { ticket });
    let twin = relay_conn(&mut sim, 1);
    sim.raw(twin, &ClientFrame::Relay { ticket });
    assert_eq!(sim.clients[twin].closed, Some(CloseReason::BadTicket));
    // The waiting half times out like an unfinished login; then the ticket expires.
    sim.advance(limits::TICKET_TTL + Duration::from_secs(1));
    assert_eq!(sim.clients[first].closed, Some(CloseReason::LoginTimeout));
    let late = relay_conn(&mut sim, 2);
    sim.raw(late, &ClientFrame::Relay { ticket });
    assert_eq!(sim.clients[late].closed, Some(CloseReason::BadTicket));
    assert!(sim.relays.is_empty());
}

#[test]
fn relay_can_be_switched_off() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.relay = false;
    let mut sim = Sim::with_config(config, PW);
    let (_, _, ticket) = ticketed(&mut sim);
    let r = relay_conn(&mut sim, 1);
    sim.raw(r, &ClientFrame::Relay { ticket });
    assert_eq!(sim.clients[r].closed, Some(CloseReason::RelayDisabled));
}

#[test]
fn relay_frames_after_login_are_violations() {
    let mut sim = Sim::new(PW);
    let (a, _, ticket) = ticketed(&mut sim);
    sim.raw(a, &ClientFrame::Relay { ticket });
    assert_eq!(sim.clients[a].closed, Some(CloseReason::Unexpected));
}
