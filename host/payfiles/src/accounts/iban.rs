//! IBAN validation: format, mod-97 check digits and each country's length and layout,
//! from the maintained `iban_validate` crate (generated from SWIFT's IBAN registry) rather
//! than a table of our own that would go stale.

use super::error::AccountError;
use super::mask::mask;
use iban::{Iban, IbanLike, ParseBaseIbanError, ParseIbanError};

/// The electronic form of an IBAN as people type it: whitespace removed, upper case
/// (`de89 3704 0044 0532 0130 00` → `DE89370400440532013000`).
pub fn normalize_iban(iban: &str) -> String {
    iban.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Validates an IBAN and returns its electronic form. Failures are told apart: a string
/// that is no IBAN at all, wrong check digits, a length or layout the country's IBANs do
/// not have, a country that issues none.
pub fn validate_iban(iban: &str) -> Result<String, AccountError> {
    let normalized = normalize_iban(iban);
    match normalized.parse::<Iban>() {
        Ok(valid) => Ok(valid.electronic_str().to_owned()),
        Err(ParseIbanError::InvalidBaseIban {
            source: ParseBaseIbanError::InvalidChecksum,
        }) => Err(AccountError::IbanChecksum {
            iban: mask(&normalized),
        }),
        Err(ParseIbanError::InvalidBaseIban { .. }) => Err(AccountError::IbanInvalid {
            iban: mask(&normalized),
        }),
        Err(ParseIbanError::InvalidBban(base)) => Err(AccountError::IbanCountryLength {
            iban: mask(&normalized),
            country: base.country_code().to_owned(),
        }),
        Err(ParseIbanError::UnknownCountry(base)) => Err(AccountError::IbanCountryUnknown {
            country: base.country_code().to_owned(),
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an IBAN with correct check digits (ISO 13616 mod 97) for any country and
    /// BBAN, so tests can make IBANs whose only fault is their length.
    pub(crate) fn with_check_digits(country: &str, bban: &str) -> String {
        let rearranged = format!("{bban}{country}00");
        let remainder = rearranged.chars().fold(0u32, |acc, c| {
            let value = c.to_digit(36).unwrap();
            if value >= 10 {
                (acc * 100 + value) % 97
            } else {
                (acc * 10 + value) % 97
            }
        });
        format!("{country}{:02}{bban}", 98 - remainder)
    }

    #[test]
    fn valid_ibans_are_normalised() {
        assert_eq!(
            validate_iban("de89 3704 0044 0532 0130 00").unwrap(),
            "DE89370400440532013000"
        );
        assert_eq!(
            validate_iban("GB29NWBK60161331926819").unwrap(),
            "GB29NWBK60161331926819"
        );
        assert_eq!(
            with_check_digits("DE", "370400440532013000"),
            "DE89370400440532013000"
        );
    }

    #[test]
    fn each_failure_has_its_kind() {
        let kind = |s: &str| validate_iban(s).unwrap_err().kind();
        assert_eq!(kind("DE89 3704 0044 0532 0130 01"), "iban-checksum");
        assert_eq!(kind("not an iban"), "iban-invalid");
        assert_eq!(kind("DE89-3704"), "iban-invalid");
        // Correct check digits, one digit short for Germany (22 characters).
        assert_eq!(
            kind(&with_check_digits("DE", "37040044053201300")),
            "iban-country-length"
        );
        assert_eq!(
            kind(&with_check_digits("ZZ", "37040044053201300")),
            "iban-country-unknown"
        );
    }

    #[test]
    fn errors_mask_the_account() {
        let err = validate_iban("DE89 3704 0044 0532 0130 01").unwrap_err();
        assert!(err.to_string().contains("••••3001"), "{err}");
        assert!(!err.to_string().contains("3704"), "{err}");
    }
}
