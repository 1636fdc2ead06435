//! Fraud rules, as pure code: a program's rules and thresholds, and the alerts a batch of
//! facts raises. Each rule is one alert type, with the evidence that tripped it:
//!
//! | rule | trips when | subject (one alert per) |
//! | --- | --- | --- |
//! | `self_referral` | a credited partner's own customer id, or e-mail hash, is the sale's | conversion and partner |
//! | `click_to_conversion_too_short` | the sale came less than `min_seconds` after its click | conversion |
//! | `conversion_velocity_spike` | a partner's conversions in the last `window_minutes` are at least `min_conversions` and `spike_factor` times its usual rate over the 7 days before | partner and window |
//! | `refund_rate_high` | a partner's refunded revenue over the last `window_days` is above `max_rate` of its revenue, with at least `min_conversions` | partner and day |
//! | `customer_many_partners` | one customer is credited to more than `max_partners` partners within `window_hours` | customer and day |
//! | `visitor_many_conversions` | one visitor made more than `max_conversions` conversions within `window_hours` | visitor and day |
//!
//! With `freeze`, an alert about a conversion freezes the commissions of that conversion
//! (through a dispute, so resolving the alert upholds or rejects it).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A rule that is on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Toggle {
    /// Whether it runs.
    pub enabled: bool,
}

/// `click_to_conversion_too_short`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FastConversion {
    /// Whether it runs.
    pub enabled: bool,
    /// Fewer seconds between click and sale than this trips it.
    pub min_seconds: u32,
}

/// `conversion_velocity_spike`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Velocity {
    /// Whether it runs.
    pub enabled: bool,
    /// The window counted, minutes.
    pub window_minutes: u32,
    /// The fewest conversions in the window that can trip it.
    pub min_conversions: u32,
    /// How many times the partner's usual rate trips it.
    #[serde(with = "rust_decimal::serde::str")]
    pub spike_factor: Decimal,
}

/// `refund_rate_high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRate {
    /// Whether it runs.
    pub enabled: bool,
    /// The window, days.
    pub window_days: u32,
    /// The largest share of revenue refunded that passes.
    #[serde(with = "rust_decimal::serde::str")]
    pub max_rate: Decimal,
    /// The fewest conversions in the window for the rate to count.
    pub min_conversions: u32,
}

/// `customer_many_partners`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerPartners {
    /// Whether it runs.
    pub enabled: bool,
    /// The window, hours.
    pub window_hours: u32,
    /// The most partners one customer may be credited to in the window.
    pub max_partners: u32,
}

/// `visitor_many_conversions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitorConversions {
    /// Whether it runs.
    pub enabled: bool,
    /// The window, hours.
    pub window_hours: u32,
    /// The most conversions one visitor may make in the window.
    pub max_conversions: u32,
}

/// A program's fraud rules (stored as JSON; every field has its default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FraudConfig {
    /// `self_referral`.
    pub self_referral: Toggle,
    /// `click_to_conversion_too_short`.
    pub click_to_conversion_too_short: FastConversion,
    /// `conversion_velocity_spike`.
    pub conversion_velocity_spike: Velocity,
    /// `refund_rate_high`.
    pub refund_rate_high: RefundRate,
    /// `customer_many_partners`.
    pub customer_many_partners: CustomerPartners,
    /// `visitor_many_conversions`.
    pub visitor_many_conversions: VisitorConversions,
    /// Freeze the commissions of a conversion an alert is about.
    pub freeze: bool,
}

impl Default for FraudConfig {
    fn default() -> Self {
        Self {
            self_referral: Toggle { enabled: true },
            click_to_conversion_too_short: FastConversion {
                enabled: true,
                min_seconds: 10,
            },
            conversion_velocity_spike: Velocity {
                enabled: true,
                window_minutes: 60,
                min_conversions: 20,
                spike_factor: Decimal::new(5, 0),
            },
            refund_rate_high: RefundRate {
                enabled: true,
                window_days: 30,
                max_rate: Decimal::new(30, 2),
                min_conversions: 10,
            },
            customer_many_partners: CustomerPartners {
                enabled: true,
                window_hours: 24,
                max_partners: 3,
            },
            visitor_many_conversions: VisitorConversions {
                enabled: true,
                window_hours: 24,
                max_conversions: 5,
            },
            freeze: false,
        }
    }
}

