//! A hostile sender on a transfer link: arbitrary messages (raw bytes through the link
//! decoder, or well-formed link messages) into the receiver's bookkeeping. Never a panic,
//! and no file ever takes a byte past its declared size.
#![no_main]

use arbitrary::Arbitrary;
use courier_core::transfer::recv::{Expected, Receiving};
use courier_core::transfer::wire::{self, Incoming, Link};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Raw(Vec<u8>),
    Control(Link),
    Data(u32),
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
    let mut r = Receiving::new(files.clone());
    for op in case.ops.iter().take(256) {
        let result = match op {
            Op::Raw(bytes) => match wire::decode(bytes) {
                Ok(Incoming::Control(link)) => {
                    assert_eq!(wire::decode(&wire::encode(&link)).ok(), Some(Incoming::Control(link.clone())));
                    r.control(&link)
                }
                Ok(Incoming::Data(d)) => r.data(d.len()),
                Err(_) => continue,
            },
            Op::Control(link) => r.control(link),
            Op::Data(n) => r.data(*n as usize),
        };
        if let Some((index, at)) = r.position() {
            let size = files.iter().find(|e| e.index == index).map(|e| e.size);
            assert!(Some(at) <= size, "a file took more than its size");
        }
        if result.is_err() {
            break; // the driver stops at the first violation
        }
    }
});
