//! Checking a SEPA batch and arranging it into payment groups, before any XML is written.

use super::{Batch, ID_MAX, NAME_MAX, REMITTANCE_MAX};
use crate::accounts::{AccountError, Method, is_sepa_country, validate_bic, validate_iban};
use crate::error::WriteError;
use crate::item::Item;
use crate::{money, text};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashSet};

/// The EPC's largest SEPA credit transfer, 999,999,999.99 (SCT rulebook, AT-04): the
/// mantissa 99,999,999,999 is 0x17_4876_E7FF, split into 32-bit words.
const SEPA_AMOUNT_MAX: Decimal = Decimal::from_parts(0x4876_E7FF, 0x17, 0, false, 2);

/// The format's name in errors.
const FORMAT: &str = "pain.001";

/// `ActiveOrHistoricCurrencyAndAmount` and `DecimalNumber` hold at most 18 digits.
const DIGITS_MAX: u32 = 18;

/// Whether a group goes by the SEPA scheme or as international wires; SEPA groups come
/// first in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Scheme {
    Sepa,
    International,
}

/// The creditor's account as the schema spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Account {
    Iban(String),
    Other(String),
}

/// One checked transfer.
#[derive(Debug, Clone)]
pub(super) struct Transfer {
    pub end_to_end_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub creditor_name: String,
    pub account: Account,
    pub bic: Option<String>,
    pub bank_country: Option<String>,
    pub remittance: Option<String>,
}

/// One `PmtInf`.
#[derive(Debug, Clone)]
pub(super) struct Group {
    pub id: String,
    pub execution_date: NaiveDate,
    pub scheme: Scheme,
    pub ctrl_sum: Decimal,
    pub transfers: Vec<Transfer>,
}

/// The whole message, checked.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub message_id: String,
    pub created_at: String,
    pub nb_of_txs: usize,
    pub ctrl_sum: Decimal,
    pub debtor_name: String,
    pub debtor_iban: String,
    pub debtor_bic: Option<String>,
    pub groups: Vec<Group>,
}

pub(super) fn plan(batch: &Batch) -> Result<Plan, WriteError> {
    text::check_id(&batch.message_id, ID_MAX)
        .map_err(|p| WriteError::invalid("message_id", p.describe(ID_MAX)))?;
    if batch.items.is_empty() {
        return Err(WriteError::Empty);
    }
    let debtor_name = text::epc(&batch.debtor.name, NAME_MAX);
    if debtor_name.is_empty() {
        return Err(WriteError::invalid("debtor.name", "must not be empty"));
    }
    let debtor_account = |source| WriteError::Account {
        item: "debtor".to_owned(),
        source,
    };
    let debtor_iban = validate_iban(&batch.debtor.iban).map_err(debtor_account)?;
    let debtor_bic = batch
        .debtor
        .bic
        .as_deref()
        .map(validate_bic)
        .transpose()
        .map_err(debtor_account)?;

    let mut seen = HashSet::new();
    let mut groups: BTreeMap<(NaiveDate, String, Scheme), Vec<Transfer>> = BTreeMap::new();
    for item in &batch.items {
        if !seen.insert(item.id.as_str()) {
            return Err(WriteError::DuplicateId {
                id: item.id.clone(),
            });
        }
        let (scheme, transfer) = transfer(item)?;
        let date = item.execution_date.unwrap_or(batch.execution_date);
        groups
            .entry((date, transfer.currency.clone(), scheme))
            .or_default()
            .push(transfer);
    }
    let has_sepa = groups.keys().any(|(_, _, scheme)| *scheme == Scheme::Sepa);
    if has_sepa && !is_sepa_country(&debtor_iban[..2]) {
        return Err(debtor_account(AccountError::IbanNotSepa {
            country: debtor_iban[..2].to_owned(),
        }));
    }

    let groups = groups
        .into_iter()
        .enumerate()
        .map(|(index, ((execution_date, _, scheme), transfers))| {
            let ctrl_sum = sum(&transfers, "payment group control sum")?;
            Ok(Group {
                id: group_id(&batch.message_id, index + 1),
                execution_date,
                scheme,
                ctrl_sum,
                transfers,
            })
        })
        .collect::<Result<Vec<_>, WriteError>>()?;
    let all = groups.iter().flat_map(|g| &g.transfers);
    Ok(Plan {
        message_id: batch.message_id.clone(),
        created_at: batch.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        nb_of_txs: batch.items.len(),
        ctrl_sum: sum(all, "message control sum")?,
        debtor_name,
        debtor_iban,
        debtor_bic,
        groups,
    })
}

