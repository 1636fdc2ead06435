//! Wise batch transfer files.
//!
//! Wise matches columns by their header names ("do not modify these column names"), and
//! each template has its own (Wise Help Centre, "How do I fill in my batch template?",
//! article 2663302). Two templates, one per way of naming the payee:
//!
//! - "Send by email" (`wise-email`): `name, recipientEmail, paymentReference,
//!   receiverType, amountCurrency, amount, sourceCurrency, targetCurrency`; Wise e-mails
//!   the payee a link to enter bank details.
//! - "Send to saved recipients" (`wise-recipient-id`): `recipientId, recipientDetail,
//!   recipientType, sourceCurrency, targetCurrency, amount, amountCurrency,
//!   paymentReference`, the column set of the template Wise pre-fills with the account's
//!   saved recipients.
//!
//! `amountCurrency` is `target`: the item's amount is what the payee receives, in the
//! item's currency, and Wise's fee is charged to the sender, so the ledger's figure is
//! the one paid. At most 1,000 transfers per batch file.

use super::{CsvFile, check_verbatim, escape_cell, to_csv};
use crate::accounts::{Method, WiseRecipient};
use crate::error::WriteError;
use crate::item::{Item, PartyKind};
use crate::{money, text};
use std::collections::HashSet;

/// Transfers per batch file Wise accepts.
pub const WISE_ROWS_MAX: usize = 1_000;

/// Payment references: Wise's limit depends on the route (as low as 18 for some GBP
/// routes); 35 is the common SWIFT/SEPA length, and Wise rejects a longer one at upload
/// rather than paying with it cut.
const REFERENCE_MAX: usize = 35;

const EMAIL_HEADER: &[&str] = &[
    "name",
    "recipientEmail",
    "paymentReference",
    "receiverType",
    "amountCurrency",
    "amount",
    "sourceCurrency",
    "targetCurrency",
];

const RECIPIENT_ID_HEADER: &[&str] = &[
    "recipientId",
    "recipientDetail",
    "recipientType",
    "sourceCurrency",
    "targetCurrency",
    "amount",
    "amountCurrency",
    "paymentReference",
];

/// Writes Wise batch files paid from the `source_currency` balance: the e-mail template's
/// files first, then the saved-recipient template's, each split every 1,000 rows, items
/// in the order given. Each item must be paid by [`Method::Wise`].
pub fn wise(items: &[Item], source_currency: &str) -> Result<Vec<CsvFile>, WriteError> {
    if money::minor_units(source_currency).is_none() {
        return Err(WriteError::invalid(
            "source_currency",
            format!("{source_currency:?} is not an ISO 4217 currency"),
        ));
    }
    if items.is_empty() {
        return Err(WriteError::Empty);
    }
    let mut seen = HashSet::new();
    let (mut by_email, mut by_id) = (Vec::new(), Vec::new());
    for item in items {
        // The id is not written (the templates have no column for it) but names the
        // rows in `CsvFile::item_ids`, so it must still be there and unique.
        if item.id.is_empty() {
            return Err(WriteError::invalid("item id", "must not be empty"));
        }
        if !seen.insert(item.id.as_str()) {
            return Err(WriteError::DuplicateId {
                id: item.id.clone(),
            });
        }
        match row(item, source_currency)? {
            Row::Email(cells) => by_email.push((item.id.clone(), cells)),
            Row::RecipientId(cells) => by_id.push((item.id.clone(), cells)),
        }
    }
    let mut files = split("wise-email", EMAIL_HEADER, source_currency, &by_email);
    files.extend(split(
        "wise-recipient-id",
        RECIPIENT_ID_HEADER,
        source_currency,
        &by_id,
    ));
    Ok(files)
}

enum Row {
    Email(Vec<String>),
    RecipientId(Vec<String>),
}

fn row(item: &Item, source_currency: &str) -> Result<Row, WriteError> {
    let recipient = match item.checked_method("Wise batch", |m| matches!(m, Method::Wise { .. }))? {
        Method::Wise { recipient } => recipient,
        other => return Err(item.method_not_allowed(&other, "Wise batch")),
    };
    let amount = money::exact(&item.id, item.amount, &item.currency)?.to_string();
    let name = item.name.trim();
    if name.is_empty() {
        return Err(WriteError::invalid(
            format!("item {:?} name", item.id),
            "must not be empty",
        ));
    }
    let name = escape_cell(name).into_owned();
    let reference = escape_cell(&text::cut(item.reference.trim(), REFERENCE_MAX)).into_owned();
    let kind = match item.kind {
        PartyKind::Individual => "PERSON",
        PartyKind::Company => "INSTITUTION",
    };
    let (source, target) = (source_currency.to_owned(), item.currency.clone());
    Ok(match recipient {
        WiseRecipient::Email(email) => {
            check_verbatim(&item.id, "email", &email)?;
            Row::Email(vec![
                name,
                email,
                reference,
                kind.to_owned(),
                "target".to_owned(),
                amount,
                source,
                target,
            ])
        }
        WiseRecipient::Id(id) => Row::RecipientId(vec![
            id,
            name,
            kind.to_owned(),
            source,
            target,
            amount,
            "target".to_owned(),
            reference,
        ]),
    })
}

fn split(
    template: &'static str,
    header: &[&str],
    currency: &str,
    rows: &[(String, Vec<String>)],
) -> Vec<CsvFile> {
    rows.chunks(WISE_ROWS_MAX)
        .enumerate()
        .map(|(index, chunk)| {
            let cells: Vec<Vec<String>> = chunk.iter().map(|(_, row)| row.clone()).collect();
            CsvFile {
                template,
                currency: currency.to_owned(),
                part: index + 1,
                item_ids: chunk.iter().map(|(id, _)| id.clone()).collect(),
                content: to_csv(Some(header), &cells),
            }
        })
        .collect()
}
