//! Payout methods, tax profiles and withholding rules on the wire. Requests carry bank
//! details and TINs in full; answers only ever show them masked (`••••3000`,
//! `••••@example.com`).

use super::decimal::Rate;
use super::{DecimalAnswer, Instant, Text, format_time, reject};
use crate::domain::payout::WithholdingRule;
use crate::engine::{PayoutMethodView, TaxProfileView};
use accrue_payfiles::Method;
use accrue_payfiles::accounts::{AccountType, WiseRecipient};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// Whether a payee is a person or an organisation (NACHA: PPD or CCD).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyKindName {
    /// A natural person.
    Individual,
    /// A company or other organisation.
    Company,
}

/// A US deposit account's type.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountTypeName {
    /// Checking.
    Checking,
    /// Savings.
    Savings,
}

/// A US tax form.
#[derive(Debug, Serialize, ToSchema)]
pub enum TaxFormName {
    /// W-9: a US person.
    #[serde(rename = "w9")]
    W9,
    /// W-8BEN: a foreign individual.
    #[serde(rename = "w8ben")]
    W8ben,
    /// W-8BEN-E: a foreign entity.
    #[serde(rename = "w8ben_e")]
    W8benE,
}

/// Which payees a withholding rule applies to.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SituationName {
    /// A W-9 with a TIN on file.
    W9Tin,
    /// A W-9 without a TIN (backup withholding).
    W9NoTin,
    /// A W-8BEN or W-8BEN-E.
    W8,
}

/// `PUT /v1/partners/{id}/payout-method`: one destination, by `type`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PayoutMethodIn {
    /// A SEPA credit transfer: EUR, to an IBAN of a SEPA country.
    Sepa {
        /// The account holder's name.
        holder_name: Text<140>,
        /// Person or organisation.
        #[schema(value_type = PartyKindName)]
        party_kind: Text<20>,
        /// The IBAN (spaces allowed).
        iban: Text<64>,
        /// The bank's BIC (optional within SEPA).
        #[serde(default)]
        bic: Option<Text<16>>,
    },
    /// A US ACH credit: USD.
    Ach {
        /// The account holder's name.
        holder_name: Text<140>,
        /// Person or organisation.
        #[schema(value_type = PartyKindName)]
        party_kind: Text<20>,
        /// The bank's ABA routing number (9 digits).
        routing_number: Text<16>,
        /// The account number (4 to 17 digits).
        account_number: Text<40>,
        /// Checking or savings.
        #[schema(value_type = AccountTypeName)]
        account_type: Text<20>,
    },
    /// An international wire in the account's currency.
    Wire {
        /// The account holder's name.
        holder_name: Text<140>,
        /// Person or organisation.
        #[schema(value_type = PartyKindName)]
        party_kind: Text<20>,
        /// An IBAN, or the account number where the country has none.
        account: Text<64>,
        /// The bank's BIC.
        bic: Text<16>,
        /// The bank's country (ISO 3166-1 alpha-2).
        bank_country: Text<8>,
        /// The account's currency (ISO 4217), which must be the partner's payout currency.
        currency: Text<8>,
    },
    /// PayPal Payouts.
    Paypal {
        /// The account holder's name.
        holder_name: Text<140>,
        /// Person or organisation.
        #[schema(value_type = PartyKindName)]
        party_kind: Text<20>,
        /// The PayPal account's e-mail address.
        email: Text<254>,
    },
    /// A Wise transfer, to an e-mail address or a saved recipient (exactly one of them).
    Wise {
        /// The account holder's name.
        holder_name: Text<140>,
        /// Person or organisation.
        #[schema(value_type = PartyKindName)]
        party_kind: Text<20>,
        /// The recipient's e-mail address.
        #[serde(default)]
        email: Option<Text<254>>,
        /// A saved Wise recipient's id (digits).
        #[serde(default)]
        recipient_id: Option<Text<32>>,
    },
}

