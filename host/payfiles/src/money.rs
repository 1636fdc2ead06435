//! Amounts in payout files: a currency's minor units (ISO 4217) and the one check every
//! writer makes before an amount goes into a file.
//!
//! Nothing here rounds: an amount with more decimals than its currency has is refused,
//! because the payout run rounded it once already (the rounding rule lives in the host's
//! domain) and a file writer that rounded again would pay a different sum than the ledger
//! holds.

use crate::error::WriteError;
use rust_decimal::Decimal;

/// The number of decimals of an ISO 4217 currency (EUR 2, JPY 0, KWD 3); `None` for a
/// code ISO 4217 does not list or one without minor units (XAU, XXX).
pub fn minor_units(code: &str) -> Option<u32> {
    iso_currency::Currency::from_code(code)?
        .exponent()
        .map(u32::from)
}

/// Checks an item's amount: a known currency, more than zero, no more decimals than the
/// currency has. Returns it with exactly the currency's decimals (`10` EUR → `10.00`),
/// which is how every format writes it.
pub fn exact(item: &str, amount: Decimal, currency: &str) -> Result<Decimal, WriteError> {
    let Some(minor_units) = minor_units(currency) else {
        return Err(WriteError::UnknownCurrency {
            item: item.to_owned(),
            currency: currency.to_owned(),
        });
    };
    if amount <= Decimal::ZERO {
        return Err(WriteError::AmountNotPositive {
            item: item.to_owned(),
            amount: amount.to_string(),
        });
    }
    // Trailing zeros are not precision: 10.500 EUR is 10.50 EUR.
    if amount.normalize().scale() > minor_units {
        return Err(WriteError::AmountTooPrecise {
            item: item.to_owned(),
            amount: amount.to_string(),
            currency: currency.to_owned(),
            minor_units,
        });
    }
    let mut exact = amount;
    exact.rescale(minor_units);
    Ok(exact)
}

/// An exact amount in minor units (`12.34` → `1234`); `amount` must already carry the
/// currency's decimals (see [`exact`]).
pub fn in_minor_units(amount: Decimal) -> i128 {
    amount.mantissa()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(minor_units("EUR"), Some(2));
        assert_eq!(minor_units("JPY"), Some(0));
        assert_eq!(minor_units("KWD"), Some(3));
        assert_eq!(minor_units("XAU"), None);
        assert_eq!(minor_units("ABC"), None);
    }

    #[test]
    fn exact_pads_to_the_currency_and_refuses_what_does_not_fit() {
        assert_eq!(exact("a", d("10"), "EUR").unwrap().to_string(), "10.00");
        assert_eq!(exact("a", d("10.500"), "EUR").unwrap().to_string(), "10.50");
        assert_eq!(exact("a", d("1000"), "JPY").unwrap().to_string(), "1000");
        assert_eq!(
            exact("a", d("10.001"), "EUR").unwrap_err().kind(),
            "amount-too-precise"
        );
        assert_eq!(
            exact("a", d("0"), "EUR").unwrap_err().kind(),
            "amount-not-positive"
        );
        assert_eq!(
            exact("a", d("-1"), "EUR").unwrap_err().kind(),
            "amount-not-positive"
        );
        assert_eq!(
            exact("a", d("1"), "EURO").unwrap_err().kind(),
            "currency-unknown"
        );
        assert_eq!(in_minor_units(exact("a", d("12.3"), "USD").unwrap()), 1230);
    }
}
