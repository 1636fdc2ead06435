//! Money: ISO 4217 currencies with their minor units, the one rounding rule, and splits
//! that conserve totals exactly.
//!
//! **Rounding rule.** An amount is rounded once, to its currency's minor unit, half to
//! even (banker's rounding: 0.125 USD → 0.12, 0.135 USD → 0.14), at the step that produces
//! it: an attributed share, a commission, an FX conversion. Nothing is rounded twice.

use super::error::DomainError;
use rust_decimal::{Decimal, RoundingStrategy};

/// A currency this system handles: its ISO 4217 code and minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    minor_units: u32,
}

/// ISO 4217 codes with their minor units: the most traded currencies and a few more.
const CURRENCIES: &[(&str, u32)] = &[
    ("USD", 2),
    ("EUR", 2),
    ("JPY", 0),
    ("GBP", 2),
    ("CNY", 2),
    ("AUD", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("HKD", 2),
    ("SGD", 2),
    ("SEK", 2),
    ("KRW", 0),
    ("NOK", 2),
    ("NZD", 2),
    ("INR", 2),
    ("MXN", 2),
    ("TWD", 2),
    ("ZAR", 2),
    ("BRL", 2),
    ("DKK", 2),
    ("PLN", 2),
    ("THB", 2),
    ("ILS", 2),
    ("IDR", 2),
    ("CZK", 2),
    ("AED", 2),
    ("TRY", 2),
    ("HUF", 2),
    ("CLP", 0),
    ("SAR", 2),
    ("PHP", 2),
    ("MYR", 2),
    ("COP", 2),
    ("RUB", 2),
    ("RON", 2),
    ("PEN", 2),
    ("BHD", 3),
    ("KWD", 3),
    ("OMR", 3),
    ("JOD", 3),
    ("TND", 3),
    ("ISK", 0),
    ("VND", 0),
    ("UGX", 0),
    ("EGP", 2),
    ("NGN", 2),
    ("PKR", 2),
    ("BGN", 2),
    ("ARS", 2),
];

impl Currency {
    /// Look up an ISO 4217 code (upper case, three letters).
    pub fn parse(code: &str) -> Result<Self, DomainError> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(code, minor_units)| Self {
                code,
                minor_units: *minor_units,
            })
            .ok_or_else(|| DomainError::UnknownCurrency(code.to_owned()))
    }

    /// The ISO code.
    pub fn code(self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point (JPY 0, USD 2, KWD 3).
    pub fn minor_units(self) -> u32 {
        self.minor_units
    }

    /// One minor unit (0.01 for USD).
    pub fn unit(self) -> Decimal {
        Decimal::new(1, self.minor_units)
    }

    /// Every supported currency.
    pub fn all() -> impl Iterator<Item = Self> {
        CURRENCIES.iter().map(|(code, minor_units)| Self {
            code,
            minor_units: *minor_units,
        })
    }

    /// Check that `amount` is ≥ 0 and has no more decimals than this currency.
    pub fn check_amount(self, field: &'static str, amount: Decimal) -> Result<(), DomainError> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(DomainError::NegativeAmount {
                field,
                value: amount.to_string(),
            });
        }
        if amount.normalize().scale() > self.minor_units {
            return Err(DomainError::TooPrecise {
                value: amount.to_string(),
                currency: self.code.to_owned(),
                minor_units: self.minor_units,
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code)
    }
}

/// Round to the currency's minor unit, half to even, and show exactly that many decimals.
pub fn round_minor(amount: Decimal, currency: Currency) -> Decimal {
    let mut rounded =
        amount.round_dp_with_strategy(currency.minor_units, RoundingStrategy::MidpointNearestEven);
    rounded.rescale(currency.minor_units);
    rounded
}

