//! Partners' payout methods and tax profiles, and programs' withholding rules: validated
//! here, sealed here, stored by `store::payout_profiles`, read by payout runs.
//!
//! Who may do what: an admin any partner's profiles; a partner key only its own (another
//! partner's are answered exactly like a partner that does not exist); a plug-in author
//! key none (403). Withholding rules are added by admins only; a partner may read its own
//! program's.
//!
//! What is secret: a destination's account number, IBAN, e-mail and Wise recipient id, and
//! a TIN. They are sealed with the partner id as associated data ([`super::Sealer`]) and
//! shown only masked: the last four characters behind `••••`; an e-mail as `••••@` and its
//! domain (the local part names the person; the domain helps recognise which address is on
//! file). BICs, routing numbers, account types, countries and currencies identify banks,
//! not people, and are shown as they are.

use super::{Engine, EngineError, Result, Scope};
use crate::domain::payout::{Situation, TaxForm, WithholdingRule};
use crate::store::{PayoutMethodRow, StoreError, StoredPayoutMethod, TaxProfileRecord, now_ms};
use accrue_payfiles::accounts::WiseRecipient;
use accrue_payfiles::{AccountError, Method, PartyKind, mask};
use rust_decimal::Decimal;

/// A refused payout method, tax profile or withholding rule: a stable kind (the problem
/// `type`), the request field at fault and what was wrong (secrets only masked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ProfileError {
    /// Stable slug: an [`AccountError::kind`] for a destination, or `holder-name-invalid`,
    /// `party-kind-invalid`, `tax-form-invalid`, `legal-name-invalid`, `tin-invalid`,
    /// `tax-country-invalid`, `treaty-rate-invalid`, `withholding-situation-invalid`,
    /// `withholding-country-invalid`, `withholding-rate-invalid`.
    pub kind: &'static str,
    /// The request field at fault.
    pub field: &'static str,
    /// What was wrong.
    pub detail: String,
}

impl ProfileError {
    /// A refusal of `field` with `kind`.
    pub fn new(kind: &'static str, field: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            field,
            detail: detail.into(),
        }
    }
}

/// A payout method to set for a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayoutMethod {
    /// The partner.
    pub partner_id: String,
    /// The destination as given (normalised and checked by [`Engine::set_payout_method`]).
    pub method: Method,
    /// The account holder's name.
    pub holder_name: String,
    /// `individual` or `company`.
    pub party_kind: String,
}

/// A payout method as answered: never the secrets, only their masks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutMethodView {
    /// The partner.
    pub partner_id: String,
    /// The destination with its secrets masked (same shape as the method).
    pub masked: Method,
    /// The account holder's name.
    pub holder_name: String,
    /// Person or organisation.
    pub party_kind: PartyKind,
    /// Last set at (ms).
    pub updated_at_ms: i64,
}

/// A tax profile to set for a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTaxProfile {
    /// The partner.
    pub partner_id: String,
    /// `w9`, `w8ben` or `w8ben_e`.
    pub form: String,
    /// The name on the form.
    pub legal_name: String,
    /// The TIN, if given (W-9: a US SSN or EIN, 9 digits, dashes allowed; W-8: the
    /// foreign TIN).
    pub tin: Option<String>,
    /// The payee's country, ISO 3166-1 alpha-2 (W-9: US; W-8: not US).
    pub country: String,
    /// The treaty rate claimed (W-8 only), 0..=1.
    pub treaty_rate: Option<Decimal>,
}

/// A tax profile as answered: the TIN only masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxProfileView {
    /// The partner.
    pub partner_id: String,
    /// The form.
    pub form: TaxForm,
    /// The name on the form.
    pub legal_name: String,
    /// Whether a TIN is on file.
    pub tin_on_file: bool,
    /// The TIN masked to its last four.
    pub tin_masked: Option<String>,
    /// The payee's country.
    pub country: String,
    /// The treaty rate claimed.
    pub treaty_rate: Option<Decimal>,
    /// Last set at (ms).
    pub updated_at_ms: i64,
}

