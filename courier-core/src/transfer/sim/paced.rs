//! Issue 25: what a front end is asked to draw. Both machines, driven over simulated
//! seconds with a progress question at every step, give at most 10 `Progress` updates in
//! any second, and their last one says 100%, before their outcome.

use std::time::{Duration, Instant};

use super::{Pair, Update, data, outcome};

/// The `Progress` updates of one side: when, and how many bytes of how many.
fn progress(updates: &[(Instant, Update)]) -> Vec<(Instant, u64, u64)> {
    updates
        .iter()
        .filter_map(|(t, u)| match u {
            Update::Progress(p) => Some((*t, p.bytes, p.total)),
            _ => None,
        })
        .collect()
}

/// No second (a window starting at any update) holds more than 10 of `at`.
fn at_most_ten_a_second(side: &str, at: &[(Instant, u64, u64)]) {
    for (i, &(start, ..)) in at.iter().enumerate() {
        let within = at[i..]
            .iter()
            .take_while(|(t, ..)| *t < start + Duration::from_secs(1))
            .count();
        assert!(within <= 10, "{side}: {within} updates in one second");
    }
}

/// Checks one side: paced, the last one complete, and it ran for seconds.
fn paced(side: &str, updates: &[(Instant, Update)], total: u64) {
    let at = progress(updates);
    at_most_ten_a_second(side, &at);
    let &(first, ..) = at.first().unwrap();
    let &(last, bytes, of) = at.last().unwrap();
    assert_eq!(
        (bytes, of),
        (total, total),
        "{side}: the last update is 100%"
    );
    let secs = last.duration_since(first).as_secs_f64();
    assert!(secs > 3.0, "{side}: {secs} s is too short to show the pace");
    assert!(
        at.len() as f64 >= secs * 6.0,
        "{side}: {} updates in {secs} s: paced, not starved",
        at.len()
    );
}

#[test]
fn a_large_file_is_reported_at_most_ten_times_a_second_and_ends_at_100_percent() {
    let files = vec![data(64 << 20, 5)];
    let mut pair = Pair::new(files, Vec::new());
    // A question at every chunk, 50 of them a second.
    pair.step = Duration::from_millis(20);
    pair.run();
    outcome(&pair.sender_outcome).unwrap();
    outcome(&pair.receiver_outcome).unwrap();
    paced("sender", &pair.sender_updates, 64 << 20);
    paced("receiver", &pair.receiver_updates, 64 << 20);
}

#[test]
fn a_thousand_small_files_are_reported_at_most_ten_times_a_second() {
    let files: Vec<Vec<u8>> = (0..1000).map(|i| data(10_000, i as u8)).collect();
    let mut pair = Pair::new(files, Vec::new());
    pair.step = Duration::from_millis(5);
    pair.run();
    outcome(&pair.sender_outcome).unwrap();
    outcome(&pair.receiver_outcome).unwrap();
    paced("sender", &pair.sender_updates, 10_000_000);
    paced("receiver", &pair.receiver_updates, 10_000_000);
}
