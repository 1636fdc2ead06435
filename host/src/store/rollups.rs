//! Rollup persistence: the analytics queue (what the rollups have yet to take in, written
//! in the transaction of each fact), the analytics job's step, the rollup upserts, click
//! and lead events, customers and cohorts.
//!
//! Why a queue rather than a watermark over ids: ids are handed out before their
//! transactions commit, and commit in any order, so a reader that passed id N may later
//! see N − 1 appear; the queue holds exactly what has not been taken in, and a step
//! claims, applies and deletes its rows in one transaction (PostgreSQL: `FOR UPDATE SKIP
//! LOCKED`, so replicas take disjoint rows). A step's cost follows the facts it takes in,
//! never the size of the ledger.
//!
//! Click and lead events are high-volume and come in batches of their own: they are added
//! to the funnel rollup in the transaction that inserts them, without the queue.

use super::dialect::{Dialect, JsonColumn};
use super::payouts::push_ids;
use super::{Backend, Result, Store, StoreError, dec};
use crate::domain::analytics::buckets::{GRAINS, Span};
use crate::domain::analytics::customers::{CohortDelta, CohortKey, CustomerState};
use crate::domain::analytics::rollup::{
    FunnelDelta, PROGRAM_ROW, Rollup, SALES_COLUMNS, SalesDelta,
};
use crate::domain::fx::FxHistory;
use crate::domain::ledger::EntryKind;
use rust_decimal::Decimal;
use sqlx::{Any, QueryBuilder, Row};
use std::collections::{BTreeMap, HashMap};

/// Rows per JSON document.
const JSON_CHUNK: usize = 5_000;

async fn json_insert<T: serde::Serialize>(
    tx: &mut sqlx::Transaction<'_, Any>,
    sql: &str,
    rows: &[T],
) -> Result<()> {
    for chunk in rows.chunks(JSON_CHUNK) {
        let doc =
            serde_json::to_string(chunk).map_err(|e| StoreError::Corrupt(format!("rows: {e}")))?;
        sqlx::query(sql)
            .bind(doc)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from_db)?;
    }
    Ok(())
}

fn insert_sql(dialect: Dialect, table: &str, columns: &[(&str, JsonColumn)], tail: &str) -> String {
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    format!(
        "INSERT INTO {table} ({}) {} {tail}",
        names.join(", "),
        dialect.json_rows(columns)
    )
}

#[derive(serde::Serialize)]
struct QueueRow<'a> {
    kind: &'a str,
    program_id: Option<&'a str>,
    #[serde(rename = "ref")]
    reference: Option<&'a str>,
    ref2: Option<&'a str>,
    ref_id: Option<i64>,
}

const QUEUE_COLUMNS: &[(&str, JsonColumn)] = &[
    ("kind", JsonColumn::Text),
    ("program_id", JsonColumn::Text),
    ("ref", JsonColumn::Text),
    ("ref2", JsonColumn::Text),
    ("ref_id", JsonColumn::Integer),
];

async fn enqueue(
    dialect: Dialect,
    tx: &mut sqlx::Transaction<'_, Any>,
    rows: &[QueueRow<'_>],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    json_insert(
        tx,
        &insert_sql(dialect, "analytics_queue", QUEUE_COLUMNS, ""),
        rows,
    )
    .await
}

/// Queue ledger entries for the rollups, in the transaction that writes them.
pub(super) async fn enqueue_entries(
    dialect: Dialect,
    tx: &mut sqlx::Transaction<'_, Any>,
    ids: &[i64],
) -> Result<()> {
    let rows: Vec<QueueRow<'_>> = ids
        .iter()
        .map(|id| QueueRow {
            kind: "entry",
            program_id: None,
            reference: None,
            ref2: None,
            ref_id: Some(*id),
        })
        .collect();
    enqueue(dialect, tx, &rows).await
}

/// Queue conversions `(program, id)` for the rollups, in the transaction that writes them.
pub(super) async fn enqueue_conversions(
    dialect: Dialect,
    tx: &mut sqlx::Transaction<'_, Any>,
    keys: &[(&str, &str)],
) -> Result<()> {
    let rows: Vec<QueueRow<'_>> = keys
        .iter()
        .map(|(p, id)| QueueRow {
            kind: "conversion",
            program_id: Some(p),
            reference: Some(id),
            ref2: None,
            ref_id: None,
        })
        .collect();
    enqueue(dialect, tx, &rows).await
}

/// Queue a refund for the rollups, in the transaction that writes it.
pub(super) async fn enqueue_refund(
    dialect: Dialect,
    tx: &mut sqlx::Transaction<'_, Any>,
    program_id: &str,
    conversion_id: &str,
    refund_id: &str,
) -> Result<()> {
    enqueue(
        dialect,
        tx,
        &[QueueRow {
            kind: "refund",
            program_id: Some(program_id),
            reference: Some(conversion_id),
            ref2: Some(refund_id),
            ref_id: None,
        }],
    )
    .await
}

/// A click the conversion names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickFact {
    /// The click's partner.
    pub partner_id: String,
    /// Its channel.
    pub channel: Option<String>,
    /// Its campaign.
    pub campaign: Option<String>,
    /// When (ms).
    pub occurred_at_ms: i64,
}

/// A conversion as the rollups take it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionFact {
    /// Program.
    pub program_id: String,
    /// Id.
    pub id: String,
    /// Sale amount.
    pub amount: Decimal,
    /// Sale currency.
    pub currency: String,
    /// When (ms).
    pub occurred_at_ms: i64,
    /// The merchant's customer id.
    pub customer_id: Option<String>,
    /// Credited partners: `(partner, weight, attributed revenue)`.
    pub attributions: Vec<(String, Decimal, Decimal)>,
    /// Touchpoints: `(partner, channel, campaign, ms)`, in order.
    pub touchpoints: Vec<(String, String, Option<String>, i64)>,
    /// The click it names, if that click is stored.
    pub click: Option<ClickFact>,
    /// The visitor's keyed hash: the sale's own, else its click's.
    pub visitor_hash: Option<String>,
    /// The customer's e-mail address's keyed hash.
    pub email_hash: Option<String>,
    /// Queued again by a rebuild (the fraud rules judged it when it came).
    pub rebuilt: bool,
}

