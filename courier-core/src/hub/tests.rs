//! Hub state-machine tests on the in-memory simulator, with synthetic time.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::proto::{
    ClientFrame, Delivery, ErrorCode, LoginRejection, Message, MsgId, PROTOCOL_VERSION, Profile,
    RejectReason, ServerFrame, Target, Timestamp,
};
use crate::session::Event as SEvent;
use crate::testing::Sim;

const PW: &str = "correct horse";

fn messages(sim: &Sim, i: usize) -> Vec<Message> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Makes `whos` members of long standing (not new identities, whose messages for
/// offline members share the newcomers' room): each logs in once, then a week passes.
fn established(sim: &mut Sim, whos: &[u8]) {
    for &who in whos {
        let i = sim.login(who, "member");
        sim.disconnect(i);
    }
    sim.advance(limits::NEWCOMER);
}

/// How many of client `i`'s messages were acknowledged `stored`.
fn stored(sim: &Sim, i: usize) -> usize {
    receipts(sim, i)
        .iter()
        .filter(|(_, d)| *d == Delivery::Stored)
        .count()
}

fn receipts(sim: &Sim, i: usize) -> Vec<(MsgId, Delivery)> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::Receipt { id, status } => Some((*id, status.clone())),
            _ => None,
        })
        .collect()
}

fn send(sim: &mut Sim, i: usize, id: u64, to: Target, text: &str) {
    let now = sim.now;
    sim.clients[i]
        .session
        .send_message(MsgId(id), to, text.into(), now)
        .unwrap();
    sim.run();
}

fn id(who: u8) -> ClientId {
    ClientId([who; 32])
}

#[test]
fn login_shares_contacts_both_ways() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    assert!(sim.is_online(a));
    assert!(
        matches!(&sim.events(a)[0], SEvent::LoggedIn { you, contacts, .. }
        if *you == id(1) && contacts.is_empty())
    );
    let b = sim.login(2, "bob");
    // Bob sees Alice in his welcome; Alice hears Bob join.
    assert!(
        matches!(&sim.events(b)[0], SEvent::LoggedIn { contacts, .. }
        if contacts.len() == 1 && contacts[0].id == id(1) && contacts[0].online
            && contacts[0].profile.name == "alice")
    );
    assert!(sim.events(a).iter().any(|e| matches!(e, SEvent::Contact(c)
        if c.id == id(2) && c.online && c.profile.name == "bob")));
    assert_eq!(sim.hub.stats().logged_in, 2);
    assert_eq!(sim.hub.stats().preauth, 0);
}

#[test]
fn wrong_password_is_refused_and_closed() {
    let mut sim = Sim::new(PW);
    let c = sim.login_with(1, "mallory", "guess");
    assert_eq!(sim.clients[c].closed, Some(CloseReason::WrongPassword));
    assert_eq!(sim.clients[c].error.as_deref(), Some("wrong password"));
    assert!(
        sim.clients[c]
            .frames
            .contains(&ServerFrame::LoginRejected(LoginRejection::WrongPassword))
    );
    assert_eq!(sim.hub.stats().connections, 0);
}

#[test]
fn repeated_failures_back_off_per_address() {
    let mut sim = Sim::new(PW);
    for _ in 0..limits::LOGIN_FAILURES_FREE + 1 {
        let c = sim.login_with(1, "m", "guess");
        assert_eq!(sim.clients[c].closed, Some(CloseReason::WrongPassword));
    }
    // Now even the right password must wait.
    let c = sim.login(2, "alice");
    assert_eq!(sim.clients[c].closed, Some(CloseReason::TooManyAttempts));
    assert!(sim.clients[c].frames.iter().any(|f| matches!(f,
        ServerFrame::LoginRejected(LoginRejection::TooManyAttempts { retry_in_ms }) if *retry_in_ms > 0)));
    // Another address is not affected.
    let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let d = sim.connect_from(other, 3, PW, "dave").unwrap();
    sim.start_login(d);
    sim.run();
    assert!(sim.is_online(d));
    // After the backoff the first address may try again.
    sim.advance(limits::LOGIN_BACKOFF_BASE + Duration::from_millis(10));
    let e = sim.login(4, "erin");
    assert!(sim.is_online(e));
}

