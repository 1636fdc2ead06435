//! The payout methods a partner can choose, and the check that a destination can receive
//! a payout in a given currency.

use super::bic::{is_iso_country, validate_bic};
use super::email::validate_email;
use super::error::AccountError;
use super::iban::validate_iban;
use super::mask::mask;
use super::sepa_countries::is_sepa_country;
use super::us::{AccountType, validate_aba_routing, validate_us_account};
use serde::{Deserialize, Serialize};

/// Where and how a payout is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Method {
    /// A SEPA credit transfer: EUR only, to an IBAN of a SEPA country. The BIC is
    /// optional (EPC rules: IBAN-only within SEPA).
    Sepa {
        /// The payee's IBAN.
        iban: String,
        /// The payee bank's BIC, if known.
        bic: Option<String>,
    },
    /// A US ACH credit: USD only.
    Ach {
        /// The ABA routing number of the payee's bank.
        routing: String,
        /// The payee's account number.
        account: String,
        /// Checking or savings.
        account_type: AccountType,
    },
    /// An international wire (SWIFT), in the payout currency.
    Wire {
        /// The payee's IBAN, or the account number where the country has no IBANs.
        iban_or_account: String,
        /// The payee bank's BIC (required for a wire).
        bic: String,
        /// The payee bank's country (ISO 3166 alpha-2).
        bank_country: String,
        /// The currency the account is held in, which must be the payout currency.
        currency: String,
    },
    /// PayPal Payouts, to the payee's PayPal e-mail address.
    #[serde(rename = "paypal")]
    PayPal {
        /// The payee's PayPal e-mail address.
        email: String,
    },
    /// A Wise batch transfer.
    Wise {
        /// The payee, by e-mail or saved Wise recipient.
        recipient: WiseRecipient,
    },
}

/// How a Wise payee is named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WiseRecipient {
    /// By e-mail: Wise asks the payee for bank details.
    Email(String),
    /// A recipient saved in the sender's Wise account, by its numeric id.
    Id(String),
}

/// The currencies PayPal pays out in (PayPal REST API "Currency codes" reference; BRL,
/// CNY and MYR only to in-country accounts, which PayPal enforces itself). Sorted.
const PAYPAL_CURRENCIES: &[&str] = &[
    "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "ILS", "JPY",
    "MXN", "MYR", "NOK", "NZD", "PHP", "PLN", "SEK", "SGD", "THB", "TWD", "USD",
];

impl Method {
    /// The method's name in messages and slugs (`sepa`, `ach`, `wire`, `paypal`, `wise`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sepa { .. } => "sepa",
            Self::Ach { .. } => "ach",
            Self::Wire { .. } => "wire",
            Self::PayPal { .. } => "paypal",
            Self::Wise { .. } => "wise",
        }
    }

    /// Checks the destination's details and that it can be paid in `payout_currency`,
    /// and returns it normalised (IBANs and BICs upper case without spaces, routing and
    /// account numbers digits only, e-mail domains lower case).
    ///
    /// The details are checked first, then the currency, so a typo in an IBAN is
    /// reported as such even when the currency is wrong too.
    pub fn validate(&self, payout_currency: &str) -> Result<Method, AccountError> {
        let normalized = self.validate_details()?;
        normalized.check_currency(payout_currency)?;
        Ok(normalized)
    }

    fn validate_details(&self) -> Result<Method, AccountError> {
        Ok(match self {
            Self::Sepa { iban, bic } => {
                let iban = validate_iban(iban)?;
                let country = &iban[..2];
                if !is_sepa_country(country) {
                    return Err(AccountError::IbanNotSepa {
                        country: country.to_owned(),
                    });
                }
                let bic = bic.as_deref().map(validate_bic).transpose()?;
                Self::Sepa { iban, bic }
            }
            Self::Ach {
                routing,
                account,
                account_type,
            } => Self::Ach {
                routing: validate_aba_routing(routing)?,
                account: validate_us_account(account)?,
                account_type: *account_type,
            },
            Self::Wire {
                iban_or_account,
                bic,
                bank_country,
                currency,
            } => validate_wire(iban_or_account, bic, bank_country, currency)?,
            Self::PayPal { email } => Self::PayPal {
                email: validate_email(email)?,
            },
            Self::Wise { recipient } => Self::Wise {
                recipient: match recipient {
                    WiseRecipient::Email(email) => WiseRecipient::Email(validate_email(email)?),
                    WiseRecipient::Id(id) => WiseRecipient::Id(validate_wise_id(id)?),
                },
            },
        })
    }

    fn check_currency(&self, payout_currency: &str) -> Result<(), AccountError> {
        let supported: String = match self {
            Self::Sepa { .. } => "EUR".to_owned(),
            Self::Ach { .. } => "USD".to_owned(),
            Self::Wire { currency, .. } => currency.clone(),
            Self::PayPal { .. } if PAYPAL_CURRENCIES.binary_search(&payout_currency).is_ok() => {
                return Ok(());
            }
            Self::PayPal { .. } => PAYPAL_CURRENCIES.join(", "),
            // Wise pays out in most currencies and says which at upload; any ISO 4217
            // code with minor units is let through here.
            Self::Wise { .. } if crate::money::minor_units(payout_currency).is_some() => {
                return Ok(());
            }
            Self::Wise { .. } => "ISO 4217 currencies".to_owned(),
        };
        if supported == payout_currency {
            return Ok(());
        }
        Err(AccountError::CurrencyNotSupportedByMethod {
            method: self.name(),
            currency: payout_currency.to_owned(),
            supported,
        })
    }
}

