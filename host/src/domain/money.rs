//! Money: ISO 4217 currencies with their minor units, the one rounding rule, the largest
//! amount accepted, and splits that conserve totals exactly.
//!
//! **Currencies.** The table is the `iso_currency` crate's (ISO 4217, maintained upstream),
//! not a hand-written list. Every current code is accepted (178 of them). Codes whose
//! minor unit ISO gives as "N.A." (gold XAU, silver XAG, the SDR XDR, the test code XTS,
//! "no currency" XXX, ...) are treated as having 0 decimal places, as Joda-Money does.
//! Withdrawn codes (BGN, CUC, HRK, SLL, ZWL) are still known, so stored conversions and
//! entries in them keep reading, refunding and replaying ([`Currency::parse`]), but
//! anything new in them is refused ([`Currency::parse_current`], `withdrawn-currency`).
//!
//! **Rounding rule.** An amount is rounded once, to its currency's minor unit, half to
//! even (banker's rounding: 0.125 USD → 0.12, 0.135 USD → 0.14), at the step that produces
//! it: an attributed share, a commission, an FX conversion. Nothing is rounded twice.
//!
//! **Largest amount.** An amount is at most [`MAX_AMOUNT_MINOR`] = 10^15 − 1 minor units of
//! its currency (9,999,999,999,999.99 USD, 999,999,999,999,999 JPY,
//! 999,999,999,999.999 KWD). Larger amounts are refused with `amount-too-large` before
//! anything is priced or sent to a plug-in. The bound keeps every product the split forms
//! within 128-bit integers, and every amount within the 18 significant digits a WIT
//! decimal carries.
//!
//! **Splits.** A total is split in exact proportion to the weights: part *i* is
//! `total_minor × wᵢ / Σw`, computed in integers (no decimal is rounded before the split),
//! cut down to the minor unit; the minor units left over go one each to the parts with the
//! largest exact remainders. **Exact ties** (equal remainders) are broken by ranking the
//! tied partners by `sha256(conversion id ‖ 0x00 ‖ partner id)`, smallest first
//! ([`tie_key`]). The rule is symmetric: the order of the touchpoints or of the weights
//! changes nothing, and no partner id is favoured across conversions (each conversion
//! ranks its partners afresh). Two partners with equal weights therefore get amounts at
//! most one minor unit apart, and which of them gets the extra unit is a fact of the
//! conversion, reproducible by anyone with its id.

use super::error::DomainError;
use iso_currency::IntoEnumIterator;
use rust_decimal::{Decimal, RoundingStrategy};
use sha2::{Digest, Sha256};

/// The largest amount accepted, in minor units of its currency: 10^15 − 1
/// (9,999,999,999,999.99 USD). See the module documentation for why.
pub const MAX_AMOUNT_MINOR: i64 = 999_999_999_999_999;

