//! Hostile bytes through the real link reader ([`LinkReader`], the `Link` a transfer
//! reads frames with) over an in-memory stream that hands them out in arbitrary pieces,
//! with arbitrary pauses. Never a panic; before the knock is accepted nothing above
//! the knock's cap is allocated, after it nothing above the data cap; and the frames
//! and the way the stream ends are exactly what a reference split of the whole byte
//! string gives (the reader neither loses, invents nor reorders a byte, however it is
//! cut).
#![no_main]

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use arbitrary::Arbitrary;
use courier_core::limits;
use courier_core::transfer::LinkReader;
use courier_core::transfer::wire::{self, Control, Incoming, Phase};
use futures::io::{AsyncRead, AsyncWrite};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Part {
    Raw(Vec<u8>),
    Control(Control),
    Data(Vec<u8>),
    Header(u8, u32),
}

#[derive(Arbitrary, Debug)]
struct Case {
    parts: Vec<Part>,
    /// Bytes per read, in turn (0 stands for a pause: `Pending`, then a wake).
    cuts: Vec<u8>,
}

/// The stream: `bytes` handed out as `cuts` say, then the end.
struct Pieces {
    bytes: VecDeque<u8>,
    cuts: Vec<u8>,
    turn: usize,
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let cut = match self.cuts.len() {
            0 => usize::MAX,
            n => usize::from(self.cuts[self.turn % n]),
        };
        self.turn += 1;
        if cut == 0 && self.turn < 10_000 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = buf.len().min(cut.max(1)).min(self.bytes.len());
        for (dst, src) in buf.iter_mut().zip(self.bytes.drain(..n)) {
            *dst = src;
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Pieces {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// How reading ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Clean,
    Truncated,
    Refused,
}

/// Whether `frame` is a knock: the listener admits the link after it.
fn is_knock(frame: &[u8]) -> bool {
    matches!(
        wire::decode(frame),
        Ok(Incoming::Control(Control::Knock { .. }))
    )
}

/// The frames of `all` and its end, split as a whole.
fn reference(all: &[u8]) -> (Vec<Vec<u8>>, End) {
    let mut phase = Phase::Knock;
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        let rest = &all[at..];
        if rest.is_empty() {
            return (frames, End::Clean);
        }
        let Some((head, payload)) = rest.split_first_chunk::<{ wire::HEADER }>() else {
            return (frames, End::Truncated);
        };
        let Ok(len) = wire::header(head, phase) else {
            return (frames, End::Refused);
        };
        if payload.len() < len {
            return (frames, End::Truncated);
        }
        let frame = rest[..wire::HEADER + len].to_vec();
        if phase == Phase::Knock && is_knock(&frame) {
            phase = Phase::Open;
        }
        at += frame.len();
        frames.push(frame);
    }
}

fuzz_target!(|case: Case| {
    let mut all = Vec::new();
    for part in case.parts.iter().take(64) {
        match part {
            Part::Raw(b) => all.extend_from_slice(b),
            Part::Control(c) => all.extend(wire::encode(c)),
            Part::Data(b) => all.extend(wire::data(b)),
            Part::Header(kind, len) => {
                all.push(*kind);
                all.extend_from_slice(&len.to_be_bytes());
            }
        }
    }
    let (want, want_end) = reference(&all);
    let stream = Pieces {
        bytes: all.iter().copied().collect(),
        cuts: case.cuts,
        turn: 0,
    };
    let mut link = LinkReader::new(stream);
    let mut cx = Context::from_waker(Waker::noop());
    let mut phase = Phase::Knock;
    let mut got = Vec::new();
    let end = loop {
        let cap = match phase {
            Phase::Knock => limits::MAX_LINK_KNOCK,
            Phase::Open => limits::MAX_LINK_MESSAGE.max(limits::MAX_LINK_CONTROL),
        };
        let polled = link.poll_frame(&mut cx);
        assert!(link.reserved() <= wire::HEADER + cap, "over the cap");
        match polled {
            Poll::Pending => continue,
            Poll::Ready(Ok(Some(frame))) => {
                assert!(frame.len() <= wire::HEADER + cap);
                if phase == Phase::Knock && is_knock(&frame) {
                    phase = Phase::Open;
                    link.admit();
                }
                got.push(frame);
            }
            Poll::Ready(Ok(None)) => break End::Clean,
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                break End::Truncated;
            }
            Poll::Ready(Err(e)) => {
                assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
                break End::Refused;
            }
        }
    };
    assert_eq!(got, want);
    assert_eq!(end, want_end);
});
