//! The receiver machine against hostile senders, a busy disk and a lost link.
use super::*;
use crate::transfer::wire::AbortReason;
use proptest::prelude::*;

const PEER: ClientId = ClientId([9; 32]);
const DEADLINE: Duration = Duration::from_secs(30);

fn two(now: Instant) -> Receiver {
    let files = vec![
        Expected {
            index: 0,
            size: 10,
            offset: 4,
        },
        Expected {
            index: 2,
            size: 0,
            offset: 0,
        },
    ];
    Receiver::new(PEER, files, DEADLINE, now)
}

/// Two files expected; the first (6 bytes, from offset 4) has all arrived, unchecked.
fn first_file_whole(t0: Instant) -> Receiver {
    let mut r = two(t0);
    drain(|| r.poll_transmit());
    r.handle_control(file(0, 4), t0);
    r.handle_data(6, t0);
    r.handle_control(end(0), t0);
    r
}

fn drain<T>(mut f: impl FnMut() -> Option<T>) -> Vec<T> {
    std::iter::from_fn(&mut f).collect()
}

fn err(r: &mut Receiver) -> String {
    match r.poll_outcome() {
        Some(Err(e)) => e.to_string(),
        other => unreachable!("expected an error, got {other:?}"),
    }
}

fn file(index: u32, offset: u64) -> Control {
    Control::File { index, offset }
}

fn end(index: u32) -> Control {
    Control::End {
        index,
        hash: [0; 32],
    }
}

#[test]
fn happy_path_with_resume_and_empty_file() {
    let t0 = Instant::now();
    let mut r = two(t0);
    assert_eq!(
        drain(|| r.poll_transmit()),
        [Control::Hello {
            offsets: vec![4, 0]
        }]
    );
    r.handle_control(file(0, 4), t0);
    assert!(r.handle_data(3, t0));
    assert!(r.handle_data(3, t0));
    assert_eq!(r.position(), Some((0, 10)));
    r.handle_control(end(0), t0);
    r.handle_control(file(2, 0), t0);
    r.handle_control(end(2), t0);
    r.handle_control(Control::Done, t0);
    assert_eq!(
        drain(|| r.poll_job()),
        [
            Job::Open(r.files()[0]),
            Job::Verify {
                index: 0,
                hash: [0; 32]
            },
            Job::Open(r.files()[1]),
            Job::Verify {
                index: 2,
                hash: [0; 32]
            },
        ]
    );
    r.handle_checked(0, Ok(Verdict::Intact), t0);
    assert!(
        drain(|| r.poll_job()).is_empty(),
        "2 is still being checked"
    );
    r.handle_checked(2, Ok(Verdict::Intact), t0);
    assert_eq!(drain(|| r.poll_job()), [Job::Name(vec![0, 2])]);
    let named = [0, 2].map(|index| Named {
        index,
        path: Some(PathBuf::from(format!("/dl/{index}"))),
    });
    r.handle_named(named.to_vec(), t0);
    assert_eq!(drain(|| r.poll_job()), [Job::Folders]);
    assert!(r.poll_outcome().is_none());
    r.handle_folders(Ok(()), t0);
    assert_eq!(
        drain(|| r.poll_transmit()),
        [
            Control::Verified { index: 0 },
            Control::Verified { index: 2 },
            Control::Finished
        ]
    );
    let tally = r.poll_outcome().unwrap().unwrap();
    assert_eq!(
        (tally.files, tally.bytes, tally.moved, tally.resumed),
        (2, 10, 6, 4)
    );
    assert_eq!(
        tally.saved,
        [PathBuf::from("/dl/0"), PathBuf::from("/dl/2")]
    );
    assert!(r.is_over() && r.poll_timeout().is_none());
}

