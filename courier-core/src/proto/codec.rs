//! CBOR encoding and hardened decoding of frames.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::frame::{ClientFrame, ServerFrame};
use crate::limits;

/// Why bytes from the network are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is larger than [`limits::MAX_MESSAGE`].
    #[error("frame of {len} bytes is larger than the {max}-byte limit")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Nesting deeper than [`limits::CBOR_RECURSION_LIMIT`].
    #[error("frame is nested deeper than {}", limits::CBOR_RECURSION_LIMIT)]
    TooDeep,
    /// The input ends in the middle of an item.
    #[error("frame is truncated")]
    Truncated,
    /// Bytes remain after one complete frame.
    #[error("{0} trailing bytes after the frame")]
    TrailingBytes(usize),
    /// Not valid CBOR.
    #[error("invalid CBOR at byte {0}")]
    Syntax(usize),
    /// Valid CBOR, but not a frame of this protocol (unknown type, wrong field, …).
    #[error("not a valid frame: {0}")]
    Invalid(String),
}

/// Encodes a frame as CBOR.
pub fn encode<T: Serialize>(frame: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_into(frame, &mut out);
    out
}

/// Encodes a frame as CBOR at the end of `out` (a buffer reused across frames saves the
/// allocations of growing a new one each time).
pub(crate) fn encode_into<T: Serialize>(frame: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and our frame types serialize infallibly.
    if let Err(e) = ciborium::ser::into_writer(frame, out) {
        unreachable!("encoding a frame into memory failed: {e}");
    }
}

/// Decodes any wire type with the same limits as the frame decoders.
pub(crate) fn decode_any<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    decode(bytes)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > limits::MAX_MESSAGE {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: limits::MAX_MESSAGE,
        });
    }
    let mut rest = bytes;
    let value =
        ciborium::de::from_reader_with_recursion_limit(&mut rest, limits::CBOR_RECURSION_LIMIT)
            .map_err(|e| match e {
                ciborium::de::Error::Io(_) => DecodeError::Truncated,
                ciborium::de::Error::Syntax(at) => DecodeError::Syntax(at),
                ciborium::de::Error::Semantic(_, msg) => DecodeError::Invalid(msg),
                ciborium::de::Error::RecursionLimitExceeded => DecodeError::TooDeep,
            })?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(DecodeError::TrailingBytes(rest.len()))
    }
}

/// Decodes a frame sent by a client.
///
/// # Errors
/// Any [`DecodeError`]; never panics, never allocates more than the input warrants.
pub fn decode_client(bytes: &[u8]) -> Result<ClientFrame, DecodeError> {
    decode(bytes)
}