/// Close each variant of [`PayoutMethodIn`] in `doc` to properties it does not name, as
/// the parser does (`deny_unknown_fields`): utoipa publishes that for structs, not for the
/// variants of a tagged enum.
pub fn close_method_variants(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut("PayoutMethodIn") {
        for item in &mut one_of.items {
            if let RefOr::T(Schema::Object(object)) = item {
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// What the request names besides the destination.
pub struct Holder {
    /// The account holder's name.
    pub holder_name: String,
    /// `individual` or `company` (the engine checks it).
    pub party_kind: String,
}

impl PayoutMethodIn {
    /// The destination and its holder, or the field that cannot make one (a field named
    /// with its message).
    pub fn into_parts(self) -> Result<(Method, Holder), (&'static str, String)> {
        let holder = |holder_name: Text<140>, party_kind: Text<20>| Holder {
            holder_name: holder_name.0,
            party_kind: party_kind.0,
        };
        Ok(match self {
            Self::Sepa {
                holder_name,
                party_kind,
                iban,
                bic,
            } => (
                Method::Sepa {
                    iban: iban.0,
                    bic: bic.map(|b| b.0),
                },
                holder(holder_name, party_kind),
            ),
            Self::Ach {
                holder_name,
                party_kind,
                routing_number,
                account_number,
                account_type,
            } => {
                let account_type = match account_type.0.as_str() {
                    "checking" => AccountType::Checking,
                    "savings" => AccountType::Savings,
                    other => {
                        return Err((
                            "account_type",
                            format!("{other:?} is not an account type: checking or savings"),
                        ));
                    }
                };
                (
                    Method::Ach {
                        routing: routing_number.0,
                        account: account_number.0,
                        account_type,
                    },
                    holder(holder_name, party_kind),
                )
            }
            Self::Wire {
                holder_name,
                party_kind,
                account,
                bic,
                bank_country,
                currency,
            } => (
                Method::Wire {
                    iban_or_account: account.0,
                    bic: bic.0,
                    bank_country: bank_country.0,
                    currency: currency.0,
                },
                holder(holder_name, party_kind),
            ),
            Self::Paypal {
                holder_name,
                party_kind,
                email,
            } => (
                Method::PayPal { email: email.0 },
                holder(holder_name, party_kind),
            ),
            Self::Wise {
                holder_name,
                party_kind,
                email,
                recipient_id,
            } => {
                let recipient = match (email, recipient_id) {
                    (Some(e), None) => WiseRecipient::Email(e.0),
                    (None, Some(id)) => WiseRecipient::Id(id.0),
                    _ => {
                        return Err((
                            "email",
                            "a Wise destination is an e-mail address or a recipient id: give exactly one".into(),
                        ));
                    }
                };
                (Method::Wise { recipient }, holder(holder_name, party_kind))
            }
        })
    }
}

/// A payout method, as answered: the secrets masked, the bank identifiers as they are.
/// Fields that the method does not have are `null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutMethodOut {
    /// The partner.
    pub partner_id: String,
    /// `sepa`, `ach`, `wire`, `paypal` or `wise`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The account holder's name.
    pub holder_name: String,
    /// `individual` or `company`.
    pub party_kind: String,
    /// SEPA: the IBAN, masked to its last four.
    pub iban: Option<String>,
    /// SEPA (if given), wire: the BIC.
    pub bic: Option<String>,
    /// ACH: the routing number.
    pub routing_number: Option<String>,
    /// ACH: the account number, masked to its last four.
    pub account_number: Option<String>,
    /// ACH: `checking` or `savings`.
    pub account_type: Option<String>,
    /// Wire: the IBAN or account number, masked to its last four.
    pub account: Option<String>,
    /// Wire: the bank's country.
    pub bank_country: Option<String>,
    /// Wire: the account's currency.
    pub currency: Option<String>,
    /// PayPal, Wise: the e-mail address with its local part masked.
    pub email: Option<String>,
    /// Wise: the recipient id, masked to its last four.
    pub recipient_id: Option<String>,
    /// Last set at (RFC 3339).
    pub updated_at: String,
}

impl From<&PayoutMethodView> for PayoutMethodOut {
    fn from(v: &PayoutMethodView) -> Self {
        let mut out = Self {
            partner_id: v.partner_id.clone(),
            kind: v.masked.name().to_owned(),
            holder_name: v.holder_name.clone(),
            party_kind: match v.party_kind {
                accrue_payfiles::PartyKind::Individual => "individual",
                accrue_payfiles::PartyKind::Company => "company",
            }
            .to_owned(),
            iban: None,
            bic: None,
            routing_number: None,
            account_number: None,
            account_type: None,
            account: None,
            bank_country: None,
            currency: None,
            email: None,
            recipient_id: None,
            updated_at: format_time(v.updated_at_ms),
        };
        match &v.masked {
            Method::Sepa { iban, bic } => {
                out.iban = Some(iban.clone());
                out.bic.clone_from(bic);
            }
            Method::Ach {
                routing,
                account,
                account_type,
            } => {
                out.routing_number = Some(routing.clone());
                out.account_number = Some(account.clone());
                out.account_type = Some(
                    match account_type {
                        AccountType::Checking => "checking",
                        AccountType::Savings => "savings",
                    }
                    .to_owned(),
                );
            }
            Method::Wire {
                iban_or_account,
                bic,
                bank_country,
                currency,
            } => {
                out.account = Some(iban_or_account.clone());
                out.bic = Some(bic.clone());
                out.bank_country = Some(bank_country.clone());
                out.currency = Some(currency.clone());
            }
            Method::PayPal { email } => out.email = Some(email.clone()),
            Method::Wise { recipient } => match recipient {
                WiseRecipient::Email(e) => out.email = Some(e.clone()),
                WiseRecipient::Id(id) => out.recipient_id = Some(id.clone()),
            },
        }
        out
    }
}

/// A rate in 0..=1 refused with the kind of the rule it belongs to (a treaty rate, a
/// withholding rate) rather than the generic `bad-rate`.
fn rate_of<'de, D: Deserializer<'de>>(d: D, kind: &'static str) -> Result<Decimal, D::Error> {
    Rate::deserialize(d).map(|r| r.0).map_err(|e: D::Error| {
        // Only a refusal of the rate's grammar changes kind; a value of the wrong JSON
        // type stays a 400 like everywhere else.
        let message = e.to_string();
        match super::take_rejection(&message) {
            Some(_) => reject(kind, message),
            None => e,
        }
    })
}

/// A treaty rate in a request (`treaty-rate-invalid` when it is not a rate in 0..=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreatyRate(pub Decimal);

impl<'de> Deserialize<'de> for TreatyRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        rate_of(d, "treaty-rate-invalid").map(Self)
    }
}

/// A withholding rate in a request (`withholding-rate-invalid` when it is not a rate in
/// 0..=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithholdingRate(pub Decimal);

impl<'de> Deserialize<'de> for WithholdingRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        rate_of(d, "withholding-rate-invalid").map(Self)
    }
}

