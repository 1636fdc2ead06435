//! The JSON shapes of the API (snake_case; amounts and rates as decimal strings, never JSON
//! numbers; instants as RFC 3339), and their conversion to and from engine types.

use super::error::ApiError;
use crate::domain::program::{PluginBinding, Program, RateTable, TierRate, VolumeTier};
use crate::engine::{ConversionInput, PluginRef, TouchpointInput};
use crate::store::{EntryRecord, PartnerRecord, PluginRecord};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Parse an RFC 3339 instant into ms since the epoch.
pub fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            ApiError::invalid(
                field,
                format!("{text:?} is not an RFC 3339 date-time ({e})"),
            )
        })
}

/// Format ms since the epoch as RFC 3339 (UTC, milliseconds).
pub fn format_time(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A plug-in binding in a request: a built-in name or a digest, and its config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginRefIn {
    /// "linear", "geo-rates", ... or `sha256:<hex>`.
    pub plugin: String,
    /// The JSON config (default `{}`).
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

impl PluginRefIn {
    /// As the engine's reference.
    pub fn to_ref(&self) -> PluginRef {
        PluginRef {
            plugin: self.plugin.clone(),
            config: self.config.clone(),
        }
    }
}

/// `POST /v1/programs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramIn {
    /// Client-chosen id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// ISO 4217 program currency.
    pub currency: String,
    /// Attribution plug-in.
    pub attribution: PluginRefIn,
    /// Geographic rate plug-in.
    #[serde(default)]
    pub geo_rate: Option<PluginRefIn>,
    /// Bonus plug-in.
    #[serde(default)]
    pub bonus: Option<PluginRefIn>,
    /// Lookback window in days (default 30).
    #[serde(default)]
    pub lookback_days: Option<u32>,
    /// Hold period in days (default 30).
    #[serde(default)]
    pub hold_days: Option<u32>,
    /// The largest bonus per partner and period, as a share of the partner's attributed
    /// revenue: a decimal string in 0..=1 ("0.5" = 50 %); default "1".
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub max_bonus_share: Option<Decimal>,
    /// Tier rates (default: the product tiers).
    #[serde(default)]
    pub tiers: Option<BTreeMap<String, TierRate>>,
    /// Volume tiers.
    #[serde(default)]
    pub volume_tiers: Option<Vec<VolumeTier>>,
}

/// `PATCH /v1/programs/{id}`: every field optional; `null` removes an optional plug-in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramPatch {
    /// Display name.
    pub name: Option<String>,
    /// Attribution plug-in.
    pub attribution: Option<PluginRefIn>,
    /// Geographic rate plug-in (`null` to remove).
    #[serde(default, with = "double_option")]
    pub geo_rate: Option<Option<PluginRefIn>>,
    /// Bonus plug-in (`null` to remove).
    #[serde(default, with = "double_option")]
    pub bonus: Option<Option<PluginRefIn>>,
    /// Lookback window.
    pub lookback_days: Option<u32>,
    /// Hold period.
    pub hold_days: Option<u32>,
    /// The bonus cap, a decimal string in 0..=1.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub max_bonus_share: Option<Decimal>,
    /// New tier rates: a new rate table version.
    pub tiers: Option<BTreeMap<String, TierRate>>,
    /// New volume tiers: a new rate table version.
    pub volume_tiers: Option<Vec<VolumeTier>>,
    /// When new rates take effect (default: now).
    pub rates_effective_from: Option<String>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A program as answered.
#[derive(Debug, Serialize)]
pub struct ProgramOut {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Currency.
    pub currency: String,
    /// Attribution binding.
    pub attribution: PluginBinding,
    /// Geographic binding.
    pub geo_rate: Option<PluginBinding>,
    /// Bonus binding.
    pub bonus: Option<PluginBinding>,
    /// Lookback days.
    pub lookback_days: u32,
    /// Hold days.
    pub hold_days: u32,
    /// The largest bonus per partner and period, as a share of its attributed revenue.
    #[serde(with = "rust_decimal::serde::str")]
    pub max_bonus_share: Decimal,
    /// The newest rate table.
    pub rate_table: RateTableOut,
    /// How many versions exist.
    pub rate_table_versions: usize,
}

/// A rate table as answered.
#[derive(Debug, Serialize)]
pub struct RateTableOut {
    /// Version.
    pub version: i64,
    /// In force from (RFC 3339; version 1 has no start).
    pub effective_from: Option<String>,
    /// Tier rates.
    pub tiers: BTreeMap<String, TierRate>,
    /// Volume tiers.
    pub volume_tiers: Vec<VolumeTier>,
}

impl ProgramOut {
    /// From a program and its tables.
    pub fn new(p: &Program, tables: &[RateTable]) -> Self {
        let last = tables.last();
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            currency: p.currency.code().to_owned(),
            attribution: p.attribution.clone(),
            geo_rate: p.geo_rate.clone(),
            bonus: p.bonus.clone(),
            lookback_days: p.lookback_days,
            hold_days: p.hold_days,
            max_bonus_share: p.max_bonus_share,
            rate_table: RateTableOut {
                version: last.map_or(0, |t| t.version),
                effective_from: last
                    .filter(|t| t.version > 1)
                    .map(|t| format_time(t.effective_from_ms)),
                tiers: last.map(|t| t.tiers.clone()).unwrap_or_default(),
                volume_tiers: last.map(|t| t.volume_tiers.clone()).unwrap_or_default(),
            },
            rate_table_versions: tables.len(),
        }
    }
}