/// A ledger entry as the rollups take it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFact {
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// Kind.
    pub kind: EntryKind,
    /// Amount in `currency` (the sale's for commissions and their reversals).
    pub amount: Decimal,
    /// Currency.
    pub currency: String,
    /// The instant it counts at: its conversion's for a commission, its own otherwise.
    pub at_ms: i64,
}

/// A refund as the rollups take it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFact {
    /// Program.
    pub program_id: String,
    /// Conversion.
    pub conversion_id: String,
    /// Amount refunded, sale currency.
    pub amount: Decimal,
    /// Sale currency.
    pub currency: String,
    /// When (ms).
    pub at_ms: i64,
    /// The conversion's credited partners: `(partner, weight, attributed revenue)`.
    pub attributions: Vec<(String, Decimal, Decimal)>,
    /// Queued again by a rebuild.
    pub rebuilt: bool,
}

/// What one step of the analytics job reads, for the engine to decide on.
#[derive(Debug, Clone, Default)]
pub struct AnalyticsFacts {
    /// Conversions, by instant then id.
    pub conversions: Vec<ConversionFact>,
    /// Ledger entries.
    pub entries: Vec<EntryFact>,
    /// Refunds.
    pub refunds: Vec<RefundFact>,
    /// The stored state of the conversions' customers, by (program, customer id).
    pub customers: HashMap<(String, String), CustomerState>,
    /// Each program's currency.
    pub program_currency: HashMap<String, String>,
    /// The recorded rates.
    pub fx: FxHistory,
}

/// What one step writes.
#[derive(Debug, Clone, Default)]
pub struct AnalyticsWrites {
    /// Rollup deltas.
    pub rollup: Rollup,
    /// Customers whose state changed (complete states), by (program, customer id), and
    /// whether each is new.
    pub customers: Vec<((String, String), CustomerState, bool)>,
    /// Cohort cells to add to, by program.
    pub cohorts: BTreeMap<(String, CohortKey), CohortDelta>,
}

/// A funnel event to insert: a click or a lead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewEvent {
    /// Program.
    pub program_id: String,
    /// The client's event id (the idempotency key, per program).
    pub id: String,
    /// `click` or `lead`.
    pub kind: String,
    /// Partner.
    pub partner_id: String,
    /// When (ms).
    pub occurred_at_ms: i64,
    /// The visitor's keyed hash.
    pub visitor_hash: Option<String>,
    /// Campaign.
    pub campaign: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Landing page.
    pub landing_page: Option<String>,
    /// Country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// `desktop`, `mobile`, `tablet`, `bot`, `other`.
    pub user_agent_class: Option<String>,
    /// A lead's click.
    pub click_id: Option<String>,
    /// When received (ms).
    pub created_at_ms: i64,
}

const EVENT_COLUMNS: &[(&str, JsonColumn)] = &[
    ("program_id", JsonColumn::Text),
    ("id", JsonColumn::Text),
    ("kind", JsonColumn::Text),
    ("partner_id", JsonColumn::Text),
    ("occurred_at_ms", JsonColumn::Integer),
    ("visitor_hash", JsonColumn::Text),
    ("campaign", JsonColumn::Text),
    ("channel", JsonColumn::Text),
    ("landing_page", JsonColumn::Text),
    ("country", JsonColumn::Text),
    ("user_agent_class", JsonColumn::Text),
    ("click_id", JsonColumn::Text),
    ("created_at_ms", JsonColumn::Integer),
];

/// The rollups' key columns and the queries' JSON types for them.
const SALES_KEY: &[(&str, JsonColumn)] = &[
    ("program_id", JsonColumn::Text),
    ("grain", JsonColumn::Text),
    ("partner_id", JsonColumn::Text),
    ("bucket_ms", JsonColumn::Integer),
    ("currency", JsonColumn::Text),
    ("converted", JsonColumn::Integer),
];
const FUNNEL_KEY: &[(&str, JsonColumn)] = &[
    ("program_id", JsonColumn::Text),
    ("grain", JsonColumn::Text),
    ("partner_id", JsonColumn::Text),
    ("bucket_ms", JsonColumn::Integer),
    ("channel", JsonColumn::Text),
    ("campaign", JsonColumn::Text),
];
/// The funnel rollup's value columns, in stored order.
pub const FUNNEL_COLUMNS: [&str; 11] = [
    "clicks", "leads", "sales", "ttc_0", "ttc_1", "ttc_2", "ttc_3", "ttc_4", "ttc_5", "ttc_6",
    "ttc_7",
];

fn funnel_values(d: &FunnelDelta) -> [i64; 11] {
    let mut v = [0; 11];
    v[0] = d.clicks;
    v[1] = d.leads;
    v[2] = d.sales;
    v[3..].copy_from_slice(&d.ttc);
    v
}

/// `INSERT ... ON CONFLICT (key) DO UPDATE SET v = t.v + excluded.v, ...`.
fn upsert_sql(
    dialect: Dialect,
    table: &str,
    key: &[(&str, JsonColumn)],
    values: &[&str],
) -> String {
    let mut columns: Vec<(&str, JsonColumn)> = key.to_vec();
    columns.extend(values.iter().map(|v| (*v, JsonColumn::Integer)));
    let keys: Vec<&str> = key.iter().map(|(n, _)| *n).collect();
    let sets: Vec<String> = values
        .iter()
        .map(|v| format!("{v} = {table}.{v} + excluded.{v}"))
        .collect();
    insert_sql(
        dialect,
        table,
        &columns,
        &format!(
            "ON CONFLICT ({}) DO UPDATE SET {}",
            keys.join(", "),
            sets.join(", ")
        ),
    )
}

