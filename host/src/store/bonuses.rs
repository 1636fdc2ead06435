//! Performance bonuses: the facts a period close needs, and its exactly-once record.

use super::ledger::NewEntry;
use super::{Result, Store, StoreError, currency, money, now_ms};
use crate::domain::Currency;
use rust_decimal::Decimal;
use sqlx::Row;

/// One partner's attributed share of one conversion, with what the conversion lost to
/// refunds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodAttribution {
    /// Partner.
    pub partner_id: String,
    /// Conversion.
    pub conversion_id: String,
    /// Attributed revenue, sale currency.
    pub attributed_amount: Decimal,
    /// Sale currency.
    pub currency: Currency,
    /// When the conversion happened (ms).
    pub occurred_at_ms: i64,
    /// The conversion's amount.
    pub conversion_amount: Decimal,
}

/// A bonus decision as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BonusRecord {
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// Period start (ms, inclusive).
    pub period_start_ms: i64,
    /// Period end (ms, exclusive).
    pub period_end_ms: i64,
    /// The bonus plug-in's digest.
    pub plugin_digest: String,
    /// The decision, as JSON (bonus and reason).
    pub decision: String,
    /// Amount, program currency (0 when no bonus).
    pub amount: Decimal,
    /// Program currency.
    pub currency: Currency,
    /// The bonus entry, if one was written.
    pub ledger_entry_id: Option<i64>,
}

impl Store {
    /// The rows of a period query whose parameters are (program, from, to); `query` is
    /// already in this backend's dialect.
    async fn period_rows(
        &self,
        query: &str,
        program_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        Ok(sqlx::query(query)
            .bind(program_id)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(self.pool())
            .await?)
    }

    /// Attributions of a program's conversions that occurred in `[from_ms, to_ms)`.
    pub async fn period_attributions(
        &self,
        program_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<PeriodAttribution>> {
        let rows = self
            .period_rows(
                &format!("SELECT a.partner_id, a.conversion_id, a.attributed_amount{t} AS attributed_amount, a.currency,
                        a.occurred_at_ms, c.amount{t} AS conversion_amount
                 FROM revenue_attributions a JOIN conversions c ON c.program_id = a.program_id AND c.id = a.conversion_id
                 WHERE a.program_id = $1 AND a.occurred_at_ms >= $2 AND a.occurred_at_ms < $3
                 ORDER BY a.partner_id, a.conversion_id", t = self.dialect().text()),
                program_id,
                from_ms,
                to_ms,
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PeriodAttribution {
                    partner_id: r.try_get("partner_id")?,
                    conversion_id: r.try_get("conversion_id")?,
                    attributed_amount: money(r, "attributed_amount", "currency")?,
                    currency: currency(r, "currency")?,
                    occurred_at_ms: r.try_get("occurred_at_ms")?,
                    conversion_amount: money(r, "conversion_amount", "currency")?,
                })
            })
            .collect()
    }

    /// Refunded totals of a program's conversions in `[from_ms, to_ms)`, by conversion.
    pub async fn period_refunds(
        &self,
        program_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(String, Decimal)>> {
        let rows = self
            .period_rows(
                &format!(
                    "SELECT f.conversion_id, f.amount{t} AS amount, c.currency FROM refunds f
                 JOIN conversions c ON c.program_id = f.program_id AND c.id = f.conversion_id
                 WHERE f.program_id = $1 AND c.occurred_at_ms >= $2 AND c.occurred_at_ms < $3",
                    t = self.dialect().text()
                ),
                program_id,
                from_ms,
                to_ms,
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("conversion_id")?, money(r, "amount", "currency")?)))
            .collect()
    }

    /// Net commission entries (not bonuses) of a program's conversions in `[from_ms, to_ms)`:
    /// `(partner, amount, currency)`.
    pub async fn period_commissions(
        &self,
        program_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(String, Decimal, Currency)>> {
        let rows = self
            .period_rows(
                &format!("SELECT e.partner_id, e.amount{t} AS amount, e.currency FROM ledger_entries e
                 JOIN conversions c ON c.program_id = e.program_id AND c.id = e.conversion_id
                 WHERE e.program_id = $1 AND c.occurred_at_ms >= $2 AND c.occurred_at_ms < $3 AND e.kind <> 'bonus'", t = self.dialect().text()),
                program_id,
                from_ms,
                to_ms,
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("partner_id")?,
                    money(r, "amount", "currency")?,
                    currency(r, "currency")?,
                ))
            })
            .collect()
    }

    /// The bonus already recorded for this partner and period start, if any.
    pub async fn bonus(
        &self,
        program_id: &str,
        partner_id: &str,
        period_start_ms: i64,
    ) -> Result<Option<BonusRecord>> {
        let row = sqlx::query(&format!(
            "SELECT program_id, partner_id, period_start_ms, period_end_ms, plugin_digest, decision,
                    amount{t} AS amount, currency, ledger_entry_id
             FROM performance_bonuses WHERE program_id = $1 AND partner_id = $2 AND period_start_ms = $3",
            t = self.dialect().text()
        ))
        .bind(program_id)
        .bind(partner_id)
        .bind(period_start_ms)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(BonusRecord {
                program_id: r.try_get("program_id")?,
                partner_id: r.try_get("partner_id")?,
                period_start_ms: r.try_get("period_start_ms")?,
                period_end_ms: r.try_get("period_end_ms")?,
                plugin_digest: r.try_get("plugin_digest")?,
                decision: r.try_get("decision")?,
                amount: money(&r, "amount", "currency")?,
                currency: currency(&r, "currency")?,
                ledger_entry_id: r.try_get("ledger_entry_id")?,
            })
        })
        .transpose()
    }

    /// Record a bonus decision and its entry in one transaction. The (program, partner,
    /// period start) key makes a period close exactly-once across replicas: a second
    /// writer gets [`StoreError::Conflict`] and writes nothing.
    pub async fn record_bonus(
        &self,
        b: &BonusRecord,
        entry: Option<&NewEntry>,
    ) -> Result<Option<i64>> {
        let mut tx = self.pool().begin().await?;
        // The decision row first: it is the claim. A concurrent close waits here for the
        // other transaction and then fails on the key, before writing any entry.
        sqlx::query(&format!(
            "INSERT INTO performance_bonuses (program_id, partner_id, period_start_ms, period_end_ms, plugin_digest,
                decision, amount, currency, ledger_entry_id, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7{n}, $8, NULL, $9)",
            n = self.dialect().numeric()
        ))
        .bind(&b.program_id)
        .bind(&b.partner_id)
        .bind(b.period_start_ms)
        .bind(b.period_end_ms)
        .bind(&b.plugin_digest)
        .bind(&b.decision)
        .bind(b.amount.to_string())
        .bind(b.currency.code())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_db)?;
        let mut entry_id = None;
        if let Some(e) = entry {
            entry_id = Some(super::ledger::insert_one(self, &mut tx, e).await?);
            sqlx::query("UPDATE performance_bonuses SET ledger_entry_id = $4 WHERE program_id = $1 AND partner_id = $2 AND period_start_ms = $3")
                .bind(&b.program_id)
                .bind(&b.partner_id)
                .bind(b.period_start_ms)
                .bind(entry_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_db)?;
        }
        tx.commit().await.map_err(StoreError::from_db)?;
        Ok(entry_id)
    }
}