#[test]
fn violations_stop_before_any_write() {
    let t0 = Instant::now();
    type Case = (Vec<Control>, usize, &'static str);
    let cases: Vec<Case> = vec![
        (vec![], 1, "data outside a file"),
        (vec![file(0, 0)], 0, "unexpected file"),
        (vec![file(2, 0)], 0, "unexpected file"),
        (vec![Control::Done], 0, "files are missing"),
        (vec![file(0, 4)], 7, "more bytes than it declared"),
        (vec![file(0, 4), end(0)], 0, "ended early"),
        (vec![file(0, 4), Control::Done], 0, "ended early"),
        (vec![file(0, 4), file(0, 4)], 0, "unexpected file"),
        (vec![end(0)], 0, "unexpected message"),
        (
            vec![Control::Knock {
                ticket: crate::proto::Ticket([0; 32]),
                digest: [0; 32],
            }],
            0,
            "unexpected",
        ),
        (
            vec![Control::Hello { offsets: vec![] }],
            0,
            "unexpected message",
        ),
    ];
    for (msgs, data, want) in cases {
        let mut r = two(t0);
        drain(|| r.poll_transmit());
        for m in msgs {
            r.handle_control(m, t0);
        }
        if data > 0 {
            assert!(!r.handle_data(data, t0), "{want}: refused before writing");
        }
        assert!(!r.wants_data());
        let jobs = drain(|| r.poll_job());
        assert_eq!(jobs.last(), Some(&Job::Stop { keep: false }), "{want}");
        assert_eq!(
            drain(|| r.poll_transmit()),
            [Control::Abort {
                reason: AbortReason::Protocol
            }],
            "{want}: the sender is told"
        );
        assert!(r.poll_outcome().is_none(), "waits for the writer to stop");
        r.handle_stopped(t0);
        let e = err(&mut r);
        assert!(e.contains(want), "{e} should say {want}");
    }
}

#[test]
fn data_after_done_is_a_violation() {
    let t0 = Instant::now();
    let mut r = Receiver::new(PEER, Vec::new(), DEADLINE, t0);
    r.handle_control(Control::Done, t0);
    assert!(!r.handle_data(1, t0));
    r.handle_stopped(t0);
    assert!(err(&mut r).contains("data outside a file"));
}

#[test]
fn names_go_in_groups_and_reading_waits_for_the_disk() {
    let t0 = Instant::now();
    let n = NAME_GROUP_FILES as u32 * 2 + 3;
    let files = (0..n)
        .map(|index| Expected {
            index,
            size: 1,
            offset: 0,
        })
        .collect();
    let mut r = Receiver::new(PEER, files, DEADLINE, t0);
    let mut checking = Vec::new();
    let mut groups = Vec::new();
    for index in 0..n {
        assert!(r.wants_data(), "file {index}");
        r.handle_control(file(index, 0), t0);
        assert!(r.handle_data(1, t0));
        r.handle_control(end(index), t0);
        checking.push(index);
        if checking.len() == MAX_CHECKING {
            assert!(!r.wants_data(), "too many verifications under way");
            for i in checking.drain(..) {
                r.handle_checked(i, Ok(Verdict::Intact), t0);
            }
        }
        for job in drain(|| r.poll_job()) {
            if let Job::Name(g) = job {
                groups.push(g);
            }
        }
        if groups.len() == 1 && index == NAME_GROUP_FILES as u32 * 2 - 1 {
            assert!(!r.wants_data(), "a full group waits for the one before");
            let g = groups.remove(0);
            let named = g.iter().map(|&index| Named {
                index,
                path: Some(PathBuf::from("x")),
            });
            r.handle_named(named.collect(), t0);
            groups = drain(|| r.poll_job())
                .into_iter()
                .filter_map(|j| match j {
                    Job::Name(g) => Some(g),
                    _ => None,
                })
                .collect();
            assert_eq!(groups.len(), 1, "the waiting group starts");
            assert!(r.wants_data());
        }
    }
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].len(), NAME_GROUP_FILES);
}

#[test]
fn a_mismatch_is_reported_and_the_others_are_kept() {
    let t0 = Instant::now();
    let mut r = first_file_whole(t0);
    r.handle_control(file(2, 0), t0);
    r.handle_control(end(2), t0);
    r.handle_control(Control::Done, t0);
    r.handle_checked(0, Ok(Verdict::Mismatch), t0);
    r.handle_checked(2, Ok(Verdict::Intact), t0);
    r.handle_named(
        vec![Named {
            index: 2,
            path: Some(PathBuf::from("b")),
        }],
        t0,
    );
    r.handle_folders(Ok(()), t0);
    let sent = drain(|| r.poll_transmit());
    assert!(sent.contains(&Control::Failed {
        index: 0,
        reason: FileFailure::Integrity
    }));
    assert_eq!(sent.last(), Some(&Control::Finished));
    assert_eq!(err(&mut r), "1 of 2 files failed: integrity check failed");
}