/// Add `rollup`'s deltas to the rollup tables, in key order.
pub(super) async fn apply(
    tx: &mut sqlx::Transaction<'_, Any>,
    dialect: Dialect,
    rollup: &Rollup,
) -> Result<()> {
    let sales: Vec<serde_json::Value> = rollup
        .sales
        .iter()
        .map(|(k, d)| {
            let mut row = serde_json::json!({
                "program_id": k.program_id, "grain": k.grain.code(), "partner_id": k.partner_id,
                "currency": k.currency, "converted": i64::from(k.converted), "bucket_ms": k.bucket_ms,
            });
            for (name, v) in d.columns() {
                row[name] = v.into();
            }
            row
        })
        .collect();
    if !sales.is_empty() {
        let sql = upsert_sql(dialect, "rollup_sales", SALES_KEY, &SALES_COLUMNS);
        json_insert(tx, &sql, &sales).await?;
    }
    let funnel: Vec<serde_json::Value> = rollup
        .funnel
        .iter()
        .map(|(k, d)| {
            let mut row = serde_json::json!({
                "program_id": k.program_id, "grain": k.grain.code(), "partner_id": k.partner_id,
                "channel": k.channel, "campaign": k.campaign, "bucket_ms": k.bucket_ms,
            });
            for (name, v) in FUNNEL_COLUMNS.iter().zip(funnel_values(d)) {
                row[*name] = v.into();
            }
            row
        })
        .collect();
    if !funnel.is_empty() {
        let sql = upsert_sql(dialect, "rollup_funnel", FUNNEL_KEY, &FUNNEL_COLUMNS);
        json_insert(tx, &sql, &funnel).await?;
    }
    Ok(())
}

/// Queue rows claimed by a step.
struct Claimed {
    ids: Vec<i64>,
    conversions: usize,
    entries: usize,
    refunds: usize,
}

/// A credited partner: `(partner, weight, attributed revenue)`.
type Credit = (String, Decimal, Decimal);
/// A touchpoint: `(partner, channel, campaign, ms)`.
type Touch = (String, String, Option<String>, i64);
/// Rows of each conversion, by (program, conversion id).
type ByConversion<T> = HashMap<(String, String), Vec<T>>;

fn text_opt(r: &sqlx::any::AnyRow, c: &str) -> Result<Option<String>> {
    Ok(r.try_get::<Option<String>, _>(c)?)
}

