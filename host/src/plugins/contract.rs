//! Checks that a plug-in's answer keeps its hook's contract. A plug-in is untrusted code:
//! whatever it returns is checked before the engine sees it.

use super::bindings::wit_attribution as wa;
use super::convert::dec_in;
use accrue_plugin_sdk::{
    Bonus, BonusDecision, PartnerWeight, RateAdjustment, RateDecision, Touchpoint,
};
use rust_decimal::Decimal;

/// Attribution: known partners, each once, weights in 0..=1 summing to exactly 1 (or none).
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
        out.push(PartnerWeight {
            partner_id: w.partner_id,
            weight,
        });
    }
    let total: Decimal = out.iter().map(|w| w.weight).sum();
    if !out.is_empty() && total != Decimal::ONE {
        return Err(format!("weights sum to {total}, not exactly 1"));
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
