//! Safety numbers: 60 digits two people compare (read aloud, side by side, or by
//! scanning a QR code) to know that the devices their clients seal to are each other's,
//! and not a device a hub slipped in between.
//!
//! The algorithm is Signal's numeric fingerprint (version 0 of its display form): for each
//! party, SHA-512 over `0x00 0x00 || key || stable id || key`, then 5 199 more rounds of
//! SHA-512 over `previous hash || key`; the first 30 bytes of the result, read as six
//! 5-byte big-endian numbers each taken modulo 100 000, give that party's 30 digits. The
//! two halves are put in sorted order, so both sides see the same 60 digits. Courier's key
//! and stable id are both the device's [`ClientId`] (the certificate fingerprint people
//! already pin): the key as its 32 bytes, the stable id as its hex text.

use std::fmt;

use sha2::{Digest, Sha512};

use crate::proto::ClientId;

/// Rounds of SHA-512 per party (Signal's figure).
pub const ITERATIONS: u32 = 5200;

/// Digits in a safety number.
pub const DIGITS: usize = 60;

/// Digits in one group as people read them.
pub const GROUP: usize = 5;

/// The prefix of [`SafetyNumber::qr_payload`]; the number after it is the version.
pub const QR_PREFIX: &str = "courier-safety:1:";

/// The safety number of two devices: the same 60 digits whichever side computes it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafetyNumber {
    digits: String,
}

impl SafetyNumber {
    /// The safety number between the devices `a` and `b` (order does not matter).
    pub fn between(a: ClientId, b: ClientId) -> Self {
        Self::from_parts(&a.0, a.to_hex().as_bytes(), &b.0, b.to_hex().as_bytes())
    }

    /// The safety number of two parties given as (key bytes, stable id bytes), the form
    /// Signal's algorithm takes: [`SafetyNumber::between`] is this with Courier's choice of
    /// key and id. Order does not matter.
    pub fn from_parts(a_key: &[u8], a_id: &[u8], b_key: &[u8], b_id: &[u8]) -> Self {
        let a = half(a_key, a_id);
        let b = half(b_key, b_id);
        let digits = if a <= b { a + &b } else { b + &a };
        Self { digits }
    }

    /// The 60 digits, no spaces.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The 12 groups of 5 digits people compare.
    pub fn groups(&self) -> Vec<&str> {
        (0..DIGITS / GROUP)
            .filter_map(|i| self.digits.get(i * GROUP..(i + 1) * GROUP))
            .collect()
    }

    /// The groups as 3 lines of 4 groups (how the CLI and the app lay them out).
    pub fn lines(&self) -> Vec<String> {
        self.groups().chunks(4).map(|line| line.join(" ")).collect()
    }

    /// What a QR code of this number holds: [`QR_PREFIX`] then the 60 digits.
    pub fn qr_payload(&self) -> String {
        format!("{QR_PREFIX}{}", self.digits)
    }
}

/// "12345 67890 …" in 3 lines of 4 groups.
impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

impl fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyNumber({})", self.digits)
    }
}

/// One party's 30 digits.
fn half(key: &[u8], id: &[u8]) -> String {
    let mut hash = Sha512::new()
        .chain_update([0u8, 0u8])
        .chain_update(key)
        .chain_update(id)
        .chain_update(key)
        .finalize();
    for _ in 1..ITERATIONS {
        hash = Sha512::new()
            .chain_update(hash)
            .chain_update(key)
            .finalize();
    }
    let mut out = String::with_capacity(DIGITS / 2);
    for chunk in hash.chunks_exact(5).take(6) {
        let n = chunk.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
        out.push_str(&format!("{:05}", n % 100_000));
    }
    out
}

#[cfg(test)]
mod tests;