impl Store {
    /// One step of the analytics job: claim up to `limit` rows of the queue (oldest
    /// first; on PostgreSQL skipping rows another replica holds), read the facts they
    /// name, let `plan` decide what they add, write that, delete the rows, commit.
    /// Returns how many rows were taken in (0: nothing was due).
    pub async fn analytics_step(
        &self,
        limit: i64,
        plan: impl FnOnce(&AnalyticsFacts) -> std::result::Result<AnalyticsWrites, String>,
    ) -> Result<(usize, Vec<String>)> {
        let dialect = self.dialect();
        let mut tx = self.pool().begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT id, kind FROM analytics_queue ORDER BY id LIMIT $1{}",
            dialect.claim()
        ))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok((0, Vec::new()));
        }
        let mut claimed = Claimed {
            ids: Vec::with_capacity(rows.len()),
            conversions: 0,
            entries: 0,
            refunds: 0,
        };
        for r in &rows {
            claimed.ids.push(r.try_get("id")?);
            match r.try_get::<String, _>("kind")?.as_str() {
                "conversion" => claimed.conversions += 1,
                "entry" => claimed.entries += 1,
                _ => claimed.refunds += 1,
            }
        }
        let facts = self.analytics_facts(&mut tx, &claimed).await?;
        let writes = plan(&facts).map_err(StoreError::Corrupt)?;
        apply(&mut tx, dialect, &writes.rollup).await?;
        write_customers(&mut tx, dialect, &writes).await?;
        // After the rollups: the refund-rate rule reads them with this step's refunds in.
        super::fraud::judge(&mut tx, &facts).await?;
        for chunk in claimed.ids.chunks(2_000) {
            let mut qb = QueryBuilder::<Any>::new("DELETE FROM analytics_queue WHERE id IN (");
            push_ids(&mut qb, chunk);
            let (sql, args) = dialect.statement(&mut qb)?;
            sqlx::query_with(&sql, args)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_db)?;
        }
        tx.commit().await.map_err(StoreError::from_db)?;
        let programs = writes.rollup.programs().into_iter().collect();
        Ok((claimed.ids.len(), programs))
    }

    /// Rows waiting in the analytics queue (the job's backlog).
    pub async fn analytics_backlog(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM analytics_queue")
            .fetch_one(self.pool())
            .await?
            .try_get("n")?)
    }

    /// A statement over the claimed queue rows `q` (`{ids}` is replaced by their list).
    async fn over_claimed(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        claimed: &Claimed,
        sql: &str,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        let mut out = Vec::new();
        for chunk in claimed.ids.chunks(2_000) {
            let (head, tail) = sql.split_once("{ids}").unwrap_or((sql, ""));
            let mut qb = QueryBuilder::<Any>::new(head);
            qb.push("(");
            push_ids(&mut qb, chunk);
            qb.push(tail);
            let (text, args) = self.dialect().statement(&mut qb)?;
            out.extend(sqlx::query_with(&text, args).fetch_all(&mut **tx).await?);
        }
        Ok(out)
    }

    async fn analytics_facts(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        claimed: &Claimed,
    ) -> Result<AnalyticsFacts> {
        let t = self.dialect().text();
        let mut facts = AnalyticsFacts::default();
        let mut attributions: ByConversion<Credit> = HashMap::new();
        if claimed.conversions + claimed.refunds > 0 {
            for r in self
                .over_claimed(
                    tx,
                    claimed,
                    &format!(
                        "SELECT a.program_id, a.conversion_id, a.partner_id, a.weight{t} AS weight,
                             a.attributed_amount{t} AS attributed
                         FROM analytics_queue q JOIN revenue_attributions a
                           ON a.program_id = q.program_id AND a.conversion_id = q.ref
                         WHERE q.kind IN ('conversion', 'refund') AND q.id IN {{ids}}
                         ORDER BY a.program_id, a.conversion_id, a.partner_id"
                    ),
                )
                .await?
            {
                let list = attributions
                    .entry((r.try_get("program_id")?, r.try_get("conversion_id")?))
                    .or_default();
                let item = (
                    r.try_get("partner_id")?,
                    dec(&r, "weight")?,
                    dec(&r, "attributed")?,
                );
                // A conversion refunded in the same step is read twice.
                if !list.contains(&item) {
                    list.push(item);
                }
            }
        }
        if claimed.conversions > 0 {
            self.conversion_facts(tx, claimed, &mut facts, &attributions)
                .await?;
        }
        if claimed.entries > 0 {
            for r in self
                .over_claimed(
                    tx,
                    claimed,
                    &format!(
                        "SELECT e.program_id, e.partner_id, e.kind, e.amount{t} AS amount, e.currency,
                             e.created_at_ms, c.occurred_at_ms AS conversion_at
                         FROM analytics_queue q JOIN ledger_entries e ON e.id = q.ref_id
                         LEFT JOIN conversions c ON e.kind = 'commission'
                             AND c.program_id = e.program_id AND c.id = e.conversion_id
                         WHERE q.kind = 'entry' AND q.id IN {{ids}}"
                    ),
                )
                .await?
            {
                let kind: String = r.try_get("kind")?;
                let conversion_at: Option<i64> = r.try_get("conversion_at")?;
                facts.entries.push(EntryFact {
                    program_id: r.try_get("program_id")?,
                    partner_id: r.try_get("partner_id")?,
                    kind: EntryKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("entry kind {kind}")))?,
                    amount: dec(&r, "amount")?,
                    currency: r.try_get("currency")?,
                    at_ms: conversion_at.unwrap_or(r.try_get("created_at_ms")?),
                });
            }
        }
        if claimed.refunds > 0 {
            for r in self
                .over_claimed(
                    tx,
                    claimed,
                    &format!(
                        "SELECT r.program_id, r.conversion_id, r.amount{t} AS amount, r.created_at_ms, c.currency,
                             q.ref_id AS rebuilt
                         FROM analytics_queue q
                         JOIN refunds r ON r.program_id = q.program_id AND r.conversion_id = q.ref AND r.id = q.ref2
                         JOIN conversions c ON c.program_id = r.program_id AND c.id = r.conversion_id
                         WHERE q.kind = 'refund' AND q.id IN {{ids}}"
                    ),
                )
                .await?
            {
                let key: (String, String) = (r.try_get("program_id")?, r.try_get("conversion_id")?);
                facts.refunds.push(RefundFact {
                    attributions: attributions.get(&key).cloned().unwrap_or_default(),
                    program_id: key.0,
                    conversion_id: key.1,
                    amount: dec(&r, "amount")?,
                    currency: r.try_get("currency")?,
                    at_ms: r.try_get("created_at_ms")?,
                    rebuilt: r.try_get::<Option<i64>, _>("rebuilt")?.is_some(),
                });
            }
        }
        let programs: std::collections::BTreeSet<String> = facts
            .conversions
            .iter()
            .map(|c| c.program_id.clone())
            .chain(facts.entries.iter().map(|e| e.program_id.clone()))
            .chain(facts.refunds.iter().map(|r| r.program_id.clone()))
            .collect();
        for p in &programs {
            if let Some(r) = sqlx::query("SELECT currency FROM programs WHERE id = $1")
                .bind(p)
                .fetch_optional(&mut **tx)
                .await?
            {
                facts
                    .program_currency
                    .insert(p.clone(), r.try_get("currency")?);
            }
        }
        // The rates table is what operators record, not the ledger: read whole.
        for r in sqlx::query(&format!(
            "SELECT base, quote, effective_from_ms, rate{t} AS rate FROM fx_rates"
        ))
        .fetch_all(&mut **tx)
        .await?
        {
            facts.fx.insert(
                &r.try_get::<String, _>("base")?,
                &r.try_get::<String, _>("quote")?,
                r.try_get("effective_from_ms")?,
                dec(&r, "rate")?,
            );
        }
        Ok(facts)
    }

    async fn conversion_facts(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        claimed: &Claimed,
        facts: &mut AnalyticsFacts,
        attributions: &ByConversion<Credit>,
    ) -> Result<()> {
        let mut touchpoints: ByConversion<Touch> = HashMap::new();
        for r in self
            .over_claimed(
                tx,
                claimed,
                "SELECT t.program_id, t.conversion_id, t.partner_id, t.channel, t.campaign, t.occurred_at_ms
                 FROM analytics_queue q JOIN touchpoints t
                   ON t.program_id = q.program_id AND t.conversion_id = q.ref
                 WHERE q.kind = 'conversion' AND q.id IN {ids}
                 ORDER BY t.program_id, t.conversion_id, t.seq",
            )
            .await?
        {
            touchpoints
                .entry((r.try_get("program_id")?, r.try_get("conversion_id")?))
                .or_default()
                .push((
                    r.try_get("partner_id")?,
                    r.try_get("channel")?,
                    text_opt(&r, "campaign")?,
                    r.try_get("occurred_at_ms")?,
                ));
        }
        let rows = self
            .over_claimed(
                tx,
                claimed,
                &format!("SELECT c.program_id, c.id, c.amount{t} AS amount, c.currency, c.occurred_at_ms, c.customer_id,
                     k.partner_id AS click_partner, k.channel AS click_channel,
                     k.campaign AS click_campaign, k.occurred_at_ms AS click_at,
                     COALESCE(c.visitor_hash, k.visitor_hash) AS visitor_hash, c.email_hash, q.ref2 AS rebuilt
                 FROM analytics_queue q JOIN conversions c ON c.program_id = q.program_id AND c.id = q.ref
                 LEFT JOIN analytics_events k ON k.program_id = c.program_id AND k.id = c.click_id
                     AND k.kind = 'click'
                 WHERE q.kind = 'conversion' AND q.id IN {{ids}}", t = self.dialect().text()),
            )
            .await?;
        for r in rows {
            let key: (String, String) = (r.try_get("program_id")?, r.try_get("id")?);
            let click_at: Option<i64> = r.try_get("click_at")?;
            let click = match click_at {
                Some(at) => Some(ClickFact {
                    partner_id: r.try_get("click_partner")?,
                    channel: text_opt(&r, "click_channel")?,
                    campaign: text_opt(&r, "click_campaign")?,
                    occurred_at_ms: at,
                }),
                None => None,
            };
            facts.conversions.push(ConversionFact {
                attributions: attributions.get(&key).cloned().unwrap_or_default(),
                touchpoints: touchpoints.remove(&key).unwrap_or_default(),
                amount: dec(&r, "amount")?,
                currency: r.try_get("currency")?,
                occurred_at_ms: r.try_get("occurred_at_ms")?,
                customer_id: text_opt(&r, "customer_id")?,
                click,
                visitor_hash: text_opt(&r, "visitor_hash")?,
                email_hash: text_opt(&r, "email_hash")?,
                rebuilt: text_opt(&r, "rebuilt")?.is_some(),
                program_id: key.0,
                id: key.1,
            });
        }
        facts.conversions.sort_by(|a, b| {
            (a.occurred_at_ms, &a.program_id, &a.id).cmp(&(b.occurred_at_ms, &b.program_id, &b.id))
        });
        // The customers they name, locked (PostgreSQL) until the step commits: a step in
        // another replica taking in the same customer's purchase waits for this one.
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE OF cu",
            Backend::Sqlite => "",
        };
        let customer_rows = self
            .over_claimed(
                tx,
                claimed,
                &format!(
                    "SELECT cu.program_id, cu.customer_id, cu.first_ms, cu.first_conversion_id, cu.acquired_by,
                         cu.first_partners, cu.first_currency
                     FROM analytics_queue q JOIN conversions c ON c.program_id = q.program_id AND c.id = q.ref
                     JOIN customers cu ON cu.program_id = c.program_id AND cu.customer_id = c.customer_id
                     WHERE q.kind = 'conversion' AND q.id IN {{ids}}
                     ORDER BY cu.program_id, cu.customer_id{lock}"
                ),
            )
            .await?;
        for r in customer_rows {
            let key: (String, String) = (r.try_get("program_id")?, r.try_get("customer_id")?);
            let partners: String = r.try_get("first_partners")?;
            facts.customers.insert(
                key,
                CustomerState {
                    first_ms: r.try_get("first_ms")?,
                    first_conversion_id: r.try_get("first_conversion_id")?,
                    acquired_by: r.try_get("acquired_by")?,
                    first_partners: serde_json::from_str(&partners)
                        .map_err(|e| StoreError::Corrupt(format!("first_partners: {e}")))?,
                    first_currency: r.try_get("first_currency")?,
                    months: BTreeMap::new(),
                },
            );
        }
        if !facts.customers.is_empty() {
            let months = self
                .over_claimed(
                    tx,
                    claimed,
                    "SELECT DISTINCT m.program_id, m.customer_id, m.month_ms, m.orders, m.revenue
                     FROM analytics_queue q JOIN conversions c ON c.program_id = q.program_id AND c.id = q.ref
                     JOIN customer_months m ON m.program_id = c.program_id AND m.customer_id = c.customer_id
                     WHERE q.kind = 'conversion' AND q.id IN {ids}",
                )
                .await?;
            for r in months {
                let key: (String, String) = (r.try_get("program_id")?, r.try_get("customer_id")?);
                if let Some(s) = facts.customers.get_mut(&key) {
                    s.months.insert(
                        r.try_get("month_ms")?,
                        (r.try_get("orders")?, r.try_get("revenue")?),
                    );
                }
            }
        }
        Ok(())
    }

    /// Insert funnel events, skipping ids the program has already, and add the new ones
    /// to the funnel rollup with `rollup_of`, in one transaction. Returns the events
    /// inserted, as `(program, id)`.
    pub async fn insert_events(
        &self,
        events: &[NewEvent],
        rollup_of: impl FnOnce(&[&NewEvent]) -> Rollup,
    ) -> Result<Vec<(String, String)>> {
        let dialect = self.dialect();
        let mut sorted: Vec<&NewEvent> = events.iter().collect();
        sorted.sort_by(|a, b| (&a.program_id, &a.id).cmp(&(&b.program_id, &b.id)));
        sorted.dedup_by(|a, b| a.program_id == b.program_id && a.id == b.id);
        let mut tx = self.pool().begin().await?;
        let sql = insert_sql(
            dialect,
            "analytics_events",
            EVENT_COLUMNS,
            "ON CONFLICT (program_id, id) DO NOTHING RETURNING program_id, id",
        );
        let mut inserted = Vec::new();
        for chunk in sorted.chunks(JSON_CHUNK) {
            let doc = serde_json::to_string(chunk)
                .map_err(|e| StoreError::Corrupt(format!("events: {e}")))?;
            for r in sqlx::query(&sql)
                .bind(doc)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::from_db)?
            {
                inserted.push((
                    r.try_get::<String, _>("program_id")?,
                    r.try_get::<String, _>("id")?,
                ));
            }
        }
        let set: std::collections::HashSet<(&str, &str)> = inserted
            .iter()
            .map(|(p, i)| (p.as_str(), i.as_str()))
            .collect();
        let new: Vec<&NewEvent> = sorted
            .into_iter()
            .filter(|e| set.contains(&(e.program_id.as_str(), e.id.as_str())))
            .collect();
        apply(&mut tx, dialect, &rollup_of(&new)).await?;
        tx.commit().await.map_err(StoreError::from_db)?;
        Ok(inserted)
    }

    /// The stored events of a program among `ids`, as `(id, kind, partner, ms)`.
    pub async fn events_by_id(
        &self,
        program_id: &str,
        ids: &[String],
    ) -> Result<Vec<(String, String, String, i64)>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(1_000) {
            let mut qb = QueryBuilder::<Any>::new(
                "SELECT id, kind, partner_id, occurred_at_ms FROM analytics_events WHERE program_id = ",
            );
            qb.push_bind(program_id).push(" AND id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str());
            }
            qb.push(")");
            let (sql, args) = self.dialect().statement(&mut qb)?;
            for r in sqlx::query_with(&sql, args).fetch_all(self.pool()).await? {
                out.push((
                    r.try_get("id")?,
                    r.try_get("kind")?,
                    r.try_get("partner_id")?,
                    r.try_get("occurred_at_ms")?,
                ));
            }
        }
        Ok(out)
    }

    /// Empty every rollup, customer and cohort table and queue every stored fact again
    /// (`accrue analytics backfill`): the job then rebuilds them from the raw tables. The
    /// click and lead rollups are rebuilt from the events here. Returns the events.
    pub async fn analytics_reset(&self) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        for table in [
            "rollup_sales",
            "rollup_funnel",
            "rollup_cohorts",
            "customer_months",
            "customers",
            "analytics_queue",
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        for sql in [
            "INSERT INTO analytics_queue (kind, program_id, ref, ref2) SELECT 'conversion', program_id, id, 'rebuild' FROM conversions ORDER BY occurred_at_ms, program_id, id",
            "INSERT INTO analytics_queue (kind, ref_id) SELECT 'entry', id FROM ledger_entries ORDER BY id",
            "INSERT INTO analytics_queue (kind, program_id, ref, ref2, ref_id) SELECT 'refund', program_id, conversion_id, id, 1 FROM refunds ORDER BY created_at_ms",
        ] {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        // The funnel's clicks and leads from the events, set-based: the quarter hours
        // from the events, each coarser grain from the one below, the program's rows from
        // its partners'. (The same rows `events_rollup` adds one batch at a time; the
        // conformance test checks the rebuild gives the rows the ingest gave.) The sales
        // are added by the job, from the conversions queued above.
        let events: i64 = sqlx::query("SELECT COUNT(*) AS n FROM analytics_events")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        // The bucket start as `Grain::floor` computes it: `%` truncates toward zero in both
        // dialects, so an instant before 1970 needs the Euclidean form.
        let floor =
            |col: &str, unit: i64| format!("({col} - ((({col}) % {unit}) + {unit}) % {unit})");
        let [finest, ..] = GRAINS;
        let mut statements = vec![format!(
            "INSERT INTO rollup_funnel (program_id, grain, partner_id, bucket_ms, channel, campaign, clicks, leads)
             SELECT program_id, '{code}', partner_id, {bucket}, COALESCE(channel, ''), COALESCE(campaign, ''),
                    SUM(CASE WHEN kind = 'click' THEN 1 ELSE 0 END), SUM(CASE WHEN kind = 'lead' THEN 1 ELSE 0 END)
             FROM analytics_events
             GROUP BY program_id, partner_id, {bucket}, COALESCE(channel, ''), COALESCE(campaign, '')",
            code = finest.code(),
            bucket = floor("occurred_at_ms", finest.ms()),
        )];
        for pair in GRAINS.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            statements.push(format!(
                "INSERT INTO rollup_funnel (program_id, grain, partner_id, bucket_ms, channel, campaign, clicks, leads)
                 SELECT program_id, '{code}', partner_id, {bucket}, channel, campaign, SUM(clicks), SUM(leads)
                 FROM rollup_funnel WHERE grain = '{below}'
                 GROUP BY program_id, partner_id, {bucket}, channel, campaign",
                code = to.code(),
                below = from.code(),
                bucket = floor("bucket_ms", to.ms()),
            ));
        }
        statements.push(format!(
            "INSERT INTO rollup_funnel (program_id, grain, partner_id, bucket_ms, channel, campaign, clicks, leads)
             SELECT program_id, grain, '{PROGRAM_ROW}', bucket_ms, channel, campaign, SUM(clicks), SUM(leads)
             FROM rollup_funnel WHERE partner_id <> '{PROGRAM_ROW}'
             GROUP BY program_id, grain, bucket_ms, channel, campaign"
        ));
        for sql in &statements {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        let events = u64::try_from(events).unwrap_or(0);
        tx.commit().await.map_err(StoreError::from_db)?;
        Ok(events)
    }
}