impl From<TaxProfileRecord> for TaxProfileView {
    fn from(p: TaxProfileRecord) -> Self {
        Self {
            tin_on_file: p.tin_sealed.is_some(),
            partner_id: p.partner_id,
            form: p.form,
            legal_name: p.legal_name,
            tin_masked: p.tin_masked,
            country: p.country,
            treaty_rate: p.treaty_rate,
            updated_at_ms: p.updated_at_ms,
        }
    }
}

/// A withholding rule to add to a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWithholdingRule {
    /// The program.
    pub program_id: String,
    /// `w9_tin`, `w9_no_tin` or `w8`.
    pub situation: String,
    /// For `w8`, the payee country it applies to, or empty for every country; empty
    /// otherwise.
    pub country: String,
    /// In force from (ms).
    pub effective_from_ms: i64,
    /// The rate, 0..=1.
    pub rate: Decimal,
}

/// The longest holder or legal name (ISO 20022's `Max140Text`, the longest any payout
/// file takes; writers cut it to their own fields).
const NAME_MAX_CHARS: usize = 140;

/// Whether `code` is an ISO 3166-1 alpha-2 code (upper case), or `XK` (Kosovo, user-assigned
/// but used by banks and the IRS alike).
fn is_country(code: &str) -> bool {
    code == "XK"
        || (code.len() == 2
            && code.bytes().all(|b| b.is_ascii_uppercase())
            && code.parse::<iso_country::Country>().is_ok())
}

/// A name: not blank, no control characters, at most [`NAME_MAX_CHARS`].
fn check_name(text: &str, kind: &'static str, field: &'static str) -> Result<String> {
    let name = text.trim();
    if name.is_empty() {
        return Err(ProfileError::new(kind, field, format!("{field} must not be blank")).into());
    }
    if name.chars().any(char::is_control) {
        return Err(ProfileError::new(
            kind,
            field,
            format!("{field} may not hold control characters"),
        )
        .into());
    }
    let n = name.chars().count();
    if n > NAME_MAX_CHARS {
        return Err(ProfileError::new(
            kind,
            field,
            format!("{field} is {n} characters long; at most {NAME_MAX_CHARS} are allowed"),
        )
        .into());
    }
    Ok(name.to_owned())
}

fn party_kind(text: &str) -> Result<PartyKind> {
    match text {
        "individual" => Ok(PartyKind::Individual),
        "company" => Ok(PartyKind::Company),
        other => Err(ProfileError::new(
            "party-kind-invalid",
            "party_kind",
            format!("{other:?} is not a party kind: individual or company"),
        )
        .into()),
    }
}

fn party_kind_name(kind: PartyKind) -> &'static str {
    match kind {
        PartyKind::Individual => "individual",
        PartyKind::Company => "company",
    }
}

/// The request field an account error is about, for a destination of this method.
fn account_field(method: &Method, e: &AccountError) -> &'static str {
    use AccountError as A;
    let wire = matches!(method, Method::Wire { .. });
    match e {
        A::IbanInvalid { .. }
        | A::IbanChecksum { .. }
        | A::IbanCountryLength { .. }
        | A::IbanCountryUnknown { .. }
        | A::IbanNotSepa { .. } => {
            if wire {
                "account"
            } else {
                "iban"
            }
        }
        A::BicInvalid { .. } | A::BicCountryUnknown { .. } | A::BicCountryMismatch { .. } => "bic",
        A::AbaRoutingInvalid { .. } | A::AbaRoutingChecksum { .. } => "routing_number",
        A::AccountNumberInvalid { .. } => {
            if wire {
                "account"
            } else {
                "account_number"
            }
        }
        A::EmailInvalid { .. } => "email",
        A::WiseRecipientInvalid { .. } => "recipient_id",
        A::CountryInvalid { .. } => "bank_country",
        A::CurrencyInvalid { .. } => "currency",
        A::CurrencyNotSupportedByMethod { .. } => "type",
    }
}

