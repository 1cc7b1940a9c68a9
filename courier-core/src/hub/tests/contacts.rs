//! Contact lists on the simulator: pages, presence batches, a sender's card before its
//! message, and the directory's bound.
use super::*;

#[test]
fn contact_lists_longer_than_a_page_arrive_whole_in_pages() {
    let mut sim = Sim::new(PW);
    // 2.5 pages of previously seen contacts, planted directly in the directory.
    let n = limits::CONTACT_PAGE * 5 / 2;
    for i in 0..n {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(i as u64 + 1000).to_le_bytes());
        let conn = ConnId(1_000_000 + i as u64);
        let mut p = Profile::with_name(format!("c{i}"));
        p.status = "s".repeat(limits::MAX_STATUS_TEXT);
        sim.hub.directory.login(ClientId(id), conn, p, Timestamp(1));
        sim.hub.directory.logout(ClientId(id), conn, Timestamp(2));
    }
    let a = sim.login(1, "alice");
    let pages = sim.clients[a]
        .frames
        .iter()
        .filter(|f| {
            matches!(
                f,
                ServerFrame::Welcome { .. } | ServerFrame::ContactPage { .. }
            )
        })
        .count();
    assert_eq!(pages, 3);
    for f in &sim.clients[a].frames {
        assert!(crate::proto::encode(f).len() <= limits::MAX_MESSAGE);
    }
    assert!(matches!(&sim.events(a)[0], SEvent::LoggedIn { contacts, .. } if contacts.len() == n));
    assert!(sim.is_online(a));
}

#[test]
fn joins_within_one_batch_window_arrive_as_one_frame() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    sim.clear();
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    for who in 2..6u8 {
        let c = sim.connect_from(ip, who, PW, "x").unwrap();
        sim.start_login(c);
        sim.run();
    }
    assert!(sim.events(a).is_empty(), "nothing before the batch is due");
    sim.advance(limits::PRESENCE_BATCH);
    let batches: Vec<usize> = sim.clients[a]
        .frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Contacts(list) => Some(list.len()),
            _ => None,
        })
        .collect();
    assert_eq!(batches, vec![4]);
    assert_eq!(
        sim.events(a)
            .iter()
            .filter(|e| matches!(e, SEvent::Contact(_)))
            .count(),
        4
    );
}

#[test]
fn a_senders_card_arrives_before_its_first_message() {
    let mut sim = Sim::new(PW);
    let b = sim.login(2, "bob");
    sim.clear();
    // Alice logs in and speaks at once, inside the presence batch window.
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let a = sim.connect_from(ip, 1, PW, "alice").unwrap();
    sim.start_login(a);
    sim.run();
    send(&mut sim, a, 1, Target::Client(id(2)), "first words");
    let order: Vec<&str> = sim
        .events(b)
        .iter()
        .filter_map(|e| match e {
            SEvent::Contact(c) if c.id == id(1) => Some("card"),
            SEvent::Message(_) => Some("message"),
            _ => None,
        })
        .collect();
    assert_eq!(order, vec!["card", "message"]);
}

#[test]
fn frames_arriving_between_contact_pages_are_reported_after_login() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(a);
    send(&mut sim, b, 9, Target::Client(id(1)), "while paging");
    known_offline(&mut sim, 5000, limits::CONTACT_PAGE * 3);
    let a2 = sim.login(1, "alice");
    let kinds: Vec<&str> = sim
        .events(a2)
        .iter()
        .map(|e| match e {
            SEvent::LoggedIn { .. } => "login",
            SEvent::Message(_) => "message",
            _ => "other",
        })
        .filter(|k| *k != "other")
        .collect();
    assert_eq!(kinds, vec!["login", "message"]);
    assert!(
        matches!(&sim.events(a2)[0], SEvent::LoggedIn { contacts, .. }
        if contacts.len() == limits::CONTACT_PAGE * 3 + 1)
    );
    // Asking for a page nobody offered is a violation.
    sim.raw(a2, &ClientFrame::NextContacts);
    assert_eq!(sim.clients[a2].closed, Some(CloseReason::Unexpected));
}

#[test]
fn the_directory_forgets_the_oldest_offline_contact_when_full() {
    let mut dir = presence::Directory::default();
    for i in 0..limits::MAX_KNOWN_CONTACTS as u64 {
        let mut who = [0u8; 32];
        who[..8].copy_from_slice(&i.to_le_bytes());
        dir.login(
            ClientId(who),
            ConnId(i),
            Profile::with_name("x"),
            Timestamp(i + 10),
        );
        dir.logout(ClientId(who), ConnId(i), Timestamp(i + 10));
    }
    let newcomer = ClientId([0xff; 32]);
    dir.login(
        newcomer,
        ConnId(u64::MAX),
        Profile::with_name("new"),
        Timestamp(u64::MAX),
    );
    assert!(dir.get(&newcomer).is_some());
    let oldest = ClientId([0; 32]); // i = 0 had the oldest last_seen
    assert!(dir.get(&oldest).is_none());
    let mut second = [0u8; 32];
    second[..8].copy_from_slice(&1u64.to_le_bytes());
    assert!(dir.get(&ClientId(second)).is_some());
}
