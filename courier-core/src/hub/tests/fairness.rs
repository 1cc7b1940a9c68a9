//! Hardening round 2, N5: others talking fast never costs a reader its connection or its
//! own messages; a client's old mistakes are forgotten.
use super::*;

/// Three members talk to Everyone at 18 messages a second each for 20 seconds; a
/// fourth reads everything and marks it read, as `courier chat` does. It used to spend
/// its chat budget on read marks, pile up violations and be closed (4 times in 20 s,
/// losing 107 of 1 080 messages).
#[test]
fn a_reader_of_a_fast_room_is_never_closed_and_misses_nothing() {
    let mut sim = Sim::new(PW);
    let talkers: Vec<usize> = (1..=3).map(|n| sim.login(n, "talker")).collect();
    let reader = sim.login(9, "reader");
    sim.clear();
    let step = Duration::from_millis(1000 / 18);
    let mut next_id = 0u64;
    for _ in 0..(20 * 18) {
        for &t in &talkers {
            next_id += 1;
            send(&mut sim, t, next_id, Target::Everyone, "hello");
        }
        // The reader marks everything it got since the last step (its session sends
        // one mark per contact for a batch).
        let got: Vec<(ClientId, MsgId)> = messages(&sim, reader)
            .iter()
            .map(|m| (m.from, m.id))
            .collect();
        let now = sim.now;
        for (from, id) in got.iter().rev().take(3) {
            sim.clients[reader]
                .session
                .mark_read(*from, *id, now)
                .unwrap();
        }
        sim.now += step;
        let now = sim.now;
        sim.clients[reader].session.handle_timeout(now).unwrap();
        sim.advance(Duration::ZERO);
    }
    assert_eq!(sim.clients[reader].closed, None, "the reader was closed");
    assert_eq!(
        messages(&sim, reader).len(),
        20 * 18 * 3,
        "it missed nothing"
    );
    for &t in &talkers {
        let refused = receipts(&sim, t)
            .iter()
            .filter(|(_, d)| *d != Delivery::Delivered)
            .count();
        assert_eq!(refused, 0, "18 a second is within every talker's budget");
    }
}

/// Six members each send 50 lines to Everyone at once and mark every line they get as
/// read, frame by frame, as an older client did: none of their own 300 messages is
/// refused (113 were, when read marks spent the message budget).
#[test]
fn read_marks_never_spend_the_budget_for_ones_own_messages() {
    let mut sim = Sim::new(PW);
    let members: Vec<usize> = (1..=6).map(|n| sim.login(n, "member")).collect();
    sim.clear();
    for round in 0..50u64 {
        for &m in &members {
            send(&mut sim, m, round * 10 + m as u64, Target::Everyone, "line");
            // Read marks sent one by one, straight to the hub (no batching).
            let got: Vec<(ClientId, MsgId)> =
                messages(&sim, m).iter().map(|x| (x.from, x.id)).collect();
            for (from, id) in got.iter().rev().take(5) {
                sim.raw(
                    m,
                    &ClientFrame::Read {
                        from: *from,
                        id: *id,
                    },
                );
            }
        }
    }
    for &m in &members {
        let refused = receipts(&sim, m)
            .iter()
            .filter(|(_, d)| *d != Delivery::Delivered)
            .count();
        assert_eq!(refused, 0, "member {m}: own messages refused");
        assert!(sim.is_online(m));
    }
}

/// Violations are forgotten over time: a client that went over a limit now and then,
/// over minutes, is never closed for the sum; a flood still is.
#[test]
fn violations_decay_but_a_flood_is_still_closed() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let mut n = 0u64;
    // Past its burst, each message sent at the same instant is refused, a violation.
    let mut burst = |sim: &mut Sim, over: u32| {
        for _ in 0..(limits::MESSAGE_BURST + over) {
            n += 1;
            send(sim, a, n, Target::Client(id(2)), "x");
        }
    };
    // 60 violations, a two-minute pause, 60 more: 120 in all, never 100 at once.
    burst(&mut sim, 60);
    sim.advance(Duration::from_secs(120));
    burst(&mut sim, 60);
    assert_eq!(sim.clients[a].closed, None, "closed for old violations");
    sim.advance(Duration::from_secs(120));
    burst(&mut sim, limits::RATE_VIOLATIONS_BEFORE_CLOSE + 1);
    assert_eq!(sim.clients[a].closed, Some(CloseReason::RateLimited));
    assert!(sim.is_online(b));
}