#[derive(serde::Serialize)]
struct CustomerRow<'a> {
    program_id: &'a str,
    customer_id: &'a str,
    first_ms: i64,
    first_conversion_id: &'a str,
    acquired_by: &'a str,
    first_partners: String,
    first_currency: &'a str,
}

const CUSTOMER_COLUMNS: &[(&str, JsonColumn)] = &[
    ("program_id", JsonColumn::Text),
    ("customer_id", JsonColumn::Text),
    ("first_ms", JsonColumn::Integer),
    ("first_conversion_id", JsonColumn::Text),
    ("acquired_by", JsonColumn::Text),
    ("first_partners", JsonColumn::Text),
    ("first_currency", JsonColumn::Text),
];

#[derive(serde::Serialize)]
struct MonthRow<'a> {
    program_id: &'a str,
    customer_id: &'a str,
    month_ms: i64,
    orders: i64,
    revenue: i64,
}

const MONTH_COLUMNS: &[(&str, JsonColumn)] = &[
    ("program_id", JsonColumn::Text),
    ("customer_id", JsonColumn::Text),
    ("month_ms", JsonColumn::Integer),
    ("orders", JsonColumn::Integer),
    ("revenue", JsonColumn::Integer),
];

const COHORT_KEY: &[(&str, JsonColumn)] = &[
    ("program_id", JsonColumn::Text),
    ("partner_id", JsonColumn::Text),
    ("cohort_ms", JsonColumn::Integer),
    ("month_ms", JsonColumn::Integer),
];

