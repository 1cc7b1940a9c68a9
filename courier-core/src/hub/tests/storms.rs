//! Storms on the simulator: connects, joins, and contact lists longer than any limit.
use super::*;

/// SECURITY M17: a connect/disconnect storm from one address is refused at accept past
/// its burst, then at its steady rate.
#[test]
fn a_reconnect_storm_from_one_address_is_refused_at_accept() {
    let mut sim = Sim::new(PW);
    let ip = IpAddr::V4(Ipv4Addr::new(10, 8, 0, 1));
    let storm = |sim: &mut Sim| {
        (0..500u32)
            .filter(|n| match sim.connect_from(ip, (*n % 200) as u8, PW, "x") {
                // Gone at once, before its login: only the connect rate holds it back.
                Some(i) => {
                    let conn = sim.clients[i].conn;
                    sim.hub.handle_disconnect(conn, sim.now);
                    true
                }
                None => false,
            })
            .count()
    };
    assert_eq!(storm(&mut sim), limits::CONNECT_BURST as usize);
    sim.advance(Duration::from_secs(1));
    let later = storm(&mut sim);
    assert!(
        later <= limits::CONNECTS_PER_SEC as usize + 2,
        "{later} more after a second"
    );
    // Another address is not affected.
    let other = IpAddr::V4(Ipv4Addr::new(10, 8, 0, 2));
    assert!(sim.connect_from(other, 1, PW, "y").is_some());
}

/// SECURITY M15: a storm of joins reaches everyone in bounded batches.
#[test]
fn presence_batches_are_bounded() {
    let mut sim = Sim::new(PW);
    let observer = sim.login(1, "observer");
    sim.clear();
    let n = limits::PRESENCE_BATCH_CARDS + 44;
    for k in 0..n {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 7, (k / 200) as u8, (k % 200) as u8 + 1));
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&(k as u32 + 7).to_le_bytes());
        let i = sim.connect_as(ip, ClientId(id), PW, "joiner").unwrap();
        sim.start_login(i);
        // Each login completes at once (synthetic time does not move): all of them land
        // in the same presence window.
        sim.run();
        assert!(sim.is_online(i), "joiner {k} logged in");
    }
    let cards = |sim: &Sim| -> usize {
        sim.clients[observer]
            .frames
            .iter()
            .map(|f| match f {
                ServerFrame::Contacts(c) => c.len(),
                _ => 0,
            })
            .sum()
    };
    sim.advance(limits::PRESENCE_BATCH);
    assert!(
        cards(&sim) <= limits::PRESENCE_BATCH_CARDS,
        "{} cards in one batch",
        cards(&sim)
    );
    sim.advance(limits::PRESENCE_BATCH);
    assert!(cards(&sim) >= n, "every join arrives: {}", cards(&sim));
}

/// A hub (or an impostor) cannot make a client hold an endless contact list: past the
/// most a hub may keep, the session ends.
#[test]
fn a_client_refuses_an_endless_contact_list() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.max_known = limits::MAX_KNOWN_CONTACTS + 10;
    let mut sim = Sim::with_config(config, PW);
    known_offline(&mut sim, 1000, limits::MAX_KNOWN_CONTACTS + 1);
    let a = sim.login(1, "alice");
    assert!(!sim.is_online(a) || sim.clients[a].error.is_some());
    assert!(
        sim.clients[a]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("unexpected")),
        "{:?}",
        sim.clients[a].error
    );
}

/// Pulling a contact list longer than the frame budget's burst is not rate limited: the
/// pages are owed, and a login must not stall behind them.
#[test]
fn a_contact_list_longer_than_the_frame_burst_arrives_whole() {
    let mut sim = Sim::new(PW);
    let n = limits::CONTACT_PAGE * (limits::FRAME_BURST as usize + 50);
    known_offline(&mut sim, 1000, n);
    let a = sim.login(1, "alice");
    assert!(
        sim.is_online(a),
        "{:?} {:?}",
        sim.clients[a].closed,
        sim.clients[a].error
    );
    let listed = sim.clients[a].events.iter().find_map(|e| match e {
        SEvent::LoggedIn { contacts, .. } => Some(contacts.len()),
        _ => None,
    });
    assert_eq!(listed, Some(n));
}

/// Strangers from many addresses holding every unfinished login open (each under its
/// address's cap) fill the hub's total; a member coming back from an address where it
/// logged in before still gets in, into a room kept for members.
#[test]
fn strangers_filling_every_unfinished_login_do_not_keep_members_out() {
    let mut sim = Sim::new(PW);
    // Sim::login logs in from 10.0.0.1.
    let home = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let m = sim.login(1, "member");
    assert!(sim.is_online(m));
    let now = sim.now;
    let mut held = 0;
    'fill: for a in 0..100u8 {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 9, 0, a));
        for _ in 0..limits::MAX_PREAUTH_PER_IP {
            match sim.hub.handle_accept(SocketAddr::new(ip, 1), now) {
                Ok(_) => held += 1,
                Err(Refused::Total) => break 'fill,
                Err(e) => unreachable!("{e}"),
            }
        }
    }
    assert_eq!(held, limits::MAX_PREAUTH_TOTAL);
    let stranger = IpAddr::V4(Ipv4Addr::new(10, 10, 0, 1));
    assert_eq!(
        sim.hub.handle_accept(SocketAddr::new(stranger, 1), now),
        Err(Refused::Total)
    );
    assert!(
        sim.hub.handle_accept(SocketAddr::new(home, 2), now).is_ok(),
        "a member's address is let in past the strangers' total"
    );
    // A few each: one member cannot take the whole room kept for members.
    let more = (0..10)
        .filter(|_| sim.hub.handle_accept(SocketAddr::new(home, 3), now).is_ok())
        .count();
    assert_eq!(more, limits::MEMBER_PREAUTH_RESERVE_PER_ADDRESS - 1);
}

/// An IPv4 address mapped into IPv6 is that IPv4 address for the limits; distinct IPv6
/// addresses of one LAN (one /64) are distinct addresses (else one stranger locks out
/// every IPv6 member).
#[test]
fn addresses_are_counted_as_hosts() {
    let mut sim = Sim::new(PW);
    let now = sim.now;
    let v4 = Ipv4Addr::new(10, 11, 0, 1);
    let mapped = IpAddr::V6(v4.to_ipv6_mapped());
    let accepted = (0..100)
        .filter(|n| {
            let ip = if n % 2 == 0 { IpAddr::V4(v4) } else { mapped };
            sim.hub.handle_accept(SocketAddr::new(ip, 1), now).is_ok()
        })
        .count();
    assert_eq!(accepted, limits::MAX_PREAUTH_PER_IP);
    let lan = |n: u16| {
        let ip = std::net::Ipv6Addr::new(0xfd00, 0, 0, 7, n, n, n, n);
        SocketAddr::new(IpAddr::V6(ip), 1)
    };
    let hosts = (1..=40u16)
        .filter(|n| sim.hub.handle_accept(lan(*n), now).is_ok())
        .count();
    assert_eq!(hosts, 40, "each host of the /64 is its own address");
}
