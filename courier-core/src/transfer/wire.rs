//! What the two peers say on a direct (or relayed) link, inside the end-to-end TLS
//! stream: a sequence of frames, each [`HEADER`] bytes (one type byte, then the payload's
//! length as a big-endian `u32`) and the payload. Type [`CONTROL`] carries a CBOR
//! [`Control`] message, [`DATA`] raw bytes of the file being sent. Until the knock is
//! accepted ([`Phase::Knock`]) only control frames of at most [`limits::MAX_LINK_KNOCK`]
//! bytes are read; then ([`Phase::Open`]) a control payload is at most
//! [`limits::MAX_LINK_CONTROL`] bytes and a data payload at most
//! [`limits::MAX_LINK_MESSAGE`]. A longer length is refused from the header alone, before
//! anything is allocated for it.

use serde::{Deserialize, Serialize};

use crate::limits;
use crate::proto::{DecodeError, Ticket};

/// Type byte of a control frame.
pub const CONTROL: u8 = 0;
/// Type byte of a data frame.
pub const DATA: u8 = 1;
/// Bytes before a frame's payload: its type and its length.
pub const HEADER: usize = 5;

/// Control messages on a transfer link.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum Control {
    /// The connecting side's first message: the hub's ticket.
    Knock {
        /// The ticket.
        ticket: Ticket,
        /// The digest of the offer it is for (the listener checks both).
        #[serde(with = "serde_bytes")]
        digest: [u8; 32],
    },
    /// Listener → dialer: the knock is accepted. The dialer counts a way as connected
    /// only once it has this (a refused knock gets `Abort` and the end of the link, and
    /// the dialer tries its next way).
    Welcome,
    /// Sender → receiver: this connection is the one (others are dropped).
    Start,
    /// Receiver → sender: bytes already on disk for each accepted file, in accept order.
    Hello {
        /// Resume offsets.
        offsets: Vec<u64>,
    },
    /// Sender → receiver: queued behind the sender's other copies; bytes follow later.
    /// Sent only before the first `File`, every few seconds while the sender waits for a
    /// place (a copy of a send to many beyond its running cap); the receiver takes it as
    /// life, for a bounded time in all.
    Wait,
    /// Sender → receiver: data of file `index` follows, from `offset`.
    File {
        /// Index into the manifest's files.
        index: u32,
        /// First byte sent (the receiver's resume offset).
        offset: u64,
    },
    /// Sender → receiver: file `index` is complete; its BLAKE3 over the whole file.
    End {
        /// The file.
        index: u32,
        /// BLAKE3 of the whole file, resumed part included.
        #[serde(with = "serde_bytes")]
        hash: [u8; 32],
    },
    /// Receiver → sender: bytes received so far this session (0 when only a keep-alive).
    Got {
        /// Bytes.
        bytes: u64,
    },
    /// Receiver → sender: file `index` verified and saved.
    Verified {
        /// The file.
        index: u32,
    },
    /// Receiver → sender: file `index` failed.
    Failed {
        /// The file.
        index: u32,
        /// Why.
        reason: FileFailure,
    },
    /// Sender → receiver: no more files.
    Done,
    /// Receiver → sender: every file is accounted for; the transfer is over.
    Finished,
    /// Link test, prober → answerer: echo this back at once.
    Ping {
        /// A number the prober matches with its `Pong`.
        n: u32,
    },
    /// Link test, answerer → prober: the echo of `Ping { n }`.
    Pong {
        /// The ping's number.
        n: u32,
    },
    /// Either side: the transfer stops.
    Abort {
        /// Why.
        reason: AbortReason,
    },
}

/// Why one file failed on the receiver.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum FileFailure {
    /// The BLAKE3 of the received bytes differs from the sender's.
    #[error("integrity check failed")]
    Integrity,
    /// The file could not be saved.
    #[error("the receiver could not save it")]
    Storage,
}

/// Why a transfer was aborted.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum AbortReason {
    /// A person cancelled.
    Cancelled,
    /// The receiver's disk is full.
    DiskFull,
    /// A source file changed size while being sent.
    SourceChanged,
    /// Reading or writing a file failed.
    Io,
    /// The other side broke the protocol.
    Protocol,
}

