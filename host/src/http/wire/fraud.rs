//! Fraud alerts, the programs' fraud rules and partners' identities on the wire.

use super::number::Count;
use super::{Id, Text, format_time};
use crate::domain::fraud::FraudConfig;
use crate::store::fraud::AlertRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Which alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Not resolved.
    Open,
    /// Resolved.
    Resolved,
    /// Both.
    All,
}

/// The query of `GET /v1/fraud-alerts`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// The program.
    #[param(value_type = Id)]
    pub program_id: Id,
    /// Which (default `all`).
    #[param(value_type = Option<AlertStatus>)]
    pub status: Option<AlertStatus>,
    /// One rule's alerts (`self_referral`, `click_to_conversion_too_short`,
    /// `conversion_velocity_spike`, `refund_rate_high`, `customer_many_partners`,
    /// `visitor_many_conversions`).
    #[param(value_type = Option<String>, max_length = 50)]
    pub rule: Option<Text<50>>,
    /// One partner's alerts.
    #[param(value_type = Option<Id>)]
    pub partner_id: Option<Id>,
    /// Page size, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<crate::http::cursor::CursorText>)]
    pub cursor: Option<crate::http::cursor::CursorText>,
}

impl AlertStatus {
    /// The store's filter.
    pub fn filter(self) -> Option<&'static str> {
        match self {
            Self::Open => Some("open"),
            Self::Resolved => Some("resolved"),
            Self::All => None,
        }
    }
}

/// An alert's resolution.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResolutionOut {
    /// `confirmed` or `dismissed`.
    pub outcome: String,
    /// Who (key id).
    pub by: String,
    /// Why.
    pub note: String,
    /// When.
    pub at: String,
}

/// A fraud alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOut {
    /// Id.
    pub id: String,
    /// Program.
    pub program_id: String,
    /// The partner it is about.
    pub partner_id: Option<String>,
    /// The rule that raised it.
    pub rule: String,
    /// `medium` or `high`.
    pub severity: String,
    /// `open` or `resolved`.
    pub status: String,
    /// The conversion it is about.
    pub conversion_id: Option<String>,
    /// The dispute that froze the conversion's commissions (the program's `freeze`).
    pub dispute_id: Option<String>,
    /// Why, with the figures.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    /// Raised.
    pub created_at: String,
    /// How an admin resolved it.
    pub resolution: Option<ResolutionOut>,
}

impl From<AlertRecord> for AlertOut {
    fn from(a: AlertRecord) -> Self {
        Self {
            status: if a.resolution.is_some() {
                "resolved"
            } else {
                "open"
            }
            .into(),
            evidence: serde_json::from_str(&a.evidence).unwrap_or_default(),
            created_at: format_time(a.created_at_ms),
            resolution: a.resolution.map(|(outcome, by, note, at)| ResolutionOut {
                outcome,
                by,
                note,
                at: format_time(at),
            }),
            dispute_id: a.dispute_id.filter(|d| !d.is_empty()),
            id: a.id,
            program_id: a.program_id,
            partner_id: a.partner_id,
            rule: a.rule,
            severity: a.severity,
            conversion_id: a.conversion_id,
        }
    }
}

/// How an alert is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertOutcomeText {
    /// Fraud: a frozen conversion's commissions are reversed.
    Confirmed,
    /// Not fraud: they are released.
    Dismissed,
}

/// `POST /v1/fraud-alerts/{id}/resolve`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveAlertIn {
    /// The decision.
    pub outcome: AlertOutcomeText,
    /// Why.
    #[serde(default)]
    pub note: Option<Text<1000>>,
}

/// A rule that is on or off.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToggleIo {
    /// Whether it runs.
    pub enabled: bool,
}

/// `click_to_conversion_too_short`: a sale less than `min_seconds` after its click.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FastConversionIo {
    /// Whether it runs.
    pub enabled: bool,
    /// Seconds.
    pub min_seconds: Count<0, 86_400>,
}

/// `conversion_velocity_spike`: a partner's conversions in the window at least
/// `min_conversions` and `spike_factor` times its usual rate over the 7 days before.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VelocityIo {
    /// Whether it runs.
    pub enabled: bool,
    /// Minutes, 1 to 1,440.
    pub window_minutes: Count<1, 1440>,
    /// Conversions.
    pub min_conversions: Count<0, 1_000_000>,
    /// At least 1, a positive decimal string.
    #[schema(value_type = super::FxRateText)]
    pub spike_factor: super::FxRateText,
}

/// `refund_rate_high`: refunded revenue over `window_days` above `max_rate` of revenue.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRateIo {
    /// Whether it runs.
    pub enabled: bool,
    /// Days, 1 to 365.
    pub window_days: Count<1, 365>,
    /// A rate in 0..=1.
    #[schema(value_type = super::Rate)]
    pub max_rate: super::Rate,
    /// Conversions in the window for the rate to count.
    pub min_conversions: Count<0, 1_000_000>,
}

/// `customer_many_partners`: one customer credited to more than `max_partners` partners.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPartnersIo {
    /// Whether it runs.
    pub enabled: bool,
    /// Hours, 1 to 744.
    pub window_hours: Count<1, 744>,
    /// Partners.
    pub max_partners: Count<0, 1_000_000>,
}

