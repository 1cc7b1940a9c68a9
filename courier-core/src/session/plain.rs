//! A test double for the hub's own tests, compiled only into tests (`test-util`): a
//! session made [`Session::unsealed`] puts a message's text and an offer's manifest into
//! the envelope as plain CBOR and reads them back the same way. The hub cannot tell an
//! envelope from another, so its routing, storing and fairness tests need no keys (the
//! simulator's clients have made-up ids no certificate signs). Real sessions never take
//! this path: without a keyring they send nothing.

use std::time::Instant;

use super::sealing::Outgoing;
use super::{Event, Session};
use crate::proto::{
    ClientFrame, IncomingOffer, Manifest, Message, Sealed, SealedMessage, SealedOffer, decode_any,
    encode, offer_digest,
};

impl Session {
    /// This session's envelopes are plain CBOR, not sealed (hub tests only: see the
    /// module doc).
    #[must_use]
    pub fn unsealed(mut self) -> Self {
        self.keys.plain = true;
        self
    }

    /// Sends `item` in a plain envelope.
    pub(super) fn send_plain(&mut self, item: Outgoing, now: Instant) {
        let frame = match item {
            Outgoing::Message { id, to, text } => ClientFrame::Send {
                id,
                to,
                sealed: Sealed::from(encode(&text)),
            },
            Outgoing::Offer {
                tag,
                to,
                manifest,
                addrs,
                wait,
            } => {
                let sealed = Sealed::from(encode(&manifest));
                let digest = offer_digest(&sealed, None);
                self.events.push_back(Event::OfferSealed { tag, digest });
                ClientFrame::Offer {
                    tag,
                    to,
                    sealed,
                    test: None,
                    addrs,
                    wait,
                }
            }
        };
        self.transmit(frame, now);
    }

    /// Reads a plain message (one that does not read back is dropped, logged).
    pub(super) fn open_plain(&mut self, m: SealedMessage) {
        match decode_any::<String>(m.sealed.as_bytes()) {
            Ok(text) => self.events.push_back(Event::Message(Message {
                id: m.id,
                from: m.from,
                to: m.to,
                text,
                time: m.time,
                seq: m.seq,
            })),
            Err(e) => tracing::warn!("a plain test envelope does not read back: {e}"),
        }
    }

    /// Reads a plain offer.
    pub(super) fn open_plain_offer(&mut self, o: SealedOffer) {
        match decode_any::<Manifest>(o.sealed.as_bytes()) {
            Ok(manifest) => self.events.push_back(Event::Offer(IncomingOffer {
                digest: o.digest(),
                id: o.id,
                from: o.from,
                manifest,
                addrs: o.addrs,
                time: o.time,
            })),
            Err(e) => tracing::warn!("a plain test offer does not read back: {e}"),
        }
    }
}
