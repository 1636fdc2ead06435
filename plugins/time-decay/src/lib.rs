//! Time-decay attribution: each eligible touchpoint scores 2^(−age / half-life), where age
//! is the time from the touchpoint to the conversion and the half-life is `half_life_days`
//! (7 by default, fractions allowed). Scores are computed in 18-digit fixed point with
//! integer arithmetic only (deterministic everywhere, no floats), then normalised: each
//! weight is the score's share of the total, at 18 places.

use accrue_plugin_sdk::prelude::*;

/// 1.0 in the 18-digit fixed point used for scores.
const ONE: i128 = 1_000_000_000_000_000_000;
/// ln 2 in that fixed point.
const LN_2: i128 = 693_147_180_559_945_309;

/// 2^(−x) for x ≥ 0, to 18 decimal places (within a few units of the last place).
///
/// x = n + f with n whole and 0 ≤ f < 1: 2^(−f) = e^(−f·ln 2) by its Taylor series, whose
/// terms fall below 10^−18 within 20 steps since f·ln 2 < 0.7; then halve n times. This
/// replaces rust_decimal's general `powd` (about 50 times slower) with the one case needed.
fn exp2_neg(x: Decimal) -> Decimal {
    let n = x.trunc();
    if n >= Decimal::from(60) {
        return Decimal::ZERO; // below 10^−18
    }
    let whole = u32::try_from(n.mantissa() / 10i128.pow(n.scale())).unwrap_or(60);
    let frac = ((x - n) * Decimal::from(ONE)).trunc().mantissa();
    let y = frac * LN_2 / ONE;
    let (mut sum, mut term) = (ONE, ONE);
    for k in 1..=24i128 {
        term = -term * y / ONE / k;
        if term == 0 {
            break;
        }
        sum += term;
    }
    Decimal::from_i128_with_scale(sum >> whole, 18)
}

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
            let halvings = age_ms
                .checked_div(half_life_ms)
                .ok_or_else(|| RuleError::Internal("age / half-life overflowed".into()))?;
            scores.push((t.partner_id.as_str(), exp2_neg(halvings)));
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
        assert_eq!(w[0].weight, dec("0.333333333333333333"));
        assert_eq!(w[1].weight, dec("0.666666666666666667"));
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
    fn powers_of_two_are_exact_and_fractions_accurate() {
        assert_eq!(exp2_neg(dec("0")), Decimal::ONE);
        assert_eq!(exp2_neg(dec("1")), dec("0.5"));
        assert_eq!(exp2_neg(dec("3")), dec("0.125"));
        // 2^−0.5 = 0.707106781186547524400...
        let half = exp2_neg(dec("0.5"));
        assert!(
            (half - dec("0.707106781186547524")).abs() <= dec("0.000000000000000005"),
            "{half}"
        );
        // 2^−(10/7) = 0.37149857228423710619...
        let ten_sevenths = exp2_neg(dec("10") / dec("7"));
        assert!(
            (ten_sevenths - dec("0.371498572284237106")).abs() <= dec("0.000000000000000005"),
            "{ten_sevenths}"
        );
        assert_eq!(exp2_neg(dec("100")), Decimal::ZERO);
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
