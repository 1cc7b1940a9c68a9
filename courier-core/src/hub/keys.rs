//! Members' published keys ([`KeyBundle`]s): the hub checks what it can without trusting
//! anyone (the format, the bounds, and that the certificate in the bundle is the one the
//! member logged in with), keeps the newest [`KEPT_BUNDLES`] distinct ones per member
//! (in memory and in its database), shows the newest's [`KeyId`](crate::proto::KeyId) in
//! contact cards, and hands them out on request ([`ClientFrame::GetKeys`]). A published
//! bundle must also carry its certificate's signature and a sane lifetime (at most 400
//! days, made at most a day ahead of the hub's clock: [`crate::seal::verify_bundle`]), so
//! a member cannot park a key that never ends. Clients check the signature themselves
//! before they seal anything to a key: the hub is not trusted with that.
//!
//! Every pool has a per-member share: a member holds at most [`KEPT_BUNDLES`] bundles of
//! at most a few KiB each (a flood of publishes only replaces its own), publishes are
//! rate-limited like profile changes, and requests like pictures (answered as the
//! asker's outbox drains).
//!
//! [`ClientFrame::GetKeys`]: crate::proto::ClientFrame::GetKeys

use std::time::Instant;

use super::paced::Paced;
use super::{ConnId, Hub};
use crate::proto::{BUNDLE_VERSION, ClientId, ErrorCode, KeyBundle, ServerFrame, Timestamp};

/// How many distinct bundles the hub keeps per member (the newest): enough for clients
/// to open what was sealed to a key shortly before a rotation.
pub(crate) const KEPT_BUNDLES: usize = 4;

/// Why a published bundle was refused (sent back as [`ErrorCode::InvalidKeys`]): the
/// checks of [`refusal`], then its signature and lifetime at the hub's clock `wall`.
fn publish_refusal(bundle: &KeyBundle, client: ClientId, wall: Timestamp) -> Option<String> {
    if let Some(why) = refusal(bundle, client) {
        return Some(why.to_owned());
    }
    crate::seal::verify_bundle(bundle, client, wall)
        .err()
        .map(|e| e.to_string())
}

/// Why a bundle cannot be kept at all (also checked when bundles are restored from the
/// database, where they were fully checked when published).
fn refusal(bundle: &KeyBundle, client: ClientId) -> Option<&'static str> {
    if bundle.version != BUNDLE_VERSION {
        Some("unknown key bundle version")
    } else if !bundle.within_bounds() {
        Some("the key bundle is too large")
    } else if bundle.expires <= bundle.created {
        Some("the key bundle expires before it starts")
    } else if crate::identity::fingerprint(&bundle.cert) != client {
        Some("the key bundle's certificate is not this device's")
    } else {
        None
    }
}

/// `bundles` with `new` among them: a bundle for the same sealing key is replaced; newest
/// (by `created`) first, at most [`KEPT_BUNDLES`].
pub(crate) fn with_bundle(bundles: &[KeyBundle], new: KeyBundle) -> Vec<KeyBundle> {
    let mut list: Vec<KeyBundle> = bundles
        .iter()
        .filter(|b| b.sealing != new.sealing)
        .cloned()
        .collect();
    list.push(new);
    list.sort_by_key(|b| std::cmp::Reverse(b.created));
    list.truncate(KEPT_BUNDLES);
    list
}

impl Hub {
    /// `client` publishes its keys: checked, kept, and its contact card updated for
    /// everyone if its newest key changed.
    pub(super) fn publish_keys(
        &mut self,
        conn: ConnId,
        client: ClientId,
        bundle: KeyBundle,
        now: Instant,
    ) {
        let allowed = self
            .conns
            .get_mut(&conn)
            .is_some_and(|c| c.publish.take(now));
        if !allowed {
            self.over_allowance(conn, now);
            let why = "keys are published at most once a second";
            return self.error(conn, ErrorCode::RateLimited, why, now);
        }
        if let Some(why) = publish_refusal(&bundle, client, self.wall(now)) {
            return self.error(conn, ErrorCode::InvalidKeys, &why, now);
        }
        let Some(known) = self.directory.get(&client) else {
            return;
        };
        let before = known.bundles.first().map(KeyBundle::key_id);
        let list = with_bundle(&known.bundles, bundle);
        if list == known.bundles {
            // The same keys again (every login publishes them): nothing changes.
            return;
        }
        let newest = list.first().map(KeyBundle::key_id);
        let wall = self.wall(now);
        self.directory.set_bundles(client, list, wall);
        if newest != before {
            self.announce(client, now);
        }
    }

    /// `client` asks for `id`'s keys: answered as its outbox drains (empty for an id the
    /// hub does not know).
    pub(super) fn get_keys(&mut self, conn: ConnId, _client: ClientId, id: ClientId, now: Instant) {
        let allowed = self.conns.get_mut(&conn).is_some_and(|c| c.keys.take(now));
        if !allowed || !self.send_paced(conn, Paced::Keys(id), now) {
            self.over_allowance(conn, now);
            let why = "keys are asked for at most a few per second: ask again later";
            self.error(conn, ErrorCode::RateLimited, why, now);
        }
    }

    /// The answer to a request for `id`'s keys, as they are when it goes out.
    pub(super) fn keys_frame(&self, id: ClientId) -> ServerFrame {
        let bundles = self
            .directory
            .get(&id)
            .map(|k| k.bundles.clone())
            .unwrap_or_default();
        ServerFrame::Keys { id, bundles }
    }

    /// Takes back the bundles kept in the hub's database ([`db::Db::bundles`](super::db::Db::bundles),
    /// after the members): those of members no longer known are forgotten.
    pub fn restore_keys(&mut self, bundles: Vec<(ClientId, KeyBundle)>) {
        for (id, bundle) in bundles {
            let Some(known) = self.directory.get(&id) else {
                continue;
            };
            if refusal(&bundle, id).is_some() {
                continue;
            }
            let list = with_bundle(&known.bundles, bundle);
            self.directory.restore_bundles(id, list);
        }
    }
}

impl Hub {
    /// How many days the hub keeps what waits for offline members (told at login, so
    /// that clients keep rotated private keys that long).
    pub(super) fn offline_days(&self) -> u32 {
        let secs = self.config.offline_max_age.as_secs();
        u32::try_from(secs.div_ceil(24 * 3600)).unwrap_or(u32::MAX)
    }
}
