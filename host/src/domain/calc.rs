//! The commission calculation, given what the plug-ins decided.
//!
//! For one conversion of `amount` in the sale currency:
//! 1. the amount is split among the credited partners in exact proportion to their
//!    attribution weights (largest remainder, exact ties by the hash rule of
//!    [`super::money`], so the parts add up to the amount exactly);
//! 2. each partner's rate is its tier's base rate plus volume points, then the
//!    geographic adjustment; the result must lie in 0..=1;
//! 3. each commission is `attributed × rate`, rounded half-even to the minor unit;
//! 4. converted to the partner's payout currency at the recorded FX rate (cut toward zero).

use super::error::DomainError;
use super::money::{Currency, round_minor, split_largest_remainder};
use super::program::check_rate;
use accrue_plugin_sdk::{Bonus, RateAdjustment};
use rust_decimal::Decimal;

/// Apply a geographic adjustment to a base rate; the result must be a rate in 0..=1.
pub fn apply_geo(base: Decimal, adjustment: &RateAdjustment) -> Result<Decimal, DomainError> {
    let rate = match adjustment {
        RateAdjustment::Unchanged => base,
        RateAdjustment::Multiplier(m) => base
            .checked_mul(*m)
            .ok_or(DomainError::Overflow("geo multiplier"))?,
        RateAdjustment::SetRate(r) => *r,
    };
    check_rate("rate", rate)?;
    Ok(rate)
}

/// One credited partner's part of a conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// Attributed revenue, sale currency, minor units.
    pub attributed: Decimal,
    /// Commission, sale currency, minor units.
    pub commission: Decimal,
}

/// Split `amount` by `weights` and apply each partner's `rates` (same order); `tie_keys`
/// rank exact ties (see [`super::money::tie_key`]).
pub fn shares(
    amount: Decimal,
    currency: Currency,
    weights: &[Decimal],
    tie_keys: &[[u8; 32]],
    rates: &[Decimal],
) -> Result<Vec<Share>, DomainError> {
    debug_assert_eq!(weights.len(), rates.len());
    let attributed =
        split_largest_remainder(round_minor(amount, currency), weights, tie_keys, currency)?;
    attributed
        .into_iter()
        .zip(rates)
        .map(|(attributed, rate)| {
            let raw = attributed
                .checked_mul(*rate)
                .ok_or(DomainError::Overflow("commission"))?;
            Ok(Share {
                attributed,
                commission: round_minor(raw, currency),
            })
        })
        .collect()
}

/// What a bonus decision pays on a period's attributed `revenue`, at the minor unit
/// (half-even): a fixed amount as given, a rate times the revenue (negative revenue counts
/// as none). Not yet checked against [`bonus_cap`].
pub fn bonus_amount(
    bonus: &Bonus,
    revenue: Decimal,
    currency: Currency,
) -> Result<Decimal, DomainError> {
    let raw = match bonus {
        Bonus::None => Decimal::ZERO,
        Bonus::Amount(a) => *a,
        Bonus::Rate(r) => revenue
            .max(Decimal::ZERO)
            .checked_mul(*r)
            .ok_or(DomainError::Overflow("bonus"))?,
    };
    Ok(round_minor(raw, currency))
}

/// The largest bonus a program allows on a period's attributed `revenue`:
/// `round_minor(max(revenue, 0) × max_share)`.
pub fn bonus_cap(
    revenue: Decimal,
    max_share: Decimal,
    currency: Currency,
) -> Result<Decimal, DomainError> {
    let raw = revenue
        .max(Decimal::ZERO)
        .checked_mul(max_share)
        .ok_or(DomainError::Overflow("bonus cap"))?;
    Ok(round_minor(raw, currency))
}

