//! Turning raw scores into weights that sum to exactly 1.

use crate::types::{PartnerWeight, RuleError};
use rust_decimal::Decimal;

/// The scale of normalised weights: 12 decimal places (a millionth of a millionth).
pub const WEIGHT_SCALE: u32 = 12;

/// Normalise raw per-partner scores into weights that sum to exactly 1.
///
/// - Several scores for one partner add up; partners keep the order of their first score.
/// - Partners whose score is zero are left out; if every score is zero the result is empty.
/// - A negative score is an error.
/// - Each weight is `score / total` cut to [`WEIGHT_SCALE`] places; the units lost by cutting
///   go one each to the largest remainders (earlier partner first on ties), so the sum is 1.
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
    let unit = Decimal::new(1, WEIGHT_SCALE);
    let mut parts = Vec::with_capacity(merged.len());
    let mut assigned = Decimal::ZERO;
    for (index, (partner, score)) in merged.into_iter().enumerate() {
        let exact = score
            .checked_div(total)
            .ok_or_else(|| RuleError::Internal("weight division overflowed".into()))?;
        let floor = exact.trunc_with_scale(WEIGHT_SCALE);
        assigned += floor;
        parts.push((index, partner, floor, exact - floor));
    }
    // Hand out the missing units to the largest remainders; stable sort keeps input order on ties.
    let mut missing = ((Decimal::ONE - assigned) / unit).trunc();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| parts[*b].3.cmp(&parts[*a].3));
    for i in order {
        if missing <= Decimal::ZERO {
            break;
        }
        parts[i].2 += unit;
        missing -= Decimal::ONE;
    }
    Ok(parts
        .into_iter()
        .map(|(_, partner_id, weight, _)| PartnerWeight {
            partner_id,
            weight: weight.normalize(),
        })
        .collect())
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

    #[test]
    fn thirds_sum_to_exactly_one() {
        let w = normalize_weights([
            ("a", Decimal::ONE),
            ("b", Decimal::ONE),
            ("c", Decimal::ONE),
        ])
        .expect("ok");
        assert_eq!(sum(&w), Decimal::ONE);
        assert_eq!(w[0].weight, dec("0.333333333334"));
        assert_eq!(w[1].weight, dec("0.333333333333"));
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
    fn many_uneven_scores_still_sum_to_one() {
        let scores: Vec<(String, Decimal)> = (1..=97)
            .map(|i| (format!("p{i}"), Decimal::from(i * 7 % 13 + 1)))
            .collect();
        let w = normalize_weights(scores).expect("ok");
        assert_eq!(sum(&w), Decimal::ONE);
        assert!(w.iter().all(|p| p.weight > Decimal::ZERO));
    }
}
