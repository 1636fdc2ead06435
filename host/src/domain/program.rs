//! Programs, tiers and rate tables.

use super::error::DomainError;
use super::money::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A tier's rates: the base commission rate and the bonus rate (0.05 = 5 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRate {
    /// Commission rate on attributed revenue.
    #[serde(with = "rust_decimal::serde::str")]
    pub base: Decimal,
    /// Bonus rate the default bonus plug-in pays at period close.
    #[serde(with = "rust_decimal::serde::str")]
    pub bonus: Decimal,
}

/// The product's default tiers: starter 5 % + 2 %, professional 15 % + 5 %,
/// enterprise 25 % + 10 %, white-label 40 % + 15 %.
pub fn default_tiers() -> BTreeMap<String, TierRate> {
    [
        ("starter", 5, 2),
        ("professional", 15, 5),
        ("enterprise", 25, 10),
        ("white-label", 40, 15),
    ]
    .into_iter()
    .map(|(name, base, bonus)| {
        (
            name.to_owned(),
            TierRate {
                base: Decimal::new(base, 2),
                bonus: Decimal::new(bonus, 2),
            },
        )
    })
    .collect()
}

/// What a volume tier counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeMetric {
    /// Conversions credited to the partner in the calendar month (UTC) so far.
    Conversions,
    /// Revenue attributed to the partner in the calendar month (UTC) so far, program currency.
    Revenue,
}

/// Reaching `threshold` of `metric` adds `add_rate` to the base rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeTier {
    /// What is counted.
    pub metric: VolumeMetric,
    /// The level to reach.
    #[serde(with = "rust_decimal::serde::str")]
    pub threshold: Decimal,
    /// Percentage points added, as a rate (0.02 = +2 points).
    #[serde(with = "rust_decimal::serde::str")]
    pub add_rate: Decimal,
}

/// A partner's volume so far this month, before the conversion being priced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeStats {
    /// Conversions credited.
    pub conversions: u64,
    /// Attributed revenue.
    #[serde(with = "rust_decimal::serde::str")]
    pub revenue: Decimal,
}

/// A versioned rate table. A change is a new version with a new `effective_from_ms`;
/// earlier versions stay, so history is never rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateTable {
    /// 1, 2, 3... per program.
    pub version: i64,
    /// In force from this instant on (ms since the epoch).
    pub effective_from_ms: i64,
    /// Tier name → rates.
    pub tiers: BTreeMap<String, TierRate>,
    /// Volume tiers, any order.
    pub volume_tiers: Vec<VolumeTier>,
}

impl RateTable {
    /// Check every rate is within 0..=1 and thresholds are ≥ 0.
    pub fn validate(&self) -> Result<(), DomainError> {
        for (name, t) in &self.tiers {
            check_rate(&format!("tiers.{name}.base"), t.base)?;
            check_rate(&format!("tiers.{name}.bonus"), t.bonus)?;
        }
        for (i, v) in self.volume_tiers.iter().enumerate() {
            check_rate(&format!("volume_tiers[{i}].add_rate"), v.add_rate)?;
            if v.threshold < Decimal::ZERO {
                return Err(DomainError::invalid(
                    format!("volume_tiers[{i}].threshold"),
                    "must not be negative",
                ));
            }
        }
        Ok(())
    }

    /// The base rate for `tier`, and the volume points earned with `stats` (the highest
    /// tier reached of each metric, summed over metrics).
    pub fn base_rate(
        &self,
        tier: &str,
        stats: &VolumeStats,
    ) -> Result<(Decimal, Decimal), DomainError> {
        let rate = self.tiers.get(tier).ok_or_else(|| {
            DomainError::invalid("tier", format!("the program has no tier {tier:?}"))
        })?;
        let reached = |metric: VolumeMetric, value: Decimal| {
            self.volume_tiers
                .iter()
                .filter(|v| v.metric == metric && value >= v.threshold)
                .max_by_key(|v| v.threshold)
                .map_or(Decimal::ZERO, |v| v.add_rate)
        };
        let add = reached(VolumeMetric::Conversions, Decimal::from(stats.conversions))
            + reached(VolumeMetric::Revenue, stats.revenue);
        Ok((rate.base, add))
    }

    /// Whether any volume tier exists (the engine skips counting volume if not).
    pub fn uses_volume(&self) -> bool {
        !self.volume_tiers.is_empty()
    }
}

