//! Opaque pagination cursors: the position in a listing, sealed with an AEAD under a key
//! every replica shares, so that a cursor reveals nothing (an entry id would tell a partner
//! how many entries the whole platform has) and cannot be forged or moved to another
//! listing (the listing's description is the associated data).

use super::error::ApiError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Seals and opens cursors.
pub struct Cursors {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cursors(..)")
    }
}

impl Cursors {
    /// Cursors under `key` (the deployment's `cursor-key` instance secret).
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// The cursor for position `value` of `listing`.
    pub fn seal(&self, value: &str, listing: &str) -> String {
        let nonce = nonce();
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: listing.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The position a cursor of `listing` names; a 422 on `cursor` if it is not one.
    pub fn open(&self, cursor: &str, listing: &str) -> Result<String, ApiError> {
        let bad = || ApiError::invalid("cursor", "not a cursor of this listing");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        if bytes.len() < 24 + 16 {
            return Err(bad());
        }
        let (nonce, sealed) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: listing.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

/// A fresh nonce: random (XChaCha's 192 bits make a collision negligible); should the
/// system's randomness fail, unique instead (a process-wide counter, the process id and the
/// time), since what a nonce must never be is repeated.
fn nonce() -> [u8; 24] {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut nonce = [0u8; 24];
    if getrandom::fill(&mut nonce).is_err() {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nonce[..8].copy_from_slice(&n.to_le_bytes());
        nonce[8..12].copy_from_slice(&std::process::id().to_le_bytes());
        nonce[12..20].copy_from_slice(&nanos.to_le_bytes());
    }
    nonce
}

#[cfg(test)]
mod tests {
    use super::Cursors;

    #[test]
    fn cursors_hide_their_position_and_belong_to_one_listing() {
        let c = Cursors::new(&[7; 32]);
        let sealed = c.seal("10023", "commissions a");
        assert!(!sealed.contains("10023"));
        assert_eq!(c.open(&sealed, "commissions a").expect("opens"), "10023");
        assert!(c.open(&sealed, "commissions b").is_err(), "another listing");
        assert!(
            Cursors::new(&[8; 32])
                .open(&sealed, "commissions a")
                .is_err()
        );
        assert!(c.open("10023", "commissions a").is_err(), "a raw id");
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert!(c.open(&tampered, "commissions a").is_err());
    }
}

/// A cursor in a query string: what an earlier page's `next_cursor` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorText(pub String);

/// The shape of every cursor (URL-safe base64 of a nonce, the sealed position and a tag).
pub const CURSOR_PATTERN: &str = r"^[A-Za-z0-9_-]{54,400}$";

impl<'de> serde::Deserialize<'de> for CursorText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let ok = (54..=400).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(text))
        } else {
            Err(super::wire::reject(
                "invalid-input",
                "not a cursor: pass the `next_cursor` of the previous page".into(),
            ))
        }
    }
}

impl utoipa::PartialSchema for CursorText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(CURSOR_PATTERN))
            .description(Some(
                "The `next_cursor` of the previous page, as it was: opaque, and valid only \
                 for the same listing (the same filters).",
            ))
            .into()
    }
}

impl utoipa::ToSchema for CursorText {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Cursor")
    }
}
