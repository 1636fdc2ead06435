//! PayPal Payouts web upload files.
//!
//! The layout follows PayPal's developer documentation "Payouts → Send money → Use Web
//! UI" (developer.paypal.com/payouts/use-payouts/send-money/use-web-ui): no header row,
//! one payout per row, columns left to right — recipient identifier (the PayPal e-mail
//! address), payment amount, currency (one per file), customer ID (our item id, which
//! PayPal's reports echo as the sender item id; at most 63 characters as in the Payouts
//! API), note to the recipient, recipient wallet (`PAYPAL`) — and at most 5,000 rows per
//! file.
//!
//! Amounts use `.` as the decimal separator, as PayPal documents for US-formatted
//! accounts: an account whose locale writes `5,45` would need `"5,45"` instead.

use super::{CsvFile, check_item_id, check_verbatim, escape_cell, to_csv};
use crate::accounts::{AccountError, Method};
use crate::error::WriteError;
use crate::item::Item;
use crate::money;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashSet};

/// The format's name in errors.
const FORMAT: &str = "PayPal Payouts";

/// Rows per file PayPal's web upload accepts.
pub const PAYPAL_ROWS_MAX: usize = 5_000;

/// PayPal's `sender_item_id` holds at most 63 characters.
const ID_MAX: usize = 63;

/// PayPal limits the notes of a payout to 1,000 characters together (4,000 for ASCII
/// alone); 1,000 is safe either way.
const NOTE_MAX: usize = 1_000;

/// PayPal's receiver field holds at most 127 characters.
const EMAIL_MAX: usize = 127;

/// Writes PayPal Payouts files: one per currency and per 5,000 rows, currencies in
/// alphabetical order, items in the order given. Each item must be paid by
/// [`Method::PayPal`].
pub fn paypal(items: &[Item]) -> Result<Vec<CsvFile>, WriteError> {
    if items.is_empty() {
        return Err(WriteError::Empty);
    }
    let mut seen = HashSet::new();
    let mut by_currency: BTreeMap<&str, Vec<(String, Vec<String>)>> = BTreeMap::new();
    for item in items {
        if !seen.insert(item.id.as_str()) {
            return Err(WriteError::DuplicateId {
                id: item.id.clone(),
            });
        }
        let row = row(item)?;
        by_currency
            .entry(item.currency.as_str())
            .or_default()
            .push((item.id.clone(), row));
    }
    let mut files = Vec::new();
    for (currency, rows) in by_currency {
        for (index, chunk) in rows.chunks(PAYPAL_ROWS_MAX).enumerate() {
            let cells: Vec<Vec<String>> = chunk.iter().map(|(_, row)| row.clone()).collect();
            files.push(CsvFile {
                template: "paypal",
                currency: currency.to_owned(),
                part: index + 1,
                item_ids: chunk.iter().map(|(id, _)| id.clone()).collect(),
                content: to_csv(None, &cells),
            });
        }
    }
    Ok(files)
}

fn row(item: &Item) -> Result<Vec<String>, WriteError> {
    check_item_id(&item.id, ID_MAX)?;
    let account = |source| WriteError::Account {
        item: item.id.clone(),
        source,
    };
    let email = match item.checked_method(FORMAT, |m| matches!(m, Method::PayPal { .. }))? {
        Method::PayPal { email } => email,
        other => return Err(item.method_not_allowed(&other, FORMAT)),
    };
    let amount = paypal_amount(&item.id, item.amount, &item.currency)?;
    if email.len() > EMAIL_MAX {
        return Err(account(AccountError::EmailInvalid { email }));
    }
    check_verbatim(&item.id, "email", &email)?;
    let note: String = item.reference.trim().chars().take(NOTE_MAX).collect();
    Ok(vec![
        email,
        amount.to_string(),
        item.currency.clone(),
        item.id.clone(),
        escape_cell(&note).into_owned(),
        "PAYPAL".to_owned(),
    ])
}

/// The amount with the decimals PayPal takes: ISO 4217's, except HUF and TWD, which
/// PayPal pays in whole units only (its currency codes reference: "does not support
/// decimals"), like JPY.
fn paypal_amount(item: &str, amount: Decimal, currency: &str) -> Result<Decimal, WriteError> {
    let mut exact = money::exact(item, amount, currency)?;
    if matches!(currency, "HUF" | "TWD") {
        if !exact.fract().is_zero() {
            return Err(WriteError::AmountTooPrecise {
                item: item.to_owned(),
                amount: amount.to_string(),
                currency: currency.to_owned(),
                minor_units: 0,
            });
        }
        exact.rescale(0);
    }
    Ok(exact)
}
