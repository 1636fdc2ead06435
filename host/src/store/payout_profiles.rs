//! Partners' payout methods and tax profiles, and programs' withholding rules: the
//! profiles a payout run reads. Bank details and TINs arrive sealed (the engine seals
//! them); this module stores and returns them as they are and never sees them in the clear.

use super::{Result, Store, StoreError, opt_dec};
use crate::domain::payout::{Situation, TaxFacts, TaxForm, WithholdingRule};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// A partner's payout method as stored: what a payout run needs to pay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutMethodRow {
    /// The partner.
    pub partner_id: String,
    /// `sepa`, `ach`, `wire`, `paypal` or `wise`.
    pub method: String,
    /// The account holder's name.
    pub holder_name: String,
    /// `individual` or `company`.
    pub party_kind: String,
    /// The destination (an `accrue_payfiles::Method` as JSON), sealed for the partner.
    pub sealed: String,
    /// The destination with every account number, IBAN, e-mail and recipient id masked
    /// (JSON of the same shape): what answers show.
    pub masked: String,
}

/// A stored payout method with when and under which key it was sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPayoutMethod {
    /// The method.
    pub row: PayoutMethodRow,
    /// The id of the key that sealed it.
    pub key_id: String,
    /// Last set at (ms).
    pub updated_at_ms: i64,
}

/// A partner's tax profile as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxProfileRecord {
    /// The partner.
    pub partner_id: String,
    /// The form on file.
    pub form: TaxForm,
    /// The name on the form.
    pub legal_name: String,
    /// The TIN, sealed for the partner, if one was given.
    pub tin_sealed: Option<String>,
    /// The TIN's last four, masked, if one was given.
    pub tin_masked: Option<String>,
    /// The payee's country (ISO 3166-1 alpha-2).
    pub country: String,
    /// The treaty rate claimed on a W-8.
    pub treaty_rate: Option<Decimal>,
    /// Last set at (ms).
    pub updated_at_ms: i64,
}

impl TaxProfileRecord {
    /// What withholding needs of it.
    pub fn facts(&self) -> TaxFacts {
        TaxFacts {
            form: self.form,
            tin_on_file: self.tin_sealed.is_some(),
            country: self.country.clone(),
            treaty_rate: self.treaty_rate,
        }
    }
}

const METHOD_COLUMNS: &str = "m.partner_id, m.method, m.holder_name, m.party_kind, m.sealed, m.masked, m.key_id, m.updated_at_ms";

fn method_row(r: &AnyRow) -> Result<StoredPayoutMethod> {
    Ok(StoredPayoutMethod {
        row: PayoutMethodRow {
            partner_id: r.try_get("partner_id")?,
            method: r.try_get("method")?,
            holder_name: r.try_get("holder_name")?,
            party_kind: r.try_get("party_kind")?,
            sealed: r.try_get("sealed")?,
            masked: r.try_get("masked")?,
        },
        key_id: r.try_get("key_id")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
    })
}

fn tax_row(r: &AnyRow) -> Result<TaxProfileRecord> {
    let form: String = r.try_get("form")?;
    Ok(TaxProfileRecord {
        partner_id: r.try_get("partner_id")?,
        form: TaxForm::parse(&form)
            .ok_or_else(|| StoreError::Corrupt(format!("tax_profiles.form={form:?}")))?,
        legal_name: r.try_get("legal_name")?,
        tin_sealed: r.try_get("tin_sealed")?,
        tin_masked: r.try_get("tin_masked")?,
        country: r.try_get("country")?,
        treaty_rate: opt_dec(r, "treaty_rate")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
    })
}

fn rule_row(r: &AnyRow) -> Result<WithholdingRule> {
    let situation: String = r.try_get("situation")?;
    Ok(WithholdingRule {
        situation: Situation::parse(&situation).ok_or_else(|| {
            StoreError::Corrupt(format!("withholding_rules.situation={situation:?}"))
        })?,
        country: r.try_get("country")?,
        effective_from_ms: r.try_get("effective_from_ms")?,
        rate: super::dec(r, "rate")?,
    })
}

