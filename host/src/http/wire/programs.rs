//! Programs: their plug-in bindings, tiers, rate tables, and period closes.

use super::{Amount, Days, DecimalAnswer, Id, Instant, Rate, Text, format_time, reject};
use crate::domain::Currency;
use crate::domain::program::{
    PluginBinding, Program, RateTable, TierRate, VolumeMetric, VolumeTier,
};
use crate::engine::{BonusOutcome, BonusStatus, PluginRef};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// An ISO 4217 code of a current currency in a request (also as a map key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CurrencyCode(pub Currency);

impl<'de> Deserialize<'de> for CurrencyCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match Currency::parse_current(&text) {
            Ok(c) => Ok(Self(c)),
            Err(e) => Err(reject(e.kind(), e.to_string())),
        }
    }
}

impl PartialSchema for CurrencyCode {
    fn schema() -> RefOr<Schema> {
        let mut codes: Vec<&str> = Currency::all().map(Currency::code).collect();
        codes.sort_unstable();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes))
            .description(Some(
                "An ISO 4217 code in current use (upper case). Withdrawn codes are refused \
                 for anything new.",
            ))
            .examples(["USD"])
            .into()
    }
}

impl ToSchema for CurrencyCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CurrencyCode")
    }
}

/// A plug-in binding in a request: a built-in name or a digest, and its configuration.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginRefIn {
    /// A built-in module's name ("linear", "geo-rates", ...) or `sha256:<64 hex digits>`.
    #[schema(value_type = Text<200>)]
    pub plugin: Text<200>,
    /// The plug-in's JSON configuration (default `{}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
}

impl PluginRefIn {
    /// As the engine's reference.
    pub fn to_ref(&self) -> PluginRef {
        PluginRef {
            plugin: self.plugin.0.clone(),
            config: serde_json::Value::Object(self.config.clone().unwrap_or_default()),
        }
    }
}

/// A tier's rates in a request.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRateIn {
    /// Commission rate on attributed revenue.
    pub base: Rate,
    /// Bonus rate the default bonus plug-in pays at period close.
    pub bonus: Rate,
}

/// What a volume tier counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VolumeMetricText {
    /// Conversions credited to the partner in the calendar month (UTC) so far.
    Conversions,
    /// Revenue attributed to the partner in the calendar month (UTC) so far.
    Revenue,
}

impl From<VolumeMetricText> for VolumeMetric {
    fn from(m: VolumeMetricText) -> Self {
        match m {
            VolumeMetricText::Conversions => Self::Conversions,
            VolumeMetricText::Revenue => Self::Revenue,
        }
    }
}

impl From<VolumeMetric> for VolumeMetricText {
    fn from(m: VolumeMetric) -> Self {
        match m {
            VolumeMetric::Conversions => Self::Conversions,
            VolumeMetric::Revenue => Self::Revenue,
        }
    }
}

/// A volume tier in a request: reaching `threshold` of `metric` adds `add_rate`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeTierIn {
    /// What is counted.
    pub metric: VolumeMetricText,
    /// The level to reach.
    pub threshold: Amount,
    /// The rate added to the base rate.
    pub add_rate: Rate,
}

/// Tier rates by tier name, as the engine takes them.
pub fn tiers_in(tiers: &BTreeMap<Id, TierRateIn>) -> BTreeMap<String, TierRate> {
    tiers
        .iter()
        .map(|(name, t)| {
            (
                name.0.clone(),
                TierRate {
                    base: t.base.0,
                    bonus: t.bonus.0,
                },
            )
        })
        .collect()
}

/// Volume tiers as the engine takes them.
pub fn volume_tiers_in(tiers: &[VolumeTierIn]) -> Vec<VolumeTier> {
    tiers
        .iter()
        .map(|t| VolumeTier {
            metric: t.metric.into(),
            threshold: t.threshold.0,
            add_rate: t.add_rate.0,
        })
        .collect()
}

