//! The envelope formats on the wire (CBOR, version first) and what their AEAD binds.
//!
//! NaCl-style boxes take no associated data, so the header fields an envelope binds are
//! hashed (BLAKE3, a per-kind context) and the digest is the first 32 bytes of the
//! plaintext: opening checks it, so any changed header field reads as tampering.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::{Payload, Problem};
use crate::limits::MAX_TEXT;
use crate::proto::{ClientId, KeyId, MAX_SEALED, MsgId, Sealed, Target};

/// The envelope format this build writes and reads.
pub(super) const VERSION: u8 = 1;

/// Length of the bound-header digest at the front of every plaintext.
const DIGEST: usize = 32;

/// Which envelope this is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub(super) enum Kind {
    /// Sealed to one device's X25519 key.
    Direct,
    /// Sealed with a sender's room session.
    Room,
}

/// Only the first fields: read before the rest so that a later version is told apart
/// from garbage.
#[derive(Deserialize)]
struct Head {
    v: u8,
    kind: Kind,
}

/// A direct envelope.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Direct {
    pub(super) v: u8,
    pub(super) kind: Kind,
    #[serde(with = "serde_bytes")]
    pub(super) from_key: [u8; 32],
    pub(super) to_key: KeyId,
    #[serde(with = "serde_bytes")]
    pub(super) nonce: [u8; 24],
    pub(super) ct: ByteBuf,
}

/// A room envelope.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Room {
    pub(super) v: u8,
    pub(super) kind: Kind,
    #[serde(with = "serde_bytes")]
    pub(super) session: [u8; 16],
    pub(super) index: u32,
    #[serde(with = "serde_bytes")]
    pub(super) nonce: [u8; 24],
    pub(super) ct: ByteBuf,
    #[serde(with = "serde_bytes")]
    pub(super) sig: [u8; 64],
}

/// What a direct envelope's AEAD binds.
#[derive(Serialize)]
struct DirectAad<'a> {
    v: u8,
    from: &'a ClientId,
    to: &'a ClientId,
    id: MsgId,
    from_key: &'a [u8; 32],
    to_key: &'a KeyId,
}

/// What a room envelope's AEAD binds.
#[derive(Serialize)]
struct RoomAad<'a> {
    v: u8,
    room: &'a Target,
    from: &'a ClientId,
    #[serde(with = "serde_bytes")]
    session: &'a [u8; 16],
    index: u32,
    id: MsgId,
}

/// What a room envelope's signature covers: the whole header, the ciphertext, the
/// message id (and the room and sender, which the AEAD binds too).
#[derive(Serialize)]
struct RoomSigned<'a> {
    context: &'static str,
    v: u8,
    room: &'a Target,
    from: &'a ClientId,
    #[serde(with = "serde_bytes")]
    session: &'a [u8; 16],
    index: u32,
    #[serde(with = "serde_bytes")]
    nonce: &'a [u8; 24],
    #[serde(with = "serde_bytes")]
    ct: &'a [u8],
    id: MsgId,
}

/// CBOR bytes of a value that always encodes (plain structs of bytes and numbers).
pub(super) fn cbor<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    // Writing to a Vec cannot fail, and these types always serialize.
    let _ = ciborium::into_writer(value, &mut out);
    out
}

pub(super) fn direct_digest(
    from: &ClientId,
    to: &ClientId,
    id: MsgId,
    from_key: &[u8; 32],
    to_key: &KeyId,
) -> [u8; 32] {
    let aad = DirectAad {
        v: VERSION,
        from,
        to,
        id,
        from_key,
        to_key,
    };
    blake3::derive_key("courier direct envelope aad v1", &cbor(&aad))
}

pub(super) fn room_digest(
    room: &Target,
    from: &ClientId,
    session: &[u8; 16],
    index: u32,
    id: MsgId,
) -> [u8; 32] {
    let aad = RoomAad {
        v: VERSION,
        room,
        from,
        session,
        index,
        id,
    };
    blake3::derive_key("courier room envelope aad v1", &cbor(&aad))
}

pub(super) fn room_signed(
    room: &Target,
    from: &ClientId,
    session: &[u8; 16],
    index: u32,
    nonce: &[u8; 24],
    ct: &[u8],
    id: MsgId,
) -> Vec<u8> {
    cbor(&RoomSigned {
        context: "courier room envelope signature v1",
        v: VERSION,
        room,
        from,
        session,
        index,
        nonce,
        ct,
        id,
    })
}

/// The plaintext to seal: the bound-header digest, then the payload's CBOR.
pub(super) fn plaintext(digest: &[u8; 32], payload: &Payload) -> zeroize::Zeroizing<Vec<u8>> {
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(DIGEST + 128));
    out.extend_from_slice(digest);
    let _ = ciborium::into_writer(payload, &mut *out);
    out
}

/// Checks an opened plaintext's digest and reads its payload.
pub(super) fn read_plaintext(digest: &[u8; 32], plain: &[u8]) -> Result<Payload, Problem> {
    let (head, body) = plain.split_at_checked(DIGEST).ok_or(Problem::Tampered)?;
    if head != digest {
        return Err(Problem::Tampered);
    }
    let payload: Payload = ciborium::from_reader(body).map_err(|_| Problem::Malformed)?;
    if let Payload::Text(text) = &payload
        && text.len() > MAX_TEXT
    {
        return Err(Problem::Malformed);
    }
    Ok(payload)
}

/// Reads an envelope's version and kind, then the whole envelope of that kind.
pub(super) fn decode_direct(sealed: &Sealed) -> Result<Direct, Problem> {
    let kind = head(sealed)?;
    if kind != Kind::Direct {
        return Err(Problem::Malformed);
    }
    canonical(sealed)
}

/// See [`decode_direct`].
pub(super) fn decode_room(sealed: &Sealed) -> Result<Room, Problem> {
    let kind = head(sealed)?;
    if kind != Kind::Room {
        return Err(Problem::Malformed);
    }
    canonical(sealed)
}

/// Decodes an envelope written exactly as this build writes it: another encoding of
/// the same fields (a key as bytes instead of text, a longer length) is refused, so
/// that an edited envelope never opens.
fn canonical<T: Serialize + serde::de::DeserializeOwned>(sealed: &Sealed) -> Result<T, Problem> {
    let envelope: T = ciborium::from_reader(sealed.as_bytes()).map_err(|_| Problem::Malformed)?;
    if cbor(&envelope) != sealed.as_bytes() {
        return Err(Problem::Malformed);
    }
    Ok(envelope)
}

fn head(sealed: &Sealed) -> Result<Kind, Problem> {
    if sealed.is_empty() || !sealed.within_bounds() {
        return Err(Problem::Malformed);
    }
    #[derive(Deserialize)]
    struct Version {
        v: u8,
    }
    let version: Version =
        ciborium::from_reader(sealed.as_bytes()).map_err(|_| Problem::Malformed)?;
    if version.v != VERSION {
        return Err(Problem::UnknownVersion);
    }
    let head: Head = ciborium::from_reader(sealed.as_bytes()).map_err(|_| Problem::Malformed)?;
    debug_assert_eq!(head.v, VERSION);
    Ok(head.kind)
}

/// Bytes of an envelope, or TooLarge.
pub(super) fn finish<T: Serialize>(envelope: &T) -> Option<Sealed> {
    let bytes = cbor(envelope);
    (bytes.len() <= MAX_SEALED).then(|| Sealed::from(bytes))
}
