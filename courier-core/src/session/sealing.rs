//! Sealing what the session sends: messages (to a contact, a group or everyone) and the
//! names in file offers. What cannot be sealed yet (a recipient's keys are unknown) waits
//! while the session asks the hub for them; what cannot be sealed at all is answered by
//! the session itself, as the hub would answer a message it refused: a
//! [`Delivery::Rejected`] receipt, an [`Event::OfferRefused`].
//!
//! A room message (group or everyone) is sealed once with our room session for that
//! room; members who lack that session first get its key, each in a direct envelope
//! sent as an ordinary message under an id of its own, whose receipt is the session's
//! business alone.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use super::keys::Unusable;
use super::{Error, Event, Session};
use crate::proto::{
    ClientFrame, ClientId, Delivery, Manifest, MsgId, OfferRefusal, RejectReason, Sealed, Target,
};
use crate::seal::{Payload, SealError};

/// How long one request for a contact's keys waits for the hub's answer.
pub(crate) const KEYS_WITHIN: Duration = Duration::from_secs(5);

/// How many times the session asks for a contact's keys before what waits for them
/// fails (or, received, is reported unreadable).
pub(crate) const KEY_REQUESTS: u32 = 3;

/// Most messages and offers waiting for keys at once: the driver takes no command while
/// this many wait ([`Session::is_busy`]); one given to the machine anyway is refused as
/// too fast.
pub(crate) const MAX_WAITING: usize = 256;

/// The message id a file offer's envelope is sealed under: an offer has no message id
/// of its own (the hub names it later), and its payload (files) is never taken for a
/// message.
pub(crate) const OFFER_ID: MsgId = MsgId(0);

/// Something to seal and send.
#[derive(Clone, Debug)]
pub(crate) enum Outgoing {
    /// A message.
    Message {
        /// Its id.
        id: MsgId,
        /// Where to.
        to: Target,
        /// The text.
        text: String,
    },
    /// A file offer.
    Offer {
        /// Our tag for it.
        tag: u32,
        /// To whom.
        to: ClientId,
        /// The files.
        manifest: Manifest,
        /// Where we listen for it.
        addrs: Vec<SocketAddr>,
        /// Keep it at the hub for an offline recipient.
        wait: bool,
    },
}

impl Outgoing {
    fn target(&self) -> Target {
        match self {
            Self::Message { to, .. } => *to,
            Self::Offer { to, .. } => Target::Client(*to),
        }
    }
}

/// An outgoing message or offer waiting for keys.
#[derive(Debug)]
pub(crate) struct Waiting {
    item: Outgoing,
    /// Whose keys it waits for.
    needs: BTreeSet<ClientId>,
}

/// Why something could not be sealed.
#[derive(Clone, Copy, Debug)]
enum Failure {
    /// The recipient has published no keys (or the hub did not hand them out).
    NoKeys,
    /// The hub handed out keys the recipient's device did not sign.
    Unsigned,
    /// Empty, or too long to send.
    TooLarge,
    /// Our key store failed (or the session has none).
    Store,
    /// Too many messages wait for keys already.
    Busy,
    /// The connection ended while it waited.
    Unsent,
}

impl From<Unusable> for Failure {
    fn from(u: Unusable) -> Self {
        match u {
            Unusable::None => Self::NoKeys,
            Unusable::Unsigned => Self::Unsigned,
        }
    }
}

impl Session {
    /// Sends a chat message with the caller's id, sealed for its recipients. What cannot
    /// be sealed now waits for the recipients' keys (asked of the hub); what cannot be
    /// sealed at all gets a [`Delivery::Rejected`] receipt from the session.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login; [`Error::ReservedId`] for an id from the
    /// key shares' space ([`MsgId::is_share`]).
    pub fn send_message(
        &mut self,
        id: MsgId,
        to: Target,
        text: String,
        now: Instant,
    ) -> Result<(), Error> {
        self.ready_or()?;
        if id.is_share() {
            return Err(Error::ReservedId);
        }
        let item = Outgoing::Message { id, to, text };
        // The hub cannot see the text any more: the bounds it kept are kept here.
        if let Outgoing::Message { text, .. } = &item
            && !crate::proto::validate_text(text)
        {
            self.fail(item, Failure::TooLarge);
            return Ok(());
        }
        self.seal_or_wait(item, now);
        Ok(())
    }

