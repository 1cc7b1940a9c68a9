//! Key bundles: signed with the certificate's own key (ECDSA P-256), checked with
//! the certificate the bundle carries, whose fingerprint must be the owner's id.

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use serde_bytes::ByteBuf;

use super::envelope::cbor;
use super::{BundleError, KeyError};
use crate::identity::{Identity, fingerprint};
use crate::proto::{ClientId, KeyBundle, Timestamp};

/// The longest a bundle may live (created to expires): far more than any policy makes
/// (rotation plus the hub's offline days plus grace), far less than forever.
const MAX_LIFE: u64 = 400 * 24 * 60 * 60 * 1000;

/// How far a bundle's creation may be ahead of this device's clock (clocks differ).
const MAX_AHEAD: u64 = 24 * 60 * 60 * 1000;

/// The bundle format this build writes and reads.
pub(super) const BUNDLE_VERSION: u8 = 1;

/// What the certificate's key signs.
#[derive(Serialize)]
struct Signed<'a> {
    context: &'static str,
    version: u8,
    #[serde(with = "serde_bytes")]
    cert: &'a [u8],
    #[serde(with = "serde_bytes")]
    signing: &'a [u8; 32],
    #[serde(with = "serde_bytes")]
    sealing: &'a [u8; 32],
    created: Timestamp,
    expires: Timestamp,
}

fn signed_bytes(bundle: &KeyBundle) -> Vec<u8> {
    cbor(&Signed {
        context: "courier key bundle v1",
        version: bundle.version,
        cert: &bundle.cert,
        signing: &bundle.signing,
        sealing: &bundle.sealing,
        created: bundle.created,
        expires: bundle.expires,
    })
}

/// A bundle for these public keys, signed by `identity`'s certificate key.
pub(super) fn sign(
    identity: &Identity,
    signing: [u8; 32],
    sealing: [u8; 32],
    created: Timestamp,
    expires: Timestamp,
) -> Result<KeyBundle, KeyError> {
    let PrivateKeyDer::Pkcs8(key) = identity.key() else {
        return Err(KeyError::IdentityKey);
    };
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        key.secret_pkcs8_der(),
        &rng,
    )
    .map_err(|_| KeyError::IdentityKey)?;
    let mut bundle = KeyBundle {
        version: BUNDLE_VERSION,
        cert: ByteBuf::from(identity.cert().to_vec()),
        signing,
        sealing,
        created,
        expires,
        signature: ByteBuf::new(),
    };
    let signature = pair
        .sign(&rng, &signed_bytes(&bundle))
        .map_err(|_| KeyError::IdentityKey)?;
    bundle.signature = ByteBuf::from(signature.as_ref().to_vec());
    Ok(bundle)
}

/// Checks a bundle the hub handed out for `owner`: version, bounds, fingerprint and
/// signature (not its age: an expired bundle still opens what was sealed before).
pub(super) fn verify(owner: ClientId, bundle: &KeyBundle) -> Result<(), BundleError> {
    if bundle.version != BUNDLE_VERSION {
        return Err(BundleError::UnknownVersion(bundle.version));
    }
    if !bundle.within_bounds() {
        return Err(BundleError::Malformed);
    }
    if fingerprint(&bundle.cert) != owner {
        return Err(BundleError::FingerprintMismatch);
    }
    let der = CertificateDer::from(bundle.cert.as_slice());
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| BundleError::Malformed)?;
    cert.verify_signature(
        webpki::ring::ECDSA_P256_SHA256,
        &signed_bytes(bundle),
        &bundle.signature,
    )
    .map_err(|_| BundleError::BadSignature)
}

/// Checks a (verified) bundle's lifetime: not longer than [`MAX_LIFE`], not made
/// more than [`MAX_AHEAD`] in the future, not past its end at `now`.
pub(super) fn check_life(bundle: &KeyBundle, now: Timestamp) -> Result<(), BundleError> {
    if bundle.expires.0.saturating_sub(bundle.created.0) > MAX_LIFE {
        return Err(BundleError::TooLong);
    }
    if bundle.created.0 > now.0.saturating_add(MAX_AHEAD) {
        return Err(BundleError::FromTheFuture);
    }
    if bundle.expires <= now {
        return Err(BundleError::Expired);
    }
    Ok(())
}