impl Store {
    /// Set a partner's payout method (replacing any), sealed under the key `key_id`.
    pub async fn put_payout_method(
        &self,
        row: &PayoutMethodRow,
        key_id: &str,
        at_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO payout_methods
                (partner_id, method, holder_name, party_kind, sealed, masked, key_id, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (partner_id) DO UPDATE SET method = excluded.method,
                holder_name = excluded.holder_name, party_kind = excluded.party_kind,
                sealed = excluded.sealed, masked = excluded.masked, key_id = excluded.key_id,
                updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&row.partner_id)
        .bind(&row.method)
        .bind(&row.holder_name)
        .bind(&row.party_kind)
        .bind(&row.sealed)
        .bind(&row.masked)
        .bind(key_id)
        .bind(at_ms)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// A partner's payout method, if set.
    pub async fn payout_method(&self, partner_id: &str) -> Result<Option<StoredPayoutMethod>> {
        let row = sqlx::query(&format!(
            "SELECT {METHOD_COLUMNS} FROM payout_methods m WHERE m.partner_id = $1"
        ))
        .bind(partner_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(method_row).transpose()
    }

    /// Remove a partner's payout method; whether there was one.
    pub async fn delete_payout_method(&self, partner_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM payout_methods WHERE partner_id = $1")
            .bind(partner_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many payout methods are stored (sealed): the service refuses to start without
    /// a key when there are any.
    pub async fn count_payout_methods(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM payout_methods")
            .fetch_one(self.pool())
            .await?
            .try_get("n")?)
    }

    /// How many payout methods each key sealed, by key id: the service checks at start
    /// that it has the key they need.
    pub async fn payout_method_key_ids(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT key_id, COUNT(*) AS n FROM payout_methods GROUP BY key_id ORDER BY key_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("key_id")?, r.try_get("n")?)))
            .collect()
    }

    /// The payout methods of a program's partners, by partner id.
    pub async fn payout_method_rows(&self, program_id: &str) -> Result<Vec<PayoutMethodRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {METHOD_COLUMNS} FROM payout_methods m JOIN partners p ON p.id = m.partner_id
             WHERE p.program_id = $1 ORDER BY m.partner_id"
        ))
        .bind(program_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(method_row(r)?.row)).collect()
    }

    /// Set a partner's tax profile (replacing any).
    pub async fn put_tax_profile(&self, p: &TaxProfileRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO tax_profiles
                (partner_id, form, legal_name, tin_sealed, tin_masked, country, treaty_rate, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7{n}, $8)
             ON CONFLICT (partner_id) DO UPDATE SET form = excluded.form,
                legal_name = excluded.legal_name, tin_sealed = excluded.tin_sealed,
                tin_masked = excluded.tin_masked, country = excluded.country,
                treaty_rate = excluded.treaty_rate, updated_at_ms = excluded.updated_at_ms",
            n = self.dialect().numeric()
        ))
        .bind(&p.partner_id)
        .bind(p.form.as_str())
        .bind(&p.legal_name)
        .bind(&p.tin_sealed)
        .bind(&p.tin_masked)
        .bind(&p.country)
        .bind(p.treaty_rate.map(|r| r.to_string()))
        .bind(p.updated_at_ms)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// A partner's tax profile, if on file.
    pub async fn tax_profile(&self, partner_id: &str) -> Result<Option<TaxProfileRecord>> {
        let row = sqlx::query(&format!(
            "SELECT partner_id, form, legal_name, tin_sealed, tin_masked, country,
                    treaty_rate{t} AS treaty_rate, updated_at_ms
             FROM tax_profiles WHERE partner_id = $1",
            t = self.dialect().text()
        ))
        .bind(partner_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(tax_row).transpose()
    }

    /// Remove a partner's tax profile; whether there was one.
    pub async fn delete_tax_profile(&self, partner_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tax_profiles WHERE partner_id = $1")
            .bind(partner_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The tax facts of a program's partners that have a profile, by partner id.
    pub async fn tax_facts(&self, program_id: &str) -> Result<HashMap<String, TaxFacts>> {
        let rows = sqlx::query(&format!(
            "SELECT t.partner_id, t.form, t.legal_name, t.tin_sealed, t.tin_masked, t.country,
                    t.treaty_rate{t} AS treaty_rate, t.updated_at_ms
             FROM tax_profiles t JOIN partners p ON p.id = t.partner_id
             WHERE p.program_id = $1",
            t = self.dialect().text()
        ))
        .bind(program_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let p = tax_row(r)?;
                Ok((p.partner_id.clone(), p.facts()))
            })
            .collect()
    }

    /// Append a withholding rule to a program. Rules are history: the same (situation,
    /// country, effective-from) again is a conflict, never an update.
    pub async fn insert_withholding_rule(
        &self,
        program_id: &str,
        rule: &WithholdingRule,
        at_ms: i64,
    ) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO withholding_rules
                (program_id, situation, country, effective_from_ms, rate, created_at_ms)
             VALUES ($1, $2, $3, $4, $5{n}, $6)",
            n = self.dialect().numeric()
        ))
        .bind(program_id)
        .bind(rule.situation.as_str())
        .bind(&rule.country)
        .bind(rule.effective_from_ms)
        .bind(rule.rate.to_string())
        .bind(at_ms)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// A program's withholding rules, by situation, country and effective-from.
    pub async fn withholding_rules(&self, program_id: &str) -> Result<Vec<WithholdingRule>> {
        let rows = sqlx::query(&format!(
            "SELECT situation, country, effective_from_ms, rate{t} AS rate
             FROM withholding_rules WHERE program_id = $1
             ORDER BY situation, country, effective_from_ms",
            t = self.dialect().text()
        ))
        .bind(program_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(rule_row).collect()
    }
}