/// Starts a login from `ip` with a wrong password and goes silent once the hub answers:
/// the first reply is all a guesser needs to test its guess. Returns whether the hub
/// answered (spent a guess) rather than refusing.
fn silent_guess(sim: &mut Sim, ip: IpAddr, who: u8) -> bool {
    let Some(i) = sim.connect_from(ip, who, "guess", "m") else {
        return false;
    };
    let (_, request) = crate::auth::ClientLoginState::start(
        &mut rand::thread_rng(),
        &crate::auth::Password::new("guess"),
    )
    .unwrap();
    sim.raw(
        i,
        &ClientFrame::LoginStart {
            version: PROTOCOL_VERSION,
            request: request.into(),
        },
    );
    sim.clients[i]
        .frames
        .iter()
        .any(|f| matches!(f, ServerFrame::LoginChallenge { .. }))
}

/// SECURITY A2 (issue 10 #3): a login the hub answered counts as a failed guess unless
/// its password proves right, so neither going silent after the hub's answer nor
/// guessing in parallel gets more guesses than the backoff and the in-flight allowance
/// give; and the hub's global budget bounds guesses spread over many addresses (plus
/// one per address with no failure yet) without locking out a member's address.
#[test]
fn silent_and_parallel_guessers_spend_at_most_the_budget() {
    let mut sim = Sim::new(PW);
    let ip = |n: u8| IpAddr::V4(Ipv4Addr::new(10, 9, 0, n));
    // In parallel: eight logins at once from one address.
    let parallel = (0..8)
        .filter(|n| silent_guess(&mut sim, ip(1), 100 + n))
        .count();
    // As many as one address may have under way (eight commands logging in at once).
    let in_flight = limits::LOGIN_IN_FLIGHT_PER_ADDRESS as usize;
    assert!(
        parallel <= in_flight,
        "{parallel} parallel guesses answered"
    );
    // One after the other, each going silent, for a minute.
    let mut answered = 0;
    for n in 0..600 {
        if silent_guess(&mut sim, ip(2), (n % 200) as u8) {
            answered += 1;
        }
        sim.advance(Duration::from_millis(100));
    }
    assert!(answered <= 10, "{answered} silent guesses in a minute");

    // Spread over 50 addresses, every 5 s each, for a minute: the global budget.
    let mut sim = Sim::new(PW);
    let member = sim.login(1, "member");
    assert!(sim.is_online(member));
    sim.disconnect(member);
    let mut answered = 0;
    for round in 0..12 {
        for a in 0..50 {
            if silent_guess(&mut sim, ip(10 + a), a) {
                answered += 1;
            }
        }
        sim.advance(Duration::from_secs(5));
        if round == 6 {
            // The member's address is not locked out by others' guessing.
            let again = sim.login(1, "member");
            assert!(sim.is_online(again), "a member was locked out");
        }
    }
    let budget = (limits::LOGIN_GUESS_BURST
        + limits::LOGIN_GUESSES_PER_MIN
        + 50 * limits::LOGIN_IN_FLIGHT_FRESH) as usize;
    assert!(
        answered <= budget,
        "{answered} guesses from 50 addresses (budget {budget})"
    );
}

/// Like [`silent_guess`], then the guesser hangs up at once (an abandoned login).
fn guess_and_leave(sim: &mut Sim, ip: IpAddr, who: u8) -> bool {
    let before = sim.clients.len();
    let answered = silent_guess(sim, ip, who);
    if let Some(conn) = sim.clients.get(before).map(|c| c.conn) {
        sim.hub.handle_disconnect(conn, sim.now);
        sim.run();
    }
    answered
}

