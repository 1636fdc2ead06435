//! BIC validation (ISO 9362): bank code, country, location, optional branch.

use super::error::AccountError;
use std::str::FromStr;

/// Validates a BIC and returns it upper case without spaces (`deut de ff` → `DEUTDEFF`).
///
/// ISO 9362: 4 letters (the business party prefix), 2 letters that must be an ISO 3166
/// country (checked against the `iso_country` crate's list, plus `XK`, the user-assigned
/// code SWIFT gives Kosovo), 2 letters or digits (location) and, for a branch, 3 more.
pub fn validate_bic(bic: &str) -> Result<String, AccountError> {
    let normalized: String = bic
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let shape_ok = matches!(normalized.len(), 8 | 11)
        && normalized.is_ascii()
        && normalized[..6].bytes().all(|b| b.is_ascii_uppercase())
        && normalized[6..].bytes().all(|b| b.is_ascii_alphanumeric());
    if !shape_ok {
        return Err(AccountError::BicInvalid {
            bic: bic.to_owned(),
        });
    }
    let country = &normalized[4..6];
    if !is_iso_country(country) {
        return Err(AccountError::BicCountryUnknown {
            bic: bic.to_owned(),
            country: country.to_owned(),
        });
    }
    Ok(normalized)
}

/// Whether `code` is an ISO 3166-1 alpha-2 country code (upper case), or `XK`.
pub(crate) fn is_iso_country(code: &str) -> bool {
    code == "XK"
        || (code.len() == 2
            && code.bytes().all(|b| b.is_ascii_uppercase())
            && iso_country::Country::from_str(code).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_8_and_11_characters() {
        assert_eq!(validate_bic("DEUTDEFF").unwrap(), "DEUTDEFF");
        assert_eq!(validate_bic("deut de ff 500").unwrap(), "DEUTDEFF500");
        assert_eq!(validate_bic("NWBKGB2L").unwrap(), "NWBKGB2L");
        assert_eq!(validate_bic("CHASUS33XXX").unwrap(), "CHASUS33XXX");
    }

    #[test]
    fn refuses_with_its_kind() {
        for bad in [
            "DEUTDEF",
            "DEUTDEFF5",
            "DEUTDEFF50",
            "DEU1DEFF",
            "DEUTD3FF",
            "DEUTDEF_",
            "ÄEUTDEFF",
        ] {
            assert_eq!(
                validate_bic(bad).unwrap_err().kind(),
                "bic-invalid",
                "{bad}"
            );
        }
        assert_eq!(
            validate_bic("DEUTZZFF").unwrap_err().kind(),
            "bic-country-unknown"
        );
    }
}
