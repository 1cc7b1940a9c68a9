//! The [`Keyring`]: this device's keys, contacts' verified bundles, room sessions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use crypto_box::aead::Aead;
use crypto_box::{ChaChaBox, PublicKey, SecretKey};
use crypto_secretbox::{KeyInit, XChaCha20Poly1305};
use rand::RngCore;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde_bytes::ByteBuf;
use zeroize::Zeroizing;

mod bounds;
mod lookup;

use super::envelope::{self, Direct, Kind, Room, VERSION};
use super::room::{Inbound, Outbound, ROOM_SLACK, message_key, next_chain};
use super::store::Store;
use super::{
    KeyError, KeyPolicy, Opened, Payload, Problem, RoomKey, RoomSealed, SealError, bundle,
};
use crate::identity::Identity;
use crate::proto::{ClientId, KeyBundle, KeyId, MsgId, Sealed, Target, Timestamp};

/// A room session is replaced after this long.
const ROOM_SESSION_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// This device's keys, its contacts' verified key bundles and its room sessions;
/// persisted in `<profile>/keys.db` ([`Keyring::open`]) or in memory
/// ([`Keyring::in_memory`]). Secrets are wiped from memory when dropped and never shown
/// by `Debug`.
pub struct Keyring {
    pub(super) identity: Identity,
    pub(super) policy: KeyPolicy,
    pub(super) signing: Ed25519KeyPair,
    /// Own sealing keys, oldest first.
    pub(super) own: Vec<OwnKey>,
    pub(super) peers: HashMap<ClientId, Peer>,
    boxes: HashMap<([u8; 32], [u8; 32]), ChaChaBox>,
    pub(super) outbound: HashMap<Target, Outbound>,
    /// Ordered by sender, so that one sender's sessions are a range (bounded per sender).
    pub(super) inbound: BTreeMap<(ClientId, [u8; 16]), Inbound>,
    /// keys.db, or none in memory.
    store: Option<Store>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("me", &self.identity.id())
            .field("sealing_keys", &self.own.len())
            .field("contacts", &self.peers.len())
            .finish_non_exhaustive()
    }
}

/// One of this device's sealing keys.
pub(super) struct OwnKey {
    /// Wiped on drop by `crypto_box`.
    pub(super) secret: SecretKey,
    pub(super) public: [u8; 32],
    pub(super) id: KeyId,
    pub(super) created: Timestamp,
    pub(super) retired: Option<Timestamp>,
    pub(super) bundle: KeyBundle,
}

/// What is known of a contact's device.
#[derive(Default)]
pub(super) struct Peer {
    /// When `learn` was last called for it (an empty list then meant "the hub has
    /// none"); good for [`LOOKUP_FRESH`](super::LOOKUP_FRESH).
    pub(super) looked_up: Option<Timestamp>,
    pub(super) bundles: Vec<Known>,
}

/// A bundle that verified.
#[derive(Clone)]
pub(super) struct Known {
    pub(super) signing: [u8; 32],
    pub(super) sealing: [u8; 32],
    pub(super) created: Timestamp,
    pub(super) expires: Timestamp,
}

fn new_signing_key() -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generate)?;
    Ok(Zeroizing::new(pkcs8.as_ref().to_vec()))
}

/// Logs a keys.db failure where the caller has no error to give it (opening).
fn logged<T>(result: Result<T, KeyError>) -> Option<T> {
    result.map_err(|e| tracing::warn!("keys.db: {e}")).ok()
}

pub(super) fn after(at: Timestamp, span: Duration) -> Timestamp {
    Timestamp(at.0.saturating_add(u64::try_from(span.as_millis()).unwrap_or(u64::MAX)))
}