/// Encodes a control message as a whole frame.
pub fn encode(msg: &Control) -> Vec<u8> {
    let body = crate::proto::encode(msg);
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.push(CONTROL);
    out.extend_from_slice(&frame_len(body.len()).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Encodes file bytes as a whole data frame.
pub fn data(bytes: &[u8]) -> Vec<u8> {
    let mut out = data_header(bytes.len());
    out.extend_from_slice(bytes);
    out
}

/// The header of a data frame of `len` bytes, in a buffer with room for them: the
/// reading side appends the file bytes in place, with no copy into a frame later.
pub(crate) fn data_header(len: usize) -> Vec<u8> {
    let mut out = super::spare::take(HEADER + len);
    out.push(DATA);
    out.extend_from_slice(&frame_len(len).to_be_bytes());
    out
}

/// A payload length as the header carries it (a payload never nears 4 GiB: the cap
/// is [`limits::MAX_LINK_MESSAGE`]).
fn frame_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// A message read from a link.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A control message.
    Control(Control),
    /// File bytes.
    Data(&'a [u8]),
}

/// Where a link is: what its reader accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before the knock is accepted: the peer is nobody yet, and only tiny control
    /// frames (the knock, the answer to it) are read.
    Knock,
    /// After: control frames and file data, each up to its own cap.
    Open,
}

impl Phase {
    /// The largest payload a frame of type `kind` may have in this phase; `None` when
    /// such a frame has no place here.
    fn cap(self, kind: u8) -> Option<usize> {
        match (self, kind) {
            (Self::Knock, CONTROL) => Some(limits::MAX_LINK_KNOCK),
            (Self::Open, CONTROL) => Some(limits::MAX_LINK_CONTROL),
            (Self::Open, DATA) => Some(limits::MAX_LINK_MESSAGE),
            _ => None,
        }
    }
}

/// Checks a frame header read in `phase`: the payload length it announces.
///
/// # Errors
/// An unknown type byte or file data before the knock ([`DecodeError::Invalid`]), or a
/// length over the cap for its type and phase ([`DecodeError::TooLarge`]).
pub fn header(head: &[u8; HEADER], phase: Phase) -> Result<usize, DecodeError> {
    let [kind, len @ ..] = *head;
    let Some(max) = phase.cap(kind) else {
        return Err(DecodeError::Invalid(match kind {
            DATA => "file data before the knock".into(),
            _ => format!("unknown link frame type {kind}"),
        }));
    };
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(DecodeError::TooLarge { len, max });
    }
    Ok(len)
}

/// Decodes one whole frame (header and payload, nothing more).
///
/// # Errors
/// A bad header, a frame shorter or longer than its header says, or a malformed control
/// message.
pub fn decode(frame: &[u8]) -> Result<Incoming<'_>, DecodeError> {
    match split(frame)? {
        Some((msg, used)) if used == frame.len() => Ok(msg),
        Some((_, used)) => Err(DecodeError::TrailingBytes(frame.len() - used)),
        None => Err(DecodeError::Truncated),
    }
}

