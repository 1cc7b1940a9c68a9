//! What the two peers say on a direct (or relayed) link. Every WebSocket binary message
//! starts with one byte: [`CONTROL`] for a CBOR [`Control`] message, [`DATA`] for raw bytes of
//! the file being sent.

use serde::{Deserialize, Serialize};

use crate::proto::{DecodeError, Ticket};

/// First byte of a control message.
pub const CONTROL: u8 = 0;
/// First byte of a data message.
pub const DATA: u8 = 1;

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

/// Encodes a control message.
pub fn encode(msg: &Control) -> Vec<u8> {
    let mut out = vec![CONTROL];
    out.extend_from_slice(&crate::proto::encode(msg));
    out
}

/// A message read from a link.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A control message.
    Control(Control),
    /// File bytes.
    Data(&'a [u8]),
}

/// Decodes one link message.
///
/// # Errors
/// An empty message, an unknown first byte, or a malformed control message.
pub fn decode(bytes: &[u8]) -> Result<Incoming<'_>, DecodeError> {
    match bytes.split_first() {
        Some((&CONTROL, rest)) => Ok(Incoming::Control(crate::proto::decode_any(rest)?)),
        Some((&DATA, rest)) => Ok(Incoming::Data(rest)),
        _ => Err(DecodeError::Truncated),
    }
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
        assert_eq!(decode(&[DATA, 1, 2]), Ok(Incoming::Data(&[1, 2])));
        assert_eq!(decode(&[DATA]), Ok(Incoming::Data(&[])));
        assert!(decode(&[]).is_err());
        assert!(decode(&[2, 0]).is_err());
        assert!(decode(&[CONTROL]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }
    }
}
