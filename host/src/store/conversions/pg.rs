//! The ingest write on PostgreSQL: one statement for the whole batch.
//!
//! Each column travels as one parameter, an array in PostgreSQL's binary format (through
//! the store's native PostgreSQL pool: the `Any` driver has no arrays), and `unnest` turns
//! the columns back into rows. The statement's text does not depend on the number of rows,
//! so it is prepared once per connection and reused (multi-row `VALUES` lists made the
//! server parse and plan thousands of placeholders per chunk, and the driver bind every
//! cell). Binary arrays also spare the server from parsing text literals: with the results
//! and provenance documents in them, that parsing was a tenth of the statement's time.
//!
//! The conversions are inserted first (`ON CONFLICT DO NOTHING`, in key order, so that
//! concurrent batches never deadlock); the other tables are written in data-modifying
//! `WITH` clauses of the same statement, joined to the conversions it actually inserted, so
//! keys another writer holds get nothing. Under [`Store::STATEMENT_CHECK_MIN_BATCH`]
//! conversions the statement runs alone: it is atomic on its own, so a single conversion's
//! write is one round trip (it was seven), and the foreign keys check its rows at the end
//! of it. Larger batches check their references once, in a transaction around the same
//! statement (see [`write`] and [`crate::store::BatchChecks`]).

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
    INSERT INTO conversions (program_id, id, amount, currency, occurred_at_ms, customer_id, country, region, new_customer, created_at_ms, attributes, click_id, visitor_hash, email_hash)
    SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::boolean[], $10::bigint[], $42::text[], $43::text[], $44::text[], $45::text[])
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
), entries_to_roll_up AS (
    INSERT INTO analytics_queue (kind, ref_id) SELECT 'entry', id FROM new_entries
), conversions_to_roll_up AS (
    INSERT INTO analytics_queue (kind, program_id, ref)
    SELECT 'conversion', program_id, id FROM new_conversions ORDER BY program_id, id
)
SELECT program_id, id FROM new_conversions";

/// The set-based reference check (see [`references_present`]): `$1` the distinct
/// programs, `$2`/`$3` the distinct (program, partner) pairs. Each partner is a
/// primary-key probe whatever the cached generic plan (see [`idempotency_records`]).
const REFERENCES: &str = "WITH programs AS (
    SELECT id FROM programs WHERE id = ANY($1::text[]) FOR KEY SHARE
), partners AS (
    SELECT p.id FROM unnest($2::text[], $3::text[]) AS u(program_id, id)
    CROSS JOIN LATERAL (
        SELECT p.id FROM partners p
        WHERE p.id = u.id AND p.program_id = u.program_id
        LIMIT 1 FOR KEY SHARE
    ) p
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
    conv_click: Vec<Option<&'a str>>,
    conv_visitor: Vec<Option<&'a str>>,
    conv_email: Vec<Option<&'a str>>,
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
    entry_cause: Vec<String>,
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
            c.conv_click.push(conv.signals.click_id.as_deref());
            c.conv_visitor.push(n.visitor_hash.as_deref());
            c.conv_email.push(n.email_hash.as_deref());
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
                c.entry_currency.push(e.currency.code());
                c.entry_payout_amount.push(Amount(e.payout_amount));
                c.entry_payout_currency.push(e.payout_currency.code());
                c.entry_fx_rate.push(e.fx_rate);
                c.entry_rate.push(e.rate);
                c.entry_reverses.push(e.reverses_entry_id);
                c.entry_cause.push(e.cause.to_string());
                c.entry_provenance.push(e.provenance.as_deref());
                c.entry_hold_until.push(e.hold_until_ms);
                c.entry_created.push(now);
            }
        }
        c
    }

    /// [`WRITE`] with every parameter bound, `$1` to `$45`.
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
            .bind(&self.conv_click)
            .bind(&self.conv_visitor)
            .bind(&self.conv_email)
    }
}

/// The stored idempotency records `(payload hash, result)` among `keys` of a program,
/// in one statement whatever the number of keys: one primary-key probe per key, whatever
/// the plan. Neither `key = ANY(...)` nor a plain join with the keys will do: the
/// statement is prepared once per connection, and its generic plan, made while the
/// table was small, scans all of the program's records and hashes them (22 ms at 11,000
/// records and 500 keys against 1 ms for 500 probes; at 500 single conversions a second
/// this made every lookup grow with the ledger, until the service fell seconds behind).
/// A lateral subquery with `LIMIT 1` (the key is the primary key, so it changes no
/// answer) cannot be flattened into that join, so each key is an index probe.
pub(super) async fn idempotency_records(
    pool: &PgPool,
    program_id: &str,
    keys: &[String],
) -> Result<HashMap<String, (String, String)>> {
    let rows = sqlx::query(
        "SELECT r.key, r.payload_hash, r.result FROM unnest($2::text[]) AS k(key)
         CROSS JOIN LATERAL (
             SELECT i.key, i.payload_hash, i.result FROM idempotency_records i
             WHERE i.program_id = $1 AND i.key = k.key LIMIT 1
         ) r",
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
    let (partner_programs, partner_ids): (Vec<&str>, Vec<&str>) = partners.iter().copied().unzip();
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