impl FraudConfig {
    /// Check the thresholds make sense.
    pub fn validate(&self) -> Result<(), super::DomainError> {
        let bad = |field: &'static str, why: &str| Err(super::DomainError::invalid(field, why));
        if self.conversion_velocity_spike.window_minutes == 0 {
            return bad(
                "conversion_velocity_spike.window_minutes",
                "must be at least 1",
            );
        }
        if self.conversion_velocity_spike.window_minutes > 24 * 60 {
            return bad(
                "conversion_velocity_spike.window_minutes",
                "at most a day (1440)",
            );
        }
        if self.conversion_velocity_spike.spike_factor < Decimal::ONE {
            return bad(
                "conversion_velocity_spike.spike_factor",
                "must be at least 1",
            );
        }
        let r = self.refund_rate_high;
        if r.window_days == 0 || r.window_days > 365 {
            return bad("refund_rate_high.window_days", "from 1 to 365");
        }
        if r.max_rate < Decimal::ZERO || r.max_rate > Decimal::ONE {
            return bad("refund_rate_high.max_rate", "a rate in 0..=1");
        }
        for (field, hours) in [
            (
                "customer_many_partners.window_hours",
                self.customer_many_partners.window_hours,
            ),
            (
                "visitor_many_conversions.window_hours",
                self.visitor_many_conversions.window_hours,
            ),
        ] {
            if hours == 0 || hours > 24 * 31 {
                return bad(field, "from 1 to 744 hours");
            }
        }
        Ok(())
    }
}

/// The alert types.
pub const RULES: [&str; 6] = [
    "self_referral",
    "click_to_conversion_too_short",
    "conversion_velocity_spike",
    "refund_rate_high",
    "customer_many_partners",
    "visitor_many_conversions",
];

/// An alert to raise (once per program, rule and subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// Program.
    pub program_id: String,
    /// The partner it is about.
    pub partner_id: Option<String>,
    /// One of [`RULES`].
    pub rule: &'static str,
    /// What it is about, unique per rule: a repeat of the same finding raises nothing.
    pub subject: String,
    /// The conversion it is about, if one.
    pub conversion_id: Option<String>,
    /// `medium` or `high`.
    pub severity: &'static str,
    /// Why, with the figures.
    pub evidence: serde_json::Value,
}

/// What the rules read about one new conversion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConversionSignals {
    /// Program.
    pub program_id: String,
    /// Conversion.
    pub conversion_id: String,
    /// When (ms).
    pub at_ms: i64,
    /// Credited partners.
    pub partners: Vec<String>,
    /// The sale's customer id.
    pub customer_id: Option<String>,
    /// The sale's e-mail hash.
    pub email_hash: Option<String>,
    /// Ms from its click to it, when the click is known, with the click's partner.
    pub since_click: Option<(i64, String)>,
    /// Its visitor's hash (the sale's own, else its click's), and that visitor's
    /// conversions in the rule's window (this one included).
    pub visitor: Option<(String, i64)>,
    /// Partners credited with the customer's conversions in the rule's window (this one
    /// included).
    pub customer_partners: Option<Vec<String>>,
}

/// A partner's own identity as a customer: its customer id and e-mail hash.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartnerIdentity {
    /// Its customer id at the merchant.
    pub customer_id: Option<String>,
    /// Its e-mail address's keyed hash.
    pub email_hash: Option<String>,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// The alerts one conversion raises under `config`.
