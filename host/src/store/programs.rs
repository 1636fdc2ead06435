//! Plug-ins, programs with their versioned rate tables, partners with their tier history,
//! and FX rates.

use super::dialect::Dialect;
use super::{Result, Store, StoreError, dec, now_ms};
use crate::domain::fx::FxRate;
use crate::domain::program::{
    PluginBinding, Program, RateTable, TierRate, VolumeMetric, VolumeTier,
};
use crate::domain::{Currency, DomainError};
use crate::plugins::World;
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// A stored plug-in component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRecord {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its name.
    pub name: String,
    /// Its version label.
    pub version: String,
    /// "attribution", "bonus" or "geo-rate".
    pub world: World,
    /// Size in bytes.
    pub size_bytes: i64,
    /// The program whose plug-in author uploaded it; `None` for platform plug-ins.
    pub owner_program_id: Option<String>,
    /// Shipped with the service.
    pub builtin: bool,
    /// When it was stored.
    pub created_at_ms: i64,
}

/// A partner with its current tier and tier history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRecord {
    /// Client-chosen id.
    pub id: String,
    /// Its program.
    pub program_id: String,
    /// Display name.
    pub name: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// Currency commissions are paid in.
    pub payout_currency: Currency,
    /// `(effective_from_ms, tier)`, oldest first.
    pub tiers: Vec<(i64, String)>,
    /// When it was created.
    pub created_at_ms: i64,
}

impl PartnerRecord {
    /// The tier in force at `at_ms` (the first tier if `at_ms` precedes them all).
    pub fn tier_at(&self, at_ms: i64) -> &str {
        self.tiers
            .iter()
            .rev()
            .find(|(from, _)| *from <= at_ms)
            .or(self.tiers.first())
            .map_or("starter", |(_, t)| t.as_str())
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Bind a program's settings as `$1..$12`: id, name, the three bindings (digest, config),
/// lookback, hold, now as the update time, and the bonus cap.
fn bind_program<'q>(query: AnyQuery<'q>, p: &Program) -> AnyQuery<'q> {
    query
        .bind(p.id.clone())
        .bind(p.name.clone())
        .bind(p.attribution.digest.clone())
        .bind(p.attribution.config_text())
        .bind(p.geo_rate.as_ref().map(|b| b.digest.clone()))
        .bind(p.geo_rate.as_ref().map(PluginBinding::config_text))
        .bind(p.bonus.as_ref().map(|b| b.digest.clone()))
        .bind(p.bonus.as_ref().map(PluginBinding::config_text))
        .bind(i64::from(p.lookback_days))
        .bind(i64::from(p.hold_days))
        .bind(now_ms())
        .bind(p.max_bonus_share.to_string())
}

/// A program's columns as [`Store::program_row`] reads them, in `dialect` (the `Any`
/// driver reads a NUMERIC only as text).
fn program_columns(dialect: Dialect) -> String {
    format!(
        "id, name, currency, attribution_digest, attribution_config, geo_digest,
    geo_config, bonus_digest, bonus_config, lookback_days, hold_days,
    max_bonus_share{t} AS max_bonus_share",
        t = dialect.text()
    )
}

/// Partners joined with their tier histories: one row per tier, ordered by the caller.
const PARTNERS_WITH_TIERS: &str =
    "SELECT p.id, p.program_id, p.name, p.country, p.payout_currency, p.created_at_ms,
        t.effective_from_ms, t.tier
    FROM partners p LEFT JOIN partner_tiers t ON t.partner_id = p.id";

/// Fold [`PARTNERS_WITH_TIERS`] rows (ordered by partner, then tier date) into partners.
fn partner_rows(rows: Vec<AnyRow>) -> Result<Vec<PartnerRecord>> {
    let mut out: Vec<PartnerRecord> = Vec::new();
    for r in rows {
        let id: String = r.try_get("id")?;
        if out.last().is_none_or(|p| p.id != id) {
            out.push(PartnerRecord {
                id,
                program_id: r.try_get("program_id")?,
                name: r.try_get("name")?,
                country: r.try_get("country")?,
                payout_currency: super::currency(&r, "payout_currency")?,
                tiers: Vec::new(),
                created_at_ms: r.try_get("created_at_ms")?,
            });
        }
        let from: Option<i64> = r.try_get("effective_from_ms")?;
        let tier: Option<String> = r.try_get("tier")?;
        if let (Some(from), Some(tier), Some(p)) = (from, tier, out.last_mut()) {
            p.tiers.push((from, tier));
        }
    }
    Ok(out)
}

