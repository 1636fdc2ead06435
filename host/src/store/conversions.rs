//! Conversions: the ingest write (conversion, touchpoints, attributions, ledger entries and
//! idempotency record in one transaction, multi-row statements), and reads.

use super::ledger::{NewEntry, insert_entries};
use super::{Backend, Result, Store, StoreError, dec, placeholders};
use crate::domain::program::VolumeStats;
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// A touchpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTouchpoint {
    /// The partner.
    pub partner_id: String,
    /// Channel.
    pub channel: String,
    /// When (ms).
    pub occurred_at_ms: i64,
    /// Campaign.
    pub campaign: Option<String>,
}

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
    /// Program.
    pub program_id: String,
    /// Client id (the idempotency key).
    pub id: String,
    /// Sale amount.
    pub amount: Decimal,
    /// Sale currency.
    pub currency: String,
    /// When (ms).
    pub occurred_at_ms: i64,
    /// Customer.
    pub customer_id: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// First purchase.
    pub new_customer: bool,
    /// Hash of the request payload, to tell a replay from a conflicting reuse of the key.
    pub payload_hash: String,
    /// The result document returned to the client (replayed verbatim).
    pub result: String,
    /// Touchpoints in client order.
    pub touchpoints: Vec<StoredTouchpoint>,
    /// Attributions.
    pub attributions: Vec<NewAttribution>,
    /// Commission entries.
    pub entries: Vec<NewEntry>,
    /// When written (ms).
    pub created_at_ms: i64,
}