pub fn conversion_alerts(
    config: &FraudConfig,
    c: &ConversionSignals,
    identity: impl Fn(&str) -> Option<PartnerIdentity>,
) -> Vec<NewAlert> {
    let mut out = Vec::new();
    let alert = |partner: Option<&str>, rule, subject: String, severity, evidence| NewAlert {
        program_id: c.program_id.clone(),
        partner_id: partner.map(str::to_owned),
        rule,
        subject,
        conversion_id: Some(c.conversion_id.clone()),
        severity,
        evidence,
    };
    if config.self_referral.enabled {
        for p in &c.partners {
            let Some(id) = identity(p) else { continue };
            let by_id = id.customer_id.is_some() && id.customer_id == c.customer_id;
            let by_email = id.email_hash.is_some() && id.email_hash == c.email_hash;
            if by_id || by_email {
                out.push(alert(
                    Some(p),
                    "self_referral",
                    format!("{}/{p}", c.conversion_id),
                    "high",
                    serde_json::json!({
                        "matched": if by_id { "customer_id" } else { "email" },
                        "customer_id": if by_id { c.customer_id.clone() } else { None },
                    }),
                ));
            }
        }
    }
    let fast = config.click_to_conversion_too_short;
    if fast.enabled
        && let Some((ms, partner)) = &c.since_click
        && *ms < i64::from(fast.min_seconds) * 1000
    {
        out.push(alert(
            Some(partner),
            "click_to_conversion_too_short",
            c.conversion_id.clone(),
            "medium",
            serde_json::json!({"seconds_from_click": Decimal::new(*ms, 3).to_string(), "min_seconds": fast.min_seconds}),
        ));
    }
    let v = config.visitor_many_conversions;
    if v.enabled
        && let Some((visitor, n)) = &c.visitor
        && *n > i64::from(v.max_conversions)
    {
        out.push(alert(
            c.partners.first().map(String::as_str),
            "visitor_many_conversions",
            format!("{visitor}/{}", day_of(c.at_ms)),
            "medium",
            serde_json::json!({"visitor_hash": visitor, "conversions": n, "window_hours": v.window_hours, "max_conversions": v.max_conversions}),
        ));
    }
    let m = config.customer_many_partners;
    if m.enabled
        && let (Some(customer), Some(partners)) = (&c.customer_id, &c.customer_partners)
        && partners.len() > m.max_partners as usize
    {
        out.push(alert(
            c.partners.first().map(String::as_str),
            "customer_many_partners",
            format!("{customer}/{}", day_of(c.at_ms)),
            "high",
            serde_json::json!({"customer_id": customer, "partners": partners, "window_hours": m.window_hours, "max_partners": m.max_partners}),
        ));
    }
    out
}

/// The velocity rule for one partner: `recent` conversions in the window ending at
/// `at_ms`, `before` in the 7 days before the window.
pub fn velocity_alert(
    config: &FraudConfig,
    program_id: &str,
    partner_id: &str,
    at_ms: i64,
    recent: i64,
    before: i64,
) -> Option<NewAlert> {
    let v = config.conversion_velocity_spike;
    if !v.enabled || recent < i64::from(v.min_conversions) {
        return None;
    }
    let window_ms = i64::from(v.window_minutes) * 60_000;
    // The usual rate per window over the 7 days before (at least one conversion's worth a
    // week, so a brand-new partner's first burst is compared with something).
    let windows = Decimal::from(7 * DAY_MS) / Decimal::from(window_ms.max(1));
    let usual = (Decimal::from(before.max(1)) / windows).max(Decimal::new(1, 2));
    let factor = Decimal::from(recent) / usual;
    (factor >= v.spike_factor).then(|| NewAlert {
        program_id: program_id.to_owned(),
        partner_id: Some(partner_id.to_owned()),
        rule: "conversion_velocity_spike",
        subject: format!("{partner_id}/{}", at_ms.div_euclid(window_ms.max(HOUR_MS))),
        conversion_id: None,
        severity: "medium",
        evidence: serde_json::json!({
            "conversions_in_window": recent, "window_minutes": v.window_minutes,
            "usual_per_window": usual.round_dp(4).to_string(), "factor": factor.round_dp(2).to_string(),
            "spike_factor": v.spike_factor.to_string(),
        }),
    })
}

