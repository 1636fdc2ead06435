//! Why a payout destination is invalid: one variant per failure, each with a stable slug.

/// Why a payout destination was refused. Account numbers appear masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// Not shaped like an IBAN: characters other than letters and digits, no country
    /// code and check digits at the start, or shorter or longer than any IBAN.
    #[error(
        "{iban} is not an IBAN: expected a country code, two check digits and up to 30 letters or digits"
    )]
    IbanInvalid {
        /// The IBAN, masked.
        iban: String,
    },
    /// The mod-97 check digits do not match: most often a typo.
    #[error("{iban} has wrong check digits: check it for a typo")]
    IbanChecksum {
        /// The IBAN, masked.
        iban: String,
    },
    /// The check digits match but the length or layout is not the one the country's
    /// IBANs have (SWIFT's IBAN registry).
    #[error("{iban} does not have the length or layout of a {country} IBAN")]
    IbanCountryLength {
        /// The IBAN, masked.
        iban: String,
        /// Its country code.
        country: String,
    },
    /// A country that issues no IBANs.
    #[error("{country} is not a country that issues IBANs")]
    IbanCountryUnknown {
        /// The country code.
        country: String,
    },
    /// A valid IBAN of a country outside the SEPA scheme.
    #[error("{country} is not in the SEPA scheme: pay this account by international wire")]
    IbanNotSepa {
        /// The country code.
        country: String,
    },
    /// Not an ISO 9362 BIC: 4 letters, 2 letters, 2 letters or digits, optionally 3 more.
    #[error("{bic:?} is not a BIC: expected 8 or 11 characters such as DEUTDEFF or DEUTDEFF500")]
    BicInvalid {
        /// The BIC given.
        bic: String,
    },
    /// A BIC whose country letters are no ISO 3166 country.
    #[error("{bic:?} names no country: {country} is not an ISO 3166 code")]
    BicCountryUnknown {
        /// The BIC given.
        bic: String,
        /// Its letters 5 and 6.
        country: String,
    },
    /// A wire's BIC is of another country than the bank country given with it.
    #[error("the BIC is of {bic_country} but the bank country is {bank_country}")]
    BicCountryMismatch {
        /// The BIC's country.
        bic_country: String,
        /// The bank country given.
        bank_country: String,
    },
    /// A US routing number that is not 9 digits.
    #[error("{routing:?} is not an ABA routing number: expected 9 digits")]
    AbaRoutingInvalid {
        /// The routing number given.
        routing: String,
    },
    /// 9 digits whose 3-7-1 check digit does not match.
    #[error("{routing} has a wrong check digit: check it for a typo")]
    AbaRoutingChecksum {
        /// The routing number.
        routing: String,
    },
    /// An account number of the wrong length or characters.
    #[error("{account} is not a valid account number: {expected}")]
    AccountNumberInvalid {
        /// The account number, masked.
        account: String,
        /// What is expected.
        expected: &'static str,
    },
    /// Not an e-mail address.
    #[error("{email:?} is not an e-mail address")]
    EmailInvalid {
        /// The address given.
        email: String,
    },
    /// A Wise recipient id that is not a Wise account id (digits).
    #[error("{id:?} is not a Wise recipient id: expected digits")]
    WiseRecipientInvalid {
        /// The id given.
        id: String,
    },
    /// A country code that is not ISO 3166-1 alpha-2.
    #[error("{country:?} is not an ISO 3166 country code")]
    CountryInvalid {
        /// The code given.
        country: String,
    },
    /// A currency code that is not ISO 4217.
    #[error("{currency:?} is not an ISO 4217 currency code")]
    CurrencyInvalid {
        /// The code given.
        currency: String,
    },
    /// The payout currency is not one the method pays in (USD by SEPA).
    #[error("{method} does not pay in {currency}: it pays in {supported}")]
    CurrencyNotSupportedByMethod {
        /// The method.
        method: &'static str,
        /// The payout currency.
        currency: String,
        /// What the method pays in.
        supported: String,
    },
}

impl AccountError {
    /// A stable slug for the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::IbanInvalid { .. } => "iban-invalid",
            Self::IbanChecksum { .. } => "iban-checksum",
            Self::IbanCountryLength { .. } => "iban-country-length",
            Self::IbanCountryUnknown { .. } => "iban-country-unknown",
            Self::IbanNotSepa { .. } => "iban-country-not-sepa",
            Self::BicInvalid { .. } => "bic-invalid",
            Self::BicCountryUnknown { .. } => "bic-country-unknown",
            Self::BicCountryMismatch { .. } => "bic-country-mismatch",
            Self::AbaRoutingInvalid { .. } => "aba-routing-invalid",
            Self::AbaRoutingChecksum { .. } => "aba-routing-checksum",
            Self::AccountNumberInvalid { .. } => "account-number-invalid",
            Self::EmailInvalid { .. } => "email-invalid",
            Self::WiseRecipientInvalid { .. } => "wise-recipient-invalid",
            Self::CountryInvalid { .. } => "country-invalid",
            Self::CurrencyInvalid { .. } => "currency-invalid",
            Self::CurrencyNotSupportedByMethod { .. } => "currency-not-supported-by-method",
        }
    }
}