/// Hardening N7: 40 addresses guessing every second spend the global budget, yet a new
/// member from an address never seen, with the right password, gets in every time; and
/// the guesses answered stay within the budget plus one per guessing address.
#[test]
fn a_guess_flood_from_many_addresses_does_not_lock_out_new_members() {
    let mut sim = Sim::new(PW);
    let attacker = |n: u8| IpAddr::V4(Ipv4Addr::new(10, 7, 0, n));
    let mut answered = 0;
    let mut members = 0;
    for second in 0..60u8 {
        for a in 0..40 {
            if guess_and_leave(&mut sim, attacker(a), a) {
                answered += 1;
            }
        }
        if second % 12 == 6 {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 8, 0, members));
            let m = sim.connect_from(ip, 200 + members, PW, "new").unwrap();
            sim.start_login(m);
            sim.run();
            assert!(
                sim.is_online(m),
                "new member {members} was refused: {:?}",
                sim.clients[m].closed
            );
            members += 1;
        }
        sim.advance(Duration::from_secs(1));
    }
    assert_eq!(members, 5);
    let bound = (limits::LOGIN_GUESS_BURST
        + limits::LOGIN_GUESSES_PER_MIN
        + 40 * limits::LOGIN_IN_FLIGHT_FRESH) as usize;
    assert!(
        answered <= bound,
        "{answered} guesses answered in a minute (bound {bound})"
    );
}

/// Hardening N12: eight logins with the right password at once from one address (eight
/// commands, or the app and the command line) all get in: a login under way is not a
/// failure.
#[test]
fn parallel_logins_with_the_right_password_all_succeed() {
    let mut sim = Sim::new(PW);
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
    let clients: Vec<usize> = (0..8)
        .map(|_| sim.connect_from(ip, 30, PW, "cli").unwrap())
        .collect();
    for &c in &clients {
        sim.start_login(c);
    }
    sim.run();
    let online = clients.iter().filter(|&&c| sim.is_online(c)).count();
    assert_eq!(online, 8, "{online} of 8 parallel logins got in");
}

#[test]
fn relayed_login_fails_channel_binding_on_both_ends() {
    let mut sim = Sim::new(PW);
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
    let c = sim.connect_from(ip, 1, PW, "alice").unwrap();
    sim.tamper_channel(c);
    sim.start_login(c);
    sim.run();
    assert_eq!(sim.clients[c].closed, Some(CloseReason::ChannelBinding));
    assert!(!sim.clients[c].session.is_ready());
    assert!(
        sim.clients[c]
            .error
            .as_deref()
            .unwrap()
            .contains("intercepted")
    );
}

#[test]
fn frames_before_login_close_the_connection() {
    let mut sim = Sim::new(PW);
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let c = sim.connect_from(ip, 1, PW, "x").unwrap();
    sim.raw(
        c,
        &ClientFrame::Send {
            id: MsgId(1),
            to: Target::Everyone,
            text: "hi".into(),
        },
    );
    assert_eq!(sim.clients[c].closed, Some(CloseReason::Unexpected));
    let d = sim.connect_from(ip, 2, PW, "y").unwrap();
    sim.raw(d, &ClientFrame::Ping);
    assert_eq!(sim.clients[d].closed, Some(CloseReason::Unexpected));
    assert_eq!(sim.hub.stats().connections, 0);
}

#[test]
fn version_mismatch_names_both_versions() {
    let mut sim = Sim::new(PW);
    let c = sim
        .connect_from(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, PW, "x")
        .unwrap();
    sim.raw(
        c,
        &ClientFrame::LoginStart {
            version: 99,
            request: Default::default(),
        },
    );
    assert_eq!(sim.clients[c].closed, Some(CloseReason::VersionMismatch));
    assert!(sim.clients[c].frames.contains(&ServerFrame::LoginRejected(
        LoginRejection::VersionMismatch {
            hub: PROTOCOL_VERSION,
            client: 99
        }
    )));
}

#[test]
fn garbage_login_request_closes() {
    let mut sim = Sim::new(PW);
    let c = sim
        .connect_from(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, PW, "x")
        .unwrap();
    sim.raw(
        c,
        &ClientFrame::LoginStart {
            version: PROTOCOL_VERSION,
            request: vec![0xff; 40].into(),
        },
    );
    assert_eq!(sim.clients[c].closed, Some(CloseReason::Malformed));
}

#[test]
fn login_deadline_closes_silent_connections() {
    let mut sim = Sim::new(PW);
    let c = sim
        .connect_from(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, PW, "x")
        .unwrap();
    sim.advance(limits::LOGIN_DEADLINE - Duration::from_millis(300));
    assert_eq!(sim.clients[c].closed, None);
    sim.advance(Duration::from_millis(600));
    assert_eq!(sim.clients[c].closed, Some(CloseReason::LoginTimeout));
    assert_eq!(sim.hub.stats().preauth, 0);
}