/// Decodes a frame sent by the hub.
///
/// # Errors
/// Any [`DecodeError`]; never panics.
pub fn decode_server(bytes: &[u8]) -> Result<ServerFrame, DecodeError> {
    decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ClientId, MsgId, Profile, Target};
    use serde_bytes::ByteBuf;

    #[test]
    fn round_trip() {
        let f = ClientFrame::Send {
            id: MsgId(7),
            to: Target::Everyone,
            sealed: crate::proto::Sealed::from(b"hi".to_vec()),
        };
        assert_eq!(decode_client(&encode(&f)), Ok(f));
    }

    #[test]
    fn trailing_bytes_rejected() {
        let mut b = encode(&ClientFrame::Ping);
        b.push(0);
        assert_eq!(decode_client(&b), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn truncated_rejected() {
        let b = encode(&ClientFrame::SetProfile(Profile::with_name("alice")));
        for cut in 0..b.len() {
            assert!(
                decode_client(&b[..cut]).is_err(),
                "prefix of {cut} bytes accepted"
            );
        }
    }

    #[test]
    fn deep_nesting_rejected_without_overflow() {
        let deep = vec![0x9f_u8; 100_000]; // nested indefinite arrays
        assert!(decode_client(&deep).is_err());
        assert_eq!(decode::<ciborium::Value>(&deep), Err(DecodeError::TooDeep));
        let maps = vec![0xa1_u8; 100_000]; // nested one-entry maps
        assert!(decode_client(&maps).is_err());
        assert_eq!(decode::<ciborium::Value>(&maps), Err(DecodeError::TooDeep));
        let tags = vec![0xc6_u8; 100_000]; // nested tags
        assert!(decode_server(&tags).is_err());
        // A frame that nests through one of its own fields: {"SetProfile": {"name": [[[..
        let mut nested = vec![0xa1, 0x6a];
        nested.extend(b"SetProfile");
        nested.extend([0xa1, 0x64]);
        nested.extend(b"name");
        nested.extend(vec![0x81_u8; 50_000]);
        assert!(decode_client(&nested).is_err());
    }

    #[test]
    fn oversized_rejected_before_parsing() {
        let big = vec![0u8; limits::MAX_MESSAGE + 1];
        assert!(matches!(
            decode_client(&big),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn huge_declared_lengths_fail_cleanly() {
        // A byte string declaring 2^64-1 bytes with 10 present; an array of 10^9 elements.
        let mut bytes = vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        bytes.extend([0u8; 10]);
        assert!(decode_client(&bytes).is_err());
        let arr = [0x9a, 0x3b, 0x9a, 0xca, 0x00, 0x01];
        assert!(decode_client(&arr).is_err());
    }

    #[test]
    fn unknown_variant_and_fields_rejected() {
        #[derive(Serialize)]
        enum Fake {
            Teleport { to: u8 },
        }
        assert!(matches!(
            decode_client(&encode(&Fake::Teleport { to: 1 })),
            Err(DecodeError::Invalid(_))
        ));
        // A `Send` that claims a sender: the schema has no such field.
        #[derive(Serialize)]
        enum Spoof {
            Send {
                id: MsgId,
                to: Target,
                text: String,
                from: ClientId,
            },
        }
        let spoof = Spoof::Send {
            id: MsgId(1),
            to: Target::Everyone,
            text: "x".into(),
            from: ClientId([9; 32]),
        };
        assert!(matches!(
            decode_client(&encode(&spoof)),
            Err(DecodeError::Invalid(_))
        ));
    }

    /// Renamed wire variants keep their encoded form (ciborium names a variant by its
    /// name): the bytes below were made before the renames of issue 21. Today's code
    /// encodes exactly them, and reads them back.
    #[test]
    fn renamed_variants_keep_their_encoded_form() {
        use crate::proto::{Delivery, OfferRefusal, RejectReason, TransferEnd, TransferId};
        let server = [
            (
                ServerFrame::Receipt {
                    id: MsgId(1),
                    status: Delivery::Rejected(RejectReason::CouldNotStore),
                },
                "a16752656365697074a26269640166737461747573a16852656a6563746564674e6f744b657074",
            ),
            (
                ServerFrame::Receipt {
                    id: MsgId(1),
                    status: Delivery::Rejected(RejectReason::MailboxFull),
                },
                "a16752656365697074a26269640166737461747573a16852656a656374656469517565756546756c6c",
            ),
            (
                ServerFrame::OfferRefused {
                    tag: 1,
                    reason: OfferRefusal::CouldNotStore,
                },
                "a16c4f6666657252656675736564a2637461670166726561736f6e674e6f744b657074",
            ),
            (
                ServerFrame::TransferEnded {
                    id: TransferId(1),
                    end: TransferEnd::NoLongerStored,
                },
                "a16d5472616e73666572456e646564a26269640163656e64674e6f744b657074",
            ),
            (ServerFrame::MailboxPage(Vec::new()), "a16653746f72656480"),
        ];
        for (frame, golden) in server {
            assert_eq!(hex(&encode(&frame)), golden, "{frame:?}");
            assert_eq!(decode_server(&unhex(golden)), Ok(frame));
        }
        let ack = ClientFrame::MailboxAck;
        assert_eq!(hex(&encode(&ack)), "6953746f72656441636b");
        assert_eq!(decode_client(&unhex("6953746f72656441636b")), Ok(ack));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn wrong_length_client_id_rejected() {
        #[derive(Serialize)]
        enum Fake {
            Read { from: ByteBuf, id: MsgId },
        }
        let f = Fake::Read {
            from: ByteBuf::from(vec![1; 5]),
            id: MsgId(1),
        };
        assert!(decode_client(&encode(&f)).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use arbitrary::{Arbitrary, Unstructured};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Every client frame type survives encode → decode unchanged.
        #[test]
        fn client_frames_round_trip(seed in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(frame) = ClientFrame::arbitrary(&mut Unstructured::new(&seed)) {
                prop_assert_eq!(decode_client(&encode(&frame)), Ok(frame));
            }
        }

        /// Every server frame type survives encode → decode unchanged.
        #[test]
        fn server_frames_round_trip(seed in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(frame) = ServerFrame::arbitrary(&mut Unstructured::new(&seed)) {
                prop_assert_eq!(decode_server(&encode(&frame)), Ok(frame));
            }
        }

        /// Arbitrary bytes never panic either decoder.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode_client(&bytes);
            let _ = decode_server(&bytes);
        }
    }

    /// The round-trip properties above reach every variant (so they cannot pass vacuously).
    #[test]
    fn generators_cover_every_variant() {
        let mut client = std::collections::BTreeSet::new();
        let mut server = std::collections::BTreeSet::new();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let seed: Vec<u8> = (0..256)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng as u8
                })
                .collect();
            if let Ok(f) = ClientFrame::arbitrary(&mut Unstructured::new(&seed)) {
                client.insert(
                    format!("{f:?}")
                        .split([' ', '(', '{'])
                        .next()
                        .unwrap_or("")
                        .to_owned(),
                );
            }
            if let Ok(f) = ServerFrame::arbitrary(&mut Unstructured::new(&seed)) {
                server.insert(
                    format!("{f:?}")
                        .split([' ', '(', '{'])
                        .next()
                        .unwrap_or("")
                        .to_owned(),
                );
            }
        }
        assert_eq!(client.len(), 30, "{client:?}");
        assert_eq!(server.len(), 34, "{server:?}");
    }
}