/// `visitor_many_conversions`: one visitor with more than `max_conversions` conversions.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitorConversionsIo {
    /// Whether it runs.
    pub enabled: bool,
    /// Hours, 1 to 744.
    pub window_hours: Count<1, 744>,
    /// Conversions.
    pub max_conversions: Count<0, 1_000_000>,
}

/// A program's fraud rules: every rule's switch and thresholds, and whether an alert
/// about a conversion freezes its commissions. Omitted rules take their defaults.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FraudRulesIo {
    /// A sale to the credited partner itself (its customer id or e-mail).
    #[serde(default)]
    pub self_referral: Option<ToggleIo>,
    /// A sale too soon after its click.
    #[serde(default)]
    pub click_to_conversion_too_short: Option<FastConversionIo>,
    /// A burst of a partner's conversions.
    #[serde(default)]
    pub conversion_velocity_spike: Option<VelocityIo>,
    /// Too much of a partner's revenue refunded.
    #[serde(default)]
    pub refund_rate_high: Option<RefundRateIo>,
    /// One customer credited to many partners.
    #[serde(default)]
    pub customer_many_partners: Option<CustomerPartnersIo>,
    /// One visitor converting many times.
    #[serde(default)]
    pub visitor_many_conversions: Option<VisitorConversionsIo>,
    /// Freeze the commissions of a conversion an alert is about (default false).
    #[serde(default)]
    pub freeze: Option<bool>,
}

impl FraudRulesIo {
    /// The domain's rules: these, defaults for the rest.
    pub fn config(&self) -> FraudConfig {
        use crate::domain::fraud as f;
        let d = FraudConfig::default();
        FraudConfig {
            self_referral: self
                .self_referral
                .map_or(d.self_referral, |t| f::Toggle { enabled: t.enabled }),
            click_to_conversion_too_short: self.click_to_conversion_too_short.map_or(
                d.click_to_conversion_too_short,
                |r| f::FastConversion {
                    enabled: r.enabled,
                    min_seconds: r.min_seconds.0,
                },
            ),
            conversion_velocity_spike: self.conversion_velocity_spike.map_or(
                d.conversion_velocity_spike,
                |r| f::Velocity {
                    enabled: r.enabled,
                    window_minutes: r.window_minutes.0,
                    min_conversions: r.min_conversions.0,
                    spike_factor: r.spike_factor.0,
                },
            ),
            refund_rate_high: self
                .refund_rate_high
                .map_or(d.refund_rate_high, |r| f::RefundRate {
                    enabled: r.enabled,
                    window_days: r.window_days.0,
                    max_rate: r.max_rate.0,
                    min_conversions: r.min_conversions.0,
                }),
            customer_many_partners: self.customer_many_partners.map_or(
                d.customer_many_partners,
                |r| f::CustomerPartners {
                    enabled: r.enabled,
                    window_hours: r.window_hours.0,
                    max_partners: r.max_partners.0,
                },
            ),
            visitor_many_conversions: self.visitor_many_conversions.map_or(
                d.visitor_many_conversions,
                |r| f::VisitorConversions {
                    enabled: r.enabled,
                    window_hours: r.window_hours.0,
                    max_conversions: r.max_conversions.0,
                },
            ),
            freeze: self.freeze.unwrap_or(d.freeze),
        }
    }
}

impl From<FraudConfig> for FraudRulesIo {
    fn from(c: FraudConfig) -> Self {
        Self {
            self_referral: Some(ToggleIo {
                enabled: c.self_referral.enabled,
            }),
            click_to_conversion_too_short: Some(FastConversionIo {
                enabled: c.click_to_conversion_too_short.enabled,
                min_seconds: Count(c.click_to_conversion_too_short.min_seconds),
            }),
            conversion_velocity_spike: Some(VelocityIo {
                enabled: c.conversion_velocity_spike.enabled,
                window_minutes: Count(c.conversion_velocity_spike.window_minutes),
                min_conversions: Count(c.conversion_velocity_spike.min_conversions),
                spike_factor: super::FxRateText(c.conversion_velocity_spike.spike_factor),
            }),
            refund_rate_high: Some(RefundRateIo {
                enabled: c.refund_rate_high.enabled,
                window_days: Count(c.refund_rate_high.window_days),
                max_rate: super::Rate(c.refund_rate_high.max_rate),
                min_conversions: Count(c.refund_rate_high.min_conversions),
            }),
            customer_many_partners: Some(CustomerPartnersIo {
                enabled: c.customer_many_partners.enabled,
                window_hours: Count(c.customer_many_partners.window_hours),
                max_partners: Count(c.customer_many_partners.max_partners),
            }),
            visitor_many_conversions: Some(VisitorConversionsIo {
                enabled: c.visitor_many_conversions.enabled,
                window_hours: Count(c.visitor_many_conversions.window_hours),
                max_conversions: Count(c.visitor_many_conversions.max_conversions),
            }),
            freeze: Some(c.freeze),
        }
    }
}

/// `PUT /v1/partners/{id}/identity`: the partner's own identity as a customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityIn {
    /// Its customer id at the merchant.
    #[serde(default)]
    pub customer_id: Option<Text<200>>,
    /// Its e-mail address (kept only as a keyed hash).
    #[serde(default)]
    pub email: Option<Text<320>>,
}

/// A partner's identity as a customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityOut {
    /// Partner.
    pub partner_id: String,
    /// Its customer id.
    pub customer_id: Option<String>,
    /// Whether an e-mail address is on file (it is never shown).
    pub email_on_file: bool,
}
