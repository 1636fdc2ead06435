//! Plain Rust mirrors of the WIT records, with [`Decimal`] in place of the WIT decimal.
//!
//! Rules are written and unit-tested against these; the export glue converts to and from
//! the generated bindings at the boundary.

use rust_decimal::Decimal;

/// Why a rule declined to answer (the WIT `rule-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// The input or configuration is not something this rule can work with.
    InvalidInput(String),
    /// The rule does not handle this case.
    Unsupported(String),
    /// A bug or broken invariant inside the rule.
    Internal(String),
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::Unsupported(m) => write!(f, "unsupported: {m}"),
            Self::Internal(m) => write!(f, "internal: {m}"),
        }
    }
}

impl std::error::Error for RuleError {}

/// An amount in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// Major units (129.90).
    pub amount: Decimal,
    /// ISO 4217 code.
    pub currency: String,
}

/// A free-form attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Name.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A conversion (see the WIT `attribution.conversion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// The client's id.
    pub id: String,
    /// Sale amount.
    pub amount: Money,
    /// Milliseconds since the Unix epoch, UTC.
    pub occurred_at_ms: i64,
    /// Customer id, if known.
    pub customer_id: Option<String>,
    /// ISO 3166-1 alpha-2 country, if known.
    pub country: Option<String>,
    /// ISO 3166-2 region, if known.
    pub region: Option<String>,
    /// First conversion of this customer.
    pub new_customer: bool,
    /// Free-form attributes.
    pub attributes: Vec<KeyValue>,
}

/// A touchpoint (see the WIT `attribution.touchpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touchpoint {
    /// The partner.
    pub partner_id: String,
    /// Channel, e.g. "email" or "direct".
    pub channel: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub occurred_at_ms: i64,
    /// Campaign, if any.
    pub campaign: Option<String>,
    /// Free-form attributes.
    pub attributes: Vec<KeyValue>,
}

/// One partner's share of a conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerWeight {
    /// The partner.
    pub partner_id: String,
    /// Share in 0..=1.
    pub weight: Decimal,
}

/// A partner's totals for one period.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeriodTotals {
    /// Conversions credited.
    pub conversions: u64,
    /// Attributed revenue, program currency.
    pub revenue: Decimal,
    /// Commissions earned, program currency.
    pub commissions: Decimal,
}

/// The statistics a bonus rule decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodStats {
    /// The partner.
    pub partner_id: String,
    /// Tier name.
    pub tier: String,
    /// Period start (inclusive), ms.
    pub period_start_ms: i64,
    /// Period end (exclusive), ms.
    pub period_end_ms: i64,
    /// Program currency.
    pub currency: String,
    /// This period.
    pub current: PeriodTotals,
    /// The period before, if any.
    pub previous: Option<PeriodTotals>,
    /// Free-form attributes.
    pub attributes: Vec<KeyValue>,
}

/// The bonus to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bonus {
    /// Nothing.
    None,
    /// A fixed amount, program currency.
    Amount(Decimal),
    /// A rate applied to the period's attributed revenue.
    Rate(Decimal),
}

/// A bonus and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BonusDecision {
    /// What to pay.
    pub bonus: Bonus,
    /// Why.
    pub reason: String,
}

/// What a geographic rate rule sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateInput {
    /// Conversion country.
    pub conversion_country: Option<String>,
    /// Conversion region.
    pub conversion_region: Option<String>,
    /// Partner tier.
    pub partner_tier: String,
    /// Partner country.
    pub partner_country: Option<String>,
    /// The rate before this rule.
    pub base_rate: Decimal,
}

/// How to change a rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateAdjustment {
    /// Keep the base rate.
    Unchanged,
    /// Multiply the base rate.
    Multiplier(Decimal),
    /// Replace the base rate.
    SetRate(Decimal),
}

/// A rate adjustment and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateDecision {
    /// The change.
    pub adjustment: RateAdjustment,
    /// Why.
    pub reason: String,
}
