//! API keys: created (the secret shown once, stored as its sha256), listed, revoked, and
//! looked up by the hash of the secret a request presents.

use super::{Engine, EngineError, Result, Scope};
use crate::store::{ApiKeyRecord, StoreError, now_ms};
use sha2::{Digest as _, Sha256};

/// The stored form of a key's secret: sha256, hex. A secret is 32 random characters, so a
/// fast hash is enough (nothing to brute-force as with a password).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new secret.
fn new_secret() -> String {
    format!("acc_{}", crate::ids::random_token(32))
}

impl Engine {
    /// Create a key for `scope`; answers the record and the secret (shown only now).
    /// `secret` is the operator's own (the configured admin key), else a new one. A partner
    /// key's partner and an author key's program must exist.
    pub async fn create_api_key(
        &self,
        scope: Scope,
        label: String,
        secret: Option<String>,
    ) -> Result<(ApiKeyRecord, String)> {
        match &scope {
            Scope::Admin => {}
            Scope::Partner(p) => {
                self.partner(p).await?;
            }
            Scope::PluginAuthor(p) => {
                self.program(p).await?;
            }
        }
        let secret = secret.unwrap_or_else(new_secret);
        let record = ApiKeyRecord {
            id: format!("key_{}", crate::ids::random_token(8)),
            key_hash: hash_secret(&secret),
            scope,
            label,
            created_at_ms: now_ms(),
            revoked_at_ms: None,
        };
        self.store.insert_api_key(&record).await?;
        Ok((record, secret))
    }

    /// Every key, oldest first (never their secrets).
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        Ok(self.store.api_keys().await?)
    }

    /// Revoke key `id`; not found if there is no such unrevoked key.
    pub async fn revoke_api_key(&self, id: &str) -> Result<()> {
        if self.store.revoke_api_key(id).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound(format!("API key {id:?}")))
        }
    }

    /// The unrevoked key whose secret hashes to `key_hash`, if any.
    pub async fn api_key_by_secret_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>> {
        Ok(self
            .store
            .api_key_by_hash(key_hash)
            .await?
            .filter(|k| k.revoked_at_ms.is_none()))
    }

    /// Make sure an admin key exists: the configured secret (stored if new; another replica
    /// starting at the same moment may store it first), or, when none is configured and the
    /// database has no key at all, a new one. Answers the new secret to show once.
    pub async fn ensure_admin_key(&self, configured: Option<&str>) -> Result<Option<String>> {
        match configured {
            Some(secret) => {
                if self
                    .store
                    .api_key_by_hash(&hash_secret(secret))
                    .await?
                    .is_none()
                {
                    let created = self
                        .create_api_key(
                            Scope::Admin,
                            "from ACCRUE_ADMIN_KEY".into(),
                            Some(secret.to_owned()),
                        )
                        .await;
                    match created {
                        Ok(_) | Err(EngineError::Store(StoreError::Conflict(_))) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(None)
            }
            None if self.store.api_keys().await?.is_empty() => {
                let (_, secret) = self
                    .create_api_key(Scope::Admin, "first start".into(), None)
                    .await?;
                Ok(Some(secret))
            }
            None => Ok(None),
        }
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }
}
