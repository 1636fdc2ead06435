//! US bank details for ACH: ABA routing numbers and account numbers.

use super::error::AccountError;
use super::mask::mask;
use serde::{Deserialize, Serialize};

/// The kind of US deposit account; NACHA's transaction code depends on it (22 checking
/// credit, 32 savings credit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    /// A checking (demand deposit) account.
    Checking,
    /// A savings account.
    Savings,
}

/// Validates an ABA routing number: 9 digits whose weighted sum (weights 3, 7, 1
/// repeated) is a multiple of 10. Spaces and dashes people type are dropped.
///
/// Written here rather than taken from a crate: the rule is five lines, fixed since the
/// ABA introduced it, and no maintained crate offers it alone.
pub fn validate_aba_routing(routing: &str) -> Result<String, AccountError> {
    let digits: String = routing
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AccountError::AbaRoutingInvalid {
            routing: routing.to_owned(),
        });
    }
    let weighted: u32 = digits
        .bytes()
        .zip([3, 7, 1].iter().cycle())
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    if !weighted.is_multiple_of(10) {
        return Err(AccountError::AbaRoutingChecksum { routing: digits });
    }
    Ok(digits)
}

/// Validates a US deposit account number: 4 to 17 digits (17 is the width of NACHA's
/// account field; spaces and dashes people type are dropped).
pub fn validate_us_account(account: &str) -> Result<String, AccountError> {
    let digits: String = account
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    if !(4..=17).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AccountError::AccountNumberInvalid {
            account: mask(account),
            expected: "4 to 17 digits",
        });
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_numbers_follow_3_7_1() {
        // 0*3+2*7+1*1 + 0*3+0*7+0*1 + 0*3+2*7+1*1 = 30
        assert_eq!(validate_aba_routing("021000021").unwrap(), "021000021");
        assert_eq!(validate_aba_routing("0110-0001 5").unwrap(), "011000015");
        assert_eq!(
            validate_aba_routing("021000022").unwrap_err().kind(),
            "aba-routing-checksum"
        );
        for bad in ["02100002", "0210000211", "02100002A", ""] {
            assert_eq!(
                validate_aba_routing(bad).unwrap_err().kind(),
                "aba-routing-invalid",
                "{bad}"
            );
        }
    }

    #[test]
    fn account_numbers_are_4_to_17_digits() {
        assert_eq!(validate_us_account("1234").unwrap(), "1234");
        assert_eq!(validate_us_account("1234-5678 9").unwrap(), "123456789");
        assert_eq!(validate_us_account(&"9".repeat(17)).unwrap().len(), 17);
        for bad in ["123", &"9".repeat(18), "12345A", ""] {
            assert_eq!(
                validate_us_account(bad).unwrap_err().kind(),
                "account-number-invalid",
                "{bad}"
            );
        }
    }
}