/// Split `total` (already in minor units of `currency`) by `weights`, conserving it exactly.
///
/// Each part is `total × weight / Σweights` cut down to the minor unit; the minor units
/// left over go one each to the parts with the largest remainders (the earlier part first
/// on a tie). With no weights or all-zero weights the result is all zeros.
pub fn split_largest_remainder(
    total: Decimal,
    weights: &[Decimal],
    currency: Currency,
) -> Result<Vec<Decimal>, DomainError> {
    let sum: Decimal = weights.iter().copied().sum();
    let unit = currency.unit();
    if sum.is_zero() || weights.is_empty() {
        return Ok(vec![round_minor(Decimal::ZERO, currency); weights.len()]);
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut assigned = Decimal::ZERO;
    for w in weights {
        let exact = total
            .checked_mul(*w)
            .and_then(|x| x.checked_div(sum))
            .ok_or(DomainError::Overflow("split"))?;
        let floor = exact.round_dp_with_strategy(currency.minor_units, RoundingStrategy::ToZero);
        assigned += floor;
        parts.push((floor, exact - floor));
    }
    let mut left = ((total - assigned) / unit).round();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| parts[*b].1.cmp(&parts[*a].1));
    let step = if left.is_sign_negative() { -unit } else { unit };
    for i in order.iter().cycle().take(order.len() * 2) {
        if left.is_zero() {
            break;
        }
        parts[*i].0 += step;
        left -= step / unit;
    }
    Ok(parts
        .into_iter()
        .map(|(mut p, _)| {
            p.rescale(currency.minor_units);
            p
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_plugin_sdk::decimal::dec;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("usd")
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(Currency::parse("JPY").expect("jpy").minor_units(), 0);
        assert_eq!(Currency::parse("KWD").expect("kwd").minor_units(), 3);
        assert_eq!(Currency::parse("BHD").expect("bhd").minor_units(), 3);
        assert!(Currency::all().count() >= 30);
        assert_eq!(
            Currency::parse("XXX").unwrap_err().kind(),
            "unknown-currency"
        );
        assert!(Currency::parse("usd").is_err(), "codes are upper case");
    }

    #[test]
    fn rounds_half_to_even_at_the_minor_unit() {
        assert_eq!(round_minor(dec("0.125"), usd()).to_string(), "0.12");
        assert_eq!(round_minor(dec("0.135"), usd()).to_string(), "0.14");
        assert_eq!(
            round_minor(dec("2.5"), Currency::parse("JPY").expect("jpy")).to_string(),
            "2"
        );
        assert_eq!(
            round_minor(dec("1.0005"), Currency::parse("KWD").expect("kwd")).to_string(),
            "1.000"
        );
        assert_eq!(round_minor(dec("7"), usd()).to_string(), "7.00");
    }

    #[test]
    fn checks_sign_and_precision() {
        assert!(usd().check_amount("amount", dec("10.50")).is_ok());
        assert!(
            usd().check_amount("amount", dec("10.500")).is_ok(),
            "trailing zeros are fine"
        );
        assert_eq!(
            usd().check_amount("amount", dec("-1")).unwrap_err().kind(),
            "negative-amount"
        );
        assert_eq!(
            usd()
                .check_amount("amount", dec("1.001"))
                .unwrap_err()
                .kind(),
            "too-precise"
        );
    }

    #[test]
    fn splits_a_cent_three_ways() {
        let parts = split_largest_remainder(dec("0.01"), &[Decimal::ONE; 3], usd()).expect("ok");
        assert_eq!(parts, vec![dec("0.01"), dec("0.00"), dec("0.00")]);
        let parts = split_largest_remainder(dec("100.00"), &[Decimal::ONE; 3], usd()).expect("ok");
        assert_eq!(parts, vec![dec("33.34"), dec("33.33"), dec("33.33")]);
    }

    fn currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(Currency::all().collect::<Vec<_>>())
    }

    proptest! {
        #[test]
        fn splits_conserve_totals_to_the_minor_unit(
            minor in 0i64..10_000_000_000,
            weights in prop::collection::vec(0u32..1_000_000, 1..12),
            currency in currency(),
        ) {
            let total = Decimal::new(minor, currency.minor_units());
            let weights: Vec<Decimal> = weights.into_iter().map(Decimal::from).collect();
            let parts = split_largest_remainder(total, &weights, currency).expect("ok");
            let sum: Decimal = parts.iter().copied().sum();
            if weights.iter().all(|w| w.is_zero()) {
                prop_assert!(sum.is_zero());
            } else {
                prop_assert_eq!(sum, total);
            }
            for p in &parts {
                prop_assert!(*p >= Decimal::ZERO);
                prop_assert!(p.scale() == currency.minor_units());
            }
        }
    }
}