/// Append to a partner's tier history (its key refuses two tiers from the same instant).
async fn insert_tier(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    partner: &str,
    from_ms: i64,
    tier: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO partner_tiers (partner_id, effective_from_ms, tier) VALUES ($1, $2, $3)",
    )
    .bind(partner)
    .bind(from_ms)
    .bind(tier)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from_db)?;
    Ok(())
}

fn corrupt(e: DomainError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl Store {
    /// Register a plug-in for its program (the platform's if `owner_program_id` is
    /// `None`), storing its code if no one has: a digest's code is stored once and shared,
    /// each program's registration of it is its own. Returns whether the registration is
    /// new (registering the same digest again for the same program keeps the first record).
    pub async fn put_plugin(&self, p: &PluginRecord, component: &[u8]) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        // The code row's name, version and owner columns are no longer read (migration
        // 0008): they are written for their NOT NULL constraints, never shown.
        sqlx::query(
            "INSERT INTO plugins (digest, name, version, world, size_bytes, component, owner_program_id, builtin, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&p.digest)
        .bind(&p.name)
        .bind(&p.version)
        .bind(p.world.as_str())
        .bind(p.size_bytes)
        .bind(component.to_vec())
        .bind(p.builtin)
        .bind(p.created_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_db)?;
        // The unique key is an expression (a NULL program is the platform), so the conflict
        // target is left implicit.
        let done = sqlx::query(
            "INSERT INTO plugin_registrations (program_id, digest, name, version, uploaded_at_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&p.owner_program_id)
        .bind(&p.digest)
        .bind(&p.name)
        .bind(&p.version)
        .bind(p.created_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_db)?;
        tx.commit().await.map_err(StoreError::from_db)?;
        Ok(done.rows_affected() == 1)
    }

    /// A registration joined with its code. Only the platform's registration of a shipped
    /// module is `builtin`: a program that uploads the same bytes has its own record.
    fn plugin_row(row: &AnyRow) -> Result<PluginRecord> {
        let owner_program_id: Option<String> = row.try_get("owner_program_id")?;
        Ok(PluginRecord {
            digest: row.try_get("digest")?,
            name: row.try_get("name")?,
            version: row.try_get("version")?,
            world: {
                let world: String = row.try_get("world")?;
                World::parse(&world)
                    .ok_or_else(|| StoreError::Corrupt(format!("plug-in world {world}")))?
            },
            size_bytes: row.try_get("size_bytes")?,
            builtin: owner_program_id.is_none() && super::boolean(row, "builtin")?,
            owner_program_id,
            created_at_ms: row.try_get("created_at_ms")?,
        })
    }

    const PLUGIN_SELECT: &'static str =
        "SELECT r.digest, r.name, r.version, p.world, p.size_bytes, r.program_id AS owner_program_id,
            p.builtin, r.uploaded_at_ms AS created_at_ms
         FROM plugin_registrations r JOIN plugins p ON p.digest = r.digest";

    /// The registration a program may bind for this digest: its own, else the platform's.
    pub async fn plugin_for(&self, program_id: &str, digest: &str) -> Result<Option<PluginRecord>> {
        let q = format!(
            "{} WHERE r.digest = $1 AND (r.program_id = $2 OR r.program_id IS NULL)
             ORDER BY CASE WHEN r.program_id IS NULL THEN 1 ELSE 0 END LIMIT 1",
            Self::PLUGIN_SELECT
        );
        let row = sqlx::query(&q)
            .bind(digest)
            .bind(program_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(Self::plugin_row).transpose()
    }

    /// Every registration of a digest: the platform's first, then by upload time.
    pub async fn plugin_registrations(&self, digest: &str) -> Result<Vec<PluginRecord>> {
        let q = format!(
            "{} WHERE r.digest = $1
             ORDER BY CASE WHEN r.program_id IS NULL THEN 0 ELSE 1 END, r.uploaded_at_ms, r.program_id",
            Self::PLUGIN_SELECT
        );
        let rows = sqlx::query(&q).bind(digest).fetch_all(self.pool()).await?;
        rows.iter().map(Self::plugin_row).collect()
    }

    /// Registrations, newest first: every one if `program` is `None`, else that program's
    /// and the platform's.
    pub async fn plugins(&self, program: Option<&str>) -> Result<Vec<PluginRecord>> {
        let q = format!(
            "{} WHERE $1 IS NULL OR r.program_id = $1 OR r.program_id IS NULL
             ORDER BY r.uploaded_at_ms DESC, r.digest, r.program_id",
            Self::PLUGIN_SELECT
        );
        let rows = sqlx::query(&q).bind(program).fetch_all(self.pool()).await?;
        rows.iter().map(Self::plugin_row).collect()
    }

    /// The newest built-in plug-in with this name (the platform's registration).
    pub async fn builtin_plugin_by_name(&self, name: &str) -> Result<Option<PluginRecord>> {
        let q = format!(
            "{} WHERE r.program_id IS NULL AND r.name = $1 AND p.builtin = $2
             ORDER BY r.uploaded_at_ms DESC LIMIT 1",
            Self::PLUGIN_SELECT
        );
        let row = sqlx::query(&q)
            .bind(name)
            .bind(true)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(Self::plugin_row).transpose()
    }

    /// Every stored component's code, with the platform's `name@version` for it where the
    /// platform registered it (a program's names stay its own: they never label the code
    /// shared with other programs). Loaded into the runtime at start.
    pub async fn plugin_components(&self) -> Result<Vec<(String, String, Vec<u8>)>> {
        let rows = sqlx::query(
            "SELECT p.digest, r.name, r.version, p.component FROM plugins p
             LEFT JOIN plugin_registrations r ON r.digest = p.digest AND r.program_id IS NULL",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let name: Option<String> = r.try_get("name")?;
                let version: Option<String> = r.try_get("version")?;
                let label = match (name, version) {
                    (Some(n), Some(v)) => format!("{n}@{v}"),
                    _ => String::new(),
                };
                Ok((r.try_get("digest")?, label, r.try_get("component")?))
            })
            .collect()
    }

    /// Create a program with its first rate table.
    pub async fn insert_program(&self, p: &Program, rates: &RateTable) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let q = format!("INSERT INTO programs (id, name, attribution_digest, attribution_config, geo_digest, geo_config,
                bonus_digest, bonus_config, lookback_days, hold_days, updated_at_ms, max_bonus_share, currency, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12{n}, $13, $11)", n = self.dialect().numeric());
        bind_program(sqlx::query(&q), p)
            .bind(p.currency.code())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_db)?;
        self.insert_rate_table_tx(&mut tx, &p.id, rates).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replace a program's settings (not its currency, nor its rate tables, which are versioned).
    pub async fn update_program(&self, p: &Program) -> Result<()> {
        let q = format!("UPDATE programs SET name = $2, attribution_digest = $3, attribution_config = $4, geo_digest = $5,
                geo_config = $6, bonus_digest = $7, bonus_config = $8, lookback_days = $9, hold_days = $10,
                updated_at_ms = $11, max_bonus_share = $12{n}
             WHERE id = $1", n = self.dialect().numeric());
        bind_program(sqlx::query(&q), p)
            .execute(self.pool())
            .await
            .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// Add a new rate table version (its `version` must be the next one).
    pub async fn insert_rate_table(&self, program_id: &str, rates: &RateTable) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        self.insert_rate_table_tx(&mut tx, program_id, rates)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_rate_table_tx(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        program_id: &str,
        rates: &RateTable,
    ) -> Result<()> {
        sqlx::query("INSERT INTO rate_tables (program_id, version, effective_from_ms, created_at_ms) VALUES ($1, $2, $3, $4)")
            .bind(program_id)
            .bind(rates.version)
            .bind(rates.effective_from_ms)
            .bind(now_ms())
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from_db)?;
        let n = self.dialect().numeric();
        for (tier, r) in &rates.tiers {
            sqlx::query(&format!(
                "INSERT INTO commission_tiers (program_id, version, tier, base_rate, bonus_rate)
                 VALUES ($1, $2, $3, $4{n}, $5{n})"
            ))
            .bind(program_id)
            .bind(rates.version)
            .bind(tier)
            .bind(r.base.to_string())
            .bind(r.bonus.to_string())
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from_db)?;
        }
        for v in &rates.volume_tiers {
            let metric = match v.metric {
                VolumeMetric::Conversions => "conversions",
                VolumeMetric::Revenue => "revenue",
            };
            sqlx::query(&format!(
                "INSERT INTO volume_tiers (program_id, version, metric, threshold, add_rate)
                 VALUES ($1, $2, $3, $4{n}, $5{n})"
            ))
            .bind(program_id)
            .bind(rates.version)
            .bind(metric)
            .bind(v.threshold.to_string())
            .bind(v.add_rate.to_string())
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from_db)?;
        }
        Ok(())
    }

    fn program_row(row: &AnyRow) -> Result<Program> {
        let binding =
            |digest: Option<String>, config: Option<String>| -> Result<Option<PluginBinding>> {
                match digest {
                    None => Ok(None),
                    Some(digest) => {
                        let config = serde_json::from_str(config.as_deref().unwrap_or("{}"))
                            .map_err(|e| StoreError::Corrupt(format!("plug-in config: {e}")))?;
                        Ok(Some(PluginBinding { digest, config }))
                    }
                }
            };
        let currency: String = row.try_get("currency")?;
        let lookback: i64 = row.try_get("lookback_days")?;
        let hold: i64 = row.try_get("hold_days")?;
        Ok(Program {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            currency: Currency::parse(&currency).map_err(corrupt)?,
            attribution: binding(
                row.try_get("attribution_digest")?,
                row.try_get("attribution_config")?,
            )?
            .ok_or_else(|| StoreError::Corrupt("program without attribution".into()))?,
            geo_rate: binding(row.try_get("geo_digest")?, row.try_get("geo_config")?)?,
            bonus: binding(row.try_get("bonus_digest")?, row.try_get("bonus_config")?)?,
            lookback_days: u32::try_from(lookback)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            hold_days: u32::try_from(hold).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            max_bonus_share: dec(row, "max_bonus_share")?,
        })
    }

    /// One program.
    pub async fn program(&self, id: &str) -> Result<Option<Program>> {
        let q = format!(
            "SELECT {columns} FROM programs WHERE id = $1",
            columns = program_columns(self.dialect())
        );
        let row = sqlx::query(&q).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(Self::program_row).transpose()
    }

    /// Every program, by id.
    pub async fn programs(&self) -> Result<Vec<Program>> {
        let q = format!(
            "SELECT {columns} FROM programs ORDER BY id",
            columns = program_columns(self.dialect())
        );
        let rows = sqlx::query(&q).fetch_all(self.pool()).await?;
        rows.iter().map(Self::program_row).collect()
    }

    /// Every rate table version of a program, oldest first.
    pub async fn rate_tables(&self, program_id: &str) -> Result<Vec<RateTable>> {
        let versions = sqlx::query(
            "SELECT version, effective_from_ms FROM rate_tables WHERE program_id = $1 ORDER BY version",
        )
        .bind(program_id)
        .fetch_all(self.pool())
        .await?;
        let t = self.dialect().text();
        let tiers = sqlx::query(&format!(
            "SELECT version, tier, base_rate{t} AS base_rate, bonus_rate{t} AS bonus_rate
             FROM commission_tiers WHERE program_id = $1"
        ))
        .bind(program_id)
        .fetch_all(self.pool())
        .await?;
        let volumes = sqlx::query(&format!(
            "SELECT version, metric, threshold{t} AS threshold, add_rate{t} AS add_rate
             FROM volume_tiers WHERE program_id = $1 ORDER BY version, metric, threshold"
        ))
        .bind(program_id)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for v in versions {
            let version: i64 = v.try_get("version")?;
            let mut table = RateTable {
                version,
                effective_from_ms: v.try_get("effective_from_ms")?,
                tiers: BTreeMap::new(),
                volume_tiers: Vec::new(),
            };
            for t in tiers
                .iter()
                .filter(|t| t.try_get::<i64, _>("version").ok() == Some(version))
            {
                table.tiers.insert(
                    t.try_get("tier")?,
                    TierRate {
                        base: dec(t, "base_rate")?,
                        bonus: dec(t, "bonus_rate")?,
                    },
                );
            }
            for t in volumes
                .iter()
                .filter(|t| t.try_get::<i64, _>("version").ok() == Some(version))
            {
                let metric: String = t.try_get("metric")?;
                table.volume_tiers.push(VolumeTier {
                    metric: if metric == "revenue" {
                        VolumeMetric::Revenue
                    } else {
                        VolumeMetric::Conversions
                    },
                    threshold: dec(t, "threshold")?,
                    add_rate: dec(t, "add_rate")?,
                });
            }
            out.push(table);
        }
        Ok(out)
    }

    /// Create a partner with its first tier (effective from `tier_from_ms`).
    pub async fn insert_partner(&self, p: &PartnerRecord) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO partners (id, program_id, name, country, payout_currency, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&p.id)
        .bind(&p.program_id)
        .bind(&p.name)
        .bind(&p.country)
        .bind(p.payout_currency.code())
        .bind(p.created_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_db)?;
        for (from, tier) in &p.tiers {
            insert_tier(&mut tx, &p.id, *from, tier).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Update a partner's details; a new tier is appended to its history, effective from `from_ms`.
    pub async fn update_partner(
        &self,
        p: &PartnerRecord,
        new_tier: Option<(i64, &str)>,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE partners SET name = $2, country = $3, payout_currency = $4 WHERE id = $1",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.country)
        .bind(p.payout_currency.code())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_db)?;
        if let Some((from, tier)) = new_tier {
            insert_tier(&mut tx, &p.id, from, tier).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Partners by id (those that exist), with their tier histories, in one query.
    pub async fn partners_by_id(&self, ids: &[String]) -> Result<Vec<PartnerRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(ids.len());
        // Well under both backends' limits on parameters per statement.
        for chunk in ids.chunks(500) {
            let list = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let q = format!(
                "{PARTNERS_WITH_TIERS} WHERE p.id IN ({list}) ORDER BY p.id, t.effective_from_ms"
            );
            let mut query = sqlx::query(&q);
            for id in chunk {
                query = query.bind(id);
            }
            out.extend(partner_rows(query.fetch_all(self.pool()).await?)?);
        }
        Ok(out)
    }

    /// A program's partners (all programs' if `None`), by id, after `cursor`, at most `limit`.
    pub async fn partners(
        &self,
        program: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PartnerRecord>> {
        let q = format!(
            "{PARTNERS_WITH_TIERS} WHERE p.id IN (SELECT id FROM partners
                WHERE ($1 IS NULL OR program_id = $1) AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3)
             ORDER BY p.id, t.effective_from_ms"
        );
        let rows = sqlx::query(&q)
            .bind(program)
            .bind(cursor)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        partner_rows(rows)
    }

    /// Record an FX rate. Recording the same (base, quote, effective-from) again with the
    /// same rate is a no-op; with another rate it is a conflict (history is not rewritten).
    pub async fn put_fx_rate(&self, r: &FxRate) -> Result<()> {
        let existing = self.fx_rates_between(r.base.code(), r.quote.code()).await?;
        if let Some((_, rate)) = existing
            .iter()
            .find(|(from, _)| *from == r.effective_from_ms)
        {
            if *rate == r.rate {
                return Ok(());
            }
            return Err(StoreError::Conflict(format!(
                "an FX rate {}→{} effective from {} already exists ({rate})",
                r.base, r.quote, r.effective_from_ms
            )));
        }
        sqlx::query(&format!(
            "INSERT INTO fx_rates (base, quote, effective_from_ms, rate, created_at_ms) VALUES ($1, $2, $3, $4{n}, $5)",
            n = self.dialect().numeric()
        ))
        .bind(r.base.code())
        .bind(r.quote.code())
        .bind(r.effective_from_ms)
        .bind(r.rate.to_string())
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(StoreError::from_db)?;
        Ok(())
    }

    async fn fx_rates_between(&self, base: &str, quote: &str) -> Result<Vec<(i64, Decimal)>> {
        let rows = sqlx::query(&format!(
            "SELECT effective_from_ms, rate{t} AS rate FROM fx_rates WHERE base = $1 AND quote = $2 ORDER BY effective_from_ms",
            t = self.dialect().text()
        ))
        .bind(base)
        .bind(quote)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("effective_from_ms")?, dec(r, "rate")?)))
            .collect()
    }

    /// The rate from `base` to `quote` in force at `at_ms`, if one was recorded.
    pub async fn fx_rate_at(&self, base: &str, quote: &str, at_ms: i64) -> Result<Option<Decimal>> {
        let row = sqlx::query(&format!(
            "SELECT rate{t} AS rate FROM fx_rates WHERE base = $1 AND quote = $2 AND effective_from_ms <= $3
             ORDER BY effective_from_ms DESC LIMIT 1",
            t = self.dialect().text()
        ))
        .bind(base)
        .bind(quote)
        .bind(at_ms)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(|r| dec(r, "rate")).transpose()
    }

    /// Every FX rate, newest first.
    pub async fn fx_rates(&self) -> Result<Vec<FxRate>> {
        let rows = sqlx::query(&format!(
            "SELECT base, quote, effective_from_ms, rate{t} AS rate FROM fx_rates ORDER BY base, quote, effective_from_ms DESC",
            t = self.dialect().text()
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let base: String = r.try_get("base")?;
                let quote: String = r.try_get("quote")?;
                Ok(FxRate {
                    base: Currency::parse(&base).map_err(corrupt)?,
                    quote: Currency::parse(&quote).map_err(corrupt)?,
                    rate: dec(r, "rate")?,
                    effective_from_ms: r.try_get("effective_from_ms")?,
                })
            })
            .collect()
    }
}
