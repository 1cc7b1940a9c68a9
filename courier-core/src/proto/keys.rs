//! Wire types for end-to-end encryption: a device's signed public keys
//! ([`KeyBundle`]), their short id ([`KeyId`]) and an opaque sealed envelope
//! ([`Sealed`]). What is inside an envelope, and how bundles are signed and checked,
//! is `crate::seal`'s business: the hub only carries these bytes.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::id::Timestamp;

/// Largest sealed envelope, in bytes: the longest text ([`crate::limits::MAX_TEXT`])
/// or the longest list of file names ([`crate::limits::MAX_MANIFEST_BYTES`]) plus
/// room for the envelope's header and tag.
pub const MAX_SEALED: usize = crate::limits::MAX_MANIFEST_BYTES + 1024;

/// Largest sealed message, in bytes: the longest text ([`crate::limits::MAX_TEXT`]) plus
/// room for the envelope's header and tag. The hub refuses an empty envelope or a longer
/// one ([`RejectReason::BadText`](super::RejectReason::BadText)).
pub const MAX_SEALED_TEXT: usize = crate::limits::MAX_TEXT + 1024;

/// The [`KeyBundle::version`] this build writes and the hub accepts.
pub const BUNDLE_VERSION: u8 = 1;

/// Largest certificate a [`KeyBundle`] may carry, in bytes.
pub const MAX_BUNDLE_CERT: usize = 2048;

/// Largest signature a [`KeyBundle`] may carry, in bytes (an ASN.1 ECDSA P-256
/// signature is at most 72).
pub const MAX_BUNDLE_SIGNATURE: usize = 128;

/// A device's public keys for end-to-end encryption, signed by the key of its
/// certificate (the certificate whose SHA-256 is the device's
/// [`ClientId`](super::ClientId)). The hub stores and hands these out; clients check the
/// certificate's fingerprint and the signature before they seal anything to them.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBundle {
    /// The bundle format (1 for now).
    pub version: u8,
    /// The device's certificate, DER ([`MAX_BUNDLE_CERT`] bytes at most).
    #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_bytes))]
    pub cert: ByteBuf,
    /// The Ed25519 public key that signs the device's group messages.
    #[serde(with = "serde_bytes")]
    pub signing: [u8; 32],
    /// The X25519 public key that direct envelopes are sealed to.
    #[serde(with = "serde_bytes")]
    pub sealing: [u8; 32],
    /// When the sealing key was made (the device's clock).
    pub created: Timestamp,
    /// After this, nobody seals to the sealing key any more.
    pub expires: Timestamp,
    /// The certificate key's signature over everything above
    /// ([`MAX_BUNDLE_SIGNATURE`] bytes at most).
    #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_bytes))]
    pub signature: ByteBuf,
}

impl KeyBundle {
    /// The short id of this bundle's sealing key (what contact lists carry).
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.sealing)
    }

    /// Whether the variable-length fields are within their bounds (the hub's first
    /// check; the signature is checked by `crate::seal`).
    pub fn within_bounds(&self) -> bool {
        self.cert.len() <= MAX_BUNDLE_CERT && self.signature.len() <= MAX_BUNDLE_SIGNATURE
    }
}

/// The short id of a sealing key: the first 8 bytes of its SHA-256. Contact lists
/// carry it, so that clients see when a contact's keys changed and fetch them again.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct KeyId(#[serde(with = "serde_bytes")] pub [u8; 8]);

impl KeyId {
    /// The id of this public key.
    pub fn of(public: &[u8; 32]) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(public);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self(id)
    }
}

/// A sealed envelope: bytes only the addressed devices can open. The hub routes,
/// stores and counts them, and never looks inside.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(
    #[cfg_attr(any(test, feature = "arbitrary"), arbitrary(with = arbitrary_bytes))] pub ByteBuf,
);

impl Sealed {
    /// The envelope's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// How many bytes the envelope holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the envelope holds nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the envelope can carry a message: not empty, at most [`MAX_SEALED_TEXT`]
    /// bytes (the hub's whole check of a message).
    pub fn fits_message(&self) -> bool {
        !self.0.is_empty() && self.0.len() <= MAX_SEALED_TEXT
    }

    /// Whether the envelope is within [`MAX_SEALED`].
    pub fn within_bounds(&self) -> bool {
        self.0.len() <= MAX_SEALED
    }
}

impl From<Vec<u8>> for Sealed {
    fn from(bytes: Vec<u8>) -> Self {
        Self(ByteBuf::from(bytes))
    }
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

#[cfg(any(test, feature = "arbitrary"))]
fn arbitrary_bytes(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<ByteBuf> {
    Ok(ByteBuf::from(<Vec<u8> as arbitrary::Arbitrary>::arbitrary(
        u,
    )?))
}
