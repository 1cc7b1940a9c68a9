//! The sender held back for a place (a copy of a send to many beyond its cap), and the
//! lone sender that never is.
use super::*;
use crate::transfer::receiver::{Expected, Receiver};

const PEER: ClientId = ClientId([9; 32]);
const DEADLINE: Duration = Duration::from_secs(30);

fn one(now: Instant) -> Sender {
    Sender::new(PEER, vec![Outgoing { index: 0, size: 8 }], DEADLINE, now)
}

fn transmits(s: &mut Sender) -> Vec<Control> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

/// Held: no file after the `Hello`, a `Wait` at once and then every few seconds (within
/// the receiver's stall deadline), no stall however long the receiver is silent; the
/// file goes once the place is given, and the stall clock starts from there.
#[test]
fn a_held_sender_waits_and_keeps_the_link_alive() {
    let t0 = Instant::now();
    let mut s = one(t0);
    s.hold();
    s.handle_control(Control::Hello { offsets: vec![0] }, t0);
    assert!(s.is_held());
    assert!(transmits(&mut s).is_empty(), "no file yet");
    let mut at = t0;
    let mut waits = 0;
    while at < t0 + Duration::from_secs(120) {
        let due = s.poll_timeout().expect("a timer while held");
        assert!(
            due - at <= WAIT_EVERY,
            "a Wait at least every {WAIT_EVERY:?}"
        );
        at = due;
        s.handle_timeout(at);
        assert_eq!(transmits(&mut s), [Control::Wait]);
        waits += 1;
    }
    assert!(waits > 120 / 5 && !s.is_over(), "{waits} waits, no stall");
    s.handle_place(at);
    assert!(!s.is_held());
    assert_eq!(
        transmits(&mut s),
        [Control::File {
            index: 0,
            offset: 0
        }]
    );
    assert_eq!(s.poll_timeout(), Some(at + DEADLINE));
    s.handle_timeout(at + DEADLINE);
    assert!(matches!(s.poll_outcome(), Some(Err(Error::Stalled))));
}

/// A lone transfer (never held) never sends `Wait`, and its receiver never shows
/// "waiting": the two machines end to end, with time passing at every step.
#[test]
fn a_lone_transfer_never_sends_wait() {
    let t0 = Instant::now();
    let mut s = one(t0);
    let expected = Expected {
        index: 0,
        size: 8,
        offset: 0,
    };
    let mut r = Receiver::new(PEER, vec![expected], DEADLINE, t0);
    let mut at = t0;
    let mut sent = Vec::new();
    for step in 0..40 {
        at += Duration::from_secs(1);
        while let Some(c) = r.poll_transmit() {
            s.handle_control(c, at);
        }
        let out = transmits(&mut s);
        for c in out {
            sent.push(c.clone());
            r.handle_control(c, at);
        }
        if step == 3 {
            assert!(r.handle_data(8, at));
            s.handle_sent(8, at);
            s.handle_streamed(0, 8, [0; 32], at);
        }
        while let Some(job) = r.poll_job() {
            match job {
                crate::transfer::receiver::Job::Verify { index, .. } => {
                    r.handle_checked(index, Ok(crate::transfer::receiver::Verdict::Intact), at);
                }
                crate::transfer::receiver::Job::Name(files) => {
                    let named = files
                        .into_iter()
                        .map(|index| crate::transfer::receiver::Named {
                            index,
                            path: Some(std::path::PathBuf::from("f")),
                        })
                        .collect();
                    r.handle_named(named, at);
                }
                crate::transfer::receiver::Job::Folders => r.handle_folders(Ok(()), at),
                _ => {}
            }
        }
        s.handle_timeout(at);
        r.handle_timeout(at);
    }
    assert!(sent.contains(&Control::Done), "the file went: {sent:?}");
    assert!(!sent.contains(&Control::Wait), "{sent:?}");
    assert!(std::iter::from_fn(|| r.poll_update()).all(|u| !matches!(u, Update::Waiting)));
    assert!(matches!(s.poll_outcome(), Some(Ok(_))));
}
