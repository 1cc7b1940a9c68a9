//! The two transfer machines wired together in memory, with synthetic time: every link
//! message goes through the real wire codec, the sender's files and the receiver's disk
//! are byte vectors, and knobs cut the link, corrupt a byte or stop a side from reading.
//! It shows that [`Sender`] and [`Receiver`] agree with each other, not only with their
//! own unit tests.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::receiver::{Expected, Job, Named, Receiver, Verdict};
use super::sender::{Outgoing, Sender};
use super::wire::{self, Control, Incoming};
use super::{Error, Tally, Update};
use crate::limits;
use crate::proto::ClientId;

mod paced;

const DEADLINE: Duration = Duration::from_secs(30);
/// Synthetic time per step.
const STEP: Duration = Duration::from_millis(10);

/// A sender and a receiver on one simulated link.
struct Pair {
    now: Instant,
    sender: Sender,
    receiver: Receiver,
    /// The sender's files, in plan order.
    files: Vec<Vec<u8>>,
    /// What the receiver has on disk before the transfer (resume), by plan position.
    parts: Vec<Vec<u8>>,
    to_receiver: VecDeque<Vec<u8>>,
    to_sender: VecDeque<Vec<u8>>,
    /// The file the sender is streaming (plan position) and how far it got.
    reading: Option<(usize, u64)>,
    /// The receiver's open file (plan position).
    open: Option<usize>,
    saved: HashMap<u32, Vec<u8>>,
    /// Knobs: the link goes dead after this many file bytes reach the receiver.
    cut_after: Option<u64>,
    /// Knobs: flip this byte (plan position, offset) on the way.
    corrupt: Option<(usize, u64)>,
    /// Knobs: the receiver stops reading after this many file bytes.
    receiver_stops_after: Option<u64>,
    delivered: u64,
    cut: bool,
    sender_outcome: Option<Result<Tally, Error>>,
    receiver_outcome: Option<Result<Tally, Error>>,
    /// Synthetic time per step (one chunk of the file per step).
    step: Duration,
    /// Every update each side gave, with its time.
    sender_updates: Vec<(Instant, Update)>,
    receiver_updates: Vec<(Instant, Update)>,
}

impl Pair {
    /// `files` go from a sender to a receiver that already holds `parts` (prefixes).
    fn new(files: Vec<Vec<u8>>, parts: Vec<Vec<u8>>) -> Self {
        let now = Instant::now();
        let outgoing = files
            .iter()
            .enumerate()
            .map(|(i, f)| Outgoing {
                index: i as u32 * 2,
                size: f.len() as u64,
            })
            .collect();
        let expected = files
            .iter()
            .enumerate()
            .map(|(i, f)| Expected {
                index: i as u32 * 2,
                size: f.len() as u64,
                offset: parts.get(i).map_or(0, |p| p.len() as u64),
            })
            .collect();
        Self {
            now,
            sender: Sender::new(ClientId([1; 32]), outgoing, DEADLINE, now),
            receiver: Receiver::new(ClientId([2; 32]), expected, DEADLINE, now),
            parts: (0..files.len())
                .map(|i| parts.get(i).cloned().unwrap_or_default())
                .collect(),
            files,
            to_receiver: VecDeque::new(),
            to_sender: VecDeque::new(),
            reading: None,
            open: None,
            saved: HashMap::new(),
            cut_after: None,
            corrupt: None,
            receiver_stops_after: None,
            delivered: 0,
            cut: false,
            sender_outcome: None,
            receiver_outcome: None,
            step: STEP,
            sender_updates: Vec::new(),
            receiver_updates: Vec::new(),
        }
    }

    fn index(k: usize) -> u32 {
        k as u32 * 2
    }

    /// Runs until both sides know their outcome (or a step limit: a hang is a failure).
    fn run(&mut self) {
        for _ in 0..200_000 {
            self.step();
            if self.sender_outcome.is_some() && self.receiver_outcome.is_some() {
                return;
            }
        }
        unreachable!("the transfer never ended");
    }