impl Keyring {
    /// The keyring kept in `profile_dir/keys.db`, created on first use.
    ///
    /// # Errors
    /// If keys.db cannot be opened or holds damaged keys, or the identity cannot sign.
    pub fn open(
        profile_dir: &Path,
        identity: &Identity,
        policy: KeyPolicy,
        now: Timestamp,
    ) -> Result<Self, KeyError> {
        let store = Store::open(profile_dir)?;
        let signing_pkcs8 = match store.device(identity.id())? {
            Some(pkcs8) => pkcs8,
            None => {
                let pkcs8 = new_signing_key()?;
                store.save_device(identity.id(), &pkcs8)?;
                pkcs8
            }
        };
        let mut keyring = Self::with(identity, policy, signing_pkcs8, Some(store))?;
        keyring.rotate_when(now, |own, _| own.is_empty())?;
        keyring.erase_expired(now);
        Ok(keyring)
    }

    fn with(
        identity: &Identity,
        policy: KeyPolicy,
        signing_pkcs8: Zeroizing<Vec<u8>>,
        store: Option<Store>,
    ) -> Result<Self, KeyError> {
        let signing = Ed25519KeyPair::from_pkcs8(&signing_pkcs8).map_err(|_| KeyError::Damaged)?;
        Ok(Self {
            identity: identity.clone(),
            policy,
            signing,
            own: Vec::new(),
            peers: HashMap::new(),
            boxes: HashMap::new(),
            outbound: HashMap::new(),
            inbound: BTreeMap::new(),
            store,
        })
    }

    /// A keyring that lives only in memory (tests, or a profile without a folder).
    ///
    /// # Errors
    /// If the identity's key cannot sign bundles, or no key can be made.
    pub fn in_memory(
        identity: &Identity,
        policy: KeyPolicy,
        now: Timestamp,
    ) -> Result<Self, KeyError> {
        let mut keyring = Self::with(identity, policy, new_signing_key()?, None)?;
        keyring.new_sealing_key(now)?;
        Ok(keyring)
    }

    /// Changes how long keys live (applied at the next [`Keyring::bundle`]).
    pub fn set_policy(&mut self, policy: KeyPolicy) {
        self.policy = policy;
    }

    /// This device's id.
    pub fn me(&self) -> ClientId {
        self.identity.id()
    }

