//! Partners, their balances, and FX rates.

use super::programs::CurrencyCode;
use super::{DecimalAnswer, FxRateText, Id, Instant, Text, format_time, reject};
use crate::domain::Currency;
use crate::domain::fx::FxRate;
use crate::domain::ledger::Balance;
use crate::store::PartnerRecord;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// `POST /v1/partners`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerIn {
    /// The partner's id, chosen by the client (unique across programs).
    pub id: Id,
    /// Its program.
    pub program_id: Id,
    /// Display name.
    #[serde(default)]
    pub name: Option<Text<200>>,
    /// Tier (default "starter"); one of the program's tiers.
    #[serde(default)]
    pub tier: Option<Id>,
    /// Country (ISO 3166-1 alpha-2).
    #[serde(default)]
    pub country: Option<Text<100>>,
    /// Payout currency (default: the program's).
    #[serde(default)]
    pub payout_currency: Option<CurrencyCode>,
}

/// `PATCH /v1/partners/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerPatch {
    /// Display name.
    #[serde(default)]
    pub name: Option<Text<200>>,
    /// Country.
    #[serde(default)]
    pub country: Option<Text<100>>,
    /// Payout currency.
    #[serde(default)]
    pub payout_currency: Option<CurrencyCode>,
    /// A new tier, effective from `tier_effective_from`.
    #[serde(default)]
    pub tier: Option<Id>,
    /// When the new tier takes effect (default: now).
    #[serde(default)]
    pub tier_effective_from: Option<Instant>,
}

/// One tier change.
#[derive(Debug, Serialize, ToSchema)]
pub struct TierChange {
    /// Tier.
    pub tier: String,
    /// In force from (RFC 3339).
    pub effective_from: String,
}

/// A partner, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerOut {
    /// Id.
    pub id: String,
    /// Program.
    pub program_id: String,
    /// Name.
    pub name: Option<String>,
    /// Current tier.
    pub tier: String,
    /// Every tier change, oldest first.
    pub tier_history: Vec<TierChange>,
    /// Country.
    pub country: Option<String>,
    /// Payout currency.
    pub payout_currency: String,
    /// Created at (RFC 3339).
    pub created_at: String,
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
            payout_currency: p.payout_currency.code().to_owned(),
            created_at: format_time(p.created_at_ms),
        }
    }
}

/// A partner's balance in one payout currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceOut {
    /// Payout currency.
    pub currency: String,
    /// Within the hold period.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub pending: Decimal,
    /// Payable now (negative: a clawback carried to the next payout).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub approved: Decimal,
    /// Paid out: what reached the partner (paid entries net of withholding and fees).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub paid: Decimal,
    /// Frozen by disputes.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub frozen: Decimal,
    /// Everything: pending + approved + paid + frozen.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub total: Decimal,
    /// What the next payout run may pay, before withholding and fees (approved entries
    /// of the kinds paid out, clawbacks netted in).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub payable: Decimal,
    /// Approved entries claimed by a payout run whose items are not paid yet.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub in_payout: Decimal,
    /// Tax withheld from paid payouts.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub withheld: Decimal,
    /// Fees kept from paid payouts.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub fees: Decimal,
}

impl From<Balance> for BalanceOut {
    fn from(b: Balance) -> Self {
        Self {
            currency: b.currency,
            pending: b.pending,
            approved: b.approved,
            paid: b.paid,
            frozen: b.frozen,
            total: b.total,
            payable: b.payable,
            in_payout: b.in_payout,
            withheld: b.withheld,
            fees: b.fees,
        }
    }
}

/// A partner's balances.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalancesOut {
    /// Partner.
    pub partner_id: String,
    /// One per payout currency, by currency.
    pub balances: Vec<BalanceOut>,
}

/// An ISO 4217 code in a request, current or withdrawn (FX rates may be recorded for a
/// withdrawn currency, so that conversions stored in it can be re-priced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownCurrency(pub Currency);

impl<'de> Deserialize<'de> for KnownCurrency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Currency::parse(&text)
            .map(Self)
            .map_err(|e| reject(e.kind(), e.to_string()))
    }
}

impl PartialSchema for KnownCurrency {
    fn schema() -> RefOr<Schema> {
        let mut codes: Vec<&str> = Currency::known().map(Currency::code).collect();
        codes.sort_unstable();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes))
            .description(Some("An ISO 4217 code, current or withdrawn (upper case)."))
            .examples(["EUR"])
            .into()
    }
}

impl ToSchema for KnownCurrency {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("KnownCurrencyCode")
    }
}

/// `PUT /v1/fx-rates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FxIn {
    /// The currency converted from.
    pub base: KnownCurrency,
    /// The currency converted to (another one).
    pub quote: KnownCurrency,
    /// Units of `quote` per unit of `base`.
    pub rate: FxRateText,
    /// In force from.
    pub effective_from: Instant,
}

/// An FX rate, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct FxOut {
    /// From.
    pub base: String,
    /// To.
    pub quote: String,
    /// Units of quote per unit of base.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub rate: Decimal,
    /// In force from (RFC 3339).
    pub effective_from: String,
}

impl From<&FxRate> for FxOut {
    fn from(r: &FxRate) -> Self {
        Self {
            base: r.base.code().into(),
            quote: r.quote.code().into(),
            rate: r.rate,
            effective_from: format_time(r.effective_from_ms),
        }
    }
}
