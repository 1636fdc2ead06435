//! Secrets shared by every replica of a deployment, made at random by whichever starts
//! first: the first writer wins and everyone reads its value.

use super::{Result, Store, StoreError, now_ms};
use sqlx::Row;

impl Store {
    /// The 32-byte secret called `name`, made now if there is none yet.
    pub async fn instance_secret(&self, name: &str) -> Result<[u8; 32]> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh)
            .map_err(|e| StoreError::Corrupt(format!("no randomness for a secret: {e}")))?;
        sqlx::query(
            "INSERT INTO instance_secrets (name, value_hex, created_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(hex::encode(fresh))
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(StoreError::from_db)?;
        let row = sqlx::query("SELECT value_hex FROM instance_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(self.pool())
            .await?;
        let text: String = row.try_get("value_hex")?;
        hex::decode(&text)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("instance secret {name} is not 32 bytes")))
    }
}
