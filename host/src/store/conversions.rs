//! Conversions: the ingest write (conversion, touchpoints, attributions, ledger entries and
//! idempotency record in one transaction, multi-row statements), and reads.

use super::ledger::{NewEntry, insert_entries};
use super::{Backend, Result, Store, StoreError, dec, money, placeholders};
use crate::domain::conversion::{ConversionInput, TouchpointInput};
use crate::domain::program::VolumeStats;
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::any::AnyRow;
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
                    .bind(&c.conversion.program_id)
                    .bind(&c.conversion.id)
                    .bind(*seq as i64)
                    .bind(&t.partner_id)
                    .bind(&t.channel)
                    .bind(t.occurred_at_ms)
                    .bind(&t.campaign);
            }
            query.execute(&mut *tx).await.map_err(StoreError::from_db)?;
        }
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
                    .bind(&c.conversion.program_id)
                    .bind(&c.conversion.id)
                    .bind(&a.partner_id)
                    .bind(a.weight.to_string())
                    .bind(a.attributed_amount.to_string())
                    .bind(&c.conversion.currency)
                    .bind(c.conversion.occurred_at_ms);
            }
            query.execute(&mut *tx).await.map_err(StoreError::from_db)?;
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
        let mut q = String::from(
            "INSERT INTO conversions (program_id, id, amount, currency, occurred_at_ms, customer_id, country, region, new_customer, created_at_ms, attributes) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                q.push_str(", ");
            }
            q.push_str(&placeholders(
                i * 11 + 1,
                &["", "", "::numeric", "", "", "", "", "", "", "", ""],
            ));
        }
        q.push_str(" ON CONFLICT (program_id, id) DO NOTHING RETURNING program_id, id");
        let q = self.sql(&q).into_owned();
        let mut query = sqlx::query(&q);
        for c in chunk {
            query = query
                .bind(&c.conversion.program_id)
                .bind(&c.conversion.id)
                .bind(c.conversion.amount.to_string())
                .bind(&c.conversion.currency)
                .bind(c.conversion.occurred_at_ms)
                .bind(&c.conversion.customer_id)
                .bind(&c.conversion.country)
                .bind(&c.conversion.region)
                .bind(c.conversion.new_customer)
                .bind(c.created_at_ms)
                .bind(attributes_json(&c.conversion.attributes));
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
                .bind(&c.conversion.program_id)
                .bind(&c.conversion.id)
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
            conversion: ConversionInput {
                program_id: row.try_get("program_id")?,
                id: row.try_get("id")?,
                // As posted, not rescaled: its scale is part of the plug-in's input (and
                // of the input hash a replay compares), and a ≤-minor-unit amount reads
                // back as it was written on both stores (see `pg::Amount`).
                amount: dec(row, "amount")?,
                currency: row.try_get("currency")?,
                occurred_at_ms: row.try_get("occurred_at_ms")?,
                customer_id: row.try_get("customer_id")?,
                country: row.try_get("country")?,
                region: row.try_get("region")?,
                new_customer: super::boolean(row, "new_customer")?,
                attributes: {
                    let text: String = row.try_get("attributes")?;
                    serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))?
                },
                touchpoints: Vec::new(),
            },
            refunded: Decimal::ZERO,
        })
    }

    const CONVERSION_COLUMNS: &'static str = "program_id, id, amount::text AS amount, currency, occurred_at_ms, customer_id, country, region, new_customer, attributes";

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
        .bind(&c.conversion.program_id)
        .bind(&c.conversion.id)
        .fetch_all(self.pool())
        .await?;
        c.conversion.touchpoints = rows
            .iter()
            .map(|r| {
                Ok(TouchpointInput {
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
        .bind(&c.conversion.program_id)
        .bind(&c.conversion.id)
        .fetch_all(self.pool())
        .await?;
        c.refunded = crate::domain::scaled_to(
            refunds
                .iter()
                .map(|r| dec(r, "amount"))
                .sum::<Result<Decimal>>()?,
            &c.conversion.currency,
        );
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
            "SELECT partner_id, weight::text AS weight, attributed_amount::text AS attributed_amount, currency
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
                    attributed_amount: money(r, "attributed_amount", "currency")?,
                })
            })
            .collect()
    }
}

