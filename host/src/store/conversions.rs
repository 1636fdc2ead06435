//! Conversions: the ingest write (conversion, touchpoints, attributions, ledger entries and
//! idempotency record in one transaction). PostgreSQL writes a batch in one statement
//! (`pg`); SQLite, and PostgreSQL for entries that carry events, in multi-row statements
//! built with sqlx's `QueryBuilder`. Reads are in `reads`, volume statistics in
//! `statistics`.

mod pg;
mod reads;
mod statistics;

use super::ledger::{NewEntry, insert_entries};
use super::{Backend, Result, Store, StoreError};
use crate::domain::conversion::{ConversionInput, TouchpointInput};
use rust_decimal::Decimal;
use sqlx::{Any, QueryBuilder, Row};
use std::collections::HashMap;

/// One partner's attributed share of a conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttribution {
    /// The partner.
    pub partner_id: String,
    /// Weight in 0..=1.
    pub weight: Decimal,
    /// Attributed revenue, sale currency.
    pub attributed_amount: Decimal,
}

/// Everything one ingested conversion writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConversion {
    /// The conversion and its touchpoints, as posted (program and currency as resolved).
    pub conversion: ConversionInput,
    /// Hash of the request payload, to tell a replay from a conflicting reuse of the key.
    pub payload_hash: String,
    /// The result document returned to the client (replayed verbatim).
    pub result: String,
    /// Attributions.
    pub attributions: Vec<NewAttribution>,
    /// Commission entries.
    pub entries: Vec<NewEntry>,
    /// When written (ms).
    pub created_at_ms: i64,
    /// The visitor's keyed hash (`Engine::identity_hash`), if the conversion names one.
    pub visitor_hash: Option<String>,
    /// The customer's e-mail address's keyed hash, if given.
    pub email_hash: Option<String>,
}

/// A stored conversion with its touchpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionRecord {
    /// The conversion as it was posted.
    pub conversion: ConversionInput,
    /// Total refunded so far.
    pub refunded: Decimal,
}

/// Attributes as stored: a JSON array of `[key, value]` pairs.
fn attributes_json(attributes: &[(String, String)]) -> String {
    serde_json::to_string(attributes).unwrap_or_else(|_| "[]".into())
}

/// Rows per multi-row statement: well under both backends' parameter limits.
const CHUNK: usize = 400;