/// Write the customers a step changed (new ones inserted: a concurrent step that
/// inserted the same customer makes this one fail and be retried; known ones updated
/// under the lock taken when they were read), their months, and the cohort deltas.
async fn write_customers(
    tx: &mut sqlx::Transaction<'_, Any>,
    dialect: Dialect,
    writes: &AnalyticsWrites,
) -> Result<()> {
    let mut fresh = Vec::new();
    let mut known = Vec::new();
    let mut months = Vec::new();
    for ((program_id, customer_id), s, is_new) in &writes.customers {
        let row = CustomerRow {
            program_id,
            customer_id,
            first_ms: s.first_ms,
            first_conversion_id: &s.first_conversion_id,
            acquired_by: &s.acquired_by,
            first_partners: serde_json::to_string(&s.first_partners).unwrap_or_default(),
            first_currency: &s.first_currency,
        };
        if *is_new {
            fresh.push(row);
        } else {
            known.push(row);
        }
        for (&month_ms, &(orders, revenue)) in &s.months {
            months.push(MonthRow {
                program_id,
                customer_id,
                month_ms,
                orders,
                revenue,
            });
        }
    }
    if !fresh.is_empty() {
        json_insert(
            tx,
            &insert_sql(dialect, "customers", CUSTOMER_COLUMNS, ""),
            &fresh,
        )
        .await?;
    }
    if !known.is_empty() {
        let sql = insert_sql(
            dialect,
            "customers",
            CUSTOMER_COLUMNS,
            "ON CONFLICT (program_id, customer_id) DO UPDATE SET first_ms = excluded.first_ms,
                 first_conversion_id = excluded.first_conversion_id, acquired_by = excluded.acquired_by,
                 first_partners = excluded.first_partners, first_currency = excluded.first_currency",
        );
        json_insert(tx, &sql, &known).await?;
    }
    if !months.is_empty() {
        let sql = insert_sql(
            dialect,
            "customer_months",
            MONTH_COLUMNS,
            "ON CONFLICT (program_id, customer_id, month_ms) DO UPDATE SET orders = excluded.orders,
                 revenue = excluded.revenue",
        );
        json_insert(tx, &sql, &months).await?;
    }
    let cohorts: Vec<serde_json::Value> = writes
        .cohorts
        .iter()
        .filter(|(_, d)| **d != (0, 0, 0))
        .map(
            |((program_id, (partner_id, cohort_ms, month_ms)), (c, o, r))| {
                serde_json::json!({
                    "program_id": program_id, "partner_id": partner_id, "cohort_ms": cohort_ms,
                    "month_ms": month_ms, "customers": c, "orders": o, "revenue": r,
                })
            },
        )
        .collect();
    if !cohorts.is_empty() {
        let sql = upsert_sql(
            dialect,
            "rollup_cohorts",
            COHORT_KEY,
            &["customers", "orders", "revenue"],
        );
        json_insert(tx, &sql, &cohorts).await?;
    }
    Ok(())
}