    /// Offers `manifest` to `to`, its names and sizes sealed to their device (a link
    /// test carries none); the answer carries `tag`.
    ///
    /// # Errors
    /// [`Error::NotConnected`] before login.
    pub fn offer(
        &mut self,
        tag: u32,
        to: ClientId,
        manifest: Manifest,
        addrs: Vec<SocketAddr>,
        wait: bool,
        now: Instant,
    ) -> Result<(), Error> {
        self.ready_or()?;
        if let Some(test) = manifest.test {
            let frame = ClientFrame::Offer {
                tag,
                to,
                sealed: Sealed::default(),
                test: Some(test),
                addrs,
                wait,
            };
            self.transmit(frame, now);
            return Ok(());
        }
        let item = Outgoing::Offer {
            tag,
            to,
            manifest,
            addrs,
            wait,
        };
        self.seal_or_wait(item, now);
        Ok(())
    }

    /// Whether so many messages wait for keys that the driver should give no command now
    /// (they wait in the handle's queue instead).
    pub fn is_busy(&self) -> bool {
        self.keys.waiting.len() >= MAX_WAITING
    }

    /// Seals and sends `item`, or holds it until the keys it needs come.
    fn seal_or_wait(&mut self, item: Outgoing, now: Instant) {
        #[cfg(any(test, feature = "test-util"))]
        if self.keys.plain {
            self.send_plain(item, now);
            return;
        }
        if self.keys.keyring.is_none() {
            self.fail(item, Failure::Store);
            return;
        }
        let to = item.target();
        if let Target::Client(c) = to {
            if let Some(&why) = self.keys.keyless.get(&c) {
                self.fail(item, why.into());
                return;
            }
            if self.keys.stale.contains(&c) {
                self.wait_for(item, [c].into(), now);
                return;
            }
        }
        match self.try_seal(&item, now) {
            Ok(()) => {}
            Err(SealError::NeedKeys(ids)) => self.wait_for(item, ids.into_iter().collect(), now),
            // A member of a room we cannot seal to is left out; the others get it.
            Err(SealError::NoKeys(member))
                if !matches!(to, Target::Client(_)) && !self.keys.keyless.contains_key(&member) =>
            {
                self.keys.keyless.insert(member, Unusable::None);
                self.seal_or_wait(item, now);
            }
            Err(SealError::NoKeys(_)) => self.fail(item, Failure::NoKeys),
            Err(SealError::TooLarge) => self.fail(item, Failure::TooLarge),
            Err(e) => {
                tracing::warn!("cannot seal: {e}");
                self.fail(item, Failure::Store);
            }
        }
    }

