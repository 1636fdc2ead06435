//! Conversions between the SDK's plain types (what the engine speaks) and the generated
//! WIT bindings (what crosses into the guest), with the byte accounting for the input and
//! output caps.

use super::bindings::{
    WitDecimal, WitKeyValue, WitRuleError, wit_attribution as wa, wit_bonus as wb,
    wit_geo_rate as wg,
};
use accrue_plugin_sdk::{
    Bonus, BonusDecision, Conversion, KeyValue, PeriodStats, PeriodTotals, RateAdjustment,
    RateDecision, RateInput, RuleError, Touchpoint,
};
use rust_decimal::Decimal;

/// Bytes a decimal, an integer or a flag take in the guest's view (fixed-size fields).
const FIXED: usize = 16;

/// A decimal into its WIT parts. Host-side values are produced by our own code; one whose
/// mantissa does not fit 64 bits even without trailing zeros cannot be sent exactly.
pub fn dec_out(d: Decimal) -> Result<WitDecimal, String> {
    accrue_plugin_sdk::decimal::to_parts(d)
        .map(|(mantissa, scale)| WitDecimal { mantissa, scale })
        .map_err(|e| e.to_string())
}

/// WIT parts into a decimal; a scale over 28 is a contract breach by the guest.
pub fn dec_in(d: WitDecimal) -> Result<Decimal, String> {
    accrue_plugin_sdk::decimal::from_parts(d.mantissa, d.scale).map_err(|_| {
        format!(
            "decimal {{mantissa: {}, scale: {}}} has a scale above 28",
            d.mantissa, d.scale
        )
    })
}

fn kvs(list: &[KeyValue], size: &mut usize) -> Vec<WitKeyValue> {
    list.iter()
        .map(|kv| {
            *size += kv.key.len() + kv.value.len() + FIXED;
            WitKeyValue {
                key: kv.key.clone(),
                value: kv.value.clone(),
            }
        })
        .collect()
}

fn opt(s: &Option<String>, size: &mut usize) -> Option<String> {
    *size += s.as_ref().map_or(0, String::len) + 4;
    s.clone()
}

/// Attribution input, and its size in bytes.
pub fn attribution_in(
    conversion: &Conversion,
    touchpoints: &[Touchpoint],
) -> Result<(wa::Conversion, Vec<wa::Touchpoint>, usize), String> {
    let mut size = conversion.id.len() + conversion.amount.currency.len() + 4 * FIXED;
    let c = wa::Conversion {
        id: conversion.id.clone(),
        amount: wa::Money {
            amount: dec_out(conversion.amount.amount)?,
            currency: conversion.amount.currency.clone(),
        },
        occurred_at_ms: conversion.occurred_at_ms,
        customer_id: opt(&conversion.customer_id, &mut size),
        country: opt(&conversion.country, &mut size),
        region: opt(&conversion.region, &mut size),
        new_customer: conversion.new_customer,
        attributes: kvs(&conversion.attributes, &mut size),
    };
    let tps = touchpoints
        .iter()
        .map(|t| {
            size += t.partner_id.len() + t.channel.len() + 2 * FIXED;
            wa::Touchpoint {
                partner_id: t.partner_id.clone(),
                channel: t.channel.clone(),
                occurred_at_ms: t.occurred_at_ms,
                campaign: opt(&t.campaign, &mut size),
                attributes: kvs(&t.attributes, &mut size),
            }
        })
        .collect();
    Ok((c, tps, size))
}

/// Attribution output size in bytes.
pub fn attribution_out_size(weights: &[wa::PartnerWeight]) -> usize {
    weights.iter().map(|w| w.partner_id.len() + FIXED).sum()
}

fn totals(t: &PeriodTotals) -> Result<wb::PeriodTotals, String> {
    Ok(wb::PeriodTotals {
        conversions: t.conversions,
        revenue: dec_out(t.revenue)?,
        commissions: dec_out(t.commissions)?,
    })
}

/// Bonus input, and its size in bytes.
pub fn bonus_in(stats: &PeriodStats) -> Result<(wb::PeriodStats, usize), String> {
    let mut size = stats.partner_id.len() + stats.tier.len() + stats.currency.len() + 10 * FIXED;
    let s = wb::PeriodStats {
        partner_id: stats.partner_id.clone(),
        tier: stats.tier.clone(),
        period_start_ms: stats.period_start_ms,
        period_end_ms: stats.period_end_ms,
        currency: stats.currency.clone(),
        current: totals(&stats.current)?,
        previous: stats.previous.as_ref().map(totals).transpose()?,
        attributes: kvs(&stats.attributes, &mut size),
    };
    Ok((s, size))
}

/// Bonus output, converted.
pub fn bonus_out(d: wb::BonusDecision) -> Result<BonusDecision, String> {
    let bonus = match d.bonus {
        wb::Bonus::None => Bonus::None,
        wb::Bonus::Amount(a) => Bonus::Amount(dec_in(a)?),
        wb::Bonus::Rate(r) => Bonus::Rate(dec_in(r)?),
    };
    Ok(BonusDecision {
        bonus,
        reason: d.reason,
    })
}

/// Geographic rate input, and its size in bytes.
pub fn geo_in(input: &RateInput) -> Result<(wg::RateInput, usize), String> {
    let mut size = input.partner_tier.len() + FIXED;
    let i = wg::RateInput {
        conversion_country: opt(&input.conversion_country, &mut size),
        conversion_region: opt(&input.conversion_region, &mut size),
        partner_tier: input.partner_tier.clone(),
        partner_country: opt(&input.partner_country, &mut size),
        base_rate: dec_out(input.base_rate)?,
    };
    Ok((i, size))
}

/// Geographic rate output, converted.
pub fn geo_out(d: wg::RateDecision) -> Result<RateDecision, String> {
    let adjustment = match d.adjustment {
        wg::RateAdjustment::Unchanged => RateAdjustment::Unchanged,
        wg::RateAdjustment::Multiplier(m) => RateAdjustment::Multiplier(dec_in(m)?),
        wg::RateAdjustment::SetRate(r) => RateAdjustment::SetRate(dec_in(r)?),
    };
    Ok(RateDecision {
        adjustment,
        reason: d.reason,
    })
}

/// A guest's rule error into the SDK's.
pub fn rule_error(e: WitRuleError) -> RuleError {
    match e {
        WitRuleError::InvalidInput(m) => RuleError::InvalidInput(m),
        WitRuleError::Unsupported(m) => RuleError::Unsupported(m),
        WitRuleError::Internal(m) => RuleError::Internal(m),
    }
}
