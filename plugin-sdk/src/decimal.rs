//! Exact decimals and their WIT form (`mantissa × 10^(−scale)`, `scale` ≤ 28).

use crate::types::RuleError;
use rust_decimal::Decimal;
use std::str::FromStr;

/// The largest scale the WIT decimal allows (rust_decimal's own limit).
pub const MAX_SCALE: u8 = 28;

/// Parse a decimal written in plain notation ("129.90", "-0.5"). Exponents are refused so
/// that a value is always read exactly as written.
pub fn parse_decimal(text: &str) -> Result<Decimal, RuleError> {
    Decimal::from_str_exact(text.trim())
        .map_err(|e| RuleError::InvalidInput(format!("not a decimal: {text:?} ({e})")))
}

/// A decimal constant for code and tests; panics on a malformed literal.
pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("a valid decimal literal")
}

/// Build a [`Decimal`] from its WIT parts, refusing a scale above [`MAX_SCALE`].
pub fn from_parts(mantissa: i64, scale: u8) -> Result<Decimal, RuleError> {
    if scale > MAX_SCALE {
        return Err(RuleError::InvalidInput(format!(
            "decimal scale {scale} is above {MAX_SCALE}"
        )));
    }
    Ok(Decimal::new(mantissa, u32::from(scale)))
}

/// Split a [`Decimal`] into its WIT parts. Trailing zeros are dropped when the mantissa
/// would not fit 64 bits; a value that still does not fit is an error, never rounded.
pub fn to_parts(value: Decimal) -> Result<(i64, u8), RuleError> {
    let fit = |d: Decimal| -> Option<(i64, u8)> {
        let mantissa = i64::try_from(d.mantissa()).ok()?;
        let scale = u8::try_from(d.scale()).ok()?;
        Some((mantissa, scale))
    };
    fit(value)
        .or_else(|| fit(value.normalize()))
        .ok_or_else(|| {
            RuleError::Internal(format!(
                "decimal {value} has more than 18 significant digits"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_exactly() {
        for text in [
            "0",
            "129.90",
            "-0.5",
            "0.000000000001",
            "9223372036854775807",
        ] {
            let d = dec(text);
            let (m, s) = to_parts(d).expect("fits");
            assert_eq!(from_parts(m, s).expect("valid"), d);
            assert_eq!(from_parts(m, s).expect("valid").to_string(), text);
        }
    }

    #[test]
    fn too_large_scale_is_refused() {
        assert!(matches!(from_parts(1, 29), Err(RuleError::InvalidInput(_))));
    }

    #[test]
    fn trailing_zeros_are_dropped_only_when_needed() {
        let big = dec("1.0000000000000000000000000");
        assert_eq!(to_parts(big).expect("fits after normalising"), (1, 0));
        let too_many = dec("1.000000000000000000000000001");
        assert!(to_parts(too_many).is_err());
    }

    #[test]
    fn parse_refuses_garbage_and_exponents() {
        assert!(parse_decimal("abc").is_err());
        assert!(parse_decimal("1e5").is_err());
        assert_eq!(parse_decimal(" 12.50 ").expect("ok"), dec("12.50"));
    }
}