    fn step(&mut self) {
        let now = self.now;
        // The sender: its messages, then one chunk of the file it streams.
        while let Some(msg) = self.sender.poll_transmit() {
            if let Control::File { index, offset } = msg {
                self.reading = Some(((index / 2) as usize, offset));
            }
            self.to_receiver.push_back(wire::encode(&msg));
        }
        if let Some((k, at)) = self.reading {
            let file = &self.files[k];
            let n = (file.len() as u64 - at).min(limits::CHUNK as u64);
            let mut msg = wire::data(&file[at as usize..(at + n) as usize]);
            if let Some((ck, cb)) = self.corrupt
                && ck == k
                && (at..at + n).contains(&cb)
            {
                msg[(cb - at) as usize + wire::HEADER] ^= 0xff;
            }
            if n > 0 {
                self.to_receiver.push_back(msg);
                self.sender.handle_sent(n, now);
            }
            if at + n == file.len() as u64 {
                self.reading = None;
                let hash = *blake3::hash(file).as_bytes();
                let read = file.len() as u64 - self.sender.offsets().map_or(0, |o| o[k]);
                self.sender.handle_streamed(Self::index(k), read, hash, now);
            } else {
                self.reading = Some((k, at + n));
            }
        }
        // The link: a cut drops everything from here on, and both sides notice.
        if self.cut {
            self.to_receiver.clear();
            self.to_sender.clear();
        }
        // The receiver reads one message when it wants to.
        let stopped = self
            .receiver_stops_after
            .is_some_and(|limit| self.delivered >= limit);
        if !self.cut
            && !stopped
            && self.receiver.wants_input()
            && let Some(bytes) = self.to_receiver.pop_front()
        {
            match wire::decode(&bytes) {
                Ok(Incoming::Data(d)) => {
                    self.delivered += d.len() as u64;
                    if self.receiver.handle_data(d.len(), now) {
                        let k = self.open.unwrap_or(usize::MAX);
                        self.parts[k].extend_from_slice(d);
                    }
                    if self.cut_after.is_some_and(|c| self.delivered >= c) {
                        self.cut = true;
                        self.receiver.handle_link_lost();
                        self.sender.handle_link_lost();
                    }
                }
                Ok(Incoming::Control(c)) => self.receiver.handle_control(c, now),
                Err(e) => unreachable!("the codec broke: {e}"),
            }
        }
        self.disk(now);
        while let Some(msg) = self.receiver.poll_transmit() {
            if !self.cut {
                self.to_sender.push_back(wire::encode(&msg));
            }
        }
        while let Some(bytes) = self.to_sender.pop_front() {
            match wire::decode(&bytes) {
                Ok(Incoming::Control(c)) => self.sender.handle_control(c, now),
                other => unreachable!("the receiver sent {other:?}"),
            }
        }
        self.now += self.step;
        self.sender.handle_timeout(self.now);
        self.receiver.handle_timeout(self.now);
        self.disk(self.now);
        while let Some(u) = self.sender.poll_update() {
            self.sender_updates.push((self.now, u));
        }
        while let Some(u) = self.receiver.poll_update() {
            self.receiver_updates.push((self.now, u));
        }
        if let Some(o) = self.sender.poll_outcome() {
            self.sender_outcome = Some(o);
        }
        if let Some(o) = self.receiver.poll_outcome() {
            self.receiver_outcome = Some(o);
        }
    }