/// Sales rollup rows summed: `(index, group, currency, converted, figures)`.
pub type SalesSums = Vec<(usize, String, String, bool, SalesDelta)>;

/// Funnel rollup rows summed: `(index, group, figures)`.
pub type FunnelSums = Vec<(usize, String, FunnelDelta)>;

/// How summed rollup rows are grouped beside the span index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupGroup {
    /// Not at all (the group is `""`).
    None,
    /// By partner (the program's own rows left out).
    Partner,
    /// By channel (funnel only).
    Channel,
    /// By campaign (funnel only).
    Campaign,
}

#[derive(serde::Serialize)]
struct SpanRow {
    idx: i64,
    grain: &'static str,
    start_ms: i64,
    end_ms: i64,
}

const SPAN_COLUMNS: &[(&str, JsonColumn)] = &[
    ("idx", JsonColumn::Integer),
    ("grain", JsonColumn::Text),
    ("start_ms", JsonColumn::Integer),
    ("end_ms", JsonColumn::Integer),
];

/// The rows of rollup `table` in each span (`$1`, see [`span_doc`]) of program `$2` that
/// match `who`, as `s` (the span) and `r` (the row).
fn spans_join(dialect: Dialect, table: &str, who: &str) -> String {
    dialect.per_row_join(
        &dialect.json_rows(SPAN_COLUMNS),
        "s",
        table,
        "r",
        &format!("r.program_id = $2 AND r.grain = s.grain AND r.bucket_ms >= s.start_ms AND r.bucket_ms < s.end_ms AND {who}"),
    )
}

