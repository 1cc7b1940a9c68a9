//! Remembered devices on the simulator: a device that logged in once with the password
//! comes back with its certificate alone; a forgotten one must give the password again.
use super::*;
use crate::hub::db::Record;

fn logged_in(sim: &Sim, i: usize) -> bool {
    sim.is_online(i) && sim.clients[i].error.is_none()
}

fn rejected_with(sim: &Sim, i: usize, rejection: &LoginRejection) -> bool {
    sim.clients[i]
        .frames
        .iter()
        .any(|f| matches!(f, ServerFrame::LoginRejected(r) if r == rejection))
}

/// Logs `who` in with the password, asking to be remembered, then disconnects it.
fn remembered_once(sim: &mut Sim, who: u8, name: &str) {
    let first = sim.login_remembered(who, name, PW);
    assert!(logged_in(sim, first), "{:?}", sim.clients[first].error);
    assert!(sim.clients[first].session.is_remembered());
    sim.disconnect(first);
}

#[test]
fn a_device_logs_in_with_the_password_once_and_then_without_it() {
    let mut sim = Sim::new(PW);
    remembered_once(&mut sim, 1, "alice");
    let failed = sim.hub.stats().failed_logins;

    let again = sim.login_remembered(1, "alice", "");
    assert!(logged_in(&sim, again), "{:?}", sim.clients[again].error);
    assert!(sim.clients[again].session.is_remembered());
    // No password was tested: no guess spent, no OPAQUE answer sent.
    assert_eq!(sim.hub.stats().failed_logins, failed);
    assert!(
        !sim.clients[again]
            .frames
            .iter()
            .any(|f| matches!(f, ServerFrame::LoginChallenge { .. }))
    );
    // The others see it as ever.
    let bob = sim.login(2, "bob");
    assert!(
        matches!(&sim.events(bob)[0], SEvent::LoggedIn { contacts, .. }
        if contacts.iter().any(|c| c.id == id(1) && c.online))
    );
}

#[test]
fn a_device_that_asked_not_to_be_remembered_needs_the_password_every_time() {
    let mut sim = Sim::new(PW);
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let first = sim.connect_from(ip, 1, PW, "alice").unwrap();
    sim.remembering(first, false, false);
    sim.start_login(first);
    sim.run();
    assert!(logged_in(&sim, first));
    assert!(!sim.clients[first].session.is_remembered());
    sim.disconnect(first);

    let again = sim.login_remembered(1, "alice", "");
    assert!(!logged_in(&sim, again));
    assert!(rejected_with(&sim, again, &LoginRejection::NotRemembered));
    assert_eq!(
        sim.clients[again].error.as_deref(),
        Some("this hub no longer remembers this device: enter the password")
    );
}

#[test]
fn a_device_not_remembered_goes_on_with_the_password_on_the_same_connection() {
    let mut sim = Sim::new(PW);
    let i = sim.login_remembered(1, "alice", PW);
    assert!(logged_in(&sim, i), "{:?}", sim.clients[i].error);
    assert!(rejected_with(&sim, i, &LoginRejection::NotRemembered));
    assert!(sim.clients[i].closed.is_none(), "one connection did it all");
    assert!(
        sim.clients[i].session.is_remembered(),
        "and now it is remembered"
    );
}

#[test]
fn a_wrong_password_after_not_remembered_is_still_a_wrong_password() {
    let mut sim = Sim::new(PW);
    let i = sim.login_remembered(1, "alice", "not the password");
    assert!(!logged_in(&sim, i));
    assert_eq!(sim.clients[i].closed, Some(CloseReason::WrongPassword));
    assert_eq!(sim.hub.stats().failed_logins, 1);
}

#[test]
fn asking_twice_to_be_let_in_as_remembered_is_a_violation() {
    let mut sim = Sim::new(PW);
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let i = sim.connect_from(ip, 1, PW, "alice").unwrap();
    let ask = ClientFrame::LoginRemembered {
        version: PROTOCOL_VERSION,
        profile: Profile::with_name("alice"),
        keep_profile: false,
        leave_mailbox: false,
        known: None,
    };
    sim.raw(i, &ask);
    assert!(rejected_with(&sim, i, &LoginRejection::NotRemembered));
    assert!(sim.clients[i].closed.is_none());
    sim.raw(i, &ask);
    assert_eq!(sim.clients[i].closed, Some(CloseReason::Unexpected));
}

#[test]
fn a_remembered_login_from_another_protocol_version_is_refused() {
    let mut sim = Sim::new(PW);
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let i = sim.connect_from(ip, 1, PW, "alice").unwrap();
    sim.raw(
        i,
        &ClientFrame::LoginRemembered {
            version: PROTOCOL_VERSION + 1,
            profile: Profile::with_name("alice"),
            keep_profile: false,
            leave_mailbox: false,
            known: None,
        },
    );
    assert_eq!(sim.clients[i].closed, Some(CloseReason::VersionMismatch));
}

#[test]
fn a_remembered_device_s_profile_is_checked_like_any_other() {
    let mut sim = Sim::new(PW);
    remembered_once(&mut sim, 1, "alice");
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let i = sim.connect_from(ip, 1, "", "alice").unwrap();
    sim.raw(
        i,
        &ClientFrame::LoginRemembered {
            version: PROTOCOL_VERSION,
            profile: Profile::with_name("   "),
            keep_profile: false,
            leave_mailbox: false,
            known: None,
        },
    );
    assert_eq!(sim.clients[i].closed, Some(CloseReason::InvalidProfile));
}

#[test]
fn a_forgotten_device_is_disconnected_and_must_give_the_password_again() {
    let mut sim = Sim::new(PW);
    remembered_once(&mut sim, 1, "alice");
    let online = sim.login_remembered(1, "alice", "");
    assert!(logged_in(&sim, online));

    let now = sim.now;
    assert!(sim.hub.forget_device(id(1), now), "it was remembered");
    sim.run();
    assert_eq!(sim.clients[online].closed, Some(CloseReason::Forgotten));
    assert!(
        !sim.hub.forget_device(id(1), now),
        "forgetting twice changes nothing"
    );

    let without = sim.login_remembered(1, "alice", "");
    assert!(!logged_in(&sim, without));
    assert!(rejected_with(&sim, without, &LoginRejection::NotRemembered));
    let with = sim.login_remembered(1, "alice", PW);
    assert!(logged_in(&sim, with), "{:?}", sim.clients[with].error);
}

#[test]
fn remembering_and_forgetting_are_recorded_for_the_database() {
    let mut sim = Sim::new(PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let i = sim.login_remembered(1, "alice", PW);
    let remembered = |records: &[Record]| {
        records.iter().find_map(|r| match r {
            Record::Member(m) if m.id == id(1) => Some(m.remembered_since),
            _ => None,
        })
    };
    let records = sim.hub.poll_writes();
    assert!(matches!(remembered(&records), Some(Some(_))), "{records:?}");
    sim.disconnect(i);
    let now = sim.now;
    sim.hub.forget_device(id(1), now);
    let records = sim.hub.poll_writes();
    assert_eq!(remembered(&records), Some(None), "{records:?}");
}
