//! NACHA return reason codes and what they mean, as data.

/// The return reason codes of the NACHA Operating Rules (Appendix Four), with a short
/// meaning of each in our words. Sorted by code, for [`return_code_meaning`]. Codes not
/// listed (R48, R49, R54–R60, R63–R66, R78, R79) are not defined by NACHA.
pub const RETURN_CODES: &[(&str, &str)] = &[
    ("R01", "Insufficient funds"),
    ("R02", "Account closed"),
    ("R03", "No account, or unable to locate the account"),
    ("R04", "Invalid account number structure"),
    (
        "R05",
        "Unauthorized debit to a consumer account using a corporate SEC code",
    ),
    ("R06", "Returned at the originating bank's request"),
    ("R07", "Authorization revoked by the customer"),
    ("R08", "Payment stopped"),
    ("R09", "Uncollected funds"),
    (
        "R10",
        "Customer advises the originator is not known or not authorized",
    ),
    (
        "R11",
        "Customer advises the entry is not in accordance with the authorization",
    ),
    ("R12", "Account sold to another bank"),
    ("R13", "Invalid ACH routing number"),
    (
        "R14",
        "Representative payee deceased or unable to continue in that capacity",
    ),
    ("R15", "Beneficiary or account holder deceased"),
    (
        "R16",
        "Account frozen, or entry returned per OFAC instruction",
    ),
    (
        "R17",
        "File record edit criteria, or entry initiated under questionable circumstances",
    ),
    ("R18", "Improper effective entry date"),
    ("R19", "Amount field error"),
    ("R20", "Non-transaction account"),
    ("R21", "Invalid company identification"),
    ("R22", "Invalid individual ID number"),
    ("R23", "Credit entry refused by the receiver"),
    ("R24", "Duplicate entry"),
    ("R25", "Addenda error"),
    ("R26", "Mandatory field error"),
    ("R27", "Trace number error"),
    ("R28", "Routing number check digit error"),
    (
        "R29",
        "Corporate customer advises the entry is not authorized",
    ),
    (
        "R30",
        "Receiving bank does not participate in check truncation",
    ),
    ("R31", "Permissible return entry (CCD and CTX only)"),
    ("R32", "Receiving bank cannot settle"),
    ("R33", "Return of an XCK entry"),
    ("R34", "Limited participation receiving bank"),
    ("R35", "Return of an improper debit entry"),
    ("R36", "Return of an improper credit entry"),
    ("R37", "Source document presented for payment"),
    ("R38", "Stop payment on the source document"),
    (
        "R39",
        "Improper source document, or source document presented for payment",
    ),
    (
        "R40",
        "Return of an ENR entry by a federal government agency",
    ),
    ("R41", "Invalid transaction code (ENR only)"),
    ("R42", "Routing number or check digit error (ENR only)"),
    ("R43", "Invalid account number (ENR only)"),
    (
        "R44",
        "Invalid individual ID or identification number (ENR only)",
    ),
    ("R45", "Invalid individual or company name (ENR only)"),
    ("R46", "Invalid representative payee indicator (ENR only)"),
    ("R47", "Duplicate enrollment (ENR only)"),
    ("R50", "State law affecting RCK acceptance"),
    (
        "R51",
        "Item related to an RCK entry is ineligible, or the RCK entry is improper",
    ),
    ("R52", "Stop payment on an item related to an RCK entry"),
    ("R53", "Item and RCK entry presented for payment"),
    ("R61", "Misrouted return"),
    ("R62", "Return of an erroneous or reversing debit"),
    ("R67", "Duplicate return"),
    ("R68", "Untimely return"),
    ("R69", "Field errors"),
    (
        "R70",
        "Permissible return entry not accepted, or return not requested by the ODFI",
    ),
    ("R71", "Misrouted dishonored return"),
    ("R72", "Untimely dishonored return"),
    ("R73", "Timely original return"),
    ("R74", "Corrected return"),
    ("R75", "Return not a duplicate"),
    ("R76", "No errors found"),
    ("R77", "Non-acceptance of an R62 dishonored return"),
    ("R80", "IAT entry coding error"),
    ("R81", "Non-participant in the IAT program"),
    ("R82", "Invalid foreign receiving bank identification"),
    ("R83", "Foreign receiving bank unable to settle"),
    ("R84", "Entry not processed by the gateway"),
    ("R85", "Incorrectly coded outbound international payment"),
];

/// What a NACHA return reason code means; `None` for a code NACHA does not define.
pub fn return_code_meaning(code: &str) -> Option<&'static str> {
    RETURN_CODES
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|index| RETURN_CODES[index].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_answers() {
        assert!(RETURN_CODES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(return_code_meaning("R01"), Some("Insufficient funds"));
        assert_eq!(
            return_code_meaning("R85"),
            Some("Incorrectly coded outbound international payment")
        );
        assert_eq!(return_code_meaning("R48"), None);
        assert_eq!(return_code_meaning("r01"), None);
    }
}