fn span_doc(spans: &[(usize, Span)]) -> Result<String> {
    let rows: Vec<SpanRow> = spans
        .iter()
        .map(|(i, s)| SpanRow {
            idx: *i as i64,
            grain: s.grain.code(),
            start_ms: s.start_ms,
            end_ms: s.end_ms,
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(format!("spans: {e}")))
}

impl Store {
    /// The sales rollup summed over each of `spans` (an index may repeat: a local day is
    /// several runs of buckets), for the partner `partner` (`None`: the program's own
    /// rows), or, with [`RollupGroup::Partner`], for every partner apart.
    pub async fn sales_sums(
        &self,
        program_id: &str,
        partner: Option<&str>,
        group: RollupGroup,
        spans: &[(usize, Span)],
    ) -> Result<SalesSums> {
        if spans.is_empty() {
            return Ok(Vec::new());
        }
        let sums: Vec<String> = SALES_COLUMNS
            .iter()
            .map(|c| format!("CAST(SUM(r.{c}) AS BIGINT) AS {c}"))
            .collect();
        let (who, group_col) = match group {
            RollupGroup::Partner => ("r.partner_id <> ''", "r.partner_id"),
            _ => ("r.partner_id = $3", "''"),
        };
        let sql = format!(
            "SELECT s.idx, {group_col} AS grp, r.currency, r.converted, {sums}
             FROM {from}
             GROUP BY s.idx{group_by}, r.currency, r.converted",
            group_by = if group == RollupGroup::Partner {
                ", r.partner_id"
            } else {
                ""
            },
            sums = sums.join(", "),
            from = spans_join(self.dialect(), "rollup_sales", who),
        );
        let mut q = sqlx::query(&sql).bind(span_doc(spans)?).bind(program_id);
        if group != RollupGroup::Partner {
            q = q.bind(partner.unwrap_or(""));
        }
        let mut out = Vec::new();
        for r in q.fetch_all(self.pool()).await? {
            let mut d = SalesDelta::default();
            let v: Vec<i64> = SALES_COLUMNS
                .iter()
                .map(|c| {
                    r.try_get::<Option<i64>, _>(*c)
                        .map(Option::unwrap_or_default)
                })
                .collect::<std::result::Result<_, _>>()?;
            d.conversions = v[0];
            d.new_customers = v[1];
            d.returning_customers = v[2];
            d.revenue = v[3];
            d.refunded = v[4];
            d.commissions = v[5];
            d.bonuses = v[6];
            d.reversals = v[7];
            d.adjustments = v[8];
            d.fees = v[9];
            d.withholding = v[10];
            d.unconverted = v[11];
            let idx: i64 = r.try_get("idx")?;
            out.push((
                usize::try_from(idx).unwrap_or_default(),
                r.try_get("grp")?,
                r.try_get("currency")?,
                r.try_get::<i64, _>("converted")? != 0,
                d,
            ));
        }
        Ok(out)
    }

    /// The funnel rollup summed over each of `spans`, for `partner` (`None`: the
    /// program's rows), grouped by `group`.
    pub async fn funnel_sums(
        &self,
        program_id: &str,
        partner: Option<&str>,
        group: RollupGroup,
        spans: &[(usize, Span)],
    ) -> Result<FunnelSums> {
        if spans.is_empty() {
            return Ok(Vec::new());
        }
        let sums: Vec<String> = FUNNEL_COLUMNS
            .iter()
            .map(|c| format!("CAST(SUM(r.{c}) AS BIGINT) AS {c}"))
            .collect();
        let (who, group_col) = match group {
            RollupGroup::Partner => ("r.partner_id <> ''", "r.partner_id"),
            RollupGroup::Channel => ("r.partner_id = $3", "r.channel"),
            RollupGroup::Campaign => ("r.partner_id = $3", "r.campaign"),
            RollupGroup::None => ("r.partner_id = $3", "''"),
        };
        let sql = format!(
            "SELECT s.idx, {group_col} AS grp, {sums}
             FROM {from}
             GROUP BY s.idx{group_by}",
            group_by = if group == RollupGroup::None {
                String::new()
            } else {
                format!(", {group_col}")
            },
            sums = sums.join(", "),
            from = spans_join(self.dialect(), "rollup_funnel", who),
        );
        let mut q = sqlx::query(&sql).bind(span_doc(spans)?).bind(program_id);
        if group != RollupGroup::Partner {
            q = q.bind(partner.unwrap_or(""));
        }
        let mut out = Vec::new();
        for r in q.fetch_all(self.pool()).await? {
            let v: Vec<i64> = FUNNEL_COLUMNS
                .iter()
                .map(|c| {
                    r.try_get::<Option<i64>, _>(*c)
                        .map(Option::unwrap_or_default)
                })
                .collect::<std::result::Result<_, _>>()?;
            let mut ttc = [0; 8];
            ttc.copy_from_slice(&v[3..]);
            let idx: i64 = r.try_get("idx")?;
            out.push((
                usize::try_from(idx).unwrap_or_default(),
                r.try_get("grp")?,
                FunnelDelta {
                    clicks: v[0],
                    leads: v[1],
                    sales: v[2],
                    ttc,
                },
            ));
        }
        Ok(out)
    }

    /// The cohort matrix of `partner`'s customers (`""`: every customer of the program):
    /// `(cohort month, month, customers, orders, revenue)`, cohorts from `from_ms` on.
    pub async fn cohort_cells(
        &self,
        program_id: &str,
        partner: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, i64, i64, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT cohort_ms, month_ms, customers, orders, revenue FROM rollup_cohorts
             WHERE program_id = $1 AND partner_id = $2 AND cohort_ms >= $3 AND cohort_ms < $4
             ORDER BY cohort_ms, month_ms",
        )
        .bind(program_id)
        .bind(partner)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("cohort_ms")?,
                    r.try_get("month_ms")?,
                    r.try_get("customers")?,
                    r.try_get("orders")?,
                    r.try_get("revenue")?,
                ))
            })
            .collect()
    }

    /// Lifetime totals of the customers each partner acquired (`""`: all of the
    /// program's): `(partner, customers, orders, revenue in the program currency,
    /// Σ months observed)`, from the cohort matrix.
    pub async fn acquisition_totals(
        &self,
        program_id: &str,
        now_ms: i64,
    ) -> Result<Vec<(String, i64, i64, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT partner_id, cohort_ms, month_ms, customers, orders, revenue FROM rollup_cohorts
             WHERE program_id = $1",
        )
        .bind(program_id)
        .fetch_all(self.pool())
        .await?;
        let mut by: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
        for r in rows {
            let partner: String = r.try_get("partner_id")?;
            let (cohort, month): (i64, i64) = (r.try_get("cohort_ms")?, r.try_get("month_ms")?);
            let customers: i64 = r.try_get("customers")?;
            let slot = by.entry(partner).or_default();
            if cohort == month {
                slot.0 += customers;
                slot.3 += customers
                    * (crate::domain::analytics::buckets::months_between(cohort, now_ms) + 1);
            }
            slot.1 += r.try_get::<i64, _>("orders")?;
            slot.2 += r.try_get::<i64, _>("revenue")?;
        }
        Ok(by
            .into_iter()
            .map(|(p, (c, o, r, m))| (p, c, o, r, m))
            .collect())
    }
}

impl Store {
    /// The ids of a program's partners.
    pub async fn partner_ids(&self, program_id: &str) -> Result<Vec<String>> {
        sqlx::query("SELECT id FROM partners WHERE program_id = $1 ORDER BY id")
            .bind(program_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok(r.try_get("id")?))
            .collect()
    }
}