#[test]
fn heartbeat_pings_then_drops_silent_clients_and_tells_others() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    // Idle but alive: the hub pings, both answer, nobody is dropped.
    sim.advance(limits::HEARTBEAT_TIMEOUT * 2);
    assert!(sim.clients[a].frames.contains(&ServerFrame::Ping));
    assert!(sim.is_online(a) && sim.is_online(b));
    // Alice's cable is pulled; Bob stays.
    sim.raw(a, &ClientFrame::Ping); // last sign of life, now
    sim.mute(a);
    sim.advance(limits::HEARTBEAT_TIMEOUT - Duration::from_secs(2));
    assert_eq!(sim.clients[a].closed, None);
    sim.advance(limits::HEARTBEAT_INTERVAL);
    assert_eq!(sim.clients[a].closed, Some(CloseReason::HeartbeatTimeout));
    assert_eq!(sim.clients[b].closed, None);
    assert!(
        sim.events(b)
            .iter()
            .any(|e| matches!(e, SEvent::Contact(c) if !c.online && c.id == id(1)))
    );
}

#[test]
fn direct_message_is_stamped_by_the_hub_and_receipted() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    sim.clear();
    send(&mut sim, a, 10, Target::Client(id(2)), "hi bob");
    let got = messages(&sim, b);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].from, got[0].text.as_str(), got[0].id),
        (id(1), "hi bob", MsgId(10))
    );
    assert!(got[0].time.0 >= 1_700_000_000_000);
    assert!(
        messages(&sim, c).is_empty(),
        "carol must not see a DM to bob"
    );
    assert_eq!(receipts(&sim, a), vec![(MsgId(10), Delivery::Delivered)]);
}

#[test]
fn bad_recipients_and_texts_are_rejected() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    sim.clear();
    send(&mut sim, a, 1, Target::Client(id(9)), "nobody");
    send(&mut sim, a, 2, Target::Client(id(1)), "myself");
    send(&mut sim, a, 3, Target::Everyone, "");
    let long = "x".repeat(limits::MAX_TEXT + 1);
    send(&mut sim, a, 4, Target::Everyone, &long);
    assert_eq!(
        receipts(&sim, a),
        vec![
            (MsgId(1), Delivery::Rejected(RejectReason::NoSuchPeer)),
            (MsgId(2), Delivery::Rejected(RejectReason::NoSuchPeer)),
            (MsgId(3), Delivery::Rejected(RejectReason::BadText)),
            (MsgId(4), Delivery::Rejected(RejectReason::BadText)),
        ]
    );
    assert!(sim.is_online(a));
}

#[test]
fn offline_messages_are_stored_then_delivered_at_login() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    assert!(
        sim.events(a)
            .iter()
            .any(|e| matches!(e, SEvent::Contact(c) if !c.online))
    );
    sim.clear();
    send(&mut sim, a, 5, Target::Client(id(2)), "while you were out");
    assert_eq!(receipts(&sim, a), vec![(MsgId(5), Delivery::Stored)]);
    assert_eq!(sim.hub.stats().stored, 1);
    let b2 = sim.login(2, "bob");
    let got = messages(&sim, b2);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, "while you were out");
    assert_eq!(sim.hub.stats().stored, 0);
}

#[test]
fn offline_queue_is_bounded() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.offline_queue = 3;
    let mut sim = Sim::with_config(config, PW);
    established(&mut sim, &[1, 3, 4, 5]);
    // One message from each of four senders (one sender may fill only a share).
    let senders: Vec<usize> = [1, 3, 4, 5].map(|n| sim.login(n, "sender")).into();
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    sim.clear();
    for (n, &s) in senders.iter().enumerate() {
        send(&mut sim, s, n as u64, Target::Client(id(2)), "m");
    }
    let r: Vec<(MsgId, Delivery)> = senders.iter().flat_map(|&s| receipts(&sim, s)).collect();
    assert_eq!(r.iter().filter(|(_, s)| *s == Delivery::Stored).count(), 3);
    assert_eq!(r[3].1, Delivery::Rejected(RejectReason::QueueFull));
}