/// An account error as a problem: its own kind, the field, and a detail that shows no
/// e-mail or recipient id (the crate's messages mask account numbers and IBANs already).
fn account_error(method: &Method, e: &AccountError) -> EngineError {
    let detail = match e {
        AccountError::EmailInvalid { .. } => "the e-mail address is not a valid address".into(),
        AccountError::WiseRecipientInvalid { .. } => {
            "the Wise recipient id is not one: expected 1 to 20 digits".into()
        }
        other => other.to_string(),
    };
    ProfileError::new(e.kind(), account_field(method, e), detail).into()
}

/// An e-mail address masked: the local part hidden, the domain kept.
fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((_, domain)) => format!("••••@{domain}"),
        None => mask(email),
    }
}

/// The destination with every account number, IBAN, e-mail and recipient id masked.
pub fn masked(method: &Method) -> Method {
    match method.clone() {
        Method::Sepa { iban, bic } => Method::Sepa {
            iban: mask(&iban),
            bic,
        },
        Method::Ach {
            routing,
            account,
            account_type,
        } => Method::Ach {
            routing,
            account: mask(&account),
            account_type,
        },
        Method::Wire {
            iban_or_account,
            bic,
            bank_country,
            currency,
        } => Method::Wire {
            iban_or_account: mask(&iban_or_account),
            bic,
            bank_country,
            currency,
        },
        Method::PayPal { email } => Method::PayPal {
            email: mask_email(&email),
        },
        Method::Wise { recipient } => Method::Wise {
            recipient: match recipient {
                WiseRecipient::Email(e) => WiseRecipient::Email(mask_email(&e)),
                WiseRecipient::Id(id) => WiseRecipient::Id(mask(&id)),
            },
        },
    }
}

/// A TIN checked for its form, returned as stored (W-9: the 9 digits).
fn check_tin(form: TaxForm, tin: &str) -> Result<String> {
    let bad =
        |detail: &str| -> EngineError { ProfileError::new("tin-invalid", "tin", detail).into() };
    match form {
        TaxForm::W9 => {
            // An SSN (123-45-6789) or an EIN (12-3456789): nine digits, the dashes people
            // write optional.
            let digits: String = tin.chars().filter(|c| *c != '-').collect();
            let shaped = tin.chars().all(|c| c.is_ascii_digit() || c == '-')
                && !tin.starts_with('-')
                && !tin.ends_with('-')
                && !tin.contains("--");
            if !shaped || digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(
                    "a W-9 TIN is a US SSN or EIN: 9 digits, dashes allowed (123-45-6789, 12-3456789)",
                ));
            }
            if digits.bytes().all(|b| b == b'0') {
                return Err(bad("a TIN of only zeros is not one"));
            }
            Ok(digits)
        }
        TaxForm::W8ben | TaxForm::W8benE => {
            // A foreign TIN: each country has its own format, so only its characters and
            // length are checked (letters, digits and the separators they are written
            // with).
            let tin = tin.trim();
            let ok = (1..=30).contains(&tin.chars().count())
                && tin
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " -./".contains(c))
                && tin.chars().any(|c| c.is_ascii_alphanumeric());
            if !ok {
                return Err(bad(
                    "a foreign TIN is 1 to 30 letters and digits (spaces, dashes, dots and slashes allowed)",
                ));
            }
            Ok(tin.to_owned())
        }
    }
}

/// The caller may act for `partner_id`: an admin any, a partner itself only (another
/// partner is answered like a missing one), a plug-in author none.
fn for_partner(caller: &Scope, partner_id: &str, what: &str) -> Result<()> {
    match caller {
        Scope::Admin => Ok(()),
        Scope::Partner(own) if own == partner_id => Ok(()),
        Scope::Partner(_) => Err(EngineError::NotFound(format!("partner {partner_id:?}"))),
        Scope::PluginAuthor(_) => Err(EngineError::Forbidden(format!(
            "a plug-in author key cannot read or change {what}"
        ))),
    }
}

