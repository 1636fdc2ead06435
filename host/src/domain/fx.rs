//! Foreign exchange: effective-dated rates and conversion.
//!
//! **FX rounding.** A converted amount is cut toward zero at the target currency's minor
//! unit, and an inverse rate (used when only the opposite direction is recorded) is cut
//! toward zero at 12 places. So a round trip through a rate and its inverse never yields
//! more than it started with: FX never creates money.

use super::error::DomainError;
use super::money::Currency;
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places kept on an inverse rate.
pub const INVERSE_RATE_SCALE: u32 = 12;

/// A rate: one unit of `base` is worth `rate` units of `quote`, from `effective_from_ms` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxRate {
    /// From.
    pub base: Currency,
    /// To.
    pub quote: Currency,
    /// Units of `quote` per unit of `base`; > 0.
    pub rate: Decimal,
    /// In force from this instant (ms since the epoch), until a later one replaces it.
    pub effective_from_ms: i64,
}

impl FxRate {
    /// Check the rate is positive and the currencies differ.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.rate <= Decimal::ZERO {
            return Err(DomainError::invalid(
                "rate",
                format!("must be positive, got {}", self.rate),
            ));
        }
        if self.base == self.quote {
            return Err(DomainError::invalid("quote", "must differ from base"));
        }
        Ok(())
    }
}

/// The inverse of a rate, cut toward zero (never more than the true inverse).
pub fn inverse(rate: Decimal) -> Result<Decimal, DomainError> {
    Decimal::ONE
        .checked_div(rate)
        .map(|r| r.round_dp_with_strategy(INVERSE_RATE_SCALE, RoundingStrategy::ToZero))
        .ok_or(DomainError::Overflow("fx inverse"))
}

/// Convert `amount` into `to` at `rate`, cut toward zero at `to`'s minor unit.
pub fn convert(amount: Decimal, rate: Decimal, to: Currency) -> Result<Decimal, DomainError> {
    let mut out = amount
        .checked_mul(rate)
        .ok_or(DomainError::Overflow("fx conversion"))?
        .round_dp_with_strategy(to.minor_units(), RoundingStrategy::ToZero);
    out.rescale(to.minor_units());
    Ok(out)
}

/// Recorded rates of some currency pairs, for converting many facts at their instants
/// without a look-up each (the analytics job converts a batch to program currencies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FxHistory {
    /// `(base, quote)` to its rates by effective instant.
    rates: std::collections::BTreeMap<(String, String), std::collections::BTreeMap<i64, Decimal>>,
}

impl FxHistory {
    /// Record a rate.
    pub fn insert(&mut self, base: &str, quote: &str, effective_from_ms: i64, rate: Decimal) {
        self.rates
            .entry((base.to_owned(), quote.to_owned()))
            .or_default()
            .insert(effective_from_ms, rate);
    }

    /// The rate from `from` to `to` in force at `at_ms`, as pricing finds it: the pair's
    /// own rate, else the inverse of the opposite pair's; 1 for a currency to itself.
    pub fn rate_at(&self, from: &str, to: &str, at_ms: i64) -> Option<Decimal> {
        if from == to {
            return Some(Decimal::ONE);
        }
        let at = |base: &str, quote: &str| {
            self.rates
                .get(&(base.to_owned(), quote.to_owned()))
                .and_then(|r| r.range(..=at_ms).next_back().map(|(_, v)| *v))
        };
        at(from, to).or_else(|| at(to, from).and_then(|r| inverse(r).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_plugin_sdk::decimal::dec;
    use proptest::prelude::*;

    #[test]
    fn converts_and_cuts_toward_zero() {
        let jpy = Currency::parse("JPY").expect("jpy");
        let usd = Currency::parse("USD").expect("usd");
        assert_eq!(
            convert(dec("10.00"), dec("151.37"), jpy)
                .expect("ok")
                .to_string(),
            "1513"
        );
        assert_eq!(
            convert(dec("1513"), inverse(dec("151.37")).expect("ok"), usd)
                .expect("ok")
                .to_string(),
            "9.99"
        );
        assert!(
            FxRate {
                base: usd,
                quote: jpy,
                rate: dec("0"),
                effective_from_ms: 0
            }
            .validate()
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn round_trips_never_create_money(
            minor in 0i64..1_000_000_000_000,
            rate_mantissa in 1i64..10_000_000_000,
            rate_scale in 0u32..10,
            a in 0usize..200,
            b in 0usize..200,
        ) {
            let all: Vec<Currency> = Currency::all().collect();
            let (from, to) = (all[a % all.len()], all[b % all.len()]);
            let amount = Decimal::new(minor, from.minor_units());
            let rate = Decimal::new(rate_mantissa, rate_scale);
            let there = convert(amount, rate, to).expect("ok");
            let back = convert(there, inverse(rate).expect("ok"), from).expect("ok");
            prop_assert!(back <= amount, "{amount} {from} → {there} {to} → {back} {from}");
            prop_assert!(there >= Decimal::ZERO);
        }
    }
}
