//! Tier bonus: a bonus rate on the period's attributed revenue, by tier, paid when that
//! revenue reaches a threshold.
//!
//! Config: `threshold` (program currency, default 0: always paid), `rates` (tier → rate,
//! merged over the product defaults: starter 2 %, professional 5 %, enterprise 10 %,
//! white-label 15 %). A tier with no rate is `unsupported`.

use accrue_plugin_sdk::prelude::*;

/// The tier bonus rule.
pub struct TierBonus;

/// The product's default bonus rates.
pub const DEFAULT_RATES: [(&str, &str); 4] = [
    ("starter", "0.02"),
    ("professional", "0.05"),
    ("enterprise", "0.10"),
    ("white-label", "0.15"),
];

impl BonusRule for TierBonus {
    fn evaluate(config: &Config, stats: &PeriodStats) -> Result<BonusDecision, RuleError> {
        let threshold = config.decimal("threshold", Decimal::ZERO)?;
        let overrides = config.decimal_map("rates")?;
        let rate = overrides
            .iter()
            .find(|(tier, _)| *tier == stats.tier)
            .map(|(_, r)| *r)
            .or_else(|| {
                DEFAULT_RATES
                    .iter()
                    .find(|(tier, _)| *tier == stats.tier)
                    .map(|(_, r)| dec(r))
            })
            .ok_or_else(|| {
                RuleError::Unsupported(format!("no bonus rate for tier {:?}", stats.tier))
            })?;
        if rate < Decimal::ZERO {
            return Err(RuleError::InvalidInput(format!(
                "negative bonus rate {rate}"
            )));
        }
        let revenue = stats.current.revenue;
        if revenue < threshold || rate.is_zero() {
            return Ok(BonusDecision {
                bonus: Bonus::None,
                reason: format!(
                    "revenue {revenue} {} below threshold {threshold}",
                    stats.currency
                ),
            });
        }
        Ok(BonusDecision {
            bonus: Bonus::Rate(rate),
            reason: format!(
                "{} tier bonus {}% on revenue {revenue} {}",
                stats.tier,
                (rate * Decimal::ONE_HUNDRED).normalize(),
                stats.currency
            ),
        })
    }
}

accrue_plugin_sdk::export_bonus!(TierBonus);

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(tier: &str, revenue: &str) -> PeriodStats {
        PeriodStats {
            partner_id: "p1".into(),
            tier: tier.into(),
            period_start_ms: 0,
            period_end_ms: 1,
            currency: "USD".into(),
            current: PeriodTotals {
                conversions: 3,
                revenue: dec(revenue),
                commissions: dec("10"),
            },
            previous: None,
            attributes: Vec::new(),
        }
    }

    #[test]
    fn product_default_rates() {
        for (tier, rate) in DEFAULT_RATES {
            let d = TierBonus::evaluate(&Config::default(), &stats(tier, "100")).expect("ok");
            assert_eq!(d.bonus, Bonus::Rate(dec(rate)), "{tier}");
        }
    }

    #[test]
    fn threshold_and_overrides() {
        let c =
            Config::parse(r#"{"threshold": "1000", "rates": {"starter": "0.03"}}"#).expect("json");
        assert_eq!(
            TierBonus::evaluate(&c, &stats("starter", "999.99"))
                .expect("ok")
                .bonus,
            Bonus::None
        );
        assert_eq!(
            TierBonus::evaluate(&c, &stats("starter", "1000"))
                .expect("ok")
                .bonus,
            Bonus::Rate(dec("0.03"))
        );
        assert_eq!(
            TierBonus::evaluate(&c, &stats("enterprise", "5000"))
                .expect("ok")
                .bonus,
            Bonus::Rate(dec("0.10"))
        );
    }

    #[test]
    fn unknown_tier_is_unsupported() {
        let e = TierBonus::evaluate(&Config::default(), &stats("gold", "1")).expect_err("no rate");
        assert!(matches!(e, RuleError::Unsupported(_)));
    }
}