/// `POST /v1/programs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramIn {
    /// The program's id, chosen by the client.
    pub id: Id,
    /// Display name.
    pub name: Text<200>,
    /// The program currency.
    pub currency: CurrencyCode,
    /// The attribution plug-in.
    pub attribution: PluginRefIn,
    /// The geographic rate plug-in, if any.
    #[serde(default)]
    pub geo_rate: Option<PluginRefIn>,
    /// The bonus plug-in, if any.
    #[serde(default)]
    pub bonus: Option<PluginRefIn>,
    /// Lookback window in days (default 30).
    #[serde(default)]
    pub lookback_days: Option<Days>,
    /// Hold period in days before commissions become payable (default 30).
    #[serde(default)]
    pub hold_days: Option<Days>,
    /// The largest bonus per partner and period, as a share of the partner's attributed
    /// revenue (default "1", 100 %).
    #[serde(default)]
    pub max_bonus_share: Option<Rate>,
    /// Tier rates by tier name (default: the product tiers).
    #[serde(default)]
    pub tiers: Option<BTreeMap<Id, TierRateIn>>,
    /// Volume tiers (default none).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub volume_tiers: Option<Vec<VolumeTierIn>>,
}

fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /v1/programs/{id}`: every field optional; `null` removes an optional plug-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramPatch {
    /// Display name.
    #[serde(default)]
    pub name: Option<Text<200>>,
    /// The attribution plug-in.
    #[serde(default)]
    pub attribution: Option<PluginRefIn>,
    /// The geographic rate plug-in (`null` removes it).
    #[serde(default, deserialize_with = "double_option")]
    pub geo_rate: Option<Option<PluginRefIn>>,
    /// The bonus plug-in (`null` removes it).
    #[serde(default, deserialize_with = "double_option")]
    pub bonus: Option<Option<PluginRefIn>>,
    /// Lookback window in days.
    #[serde(default)]
    pub lookback_days: Option<Days>,
    /// Hold period in days.
    #[serde(default)]
    pub hold_days: Option<Days>,
    /// The bonus cap, a share of attributed revenue.
    #[serde(default)]
    pub max_bonus_share: Option<Rate>,
    /// New tier rates: a new rate table version.
    #[serde(default)]
    pub tiers: Option<BTreeMap<Id, TierRateIn>>,
    /// New volume tiers: a new rate table version.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub volume_tiers: Option<Vec<VolumeTierIn>>,
    /// When new rates take effect (default: now).
    #[serde(default)]
    pub rates_effective_from: Option<Instant>,
}

/// A plug-in bound to a program, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct BindingOut {
    /// `sha256:<hex>` of the component.
    pub digest: String,
    /// Its configuration.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
}

impl From<&PluginBinding> for BindingOut {
    fn from(b: &PluginBinding) -> Self {
        Self {
            digest: b.digest.clone(),
            config: b.config.clone(),
        }
    }
}

/// A tier's rates, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct TierRateOut {
    /// Commission rate.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub base: Decimal,
    /// Bonus rate.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub bonus: Decimal,
}

/// A volume tier, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct VolumeTierOut {
    /// What is counted.
    pub metric: VolumeMetricText,
    /// The level to reach.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub threshold: Decimal,
    /// The rate added.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub add_rate: Decimal,
}

/// A rate table, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateTableOut {
    /// Its version (1 is the first).
    pub version: i64,
    /// In force from (RFC 3339); version 1 has no start.
    pub effective_from: Option<String>,
    /// Tier rates by tier name.
    pub tiers: BTreeMap<String, TierRateOut>,
    /// Volume tiers.
    pub volume_tiers: Vec<VolumeTierOut>,
}

/// A program, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramOut {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Program currency.
    pub currency: String,
    /// Attribution binding.
    pub attribution: BindingOut,
    /// Geographic rate binding.
    pub geo_rate: Option<BindingOut>,
    /// Bonus binding.
    pub bonus: Option<BindingOut>,
    /// Lookback window, days.
    pub lookback_days: u32,
    /// Hold period, days.
    pub hold_days: u32,
    /// The largest bonus per partner and period, as a share of its attributed revenue.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub max_bonus_share: Decimal,
    /// The newest rate table.
    pub rate_table: RateTableOut,
    /// How many rate table versions exist.
    pub rate_table_versions: usize,
}

impl ProgramOut {
    /// From a program and its tables.
    pub fn new(p: &Program, tables: &[RateTable]) -> Self {
        let last = tables.last();
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            currency: p.currency.code().to_owned(),
            attribution: (&p.attribution).into(),
            geo_rate: p.geo_rate.as_ref().map(Into::into),
            bonus: p.bonus.as_ref().map(Into::into),
            lookback_days: p.lookback_days,
            hold_days: p.hold_days,
            max_bonus_share: p.max_bonus_share,
            rate_table: RateTableOut {
                version: last.map_or(0, |t| t.version),
                effective_from: last
                    .filter(|t| t.version > 1)
                    .map(|t| format_time(t.effective_from_ms)),
                tiers: last
                    .map(|t| {
                        t.tiers
                            .iter()
                            .map(|(name, r)| {
                                (
                                    name.clone(),
                                    TierRateOut {
                                        base: r.base,
                                        bonus: r.bonus,
                                    },
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                volume_tiers: last
                    .map(|t| {
                        t.volume_tiers
                            .iter()
                            .map(|v| VolumeTierOut {
                                metric: v.metric.into(),
                                threshold: v.threshold,
                                add_rate: v.add_rate,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            rate_table_versions: tables.len(),
        }
    }
}

/// `POST /v1/programs/{id}/periods/close`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseIn {
    /// Period start, inclusive.
    pub from: Instant,
    /// Period end, exclusive (after `from`).
    pub to: Instant,
}

/// Why one partner's bonus failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct BonusFailureOut {
    /// The problem kind the API would answer for it alone (`plugin-failed`, ...).
    pub kind: String,
    /// What exactly went wrong.
    pub detail: String,
}

/// Whether a partner's period is closed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BonusStatusOut {
    /// The bonus is recorded (by this call or an earlier one).
    Closed,
    /// Refused or not computable: nothing recorded; closing again tries again.
    Failed,
}

/// One partner's bonus for a closed period.
#[derive(Debug, Serialize, ToSchema)]
pub struct BonusOut {
    /// Partner.
    pub partner_id: String,
    /// Bonus in the program currency (0 when none, or when it failed).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub amount: Decimal,
    /// Program currency.
    pub currency: String,
    /// The plug-in's reason.
    pub reason: String,
    /// The ledger entry, when one was written.
    pub entry_id: Option<i64>,
    /// True when this call closed the partner's period.
    pub new: bool,
    /// Closed or failed.
    pub status: BonusStatusOut,
    /// Why it failed, when it did.
    pub error: Option<BonusFailureOut>,
}

impl From<BonusOutcome> for BonusOut {
    fn from(b: BonusOutcome) -> Self {
        Self {
            partner_id: b.partner_id,
            amount: b.amount,
            currency: b.currency,
            reason: b.reason,
            entry_id: b.entry_id,
            new: b.new,
            status: match b.status {
                BonusStatus::Closed => BonusStatusOut::Closed,
                BonusStatus::Failed => BonusStatusOut::Failed,
            },
            error: b.error.map(|e| BonusFailureOut {
                kind: e.kind,
                detail: e.detail,
            }),
        }
    }
}

/// A closed period.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodCloseOut {
    /// Program.
    pub program_id: String,
    /// Period start (as sent).
    pub from: String,
    /// Period end (as sent).
    pub to: String,
    /// Each credited partner's bonus.
    pub bonuses: Vec<BonusOut>,
}
