//! A hostile receiver on a peer connection: arbitrary messages (raw bytes through the link
//! decoder, or well-formed link messages), interleaved with our own progress, into the
//! [`Sender`] machine. Never a panic; the machine never announces a file other than the
//! next of its plan, nor from an offset past its size; after the outcome it says nothing
//! but its goodbye; `Wait` comes only from a held sender (a copy of a send to many),
//! before its first file.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use courier_core::proto::ClientId;
use courier_core::transfer::wire::{self, Control, Incoming};
use courier_core::transfer::{Outgoing, Sender};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Raw(Vec<u8>),
    Control(Control),
    Sent(u16),
    Streamed(u16),
    Wait(u16),
    LinkLost,
    /// A held sender gets its place.
    Place,
}

#[derive(Arbitrary, Debug)]
struct Case {
    /// A copy of a send to many that waits for a place.
    hold: bool,
    files: Vec<(u32, u16)>,
    ops: Vec<Op>,
}

fuzz_target!(|case: Case| {
    let files: Vec<Outgoing> = case
        .files
        .iter()
        .take(8)
        .map(|&(index, size)| Outgoing {
            index,
            size: u64::from(size),
        })
        .collect();
    let mut now = Instant::now();
    let mut s = Sender::new(ClientId([1; 32]), files.clone(), Duration::from_secs(30), now);
    if case.hold {
        s.hold();
    }
    let mut next = 0usize;
    let mut over = false;
    for op in case.ops.iter().take(256) {
        match op {
            // The next frame the link reads off the stream (header, then payload).
            Op::Raw(bytes) => match wire::split(bytes) {
                Ok(Some((Incoming::Control(msg), _))) => s.handle_control(msg, now),
                Ok(Some((Incoming::Data(_), _)) | None) | Err(_) => continue,
            },
            Op::Control(msg) => s.handle_control(msg.clone(), now),
            Op::Sent(n) => s.handle_sent(u64::from(*n), now),
            Op::Streamed(n) => {
                let index = files.get(next.saturating_sub(1)).map_or(0, |f| f.index);
                s.handle_streamed(index, u64::from(*n), [0; 32], now);
            }
            Op::Wait(ms) => {
                now += Duration::from_millis(u64::from(*ms) * 100);
                s.handle_timeout(now);
            }
            Op::LinkLost => s.handle_link_lost(),
            Op::Place => s.handle_place(now),
        }
        while let Some(msg) = s.poll_transmit() {
            match msg {
                Control::File { index, offset } => {
                    assert!(!over, "a file after the outcome");
                    let f = files.get(next).expect("only files of the plan");
                    assert_eq!(f.index, index, "files go in plan order");
                    assert!(offset <= f.size);
                    next += 1;
                }
                Control::Abort { .. } => {}
                Control::Wait => {
                    assert!(case.hold, "a lone sender never says Wait");
                    assert!(next == 0 && !over, "Wait only before the first file");
                }
                other => assert!(!over, "{other:?} after the outcome"),
            }
        }
        while s.poll_update().is_some() {}
        if s.poll_outcome().is_some() {
            over = true;
        }
    }
});
