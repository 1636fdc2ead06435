//! API keys, stored as sha256 hashes of the secret (the secret itself is never stored).

use super::{Result, Store, StoreError, now_ms};
use crate::domain::scope::Scope;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public id (`key_...`), safe to show.
    pub id: String,
    /// sha256 of the secret, hex.
    pub key_hash: String,
    /// What it may do (stored as its name and the partner or program it is for).
    pub scope: Scope,
    /// A note for humans.
    pub label: String,
    /// Created at (ms).
    pub created_at_ms: i64,
    /// Revoked at (ms), if revoked.
    pub revoked_at_ms: Option<i64>,
}

fn key_row(r: &AnyRow) -> Result<ApiKeyRecord> {
    let id: String = r.try_get("id")?;
    let name: String = r.try_get("scope")?;
    let scope = Scope::from_stored(&name, r.try_get("partner_id")?, r.try_get("program_id")?)
        .ok_or_else(|| StoreError::Corrupt(format!("key {id} has an inconsistent scope")))?;
    Ok(ApiKeyRecord {
        id,
        key_hash: r.try_get("key_hash")?,
        scope,
        label: r.try_get("label")?,
        created_at_ms: r.try_get("created_at_ms")?,
        revoked_at_ms: r.try_get("revoked_at_ms")?,
    })
}

impl Store {
    /// Store a key.
    pub async fn insert_api_key(&self, k: &ApiKeyRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, key_hash, scope, partner_id, program_id, label, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&k.id)
        .bind(&k.key_hash)
        .bind(k.scope.name())
        .bind(k.scope.partner_id())
        .bind(k.scope.program_id())
        .bind(&k.label)
        .bind(k.created_at_ms)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// The key with this secret hash, revoked or not.
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(key_row).transpose()
    }

    /// Every key, oldest first.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query("SELECT * FROM api_keys ORDER BY created_at_ms, id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(key_row).collect()
    }

    /// Revoke a key; returns false if there is no such (unrevoked) key.
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
        )
        .bind(id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