#[test]
fn a_silent_sender_stalls_and_the_part_is_kept() {
    let t0 = Instant::now();
    let mut r = two(t0);
    r.handle_control(file(0, 4), t0);
    r.handle_data(2, t0 + Duration::from_secs(1));
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(31)));
    r.handle_timeout(t0 + Duration::from_secs(30));
    assert!(!r.is_over());
    r.handle_timeout(t0 + Duration::from_secs(31));
    let jobs = drain(|| r.poll_job());
    assert_eq!(jobs.last(), Some(&Job::Stop { keep: true }));
    assert!(
        drain(|| r.poll_transmit())
            .iter()
            .all(|c| !matches!(c, Control::Abort { .. })),
        "nobody to tell"
    );
    r.handle_stopped(t0);
    assert_eq!(err(&mut r), "the transfer stalled");
}

#[test]
fn a_busy_disk_sends_keepalives_and_does_not_stall() {
    let t0 = Instant::now();
    let files = (0..MAX_CHECKING as u32)
        .map(|index| Expected {
            index,
            size: 0,
            offset: 0,
        })
        .collect();
    let mut r = Receiver::new(PEER, files, DEADLINE, t0);
    drain(|| r.poll_transmit());
    for index in 0..MAX_CHECKING as u32 {
        r.handle_control(file(index, 0), t0);
        r.handle_control(end(index), t0);
    }
    assert!(!r.wants_data());
    let mut t = t0;
    for _ in 0..20 {
        t += KEEPALIVE;
        assert_eq!(r.poll_timeout(), Some(t));
        r.handle_timeout(t);
        assert_eq!(drain(|| r.poll_transmit()), [Control::Got { bytes: 0 }]);
    }
    assert!(!r.is_over(), "our own disk is not the sender's stall");
    r.handle_checked(0, Ok(Verdict::Intact), t);
    assert!(r.wants_data());
    assert_eq!(r.poll_timeout(), Some(t + KEEPALIVE), "still busy");
    r.handle_timeout(t + DEADLINE - Duration::from_secs(1));
    assert!(!r.is_over(), "the clock restarted when reading resumed");
}

#[test]
fn verified_files_keep_their_names_after_a_stop() {
    let t0 = Instant::now();
    let mut r = two(t0);
    r.handle_control(file(0, 4), t0);
    r.handle_data(6, t0);
    r.handle_control(end(0), t0);
    r.handle_control(file(2, 0), t0);
    r.handle_link_lost();
    drain(|| r.poll_transmit());
    r.handle_checked(0, Ok(Verdict::Intact), t0);
    let jobs = drain(|| r.poll_job());
    assert!(jobs.contains(&Job::Stop { keep: true }));
    assert_eq!(jobs.last(), Some(&Job::Name(vec![0])));
    r.handle_stopped(t0);
    assert!(r.poll_outcome().is_none(), "naming still under way");
    r.handle_named(
        vec![Named {
            index: 0,
            path: Some(PathBuf::from("a")),
        }],
        t0,
    );
    assert!(drain(|| r.poll_transmit()).is_empty(), "the link is gone");
    assert!(
        drain(|| r.poll_update())
            .iter()
            .any(|u| matches!(u, Update::FileDone { index: 0, .. }))
    );
    assert_eq!(err(&mut r), "connection lost");
}

#[test]
fn cancel_deletes_the_part_and_tells_the_sender_but_an_abort_is_not_echoed() {
    let t0 = Instant::now();
    let mut r = two(t0);
    drain(|| r.poll_transmit());
    r.fail(Error::Cancelled {
        by: ClientId([1; 32]),
    });
    assert_eq!(drain(|| r.poll_job()), [Job::Stop { keep: false }]);
    assert_eq!(
        drain(|| r.poll_transmit()),
        [Control::Abort {
            reason: AbortReason::Cancelled
        }]
    );
    let mut r = two(t0);
    drain(|| r.poll_transmit());
    r.handle_control(
        Control::Abort {
            reason: AbortReason::Cancelled,
        },
        t0,
    );
    assert!(drain(|| r.poll_transmit()).is_empty());
    r.handle_stopped(t0);
    assert_eq!(err(&mut r), format!("cancelled by {}", PEER.short()));
}

#[test]
fn a_disk_error_while_checking_stops_with_it() {
    let t0 = Instant::now();
    let mut r = first_file_whole(t0);
    r.handle_checked(0, Err(Error::DiskFull), t0);
    assert_eq!(
        drain(|| r.poll_transmit()),
        [Control::Abort {
            reason: AbortReason::DiskFull
        }]
    );
    r.handle_stopped(t0);
    assert_eq!(err(&mut r), "receiver disk full");
}