    /// Carries out the receiver's jobs at once.
    fn disk(&mut self, now: Instant) {
        while let Some(job) = self.receiver.poll_job() {
            match job {
                Job::Open(e) => {
                    let k = (e.index / 2) as usize;
                    self.parts[k].truncate(e.offset as usize);
                    self.open = Some(k);
                }
                Job::Verify { index, hash } => {
                    let k = (index / 2) as usize;
                    let verdict = if *blake3::hash(&self.parts[k]).as_bytes() == hash {
                        Verdict::Intact
                    } else {
                        self.parts[k].clear();
                        Verdict::Mismatch
                    };
                    self.open = None;
                    self.receiver.handle_checked(index, Ok(verdict), now);
                }
                Job::Name(group) => {
                    let named = group
                        .into_iter()
                        .map(|index| {
                            let k = (index / 2) as usize;
                            self.saved.insert(index, std::mem::take(&mut self.parts[k]));
                            Named {
                                index,
                                path: Some(PathBuf::from(format!("file{index}"))),
                            }
                        })
                        .collect();
                    self.receiver.handle_named(named, now);
                }
                Job::Folders => self.receiver.handle_folders(Ok(()), now),
                Job::Stop { keep } => {
                    if let (false, Some(k)) = (keep, self.open) {
                        self.parts[k].clear();
                    }
                    self.receiver.handle_stopped(now);
                }
            }
        }
    }
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn outcome(o: &Option<Result<Tally, Error>>) -> Result<&Tally, String> {
    match o {
        Some(Ok(t)) => Ok(t),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("no outcome".into()),
    }
}

#[test]
fn files_move_whole_and_verified_with_a_resumed_prefix() {
    let files = vec![data(1 << 20, 1), Vec::new(), data(300_000, 2), data(7, 3)];
    let mut pair = Pair::new(files.clone(), vec![files[0][..100_000].to_vec()]);
    pair.run();
    let sent = outcome(&pair.sender_outcome).unwrap();
    let got = outcome(&pair.receiver_outcome).unwrap();
    for (k, f) in files.iter().enumerate() {
        assert_eq!(pair.saved.get(&Pair::index(k)), Some(f), "file {k}");
    }
    let total: u64 = files.iter().map(|f| f.len() as u64).sum();
    assert_eq!((sent.files, got.files), (4, 4));
    assert_eq!((sent.resumed, got.resumed), (100_000, 100_000));
    assert_eq!((sent.moved, got.moved), (total - 100_000, total - 100_000));
}

#[test]
fn a_corrupted_byte_fails_that_file_only() {
    let files = vec![data(500_000, 1), data(500_000, 2)];
    let mut pair = Pair::new(files.clone(), Vec::new());
    pair.corrupt = Some((1, 400_000));
    pair.run();
    let want = "1 of 2 files failed: integrity check failed";
    assert_eq!(outcome(&pair.sender_outcome).unwrap_err(), want);
    assert_eq!(outcome(&pair.receiver_outcome).unwrap_err(), want);
    assert_eq!(pair.saved.get(&0), Some(&files[0]));
    assert!(
        !pair.saved.contains_key(&2),
        "the corrupt file is not saved"
    );
}

#[test]
fn a_cut_link_keeps_the_part_and_the_next_run_sends_only_the_rest() {
    let files = vec![data(2 << 20, 9)];
    let mut first = Pair::new(files.clone(), Vec::new());
    first.cut_after = Some(600_000);
    first.run();
    assert_eq!(
        outcome(&first.sender_outcome).unwrap_err(),
        "connection lost"
    );
    assert_eq!(
        outcome(&first.receiver_outcome).unwrap_err(),
        "connection lost"
    );
    let kept = first.parts[0].clone();
    assert!(kept.len() as u64 >= 600_000 && kept.len() < files[0].len());
    assert_eq!(kept, files[0][..kept.len()], "the part holds a prefix");

    let mut second = Pair::new(files.clone(), vec![kept.clone()]);
    second.run();
    let got = outcome(&second.receiver_outcome).unwrap();
    assert_eq!(got.moved, (files[0].len() - kept.len()) as u64);
    assert_eq!(second.saved.get(&0), Some(&files[0]));
}

#[test]
fn a_receiver_that_stops_reading_is_given_up_on() {
    let files = vec![data(4 << 20, 4)];
    let mut pair = Pair::new(files, Vec::new());
    pair.receiver_stops_after = Some(1 << 20);
    let start = pair.now;
    pair.run();
    assert_eq!(
        outcome(&pair.sender_outcome).unwrap_err(),
        "the transfer stalled"
    );
    assert_eq!(
        outcome(&pair.receiver_outcome).unwrap_err(),
        "the transfer stalled"
    );
    let took = pair.now.duration_since(start);
    assert!(
        took >= DEADLINE && took < DEADLINE + Duration::from_secs(2),
        "{took:?}"
    );
}
