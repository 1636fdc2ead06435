//! Time-decay attribution: each eligible touchpoint scores 2^(−age / half-life), where age
//! is the time from the touchpoint to the conversion and the half-life is `half_life_days`
//! (7 by default, fractions allowed). Scores are computed with exact decimal arithmetic
//! (rust_decimal's deterministic `powd`), never floats, then normalised to sum to 1.

use accrue_plugin_sdk::prelude::*;
use accrue_plugin_sdk::rust_decimal::MathematicalOps;

/// The time-decay model.
pub struct TimeDecay;

impl AttributionRule for TimeDecay {
    fn attribute(
        config: &Config,
        conversion: &Conversion,
        touchpoints: &[Touchpoint],
    ) -> Result<Vec<PartnerWeight>, RuleError> {
        let half_life_days = config.decimal("half_life_days", Decimal::from(7))?;
        if half_life_days <= Decimal::ZERO {
            return Err(RuleError::InvalidInput(format!(
                "half_life_days must be positive, got {half_life_days}"
            )));
        }
        let half_life_ms = half_life_days * Decimal::from(DAY_MS);
        let kept = eligible(config, conversion, touchpoints)?;
        let mut scores = Vec::with_capacity(kept.len());
        for t in kept {
            let age_ms = Decimal::from(conversion.occurred_at_ms - t.occurred_at_ms);
            let exponent = -(age_ms / half_life_ms);
            let score = Decimal::TWO
                .checked_powd(exponent)
                .ok_or_else(|| RuleError::Internal(format!("2^{exponent} is out of range")))?;
            scores.push((t.partner_id.as_str(), score));
        }
        normalize_weights(scores)
    }
}

accrue_plugin_sdk::export_attribution!(TimeDecay);

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_plugin_sdk::attribution::testing::*;

    fn run(config: &str, tps: &[Touchpoint]) -> Vec<PartnerWeight> {
        TimeDecay::attribute(&Config::parse(config).expect("json"), &conversion(), tps).expect("ok")
    }

    #[test]
    fn one_half_life_older_earns_half_as_much() {
        let w = run("{}", &[touch("old", "e", 7), touch("new", "e", 0)]);
        // scores 0.5 and 1 → weights 1/3 and 2/3
        assert_eq!(w[0].weight, dec("0.333333333333"));
        assert_eq!(w[1].weight, dec("0.666666666667"));
        assert_eq!(w.iter().map(|p| p.weight).sum::<Decimal>(), Decimal::ONE);
    }

    #[test]
    fn configurable_half_life() {
        let w = run(
            r#"{"half_life_days": 1}"#,
            &[touch("old", "e", 2), touch("new", "e", 0)],
        );
        // scores 0.25 and 1 → 0.2 and 0.8
        assert_eq!(w[0].weight, dec("0.2"));
        assert_eq!(w[1].weight, dec("0.8"));
        let bad = Config::parse(r#"{"half_life_days": 0}"#).expect("json");
        assert!(TimeDecay::attribute(&bad, &conversion(), &[touch("a", "e", 1)]).is_err());
    }

    #[test]
    fn ignores_stale_and_future_and_is_repeatable() {
        let tps = [
            touch("a", "e", 40),
            touch("b", "e", -1),
            touch("c", "e", 3),
            touch("d", "e", 1),
        ];
        let first = run("{}", &tps);
        assert_eq!(first.len(), 2);
        assert_eq!(first, run("{}", &tps));
        assert!(first[1].weight > first[0].weight);
    }
}