/// The first frame of a byte stream of an open link ([`Phase::Open`]) and the bytes it
/// takes; `None` while the stream holds less than a whole frame.
///
/// # Errors
/// A bad header (refused before its payload arrives) or a malformed control message.
pub fn split(stream: &[u8]) -> Result<Option<(Incoming<'_>, usize)>, DecodeError> {
    let Some((head, rest)) = stream.split_first_chunk::<HEADER>() else {
        return Ok(None);
    };
    let len = header(head, Phase::Open)?;
    let Some(payload) = rest.get(..len) else {
        return Ok(None);
    };
    let msg = match head {
        [CONTROL, ..] => Incoming::Control(crate::proto::decode_any(payload)?),
        _ => Incoming::Data(payload),
    };
    Ok(Some((msg, HEADER + len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn control_and_data_round_trip() {
        let msgs = [
            Control::Knock {
                ticket: Ticket([7; 32]),
                digest: [3; 32],
            },
            Control::Hello {
                offsets: vec![0, 5, u64::MAX],
            },
            Control::End {
                index: 3,
                hash: [1; 32],
            },
            Control::Abort {
                reason: AbortReason::DiskFull,
            },
            Control::Wait,
        ];
        for m in msgs {
            assert_eq!(decode(&encode(&m)), Ok(Incoming::Control(m)));
        }
        assert_eq!(decode(&data(&[1, 2])), Ok(Incoming::Data(&[1, 2])));
        assert_eq!(decode(&data(&[])), Ok(Incoming::Data(&[])));
        let big = vec![9u8; limits::MAX_LINK_MESSAGE];
        assert_eq!(decode(&data(&big)), Ok(Incoming::Data(&big[..])));
    }

    #[test]
    fn a_stream_of_frames_splits_back_into_them() {
        let mut stream = encode(&Control::Start);
        stream.extend(data(b"file bytes"));
        stream.extend(encode(&Control::Done));
        let mut at = 0;
        let mut got = Vec::new();
        while let Some((msg, used)) = split(&stream[at..]).unwrap() {
            got.push(format!("{msg:?}"));
            at += used;
        }
        assert_eq!(at, stream.len());
        assert_eq!(got.len(), 3);
        assert!(got[1].contains("Data"));
    }

    /// The header alone refuses a frame longer than the cap: the reader never allocates
    /// (or waits) for a payload the peer says is 4 GiB.
    #[test]
    fn an_oversized_length_is_refused_from_the_header() {
        let mut head = [DATA, 0, 0, 0, 0];
        head[1..].copy_from_slice(&(limits::MAX_LINK_MESSAGE as u32 + 1).to_be_bytes());
        let open = Phase::Open;
        assert!(matches!(
            header(&head, open),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(matches!(split(&head), Err(DecodeError::TooLarge { .. })));
        head[1..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(split(&head).is_err());
        head[1..].copy_from_slice(&(limits::MAX_LINK_MESSAGE as u32).to_be_bytes());
        assert_eq!(header(&head, open), Ok(limits::MAX_LINK_MESSAGE));
        assert_eq!(split(&head), Ok(None), "a whole payload is still to come");
    }

    /// Each type has its own cap, and before the knock only a knock-sized control frame
    /// passes: file data is refused there whatever its length.
    #[test]
    fn caps_depend_on_the_type_and_the_phase() {
        let head = |kind: u8, len: usize| {
            let mut h = [kind, 0, 0, 0, 0];
            h[1..].copy_from_slice(&(len as u32).to_be_bytes());
            h
        };
        let too_large = |r| matches!(r, Err(DecodeError::TooLarge { .. }));
        let (knock, open) = (Phase::Knock, Phase::Open);
        let control = limits::MAX_LINK_CONTROL;
        assert_eq!(header(&head(CONTROL, control), open), Ok(control));
        assert!(too_large(header(&head(CONTROL, control + 1), open)));
        let small = limits::MAX_LINK_KNOCK;
        assert_eq!(header(&head(CONTROL, small), knock), Ok(small));
        assert!(too_large(header(&head(CONTROL, small + 1), knock)));
        assert!(matches!(
            header(&head(DATA, 0), knock),
            Err(DecodeError::Invalid(_))
        ));
    }

    /// The largest legitimate control messages fit their caps: a `Hello` for the
    /// largest offer once open, the knock and the answers to it before.
    #[test]
    fn the_largest_control_messages_fit_their_caps() {
        let hello = Control::Hello {
            offsets: vec![u64::MAX; limits::MAX_OFFER_FILES],
        };
        assert!(encode(&hello).len() - HEADER <= limits::MAX_LINK_CONTROL);
        let knock = Control::Knock {
            ticket: Ticket([0xff; 32]),
            digest: [0xff; 32],
        };
        let abort = Control::Abort {
            reason: AbortReason::Protocol,
        };
        for m in [knock, Control::Welcome, abort] {
            assert!(encode(&m).len() - HEADER <= limits::MAX_LINK_KNOCK, "{m:?}");
        }
    }

    #[test]
    fn unknown_type_truncated_and_trailing_frames_are_refused() {
        assert!(matches!(
            decode(&[2, 0, 0, 0, 0]),
            Err(DecodeError::Invalid(_))
        ));
        assert!(split(&[7, 0, 0, 0, 1]).is_err());
        assert_eq!(decode(&[]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[DATA, 0, 0]), Err(DecodeError::Truncated));
        let whole = data(b"abc");
        assert_eq!(
            decode(&whole[..whole.len() - 1]),
            Err(DecodeError::Truncated)
        );
        let mut longer = whole.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(DecodeError::TrailingBytes(1)));
        // A control frame whose payload is not a control message.
        assert!(decode(&[CONTROL, 0, 0, 0, 0]).is_err());
        assert!(decode(&[CONTROL, 0, 0, 0, 1, 0xff]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
            let _ = split(&bytes);
        }

        /// Whatever splits out of a stream is exactly a frame: decoding its bytes alone
        /// gives the same message.
        #[test]
        fn split_frames_decode_alone(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(Some((msg, used))) = split(&bytes) {
                prop_assert_eq!(decode(&bytes[..used]), Ok(msg));
            }
        }

        #[test]
        fn data_frames_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let frame = data(&bytes);
            prop_assert_eq!(decode(&frame), Ok(Incoming::Data(&bytes[..])));
        }
    }
}