fn validate_wire(
    iban_or_account: &str,
    bic: &str,
    bank_country: &str,
    currency: &str,
) -> Result<Method, AccountError> {
    let bic = validate_bic(bic)?;
    let bank_country = bank_country.trim().to_ascii_uppercase();
    if !is_iso_country(&bank_country) {
        return Err(AccountError::CountryInvalid {
            country: bank_country,
        });
    }
    if bic[4..6] != bank_country {
        return Err(AccountError::BicCountryMismatch {
            bic_country: bic[4..6].to_owned(),
            bank_country,
        });
    }
    let currency = currency.trim().to_ascii_uppercase();
    if crate::money::minor_units(&currency).is_none() {
        return Err(AccountError::CurrencyInvalid { currency });
    }
    Ok(Method::Wire {
        iban_or_account: validate_wire_account(iban_or_account)?,
        bic,
        bank_country,
        currency,
    })
}

/// An IBAN where the account starts like one (two letters, two digits), else an account
/// number of 1 to 34 letters and digits (ISO 20022's `Max34Text` for other accounts).
///
/// A guess, since the field holds either: an account number that happens to start with
/// two letters and two digits is checked as an IBAN and refused. `iban_validate` does
/// not expose which countries issue IBANs, and it checks the digits before the country,
/// so the guess cannot be narrowed without a table of our own.
fn validate_wire_account(account: &str) -> Result<String, AccountError> {
    let compact: String = account
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let bytes = compact.as_bytes();
    let looks_like_iban = bytes.len() > 4
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..4].iter().all(u8::is_ascii_digit);
    if looks_like_iban {
        return validate_iban(&compact);
    }
    if !(1..=34).contains(&compact.len()) || !compact.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AccountError::AccountNumberInvalid {
            account: mask(account),
            expected: "an IBAN, or 1 to 34 letters and digits",
        });
    }
    Ok(compact)
}