/// Check a rate is within 0..=1.
pub fn check_rate(field: &str, rate: Decimal) -> Result<(), DomainError> {
    if rate < Decimal::ZERO || rate > Decimal::ONE {
        return Err(DomainError::BadRate {
            field: field.to_owned(),
            value: rate.to_string(),
        });
    }
    Ok(())
}

/// A plug-in bound to a program: a digest and its configuration document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginBinding {
    /// `sha256:<hex>` of the component.
    pub digest: String,
    /// The JSON configuration passed to every call.
    pub config: serde_json::Value,
}

impl PluginBinding {
    /// The configuration as the text the plug-in receives.
    pub fn config_text(&self) -> String {
        self.config.to_string()
    }
}

/// A commission program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Client-chosen id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The sale currency conversions must be in.
    pub currency: Currency,
    /// The attribution plug-in.
    pub attribution: PluginBinding,
    /// The geographic rate plug-in, if any.
    pub geo_rate: Option<PluginBinding>,
    /// The bonus plug-in, if any.
    pub bonus: Option<PluginBinding>,
    /// Touchpoints older than this many days are ignored.
    pub lookback_days: u32,
    /// Commissions become payable this many days after the conversion.
    pub hold_days: u32,
    /// The largest bonus the bonus plug-in may award a partner for a period, as a share of
    /// that partner's attributed revenue in the period (0..=1; 1 = 100 %, the default).
    /// A larger answer is refused as a contract breach, never clamped.
    pub max_bonus_share: Decimal,
}

/// The default [`Program::max_bonus_share`]: 1, a bonus of at most 100 % of the period's
/// attributed revenue.
pub const DEFAULT_MAX_BONUS_SHARE: Decimal = Decimal::ONE;

impl Program {
    /// Check the settings a client chooses that the domain bounds.
    pub fn validate(&self) -> Result<(), DomainError> {
        check_rate("max_bonus_share", self.max_bonus_share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_plugin_sdk::decimal::dec;

    fn table() -> RateTable {
        RateTable {
            version: 1,
            effective_from_ms: 0,
            tiers: default_tiers(),
            volume_tiers: vec![
                VolumeTier {
                    metric: VolumeMetric::Conversions,
                    threshold: dec("10"),
                    add_rate: dec("0.01"),
                },
                VolumeTier {
                    metric: VolumeMetric::Conversions,
                    threshold: dec("100"),
                    add_rate: dec("0.03"),
                },
                VolumeTier {
                    metric: VolumeMetric::Revenue,
                    threshold: dec("5000"),
                    add_rate: dec("0.02"),
                },
            ],
        }
    }

    #[test]
    fn product_default_tiers() {
        let t = default_tiers();
        assert_eq!(
            t["starter"],
            TierRate {
                base: dec("0.05"),
                bonus: dec("0.02")
            }
        );
        assert_eq!(
            t["professional"],
            TierRate {
                base: dec("0.15"),
                bonus: dec("0.05")
            }
        );
        assert_eq!(
            t["enterprise"],
            TierRate {
                base: dec("0.25"),
                bonus: dec("0.10")
            }
        );
        assert_eq!(
            t["white-label"],
            TierRate {
                base: dec("0.40"),
                bonus: dec("0.15")
            }
        );
    }

    #[test]
    fn volume_tiers_add_the_highest_reached_per_metric() {
        let t = table();
        let s = |conversions, revenue: &str| VolumeStats {
            conversions,
            revenue: dec(revenue),
        };
        assert_eq!(
            t.base_rate("starter", &s(0, "0")).expect("ok"),
            (dec("0.05"), dec("0"))
        );
        assert_eq!(
            t.base_rate("starter", &s(10, "0")).expect("ok").1,
            dec("0.01")
        );
        assert_eq!(
            t.base_rate("starter", &s(150, "0")).expect("ok").1,
            dec("0.03")
        );
        assert_eq!(
            t.base_rate("starter", &s(150, "5000")).expect("ok").1,
            dec("0.05")
        );
        assert!(t.base_rate("gold", &s(0, "0")).is_err());
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        let mut t = table();
        t.tiers.insert(
            "bad".into(),
            TierRate {
                base: dec("1.5"),
                bonus: dec("0"),
            },
        );
        assert_eq!(t.validate().unwrap_err().kind(), "bad-rate");
    }
}