fn transfer(item: &Item) -> Result<(Scheme, Transfer), WriteError> {
    text::check_id(&item.id, ID_MAX)
        .map_err(|p| WriteError::invalid(format!("item {:?} id", item.id), p.describe(ID_MAX)))?;
    let method = item.checked_method(FORMAT, |m| {
        matches!(m, Method::Sepa { .. } | Method::Wire { .. })
    })?;
    let amount = money::exact(&item.id, item.amount, &item.currency)?;
    let (scheme, account, bic, bank_country) = match method {
        Method::Sepa { iban, bic } => (Scheme::Sepa, Account::Iban(iban), bic, None),
        Method::Wire {
            iban_or_account,
            bic,
            bank_country,
            ..
        } => {
            let account = if validate_iban(&iban_or_account).is_ok() {
                Account::Iban(iban_or_account)
            } else {
                Account::Other(iban_or_account)
            };
            (
                Scheme::International,
                account,
                Some(bic),
                Some(bank_country),
            )
        }
        other => return Err(item.method_not_allowed(&other, FORMAT)),
    };
    check_amount_max(&item.id, amount, scheme)?;
    let creditor_name = text::epc(&item.name, NAME_MAX);
    if creditor_name.is_empty() {
        return Err(WriteError::invalid(
            format!("item {:?} name", item.id),
            "must not be empty",
        ));
    }
    let remittance = Some(text::epc(&item.reference, REMITTANCE_MAX)).filter(|r| !r.is_empty());
    let transfer = Transfer {
        end_to_end_id: item.id.clone(),
        amount,
        currency: item.currency.clone(),
        creditor_name,
        account,
        bic,
        bank_country,
        remittance,
    };
    Ok((scheme, transfer))
}

fn check_amount_max(item: &str, amount: Decimal, scheme: Scheme) -> Result<(), WriteError> {
    let too_large = |max: String| WriteError::AmountTooLarge {
        item: format!("item {item}"),
        amount: amount.to_string(),
        max,
        format: FORMAT,
    };
    match scheme {
        Scheme::Sepa if amount > SEPA_AMOUNT_MAX => Err(too_large(SEPA_AMOUNT_MAX.to_string())),
        _ if digits(amount) > DIGITS_MAX => Err(too_large(format!("{DIGITS_MAX} digits"))),
        _ => Ok(()),
    }
}

/// Sums amounts of possibly different scales exactly; refuses a sum the schema's
/// `DecimalNumber` (18 digits) cannot hold.
fn sum<'a>(
    transfers: impl IntoIterator<Item = &'a Transfer>,
    what: &str,
) -> Result<Decimal, WriteError> {
    let total = transfers
        .into_iter()
        .try_fold(Decimal::ZERO, |acc, t| acc.checked_add(t.amount));
    match total {
        Some(total) if digits(total) <= DIGITS_MAX => Ok(total),
        other => Err(WriteError::AmountTooLarge {
            item: what.to_owned(),
            amount: other.map_or_else(|| "overflow".to_owned(), |t| t.to_string()),
            max: format!("{DIGITS_MAX} digits"),
            format: FORMAT,
        }),
    }
}

/// How many digits `amount` is written with (integer and fraction).
fn digits(amount: Decimal) -> u32 {
    let mantissa = amount.mantissa().unsigned_abs();
    let integer_digits = mantissa.checked_ilog10().map_or(1, |d| d + 1);
    integer_digits.max(amount.scale() + 1)
}

/// `PmtInfId`: the message id and the group's number, the message id cut so the whole
/// fits 35 characters (`MSG-1`, `MSG-2` …).
fn group_id(message_id: &str, number: usize) -> String {
    let suffix = format!("-{number}");
    let prefix = text::cut(message_id, ID_MAX - suffix.len());
    format!("{prefix}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn sepa_amount_max_is_the_rulebook_limit() {
        assert_eq!(SEPA_AMOUNT_MAX, Decimal::from_str("999999999.99").unwrap());
    }

    #[test]
    fn digits_count_integer_and_fraction() {
        let d = |s: &str| digits(Decimal::from_str(s).unwrap());
        assert_eq!(d("0.01"), 3);
        assert_eq!(d("10.00"), 4);
        assert_eq!(d("1000"), 4);
        assert_eq!(d("9999999999999999.99"), 18);
        assert_eq!(d("99999999999999999.99"), 19);
    }

    #[test]
    fn group_ids_fit_35() {
        assert_eq!(group_id("MSG", 1), "MSG-1");
        let long = "M".repeat(35);
        assert_eq!(group_id(&long, 12).len(), 35);
        assert!(group_id(&long, 12).ends_with("M-12"));
    }
}