impl Store {
    /// The stored idempotency records `(payload hash, result)` among `keys` of a program.
    pub async fn idempotency_records(
        &self,
        program_id: &str,
        keys: &[String],
    ) -> Result<HashMap<String, (String, String)>> {
        if let Some(pool) = self.pg_pool() {
            return pg::idempotency_records(pool, program_id, keys).await;
        }
        let mut out = HashMap::new();
        for chunk in keys.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Any>::new(
                "SELECT key, payload_hash, result FROM idempotency_records WHERE program_id = ",
            );
            qb.push_bind(program_id).push(" AND key IN (");
            let mut list = qb.separated(", ");
            for k in chunk {
                list.push_bind(k.as_str());
            }
            qb.push(")");
            let (sql, args) = self.dialect().statement(&mut qb)?;
            for r in sqlx::query_with(&sql, args).fetch_all(self.pool()).await? {
                out.insert(
                    r.try_get("key")?,
                    (r.try_get("payload_hash")?, r.try_get("result")?),
                );
            }
        }
        Ok(out)
    }

    /// Write conversions with everything they produce, all in one transaction, and return
    /// the ids it skipped because they already exist (written by someone else, possibly
    /// at this very moment: PostgreSQL makes this insert wait for that writer's outcome).
    /// Rows are written in key order so that concurrent batches never deadlock.
    pub async fn write_conversions(&self, batch: &[NewConversion]) -> Result<Vec<String>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut sorted: Vec<&NewConversion> = batch.iter().collect();
        sorted.sort_by(|a, b| {
            (&a.conversion.program_id, &a.conversion.id)
                .cmp(&(&b.conversion.program_id, &b.conversion.id))
        });
        // PostgreSQL: the whole write is one statement (see `pg`). Entries that carry initial
        // events (ingestion makes none) take the general path below.
        if let Some(pool) = self.pg_pool()
            && sorted
                .iter()
                .all(|c| c.entries.iter().all(|e| e.initial_events.is_empty()))
        {
            let inserted = pg::write(self, pool, &sorted).await?;
            return Ok(sorted
                .into_iter()
                .filter(|c| {
                    !inserted.contains(&(c.conversion.program_id.clone(), c.conversion.id.clone()))
                })
                .map(|c| c.conversion.id.clone())
                .collect());
        }
        let mut tx = self.pool().begin().await?;
        let mut inserted = std::collections::HashSet::new();
        for chunk in sorted.chunks(CHUNK) {
            inserted.extend(self.insert_conversion_rows(&mut tx, chunk).await?);
        }
        let (written, skipped): (Vec<&NewConversion>, Vec<&NewConversion>) =
            sorted.into_iter().partition(|c| {
                inserted.contains(&(c.conversion.program_id.clone(), c.conversion.id.clone()))
            });
        for chunk in written.chunks(CHUNK) {
            self.insert_idempotency_rows(&mut tx, chunk).await?;
        }
        let keys: Vec<(&str, &str)> = written
            .iter()
            .map(|c| (c.conversion.program_id.as_str(), c.conversion.id.as_str()))
            .collect();
        super::rollups::enqueue_conversions(self.dialect(), &mut tx, &keys).await?;
        if self.take_fail_point() {
            self.lose_connection(&mut tx).await?;
        }
        let touchpoints: Vec<(&NewConversion, usize, &TouchpointInput)> = written
            .iter()
            .flat_map(|c| {
                c.conversion
                    .touchpoints
                    .iter()
                    .enumerate()
                    .map(move |(i, t)| (*c, i, t))
            })
            .collect();
        for chunk in touchpoints.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Any>::new(
                "INSERT INTO touchpoints (program_id, conversion_id, seq, partner_id, channel, occurred_at_ms, campaign) ",
            );
            qb.push_values(chunk, |mut row, (c, seq, t)| {
                row.push_bind(c.conversion.program_id.as_str())
                    .push_bind(c.conversion.id.as_str())
                    .push_bind(*seq as i64)
                    .push_bind(t.partner_id.as_str())
                    .push_bind(t.channel.as_str())
                    .push_bind(t.occurred_at_ms)
                    .push_bind(t.campaign.as_deref());
            });
            self.execute(&mut tx, &mut qb).await?;
        }
        let attributions: Vec<(&NewConversion, &NewAttribution)> = written
            .iter()
            .flat_map(|c| c.attributions.iter().map(move |a| (*c, a)))
            .collect();
        let numeric = self.dialect().numeric();
        for chunk in attributions.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Any>::new(
                "INSERT INTO revenue_attributions (program_id, conversion_id, partner_id, weight, attributed_amount, currency, occurred_at_ms) ",
            );
            qb.push_values(chunk, |mut row, (c, a)| {
                row.push_bind(c.conversion.program_id.as_str())
                    .push_bind(c.conversion.id.as_str())
                    .push_bind(a.partner_id.as_str())
                    .push_bind(a.weight.to_string())
                    .push_unseparated(numeric)
                    .push_bind(a.attributed_amount.to_string())
                    .push_unseparated(numeric)
                    .push_bind(c.conversion.currency.as_str())
                    .push_bind(c.conversion.occurred_at_ms);
            });
            self.execute(&mut tx, &mut qb).await?;
        }
        let entries: Vec<&NewEntry> = written.iter().flat_map(|c| c.entries.iter()).collect();
        insert_entries(self, &mut tx, &entries).await?;
        tx.commit().await.map_err(StoreError::from_db)?;
        self.count_checks(false);
        Ok(skipped
            .into_iter()
            .map(|c| c.conversion.id.clone())
            .collect())
    }

    /// Insert conversion rows, skipping keys that exist; returns the keys inserted.
    async fn insert_conversion_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        chunk: &[&NewConversion],
    ) -> Result<Vec<(String, String)>> {
        let numeric = self.dialect().numeric();
        let mut qb = QueryBuilder::<Any>::new(
            "INSERT INTO conversions (program_id, id, amount, currency, occurred_at_ms, customer_id, country, region, new_customer, created_at_ms, attributes, click_id, visitor_hash, email_hash) ",
        );
        qb.push_values(chunk, |mut row, c| {
            let conversion = &c.conversion;
            row.push_bind(conversion.program_id.as_str())
                .push_bind(conversion.id.as_str())
                .push_bind(conversion.amount.to_string())
                .push_unseparated(numeric)
                .push_bind(conversion.currency.as_str())
                .push_bind(conversion.occurred_at_ms)
                .push_bind(conversion.customer_id.as_deref())
                .push_bind(conversion.country.as_deref())
                .push_bind(conversion.region.as_deref())
                .push_bind(conversion.new_customer)
                .push_bind(c.created_at_ms)
                .push_bind(attributes_json(&conversion.attributes))
                .push_bind(conversion.signals.click_id.as_deref())
                .push_bind(c.visitor_hash.as_deref())
                .push_bind(c.email_hash.as_deref());
        });
        qb.push(" ON CONFLICT (program_id, id) DO NOTHING RETURNING program_id, id");
        let (sql, args) = self.dialect().statement(&mut qb)?;
        let rows = sqlx::query_with(&sql, args)
            .fetch_all(&mut **tx)
            .await
            .map_err(StoreError::from_db)?;
        rows.iter()
            .map(|r| Ok((r.try_get("program_id")?, r.try_get("id")?)))
            .collect()
    }

    async fn insert_idempotency_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        chunk: &[&NewConversion],
    ) -> Result<()> {
        let mut qb = QueryBuilder::<Any>::new(
            "INSERT INTO idempotency_records (program_id, key, payload_hash, result, created_at_ms) ",
        );
        qb.push_values(chunk, |mut row, c| {
            row.push_bind(c.conversion.program_id.as_str())
                .push_bind(c.conversion.id.as_str())
                .push_bind(c.payload_hash.as_str())
                .push_bind(c.result.as_str())
                .push_bind(c.created_at_ms);
        });
        self.execute(tx, &mut qb).await?;
        Ok(())
    }

    /// Run the statement `qb` holds inside `tx`.
    async fn execute(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        qb: &mut QueryBuilder<'_, Any>,
    ) -> Result<()> {
        let (sql, args) = self.dialect().statement(qb)?;
        sqlx::query_with(&sql, args)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// The test fail point: drop the connection inside the open transaction.
    async fn lose_connection(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
        match self.backend() {
            Backend::Postgres => {
                // The server ends this very session: the transaction dies with it.
                let _ = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
                    .execute(&mut **tx)
                    .await;
                Err(StoreError::Database(sqlx::Error::Protocol(
                    "connection lost mid-batch (fail point)".into(),
                )))
            }
            Backend::Sqlite => Err(StoreError::Database(sqlx::Error::Protocol(
                "transaction aborted mid-batch (fail point)".into(),
            ))),
        }
    }
}
