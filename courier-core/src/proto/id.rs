//! Identifiers and timestamps.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A client's identity: the SHA-256 fingerprint of its TLS certificate.
///
/// The hub learns it from the TLS handshake, never from a field the client writes, so
/// it cannot be forged without the client's private key. It is stable across restarts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct ClientId(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl ClientId {
    /// The short form shown to people: the first 8 bytes in hex.
    pub fn short(&self) -> String {
        hex(self.0.get(..8).unwrap_or_default())
    }

    /// The full fingerprint in hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Whether the hex form of this id starts with `prefix` (case-insensitive).
    pub fn matches_prefix(&self, prefix: &str) -> bool {
        !prefix.is_empty() && self.to_hex().starts_with(&prefix.to_ascii_lowercase())
    }

    /// A short numeric code people can read aloud to compare fingerprints
    /// ("safety code"): four groups of four digits.
    pub fn safety_code(&self) -> String {
        let mut n = 0u64;
        for b in self.0.iter().take(8) {
            n = (n << 8) | u64::from(*b);
        }
        let digits = format!("{:016}", n % 10_000_000_000_000_000);
        let groups: Vec<&str> = (0..4)
            .filter_map(|i| digits.get(i * 4..i * 4 + 4))
            .collect();
        groups.join(" ")
    }

    /// Parses the full 64-character hex form.
    pub fn from_hex(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.short())
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A message id chosen by the sender, unique among that sender's messages.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct MsgId(pub u64);

impl MsgId {
    /// The bit that marks the ids of room key shares (a session's own, never shown):
    /// message ids a person sends never have it.
    pub const SHARE_BIT: u64 = 1 << 63;

    /// A fresh random id for a message (never a key share's: the top bit is clear).
    pub fn random() -> Self {
        Self(rand::random::<u64>() & !Self::SHARE_BIT)
    }

    /// Whether this is a room key share's id (from the reserved space).
    pub fn is_share(self) -> bool {
        self.0 & Self::SHARE_BIT != 0
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Wall-clock time in milliseconds since the Unix epoch, as stamped by the hub.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Self(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_prefix() {
        let id = ClientId([0xab; 32]);
        assert_eq!(ClientId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(id.short(), "abababababababab");
        assert!(id.matches_prefix("ABAB"));
        assert!(!id.matches_prefix(""));
        assert!(!id.matches_prefix("abc0"));
        assert_eq!(ClientId::from_hex("zz"), None);
    }

    #[test]
    fn safety_code_shape_and_sensitivity() {
        let a = ClientId([1; 32]).safety_code();
        let b = ClientId([2; 32]).safety_code();
        assert_eq!(a.len(), 19);
        assert_eq!(a.split(' ').count(), 4);
        assert!(
            a.split(' ')
                .all(|g| g.len() == 4 && g.bytes().all(|c| c.is_ascii_digit()))
        );
        assert_ne!(a, b);
    }
}
