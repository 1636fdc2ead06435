//! Checking a NACHA file's input and arranging its entries into batches.

use super::File;
use crate::accounts::{AccountType, Method, validate_aba_routing};
use crate::error::WriteError;
use crate::item::{Item, PartyKind};
use crate::{money, text};
use chrono::{NaiveDate, NaiveDateTime};
use std::collections::{BTreeMap, HashSet};

/// An entry's amount field is 10 digits of cents ($99,999,999.99).
const ENTRY_CENTS_MAX: i128 = 9_999_999_999;
/// Control records' total fields are 12 digits of cents ($9,999,999,999.99).
const TOTAL_CENTS_MAX: i128 = 999_999_999_999;
/// Trace sequence numbers are 7 digits.
const ENTRIES_MAX: usize = 9_999_999;
/// The individual identification number field.
const ID_MAX: usize = 15;

/// Standard entry class: PPD pays consumers, CCD companies. PPD batches come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Sec {
    Ppd,
    Ccd,
}

impl Sec {
    pub(super) fn code(self) -> &'static str {
        match self {
            Self::Ppd => "PPD",
            Self::Ccd => "CCD",
        }
    }
}

/// One checked entry.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub item_id: String,
    pub transaction_code: u8,
    pub routing: String,
    pub account: String,
    pub cents: i128,
    pub name: String,
}

/// One batch: its entries share an effective date and SEC code.
#[derive(Debug, Clone)]
pub(super) struct Batch {
    pub effective_date: NaiveDate,
    pub sec: Sec,
    pub entries: Vec<Entry>,
}

/// The whole file, checked; header fields already padded or cut to their widths.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub immediate_destination: String,
    pub immediate_destination_name: String,
    pub immediate_origin: String,
    pub immediate_origin_name: String,
    pub created_at: NaiveDateTime,
    pub file_id_modifier: char,
    pub reference_code: String,
    pub company_name: String,
    pub company_id: String,
    pub odfi: String,
    pub entry_description: String,
    pub batches: Vec<Batch>,
}

pub(super) fn check(file: &File) -> Result<Plan, WriteError> {
    let header = check_header(file)?;
    if file.items.is_empty() {
        return Err(WriteError::Empty);
    }
    if file.items.len() > ENTRIES_MAX {
        return Err(WriteError::invalid(
            "items",
            format!("a file holds at most {ENTRIES_MAX} entries (7-digit trace sequence)"),
        ));
    }
    let mut seen = HashSet::new();
    let mut batches: BTreeMap<(NaiveDate, Sec), Vec<Entry>> = BTreeMap::new();
    for item in &file.items {
        if !seen.insert(item.id.as_str()) {
            return Err(WriteError::DuplicateId {
                id: item.id.clone(),
            });
        }
        let entry = entry(item)?;
        let sec = match item.kind {
            PartyKind::Individual => Sec::Ppd,
            PartyKind::Company => Sec::Ccd,
        };
        let date = item.execution_date.unwrap_or(file.effective_date);
        batches.entry((date, sec)).or_default().push(entry);
    }
    let batches: Vec<Batch> = batches
        .into_iter()
        .map(|((effective_date, sec), entries)| Batch {
            effective_date,
            sec,
            entries,
        })
        .collect();
    for (number, batch) in batches.iter().enumerate() {
        check_total(
            &format!("batch {} total credit", number + 1),
            batch.entries.iter().map(|e| e.cents).sum(),
        )?;
    }
    check_total(
        "file total credit",
        batches
            .iter()
            .flat_map(|b| &b.entries)
            .map(|e| e.cents)
            .sum(),
    )?;
    Ok(Plan { batches, ..header })
}