#[test]
fn broadcast_reaches_everyone_else_once() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    sim.clear();
    send(&mut sim, a, 1, Target::Everyone, "hello all");
    assert!(messages(&sim, a).is_empty());
    for r in [b, c] {
        let got = messages(&sim, r);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].from, got[0].to), (id(1), Target::Everyone));
    }
}

#[test]
fn read_marks_and_typing_reach_the_right_person() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    sim.clear();
    let now = sim.now;
    sim.clients[b]
        .session
        .typing(Target::Client(id(1)), now)
        .unwrap();
    sim.clients[b]
        .session
        .mark_read(id(1), MsgId(42), now)
        .unwrap();
    sim.run();
    // Read marks go out once for a batch.
    let later = now + limits::READ_MARK_BATCH;
    sim.clients[b].session.handle_timeout(later).unwrap();
    sim.run();
    assert!(sim.events(a).contains(&SEvent::Typing {
        from: id(2),
        to: Target::Client(id(1))
    }));
    assert!(sim.events(a).contains(&SEvent::Read {
        by: id(2),
        id: MsgId(42)
    }));
    assert!(sim.events(c).is_empty());
}

#[test]
fn chat_rate_limit_rejects_then_disconnects_a_flooder() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    for n in 0..u64::from(limits::MESSAGE_BURST) + 5 {
        sim.raw(
            a,
            &ClientFrame::Send {
                id: MsgId(n),
                to: Target::Client(id(2)),
                text: "x".into(),
            },
        );
    }
    let limited = sim.clients[a]
        .frames
        .iter()
        .filter(|f| {
            matches!(
                f,
                ServerFrame::Receipt {
                    status: Delivery::Rejected(RejectReason::RateLimited),
                    ..
                }
            )
        })
        .count();
    assert_eq!(limited, 5);
    assert_eq!(messages(&sim, b).len(), limits::MESSAGE_BURST as usize);
    // Typing notices have a small budget of their own; past it, each is a violation.
    for n in 0..u64::from(limits::RATE_VIOLATIONS_BEFORE_CLOSE + limits::TYPING_BURST) {
        sim.raw(
            a,
            &ClientFrame::Typing {
                to: Target::Everyone,
            },
        );
        let _ = n;
    }
    assert_eq!(sim.clients[a].closed, Some(CloseReason::RateLimited));
    assert!(sim.is_online(b));
}

#[test]
fn profile_updates_are_validated_rate_limited_and_shared() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    sim.advance(Duration::from_secs(2));
    let mut p = Profile::with_name("Alice B.");
    p.status = "lunch".into();
    sim.raw(a, &ClientFrame::SetProfile(p.clone()));
    sim.advance(limits::PRESENCE_BATCH);
    assert!(
        sim.events(b)
            .iter()
            .any(|e| matches!(e, SEvent::Contact(c) if c.profile == crate::proto::Card::from(&p)))
    );
    // A second update within the second is refused.
    sim.raw(a, &ClientFrame::SetProfile(Profile::with_name("again")));
    assert!(sim.clients[a].frames.iter().any(|f| matches!(
        f,
        ServerFrame::Error {
            code: ErrorCode::RateLimited,
            ..
        }
    )));
    sim.advance(Duration::from_secs(2));
    sim.raw(
        a,
        &ClientFrame::SetProfile(Profile::with_name("bad\u{202E}name")),
    );
    assert!(sim.clients[a].frames.iter().any(|f| matches!(
        f,
        ServerFrame::Error {
            code: ErrorCode::InvalidProfile,
            ..
        }
    )));
    assert!(sim.is_online(a));
}

#[test]
fn invalid_profile_at_login_is_refused() {
    let mut sim = Sim::new(PW);
    let c = sim.login(1, "\x1b[1A\rroot");
    assert_eq!(sim.clients[c].closed, Some(CloseReason::InvalidProfile));
    assert!(sim.clients[c].error.as_deref().unwrap().contains("profile"));
}