/// The part of `commission` a refund of `refunded` out of `amount` reverses, cumulatively:
/// `round(commission × refunded / amount)`. Reversing the difference between two
/// cumulative figures means a full refund always lands on exactly zero.
pub fn reversed_by_refund(
    commission: Decimal,
    refunded: Decimal,
    amount: Decimal,
    currency: Currency,
) -> Result<Decimal, DomainError> {
    if amount.is_zero() || refunded >= amount {
        return Ok(commission);
    }
    let raw = commission
        .checked_mul(refunded)
        .and_then(|x| x.checked_div(amount))
        .ok_or(DomainError::Overflow("refund"))?;
    Ok(round_minor(raw, currency))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::tie_key;
    use accrue_plugin_sdk::decimal::dec;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("usd")
    }

    #[test]
    fn geo_adjustments() {
        assert_eq!(
            apply_geo(dec("0.15"), &RateAdjustment::Multiplier(dec("0.5"))).expect("ok"),
            dec("0.075")
        );
        assert_eq!(
            apply_geo(dec("0.15"), &RateAdjustment::SetRate(dec("0.2"))).expect("ok"),
            dec("0.2")
        );
        assert!(apply_geo(dec("0.6"), &RateAdjustment::Multiplier(dec("2"))).is_err());
    }

    #[test]
    fn commission_per_partner_to_the_cent() {
        let s = shares(
            dec("129.90"),
            usd(),
            &[dec("0.5"), dec("0.5")],
            &[tie_key("c", "a"), tie_key("c", "b")],
            &[dec("0.05"), dec("0.15")],
        )
        .expect("ok");
        assert_eq!(
            s[0],
            Share {
                attributed: dec("64.95"),
                commission: dec("3.25")
            }
        );
        assert_eq!(
            s[1],
            Share {
                attributed: dec("64.95"),
                commission: dec("9.74")
            }
        );
    }

    #[test]
    fn bonuses_are_bounded_by_the_program_share_of_revenue() {
        let revenue = dec("125.00");
        let cap = bonus_cap(revenue, Decimal::ONE, usd()).expect("cap");
        assert_eq!(cap.to_string(), "125.00");
        assert_eq!(
            bonus_cap(revenue, dec("0.5"), usd())
                .expect("cap")
                .to_string(),
            "62.50"
        );
        assert_eq!(
            bonus_cap(dec("-10.00"), Decimal::ONE, usd())
                .expect("cap")
                .to_string(),
            "0.00",
            "negative revenue allows no bonus"
        );
        let amount = |b: Bonus| bonus_amount(&b, revenue, usd()).expect("amount");
        assert_eq!(amount(Bonus::Rate(dec("0.05"))).to_string(), "6.25");
        assert_eq!(amount(Bonus::None).to_string(), "0.00");
        // What the issue saw written to the ledger is far above any cap.
        for huge in [
            Decimal::from(1_000_000_000_000_000i64),
            Decimal::from(i64::MAX),
        ] {
            assert!(amount(Bonus::Amount(huge)) > cap, "{huge}");
        }
        assert!(amount(Bonus::Amount(dec("125.00"))) <= cap);
        assert!(amount(Bonus::Amount(dec("125.01"))) > cap);
        assert!(
            amount(Bonus::Rate(dec("0.8"))) > bonus_cap(revenue, dec("0.5"), usd()).expect("cap")
        );
    }

    proptest! {
        #[test]
        fn a_full_refund_reverses_exactly_everything(
            commission_minor in 0i64..100_000_000,
            amount_minor in 1i64..1_000_000_000,
            partial_minor in prop::collection::vec(0i64..1_000_000_000, 0..4),
        ) {
            let commission = Decimal::new(commission_minor, 2);
            let amount = Decimal::new(amount_minor, 2);
            // Partial refunds in sequence, then the rest: the reversals must sum to the commission.
            let mut refunded = Decimal::ZERO;
            let mut reversed = Decimal::ZERO;
            for p in partial_minor {
                let step = Decimal::new(p, 2).min(amount - refunded);
                refunded += step;
                let target = reversed_by_refund(commission, refunded, amount, usd()).expect("ok");
                prop_assert!(target >= reversed || commission.is_zero());
                reversed = target;
            }
            let target = reversed_by_refund(commission, amount, amount, usd()).expect("ok");
            reversed = target;
            prop_assert_eq!(commission - reversed, Decimal::ZERO);
        }
    }
}