impl Engine {
    /// Set a partner's payout method: checked (details, then that it pays in the partner's
    /// payout currency), normalised, sealed for the partner, stored with its mask.
    pub async fn set_payout_method(
        &self,
        caller: &Scope,
        input: &NewPayoutMethod,
    ) -> Result<PayoutMethodView> {
        for_partner(caller, &input.partner_id, "payout methods")?;
        let partner = self.partner(&input.partner_id).await?;
        let holder_name = check_name(&input.holder_name, "holder-name-invalid", "holder_name")?;
        let kind = party_kind(&input.party_kind)?;
        let method = input
            .method
            .validate(partner.payout_currency.code())
            .map_err(|e| account_error(&input.method, &e))?;
        let sealer = self.sealer()?;
        let plain = serde_json::to_vec(&method)
            .map_err(|e| EngineError::Internal(format!("payout method as JSON: {e}")))?;
        let masked = masked(&method);
        let masked_json = serde_json::to_string(&masked)
            .map_err(|e| EngineError::Internal(format!("masked payout method as JSON: {e}")))?;
        let row = PayoutMethodRow {
            partner_id: partner.id.clone(),
            method: method.name().to_owned(),
            holder_name: holder_name.clone(),
            party_kind: party_kind_name(kind).to_owned(),
            sealed: sealer.seal(&partner.id, &plain),
            masked: masked_json,
        };
        let at_ms = now_ms();
        self.store
            .put_payout_method(&row, sealer.key_id(), at_ms)
            .await?;
        Ok(PayoutMethodView {
            partner_id: partner.id,
            masked,
            holder_name,
            party_kind: kind,
            updated_at_ms: at_ms,
        })
    }

    /// A partner's payout method, masked. Needs no key: the mask is stored beside the
    /// sealed value.
    pub async fn payout_method(
        &self,
        caller: &Scope,
        partner_id: &str,
    ) -> Result<PayoutMethodView> {
        for_partner(caller, partner_id, "payout methods")?;
        self.partner(partner_id).await?;
        let stored = self.store.payout_method(partner_id).await?.ok_or_else(|| {
            EngineError::NotFound(format!("payout method of partner {partner_id:?}"))
        })?;
        view(&stored)
    }

