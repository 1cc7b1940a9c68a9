//! A hostile sender on a peer connection: arbitrary messages (raw bytes through the link
//! decoder, or well-formed link messages) and disk answers, in any order, into the
//! [`Receiver`] machine. Never a panic, no file is written past its declared size, data is
//! written only into the file the machine opened, and once stopped nothing more is written.
#![no_main]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use courier_core::proto::ClientId;
use courier_core::transfer::wire::{self, Control, Incoming};
use courier_core::transfer::{Expected, Job, Named, Receiver, Verdict};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Raw(Vec<u8>),
    Control(Control),
    Data(u32),
    Checked(u32, bool),
    Named(Vec<(u32, bool)>),
    Folders,
    Stopped,
    Wait(u16),
    LinkLost,
}

#[derive(Arbitrary, Debug)]
struct Case {
    files: Vec<(u32, u16, u16)>,
    ops: Vec<Op>,
}

fuzz_target!(|case: Case| {
    let files: Vec<Expected> = case
        .files
        .iter()
        .take(8)
        .map(|&(index, size, offset)| Expected {
            index,
            size: u64::from(size),
            offset: u64::from(offset.min(size)),
        })
        .collect();
    let mut now = Instant::now();
    let mut r = Receiver::new(ClientId([1; 32]), files.clone(), Duration::from_secs(30), now);
    let mut open: Option<Expected> = None;
    let mut written: HashMap<u32, u64> = HashMap::new();
    let mut stopped = false;
    for op in case.ops.iter().take(256) {
        let mut data = None;
        match op {
            // The next frame the link reads off the stream (header, then payload).
            Op::Raw(bytes) => match wire::split(bytes) {
                Ok(Some((Incoming::Control(msg), used))) => {
                    let alone = wire::decode(bytes.get(..used).unwrap_or_default()).ok();
                    assert_eq!(alone, Some(Incoming::Control(msg.clone())));
                    let encoded = wire::encode(&msg);
                    let again = wire::decode(&encoded).ok();
                    assert_eq!(again, Some(Incoming::Control(msg.clone())));
                    r.handle_control(msg, now);
                }
                Ok(Some((Incoming::Data(d), _))) => data = Some(d.len() as u64),
                Ok(None) | Err(_) => continue,
            },
            Op::Control(msg) => r.handle_control(msg.clone(), now),
            Op::Data(n) => data = Some(u64::from(*n)),
            Op::Checked(i, ok) => {
                let verdict = if *ok { Verdict::Intact } else { Verdict::Mismatch };
                r.handle_checked(*i, Ok(verdict), now);
            }
            Op::Named(group) => {
                let group = group
                    .iter()
                    .map(|&(index, ok)| Named {
                        index,
                        path: ok.then(|| PathBuf::from("x")),
                    })
                    .collect();
                r.handle_named(group, now);
            }
            Op::Folders => r.handle_folders(Ok(()), now),
            Op::Stopped => r.handle_stopped(now),
            Op::Wait(ms) => {
                now += Duration::from_millis(u64::from(*ms) * 100);
                r.handle_timeout(now);
            }
            Op::LinkLost => r.handle_link_lost(),
        }
        if let Some(n) = data
            && r.handle_data(n as usize, now)
        {
            assert!(!stopped, "written after the transfer stopped");
            let file = open.expect("data is written only into an open file");
            let w = written.entry(file.index).or_insert(file.offset);
            *w += n;
            assert!(*w <= file.size, "a file took more than its size");
        }
        while let Some(job) = r.poll_job() {
            match job {
                Job::Open(e) => {
                    assert!(files.contains(&e), "opened a file that was not accepted");
                    open = Some(e);
                }
                Job::Verify { index, .. } => {
                    let file = open.take().expect("verify follows open");
                    assert_eq!(file.index, index);
                    let w = written.get(&index).copied().unwrap_or(file.offset);
                    assert_eq!(w, file.size, "verified before every byte arrived");
                }
                Job::Stop { .. } => stopped = true,
                Job::Name(_) | Job::Folders => {}
            }
        }
        while r.poll_transmit().is_some() {}
        while r.poll_update().is_some() {}
        if r.poll_outcome().is_some() {
            assert!(r.is_over());
        }
    }
});