/// A stored conversion with its touchpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionRecord {
    /// Program.
    pub program_id: String,
    /// Client id.
    pub id: String,
    /// Sale amount.
    pub amount: Decimal,
    /// Sale currency.
    pub currency: String,
    /// When (ms).
    pub occurred_at_ms: i64,
    /// Customer.
    pub customer_id: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// First purchase.
    pub new_customer: bool,
    /// Touchpoints in client order.
    pub touchpoints: Vec<StoredTouchpoint>,
    /// Total refunded so far.
    pub refunded: Decimal,
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
        let mut out = HashMap::new();
        for chunk in keys.chunks(CHUNK) {
            let list = (2..chunk.len() + 2)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let q = format!(
                "SELECT key, payload_hash, result FROM idempotency_records WHERE program_id = $1 AND key IN ({list})"
            );
            let mut query = sqlx::query(&q).bind(program_id);
            for k in chunk {
                query = query.bind(k);
            }
            for r in query.fetch_all(self.pool()).await? {
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
        sorted.sort_by(|a, b| (&a.program_id, &a.id).cmp(&(&b.program_id, &b.id)));
        let __t = std::time::Instant::now();
        let mut tx = self.pool().begin().await?;
        let mut inserted = std::collections::HashSet::new();
        for chunk in sorted.chunks(CHUNK) {
            inserted.extend(self.insert_conversion_rows(&mut tx, chunk).await?);
        }
        let (written, skipped): (Vec<&NewConversion>, Vec<&NewConversion>) = sorted
            .into_iter()
            .partition(|c| inserted.contains(&(c.program_id.clone(), c.id.clone())));
        let __a = __t.elapsed();
        for chunk in written.chunks(CHUNK) {
            self.insert_idempotency_rows(&mut tx, chunk).await?;
        }
        if self.take_fail_point() {
            self.lose_connection(&mut tx).await?;
        }
        let __b = __t.elapsed();
        let touchpoints: Vec<(&NewConversion, usize, &StoredTouchpoint)> = written
            .iter()
            .flat_map(|c| {
                c.touchpoints
                    .iter()
                    .enumerate()
                    .map(move |(i, t)| (*c, i, t))
            })
            .collect();
        for chunk in touchpoints.chunks(CHUNK) {
            let mut q = String::from(
                "INSERT INTO touchpoints (program_id, conversion_id, seq, partner_id, channel, occurred_at_ms, campaign) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    q.push_str(", ");
                }
                q.push_str(&placeholders(i * 7 + 1, &["", "", "", "", "", "", ""]));
            }
            let mut query = sqlx::query(&q);
            for (c, seq, t) in chunk {
                query = query
                    .bind(&c.program_id)
                    .bind(&c.id)
                    .bind(*seq as i64)
                    .bind(&t.partner_id)
                    .bind(&t.channel)
                    .bind(t.occurred_at_ms)
                    .bind(&t.campaign);
            }
            query.execute(&mut *tx).await.map_err(StoreError::from_db)?;
        }
        let __c = __t.elapsed();
        let attributions: Vec<(&NewConversion, &NewAttribution)> = written
            .iter()
            .flat_map(|c| c.attributions.iter().map(move |a| (*c, a)))
            .collect();
        for chunk in attributions.chunks(CHUNK) {
            let mut q = String::from(
                "INSERT INTO revenue_attributions (program_id, conversion_id, partner_id, weight, attributed_amount, currency, occurred_at_ms) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    q.push_str(", ");
                }
                q.push_str(&placeholders(
                    i * 7 + 1,
                    &["", "", "", "::numeric", "::numeric", "", ""],
                ));
            }
            let q = self.sql(&q).into_owned();
            let mut query = sqlx::query(&q);
            for (c, a) in chunk {
                query = query
                    .bind(&c.program_id)
                    .bind(&c.id)
                    .bind(&a.partner_id)
                    .bind(a.weight.to_string())
                    .bind(a.attributed_amount.to_string())
                    .bind(&c.currency)
                    .bind(c.occurred_at_ms);
            }
            query.execute(&mut *tx).await.map_err(StoreError::from_db)?;
        }
        let __d = __t.elapsed();
        let entries: Vec<&NewEntry> = written.iter().flat_map(|c| c.entries.iter()).collect();
        insert_entries(self, &mut tx, &entries).await?;
        let __e = __t.elapsed();
        tx.commit().await.map_err(StoreError::from_db)?;
        if batch.len() > 1 {
            eprintln!(
                "TIMING W conv {:?} idem {:?} tp {:?} attr {:?} entries {:?} commit {:?}",
                __a,
                __b - __a,
                __c - __b,
                __d - __c,
                __e - __d,
                __t.elapsed() - __e
            );
        }
        Ok(skipped.into_iter().map(|c| c.id.clone()).collect())
    }

    /// Insert conversion rows, skipping keys that exist; returns the keys inserted.
    async fn insert_conversion_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        chunk: &[&NewConversion],
    ) -> Result<Vec<(String, String)>> {
        let mut q = String::from(
            "INSERT INTO conversions (program_id, id, amount, currency, occurred_at_ms, customer_id, country, region, new_customer, created_at_ms) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                q.push_str(", ");
            }
            q.push_str(&placeholders(
                i * 10 + 1,
                &["", "", "::numeric", "", "", "", "", "", "", ""],
            ));
        }
        q.push_str(" ON CONFLICT (program_id, id) DO NOTHING RETURNING program_id, id");
        let q = self.sql(&q).into_owned();
        let mut query = sqlx::query(&q);
        for c in chunk {
            query = query
                .bind(&c.program_id)
                .bind(&c.id)
                .bind(c.amount.to_string())
                .bind(&c.currency)
                .bind(c.occurred_at_ms)
                .bind(&c.customer_id)
                .bind(&c.country)
                .bind(&c.region)
                .bind(c.new_customer)
                .bind(c.created_at_ms);
        }
        let rows = query
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
        let mut q = String::from(
            "INSERT INTO idempotency_records (program_id, key, payload_hash, result, created_at_ms) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                q.push_str(", ");
            }
            q.push_str(&placeholders(i * 5 + 1, &["", "", "", "", ""]));
        }
        let mut query = sqlx::query(&q);
        for c in chunk {
            query = query
                .bind(&c.program_id)
                .bind(&c.id)
                .bind(&c.payload_hash)
                .bind(&c.result)
                .bind(c.created_at_ms);
        }
        query
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

    fn conversion_row(row: &AnyRow) -> Result<ConversionRecord> {
        Ok(ConversionRecord {
            program_id: row.try_get("program_id")?,
            id: row.try_get("id")?,
            amount: dec(row, "amount")?,
            currency: row.try_get("currency")?,
            occurred_at_ms: row.try_get("occurred_at_ms")?,
            customer_id: row.try_get("customer_id")?,
            country: row.try_get("country")?,
            region: row.try_get("region")?,
            new_customer: super::boolean(row, "new_customer")?,
            touchpoints: Vec::new(),
            refunded: Decimal::ZERO,
        })
    }

    const CONVERSION_COLUMNS: &'static str = "program_id, id, amount::text AS amount, currency, occurred_at_ms, customer_id, country, region, new_customer";

    /// One conversion with its touchpoints and refunds.
    pub async fn conversion(&self, program_id: &str, id: &str) -> Result<Option<ConversionRecord>> {
        let q = format!(
            "SELECT {} FROM conversions WHERE program_id = $1 AND id = $2",
            Self::CONVERSION_COLUMNS
        );
        let Some(row) = sqlx::query(&self.sql(&q))
            .bind(program_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let mut c = Self::conversion_row(&row)?;
        self.fill_conversion(&mut c).await?;
        Ok(Some(c))
    }

    /// A program's conversions that occurred in `[from_ms, to_ms)`, oldest first.
    pub async fn conversions_between(
        &self,
        program_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<ConversionRecord>> {
        let q = format!(
            "SELECT {} FROM conversions WHERE program_id = $1 AND occurred_at_ms >= $2 AND occurred_at_ms < $3
             ORDER BY occurred_at_ms, id",
            Self::CONVERSION_COLUMNS
        );
        let rows = sqlx::query(&self.sql(&q))
            .bind(program_id)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut c = Self::conversion_row(&r)?;
            self.fill_conversion(&mut c).await?;
            out.push(c);
        }
        Ok(out)
    }

    /// How many conversions a program has (all programs if `None`).
    pub async fn count_conversions(&self, program_id: Option<&str>) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM conversions WHERE $1 IS NULL OR program_id = $1",
        )
        .bind(program_id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }

    async fn fill_conversion(&self, c: &mut ConversionRecord) -> Result<()> {
        let rows = sqlx::query(
            "SELECT partner_id, channel, occurred_at_ms, campaign FROM touchpoints
             WHERE program_id = $1 AND conversion_id = $2 ORDER BY seq",
        )
        .bind(&c.program_id)
        .bind(&c.id)
        .fetch_all(self.pool())
        .await?;
        c.touchpoints = rows
            .iter()
            .map(|r| {
                Ok(StoredTouchpoint {
                    partner_id: r.try_get("partner_id")?,
                    channel: r.try_get("channel")?,
                    occurred_at_ms: r.try_get("occurred_at_ms")?,
                    campaign: r.try_get("campaign")?,
                })
            })
            .collect::<Result<_>>()?;
        let refunds = sqlx::query(&self.sql(
            "SELECT amount::text AS amount FROM refunds WHERE program_id = $1 AND conversion_id = $2",
        ))
        .bind(&c.program_id)
        .bind(&c.id)
        .fetch_all(self.pool())
        .await?;
        c.refunded = refunds
            .iter()
            .map(|r| dec(r, "amount"))
            .sum::<Result<Decimal>>()?;
        Ok(())
    }

    /// A partner's credited conversions and attributed revenue in `[from_ms, to_ms)`.
    pub async fn volume_stats(
        &self,
        partner_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<VolumeStats> {
        let rows = sqlx::query(&self.sql(
            "SELECT attributed_amount::text AS attributed_amount FROM revenue_attributions
             WHERE partner_id = $1 AND occurred_at_ms >= $2 AND occurred_at_ms < $3",
        ))
        .bind(partner_id)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await?;
        let mut stats = VolumeStats::default();
        for r in rows {
            stats.conversions += 1;
            stats.revenue += dec(&r, "attributed_amount")?;
        }
        Ok(stats)
    }

    /// Attributions of one conversion: `(partner, weight, attributed amount)`.
    pub async fn attributions(
        &self,
        program_id: &str,
        conversion_id: &str,
    ) -> Result<Vec<NewAttribution>> {
        let rows = sqlx::query(&self.sql(
            "SELECT partner_id, weight::text AS weight, attributed_amount::text AS attributed_amount
             FROM revenue_attributions WHERE program_id = $1 AND conversion_id = $2 ORDER BY partner_id",
        ))
        .bind(program_id)
        .bind(conversion_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NewAttribution {
                    partner_id: r.try_get("partner_id")?,
                    weight: dec(r, "weight")?,
                    attributed_amount: dec(r, "attributed_amount")?,
                })
            })
            .collect()
    }
}
