//! The countries of the SEPA schemes' geographical scope, as data.

/// IBAN country codes of the SEPA schemes' geographical scope (EPC409-09, "EPC List of
/// SEPA Scheme Countries"), as of 2025: the 27 EU states; Iceland, Liechtenstein and
/// Norway (EEA); Andorra, Monaco, San Marino, Switzerland, the United Kingdom and Vatican
/// City; Albania, Moldova, Montenegro and North Macedonia (joined November 2024 to March
/// 2025) and Serbia (May 2025); and Gibraltar, which issues its own IBANs. Territories
/// that use their state's IBANs (Åland FI, the French overseas departments FR, Jersey,
/// Guernsey and the Isle of Man GB …) are covered by that state's code.
///
/// Kept sorted, so [`is_sepa_country`] can search it. Revisit when the EPC extends the
/// scope: an IBAN of a country missing here is refused for SEPA and must go by wire.
pub const SEPA_COUNTRIES: &[&str] = &[
    "AD", "AL", "AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GI",
    "GR", "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MC", "MD", "ME", "MK", "MT", "NL",
    "NO", "PL", "PT", "RO", "RS", "SE", "SI", "SK", "SM", "VA",
];

/// Whether IBANs of `country` (ISO 3166 alpha-2, upper case) can be paid by SEPA.
pub fn is_sepa_country(country: &str) -> bool {
    SEPA_COUNTRIES.binary_search(&country).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_complete() {
        assert!(SEPA_COUNTRIES.windows(2).all(|w| w[0] < w[1]));
        // 27 EU + 3 EEA + 6 others + 5 joined in 2024-2025 + Gibraltar.
        assert_eq!(SEPA_COUNTRIES.len(), 42);
        assert!(is_sepa_country("DE"));
        assert!(is_sepa_country("CH"));
        assert!(!is_sepa_country("US"));
        assert!(!is_sepa_country("TR"));
    }
}