/// Hardening N8: a display name that reads as an id (Bob's short id, say) is refused at
/// login and at a profile update, with the reason in words; a short hex word stays a
/// name ("cafe": ids win over names when resolving anyway).
#[test]
fn a_name_that_looks_like_an_id_is_refused() {
    let mut sim = Sim::new(PW);
    let bob = sim.login(2, "bob");
    let bob_short = sim.clients[bob].id.short();
    let c = sim.login(1, &bob_short);
    assert_eq!(sim.clients[c].closed, Some(CloseReason::InvalidProfile));
    let error = sim.clients[c].error.clone().unwrap_or_default();
    assert!(error.contains("taken for an id"), "{error}");
    let c = sim.login(3, "DEADBEEF");
    assert_eq!(sim.clients[c].closed, Some(CloseReason::InvalidProfile));

    let a = sim.login(4, "cafe");
    assert!(sim.is_online(a));
    sim.advance(Duration::from_secs(2));
    sim.raw(a, &ClientFrame::SetProfile(Profile::with_name(&bob_short)));
    assert!(
        sim.clients[a].frames.iter().any(|f| matches!(
            f,
            ServerFrame::Error {
                code: ErrorCode::InvalidProfile,
                detail,
            } if detail.contains("taken for an id")
        )),
        "{:?}",
        sim.clients[a].frames
    );
    assert!(sim.is_online(a));
}

#[test]
fn preauth_limits_per_address_and_total() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.max_preauth_per_ip = 2;
    config.max_preauth_total = 3;
    let mut sim = Sim::with_config(config, PW);
    let ip = |n| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
    assert!(sim.connect_from(ip(1), 1, PW, "a").is_some());
    assert!(sim.connect_from(ip(1), 2, PW, "a").is_some());
    assert_eq!(
        sim.hub.handle_accept(SocketAddr::new(ip(1), 1), sim.now),
        Err(Refused::PerAddress)
    );
    assert!(sim.connect_from(ip(2), 3, PW, "b").is_some());
    assert_eq!(
        sim.hub.handle_accept(SocketAddr::new(ip(3), 1), sim.now),
        Err(Refused::Total)
    );
    // Logging in frees the slot.
    sim.start_login(0);
    sim.run();
    assert!(sim.is_online(0));
    assert!(
        sim.hub
            .handle_accept(SocketAddr::new(ip(3), 1), sim.now)
            .is_ok()
    );
}

#[test]
fn two_connections_of_one_identity_both_receive_and_presence_counts_both() {
    let mut sim = Sim::new(PW);
    let a1 = sim.login(1, "alice");
    let a2 = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    send(&mut sim, b, 1, Target::Client(id(1)), "to both");
    assert_eq!(messages(&sim, a1).len(), 1);
    assert_eq!(messages(&sim, a2).len(), 1);
    sim.disconnect(a1);
    assert!(
        !sim.events(b)
            .iter()
            .any(|e| matches!(e, SEvent::Contact(c) if !c.online))
    );
    sim.disconnect(a2);
    assert!(
        sim.events(b)
            .iter()
            .any(|e| matches!(e, SEvent::Contact(c) if !c.online))
    );
}

#[test]
fn bad_input_maps_to_close_codes() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "a");
    let b = sim.login(2, "b");
    let c = sim.login(3, "c");
    let now = sim.now;
    sim.hub
        .handle_bad_input(sim.clients[a].conn, BadInput::TooBig, now);
    sim.hub
        .handle_bad_input(sim.clients[b].conn, BadInput::Text, now);
    sim.hub.handle_bad_input(
        sim.clients[c].conn,
        BadInput::Malformed(crate::proto::DecodeError::Truncated),
        now,
    );
    sim.run();
    assert_eq!(sim.clients[a].closed.map(CloseReason::code), Some(1009));
    assert_eq!(sim.clients[b].closed.map(CloseReason::code), Some(1003));
    assert_eq!(sim.clients[c].closed.map(CloseReason::code), Some(1008));
}

#[test]
fn login_frames_after_login_are_violations() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "a");
    sim.raw(a, &ClientFrame::LoginAbort);
    assert_eq!(sim.clients[a].closed, Some(CloseReason::Unexpected));
}

#[test]
fn shutdown_says_goodbye() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "a");
    let now = sim.now;
    sim.hub.shutdown(now);
    sim.run();
    assert!(sim.clients[a].frames.contains(&ServerFrame::Closing));
    assert_eq!(sim.clients[a].closed, Some(CloseReason::Shutdown));
    assert_eq!(sim.clients[a].error.as_deref(), Some("the hub shut down"));
}

