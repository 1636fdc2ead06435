//! Secrets at rest: partners' bank details and TINs, sealed with XChaCha20-Poly1305 under
//! the deployment's key (`ACCRUE_SECRETS_KEY`), never stored or logged in the clear.
//!
//! A sealed value is `v1.<key_id>.<base64url(nonce || ciphertext)>`: the version lets the
//! format change, the key id says which key sealed it (so a service started with another
//! key says so instead of failing on a tag mismatch), and the associated data (the partner
//! id) binds it to its owner, so a value copied into another partner's row does not open.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// The environment variable that holds the key.
pub const SECRETS_KEY_VAR: &str = "ACCRUE_SECRETS_KEY";

/// The format tag of sealed values.
const VERSION: &str = "v1";
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;

/// Why a key given as text is not one (the text itself is never repeated: it is a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{SECRETS_KEY_VAR} is not a key: expected 32 bytes as 64 hexadecimal digits or as standard \
     base64 (44 characters); got {length} characters (generate one with `openssl rand -hex 32`)"
)]
pub struct KeyTextError {
    /// How long the text was, the only thing said about it.
    pub length: usize,
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not of the `v1.<key id>.<base64url>` shape.
    #[error("not a sealed value of this service (expected v1.<key id>.<data>)")]
    Malformed,
    /// Sealed under another key than this service's.
    #[error(
        "sealed with the key {sealed_with}, but this service has the key {current}: start it \
         with the {SECRETS_KEY_VAR} the value was sealed with"
    )]
    OtherKey {
        /// The key id in the value.
        sealed_with: String,
        /// This service's key id.
        current: String,
    },
    /// The right key id, but the value does not authenticate: altered, or sealed for
    /// another owner (associated data).
    #[error("the sealed value does not authenticate: altered, or sealed for another owner")]
    Forged,
}

/// Seals and opens secrets under one 32-byte key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    key_id: String,
}

impl std::fmt::Debug for Sealer {
    // Never the key: only its public id.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer over `key`.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
            key_id: hex::encode(&Sha256::digest(key)[..4]),
        }
    }

    /// A sealer over a key written as 64 hex digits or standard base64 of 32 bytes
    /// (surrounding white space ignored, as a key pasted into a file often ends in a newline).
    pub fn from_key_text(text: &str) -> Result<Self, KeyTextError> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            hex::decode(text).ok()
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| STANDARD_NO_PAD.decode(text))
                .ok()
        };
        bytes
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(|key| Self::new(&key))
            .ok_or(KeyTextError {
                length: text.chars().count(),
            })
    }

    /// The sealer of the key in [`SECRETS_KEY_VAR`], `None` when it is unset or empty.
    pub fn from_env() -> Result<Option<Self>, KeyTextError> {
        match std::env::var(SECRETS_KEY_VAR) {
            Ok(text) if !text.trim().is_empty() => Self::from_key_text(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// The key's public id: the first 8 hex digits of its sha256.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seal `plaintext` for the owner `aad` (a partner id): `v1.<key_id>.<base64url>`.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> String {
        let nonce = nonce();
        // Encryption fails only for messages beyond the cipher's limit (256 GiB).
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut data = nonce.to_vec();
        data.extend_from_slice(&sealed);
        format!("{VERSION}.{}.{}", self.key_id, URL_SAFE_NO_PAD.encode(data))
    }

    /// Open a value sealed for the owner `aad`.
    pub fn open(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(key_id), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(OpenError::Malformed);
        };
        if key_id != self.key_id {
            return Err(OpenError::OtherKey {
                sealed_with: key_id.to_owned(),
                current: self.key_id.clone(),
            });
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| OpenError::Malformed)?;
        if bytes.len() < NONCE_BYTES + TAG_BYTES {
            return Err(OpenError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Forged)
    }
}

/// A fresh random nonce. XChaCha's 192 bits make a collision among random nonces
/// negligible; should the system's randomness fail, the nonce is made unique instead (a
/// counter, the process id and the time), since a nonce must never repeat under one key.
fn nonce() -> [u8; NONCE_BYTES] {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut nonce = [0u8; NONCE_BYTES];
    if getrandom::fill(&mut nonce).is_err() {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        nonce[..8].copy_from_slice(&n.to_le_bytes());
        nonce[8..12].copy_from_slice(&std::process::id().to_le_bytes());
        nonce[12..24].copy_from_slice(&nanos.to_le_bytes()[..12]);
    }
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn seals_and_opens_for_the_same_owner_only() {
        let s = Sealer::from_key_text(HEX).expect("hex key");
        let sealed = s.seal("alice", b"DE89370400440532013000");
        assert!(sealed.starts_with(&format!("v1.{}.", s.key_id())));
        assert!(!sealed.contains("DE89"));
        assert_eq!(s.open("alice", &sealed).unwrap(), b"DE89370400440532013000");
        assert_eq!(s.open("bob", &sealed), Err(OpenError::Forged));
        // Two seals of the same value differ (random nonces).
        assert_ne!(sealed, s.seal("alice", b"DE89370400440532013000"));
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(s.open("alice", &altered).is_err());
        assert_eq!(s.open("alice", "v1.x"), Err(OpenError::Malformed));
    }

    #[test]
    fn another_key_is_named_not_guessed() {
        let a = Sealer::from_key_text(HEX).expect("key");
        let b = Sealer::new(&[7; 32]);
        let sealed = a.seal("alice", b"secret");
        match b.open("alice", &sealed) {
            Err(OpenError::OtherKey {
                sealed_with,
                current,
            }) => {
                assert_eq!(sealed_with, a.key_id());
                assert_eq!(current, b.key_id());
            }
            other => panic!("expected OtherKey, got {other:?}"),
        }
    }

    #[test]
    fn keys_as_hex_or_base64_and_clear_errors_without_the_text() {
        let hex = Sealer::from_key_text(HEX).expect("hex");
        let b64 = STANDARD.encode(hex::decode(HEX).unwrap());
        let from_b64 = Sealer::from_key_text(&format!("{b64}\n")).expect("base64");
        assert_eq!(hex.key_id(), from_b64.key_id());
        assert_eq!(hex.key_id().len(), 8);
        for bad in [
            "",
            "short",
            &HEX[..62],
            &format!("{HEX}00"),
            "zz".repeat(32).as_str(),
        ] {
            let e = Sealer::from_key_text(bad).expect_err(bad);
            let message = e.to_string();
            assert!(message.contains(SECRETS_KEY_VAR), "{message}");
            assert!(bad.len() < 4 || !message.contains(bad), "{message}");
        }
        assert!(!format!("{hex:?}").contains(HEX));
    }
}