proptest! {
    /// Whatever the sender does, no file ever takes more than its declared size, and
    /// nothing is written once the transfer stops.
    #[test]
    fn never_more_than_declared(ops in proptest::collection::vec((0u8..5, 0u32..3, 0u64..20), 0..64)) {
        let t0 = Instant::now();
        let mut r = two(t0);
        let mut written = std::collections::HashMap::<u32, u64>::new();
        let mut open = None;
        for (op, index, n) in ops {
            let ok = match op {
                0 => { r.handle_control(file(index, n), t0); true }
                1 => r.handle_data(n as usize, t0),
                2 => { r.handle_control(end(index), t0); true }
                3 => { r.handle_control(Control::Done, t0); true }
                _ => { r.handle_checked(index, Ok(Verdict::Intact), t0); true }
            };
            for job in drain(|| r.poll_job()) {
                if let Job::Open(e) = job {
                    open = Some(e);
                    written.insert(e.index, e.offset);
                }
            }
            if op == 1 && ok {
                let e = open.expect("data is written only into an open file");
                let w = written.entry(e.index).or_default();
                *w += n;
                prop_assert!(*w <= e.size);
            }
        }
    }
}

/// A sender that says `Wait` (held behind its other copies) keeps the link alive past the
/// stall deadline, shown once as "waiting"; but not past [`WAIT_LIMIT`] from the start,
/// whatever it says: then the transfer has stalled and the part is kept.
#[test]
fn wait_keeps_the_link_alive_but_only_up_to_the_bound() {
    let t0 = Instant::now();
    let mut r = two(t0);
    drain(|| r.poll_transmit());
    let mut at = t0;
    while at + Duration::from_secs(20) < t0 + WAIT_LIMIT {
        at += Duration::from_secs(20);
        r.handle_control(Control::Wait, at);
        r.handle_timeout(at + Duration::from_secs(19));
        assert!(!r.is_over(), "alive at {:?}", at - t0);
    }
    assert!(at - t0 > DEADLINE * 10, "well past the stall deadline");
    let updates = drain(|| r.poll_update());
    assert_eq!(
        updates
            .iter()
            .filter(|u| matches!(u, Update::Waiting))
            .count(),
        1
    );
    assert_eq!(r.poll_timeout(), Some(t0 + WAIT_LIMIT));
    r.handle_timeout(t0 + WAIT_LIMIT);
    assert_eq!(drain(|| r.poll_job()), [Job::Stop { keep: true }]);
    r.handle_stopped(t0 + WAIT_LIMIT);
    assert_eq!(err(&mut r), "the transfer stalled");

    // A Wait that comes after the bound stops it at once too.
    let mut r = two(t0);
    r.handle_control(Control::Wait, t0 + WAIT_LIMIT);
    assert_eq!(drain(|| r.poll_job()), [Job::Stop { keep: true }]);
}

/// `Wait` is for before the first file only: once bytes flow it is a protocol violation
/// (a sender cannot pause a transfer midway with it).
#[test]
fn wait_after_the_first_file_is_a_violation() {
    let t0 = Instant::now();
    let mut r = two(t0);
    r.handle_control(Control::Wait, t0);
    r.handle_control(file(0, 4), t0);
    r.handle_control(Control::Wait, t0);
    assert!(
        drain(|| r.poll_transmit()).contains(&Control::Abort {
            reason: AbortReason::Protocol
        }),
        "the sender is told"
    );
}

/// A sender that keeps sending empty data frames moves no byte: they do not reset the
/// stall clock, so the transfer stalls at the deadline after the last real byte.
#[test]
fn empty_data_frames_do_not_keep_a_stalled_transfer_alive() {
    let t0 = Instant::now();
    let mut r = two(t0);
    drain(|| r.poll_transmit());
    r.handle_control(file(0, 4), t0);
    assert!(r.handle_data(2, t0));
    let mut t = t0;
    while t < t0 + DEADLINE - Duration::from_secs(1) {
        t += Duration::from_secs(1);
        r.handle_data(0, t);
        r.handle_timeout(t);
    }
    assert!(!r.is_over(), "not yet at the deadline");
    assert_eq!(r.poll_timeout(), Some(t0 + DEADLINE));
    r.handle_data(0, t0 + DEADLINE);
    r.handle_timeout(t0 + DEADLINE);
    assert_eq!(
        drain(|| r.poll_job()).last(),
        Some(&Job::Stop { keep: true })
    );
    r.handle_stopped(t0 + DEADLINE);
    assert_eq!(err(&mut r), "the transfer stalled");
}