fn check_header(file: &File) -> Result<Plan, WriteError> {
    let routing = |field: &str, value: &str| {
        validate_aba_routing(value).map_err(|source| WriteError::Account {
            item: field.to_owned(),
            source,
        })
    };
    let required = |field: &str, value: String| {
        if value.is_empty() {
            Err(WriteError::invalid(field, "must not be empty"))
        } else {
            Ok(value)
        }
    };
    let origin = file.immediate_origin.trim();
    let immediate_origin = match origin.len() {
        9 => format!(" {}", routing("immediate_origin", origin)?),
        10 if origin.bytes().all(|b| b.is_ascii_alphanumeric()) => origin.to_ascii_uppercase(),
        _ => {
            return Err(WriteError::invalid(
                "immediate_origin",
                "must be a 9-digit routing number or 10 letters and digits",
            ));
        }
    };
    let modifier = file.file_id_modifier.to_ascii_uppercase();
    if !modifier.is_ascii_uppercase() && !modifier.is_ascii_digit() {
        return Err(WriteError::invalid(
            "file_id_modifier",
            "must be a letter A-Z or a digit 0-9",
        ));
    }
    let company_id = file.company_id.trim().to_ascii_uppercase();
    if !(1..=10).contains(&company_id.len())
        || !company_id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(WriteError::invalid(
            "company_id",
            "must be 1 to 10 letters and digits",
        ));
    }
    Ok(Plan {
        immediate_destination: format!(
            " {}",
            routing("immediate_destination", &file.immediate_destination)?
        ),
        immediate_destination_name: text::nacha(&file.immediate_destination_name, 23),
        immediate_origin,
        immediate_origin_name: text::nacha(&file.immediate_origin_name, 23),
        created_at: file.created_at,
        file_id_modifier: modifier,
        reference_code: text::nacha(&file.reference_code, 8),
        company_name: required("company_name", text::nacha(&file.company_name, 16))?,
        company_id,
        odfi: routing("odfi_routing", &file.odfi_routing)?[..8].to_owned(),
        entry_description: required(
            "entry_description",
            text::nacha(&file.entry_description, 10),
        )?,
        batches: Vec::new(),
    })
}

fn entry(item: &Item) -> Result<Entry, WriteError> {
    let id_field = || format!("item {:?} id", item.id);
    text::check_id(&item.id, ID_MAX)
        .map_err(|p| WriteError::invalid(id_field(), p.describe(ID_MAX)))?;
    if item.id.chars().any(|c| c.is_ascii_lowercase()) {
        // Banks upper-case alphanumeric fields; a lower-case id would come back in a
        // return changed, and match nothing.
        return Err(WriteError::invalid(
            id_field(),
            "must be upper case in a NACHA file",
        ));
    }
    if !matches!(item.method, Method::Ach { .. }) {
        return Err(item.method_not_allowed(&item.method, "NACHA"));
    }
    if item.currency != "USD" {
        return Err(WriteError::CurrencyNotAllowed {
            item: item.id.clone(),
            currency: item.currency.clone(),
            format: "NACHA",
        });
    }
    let cents = money::in_minor_units(money::exact(&item.id, item.amount, &item.currency)?);
    let method = item.checked_method("NACHA", |m| matches!(m, Method::Ach { .. }))?;
    let Method::Ach {
        routing,
        account,
        account_type,
    } = method
    else {
        return Err(item.method_not_allowed(&method, "NACHA"));
    };
    if cents > ENTRY_CENTS_MAX {
        return Err(WriteError::AmountTooLarge {
            item: format!("item {}", item.id),
            amount: item.amount.to_string(),
            max: "99999999.99".to_owned(),
            format: "NACHA",
        });
    }
    let name = text::nacha(&item.name, 22);
    if name.is_empty() {
        return Err(WriteError::invalid(
            format!("item {:?} name", item.id),
            "must not be empty",
        ));
    }
    Ok(Entry {
        item_id: item.id.clone(),
        transaction_code: match account_type {
            AccountType::Checking => 22,
            AccountType::Savings => 32,
        },
        routing,
        account,
        cents,
        name,
    })
}

fn check_total(what: &str, cents: i128) -> Result<(), WriteError> {
    if cents > TOTAL_CENTS_MAX {
        return Err(WriteError::AmountTooLarge {
            item: what.to_owned(),
            amount: format!("{cents} cents"),
            max: "9999999999.99".to_owned(),
            format: "NACHA",
        });
    }
    Ok(())
}