/// The ingest write on PostgreSQL: one statement for the whole batch.
///
/// Each column travels as one parameter, an array in PostgreSQL's binary format (through
/// the store's native PostgreSQL pool: the `Any` driver has no arrays), and `unnest` turns
/// the columns back into rows. The statement's text does not depend on the number of rows,
/// so it is prepared once per connection and reused (multi-row `VALUES` lists made the
/// server parse and plan thousands of placeholders per chunk, and the driver bind every
/// cell). Binary arrays also spare the server from parsing text literals: with the results
/// and provenance documents in them, that parsing was a tenth of the statement's time.
///
/// The conversions are inserted first (`ON CONFLICT DO NOTHING`, in key order, so that
/// concurrent batches never deadlock); the other tables are written in data-modifying
/// `WITH` clauses of the same statement, joined to the conversions it actually inserted, so
/// keys another writer holds get nothing. Under [`Store::STATEMENT_CHECK_MIN_BATCH`]
/// conversions the statement runs alone: it is atomic on its own, so a single conversion's
/// write is one round trip (it was seven), and the foreign keys check its rows at the end
/// of it. Larger batches check their references once, in a transaction around the same
/// statement (see [`write`] and [`crate::store::BatchChecks`]).
mod pg {
    use super::super::{Result, Store, StoreError, now_ms};
    use super::NewConversion;
    use rust_decimal::Decimal;
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgPool, PgRow, PgTypeInfo};
    use sqlx::{Encode, Postgres, Row, Transaction};
    use std::collections::{BTreeSet, HashMap, HashSet};

    /// An amount bound as a binary NUMERIC that keeps its scale. sqlx encodes every zero
    /// `Decimal` as the NUMERIC `0` (display scale 0), whatever its scale, so a commission
    /// of `0.00` USD was stored, and read back, as `0`. A non-zero decimal keeps its scale
    /// in sqlx's encoding, so only zero is written here.
    #[derive(Debug, Clone, Copy)]
    struct Amount(Decimal);

    impl sqlx::Type<Postgres> for Amount {
        fn type_info() -> PgTypeInfo {
            <Decimal as sqlx::Type<Postgres>>::type_info()
        }
    }

    impl PgHasArrayType for Amount {
        fn array_type_info() -> PgTypeInfo {
            <Decimal as PgHasArrayType>::array_type_info()
        }
    }

    impl Encode<'_, Postgres> for Amount {
        fn encode_by_ref(
            &self,
            buf: &mut PgArgumentBuffer,
        ) -> std::result::Result<IsNull, BoxDynError> {
            if !self.0.is_zero() {
                return <Decimal as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf);
            }
            // PostgreSQL's binary NUMERIC: digit count, weight, sign, display scale (each
            // 16 bits, big-endian), then the base-10000 digits, of which zero has none.
            let scale = u16::try_from(self.0.scale())?;
            for field in [0u16, 0, 0, scale] {
                buf.extend_from_slice(&field.to_be_bytes());
            }
            Ok(IsNull::No)
        }
    }

    const WRITE: &str = "WITH new_conversions AS (
        INSERT INTO conversions (program_id, id, amount, currency, occurred_at_ms, customer_id, country, region, new_customer, created_at_ms, attributes)
        SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::boolean[], $10::bigint[], $42::text[])
        ON CONFLICT (program_id, id) DO NOTHING
        RETURNING program_id, id
    ), idempotency AS (
        INSERT INTO idempotency_records (program_id, key, payload_hash, result, created_at_ms)
        SELECT u.program_id, u.key, u.payload_hash, u.result, u.created_at_ms
        FROM unnest($1::text[], $2::text[], $11::text[], $12::text[], $10::bigint[])
            WITH ORDINALITY AS u(program_id, key, payload_hash, result, created_at_ms, n)
        JOIN new_conversions c ON c.program_id = u.program_id AND c.id = u.key
        ORDER BY u.n
    ), new_touchpoints AS (
        INSERT INTO touchpoints (program_id, conversion_id, seq, partner_id, channel, occurred_at_ms, campaign)
        SELECT u.program_id, u.conversion_id, u.seq, u.partner_id, u.channel, u.occurred_at_ms, u.campaign
        FROM unnest($13::text[], $14::text[], $15::bigint[], $16::text[], $17::text[], $18::bigint[], $19::text[])
            WITH ORDINALITY AS u(program_id, conversion_id, seq, partner_id, channel, occurred_at_ms, campaign, n)
        JOIN new_conversions c ON c.program_id = u.program_id AND c.id = u.conversion_id
        ORDER BY u.n
    ), new_attributions AS (
        INSERT INTO revenue_attributions (program_id, conversion_id, partner_id, weight, attributed_amount, currency, occurred_at_ms)
        SELECT u.program_id, u.conversion_id, u.partner_id, u.weight, u.attributed_amount, u.currency, u.occurred_at_ms
        FROM unnest($20::text[], $21::text[], $22::text[], $23::numeric[], $24::numeric[], $25::text[], $26::bigint[])
            WITH ORDINALITY AS u(program_id, conversion_id, partner_id, weight, attributed_amount, currency, occurred_at_ms, n)
        JOIN new_conversions c ON c.program_id = u.program_id AND c.id = u.conversion_id
        ORDER BY u.n
    ), new_entries AS (
        INSERT INTO ledger_entries (program_id, partner_id, conversion_id, kind, amount, currency,
            payout_amount, payout_currency, fx_rate, rate, reverses_entry_id, cause, provenance, hold_until_ms, created_at_ms)
        SELECT u.program_id, u.partner_id, u.conversion_id, u.kind, u.amount, u.currency, u.payout_amount,
            u.payout_currency, u.fx_rate, u.rate, u.reverses_entry_id, u.cause, u.provenance, u.hold_until_ms, u.created_at_ms
        FROM unnest($27::text[], $28::text[], $29::text[], $30::text[], $31::numeric[], $32::text[], $33::numeric[],
                $34::text[], $35::numeric[], $36::numeric[], $37::bigint[], $38::text[], $39::text[], $40::bigint[], $41::bigint[])
            WITH ORDINALITY AS u(program_id, partner_id, conversion_id, kind, amount, currency, payout_amount,
                payout_currency, fx_rate, rate, reverses_entry_id, cause, provenance, hold_until_ms, created_at_ms, n)
        JOIN new_conversions c ON c.program_id = u.program_id AND c.id = u.conversion_id
        ORDER BY u.n
        RETURNING id, hold_until_ms
    ), due AS (
        INSERT INTO approval_queue (entry_id, due_ms) SELECT id, hold_until_ms FROM new_entries
    )
    SELECT program_id, id FROM new_conversions";

    /// The set-based reference check (see [`references_present`]): `$1` the distinct
    /// programs, `$2`/`$3` the distinct (program, partner) pairs.
    const REFERENCES: &str = "WITH programs AS (
        SELECT id FROM programs WHERE id = ANY($1::text[]) FOR KEY SHARE
    ), partners AS (
        SELECT p.id FROM partners p
        JOIN unnest($2::text[], $3::text[]) AS u(program_id, id)
            ON p.program_id = u.program_id AND p.id = u.id
        FOR KEY SHARE OF p
    )
    SELECT (SELECT count(*) FROM programs) AS programs, (SELECT count(*) FROM partners) AS partners";

    /// The columns of one batch, borrowed from it, in the order of [`WRITE`]'s parameters.
    #[derive(Default)]
    struct Columns<'a> {
        conv_program: Vec<&'a str>,
        conv_id: Vec<&'a str>,
        conv_amount: Vec<Amount>,
        conv_currency: Vec<&'a str>,
        conv_occurred: Vec<i64>,
        conv_customer: Vec<Option<&'a str>>,
        conv_country: Vec<Option<&'a str>>,
        conv_region: Vec<Option<&'a str>>,
        conv_new_customer: Vec<bool>,
        conv_created: Vec<i64>,
        conv_payload_hash: Vec<&'a str>,
        conv_result: Vec<&'a str>,
        conv_attributes: Vec<String>,
        tp_program: Vec<&'a str>,
        tp_conversion: Vec<&'a str>,
        tp_seq: Vec<i64>,
        tp_partner: Vec<&'a str>,
        tp_channel: Vec<&'a str>,
        tp_occurred: Vec<i64>,
        tp_campaign: Vec<Option<&'a str>>,
        attr_program: Vec<&'a str>,
        attr_conversion: Vec<&'a str>,
        attr_partner: Vec<&'a str>,
        attr_weight: Vec<Decimal>,
        attr_amount: Vec<Amount>,
        attr_currency: Vec<&'a str>,
        attr_occurred: Vec<i64>,
        entry_program: Vec<&'a str>,
        entry_partner: Vec<&'a str>,
        entry_conversion: Vec<Option<&'a str>>,
        entry_kind: Vec<&'static str>,
        entry_amount: Vec<Amount>,
        entry_currency: Vec<&'a str>,
        entry_payout_amount: Vec<Amount>,
        entry_payout_currency: Vec<&'a str>,
        entry_fx_rate: Vec<Decimal>,
        entry_rate: Vec<Option<Decimal>>,
        entry_reverses: Vec<Option<i64>>,
        entry_cause: Vec<&'a str>,
        entry_provenance: Vec<Option<&'a str>>,
        entry_hold_until: Vec<i64>,
        entry_created: Vec<i64>,
    }

    impl<'a> Columns<'a> {
        fn of(batch: &[&'a NewConversion]) -> Self {
            let mut c = Self::default();
            let now = now_ms();
            for n in batch {
                let conv = &n.conversion;
                c.conv_program.push(&conv.program_id);
                c.conv_id.push(&conv.id);
                c.conv_amount.push(Amount(conv.amount));
                c.conv_currency.push(&conv.currency);
                c.conv_occurred.push(conv.occurred_at_ms);
                c.conv_customer.push(conv.customer_id.as_deref());
                c.conv_country.push(conv.country.as_deref());
                c.conv_region.push(conv.region.as_deref());
                c.conv_new_customer.push(conv.new_customer);
                c.conv_created.push(n.created_at_ms);
                c.conv_payload_hash.push(&n.payload_hash);
                c.conv_result.push(&n.result);
                c.conv_attributes
                    .push(super::attributes_json(&conv.attributes));
                for (seq, t) in conv.touchpoints.iter().enumerate() {
                    c.tp_program.push(&conv.program_id);
                    c.tp_conversion.push(&conv.id);
                    c.tp_seq.push(seq as i64);
                    c.tp_partner.push(&t.partner_id);
                    c.tp_channel.push(&t.channel);
                    c.tp_occurred.push(t.occurred_at_ms);
                    c.tp_campaign.push(t.campaign.as_deref());
                }
                for a in &n.attributions {
                    c.attr_program.push(&conv.program_id);
                    c.attr_conversion.push(&conv.id);
                    c.attr_partner.push(&a.partner_id);
                    c.attr_weight.push(a.weight);
                    c.attr_amount.push(Amount(a.attributed_amount));
                    c.attr_currency.push(&conv.currency);
                    c.attr_occurred.push(conv.occurred_at_ms);
                }
                // The same columns, in the same order, as `ledger::insert_entries` writes.
                for e in &n.entries {
                    c.entry_program.push(&e.program_id);
                    c.entry_partner.push(&e.partner_id);
                    c.entry_conversion.push(e.conversion_id.as_deref());
                    c.entry_kind.push(e.kind.as_str());
                    c.entry_amount.push(Amount(e.amount));
                    c.entry_currency.push(&e.currency);
                    c.entry_payout_amount.push(Amount(e.payout_amount));
                    c.entry_payout_currency.push(&e.payout_currency);
                    c.entry_fx_rate.push(e.fx_rate);
                    c.entry_rate.push(e.rate);
                    c.entry_reverses.push(e.reverses_entry_id);
                    c.entry_cause.push(&e.cause);
                    c.entry_provenance.push(e.provenance.as_deref());
                    c.entry_hold_until.push(e.hold_until_ms);
                    c.entry_created.push(now);
                }
            }
            c
        }

        /// [`WRITE`] with every parameter bound, `$1` to `$42`.
        fn statement(&self) -> sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments> {
            sqlx::query(WRITE)
                .bind(&self.conv_program)
                .bind(&self.conv_id)
                .bind(&self.conv_amount)
                .bind(&self.conv_currency)
                .bind(&self.conv_occurred)
                .bind(&self.conv_customer)
                .bind(&self.conv_country)
                .bind(&self.conv_region)
                .bind(&self.conv_new_customer)
                .bind(&self.conv_created)
                .bind(&self.conv_payload_hash)
                .bind(&self.conv_result)
                .bind(&self.tp_program)
                .bind(&self.tp_conversion)
                .bind(&self.tp_seq)
                .bind(&self.tp_partner)
                .bind(&self.tp_channel)
                .bind(&self.tp_occurred)
                .bind(&self.tp_campaign)
                .bind(&self.attr_program)
                .bind(&self.attr_conversion)
                .bind(&self.attr_partner)
                .bind(&self.attr_weight)
                .bind(&self.attr_amount)
                .bind(&self.attr_currency)
                .bind(&self.attr_occurred)
                .bind(&self.entry_program)
                .bind(&self.entry_partner)
                .bind(&self.entry_conversion)
                .bind(&self.entry_kind)
                .bind(&self.entry_amount)
                .bind(&self.entry_currency)
                .bind(&self.entry_payout_amount)
                .bind(&self.entry_payout_currency)
                .bind(&self.entry_fx_rate)
                .bind(&self.entry_rate)
                .bind(&self.entry_reverses)
                .bind(&self.entry_cause)
                .bind(&self.entry_provenance)
                .bind(&self.entry_hold_until)
                .bind(&self.entry_created)
                .bind(&self.conv_attributes)
        }
    }

    /// The stored idempotency records `(payload hash, result)` among `keys` of a program,
    /// in one statement whatever the number of keys. A join with the keys, not
    /// `key = ANY(...)`: given many keys, PostgreSQL 15 may plan the latter as a scan of all
    /// the program's records filtered by the list, which grows with the table (22 ms at
    /// 11,000 records and 500 keys, against 1 ms for 500 probes).
    pub(super) async fn idempotency_records(
        pool: &PgPool,
        program_id: &str,
        keys: &[String],
    ) -> Result<HashMap<String, (String, String)>> {
        let rows = sqlx::query(
            "SELECT r.key, r.payload_hash, r.result FROM unnest($2::text[]) AS k(key)
             JOIN idempotency_records r ON r.program_id = $1 AND r.key = k.key",
        )
        .bind(program_id)
        .bind(keys)
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("key")?,
                    (r.try_get("payload_hash")?, r.try_get("result")?),
                ))
            })
            .collect()
    }

    /// Write `batch` (in key order; no entry carries initial events) and return the keys
    /// inserted; the others exist already.
    pub(super) async fn write(
        store: &Store,
        pool: &PgPool,
        batch: &[&NewConversion],
    ) -> Result<HashSet<(String, String)>> {
        let columns = Columns::of(batch);
        let fail = store.take_fail_point();
        let checked_once = batch.len() >= Store::STATEMENT_CHECK_MIN_BATCH
            && batch
                .iter()
                .all(|c| c.entries.iter().all(|e| e.reverses_entry_id.is_none()))
            && store.statement_checks().await;
        if checked_once {
            let mut tx = pool.begin().await?;
            // Local to this transaction: the row-level foreign-key triggers do not fire
            // for its statements. What they would check is proven below, once.
            sqlx::query("SET LOCAL session_replication_role = replica")
                .execute(&mut *tx)
                .await?;
            if references_present(&mut tx, batch).await? {
                let rows = columns
                    .statement()
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::from_db)?;
                if fail {
                    return lose_connection(tx).await;
                }
                tx.commit().await.map_err(StoreError::from_db)?;
                store.count_checks(true);
                return inserted_keys(&rows);
            }
            // Something the batch names is missing: give the foreign keys the batch, so
            // the error is theirs, word for word, as on the row-checked path.
            tx.rollback().await?;
        }
        if fail {
            // The test hook loses the connection in the middle of a transaction: run the
            // same statement inside one, then lose it before the commit.
            let mut tx = pool.begin().await?;
            columns
                .statement()
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::from_db)?;
            return lose_connection(tx).await;
        }
        let rows = columns
            .statement()
            .fetch_all(pool)
            .await
            .map_err(StoreError::from_db)?;
        store.count_checks(false);
        inserted_keys(&rows)
    }

    /// The test fail point: the server ends this very session, and the open transaction
    /// dies with it.
    async fn lose_connection<T>(mut tx: Transaction<'_, Postgres>) -> Result<T> {
        let _ = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
            .execute(&mut *tx)
            .await;
        Err(StoreError::Database(sqlx::Error::Protocol(
            "connection lost mid-batch (fail point)".into(),
        )))
    }

    fn inserted_keys(rows: &[PgRow]) -> Result<HashSet<(String, String)>> {
        rows.iter()
            .map(|r| Ok((r.try_get("program_id")?, r.try_get("id")?)))
            .collect()
    }

    /// Lock and count what the batch's rows refer to outside the batch, the way the
    /// foreign-key checks would (`FOR KEY SHARE`: a concurrent delete or key change waits
    /// for this transaction), but once per distinct program and partner instead of once
    /// per row. The references among the batch's own rows (idempotency record, touchpoints,
    /// attributions and entries to their conversion) hold by construction: the statement
    /// joins each of them to the conversions it inserted.
    async fn references_present(
        tx: &mut Transaction<'_, Postgres>,
        batch: &[&NewConversion],
    ) -> Result<bool> {
        let programs: BTreeSet<&str> = batch
            .iter()
            .map(|c| c.conversion.program_id.as_str())
            .collect();
        let partners: BTreeSet<(&str, &str)> = batch
            .iter()
            .flat_map(|c| {
                let program = c.conversion.program_id.as_str();
                let touched = c
                    .conversion
                    .touchpoints
                    .iter()
                    .map(|t| t.partner_id.as_str());
                let credited = c.attributions.iter().map(|a| a.partner_id.as_str());
                touched.chain(credited).map(move |p| (program, p)).chain(
                    c.entries
                        .iter()
                        .map(|e| (e.program_id.as_str(), e.partner_id.as_str())),
                )
            })
            .collect();
        let (partner_programs, partner_ids): (Vec<&str>, Vec<&str>) =
            partners.iter().copied().unzip();
        let row = sqlx::query(REFERENCES)
            .bind(programs.iter().copied().collect::<Vec<&str>>())
            .bind(partner_programs)
            .bind(partner_ids)
            .fetch_one(&mut **tx)
            .await
            .map_err(StoreError::from_db)?;
        let found_programs: i64 = row.try_get("programs")?;
        let found_partners: i64 = row.try_get("partners")?;
        Ok(found_programs == programs.len() as i64 && found_partners == partners.len() as i64)
    }
}
