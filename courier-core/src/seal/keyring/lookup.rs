//! Looking up members' keys: a look-up is good for a while ([`LOOKUP_FRESH`]); after
//! that, a member without a usable bundle (none published, or expired) is asked for
//! again instead of being skipped forever.

use super::{Keyring, Known, logged};
use crate::proto::{ClientId, KeyBundle, Timestamp};
use crate::seal::{BundleError, LOOKUP_FRESH, SealError, bundle};

impl Keyring {
    /// Whether `owner`'s bundles were fetched less than [`LOOKUP_FRESH`] ago.
    pub(super) fn fetched_lately(&self, owner: ClientId, now: Timestamp) -> bool {
        self.peers
            .get(&owner)
            .and_then(|peer| peer.looked_up)
            .is_some_and(|at| super::after(at, LOOKUP_FRESH) > now)
    }

    /// Sorts a room's members: [`SealError::NeedKeys`] for those to fetch (never, or
    /// not lately, looked up, and no usable bundle); otherwise those fetched lately that
    /// still have no usable bundle (they cannot be reached now).
    pub(super) fn reachability(
        &mut self,
        members: &[ClientId],
        now: Timestamp,
    ) -> Result<Vec<ClientId>, SealError> {
        let me = self.me();
        // Cheapest test first: members with a usable bundle are most of a room.
        let lacking: Vec<ClientId> = members
            .iter()
            .copied()
            .filter(|&member| member != me && !self.can_seal_to(member, now))
            .collect();
        for &member in &lacking {
            if !self.fetched_lately(member, now) {
                // Another process of this profile may have fetched them.
                self.reload_peer(member);
            }
        }
        let (unreachable, need): (Vec<ClientId>, Vec<ClientId>) = lacking
            .into_iter()
            .filter(|&member| !self.can_seal_to(member, now))
            .partition(|&member| self.fetched_lately(member, now));
        if need.is_empty() {
            Ok(unreachable)
        } else {
            Err(SealError::NeedKeys(need))
        }
    }

    /// Reads `owner`'s bundles again from keys.db (another process may have learned
    /// them).
    pub(super) fn reload_peer(&mut self, owner: ClientId) {
        let Some(store) = &self.store else { return };
        if let Some((looked_up, bundles)) = logged(store.peer(owner)) {
            let peer = self.peers.entry(owner).or_default();
            peer.looked_up = peer.looked_up.max(looked_up);
            for known in bundles {
                if !peer.bundles.iter().any(|k| k.sealing == known.sealing) {
                    peer.bundles.push(known);
                }
            }
        }
    }

    /// Checks bundles the hub handed out for `owner`; remembers those that verify. Err
    /// when none verifies, or all that do have expired (BundleError says why).
    ///
    /// # Errors
    /// The first bundle's fault when none is usable ([`BundleError::Missing`] for none).
    pub fn learn(
        &mut self,
        owner: ClientId,
        bundles: &[KeyBundle],
        now: Timestamp,
    ) -> Result<(), BundleError> {
        let peer = self.peers.entry(owner).or_default();
        peer.looked_up = Some(peer.looked_up.map_or(now, |at| at.max(now)));
        let mut first_error = None;
        let mut usable = false;
        for candidate in bundles {
            if let Err(error) = bundle::verify(owner, candidate) {
                first_error.get_or_insert(error);
                continue;
            }
            match bundle::check_life(candidate, now) {
                Ok(()) => usable = true,
                // An expired bundle is kept: it opens what was sealed before its end.
                Err(BundleError::Expired) => {
                    first_error.get_or_insert(BundleError::Expired);
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                    continue;
                }
            }
            if !peer
                .bundles
                .iter()
                .any(|known| known.sealing == candidate.sealing)
            {
                peer.bundles.push(Known {
                    signing: candidate.signing,
                    sealing: candidate.sealing,
                    created: candidate.created,
                    expires: candidate.expires,
                });
            }
        }
        if let Some(store) = &self.store {
            logged(store.save_peer(owner, &peer.bundles, now));
        }
        if usable {
            Ok(())
        } else {
            Err(first_error.unwrap_or(BundleError::Missing))
        }
    }
}
