//! Program commands as clients ask for them: a new program with the product's defaults
//! for what it leaves out, and a change merged into the stored program (who may change
//! what included). The plug-in references are resolved here, once, for every binding.

use super::{Engine, EngineError, PluginRef, ProgramState, Result, Scope};
use crate::domain::Currency;
use crate::domain::program::{
    DEFAULT_MAX_BONUS_SHARE, PluginBinding, Program, RateTable, TierRate, VolumeTier, default_tiers,
};
use crate::plugins::World;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Default lookback window, days.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;
/// Default hold period, days.
pub const DEFAULT_HOLD_DAYS: u32 = 30;

/// A program to create; what is `None` takes the product's default.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProgram {
    /// Client-chosen id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Sale currency.
    pub currency: Currency,
    /// Attribution plug-in.
    pub attribution: PluginRef,
    /// Geographic rate plug-in.
    pub geo_rate: Option<PluginRef>,
    /// Bonus plug-in.
    pub bonus: Option<PluginRef>,
    /// Lookback window, days (default [`DEFAULT_LOOKBACK_DAYS`]).
    pub lookback_days: Option<u32>,
    /// Hold period, days (default [`DEFAULT_HOLD_DAYS`]).
    pub hold_days: Option<u32>,
    /// Bonus cap as a share of attributed revenue (default 1).
    pub max_bonus_share: Option<Decimal>,
    /// Tiers (default: the product's four).
    pub tiers: Option<BTreeMap<String, TierRate>>,
    /// Volume tiers (default none).
    pub volume_tiers: Option<Vec<VolumeTier>>,
}

/// A change to a program: `None` keeps the stored setting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgramChange {
    /// Display name.
    pub name: Option<String>,
    /// Attribution plug-in.
    pub attribution: Option<PluginRef>,
    /// Geographic rate plug-in (`Some(None)` unbinds it).
    pub geo_rate: Option<Option<PluginRef>>,
    /// Bonus plug-in (`Some(None)` unbinds it).
    pub bonus: Option<Option<PluginRef>>,
    /// Lookback window, days.
    pub lookback_days: Option<u32>,
    /// Hold period, days.
    pub hold_days: Option<u32>,
    /// Bonus cap.
    pub max_bonus_share: Option<Decimal>,
    /// New tiers: a new rate table version (the volume tiers kept unless also given).
    pub tiers: Option<BTreeMap<String, TierRate>>,
    /// New volume tiers: a new rate table version.
    pub volume_tiers: Option<Vec<VolumeTier>>,
    /// When a new rate table takes effect (now if `None`).
    pub rates_effective_from_ms: Option<i64>,
}

impl ProgramChange {
    /// Whether the change touches nothing but plug-in bindings (all a plug-in author may
    /// change).
    fn only_bindings(&self) -> bool {
        self.name.is_none()
            && self.lookback_days.is_none()
            && self.hold_days.is_none()
            && self.max_bonus_share.is_none()
            && self.tiers.is_none()
            && self.volume_tiers.is_none()
    }
}

impl Engine {
    async fn bind(
        &self,
        r: Option<&PluginRef>,
        world: World,
        program_id: &str,
        field: &str,
    ) -> Result<Option<PluginBinding>> {
        match r {
            Some(r) => Ok(Some(
                self.resolve_plugin(r, world, program_id, field).await?,
            )),
            None => Ok(None),
        }
    }

    /// Create a program from a request, defaults filled in; returns it as stored.
    pub async fn create_program_from(&self, p: NewProgram) -> Result<Arc<ProgramState>> {
        let id = p.id.clone();
        let attribution = self
            .resolve_plugin(&p.attribution, World::Attribution, &id, "attribution")
            .await?;
        let program = Program {
            id: id.clone(),
            name: p.name,
            currency: p.currency,
            attribution,
            geo_rate: self
                .bind(p.geo_rate.as_ref(), World::GeoRate, &id, "geo_rate")
                .await?,
            bonus: self
                .bind(p.bonus.as_ref(), World::Bonus, &id, "bonus")
                .await?,
            lookback_days: p.lookback_days.unwrap_or(DEFAULT_LOOKBACK_DAYS),
            hold_days: p.hold_days.unwrap_or(DEFAULT_HOLD_DAYS),
            max_bonus_share: p.max_bonus_share.unwrap_or(DEFAULT_MAX_BONUS_SHARE),
        };
        let rates = RateTable {
            version: 1,
            effective_from_ms: 0,
            tiers: p.tiers.unwrap_or_else(default_tiers),
            volume_tiers: p.volume_tiers.unwrap_or_default(),
        };
        self.create_program(&program, rates).await?;
        self.program(&id).await
    }

    /// Apply `change` to program `id` for `caller`: an admin may change anything, the
    /// program's plug-in author only its bindings, anyone else nothing (the program is not
    /// found). New tiers or volume tiers are a new rate table version.
    pub async fn change_program(
        &self,
        id: &str,
        caller: &Scope,
        change: ProgramChange,
    ) -> Result<Arc<ProgramState>> {
        match caller {
            Scope::Admin => {}
            Scope::PluginAuthor(own) if own == id => {
                if !change.only_bindings() {
                    return Err(EngineError::Forbidden(
                        "a plug-in author key may change only the program's plug-in bindings"
                            .into(),
                    ));
                }
            }
            _ => {
                return Err(EngineError::Forbidden(format!(
                    "this key cannot manage program {id:?}"
                )));
            }
        }
        let current = self
            .program(id)
            .await
            .map_err(|_| EngineError::NotFound(format!("program {id:?}")))?;
        let mut program = current.program.clone();
        if let Some(name) = change.name {
            program.name = name;
        }
        if let Some(r) = &change.attribution {
            program.attribution = self
                .resolve_plugin(r, World::Attribution, id, "attribution")
                .await?;
        }
        if let Some(geo) = &change.geo_rate {
            program.geo_rate = self
                .bind(geo.as_ref(), World::GeoRate, id, "geo_rate")
                .await?;
        }
        if let Some(bonus) = &change.bonus {
            program.bonus = self.bind(bonus.as_ref(), World::Bonus, id, "bonus").await?;
        }
        program.lookback_days = change.lookback_days.unwrap_or(program.lookback_days);
        program.hold_days = change.hold_days.unwrap_or(program.hold_days);
        program.max_bonus_share = change.max_bonus_share.unwrap_or(program.max_bonus_share);
        if change.tiers.is_some() || change.volume_tiers.is_some() {
            let last = current
                .rate_tables
                .last()
                .cloned()
                .ok_or_else(|| EngineError::Internal(format!("program {id:?} has no rates")))?;
            let table = RateTable {
                version: 0,
                effective_from_ms: 0,
                tiers: change.tiers.unwrap_or(last.tiers),
                volume_tiers: change.volume_tiers.unwrap_or(last.volume_tiers),
            };
            self.add_rate_table(id, table, change.rates_effective_from_ms)
                .await?;
        }
        self.update_program(&program).await?;
        self.program(id).await
    }

    /// Every program with its rate tables.
    pub async fn programs(&self) -> Result<Vec<(Program, Vec<RateTable>)>> {
        let mut out = Vec::new();
        for p in self.store.programs().await? {
            let tables = self.store.rate_tables(&p.id).await?;
            out.push((p, tables));
        }
        Ok(out)
    }
}