/// A currency this system knows: an ISO 4217 code with its minor units. Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Look up any known ISO 4217 code (upper case, three letters), withdrawn ones
    /// included: for data stored earlier. New input goes through
    /// [`Currency::parse_current`].
    pub fn parse(code: &str) -> Result<Self, DomainError> {
        iso_currency::Currency::from_code(code)
            .map(Self)
            .ok_or_else(|| DomainError::UnknownCurrency(code.to_owned()))
    }

    /// Look up a code for something new (a conversion, a quote, a program, a payout
    /// currency): like [`Currency::parse`], but a withdrawn code is refused with
    /// `withdrawn-currency` (blamed on `currency`; see [`DomainError::for_field`]).
    pub fn parse_current(code: &str) -> Result<Self, DomainError> {
        let currency = Self::parse(code)?;
        if currency.is_withdrawn() {
            let successor = currency.0.latest();
            return Err(DomainError::WithdrawnCurrency {
                field: "currency".into(),
                code: code.to_owned(),
                replacement: if successor == currency.0 {
                    String::new()
                } else {
                    format!(" (replaced by {})", successor.code())
                },
            });
        }
        Ok(currency)
    }

    /// Whether ISO 4217 has withdrawn this code (BGN since 2026-01-01, HRK, CUC, SLL, ZWL).
    pub fn is_withdrawn(self) -> bool {
        // The crate flags VES as superseded by VED, but ISO 4217 lists both as current
        // (VED is a second Venezuelan code, introduced in 2021, not VES's successor).
        self.0.is_superseded().is_some() && self.0 != iso_currency::Currency::VES
    }

    /// The ISO code.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point (JPY 0, USD 2, KWD 3, CLF 4). ISO gives no minor
    /// unit for XAU, XDR, XXX and the like; they have 0 here.
    pub fn minor_units(self) -> u32 {
        self.0.exponent().map_or(0, u32::from)
    }

    /// One minor unit (0.01 for USD).
    pub fn unit(self) -> Decimal {
        Decimal::new(1, self.minor_units())
    }

    /// The largest amount accepted in this currency ([`MAX_AMOUNT_MINOR`] minor units).
    pub fn max_amount(self) -> Decimal {
        Decimal::new(MAX_AMOUNT_MINOR, self.minor_units())
    }

    /// Every supported currency: the current codes, what new conversions, programs and
    /// payouts may use (178).
    pub fn all() -> impl Iterator<Item = Self> {
        Self::known().filter(|c| !c.is_withdrawn())
    }

    /// Every code this system knows, withdrawn ones included (what stored data may hold).
    pub fn known() -> impl Iterator<Item = Self> {
        iso_currency::Currency::iter().map(Self)
    }

    /// Check that `amount` is ≥ 0, has no more decimals than this currency, and is at most
    /// [`Currency::max_amount`].
    pub fn check_amount(self, field: &'static str, amount: Decimal) -> Result<(), DomainError> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(DomainError::NegativeAmount {
                field,
                value: amount.to_string(),
            });
        }
        if amount > self.max_amount() {
            return Err(DomainError::AmountTooLarge {
                field,
                value: amount.to_string(),
                currency: self.code().to_owned(),
                max: self.max_amount().to_string(),
            });
        }
        if amount.normalize().scale() > self.minor_units() {
            return Err(DomainError::TooPrecise {
                value: amount.to_string(),
                currency: self.code().to_owned(),
                minor_units: self.minor_units(),
            });
        }
        Ok(())
    }

    /// `amount` shown with exactly this currency's decimals (`0` USD → `0.00`, `5.5` KWD →
    /// `5.500`). For amounts already at the minor unit, as every stored amount is; one
    /// with more decimals is rounded half to even, as [`round_minor`] does.
    pub fn scaled(self, amount: Decimal) -> Decimal {
        round_minor(amount, self)
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Round to the currency's minor unit, half to even, and show exactly that many decimals.
pub fn round_minor(amount: Decimal, currency: Currency) -> Decimal {
    let mut rounded = amount.round_dp_with_strategy(
        currency.minor_units(),
        RoundingStrategy::MidpointNearestEven,
    );
    rounded.rescale(currency.minor_units());
    rounded
}

/// `amount` shown with the decimals of the currency `code`; unchanged when the code is not
/// one this system knows (a read must not fail on it: the value is still exact).
pub fn scaled_to(amount: Decimal, code: &str) -> Decimal {
    Currency::parse(code).map_or(amount, |c| c.scaled(amount))
}

/// A partner's rank among exact ties on one conversion: `sha256(conversion id ‖ 0x00 ‖
/// partner id)`; the smaller key gets the leftover minor unit first. The 0x00 separator
/// keeps ("ab", "c") and ("a", "bc") apart.
pub fn tie_key(conversion_id: &str, partner_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(conversion_id.as_bytes());
    h.update([0u8]);
    h.update(partner_id.as_bytes());
    h.finalize().into()
}

/// Weights as integers over one common scale: `(numerators, Σ numerators)`. Trailing zeros
/// are dropped first, so a weight of at most 18 decimal places (what the WIT boundary
/// carries) has a numerator of at most 10^18 when it is at most 1.
fn integer_weights(weights: &[Decimal]) -> Result<(Vec<i128>, i128), DomainError> {
    let overflow = || DomainError::Overflow("split");
    let normalized: Vec<Decimal> = weights.iter().map(|w| w.normalize()).collect();
    if let Some(w) = normalized
        .iter()
        .find(|w| w.is_sign_negative() && !w.is_zero())
    {
        return Err(DomainError::invalid(
            "weight",
            format!("must not be negative, got {w}"),
        ));
    }
    let scale = normalized.iter().map(|w| w.scale()).max().unwrap_or(0);
    let mut numerators = Vec::with_capacity(weights.len());
    let mut sum: i128 = 0;
    for w in &normalized {
        let factor = 10i128.checked_pow(scale - w.scale()).ok_or_else(overflow)?;
        let n = w.mantissa().checked_mul(factor).ok_or_else(overflow)?;
        sum = sum.checked_add(n).ok_or_else(overflow)?;
        numerators.push(n);
    }
    Ok((numerators, sum))
}

/// Split `total` (an amount of `currency`, at its minor unit, at most
/// [`Currency::max_amount`] in size) by `weights`, conserving it exactly.
///
/// Each part is `total × wᵢ / Σw` computed exactly in integers and cut down to the minor
/// unit; the minor units left over go one each to the largest exact remainders, exact
/// ties ranked by `tie_keys` (one per weight, see [`tie_key`]; smaller first). With no
/// weights or all-zero weights every part is zero. A negative total is split as its
/// opposite, negated. Products are checked: an overflow is
/// [`DomainError::Overflow`], never a panic.
pub fn split_largest_remainder(
    total: Decimal,
    weights: &[Decimal],
    tie_keys: &[[u8; 32]],
    currency: Currency,
) -> Result<Vec<Decimal>, DomainError> {
    if tie_keys.len() != weights.len() {
        return Err(DomainError::invalid(
            "weights",
            format!("{} weights but {} tie keys", weights.len(), tie_keys.len()),
        ));
    }
    let units = currency.minor_units();
    let magnitude = total.abs();
    if magnitude > currency.max_amount() {
        return Err(DomainError::AmountTooLarge {
            field: "amount",
            value: total.to_string(),
            currency: currency.code().to_owned(),
            max: currency.max_amount().to_string(),
        });
    }
    if magnitude.normalize().scale() > units {
        return Err(DomainError::TooPrecise {
            value: total.to_string(),
            currency: currency.code().to_owned(),
            minor_units: units,
        });
    }
    let (numerators, sum) = integer_weights(weights)?;
    if sum == 0 {
        return Ok(vec![round_minor(Decimal::ZERO, currency); weights.len()]);
    }
    let mut scaled = magnitude;
    scaled.rescale(units);
    let total_minor: i128 = scaled.mantissa();
    let overflow = || DomainError::Overflow("split");
    let mut parts: Vec<i128> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<i128> = Vec::with_capacity(weights.len());
    for n in &numerators {
        let product = total_minor.checked_mul(*n).ok_or_else(overflow)?;
        parts.push(product / sum);
        remainders.push(product % sum);
    }
    // Every remainder is below Σw, so fewer minor units are left than there are parts.
    let left = total_minor - parts.iter().sum::<i128>();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| {
        remainders[*b]
            .cmp(&remainders[*a])
            .then_with(|| tie_keys[*a].cmp(&tie_keys[*b]))
    });
    for i in order
        .into_iter()
        .take(usize::try_from(left).map_err(|_| overflow())?)
    {
        parts[i] += 1;
    }
    let negative = total.is_sign_negative() && !total.is_zero();
    parts
        .into_iter()
        .map(|p| {
            let minor = i64::try_from(p).map_err(|_| overflow())?;
            let part = Decimal::new(minor, units);
            // No "-0.00": a zero part of a negative total is plain zero.
            Ok(if negative && minor != 0 { -part } else { part })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_plugin_sdk::decimal::dec;
    use num_bigint::BigInt;
    use num_rational::BigRational;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("usd")
    }

    fn keys(conversion: &str, partners: &[&str]) -> Vec<[u8; 32]> {
        partners.iter().map(|p| tie_key(conversion, p)).collect()
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        let units = |code: &str| Currency::parse(code).expect(code).minor_units();
        assert_eq!(units("USD"), 2);
        assert_eq!(units("JPY"), 0);
        assert_eq!(units("KWD"), 3);
        assert_eq!(units("BHD"), 3);
        assert_eq!(units("CLF"), 4);
        assert_eq!(units("XAU"), 0, "ISO's N.A. counts as 0 decimals");
        assert_eq!(units("XXX"), 0);
        assert_eq!(
            Currency::parse("XYZ").unwrap_err().kind(),
            "unknown-currency"
        );
        assert!(Currency::parse("usd").is_err(), "codes are upper case");
    }

    #[test]
    fn every_current_code_is_accepted_for_new_input() {
        let current: Vec<Currency> = Currency::all().collect();
        assert_eq!(current.len(), 178, "ISO 4217 lists 178 current codes");
        for c in &current {
            assert_eq!(Currency::parse_current(c.code()), Ok(*c), "{c}");
            assert!(c.check_amount("amount", c.unit()).is_ok(), "{c}");
        }
        for code in [
            "QAR", "KZT", "UAH", "MAD", "KES", "BDT", "LKR", "XOF", "XAF", "UYU", "IQD", "VES",
            "VED", "SLE", "ZWG", "EUR",
        ] {
            assert!(Currency::parse_current(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn withdrawn_codes_are_read_but_refused_for_new_input() {
        let withdrawn: Vec<&str> = Currency::known()
            .filter(|c| c.is_withdrawn())
            .map(Currency::code)
            .collect();
        assert_eq!(withdrawn, vec!["BGN", "CUC", "HRK", "SLL", "ZWL"]);
        for code in withdrawn {
            assert!(Currency::parse(code).is_ok(), "{code} still reads");
            let e = Currency::parse_current(code).unwrap_err();
            assert_eq!(e.kind(), "withdrawn-currency", "{code}");
        }
        let e = Currency::parse_current("BGN").unwrap_err();
        assert!(e.to_string().contains("replaced by EUR"), "{e}");
        assert_eq!(
            e.for_field("payout_currency"),
            DomainError::WithdrawnCurrency {
                field: "payout_currency".into(),
                code: "BGN".into(),
                replacement: " (replaced by EUR)".into(),
            }
        );
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
    fn amounts_show_their_currency_scale() {
        assert_eq!(scaled_to(Decimal::ZERO, "USD").to_string(), "0.00");
        assert_eq!(scaled_to(Decimal::ZERO, "JPY").to_string(), "0");
        assert_eq!(scaled_to(Decimal::ZERO, "KWD").to_string(), "0.000");
        assert_eq!(scaled_to(dec("-1.5"), "CLF").to_string(), "-1.5000");
        assert_eq!(scaled_to(dec("1.5"), "???").to_string(), "1.5");
    }

    #[test]
    fn checks_sign_precision_and_size() {
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
        assert!(
            usd()
                .check_amount("amount", dec("9999999999999.99"))
                .is_ok()
        );
        for too_large in ["10000000000000.00", "12345678901234567890.00"] {
            assert_eq!(
                usd()
                    .check_amount("amount", dec(too_large))
                    .unwrap_err()
                    .kind(),
                "amount-too-large",
                "{too_large}"
            );
        }
        let jpy = Currency::parse("JPY").expect("jpy");
        assert!(jpy.check_amount("amount", dec("999999999999999")).is_ok());
        assert!(jpy.check_amount("amount", dec("1000000000000000")).is_err());
    }

    #[test]
    fn splits_a_cent_three_ways_by_the_tie_rule() {
        let partners = ["a", "b", "c"];
        let k = keys("order-1", &partners);
        let parts =
            split_largest_remainder(dec("0.01"), &[Decimal::ONE; 3], &k, usd()).expect("ok");
        let winner = (0..3).min_by_key(|i| k[*i]).expect("three");
        for (i, p) in parts.iter().enumerate() {
            let expected = if i == winner { "0.01" } else { "0.00" };
            assert_eq!(p.to_string(), expected, "{}", partners[i]);
        }
        let parts =
            split_largest_remainder(dec("100.00"), &[Decimal::ONE; 3], &k, usd()).expect("ok");
        assert_eq!(parts.iter().copied().sum::<Decimal>(), dec("100.00"));
        assert_eq!(parts[winner], dec("33.34"));
    }

    #[test]
    fn the_largest_amount_splits_three_ways_equally() {
        let third = dec("0.333333333333333333");
        let k = keys("big", &["a", "b", "c"]);
        let parts =
            split_largest_remainder(dec("999999999999.99"), &[third; 3], &k, usd()).expect("ok");
        assert_eq!(parts, vec![dec("333333333333.33"); 3]);
        // The SDK's rounded thirds, and the old 12-place ones, split exactly too.
        let old = [
            dec("0.333333333334"),
            dec("0.333333333333"),
            dec("0.333333333333"),
        ];
        let parts = split_largest_remainder(dec("999999999999.99"), &old, &k, usd()).expect("ok");
        assert_eq!(
            parts.iter().copied().sum::<Decimal>(),
            dec("999999999999.99")
        );
        // And the largest amount accepted, 10^15 − 1 cents, into parts a cent apart.
        let parts =
            split_largest_remainder(dec("9999999999999.99"), &[third; 3], &k, usd()).expect("ok");
        assert_eq!(
            parts.iter().copied().sum::<Decimal>(),
            dec("9999999999999.99")
        );
        assert!(
            parts
                .iter()
                .all(|p| *p == dec("3333333333333.33") || *p == dec("3333333333333.34"))
        );
        assert_eq!(
            split_largest_remainder(dec("10000000000000.00"), &[third; 3], &k, usd())
                .unwrap_err()
                .kind(),
            "amount-too-large"
        );
    }

    #[test]
    fn the_leftover_goes_by_the_hash_of_conversion_and_partner() {
        // Two partners with equal weights on an odd total: the extra cent goes to the
        // smaller sha256(conversion ‖ 0 ‖ partner), whatever their order.
        let total = dec("0.03");
        let w = [dec("0.5"), dec("0.5")];
        let mut favoured = std::collections::BTreeSet::new();
        for conversion in ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"] {
            let ab = split_largest_remainder(total, &w, &keys(conversion, &["a", "b"]), usd())
                .expect("ok");
            let ba = split_largest_remainder(total, &w, &keys(conversion, &["b", "a"]), usd())
                .expect("ok");
            assert_eq!((ab[0], ab[1]), (ba[1], ba[0]), "order does not matter");
            let a_first = tie_key(conversion, "a") < tie_key(conversion, "b");
            assert_eq!(ab[0] == dec("0.02"), a_first, "{conversion}");
            favoured.insert(a_first);
        }
        assert_eq!(favoured.len(), 2, "neither partner id is always favoured");
    }

    #[test]
    fn a_negative_total_splits_as_its_opposite() {
        let k = keys("neg", &["a", "b", "c"]);
        let w = [Decimal::ONE, Decimal::ONE, Decimal::ZERO];
        let parts = split_largest_remainder(dec("-0.03"), &w, &k, usd()).expect("ok");
        let positive = split_largest_remainder(dec("0.03"), &w, &k, usd()).expect("ok");
        assert_eq!(parts, positive.iter().map(|p| -*p).collect::<Vec<_>>());
        assert_eq!(parts[2].to_string(), "0.00");
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let huge = Decimal::from_i128_with_scale(10i128.pow(27), 0);
        let e = split_largest_remainder(
            dec("999999999999.99"),
            &[huge, Decimal::new(1, 28)],
            &keys("x", &["a", "b"]),
            usd(),
        )
        .unwrap_err();
        assert_eq!(e.kind(), "amount-out-of-range");
    }

    fn currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(Currency::all().collect::<Vec<_>>())
    }

    /// The split recomputed with big rationals, independently of the integer code.
    fn reference_split(
        total: Decimal,
        weights: &[Decimal],
        keys: &[[u8; 32]],
        currency: Currency,
    ) -> Vec<Decimal> {
        let rational = |d: Decimal| {
            BigRational::new(BigInt::from(d.mantissa()), BigInt::from(10).pow(d.scale()))
        };
        let unit = BigInt::from(10).pow(currency.minor_units());
        let total_minor = rational(total) * BigRational::from_integer(unit);
        let sum: BigRational = weights.iter().map(|w| rational(*w)).sum();
        if sum == BigRational::from_integer(BigInt::from(0)) {
            return vec![round_minor(Decimal::ZERO, currency); weights.len()];
        }
        let exact: Vec<BigRational> = weights
            .iter()
            .map(|w| total_minor.clone() * rational(*w) / sum.clone())
            .collect();
        let mut floors: Vec<BigInt> = exact.iter().map(|q| q.floor().to_integer()).collect();
        let fractions: Vec<BigRational> = exact.iter().map(|q| q - q.floor()).collect();
        let assigned: BigInt = floors.iter().sum();
        let mut left = (total_minor.to_integer() - assigned)
            .to_string()
            .parse::<usize>()
            .expect("small");
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by(|a, b| {
            fractions[*b]
                .cmp(&fractions[*a])
                .then(keys[*a].cmp(&keys[*b]))
        });
        for i in order {
            if left == 0 {
                break;
            }
            floors[i] += 1;
            left -= 1;
        }
        floors
            .into_iter()
            .map(|f| Decimal::new(f.to_string().parse().expect("fits"), currency.minor_units()))
            .collect()
    }

    proptest! {
        #[test]
        fn splits_conserve_totals_to_the_minor_unit(
            minor in 0i64..=MAX_AMOUNT_MINOR,
            weights in prop::collection::vec(0u64..=1_000_000_000_000_000_000, 1..12),
            currency in currency(),
        ) {
            let total = Decimal::new(minor, currency.minor_units());
            let weights: Vec<Decimal> = weights.into_iter().map(|w| Decimal::new(w as i64, 18)).collect();
            let k: Vec<[u8; 32]> = (0..weights.len()).map(|i| tie_key("c", &i.to_string())).collect();
            let parts = split_largest_remainder(total, &weights, &k, currency).expect("ok");
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

        #[test]
        fn splits_match_an_exact_rational_reference(
            minor in prop_oneof![0i64..1_000_000, 0i64..=MAX_AMOUNT_MINOR],
            // Weights as the contract allows them: in 0..=1, 0 to 18 decimal places.
            weights in prop::collection::vec(
                (0u32..=18).prop_flat_map(|s| (0i64..=10i64.pow(s), Just(s))),
                1..9,
            ),
            // Some exact ties: the same weight several times.
            repeat in 1usize..4,
            currency in currency(),
        ) {
            let total = Decimal::new(minor, currency.minor_units());
            let weights: Vec<Decimal> = weights
                .into_iter()
                .flat_map(|(m, s)| std::iter::repeat_n(Decimal::new(m, s), repeat))
                .collect();
            let k: Vec<[u8; 32]> = (0..weights.len()).map(|i| tie_key("ref", &format!("p{i}"))).collect();
            let parts = split_largest_remainder(total, &weights, &k, currency).expect("within 128 bits");
            prop_assert_eq!(parts, reference_split(total, &weights, &k, currency));
        }

        #[test]
        fn identical_partners_differ_by_at_most_one_minor_unit(
            minor in 0i64..=MAX_AMOUNT_MINOR,
            n in 2usize..8,
            conversion in "[a-z0-9]{1,12}",
        ) {
            let total = Decimal::new(minor, 2);
            let partners: Vec<String> = (0..n).map(|i| format!("partner-{i}")).collect();
            let names: Vec<&str> = partners.iter().map(String::as_str).collect();
            let k = keys(&conversion, &names);
            let weight = (Decimal::ONE / Decimal::from(n as u64)).round_dp(18);
            let parts = split_largest_remainder(total, &vec![weight; n], &k, usd()).expect("ok");
            let low = parts.iter().min().copied().expect("parts");
            let high = parts.iter().max().copied().expect("parts");
            prop_assert!(high - low <= usd().unit());
            // Those with the extra unit are exactly the smallest keys.
            let mut by_key: Vec<usize> = (0..n).collect();
            by_key.sort_by_key(|i| k[*i]);
            let extra = parts.iter().filter(|p| **p == high).count();
            if high != low {
                for (rank, i) in by_key.iter().enumerate() {
                    prop_assert_eq!(parts[*i] == high, rank < extra);
                }
            }
        }

        #[test]
        fn reordering_the_inputs_changes_nobody_s_part(
            minor in 0i64..=MAX_AMOUNT_MINOR,
            weights in prop::collection::vec(0i64..1_000_000, 1..8),
            rotate in 0usize..8,
        ) {
            let total = Decimal::new(minor, 2);
            let n = weights.len();
            let partners: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
            let weights: Vec<Decimal> = weights.into_iter().map(Decimal::from).collect();
            let k: Vec<[u8; 32]> = partners.iter().map(|p| tie_key("perm", p)).collect();
            let parts = split_largest_remainder(total, &weights, &k, usd()).expect("ok");
            let order: Vec<usize> = (0..n).map(|i| (i + rotate) % n).rev().collect();
            let w2: Vec<Decimal> = order.iter().map(|i| weights[*i]).collect();
            let k2: Vec<[u8; 32]> = order.iter().map(|i| k[*i]).collect();
            let parts2 = split_largest_remainder(total, &w2, &k2, usd()).expect("ok");
            for (j, i) in order.iter().enumerate() {
                prop_assert_eq!(parts2[j], parts[*i]);
            }
        }
    }
}