    /// Seals `item` and queues what goes out: the room key shares first, then it.
    fn try_seal(&mut self, item: &Outgoing, now: Instant) -> Result<(), SealError> {
        let wall = self.keys.wall(now);
        let members = match item.target() {
            Target::Client(_) => Vec::new(),
            room => self
                .room_members(room)
                .into_iter()
                .filter(|m| !self.keys.keyless.contains_key(m))
                .collect(),
        };
        let Some(keyring) = self.keys.keyring.as_mut() else {
            // `seal_or_wait` fails it first.
            return Ok(());
        };
        let frame = match item {
            Outgoing::Message {
                id,
                to: Target::Client(c),
                text,
            } => {
                let sealed = keyring.seal_direct(*c, *id, &Payload::Text(text.clone()), wall)?;
                ClientFrame::Send {
                    id: *id,
                    to: Target::Client(*c),
                    sealed,
                }
            }
            Outgoing::Message { id, to, text } => {
                let room =
                    keyring.seal_room(*to, &members, *id, &Payload::Text(text.clone()), wall)?;
                let mut shares = Vec::new();
                for (member, payload) in room.shares {
                    let share = MsgId(self.rng.r#gen::<u64>() | MsgId::SHARE_BIT);
                    match keyring.seal_direct(member, share, &payload, wall) {
                        Ok(sealed) => shares.push((share, member, sealed)),
                        Err(e) => tracing::warn!(
                            member = %member.short(),
                            "a room key cannot be shared: {e}"
                        ),
                    }
                }
                // All of them in one frame (a few past the largest group), before the
                // message: the hub's share allowance, never the chat one.
                for (share, member, _) in &shares {
                    self.keys.internal.insert(*share, (*to, *member));
                }
                let mut shares = shares.into_iter().peekable();
                while shares.peek().is_some() {
                    let items = shares
                        .by_ref()
                        .take(crate::proto::MAX_SHARES)
                        .map(|(id, to, sealed)| crate::proto::Share { to, id, sealed })
                        .collect();
                    self.transmit(ClientFrame::Shares { items }, now);
                }
                ClientFrame::Send {
                    id: *id,
                    to: *to,
                    sealed: room.sealed,
                }
            }
            Outgoing::Offer {
                tag,
                to,
                manifest,
                addrs,
                wait,
            } => {
                let payload = Payload::Files(manifest.clone());
                let sealed = keyring.seal_direct(*to, OFFER_ID, &payload, wall)?;
                self.events.push_back(Event::OfferSealed {
                    tag: *tag,
                    digest: crate::proto::offer_digest(&sealed, None),
                });
                ClientFrame::Offer {
                    tag: *tag,
                    to: *to,
                    sealed,
                    test: None,
                    addrs: addrs.clone(),
                    wait: *wait,
                }
            }
        };
        self.transmit(frame, now);
        Ok(())
    }

    /// Holds `item` until the keys of `needs` come (or their fetch times out).
    fn wait_for(&mut self, item: Outgoing, needs: BTreeSet<ClientId>, now: Instant) {
        if self.keys.waiting.len() >= MAX_WAITING {
            self.fail(item, Failure::Busy);
            return;
        }
        for &whose in &needs {
            self.fetch_keys(whose, now);
        }
        self.keys.waiting.push(Waiting { item, needs });
    }

    /// `whose` keys came (or will not): what waited only for them is sealed, or fails.
    pub(super) fn keys_arrived(&mut self, whose: ClientId, now: Instant) {
        let mut ready = Vec::new();
        for w in &mut self.keys.waiting {
            w.needs.remove(&whose);
        }
        let (done, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.keys.waiting)
            .into_iter()
            .partition(|w| w.needs.is_empty());
        self.keys.waiting = rest;
        ready.extend(done.into_iter().map(|w| w.item));
        for item in ready {
            self.seal_or_wait(item, now);
        }
    }

    /// Answers `item` as the hub answers what it refuses: a rejected receipt, a refused
    /// offer.
    fn fail(&mut self, item: Outgoing, why: Failure) {
        tracing::debug!(?why, "not sealed: {:?}", item.target());
        match item {
            Outgoing::Message { id, .. } => {
                let reason = match why {
                    Failure::NoKeys => RejectReason::NoKeys,
                    Failure::Unsigned => RejectReason::UnsignedKeys,
                    Failure::TooLarge => RejectReason::BadText,
                    Failure::Store => RejectReason::KeyStore,
                    Failure::Busy => RejectReason::RateLimited,
                    Failure::Unsent => RejectReason::Unsent,
                };
                self.events.push_back(Event::Receipt {
                    id,
                    status: Delivery::Rejected(reason),
                });
            }
            Outgoing::Offer { tag, .. } => {
                let reason = match why {
                    Failure::NoKeys => OfferRefusal::NoKeys,
                    Failure::Unsigned => OfferRefusal::UnsignedKeys,
                    Failure::TooLarge => {
                        OfferRefusal::Invalid(crate::proto::ManifestError::TooLong)
                    }
                    Failure::Store => OfferRefusal::KeyStore,
                    Failure::Busy => OfferRefusal::RateLimited,
                    Failure::Unsent => OfferRefusal::Unsent,
                };
                self.events.push_back(Event::OfferRefused { tag, reason });
            }
        }
    }

    /// The connection ended: what waited for keys fails (its receipt or refusal says
    /// so), and what was received but not yet opened is reported unreadable. Nothing is
    /// lost without a word (the hub was told it was taken).
    pub fn handle_closed(&mut self, now: Instant) {
        for w in std::mem::take(&mut self.keys.waiting) {
            self.fail(w.item, Failure::Unsent);
        }
        self.keys.fetching.clear();
        self.keys.queued.clear();
        self.give_up_all(now);
    }

    /// A receipt for a key share of ours: the session's own business (`true`: taken).
    /// Share ids are from a reserved space, so receipts for shares of an earlier
    /// connection (stored for an offline member, delivered later) are recognised too.
    pub(super) fn share_receipt(&mut self, id: MsgId, status: &Delivery) -> bool {
        let ours = self.keys.internal.remove(&id);
        if ours.is_none() && !id.is_share() {
            return false;
        }
        if let Delivery::Rejected(why) = status {
            tracing::warn!("a room key share was not delivered: {why}");
            // Not counted as shared: the next message to the room shares it again.
            if let (Some((room, member)), Some(keyring)) = (ours, self.keys.keyring.as_mut()) {
                keyring.forget_share(room, member);
            }
        }
        true
    }
}
