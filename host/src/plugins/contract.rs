//! Checks that a plug-in's answer keeps its hook's contract. A plug-in is untrusted code:
//! whatever it returns is checked before the engine sees it.

use super::bindings::wit_attribution as wa;
use super::convert::dec_in;
use accrue_plugin_sdk::{
    Bonus, BonusDecision, PartnerWeight, RateAdjustment, RateDecision, Touchpoint,
};
use rust_decimal::Decimal;

/// The most decimal places a weight may have (after trailing zeros are dropped): what a
/// 64-bit WIT mantissa holds for a value up to 1, and what keeps the host's exact split
/// within 128-bit integers.
pub const MAX_WEIGHT_SCALE: u32 = 18;

/// How far the weights' sum may be from 1: 10^-12. The host splits in exact proportion to
/// the weights (dividing by their sum), so a sum of rounded weights need not be exactly 1;
/// the tolerance only catches answers that are not a division of the credit at all.
pub fn weight_sum_tolerance() -> Decimal {
    Decimal::new(1, 12)
}

/// Attribution: known partners, each once, weights in 0..=1 with at most
/// [`MAX_WEIGHT_SCALE`] decimal places, summing to 1 within [`weight_sum_tolerance`]
/// (or no weights at all).
pub fn attribution(
    weights: Vec<wa::PartnerWeight>,
    touchpoints: &[Touchpoint],
) -> Result<Vec<PartnerWeight>, String> {
    let mut out: Vec<PartnerWeight> = Vec::with_capacity(weights.len());
    for w in weights {
        let weight = dec_in(w.weight)?;
        if !touchpoints.iter().any(|t| t.partner_id == w.partner_id) {
            return Err(format!(
                "partner {:?} is not in the touchpoints",
                w.partner_id
            ));
        }
        if out.iter().any(|o| o.partner_id == w.partner_id) {
            return Err(format!("partner {:?} appears more than once", w.partner_id));
        }
        if weight < Decimal::ZERO || weight > Decimal::ONE {
            return Err(format!(
                "weight {weight} for partner {:?} is outside 0..=1",
                w.partner_id
            ));
        }
        if weight.normalize().scale() > MAX_WEIGHT_SCALE {
            return Err(format!(
                "weight {weight} for partner {:?} has more than {MAX_WEIGHT_SCALE} decimal places",
                w.partner_id
            ));
        }
        out.push(PartnerWeight {
            partner_id: w.partner_id,
            weight,
        });
    }
    // At most a few thousand weights, each ≤ 1: the sum cannot overflow.
    let total: Decimal = out.iter().map(|w| w.weight).sum();
    if !out.is_empty() && (total - Decimal::ONE).abs() > weight_sum_tolerance() {
        return Err(format!(
            "weights sum to {total}, not exactly 1 (nor within {} of it)",
            weight_sum_tolerance()
        ));
    }
    Ok(out)
}

/// Bonus: a non-negative amount, or a rate in 0..=1.
pub fn bonus(d: &BonusDecision) -> Result<(), String> {
    match d.bonus {
        Bonus::Amount(a) if a < Decimal::ZERO => Err(format!("negative bonus amount {a}")),
        Bonus::Rate(r) if r < Decimal::ZERO || r > Decimal::ONE => {
            Err(format!("bonus rate {r} is outside 0..=1"))
        }
        _ => Ok(()),
    }
}

/// Geographic rate: a non-negative multiplier, or a rate in 0..=1.
pub fn geo(d: &RateDecision) -> Result<(), String> {
    match d.adjustment {
        RateAdjustment::Multiplier(m) if m < Decimal::ZERO => {
            Err(format!("negative multiplier {m}"))
        }
        RateAdjustment::SetRate(r) if r < Decimal::ZERO || r > Decimal::ONE => {
            Err(format!("rate {r} is outside 0..=1"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::bindings::WitDecimal;

    fn tps(ids: &[&str]) -> Vec<Touchpoint> {
        ids.iter()
            .map(|id| Touchpoint {
                partner_id: (*id).into(),
                channel: "email".into(),
                occurred_at_ms: 0,
                campaign: None,
                attributes: Vec::new(),
            })
            .collect()
    }

    fn answer(weights: &[(&str, i64, u8)]) -> Vec<wa::PartnerWeight> {
        weights
            .iter()
            .map(|(id, mantissa, scale)| wa::PartnerWeight {
                partner_id: (*id).into(),
                weight: WitDecimal {
                    mantissa: *mantissa,
                    scale: *scale,
                },
            })
            .collect()
    }

    #[test]
    fn rounded_thirds_at_18_places_are_accepted() {
        let third = 333_333_333_333_333_333;
        let got = attribution(
            answer(&[("a", third, 18), ("b", third, 18), ("c", third, 18)]),
            &tps(&["a", "b", "c"]),
        )
        .expect("within 10^-12 of 1");
        assert!(got.iter().all(|w| w.weight == Decimal::new(third, 18)));
        // Trailing zeros do not count as places.
        assert!(
            attribution(
                answer(&[("a", 5_000_000_000_000_000_000, 19), ("b", 5, 1)]),
                &tps(&["a", "b"])
            )
            .is_ok()
        );
    }

    #[test]
    fn weights_beyond_18_places_or_far_from_one_are_refused() {
        let e = attribution(
            answer(&[
                ("a", 5_000_000_000_000_000_001, 19),
                ("b", 4_999_999_999_999_999_999, 19),
            ]),
            &tps(&["a", "b"]),
        )
        .unwrap_err();
        assert!(e.contains("more than 18 decimal places"), "{e}");
        let e = attribution(
            answer(&[("a", 5, 1), ("b", 499_999_999_998, 12)]),
            &tps(&["a", "b"]),
        )
        .unwrap_err();
        assert!(e.contains("not exactly 1"), "{e}");
        assert!(
            attribution(answer(&[]), &tps(&["a"]))
                .expect("nobody")
                .is_empty()
        );
    }
}