/// `PUT /v1/partners/{id}/tax-profile`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxProfileIn {
    /// The form on file.
    #[schema(value_type = TaxFormName)]
    pub form: Text<20>,
    /// The name on the form.
    pub legal_name: Text<140>,
    /// The TIN: on a W-9 the US SSN or EIN (9 digits, dashes allowed); on a W-8 the
    /// foreign TIN. Without one, a W-9 payee is subject to backup withholding.
    #[serde(default)]
    pub tin: Option<Text<40>>,
    /// The payee's country, ISO 3166-1 alpha-2: US on a W-9, another on a W-8.
    pub country: Text<8>,
    /// The treaty rate claimed on a W-8 (decimal string in 0..=1); not on a W-9.
    #[serde(default)]
    #[schema(value_type = Option<Rate>)]
    pub treaty_rate: Option<TreatyRate>,
}

/// A tax profile, as answered: the TIN masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxProfileOut {
    /// The partner.
    pub partner_id: String,
    /// `w9`, `w8ben` or `w8ben_e`.
    pub form: String,
    /// The name on the form.
    pub legal_name: String,
    /// Whether a TIN is on file.
    pub tin_on_file: bool,
    /// The TIN masked to its last four, if on file.
    pub tin: Option<String>,
    /// The payee's country.
    pub country: String,
    /// The treaty rate claimed.
    #[schema(value_type = Option<DecimalAnswer>)]
    pub treaty_rate: Option<String>,
    /// Last set at (RFC 3339).
    pub updated_at: String,
}

impl From<&TaxProfileView> for TaxProfileOut {
    fn from(v: &TaxProfileView) -> Self {
        Self {
            partner_id: v.partner_id.clone(),
            form: v.form.as_str().to_owned(),
            legal_name: v.legal_name.clone(),
            tin_on_file: v.tin_on_file,
            tin: v.tin_masked.clone(),
            country: v.country.clone(),
            treaty_rate: v.treaty_rate.map(|r| r.to_string()),
            updated_at: format_time(v.updated_at_ms),
        }
    }
}

/// `POST /v1/programs/{id}/withholding-rules`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithholdingRuleIn {
    /// Which payees.
    #[schema(value_type = SituationName)]
    pub situation: Text<20>,
    /// For `w8`: the payee country (ISO 3166-1 alpha-2), or empty/absent for every
    /// country. Empty for the W-9 situations.
    #[serde(default)]
    pub country: Option<Text<8>>,
    /// In force from.
    pub effective_from: Instant,
    /// The rate withheld, a decimal string in 0..=1.
    #[schema(value_type = Rate)]
    pub rate: WithholdingRate,
}

/// A withholding rule, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct WithholdingRuleOut {
    /// The program.
    pub program_id: String,
    /// `w9_tin`, `w9_no_tin` or `w8`.
    pub situation: String,
    /// The payee country for `w8` (empty: every country).
    pub country: String,
    /// In force from (RFC 3339).
    pub effective_from: String,
    /// The rate.
    #[schema(value_type = DecimalAnswer)]
    pub rate: String,
}

impl WithholdingRuleOut {
    /// A program's rule as answered.
    pub fn of(program_id: &str, r: &WithholdingRule) -> Self {
        Self {
            program_id: program_id.to_owned(),
            situation: r.situation.as_str().to_owned(),
            country: r.country.clone(),
            effective_from: format_time(r.effective_from_ms),
            rate: r.rate.to_string(),
        }
    }
}