    fn signing_public(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.signing.public_key().as_ref());
        out
    }

    pub(super) fn new_sealing_key(&mut self, now: Timestamp) -> Result<(), KeyError> {
        let secret = SecretKey::generate(&mut rand::rngs::OsRng);
        let public = secret.public_key().to_bytes();
        let expires = after(after(now, self.policy.rotate_every), self.policy.keep_after);
        let bundle = bundle::sign(&self.identity, self.signing_public(), public, now, expires)?;
        for key in &mut self.own {
            key.retired.get_or_insert(now);
        }
        self.own.push(OwnKey {
            secret,
            public,
            id: KeyId::of(&public),
            created: now,
            retired: None,
            bundle,
        });
        if let Some(store) = &self.store {
            self.own
                .iter()
                .try_for_each(|key| store.save_own_key(key))?;
        }
        Ok(())
    }

    /// Reads this device's sealing keys again and makes a new one when `due` says so,
    /// in one write transaction: two processes of a profile rotating at once make one
    /// key, never two (one of which nobody would retire).
    fn rotate_when(
        &mut self,
        now: Timestamp,
        due: impl Fn(&[OwnKey], &KeyPolicy) -> bool,
    ) -> Result<(), KeyError> {
        let Some(store) = self.store.take() else {
            return if due(&self.own, &self.policy) {
                self.new_sealing_key(now)
            } else {
                Ok(())
            };
        };
        let result = store.immediate(|| {
            self.own = store.own_keys()?;
            if due(&self.own, &self.policy) {
                self.new_sealing_key(now)?;
                // new_sealing_key saw no store: write the keys here, in the transaction.
                self.own
                    .iter()
                    .try_for_each(|key| store.save_own_key(key))?;
            }
            Ok(())
        });
        self.store = Some(store);
        result
    }

    /// The bundle to publish (rotates first when due; erases what is past keep_after).
    ///
    /// # Errors
    /// If a new key cannot be made or stored.
    pub fn bundle(&mut self, now: Timestamp) -> Result<KeyBundle, KeyError> {
        // Another process of this profile may have rotated: decided in one transaction.
        self.rotate_when(now, |own, policy| {
            own.last()
                .is_none_or(|key| after(key.created, policy.rotate_every) <= now)
        })?;
        self.erase_expired(now);
        self.own
            .last()
            .map(|key| key.bundle.clone())
            .ok_or(KeyError::Generate)
    }

    /// Erases retired sealing keys and room sessions past keep_after.
    pub(super) fn erase_expired(&mut self, now: Timestamp) {
        let keep = self.policy.keep_after;
        self.own
            .retain(|key| key.retired.is_none_or(|retired| after(retired, keep) > now));
        let live: BTreeSet<[u8; 32]> = self.own.iter().map(|key| key.public).collect();
        self.boxes.retain(|(mine, _), _| live.contains(mine));
        self.inbound
            .retain(|_, session| after(session.last_used, keep) > now);
        self.outbound
            .retain(|_, session| after(session.created, keep) > now);
        for peer in self.peers.values_mut() {
            peer.bundles
                .retain(|known| after(known.expires, keep) > now);
        }
        if let Some(store) = &self.store {
            let millis = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX);
            logged(store.erase(Timestamp(now.0.saturating_sub(millis))));
            let fresh = u64::try_from(super::LOOKUP_FRESH.as_millis()).unwrap_or(u64::MAX);
            logged(store.forget_lookups(Timestamp(now.0.saturating_sub(fresh))));
        }
    }

    /// Reads this device's sealing keys again (another process may have rotated).
    fn reload_own(&mut self) {
        if let Some(store) = &self.store
            && let Some(own) = logged(store.own_keys())
        {
            self.own = own;
        }
    }

    /// Whether a verified bundle of `owner` with this sealing key is known (a contact
    /// card's `keys` changed: fetch again when not).
    pub fn knows_key(&self, owner: ClientId, key: KeyId) -> bool {
        self.known(owner)
            .any(|known| KeyId::of(&known.sealing) == key)
    }

    fn known(&self, owner: ClientId) -> impl Iterator<Item = Known> + '_ {
        let own = (owner == self.me()).then(|| {
            self.own.iter().map(|key| Known {
                signing: key.bundle.signing,
                sealing: key.public,
                created: key.created,
                expires: key.bundle.expires,
            })
        });
        let peers = self
            .peers
            .get(&owner)
            .map(|peer| peer.bundles.iter().cloned());
        own.into_iter().flatten().chain(peers.into_iter().flatten())
    }

    /// Whether a verified, unexpired bundle of `to` is known.
    pub fn can_seal_to(&self, to: ClientId, now: Timestamp) -> bool {
        self.sealing_key_of(to, now).is_some()
    }

    fn sealing_key_of(&self, to: ClientId, now: Timestamp) -> Option<[u8; 32]> {
        self.known(to)
            .filter(|known| known.expires > now)
            .max_by_key(|known| known.created)
            .map(|known| known.sealing)
    }

    fn cached_box(&mut self, mine: usize, theirs: [u8; 32]) -> Option<&ChaChaBox> {
        let key = self.own.get(mine)?;
        let pair = (key.public, theirs);
        Some(
            self.boxes
                .entry(pair)
                .or_insert_with(|| ChaChaBox::new(&PublicKey::from(theirs), &key.secret)),
        )
    }

    /// Seals `payload` to `to`'s newest verified sealing key.
    ///
    /// # Errors
    /// [`SealError::NeedKeys`] when `to`'s bundles were never fetched,
    /// [`SealError::NoKeys`] when none is usable, [`SealError::TooLarge`].
    pub fn seal_direct(
        &mut self,
        to: ClientId,
        id: MsgId,
        payload: &Payload,
        now: Timestamp,
    ) -> Result<Sealed, SealError> {
        if !self.can_seal_to(to, now) {
            self.reload_peer(to);
        }
        let Some(theirs) = self.sealing_key_of(to, now) else {
            return Err(if to == self.me() || self.fetched_lately(to, now) {
                SealError::NoKeys(to)
            } else {
                SealError::NeedKeys(vec![to])
            });
        };
        let mine = self.own.len().checked_sub(1).ok_or(KeyError::Generate)?;
        let me = self.me();
        let from_key = self.own[mine].public;
        let to_key = KeyId::of(&theirs);
        let digest = envelope::direct_digest(&me, &to, id, &from_key, &to_key);
        let plain = envelope::plaintext(&digest, payload);
        let nonce: [u8; 24] = rand::random();
        let boxed = self.cached_box(mine, theirs).ok_or(KeyError::Generate)?;
        let ct = boxed
            .encrypt(&crypto_box::Nonce::from(nonce), plain.as_slice())
            .map_err(|_| SealError::TooLarge)?;
        envelope::finish(&Direct {
            v: VERSION,
            kind: Kind::Direct,
            from_key,
            to_key,
            nonce,
            ct: ByteBuf::from(ct),
        })
        .ok_or(SealError::TooLarge)
    }

    /// Opens a direct envelope the hub says `from` sent.
    ///
    /// # Errors
    /// Why it does not open ([`Problem`]); [`Problem::UnknownSender`] may only mean that
    /// `from`'s newest bundle is not fetched yet.
    pub fn open_direct(
        &mut self,
        from: ClientId,
        id: MsgId,
        sealed: &Sealed,
        now: Timestamp,
    ) -> Result<Payload, Problem> {
        let envelope = envelope::decode_direct(sealed)?;
        if !self.own.iter().any(|key| key.id == envelope.to_key) {
            self.reload_own();
            self.erase_expired(now);
        }
        let mine = self
            .own
            .iter()
            .position(|key| key.id == envelope.to_key)
            .ok_or(Problem::NotForMe)?;
        if !self
            .known(from)
            .any(|known| known.sealing == envelope.from_key)
        {
            self.reload_peer(from);
        }
        if !self
            .known(from)
            .any(|known| known.sealing == envelope.from_key)
        {
            return Err(Problem::UnknownSender);
        }
        let me = self.me();
        let digest = envelope::direct_digest(&from, &me, id, &envelope.from_key, &envelope.to_key);
        let boxed = self
            .cached_box(mine, envelope.from_key)
            .ok_or(Problem::NotForMe)?;
        let plain = Zeroizing::new(
            boxed
                .decrypt(
                    &crypto_box::Nonce::from(envelope.nonce),
                    envelope.ct.as_slice(),
                )
                .map_err(|_| Problem::Tampered)?,
        );
        envelope::read_plaintext(&digest, &plain)
    }

    /// Seals once for the room. `shares` are the [`Payload::RoomKey`]s to
    /// [`Keyring::seal_direct`] to members lacking the session (send them BEFORE the
    /// room message). Members whose bundles were fetched but are not usable are skipped
    /// (they cannot open this message).
    ///
    /// # Errors
    /// [`SealError::NeedKeys`] when members' bundles were never fetched (fetch, learn,
    /// retry); [`SealError::TooLarge`].
    pub fn seal_room(
        &mut self,
        room: Target,
        members: &[ClientId],
        id: MsgId,
        payload: &Payload,
        now: Timestamp,
    ) -> Result<RoomSealed, SealError> {
        let me = self.me();
        let unreachable = self.reachability(members, now)?;
        let Some(store) = self.store.take() else {
            return self.seal_room_now(room, members, id, payload, now, unreachable);
        };
        // Another process of this profile may seal to the room too: the session is
        // read, advanced and written back in one transaction.
        let result = store.immediate(|| {
            match store.outbound(&room)? {
                Some(session) => self.outbound.insert(room, session),
                None => self.outbound.remove(&room),
            };
            let sealed = self.seal_room_now(room, members, id, payload, now, unreachable)?;
            if let Some(session) = self.outbound.get(&room) {
                store.save_outbound(&room, session)?;
                let own = (me, session.session);
                if let Some(inbound) = self.inbound.get(&own) {
                    store.save_inbound(own.0, own.1, inbound)?;
                }
            }
            Ok(sealed)
        });
        self.store = Some(store);
        result
    }

    fn seal_room_now(
        &mut self,
        room: Target,
        members: &[ClientId],
        id: MsgId,
        payload: &Payload,
        now: Timestamp,
        unreachable: Vec<ClientId>,
    ) -> Result<RoomSealed, SealError> {
        let me = self.me();
        // A group session given to someone no longer a member is stale, even when the
        // session missed the end_room: that member must not read what follows.
        let dropped = |session: &Outbound| {
            matches!(room, Target::Group(_))
                && session.shared.iter().any(|held| !members.contains(held))
        };
        let stale = self.outbound.get(&room).is_none_or(|session| {
            session.index >= self.policy.room_messages
                || after(session.created, ROOM_SESSION_AGE) <= now
                || dropped(session)
        });
        if stale {
            self.start_room(room, now);
        }
        let signing = self.signing_public();
        let mut shares = Vec::new();
        let reachable: Vec<ClientId> = members
            .iter()
            .copied()
            .filter(|&member| {
                member != me
                    && !self
                        .outbound
                        .get(&room)
                        .is_some_and(|s| s.shared.contains(&member))
                    && self.can_seal_to(member, now)
            })
            .collect();
        let Some(session) = self.outbound.get_mut(&room) else {
            return Err(SealError::Store(KeyError::Generate));
        };
        for member in reachable {
            if session.shared.insert(member) {
                shares.push((
                    member,
                    Payload::RoomKey(RoomKey {
                        room,
                        session: session.session,
                        index: session.index,
                        chain: *session.chain,
                        signing,
                    }),
                ));
            }
        }
        let index = session.index;
        let session_id = session.session;
        let key = message_key(&session.chain);
        let digest = envelope::room_digest(&room, &me, &session_id, index, id);
        let plain = envelope::plaintext(&digest, payload);
        let nonce: [u8; 24] = rand::random();
        let cipher = XChaCha20Poly1305::new(&crypto_secretbox::Key::from(*key));
        let ct = cipher
            .encrypt(&crypto_secretbox::Nonce::from(nonce), plain.as_slice())
            .map_err(|_| SealError::TooLarge)?;
        session.chain = next_chain(&session.chain);
        session.index = index.saturating_add(1);
        let signed = envelope::room_signed(&room, &me, &session_id, index, &nonce, &ct, id);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(self.signing.sign(&signed).as_ref());
        let sealed = envelope::finish(&Room {
            v: VERSION,
            kind: Kind::Room,
            session: session_id,
            index,
            nonce,
            ct: ByteBuf::from(ct),
            sig,
        })
        .ok_or(SealError::TooLarge)?;
        Ok(RoomSealed {
            sealed,
            shares,
            unreachable,
        })
    }

    /// A new outbound session for `room`; this device keeps it inbound too, so that it
    /// opens its own messages when the hub hands them back.
    fn start_room(&mut self, room: Target, now: Timestamp) {
        let mut session = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut session);
        let mut chain = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut chain[..]);
        self.inbound.insert(
            (self.me(), session),
            Inbound {
                room,
                signing: self.signing_public(),
                first: 0,
                chain_first: chain.clone(),
                cursor: 0,
                chain_cursor: chain.clone(),
                opened: BTreeSet::new(),
                last_used: now,
                written: now,
            },
        );
        self.outbound.insert(
            room,
            Outbound {
                session,
                index: 0,
                chain,
                created: now,
                shared: BTreeSet::new(),
            },
        );
    }

    /// The room's membership changed: the next [`Keyring::seal_room`] starts a new
    /// session, which removed members never get.
    pub fn end_room(&mut self, room: Target) {
        self.outbound.remove(&room);
        if let Some(store) = &self.store {
            logged(store.end_outbound(&room));
        }
    }

    /// Opens a room envelope the hub says `from` sent to `room`.
    ///
    /// # Errors
    /// Why it does not open ([`Problem`]); [`Problem::NoRoomKey`] may only mean that
    /// the share has not arrived yet.
    pub fn open_room(
        &mut self,
        from: ClientId,
        room: Target,
        id: MsgId,
        sealed: &Sealed,
        now: Timestamp,
    ) -> Result<Opened, Problem> {
        let envelope = envelope::decode_room(sealed)?;
        let at = (from, envelope.session);
        if !self.inbound.contains_key(&at)
            && let Some(store) = &self.store
            && let Some(Some(session)) = logged(store.inbound(from, envelope.session))
        {
            self.inbound.insert(at, session);
        }
        let session = self.inbound.get_mut(&at).ok_or(Problem::NoRoomKey)?;
        if session.room != room {
            return Err(Problem::Tampered);
        }
        let signed = envelope::room_signed(
            &room,
            &from,
            &envelope.session,
            envelope.index,
            &envelope.nonce,
            &envelope.ct,
            id,
        );
        UnparsedPublicKey::new(&ED25519, &session.signing)
            .verify(&signed, &envelope.sig)
            .map_err(|_| Problem::BadSignature)?;
        let span = self.policy.room_messages.saturating_add(ROOM_SLACK);
        let (key, gap) = session.key_at(envelope.index, span)?;
        let cipher = XChaCha20Poly1305::new(&crypto_secretbox::Key::from(*key));
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    &crypto_secretbox::Nonce::from(envelope.nonce),
                    envelope.ct.as_slice(),
                )
                .map_err(|_| Problem::Tampered)?,
        );
        let digest = envelope::room_digest(&room, &from, &envelope.session, envelope.index, id);
        let payload = envelope::read_plaintext(&digest, &plain)?;
        // Replay marks are this keyring's own: another process of the profile opening
        // the same message is normal double delivery, which the session dedups by id.
        if session.due_for_touch(now) {
            if let Some(store) = &self.store {
                logged(store.touch_inbound(from, envelope.session, now));
            }
            session.written = now;
        }
        // In memory it is exact: the bounds drop the least recently used sessions.
        session.last_used = now;
        session.mark(envelope.index);
        Ok(Opened {
            payload,
            index: envelope.index,
            gap,
        })
    }

    /// Takes a room session `from` shared (its [`Payload::RoomKey`], from a direct
    /// envelope `from` sealed). Its signing key must be in one of `from`'s verified
    /// bundles.
    ///
    /// # Errors
    /// [`Problem::UnknownSender`] when the signing key is not `from`'s.
    pub fn accept_room_key(
        &mut self,
        from: ClientId,
        key: RoomKey,
        now: Timestamp,
    ) -> Result<(), Problem> {
        if !self.known(from).any(|known| known.signing == key.signing) {
            self.reload_peer(from);
        }
        if !self.known(from).any(|known| known.signing == key.signing) {
            return Err(Problem::UnknownSender);
        }
        // No sender's session gets that far: walking to it would cost the receiver.
        if key.index > self.policy.room_messages.saturating_add(ROOM_SLACK) {
            return Err(Problem::TooFarAhead);
        }
        if let Some(have) = self.inbound.get(&(from, key.session))
            && (have.room != key.room || have.first <= key.index)
        {
            return Ok(());
        }
        let chain = Zeroizing::new(key.chain);
        let opened = self
            .inbound
            .remove(&(from, key.session))
            .map(|old| old.opened)
            .unwrap_or_default();
        let session = Inbound {
            room: key.room,
            signing: key.signing,
            first: key.index,
            chain_first: chain.clone(),
            cursor: key.index,
            chain_cursor: chain,
            opened,
            last_used: now,
            written: now,
        };
        let room = session.room;
        if let Some(store) = &self.store {
            logged(store.save_inbound(from, key.session, &session));
        }
        self.inbound.insert((from, key.session), session);
        self.bound_inbound(from, room, key.session);
        Ok(())
    }
}