    /// Remove a partner's payout method (its runs then hold its payments).
    pub async fn delete_payout_method(&self, caller: &Scope, partner_id: &str) -> Result<()> {
        for_partner(caller, partner_id, "payout methods")?;
        self.partner(partner_id).await?;
        if self.store.delete_payout_method(partner_id).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound(format!(
                "payout method of partner {partner_id:?}"
            )))
        }
    }

    /// Set a partner's tax profile: the form, the name, the TIN (sealed), the country and
    /// a treaty rate, each checked with its own problem kind.
    pub async fn set_tax_profile(
        &self,
        caller: &Scope,
        input: &NewTaxProfile,
    ) -> Result<TaxProfileView> {
        for_partner(caller, &input.partner_id, "tax profiles")?;
        let partner = self.partner(&input.partner_id).await?;
        let form = TaxForm::parse(&input.form).ok_or_else(|| {
            ProfileError::new(
                "tax-form-invalid",
                "form",
                format!("{:?} is not a tax form: w9, w8ben or w8ben_e", input.form),
            )
        })?;
        let legal_name = check_name(&input.legal_name, "legal-name-invalid", "legal_name")?;
        let country = input.country.trim().to_ascii_uppercase();
        let country_error = |detail: String| -> EngineError {
            ProfileError::new("tax-country-invalid", "country", detail).into()
        };
        if !is_country(&country) {
            return Err(country_error(format!(
                "{:?} is not an ISO 3166-1 alpha-2 country code",
                input.country
            )));
        }
        match form {
            TaxForm::W9 if country != "US" => {
                return Err(country_error(format!(
                    "a W-9 is for US persons: the country must be US, not {country}"
                )));
            }
            TaxForm::W8ben | TaxForm::W8benE if country == "US" => {
                return Err(country_error(
                    "a W-8 is for foreign persons: the country must not be US (a US person files a W-9)".into(),
                ));
            }
            _ => {}
        }
        if let Some(rate) = input.treaty_rate {
            if form == TaxForm::W9 {
                return Err(ProfileError::new(
                    "treaty-rate-invalid",
                    "treaty_rate",
                    "a treaty rate is claimed on a W-8, not on a W-9",
                )
                .into());
            }
            if rate < Decimal::ZERO || rate > Decimal::ONE {
                return Err(ProfileError::new(
                    "treaty-rate-invalid",
                    "treaty_rate",
                    format!("{rate} is not a rate in 0..=1"),
                )
                .into());
            }
        }
        let tin = input
            .tin
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(|t| check_tin(form, t))
            .transpose()?;
        let (tin_sealed, tin_masked) = match &tin {
            Some(t) => {
                let sealer = self.sealer()?;
                (Some(sealer.seal(&partner.id, t.as_bytes())), Some(mask(t)))
            }
            None => (None, None),
        };
        let record = TaxProfileRecord {
            partner_id: partner.id,
            form,
            legal_name,
            tin_sealed,
            tin_masked,
            country,
            treaty_rate: input.treaty_rate.map(|r| r.normalize()),
            updated_at_ms: now_ms(),
        };
        self.store.put_tax_profile(&record).await?;
        Ok(record.into())
    }

    /// A partner's tax profile, the TIN masked.
    pub async fn tax_profile(&self, caller: &Scope, partner_id: &str) -> Result<TaxProfileView> {
        for_partner(caller, partner_id, "tax profiles")?;
        self.partner(partner_id).await?;
        self.store
            .tax_profile(partner_id)
            .await?
            .map(Into::into)
            .ok_or_else(|| EngineError::NotFound(format!("tax profile of partner {partner_id:?}")))
    }

    /// Remove a partner's tax profile (its payments are then held for want of a form).
    pub async fn delete_tax_profile(&self, caller: &Scope, partner_id: &str) -> Result<()> {
        for_partner(caller, partner_id, "tax profiles")?;
        self.partner(partner_id).await?;
        if self.store.delete_tax_profile(partner_id).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound(format!(
                "tax profile of partner {partner_id:?}"
            )))
        }
    }

    /// Add a withholding rate to a program (admins only). Rates are effective-dated
    /// history: a rule with the same situation, country and effective-from is a 409.
    pub async fn add_withholding_rule(
        &self,
        caller: &Scope,
        input: &NewWithholdingRule,
    ) -> Result<WithholdingRule> {
        if *caller != Scope::Admin {
            return Err(EngineError::Forbidden(
                "only an admin key may add withholding rules".into(),
            ));
        }
        self.existing_program(&input.program_id).await?;
        let situation = Situation::parse(&input.situation).ok_or_else(|| {
            ProfileError::new(
                "withholding-situation-invalid",
                "situation",
                format!(
                    "{:?} is not a situation: w9_tin, w9_no_tin or w8",
                    input.situation
                ),
            )
        })?;
        let country = input.country.trim().to_ascii_uppercase();
        let country_error = |detail: String| -> EngineError {
            ProfileError::new("withholding-country-invalid", "country", detail).into()
        };
        if !country.is_empty() && situation != Situation::W8 {
            return Err(country_error(format!(
                "a {} rule applies to every country: leave country empty",
                situation.as_str()
            )));
        }
        if !country.is_empty() && !is_country(&country) {
            return Err(country_error(format!(
                "{:?} is not an ISO 3166-1 alpha-2 country code",
                input.country
            )));
        }
        if input.rate < Decimal::ZERO || input.rate > Decimal::ONE {
            return Err(ProfileError::new(
                "withholding-rate-invalid",
                "rate",
                format!("{} is not a rate in 0..=1", input.rate),
            )
            .into());
        }
        let rule = WithholdingRule {
            situation,
            country,
            effective_from_ms: input.effective_from_ms,
            rate: input.rate.normalize(),
        };
        match self
            .store
            .insert_withholding_rule(&input.program_id, &rule, now_ms())
            .await
        {
            Ok(()) => Ok(rule),
            // The same rule again (a retry) is answered as the first time: rules are
            // history, and this one is in it.
            Err(StoreError::Conflict(_))
                if self
                    .store
                    .withholding_rules(&input.program_id)
                    .await?
                    .contains(&rule) =>
            {
                Ok(rule)
            }
            Err(StoreError::Conflict(_)) => Err(EngineError::Conflict(format!(
                "program {:?} already has a {} rule{} effective from that instant: rules are \
                 history, add one effective from another instant",
                input.program_id,
                rule.situation.as_str(),
                if rule.country.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", rule.country)
                }
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// A program's withholding rules: an admin any program's, a partner its own program's
    /// (another program is answered as missing), a plug-in author none.
    pub async fn withholding_rules(
        &self,
        caller: &Scope,
        program_id: &str,
    ) -> Result<Vec<WithholdingRule>> {
        match caller {
            Scope::Admin => {}
            Scope::Partner(p) => {
                let partner = self.partner(p).await?;
                if partner.program_id != program_id {
                    return Err(EngineError::NotFound(format!("program {program_id:?}")));
                }
            }
            Scope::PluginAuthor(_) => {
                return Err(EngineError::Forbidden(
                    "a plug-in author key cannot read withholding rules".into(),
                ));
            }
        }
        self.existing_program(program_id).await?;
        Ok(self.store.withholding_rules(program_id).await?)
    }

    /// Open a sealed destination of `partner_id` (for a payout file): only with the key
    /// it was sealed with, and only for the partner it was sealed for.
    pub async fn open_destination(&self, partner_id: &str, sealed: &str) -> Result<Method> {
        let plain = self.sealer()?.open(partner_id, sealed).map_err(|e| {
            EngineError::Internal(format!("payout method of partner {partner_id:?}: {e}"))
        })?;
        serde_json::from_slice(&plain).map_err(|e| {
            EngineError::Internal(format!(
                "payout method of partner {partner_id:?} does not read back: {e}"
            ))
        })
    }

    /// 404 unless the program exists.
    async fn existing_program(&self, program_id: &str) -> Result<()> {
        match self.store.program(program_id).await? {
            Some(_) => Ok(()),
            None => Err(EngineError::NotFound(format!("program {program_id:?}"))),
        }
    }
}

/// A stored method as answered.
fn view(stored: &StoredPayoutMethod) -> Result<PayoutMethodView> {
    let corrupt = |what: &str| {
        EngineError::Store(StoreError::Corrupt(format!(
            "payout method of partner {:?}: {what}",
            stored.row.partner_id
        )))
    };
    let masked: Method =
        serde_json::from_str(&stored.row.masked).map_err(|e| corrupt(&e.to_string()))?;
    let party_kind = match stored.row.party_kind.as_str() {
        "individual" => PartyKind::Individual,
        "company" => PartyKind::Company,
        _ => return Err(corrupt("party_kind")),
    };
    Ok(PayoutMethodView {
        partner_id: stored.row.partner_id.clone(),
        masked,
        holder_name: stored.row.holder_name.clone(),
        party_kind,
        updated_at_ms: stored.updated_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_show_the_last_four_and_e_mail_domains_only() {
        let m = masked(&Method::Sepa {
            iban: "DE89370400440532013000".into(),
            bic: Some("COBADEFFXXX".into()),
        });
        assert_eq!(
            m,
            Method::Sepa {
                iban: "••••3000".into(),
                bic: Some("COBADEFFXXX".into())
            }
        );
        let m = masked(&Method::PayPal {
            email: "ana.lopez@example.com".into(),
        });
        assert_eq!(
            m,
            Method::PayPal {
                email: "••••@example.com".into()
            }
        );
    }

    #[test]
    fn tins_by_form() {
        assert_eq!(check_tin(TaxForm::W9, "123-45-6789").unwrap(), "123456789");
        assert_eq!(check_tin(TaxForm::W9, "12-3456789").unwrap(), "123456789");
        for bad in [
            "12345678",
            "1234567890",
            "123-45-678x",
            "-12345678-9",
            "000-00-0000",
        ] {
            assert_eq!(
                check_tin(TaxForm::W9, bad).unwrap_err().kind(),
                "tin-invalid",
                "{bad}"
            );
        }
        assert_eq!(
            check_tin(TaxForm::W8ben, " DE 123/456 ").unwrap(),
            "DE 123/456"
        );
        assert!(check_tin(TaxForm::W8benE, "--").is_err());
    }

    #[test]
    fn countries() {
        assert!(is_country("US") && is_country("DE") && is_country("XK"));
        assert!(!is_country("us") && !is_country("ZZ") && !is_country("USA"));
    }
}
