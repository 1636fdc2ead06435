//! Turning raw scores into weights.

use crate::types::{PartnerWeight, RuleError};
use rust_decimal::{Decimal, RoundingStrategy};

/// The scale of normalised weights: 18 decimal places, the most a WIT decimal's 64-bit
/// mantissa holds for a value up to 1, and the most the host accepts.
pub const WEIGHT_SCALE: u32 = 18;

/// Normalise raw per-partner scores into weights: each partner's share of the total.
///
/// - Several scores for one partner add up; partners keep the order of their first score.
/// - Partners whose score is zero are left out; if every score is zero the result is empty.
/// - A negative score is an error.
/// - Each weight is `score / total` rounded half to even to [`WEIGHT_SCALE`] places, on its
///   own: **equal scores get equal weights** (three equal scores give three weights of
///   0.333333333333333333). The weights then sum to 1 within n × 10^-18, not necessarily
///   exactly; the host splits in exact proportion to them (dividing by their sum) and
///   accepts any sum within 10^-12 of 1.
pub fn normalize_weights<I, S>(scores: I) -> Result<Vec<PartnerWeight>, RuleError>
where
    I: IntoIterator<Item = (S, Decimal)>,
    S: Into<String>,
{
    let mut merged: Vec<(String, Decimal)> = Vec::new();
    for (partner, score) in scores {
        let partner = partner.into();
        if score.is_sign_negative() && !score.is_zero() {
            return Err(RuleError::Internal(format!(
                "negative score {score} for partner {partner}"
            )));
        }
        match merged.iter_mut().find(|(p, _)| *p == partner) {
            Some((_, total)) => *total = add(*total, score)?,
            None => merged.push((partner, score)),
        }
    }
    merged.retain(|(_, s)| !s.is_zero());
    let total = merged
        .iter()
        .try_fold(Decimal::ZERO, |acc, (_, s)| add(acc, *s))?;
    if total.is_zero() {
        return Ok(Vec::new());
    }
    merged
        .into_iter()
        .map(|(partner_id, score)| {
            let weight = score
                .checked_div(total)
                .ok_or_else(|| RuleError::Internal("weight division overflowed".into()))?
                .round_dp_with_strategy(WEIGHT_SCALE, RoundingStrategy::MidpointNearestEven);
            Ok(PartnerWeight {
                partner_id,
                weight: weight.normalize(),
            })
        })
        .collect()
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal, RuleError> {
    a.checked_add(b)
        .ok_or_else(|| RuleError::Internal("score sum overflowed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::dec;

    fn sum(w: &[PartnerWeight]) -> Decimal {
        w.iter().map(|p| p.weight).sum()
    }

    fn close_to_one(w: &[PartnerWeight]) -> bool {
        (sum(w) - Decimal::ONE).abs() <= Decimal::new(w.len() as i64, WEIGHT_SCALE)
    }

    #[test]
    fn equal_scores_get_equal_weights() {
        let w = normalize_weights([
            ("a", Decimal::ONE),
            ("b", Decimal::ONE),
            ("c", Decimal::ONE),
        ])
        .expect("ok");
        for p in &w {
            assert_eq!(p.weight, dec("0.333333333333333333"));
        }
        assert_eq!(sum(&w), dec("0.999999999999999999"));
        let w = normalize_weights([("a", dec("2")), ("b", dec("1")), ("c", dec("2"))]).expect("ok");
        assert_eq!(w[0].weight, w[2].weight);
        assert_eq!(w[0].weight, dec("0.4"));
        assert!(close_to_one(&w));
    }

    #[test]
    fn weights_round_half_to_even_at_18_places() {
        // 2/3 = 0.666…67 (up), 1/6 = 0.1666…67, 1/7 = 0.142857…
        let w = normalize_weights([("a", dec("4")), ("b", dec("1")), ("c", dec("1"))]).expect("ok");
        assert_eq!(w[0].weight, dec("0.666666666666666667"));
        assert_eq!(w[1].weight, dec("0.166666666666666667"));
        assert!(w.iter().all(|p| p.weight.scale() <= WEIGHT_SCALE));
        assert!(close_to_one(&w));
    }

    #[test]
    fn duplicates_add_up_and_keep_first_order() {
        let w = normalize_weights([("b", dec("1")), ("a", dec("2")), ("b", dec("1"))]).expect("ok");
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].partner_id, "b");
        assert_eq!(w[0].weight, dec("0.5"));
        assert_eq!(w[1].weight, dec("0.5"));
    }

    #[test]
    fn all_zero_is_empty_and_negative_is_error() {
        assert!(
            normalize_weights([("a", Decimal::ZERO)])
                .expect("ok")
                .is_empty()
        );
        assert!(normalize_weights([("a", dec("-1"))]).is_err());
    }

    #[test]
    fn many_uneven_scores_sum_to_one_within_the_rounding() {
        let scores: Vec<(String, Decimal)> = (1..=97)
            .map(|i| (format!("p{i}"), Decimal::from(i * 7 % 13 + 1)))
            .collect();
        let w = normalize_weights(scores).expect("ok");
        assert!(close_to_one(&w), "{}", sum(&w));
        assert!(w.iter().all(|p| p.weight > Decimal::ZERO));
    }
}
