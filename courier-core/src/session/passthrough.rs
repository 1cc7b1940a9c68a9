//! TEMPORARY(e2e): part A2 seals here. Until the session holds a keyring, the text of a
//! message and the names of an offer go into a [`Sealed`] envelope as plain CBOR (not
//! encrypted) and are read back the same way: the one place that becomes
//! `seal::Keyring::seal_direct` / `open_direct` (and `seal_room` / `open_room`).
//!
//! The CBOR of a manifest is exactly what [`Manifest::digest`] hashes, so the ticket
//! digest (BLAKE3 of the envelope's bytes) still equals the manifest's digest that the
//! transfer code checks; with real sealing the transfer must use the envelope's digest.

use crate::proto::{
    IncomingOffer, Manifest, Message, Sealed, SealedMessage, SealedOffer, decode_any, encode,
};

/// TEMPORARY(e2e): part A2 seals here. The envelope for a text or a manifest.
pub(super) fn seal<T: serde::Serialize>(payload: &T) -> Sealed {
    Sealed::from(encode(payload))
}

/// TEMPORARY(e2e): part A2 opens here. What [`seal`] put in, or `None` (logged) for an
/// envelope that does not read back.
pub(super) fn open<T: serde::de::DeserializeOwned>(sealed: &Sealed) -> Option<T> {
    let opened = decode_any(sealed.as_bytes()).ok();
    if opened.is_none() {
        tracing::warn!(
            "an envelope that does not open was dropped ({} bytes)",
            sealed.len()
        );
    }
    opened
}

/// A message as the session hands it up.
pub(super) fn open_message(m: SealedMessage) -> Option<Message> {
    let text = open::<String>(&m.sealed)?;
    Some(Message {
        id: m.id,
        from: m.from,
        to: m.to,
        text,
        time: m.time,
        seq: m.seq,
    })
}

/// An offer as the session hands it up (a link test carries no envelope).
pub(super) fn open_offer(o: SealedOffer) -> Option<IncomingOffer> {
    let manifest = match o.test {
        Some(way) => Manifest {
            test: Some(way),
            ..Manifest::default()
        },
        None => open::<Manifest>(&o.sealed)?,
    };
    Some(IncomingOffer {
        id: o.id,
        from: o.from,
        manifest,
        addrs: o.addrs,
        time: o.time,
    })
}
