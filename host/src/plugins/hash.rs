//! Content addresses: sha256 digests of components and of canonical inputs.

use sha2::{Digest as _, Sha256};
use std::fmt;

/// The sha256 of a component's bytes, shown as `sha256:<64 hex>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Parse `sha256:<hex>` (or bare hex).
    pub fn parse(text: &str) -> Option<Self> {
        let hex_part = text.strip_prefix("sha256:").unwrap_or(text);
        let bytes = hex::decode(hex_part).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short form for logs: the first 12 hex digits.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// A canonical, unambiguous hasher for evaluation inputs: every field is length-prefixed,
/// so no two different inputs feed the same bytes. Used for the result cache key and for
/// the input hash recorded with each ledger entry.
#[derive(Default)]
pub struct InputHasher(Sha256);

impl InputHasher {
    /// Feed a string.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
        self
    }

    /// Feed an optional string (absent differs from empty).
    pub fn opt(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            None => self.0.update([0u8]),
            Some(s) => {
                self.0.update([1u8]);
                self.str(s);
            }
        }
        self
    }

    /// Feed an integer.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.0.update(v.to_le_bytes());
        self
    }

    /// Feed a decimal by its exact parts.
    pub fn dec(&mut self, d: rust_decimal::Decimal) -> &mut Self {
        self.0.update(d.serialize());
        self
    }

    /// The 32-byte result.
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_round_trips_through_text() {
        let d = Digest::of(b"hello");
        assert_eq!(Digest::parse(&d.to_string()), Some(d.clone()));
        assert_eq!(Digest::parse("sha256:zz"), None);
        assert_eq!(d.short().len(), 12);
    }

    #[test]
    fn length_prefixes_keep_inputs_apart() {
        let mut a = InputHasher::default();
        a.str("ab").str("c");
        let mut b = InputHasher::default();
        b.str("a").str("bc");
        assert_ne!(a.finish(), b.finish());
    }
}