/// `POST /v1/partners`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerIn {
    /// Client-chosen id.
    pub id: String,
    /// Program.
    pub program_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Tier (default "starter").
    pub tier: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// Payout currency (default: the program's).
    pub payout_currency: Option<String>,
}

/// `PATCH /v1/partners/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerPatch {
    /// Display name.
    pub name: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Payout currency.
    pub payout_currency: Option<String>,
    /// New tier.
    pub tier: Option<String>,
    /// When the new tier takes effect (default: now).
    pub tier_effective_from: Option<String>,
}

/// A partner as answered.
#[derive(Debug, Serialize)]
pub struct PartnerOut {
    /// Id.
    pub id: String,
    /// Program.
    pub program_id: String,
    /// Name.
    pub name: Option<String>,
    /// Current tier.
    pub tier: String,
    /// Tier history.
    pub tier_history: Vec<TierChange>,
    /// Country.
    pub country: Option<String>,
    /// Payout currency.
    pub payout_currency: String,
    /// Created at.
    pub created_at: String,
}

/// One tier change.
#[derive(Debug, Serialize)]
pub struct TierChange {
    /// Tier.
    pub tier: String,
    /// From (RFC 3339).
    pub effective_from: String,
}

impl From<&PartnerRecord> for PartnerOut {
    fn from(p: &PartnerRecord) -> Self {
        Self {
            id: p.id.clone(),
            program_id: p.program_id.clone(),
            name: p.name.clone(),
            tier: p.tier_at(crate::store::now_ms()).to_owned(),
            tier_history: p
                .tiers
                .iter()
                .map(|(from, tier)| TierChange {
                    tier: tier.clone(),
                    effective_from: format_time(*from),
                })
                .collect(),
            country: p.country.clone(),
            payout_currency: p.payout_currency.clone(),
            created_at: format_time(p.created_at_ms),
        }
    }
}

/// `PUT /v1/fx-rates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FxIn {
    /// From.
    pub base: String,
    /// To.
    pub quote: String,
    /// Units of quote per unit of base, a decimal string.
    #[serde(with = "rust_decimal::serde::str")]
    pub rate: Decimal,
    /// In force from (RFC 3339).
    pub effective_from: String,
}

/// An FX rate as answered.
#[derive(Debug, Serialize)]
pub struct FxOut {
    /// From.
    pub base: String,
    /// To.
    pub quote: String,
    /// Rate.
    #[serde(with = "rust_decimal::serde::str")]
    pub rate: Decimal,
    /// In force from.
    pub effective_from: String,
}

/// A touchpoint in a conversion request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TouchpointIn {
    /// Partner.
    pub partner_id: String,
    /// Channel.
    pub channel: String,
    /// When (RFC 3339).
    pub occurred_at: String,
    /// Campaign.
    pub campaign: Option<String>,
}

/// `POST /v1/conversions` and `/v1/quotes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionIn {
    /// Program.
    pub program_id: String,
    /// Client id (or the `Idempotency-Key` header).
    pub id: Option<String>,
    /// Sale amount, a decimal string such as "129.90".
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: String,
    /// When (RFC 3339).
    pub occurred_at: String,
    /// Customer.
    pub customer_id: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// First purchase.
    #[serde(default)]
    pub new_customer: bool,
    /// Free-form attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Touchpoints.
    #[serde(default)]
    pub touchpoints: Vec<TouchpointIn>,
}