#[derive(Debug, Clone)]
enum Op {
    Send {
        from: usize,
        to: Option<usize>,
        text: u8,
    },
    Drop(usize),
    Rejoin(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, proptest::option::of(0..4usize), any::<u8>())
            .prop_map(|(from, to, text)| Op::Send { from, to, text }),
        1 => (0..4usize).prop_map(Op::Drop),
        1 => (0..4usize).prop_map(Op::Rejoin),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Over random sends, drops and rejoins: each delivered message reaches exactly its
    /// intended online recipients, once each, stamped with the true sender; a drop clears
    /// presence for the others.
    #[test]
    fn routing_matches_a_reference_model(ops in proptest::collection::vec(op(), 1..40)) {
        let mut sim = Sim::new(PW);
        let mut slot: Vec<usize> = (0..4u8).map(|w| sim.login(w + 1, &format!("u{w}"))).collect();
        let mut online = [true; 4];
        let mut next = 0u64;
        for op in ops {
            sim.clear();
            match op {
                Op::Send { from, to, text } => {
                    if !online[from] { continue; }
                    next += 1;
                    let target = to.map_or(Target::Everyone, |t| Target::Client(id(t as u8 + 1)));
                    send(&mut sim, slot[from], next, target, &format!("m{text}"));
                    for (who, &s) in slot.iter().enumerate() {
                        let got = messages(&sim, s);
                        let expected = online[who] && who != from
                            && to.is_none_or(|t| t == who);
                        prop_assert_eq!(got.len(), usize::from(expected), "who {} op from {}", who, from);
                        if expected {
                            prop_assert_eq!(got[0].from, id(from as u8 + 1));
                        }
                    }
                    let status = &receipts(&sim, slot[from])[0].1;
                    let want = match to {
                        Some(t) if t == from => Delivery::Rejected(RejectReason::NoSuchPeer),
                        Some(t) if !online[t] => Delivery::Stored,
                        _ => Delivery::Delivered,
                    };
                    prop_assert_eq!(status, &want);
                }
                Op::Drop(w) => {
                    if !online[w] { continue; }
                    sim.disconnect(slot[w]);
                    online[w] = false;
                    for (o, &s) in slot.iter().enumerate() {
                        if online[o] {
                            let left = sim.events(s).iter().any(|e| matches!(e, SEvent::Contact(c) if !c.online && c.id == id(w as u8 + 1)));
                            prop_assert!(left);
                        }
                    }
                }
                Op::Rejoin(w) => {
                    if online[w] { continue; }
                    slot[w] = sim.login(w as u8 + 1, &format!("u{w}"));
                    online[w] = true;
                    // Anything stored for it arrives now; nothing else.
                    prop_assert!(sim.is_online(slot[w]));
                }
            }
            sim.advance(Duration::from_millis(200)); // keep under the rate limit
        }
    }
}

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
fn a_full_hub_refuses_logins_with_a_reason() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.max_clients = 1;
    let mut sim = Sim::with_config(config, PW);
    let a = sim.login(1, "alice");
    assert!(sim.is_online(a));
    let b = sim.login(2, "bob");
    assert_eq!(sim.clients[b].closed, Some(CloseReason::HubFull));
    assert_eq!(sim.clients[b].error.as_deref(), Some("the hub is full"));
    sim.disconnect(a);
    let c = sim.login(3, "carol");
    assert!(sim.is_online(c), "a slot frees up when someone leaves");
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
/// Makes the hub know `n` members who came once and left, with ids from `first` on.
fn known_offline(sim: &mut Sim, first: u64, n: usize) {
    for i in 0..n as u64 {
        let mut who = [0u8; 32];
        who[..8].copy_from_slice(&(first + i).to_le_bytes());
        let conn = ConnId(1_000_000 + first + i);
        sim.hub
            .directory
            .login(ClientId(who), conn, Profile::with_name("x"), Timestamp(1));
        sim.hub.directory.logout(ClientId(who), conn, Timestamp(2));
    }
}

mod bans;
mod fairness;
mod keeping;
mod offers;
mod reachback;
mod remember;
mod shares;
mod storms;
mod transfers;