/// The refund-rate rule for one partner in one currency over the window: `conversions`,
/// `revenue` and `refunded` (minor units).
#[allow(clippy::too_many_arguments)]
pub fn refund_rate_alert(
    config: &FraudConfig,
    program_id: &str,
    partner_id: &str,
    at_ms: i64,
    currency: &str,
    conversions: i64,
    revenue: i64,
    refunded: i64,
) -> Option<NewAlert> {
    let r = config.refund_rate_high;
    if !r.enabled || conversions < i64::from(r.min_conversions) || revenue <= 0 {
        return None;
    }
    let rate = Decimal::from(refunded) / Decimal::from(revenue);
    (rate > r.max_rate).then(|| NewAlert {
        program_id: program_id.to_owned(),
        partner_id: Some(partner_id.to_owned()),
        rule: "refund_rate_high",
        subject: format!("{partner_id}/{currency}/{}", day_of(at_ms)),
        conversion_id: None,
        severity: "high",
        evidence: serde_json::json!({
            "currency": currency, "conversions": conversions, "window_days": r.window_days,
            "refund_rate": rate.round_dp(4).to_string(), "max_rate": r.max_rate.to_string(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale() -> ConversionSignals {
        ConversionSignals {
            program_id: "p".into(),
            conversion_id: "o1".into(),
            at_ms: 1_000 * DAY_MS,
            partners: vec!["a".into()],
            customer_id: Some("c1".into()),
            email_hash: Some("h1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn each_rule_trips_at_its_threshold() {
        let cfg = FraudConfig::default();
        let none = |_: &str| None;
        assert!(conversion_alerts(&cfg, &sale(), none).is_empty());
        let me = |_: &str| {
            Some(PartnerIdentity {
                customer_id: None,
                email_hash: Some("h1".into()),
            })
        };
        let a = conversion_alerts(&cfg, &sale(), me);
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].rule, a[0].evidence["matched"].as_str()),
            ("self_referral", Some("email"))
        );
        let fast = ConversionSignals {
            since_click: Some((9_999, "a".into())),
            ..sale()
        };
        assert_eq!(
            conversion_alerts(&cfg, &fast, none)[0].rule,
            "click_to_conversion_too_short"
        );
        let slow = ConversionSignals {
            since_click: Some((10_000, "a".into())),
            ..sale()
        };
        assert!(conversion_alerts(&cfg, &slow, none).is_empty());
        let visitor = ConversionSignals {
            visitor: Some(("v".into(), 6)),
            ..sale()
        };
        assert_eq!(
            conversion_alerts(&cfg, &visitor, none)[0].rule,
            "visitor_many_conversions"
        );
        let many = ConversionSignals {
            customer_partners: Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]),
            ..sale()
        };
        assert_eq!(
            conversion_alerts(&cfg, &many, none)[0].rule,
            "customer_many_partners"
        );
        assert!(
            velocity_alert(&cfg, "p", "a", 0, 19, 0).is_none(),
            "below the minimum"
        );
        assert!(
            velocity_alert(&cfg, "p", "a", 0, 20, 20 * 168).is_none(),
            "its usual rate"
        );
        assert!(
            velocity_alert(&cfg, "p", "a", 0, 20, 10).is_some(),
            "a spike"
        );
        assert!(refund_rate_alert(&cfg, "p", "a", 0, "USD", 10, 1000, 300).is_none());
        assert!(refund_rate_alert(&cfg, "p", "a", 0, "USD", 10, 1000, 301).is_some());
        assert!(refund_rate_alert(&cfg, "p", "a", 0, "USD", 9, 1000, 900).is_none());
        let mut off = cfg;
        off.self_referral.enabled = false;
        assert!(conversion_alerts(&off, &sale(), me).is_empty());
    }

    #[test]
    fn configs_are_checked_and_default_when_partial() {
        let partial: FraudConfig =
            serde_json::from_str(r#"{"freeze": true, "click_to_conversion_too_short": {"enabled": true, "min_seconds": 30}}"#)
                .expect("partial config");
        assert!(partial.freeze);
        assert_eq!(partial.click_to_conversion_too_short.min_seconds, 30);
        assert_eq!(
            partial.visitor_many_conversions,
            FraudConfig::default().visitor_many_conversions
        );
        let mut bad = FraudConfig::default();
        bad.refund_rate_high.max_rate = Decimal::new(2, 0);
        assert!(bad.validate().is_err());
        assert!(serde_json::from_str::<FraudConfig>(r#"{"nope": 1}"#).is_err());
    }
}
