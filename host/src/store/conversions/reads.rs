//! Reading conversions back: one with its touchpoints and refunds, a program's in a time
//! range, counts, and a conversion's attributions.

use super::{ConversionRecord, NewAttribution};
use crate::domain::conversion::{ConversionInput, TouchpointInput};
use crate::store::{Result, Store, StoreError, dec, money};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::any::AnyRow;

impl Store {
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
                new_customer: crate::store::boolean(row, "new_customer")?,
                attributes: {
                    let text: String = row.try_get("attributes")?;
                    serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))?
                },
                touchpoints: Vec::new(),
                // The click is kept as posted; the visitor and the e-mail address only as
                // keyed hashes, which are not what was posted.
                signals: crate::domain::conversion::Signals {
                    click_id: row.try_get("click_id")?,
                    ..Default::default()
                },
            },
            refunded: Decimal::ZERO,
        })
    }

    /// The columns [`Store::conversion_row`] reads.
    fn conversion_columns(&self) -> String {
        format!(
            "program_id, id, amount{} AS amount, currency, occurred_at_ms, customer_id, country, region, new_customer, attributes, click_id",
            self.dialect().text()
        )
    }

    /// One conversion with its touchpoints and refunds.
    pub async fn conversion(&self, program_id: &str, id: &str) -> Result<Option<ConversionRecord>> {
        let q = format!(
            "SELECT {} FROM conversions WHERE program_id = $1 AND id = $2",
            self.conversion_columns()
        );
        let Some(row) = sqlx::query(&q)
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
            self.conversion_columns()
        );
        let rows = sqlx::query(&q)
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
        let refunds = sqlx::query(&format!(
            "SELECT amount{} AS amount FROM refunds WHERE program_id = $1 AND conversion_id = $2",
            self.dialect().text()
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

    /// Attributions of one conversion: `(partner, weight, attributed amount)`.
    pub async fn attributions(
        &self,
        program_id: &str,
        conversion_id: &str,
    ) -> Result<Vec<NewAttribution>> {
        let text = self.dialect().text();
        let rows = sqlx::query(&format!(
            "SELECT partner_id, weight{text} AS weight, attributed_amount{text} AS attributed_amount, currency
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
