//! Decimal strings: one grammar per kind of number, enforced where a request is parsed and
//! published as the same `pattern` in the API document.
//!
//! Money, rates and FX rates travel as JSON strings of plain decimal digits: no exponent,
//! no sign (except where negative makes sense, which in requests it never does), no leading
//! `+`, no leading zeros, no bare `.5` or `10.`. The grammar is checked by hand here (a
//! few lines per kind) rather than by a regular-expression engine, and a test checks every
//! checker against its published pattern on random inputs.
//!
//! A string that is well formed but out of range gets the domain's own problem type
//! (`negative-amount`, `bad-rate`), so that clients see the same answer they always did.

use super::reject;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::str::FromStr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

/// The pattern of an amount of money in a request: up to 15 integer digits and up to 4
/// decimal places (ISO 4217's largest minor unit). Whether it fits the currency (its
/// decimals, the largest amount) is checked against the currency.
pub const AMOUNT_PATTERN: &str = r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,4})?$";
/// The pattern of a rate in 0..=1 (0.05 is 5 %), with up to 18 decimal places.
pub const RATE_PATTERN: &str = r"^(0(\.[0-9]{1,18})?|1(\.0{1,18})?)$";
/// The pattern of an FX rate: positive, up to 10 integer digits and 18 decimal places.
pub const FX_RATE_PATTERN: &str = r"^(0\.0{0,8}[1-9][0-9]{0,9}|[1-9][0-9]{0,9}(\.[0-9]{1,18})?)$";
/// The pattern of every decimal the API answers with (amounts may be negative there:
/// reversals and clawbacks).
pub const ANSWER_PATTERN: &str = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$";

/// `digits` is one or more ASCII digits with no leading zero (unless it is "0"), at most
/// `max` of them.
fn integer_part(digits: &str, max: usize) -> bool {
    !digits.is_empty()
        && digits.len() <= max
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

/// `text` is `integer[.fraction]` with the integer part as [`integer_part`] and 1 to
/// `max_fraction` fraction digits.
fn plain(text: &str, max_integer: usize, max_fraction: usize) -> bool {
    let (integer, fraction) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    integer_part(integer, max_integer)
        && fraction.is_none_or(|f| {
            !f.is_empty() && f.len() <= max_fraction && f.bytes().all(|b| b.is_ascii_digit())
        })
}

fn is_amount(text: &str) -> bool {
    plain(text, 15, 4)
}

fn is_rate(text: &str) -> bool {
    match text.split_once('.') {
        None => text == "0" || text == "1",
        Some(("0", f)) => !f.is_empty() && f.len() <= 18 && f.bytes().all(|b| b.is_ascii_digit()),
        Some(("1", f)) => !f.is_empty() && f.len() <= 18 && f.bytes().all(|b| b == b'0'),
        Some(_) => false,
    }
}

fn is_fx_rate(text: &str) -> bool {
    if let Some(fraction) = text.strip_prefix("0.") {
        // 0.<up to 8 zeros><a non-zero digit><up to 9 digits>
        let zeros = fraction.bytes().take_while(|b| *b == b'0').count();
        let rest = &fraction[zeros..];
        return zeros <= 8
            && rest.len() <= 10
            && rest
                .bytes()
                .next()
                .is_some_and(|b| (b'1'..=b'9').contains(&b))
            && rest.bytes().all(|b| b.is_ascii_digit());
    }
    plain(text, 10, 18) && !text.starts_with('0')
}

fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d)
}

fn parsed<E: serde::de::Error>(text: &str) -> Result<Decimal, E> {
    // The grammar admits nothing `Decimal` cannot hold exactly.
    Decimal::from_str(text).map_err(|e| reject("invalid-input", format!("{text:?}: {e}")))
}

/// Whether `text` is a well-formed decimal of some sign and size (used to tell "out of
/// range" from "not a number").
fn well_formed(text: &str) -> Option<Decimal> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    plain(unsigned, 28, 28)
        .then(|| Decimal::from_str(text).ok())
        .flatten()
}

/// Plain decimal digits of any length (too long for `Decimal` too).
fn well_formed_digits(text: &str) -> bool {
    plain(text, usize::MAX, usize::MAX)
}

/// An amount of money in a request (≥ 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub Decimal);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d)?;
        if is_amount(&text) {
            return parsed(&text).map(Self);
        }
        let fraction = text.split_once('.').map_or(0, |(_, f)| f.len());
        Err(match well_formed(&text) {
            Some(_) if text.starts_with('-') => {
                reject("negative-amount", format!("{text} is negative"))
            }
            Some(_) if fraction > 4 => reject(
                "too-precise",
                format!("{text} has {fraction} decimal places; no currency has more than 4"),
            ),
            Some(_) => reject(
                "amount-too-large",
                format!("{text} is larger than any amount accepted (10^15 minor units)"),
            ),
            None if well_formed_digits(&text) => reject(
                "amount-too-large",
                format!("{text} is larger than any amount accepted (10^15 minor units)"),
            ),
            _ => reject(
                "invalid-input",
                format!(
                    "{text:?} is not an amount: write plain decimal digits as a string, such \
                     as \"129.90\" (no sign, exponent or leading zeros; at most 15 integer \
                     digits and 4 decimal places)"
                ),
            ),
        })
    }
}