/// Wise recipient ids are the numeric ids of Wise's recipient accounts.
fn validate_wise_id(id: &str) -> Result<String, AccountError> {
    let id = id.trim();
    if (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_owned())
    } else {
        Err(AccountError::WiseRecipientInvalid { id: id.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sepa(iban: &str, bic: Option<&str>) -> Method {
        Method::Sepa {
            iban: iban.into(),
            bic: bic.map(Into::into),
        }
    }

    fn wire(account: &str, bic: &str, country: &str, currency: &str) -> Method {
        Method::Wire {
            iban_or_account: account.into(),
            bic: bic.into(),
            bank_country: country.into(),
            currency: currency.into(),
        }
    }

    fn kind(method: Method, currency: &str) -> &'static str {
        method.validate(currency).unwrap_err().kind()
    }

    #[test]
    fn sepa_is_eur_to_a_sepa_iban() {
        let ok = sepa("de89 3704 0044 0532 0130 00", Some("cobadeffxxx"));
        assert_eq!(
            ok.validate("EUR").unwrap(),
            sepa("DE89370400440532013000", Some("COBADEFFXXX"))
        );
        assert_eq!(
            kind(sepa("DE89370400440532013000", None), "USD"),
            "currency-not-supported-by-method"
        );
        // Turkey issues IBANs but is outside SEPA.
        assert_eq!(
            kind(sepa("TR330006100519786457841326", None), "EUR"),
            "iban-country-not-sepa"
        );
        assert_eq!(
            kind(sepa("DE89370400440532013001", None), "EUR"),
            "iban-checksum"
        );
        assert_eq!(
            kind(sepa("DE89370400440532013000", Some("COBADE")), "EUR"),
            "bic-invalid"
        );
    }

    #[test]
    fn ach_is_usd_to_a_routing_and_account() {
        let ach = |routing: &str, account: &str| Method::Ach {
            routing: routing.into(),
            account: account.into(),
            account_type: AccountType::Savings,
        };
        assert!(ach("021000021", "123456789").validate("USD").is_ok());
        assert_eq!(
            kind(ach("021000021", "123456789"), "EUR"),
            "currency-not-supported-by-method"
        );
        assert_eq!(
            kind(ach("021000022", "123456789"), "USD"),
            "aba-routing-checksum"
        );
        assert_eq!(
            kind(ach("02100002", "123456789"), "USD"),
            "aba-routing-invalid"
        );
        assert_eq!(
            kind(ach("021000021", "12"), "USD"),
            "account-number-invalid"
        );
    }

    #[test]
    fn wire_needs_a_bic_of_the_bank_country_and_its_currency() {
        let ok = wire("000123456789", "chasus33", "us", "usd");
        assert_eq!(
            ok.validate("USD").unwrap(),
            wire("000123456789", "CHASUS33", "US", "USD")
        );
        assert!(
            wire("GB29NWBK60161331926819", "NWBKGB2L", "GB", "GBP")
                .validate("GBP")
                .is_ok()
        );
        assert_eq!(
            kind(
                wire("GB29NWBK60161331926818", "NWBKGB2L", "GB", "GBP"),
                "GBP"
            ),
            "iban-checksum"
        );
        assert_eq!(kind(wire("12", "", "US", "USD"), "USD"), "bic-invalid");
        assert_eq!(
            kind(wire("12", "CHASUS33", "ZZ", "USD"), "USD"),
            "country-invalid"
        );
        assert_eq!(
            kind(wire("12", "CHASUS33", "CA", "USD"), "USD"),
            "bic-country-mismatch"
        );
        assert_eq!(
            kind(wire("12", "CHASUS33", "US", "USX"), "USD"),
            "currency-invalid"
        );
        assert_eq!(
            kind(wire("12-34", "CHASUS33", "US", "USD"), "USD"),
            "account-number-invalid"
        );
        // Shaped like an IBAN, so checked as one (see validate_wire_account).
        assert_eq!(
            kind(wire("us12 3456", "CHASUS33", "US", "USD"), "USD"),
            "iban-checksum"
        );
        assert_eq!(
            kind(wire("12", "CHASUS33", "US", "USD"), "EUR"),
            "currency-not-supported-by-method"
        );
    }

    #[test]
    fn paypal_and_wise() {
        let paypal = |email: &str| Method::PayPal {
            email: email.into(),
        };
        assert!(paypal("ana@example.com").validate("JPY").is_ok());
        assert_eq!(kind(paypal("ana@example"), "USD"), "email-invalid");
        assert_eq!(
            kind(paypal("ana@example.com"), "INR"),
            "currency-not-supported-by-method"
        );
        let wise = |recipient: WiseRecipient| Method::Wise { recipient };
        assert!(
            wise(WiseRecipient::Id("12345678".into()))
                .validate("GBP")
                .is_ok()
        );
        assert!(
            wise(WiseRecipient::Email("a@b.co".into()))
                .validate("INR")
                .is_ok()
        );
        assert_eq!(
            kind(wise(WiseRecipient::Id("abc".into())), "GBP"),
            "wise-recipient-invalid"
        );
        assert_eq!(
            kind(wise(WiseRecipient::Email("a@".into())), "GBP"),
            "email-invalid"
        );
        assert_eq!(
            kind(wise(WiseRecipient::Id("1".into())), "XAU"),
            "currency-not-supported-by-method"
        );
    }

    #[test]
    fn the_paypal_list_is_sorted() {
        assert!(PAYPAL_CURRENCIES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn serde_shape_is_tagged() {
        let json = serde_json::to_string(&sepa("DE89370400440532013000", None)).unwrap();
        assert_eq!(
            json,
            r#"{"type":"sepa","iban":"DE89370400440532013000","bic":null}"#
        );
        let wise: Method =
            serde_json::from_str(r#"{"type":"wise","recipient":{"id":"42"}}"#).unwrap();
        assert_eq!(
            wise,
            Method::Wise {
                recipient: WiseRecipient::Id("42".into())
            }
        );
        let paypal: Method = serde_json::from_str(r#"{"type":"paypal","email":"a@b.co"}"#).unwrap();
        assert_eq!(paypal.name(), "paypal");
    }
}
