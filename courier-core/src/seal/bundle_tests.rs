//! Key bundles: lifetimes a careful client refuses, and the check the hub can run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::identity::Identity;
use crate::proto::Timestamp;

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const DAY: u64 = 24 * 60 * 60 * 1000;

fn keyring() -> Keyring {
    Keyring::in_memory(&Identity::generate().unwrap(), KeyPolicy::default(), NOW).unwrap()
}

#[test]
fn a_bundle_that_lives_for_centuries_is_refused() {
    let owner = Identity::generate().unwrap();
    let mut me = keyring();
    let forever = bundle::sign(
        &owner,
        [1; 32],
        [2; 32],
        NOW,
        Timestamp(253_402_300_799_000),
    )
    .unwrap();
    assert_eq!(
        me.learn(owner.id(), &[forever], NOW),
        Err(BundleError::TooLong)
    );
    assert!(!me.can_seal_to(owner.id(), NOW));
}

#[test]
fn a_bundle_made_in_the_future_is_refused() {
    let owner = Identity::generate().unwrap();
    let mut me = keyring();
    let created = Timestamp(NOW.0 + 2 * DAY);
    let ahead = bundle::sign(
        &owner,
        [1; 32],
        [2; 32],
        created,
        Timestamp(created.0 + 30 * DAY),
    )
    .unwrap();
    assert_eq!(
        me.learn(owner.id(), &[ahead], NOW),
        Err(BundleError::FromTheFuture)
    );
    // A clock a few minutes ahead is fine.
    let created = Timestamp(NOW.0 + 60_000);
    let close = bundle::sign(
        &owner,
        [1; 32],
        [3; 32],
        created,
        Timestamp(created.0 + 30 * DAY),
    )
    .unwrap();
    me.learn(owner.id(), &[close], NOW).expect("a little ahead");
}

#[test]
fn verify_bundle_checks_owner_signature_and_lifetime_for_the_hub() {
    let owner = Identity::generate().unwrap();
    let mut keys = Keyring::in_memory(&owner, KeyPolicy::default(), NOW).unwrap();
    let real = keys.bundle(NOW).unwrap();
    assert_eq!(verify_bundle(&real, owner.id(), NOW), Ok(()));
    let other = keyring().bundle(NOW).unwrap();
    assert_eq!(
        verify_bundle(&other, owner.id(), NOW),
        Err(BundleError::FingerprintMismatch)
    );
    let mut altered = real.clone();
    altered.sealing = [9; 32];
    assert_eq!(
        verify_bundle(&altered, owner.id(), NOW),
        Err(BundleError::BadSignature)
    );
    assert_eq!(
        verify_bundle(&real, owner.id(), Timestamp(real.expires.0 + 1)),
        Err(BundleError::Expired)
    );
}