/// A rate in 0..=1 in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub Decimal);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d)?;
        if is_rate(&text) {
            return parsed(&text).map(Self);
        }
        Err(match well_formed(&text) {
            Some(_) => reject("bad-rate", format!("{text} is not a rate in 0..=1")),
            None => reject(
                "invalid-input",
                format!(
                    "{text:?} is not a rate: write a decimal string in 0..=1 such as \"0.05\" \
                     (at most 18 decimal places)"
                ),
            ),
        })
    }
}

// Rates are also answered where a request's shape is the answer's (fraud rules).
impl serde::Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl serde::Serialize for FxRateText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// An FX rate in a request (> 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FxRateText(pub Decimal);

impl<'de> Deserialize<'de> for FxRateText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d)?;
        if is_fx_rate(&text) {
            return parsed(&text).map(Self);
        }
        Err(reject(
            "invalid-input",
            format!(
                "{text:?} is not an FX rate: write a positive decimal string such as \
                 \"0.9214\" (at most 10 integer digits and 18 decimal places)"
            ),
        ))
    }
}

fn decimal_schema(pattern: &str, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("decimal".into())))
        .pattern(Some(pattern))
        .max_length(Some(40))
        .description(Some(description))
        .examples([example])
        .into()
}

macro_rules! decimal_schema {
    ($ty:ty, $name:literal, $pattern:expr, $description:literal, $example:literal) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                decimal_schema($pattern, $description, $example)
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

decimal_schema!(
    Amount,
    "Amount",
    AMOUNT_PATTERN,
    "An amount of money, a decimal string in major units (\"129.90\"). It may not have more \
     decimal places than its currency (USD 2, JPY 0, KWD 3) and may be at most 10^15 − 1 \
     minor units: both depend on the currency beside it, so they are checked against it \
     (422 too-precise, amount-too-large).",
    "129.90"
);
decimal_schema!(
    Rate,
    "Rate",
    RATE_PATTERN,
    "A rate in 0..=1 as a decimal string: \"0.05\" is 5 %.",
    "0.05"
);
decimal_schema!(
    FxRateText,
    "FxRate",
    FX_RATE_PATTERN,
    "Units of the quote currency per unit of the base currency, a positive decimal string.",
    "0.9214"
);

/// The schema of every decimal in an answer.
pub struct DecimalAnswer;

decimal_schema!(
    DecimalAnswer,
    "Decimal",
    ANSWER_PATTERN,
    "An exact decimal as a string (amounts carry their currency's decimal places).",
    "12.50"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(pattern).expect("pattern").is_match(text)
    }

    #[test]
    fn amounts_take_plain_decimal_strings_only() {
        for ok in ["0", "129.90", "10.500", "999999999999999.9999", "7"] {
            assert!(is_amount(ok), "{ok}");
        }
        for bad in [
            "1e3",
            "+10.00",
            ".5",
            "10.",
            "-5",
            "007",
            "01.5",
            "1.23456",
            "",
            " 1",
            "1,5",
            "1000000000000000",
            "0x10",
            "NaN",
        ] {
            assert!(!is_amount(bad), "{bad}");
        }
    }

    #[test]
    fn rates_are_between_zero_and_one() {
        for ok in ["0", "1", "0.05", "1.000", "0.333333333333333333"] {
            assert!(is_rate(ok), "{ok}");
        }
        for bad in [
            "1.5",
            "-0.1",
            "1.01",
            ".5",
            "0.",
            "2",
            "0.3333333333333333333",
        ] {
            assert!(!is_rate(bad), "{bad}");
        }
    }

    #[test]
    fn fx_rates_are_positive() {
        for ok in [
            "1",
            "0.9214",
            "0.1",
            "0.10",
            "150.25",
            "0.000000001",
            "9999999999.5",
        ] {
            assert!(is_fx_rate(ok), "{ok}");
        }
        for bad in ["0", "0.0", "0.00", "-1", "1e2", "01", ".5", "0.0000000001"] {
            assert!(!is_fx_rate(bad), "{bad}");
        }
    }

    fn decimalish() -> impl Strategy<Value = String> {
        // Mostly near-misses of the grammars: signs, dots, zeros, digits, exponents.
        prop::collection::vec(
            prop::sample::select(vec!["0", "1", "5", "9", ".", "-", "+", "e", "00", "0."]),
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn each_checker_agrees_with_its_published_pattern(text in decimalish()) {
            prop_assert_eq!(is_amount(&text), matches(AMOUNT_PATTERN, &text), "{}", text);
            prop_assert_eq!(is_rate(&text), matches(RATE_PATTERN, &text), "{}", text);
            prop_assert_eq!(is_fx_rate(&text), matches(FX_RATE_PATTERN, &text), "{}", text);
        }

        #[test]
        fn what_the_grammar_admits_parses_exactly(text in "(0|[1-9][0-9]{0,14})(\\.[0-9]{1,4})?") {
            let d = Decimal::from_str(&text).expect("parses");
            prop_assert_eq!(d.to_string(), text);
        }

        #[test]
        fn answers_match_their_pattern(mantissa in any::<i64>(), scale in 0u32..=18) {
            let d = Decimal::new(mantissa, scale);
            prop_assert!(matches(ANSWER_PATTERN, &d.to_string()), "{}", d);
        }
    }
}
