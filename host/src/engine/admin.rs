//! Configuration: programs, rate table versions, partners, FX rates, plug-in bindings.

use super::{Engine, EngineError, Result};
use crate::domain::fx::FxRate;
use crate::domain::program::{PluginBinding, Program, RateTable};
use crate::domain::{Currency, DomainError};
use crate::plugins::{Digest, World};
use crate::store::{PartnerRecord, StoreError, now_ms};

/// The tier of a partner created without one.
pub const DEFAULT_TIER: &str = "starter";

/// A partner to create; what is `None` takes the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartner {
    /// Client-chosen id.
    pub id: String,
    /// Its program.
    pub program_id: String,
    /// Display name.
    pub name: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// Currency commissions are paid in (default: the program's).
    pub payout_currency: Option<Currency>,
    /// Its first tier (default [`DEFAULT_TIER`]).
    pub tier: Option<String>,
}

/// A plug-in reference as configured: a built-in name ("linear") or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    /// Name or `sha256:<hex>`.
    pub plugin: String,
    /// Configuration document.
    pub config: serde_json::Value,
}

fn conflict_or(e: StoreError, what: String) -> EngineError {
    match e {
        StoreError::Conflict(_) => EngineError::Conflict(format!("{what} already exists")),
        StoreError::MissingReference(m) => {
            EngineError::Domain(DomainError::invalid("reference", m))
        }
        e => e.into(),
    }
}

impl Engine {
    /// Resolve a reference to a digest bound with its config, checking the hook it exports.
    /// A plug-in author's program may only bind its own uploads or the platform's.
    pub async fn resolve_plugin(
        &self,
        r: &PluginRef,
        world: World,
        program_id: &str,
        field: &str,
    ) -> Result<PluginBinding> {
        let record = if r.plugin.starts_with("sha256:") {
            let digest = Digest::parse(&r.plugin).ok_or_else(|| {
                DomainError::invalid(field, format!("{:?} is not a sha256 digest", r.plugin))
            })?;
            // The caller's program's registration, or the platform's: another program's
            // registration of the same digest is not this program's to bind.
            self.store
                .plugin_for(program_id, &digest.to_string())
                .await?
        } else {
            self.store.builtin_plugin_by_name(&r.plugin).await?
        }
        .ok_or_else(|| DomainError::invalid(field, format!("no plug-in {:?}", r.plugin)))?;
        if record.world != world {
            return Err(DomainError::invalid(
                field,
                format!(
                    "plug-in {:?} is a {} plug-in, not {}",
                    r.plugin,
                    record.world.as_str(),
                    world.as_str()
                ),
            )
            .into());
        }
        if !r.config.is_object() {
            return Err(
                DomainError::invalid(format!("{field}.config"), "must be a JSON object").into(),
            );
        }
        Ok(PluginBinding {
            digest: record.digest,
            config: r.config.clone(),
        })
    }

    /// Create a program with its first rate table (version 1, in force from the start).
    pub async fn create_program(&self, program: &Program, mut rates: RateTable) -> Result<()> {
        check_id("id", &program.id)?;
        // A new program is something new: its currency must not be withdrawn.
        Currency::parse_current(program.currency.code())?;
        program.validate()?;
        rates.version = 1;
        rates.effective_from_ms = i64::MIN / 2;
        rates.validate()?;
        self.store
            .insert_program(program, &rates)
            .await
            .map_err(|e| conflict_or(e, format!("program {:?}", program.id)))?;
        Ok(())
    }

    /// Replace a program's settings.
    pub async fn update_program(&self, program: &Program) -> Result<()> {
        program.validate()?;
        self.store.update_program(program).await?;
        self.invalidate_program(&program.id);
        Ok(())
    }

    /// Add a rate table version effective from `effective_from_ms` (now if `None`): new
    /// conversions use it at once; conversions priced before keep their entries.
    pub async fn add_rate_table(
        &self,
        program_id: &str,
        mut rates: RateTable,
        effective_from_ms: Option<i64>,
    ) -> Result<RateTable> {
        rates.validate()?;
        let state = self.program(program_id).await?;
        let last = state.rate_tables.last().map_or(0, |t| t.version);
        rates.version = last + 1;
        rates.effective_from_ms = effective_from_ms.unwrap_or_else(now_ms);
        self.store.insert_rate_table(program_id, &rates).await?;
        self.invalidate_program(program_id);
        Ok(rates)
    }