impl ConversionIn {
    /// As engine input; `key` is the `Idempotency-Key` header, if any.
    pub fn into_input(self, key: Option<&str>) -> Result<ConversionInput, ApiError> {
        let id = match (key, self.id) {
            (Some(k), Some(id)) if k != id => {
                return Err(ApiError::invalid(
                    "id",
                    format!("the Idempotency-Key header ({k:?}) and the body's id ({id:?}) differ"),
                ));
            }
            (Some(k), _) => k.to_owned(),
            (None, Some(id)) => id,
            (None, None) => {
                return Err(ApiError::invalid(
                    "id",
                    "send the conversion id in `id` or the Idempotency-Key header",
                ));
            }
        };
        let touchpoints = self
            .touchpoints
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                Ok(TouchpointInput {
                    partner_id: t.partner_id,
                    channel: t.channel,
                    occurred_at_ms: parse_time(
                        &format!("touchpoints[{i}].occurred_at"),
                        &t.occurred_at,
                    )?,
                    campaign: t.campaign,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(ConversionInput {
            program_id: self.program_id,
            id,
            amount: self.amount,
            currency: self.currency,
            occurred_at_ms: parse_time("occurred_at", &self.occurred_at)?,
            customer_id: self.customer_id,
            country: self.country,
            region: self.region,
            new_customer: self.new_customer,
            attributes: self.attributes.into_iter().collect(),
            touchpoints,
        })
    }
}

/// A ledger entry as answered.
#[derive(Debug, Serialize)]
pub struct EntryOut {
    /// Id (also the pagination cursor).
    pub id: i64,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: String,
    /// Conversion.
    pub conversion_id: Option<String>,
    /// Kind.
    pub kind: String,
    /// Amount, sale currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Sale currency.
    pub currency: String,
    /// Payout amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub payout_amount: Decimal,
    /// Payout currency.
    pub payout_currency: String,
    /// FX rate.
    #[serde(with = "rust_decimal::serde::str")]
    pub fx_rate: Decimal,
    /// Commission rate.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub rate: Option<Decimal>,
    /// Status.
    pub status: String,
    /// Reverses entry.
    pub reverses_entry_id: Option<i64>,
    /// Cause.
    pub cause: String,
    /// Provenance (commissions).
    pub provenance: Option<serde_json::Value>,
    /// Payable from.
    pub hold_until: String,
    /// Written at.
    pub created_at: String,
}

impl From<EntryRecord> for EntryOut {
    fn from(e: EntryRecord) -> Self {
        Self {
            id: e.id,
            program_id: e.program_id,
            partner_id: e.partner_id,
            conversion_id: e.conversion_id,
            kind: e.kind.as_str().to_owned(),
            amount: e.amount,
            currency: e.currency,
            payout_amount: e.payout_amount,
            payout_currency: e.payout_currency,
            fx_rate: e.fx_rate,
            rate: e.rate,
            status: e.status.as_str().to_owned(),
            reverses_entry_id: e.reverses_entry_id,
            cause: e.cause,
            provenance: e.provenance.and_then(|p| serde_json::from_str(&p).ok()),
            hold_until: format_time(e.hold_until_ms),
            created_at: format_time(e.created_at_ms),
        }
    }
}

/// A plug-in as answered.
#[derive(Debug, Serialize)]
pub struct PluginOut {
    /// Digest.
    pub digest: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Hook: attribution, bonus or geo-rate.
    pub world: String,
    /// Size.
    pub size_bytes: i64,
    /// Owning program (`null`: platform).
    pub program_id: Option<String>,
    /// Shipped with the service.
    pub builtin: bool,
    /// Stored at.
    pub created_at: String,
}

impl From<PluginRecord> for PluginOut {
    fn from(p: PluginRecord) -> Self {
        Self {
            digest: p.digest,
            name: p.name,
            version: p.version,
            world: p.world,
            size_bytes: p.size_bytes,
            program_id: p.owner_program_id,
            builtin: p.builtin,
            created_at: format_time(p.created_at_ms),
        }
    }
}
