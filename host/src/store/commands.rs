//! The answers of commands that change money, kept by the client's idempotency key
//! (`command_results`): a retry with the same key gets the first answer back.

use super::{Result, Store, StoreError, now_ms};
use sqlx::Row;

/// One command's answer under its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    /// The tenant the key belongs to: `program:<id>`, plus `/partner:<id>` for a
    /// partner's key. Keys of different scopes never meet.
    pub scope: String,
    /// Which command (`refund`, `open-dispute`, ...): one key may name one command of
    /// each kind.
    pub operation: String,
    /// The client's key.
    pub key: String,
    /// A hash of the command's payload: the same key with another payload is a conflict.
    pub payload_hash: String,
    /// The command's result as JSON, answered again on a retry.
    pub answer: String,
}

/// Insert a command's answer inside the transaction of its effect; a second answer for the
/// same key is [`StoreError::Conflict`], which rolls the effect back with it.
pub(super) async fn insert_command(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    c: &CommandRecord,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO command_results (scope, operation, key, payload_hash, answer, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&c.scope)
    .bind(&c.operation)
    .bind(&c.key)
    .bind(&c.payload_hash)
    .bind(&c.answer)
    .bind(now_ms())
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from_db)?;
    Ok(())
}

impl Store {
    /// The answer stored under a key, if any.
    pub async fn command_result(
        &self,
        scope: &str,
        operation: &str,
        key: &str,
    ) -> Result<Option<CommandRecord>> {
        let row = sqlx::query(
            "SELECT payload_hash, answer FROM command_results
             WHERE scope = $1 AND operation = $2 AND key = $3",
        )
        .bind(scope)
        .bind(operation)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(CommandRecord {
                scope: scope.to_owned(),
                operation: operation.to_owned(),
                key: key.to_owned(),
                payload_hash: r.try_get("payload_hash")?,
                answer: r.try_get("answer")?,
            })
        })
        .transpose()
    }

    /// Store a command's answer on its own, for commands whose effect spans several
    /// transactions (a period close: one per partner, each exactly-once by its own key).
    pub async fn put_command_result(&self, c: &CommandRecord) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        insert_command(&mut tx, c).await?;
        tx.commit().await.map_err(StoreError::from_db)?;
        Ok(())
    }
}