    /// Create a partner from a request: paid in the program's currency and in the
    /// `starter` tier unless it says otherwise. Returns the record stored.
    pub async fn create_partner_from(&self, p: NewPartner) -> Result<PartnerRecord> {
        let program = self.program(&p.program_id).await?;
        let record = PartnerRecord {
            id: p.id,
            program_id: p.program_id,
            name: p.name,
            country: p.country,
            payout_currency: p.payout_currency.unwrap_or(program.program.currency),
            // The first tier applies to all of the partner's history (it is used for any
            // conversion before its effective date too).
            tiers: vec![(0, p.tier.unwrap_or_else(|| DEFAULT_TIER.to_owned()))],
            created_at_ms: now_ms(),
        };
        self.create_partner(&record).await?;
        Ok(record)
    }

    /// Partners by id, a page at a time (after `after`), of one program or all.
    pub async fn partners(
        &self,
        program_id: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PartnerRecord>> {
        Ok(self.store.partners(program_id, after, limit).await?)
    }

    /// Every recorded FX rate.
    pub async fn fx_rates(&self) -> Result<Vec<FxRate>> {
        Ok(self.store.fx_rates().await?)
    }

    /// Ledger entries matching `filter` (the caller's scope already applied to it).
    pub async fn entries(
        &self,
        filter: &crate::store::EntryFilter,
    ) -> Result<Vec<crate::store::EntryRecord>> {
        Ok(self.store.entries(filter).await?)
    }

    /// Create a partner.
    pub async fn create_partner(&self, p: &PartnerRecord) -> Result<()> {
        check_id("id", &p.id)?;
        Currency::parse_current(p.payout_currency.code())
            .map_err(|e| e.for_field("payout_currency"))?;
        let state = self.program(&p.program_id).await?;
        for (_, tier) in &p.tiers {
            check_tier(&state.rate_tables, tier)?;
        }
        self.store
            .insert_partner(p)
            .await
            .map_err(|e| conflict_or(e, format!("partner {:?}", p.id)))
    }

    /// Update a partner; a tier change takes effect from `effective_from_ms`.
    pub async fn update_partner(
        &self,
        p: &PartnerRecord,
        new_tier: Option<(i64, &str)>,
    ) -> Result<()> {
        // A payout currency set now must be current; one kept from before may be withdrawn
        // (the partner's stored data still reads).
        let stored = self.partner(&p.id).await?;
        if stored.payout_currency != p.payout_currency {
            Currency::parse_current(p.payout_currency.code())
                .map_err(|e| e.for_field("payout_currency"))?;
        }
        if let Some((_, tier)) = new_tier {
            let state = self.program(&p.program_id).await?;
            check_tier(&state.rate_tables, tier)?;
        }
        self.store
            .update_partner(p, new_tier)
            .await
            .map_err(|e| conflict_or(e, "that tier change".into()))
    }

    /// One partner.
    pub async fn partner(&self, id: &str) -> Result<PartnerRecord> {
        self.store
            .partners_by_id(&[id.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| EngineError::NotFound(format!("partner {id:?}")))
    }

    /// Record an FX rate.
    pub async fn put_fx_rate(&self, rate: &FxRate) -> Result<()> {
        rate.validate()?;
        self.store.put_fx_rate(rate).await.map_err(|e| match e {
            StoreError::Conflict(m) => EngineError::Conflict(m),
            e => e.into(),
        })
    }
}

fn check_id(field: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if !ok {
        return Err(DomainError::invalid(
            field,
            "must be 1 to 100 characters of A-Z a-z 0-9 - _ . :",
        )
        .into());
    }
    Ok(())
}

fn check_tier(tables: &[RateTable], tier: &str) -> Result<()> {
    if tables.iter().any(|t| t.tiers.contains_key(tier)) {
        return Ok(());
    }
    Err(DomainError::invalid("tier", format!("the program has no tier {tier:?}")).into())
}
